//! Kong's spec cases (spec/03-plugins/13-cors): which origin each configuration answers.

use serde_json::json;

use super::*;

/// What a preflight from `origin` gets as Allow-Origin.
fn acao(origins: &[&str], origin: &str) -> Option<String> {
    let cors = Cors::compile(&json!({ "origins": origins })).expect("compiles");
    let mut h = HeaderMap::new();
    h.insert(
        header::ACCESS_CONTROL_REQUEST_METHOD,
        HeaderValue::from_static("GET"),
    );
    let exit = cors.preflight(&h, origin);
    assert_eq!(exit.status, 200);
    exit.headers
        .iter()
        .find(|(n, _)| n == header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .and_then(|(_, v)| v.to_str().ok().map(str::to_string))
}

/// `true`: the request's origin comes back; a string: that value; `false`: none.
enum Want {
    Same,
    Is(&'static str),
    No,
}
use Want::{Is, No, Same};

const ORIGINS: [&str; 11] = [
    "http://evil.test",
    "http://foo.test",
    "http://foo.test.evil.test",
    "http://something.foo.test",
    "http://evilfoo.test",
    "http://foo.test:80",
    "http://foo.test:8000",
    "https://foo.test:8000",
    "http://foo.test:90",
    "http://foobtest",
    "https://bar.test:1234",
];

fn check(origins: &[&str], wants: [Want; 11]) {
    for (origin, want) in ORIGINS.iter().zip(wants) {
        let expected = match want {
            Same => Some(origin.to_string()),
            Is(s) => Some(s.to_string()),
            No => None,
        };
        assert_eq!(
            acao(origins, origin),
            expected,
            "{origins:?} given {origin}"
        );
    }
}

#[test]
fn single_flat_entries_are_sent_as_configured() {
    check(&["foo.test"], [(); 11].map(|_| Is("foo.test")));
    check(
        &["https://bar.test:1234"],
        [(); 11].map(|_| Is("https://bar.test:1234")),
    );
}

#[test]
fn regexes_without_a_colon_match_the_host_anchored() {
    let host_only = || {
        [
            No,
            Same,
            No,
            No,
            No,
            Is("http://foo.test"),
            Same,
            Same,
            Same,
            No,
            No,
        ]
    };
    check(&["foo\\.test"], host_only());
    check(&["bar.test", "foo\\.test"], host_only());
    let sub = || {
        [
            No,
            Same,
            No,
            Same,
            No,
            Is("http://foo.test"),
            Same,
            Same,
            Same,
            No,
            No,
        ]
    };
    check(&["(.*[./])?foo\\.test"], sub());
    check(&["bar.test", "(.*\\.)?foo\\.test"], sub());
}

#[test]
fn regexes_with_a_colon_match_scheme_host_and_port() {
    let port = || [No, No, No, No, No, No, Same, Same, No, No, No];
    check(&["(.*[./])?foo\\.test:8000"], port());
    check(&["bar.test", "(.*[./])?foo\\.test:8000"], port());
    let https = || [No, No, No, No, No, No, No, Same, No, No, No];
    check(&["https://(.*[.])?foo\\.test:8000"], https());
    check(&["bar.test", "https://(.*\\.)?foo\\.test:8000"], https());
    check(
        &["^http://(.*[.])?foo\\.test(:(80|90))?$"],
        [
            No,
            Same,
            No,
            Same,
            No,
            Is("http://foo.test"),
            No,
            No,
            Same,
            No,
            No,
        ],
    );
}

#[test]
fn several_flat_entries_compare_normalized_origins() {
    check(&["foo.test", "bar.test"], [(); 11].map(|_| No));
    check(
        &["http://foo.test", "https://bar.test:1234"],
        [
            No,
            Same,
            No,
            No,
            No,
            Is("http://foo.test"),
            No,
            No,
            No,
            No,
            Same,
        ],
    );
}

#[test]
fn defaults_wildcards_and_credentials() {
    let cors = Cors::compile(&json!({ "origins": ["*"], "credentials": true })).expect("cors");
    let mut out = Vec::new();
    cors.headers(Some("origin5.test"), &mut out);
    let get = |out: &[(HeaderName, HeaderValue)], n: HeaderName| {
        out.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone())
    };
    assert_eq!(
        get(&out, header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .as_ref()
            .map(|v| v.as_bytes()),
        Some(&b"origin5.test"[..])
    );
    assert_eq!(
        get(&out, header::VARY).as_ref().map(|v| v.as_bytes()),
        Some(&b"Origin"[..])
    );
    assert!(get(&out, header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_some());
    assert_eq!(
        acao(&["foo.bar", "*"], "http://www.example.net").as_deref(),
        Some("*")
    );
    assert_eq!(acao(&[], "anything.test").as_deref(), Some("*"));
    let nine = [r".*\.?example(?:-foo)?.test"];
    for (o, ok) in [
        ("example.test", true),
        ("www.example.test", true),
        ("example-foo.test", true),
        ("www.example-fo0.test", false),
    ] {
        assert_eq!(acao(&nine, o).is_some(), ok, "{o}");
    }
    // "does not automatically parse the host": a flat entry is compared whole.
    assert_eq!(
        acao(&["example.test", "example.org"], "http://example.test"),
        None
    );
    assert_eq!(
        acao(&["example.test", "example.org"], "example.test").as_deref(),
        Some("example.test")
    );
}
