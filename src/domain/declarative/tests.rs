//! The format end to end: documents in Kong's styles read, refused with Kong's errors, and
//! written back.

use serde_json::json;

use super::*;

const NOW: i64 = 1_700_000_000;

fn load_yaml(text: &str) -> Result<Loaded, DeclarativeError> {
    load_text(text, Format::Yaml, NOW, &Existing::new())
}

const DOC: &str = r#"
_format_version: "3.0"
_comment: top level
services:
- name: svc1
  url: http://example.test:8080/base
  tags: [a]
  _comment: a service
  routes:
  - name: r1
    paths: [/r1]
    plugins:
    - name: key-auth
  plugins:
  - name: cors
routes:
- name: r2
  service: svc1
  hosts: [b.example]
upstreams:
- name: up
  targets:
  - target: 10.0.0.1:80
  - target: 10.0.0.2:80
    weight: 50
consumers:
- username: alice
  keyauth_credentials:
  - key: alice-key
  acls:
  - group: admins
  plugins:
  - name: rate-limiting
    config: {second: 5, policy: local}
plugins:
- name: correlation-id
- name: request-size-limiting
  route: r2
  consumer: alice
"#;

#[test]
fn a_kong_document_loads_with_ids_derived_as_kong_derives_them() {
    let a = load_yaml(DOC).expect("loads");
    let cfg = &a.config;
    assert_eq!(cfg.services.len(), 1);
    assert_eq!(cfg.routes.len(), 2);
    assert_eq!(cfg.targets.len(), 2);
    assert_eq!(cfg.plugins.len(), 5);
    assert_eq!(cfg.services[0].port, 8080);
    let svc = cfg.services[0].id;
    assert!(cfg
        .routes
        .iter()
        .all(|r| r.service.as_ref().map(|s| s.id) == Some(svc)));
    // Kong gives key-auth credentials random ids; the stored one's id is kept by its key.
    let mut existing = Existing::new();
    for k in &cfg.keyauth_credentials {
        existing.insert(("keyauth_credentials".into(), k.key.clone()), k.id);
    }
    let b = load_text(DOC, Format::Yaml, NOW, &existing).expect("loads again");
    let ids = |c: &GatewayConfig| {
        serde_json::to_value(c).map(|v| {
            let mut all = Vec::new();
            for (_, list) in v.as_object().cloned().unwrap_or_default() {
                for e in list.as_array().cloned().unwrap_or_default() {
                    all.push(e.get("id").cloned());
                }
            }
            all
        })
    };
    assert_eq!(ids(cfg).ok(), ids(&b.config).ok(), "every id is stable");
}

#[test]
fn errors_nest_as_the_document_does() {
    let text = r#"
_format_version: "3.0"
services:
- name: ok
  host: example.test
- name: bad
  host: example.test
  port: "x"
  routes:
  - name: r
    paths: ["nope"]
    colour: red
routes:
- name: r3
  service: missing
"#;
    let e = load_yaml(text).expect_err("invalid");
    let fields = e.fields();
    assert_eq!(fields["services"][0], Value::Null);
    assert_eq!(fields["services"][1]["port"], "expected an integer");
    assert_eq!(
        fields["services"][1]["routes"][0]["colour"],
        "unknown field"
    );
    assert!(fields["services"][1]["routes"][0]["paths"].is_string());
    assert_eq!(
        fields["routes"][0]["service"],
        "invalid reference 'service: missing' (no such entry in 'services')"
    );
    let lines = e.lines();
    assert!(
        lines
            .iter()
            .any(|l| l == "services[1] (bad) > routes[0] (r): colour: unknown field"),
        "{lines:?}"
    );
    let flat = e.flattened();
    assert!(flat.as_array().is_some_and(|f| f.len() == 3), "{flat}");
}

#[test]
fn duplicates_versions_and_metadata_are_checked() {
    let e = load_yaml("services:\n- {name: a, host: h}\n- {name: a, host: h}\nfoo: 1\n")
        .expect_err("dup");
    let f = e.fields();
    assert_eq!(f["_format_version"], "required field missing");
    assert_eq!(f["foo"], "unknown field");
    assert_eq!(
        f["services"][1],
        "uniqueness violation: 'services' entity with name set to 'a' already declared"
    );
    let e = load_yaml("_format_version: '9.9'\n").expect_err("version");
    assert_eq!(
        e.fields()["_format_version"],
        "expected one of: 1.1, 2.1, 3.0"
    );
    let e = load_yaml("services: [\n").expect_err("syntax");
    assert!(
        matches!(&e, DeclarativeError::Syntax(s) if s.line.is_some()),
        "{e}"
    );
    assert!(e.fields()["error"]
        .as_str()
        .is_some_and(|m| m.starts_with("failed parsing")));
    let big = "#".repeat(MAX_BYTES + 1);
    assert!(matches!(
        load_yaml(&big),
        Err(DeclarativeError::TooLarge { .. })
    ));
    let old = load_yaml("_format_version: '1.1'\nservices:\n- name: s\n  host: h\n  routes:\n  - name: r\n    paths: ['/a/\\d+$']\n").expect("1.1");
    assert_eq!(
        old.config.routes[0].paths,
        Some(vec!["~/a/\\d+$".to_string()])
    );
    let skipped = load_yaml("_format_version: '3.0'\nconsumers:\n- username: u\n  hmacauth_credentials: [{username: x, secret: y}]\n").expect("skips");
    assert_eq!(skipped.warnings.len(), 1);
}

#[test]
fn export_then_import_is_the_same_configuration() {
    let a = load_yaml(DOC).expect("loads");
    let text = export(&a.config);
    assert!(text.starts_with("_format_version: \"3.0\"\n"), "{text}");
    let b = load_yaml(&text).expect("the export loads");
    assert_eq!(export(&b.config), text);
    assert_eq!(a.config, b.config);
}

#[test]
fn ten_thousand_routes_parse_and_validate_quickly() {
    let mut text = String::from("_format_version: \"3.0\"\nservices:\n");
    for s in 0..100 {
        text.push_str(&format!(
            "- name: svc{s}\n  url: http://10.0.{}.{}:8080\n  routes:\n",
            s / 250,
            s % 250
        ));
        for r in 0..100 {
            text.push_str(&format!(
                "  - name: r{s}-{r}\n    paths: [/s{s}/r{r}]\n    hosts: [h{s}.example]\n    methods: [GET, POST]\n    strip_path: false\n"
            ));
        }
    }
    let start = std::time::Instant::now();
    let loaded = load_yaml(&text).expect("loads");
    println!(
        "10,000 routes ({} KiB) parsed and validated in {:?}",
        text.len() / 1024,
        start.elapsed()
    );
    assert_eq!(loaded.config.routes.len(), 10_000);
    let _ = json!(null);
}
