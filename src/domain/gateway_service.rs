//! Kong's Service object: where an upstream lives and how to talk to it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::fields::{check_known, none_if_empty, Reader};
use super::{names, FieldErrors};

/// Every protocol Kong's Service accepts (its `typedefs.protocol`, with Kong Gateway's `ws` and
/// `wss`), in Kong's (sorted) order, which its "expected one of" message lists.
pub const PROTOCOLS: &[&str] = &[
    "grpc",
    "grpcs",
    "http",
    "https",
    "tcp",
    "tls",
    "tls_passthrough",
    "udp",
    "ws",
    "wss",
];
/// Protocols whose services have no path (Kong's conditional entity check).
const PATHLESS: &[&str] = &["tcp", "tls", "udp", "grpc", "grpcs"];
/// Protocols that talk TLS to the upstream, so may carry the TLS fields (Kong allows `https`
/// and `tls`; `wss` is TLS to the upstream as `https` is).
const UPSTREAM_TLS: &[&str] = &["https", "tls", "wss"];
/// What the embedded proxy forwards today: HTTP/1.1 (WebSocket upgrades included), plain or
/// over TLS. Services of the other protocols are stored and served to nodes, but a request
/// routed to one is answered with a clear 502 rather than sent the wrong way.
pub const PROXIED: &[&str] = &["http", "https", "ws", "wss"];
const KNOWN: &[&str] = &[
    "id",
    "created_at",
    "updated_at",
    "name",
    "retries",
    "protocol",
    "host",
    "port",
    "path",
    "connect_timeout",
    "write_timeout",
    "read_timeout",
    "tags",
    "client_certificate",
    "tls_verify",
    "tls_verify_depth",
    "ca_certificates",
    "enabled",
    "url",
];
pub const TIMEOUT_MAX: i64 = 2_147_483_646;

/// A foreign reference as Kong prints it: `{"id": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    pub id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayService {
    pub id: Uuid,
    pub created_at: i64,
    pub updated_at: i64,
    pub name: Option<String>,
    pub retries: i64,
    pub protocol: String,
    pub host: String,
    pub port: i64,
    pub path: Option<String>,
    pub connect_timeout: i64,
    pub write_timeout: i64,
    pub read_timeout: i64,
    pub tags: Option<Vec<String>>,
    pub client_certificate: Option<ForeignKey>,
    pub tls_verify: Option<bool>,
    pub tls_verify_depth: Option<i64>,
    pub ca_certificates: Option<Vec<String>>,
    pub enabled: bool,
}

pub fn default_port(protocol: &str) -> i64 {
    match protocol {
        "https" | "grpcs" | "tls" | "wss" => 443,
        _ => 80,
    }
}

impl super::Entity for GatewayService {
    const KIND: &'static str = "services";
    const NAME_FIELD: Option<&'static str> = Some("name");

    fn id(&self) -> Uuid {
        self.id
    }
    fn created_at(&self) -> i64 {
        self.created_at
    }
    fn unique_name(&self) -> Option<String> {
        self.name.clone()
    }

    fn from_input(
        id: Uuid,
        now: i64,
        _parent: Option<Uuid>,
        base: Option<&GatewayService>,
        input: &Map<String, Value>,
    ) -> Result<GatewayService, FieldErrors> {
        GatewayService::parse(id, now, base, input)
    }
}

impl GatewayService {
    /// Builds a service from `input` laid over `base` (the stored entity for PATCH, nothing for
    /// POST/PUT), applying Kong's defaults and rules. `id` and timestamps come from the caller.
    pub fn parse(
        id: Uuid,
        now: i64,
        base: Option<&GatewayService>,
        input: &Map<String, Value>,
    ) -> Result<GatewayService, FieldErrors> {
        let mut errors = FieldErrors::new();
        check_known(input, KNOWN, &mut errors);
        let mut merged = match base {
            Some(b) => match serde_json::to_value(b) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            },
            None => Map::new(),
        };
        for (k, v) in input {
            if k != "url" {
                merged.insert(k.clone(), v.clone());
            }
        }
        if let Some(url) = input.get("url").filter(|v| !v.is_null()) {
            match url.as_str().map(parse_url) {
                Some(Ok((protocol, host, port, path))) => {
                    merged.insert("protocol".into(), Value::String(protocol));
                    merged.insert("host".into(), Value::String(host));
                    merged.insert("port".into(), Value::from(port));
                    merged.insert(
                        "path".into(),
                        path.map(Value::String).unwrap_or(Value::Null),
                    );
                }
                Some(Err(msg)) => errors.add("url", msg),
                None => errors.add("url", "expected a string"),
            }
        }

        let mut r = Reader::new(&merged);
        let name = r.opt_string("name");
        let protocol = r.opt_string("protocol").unwrap_or_else(|| "http".into());
        let host = r.opt_string("host");
        let explicit_port = merged.get("port").is_some_and(|v| !v.is_null());
        let port = r.int("port", default_port(&protocol), 0, 65535);
        let path = r.opt_string("path");
        let retries = r.int("retries", 5, 0, 32767);
        let connect_timeout = r.int("connect_timeout", 60000, 1, TIMEOUT_MAX);
        let write_timeout = r.int("write_timeout", 60000, 1, TIMEOUT_MAX);
        let read_timeout = r.int("read_timeout", 60000, 1, TIMEOUT_MAX);
        let tags = none_if_empty(r.opt_string_array("tags"));
        let tls_verify = r.opt_bool("tls_verify");
        let tls_verify_depth = merged
            .get("tls_verify_depth")
            .filter(|v| !v.is_null())
            .map(|_| r.int("tls_verify_depth", 1, 0, 64));
        let ca_certificates = none_if_empty(r.opt_string_array("ca_certificates"));
        let client_certificate = client_certificate(&mut r);
        let enabled = r.bool("enabled", true);
        for (k, v) in r.finish().0 {
            errors.add(k, v);
        }
        let _ = explicit_port;

        if let Some(n) = &name {
            if let Err(msg) = names::check_entity_name(n) {
                errors.add("name", msg);
            }
        }
        if !PROTOCOLS.contains(&protocol.as_str()) {
            errors.add(
                "protocol",
                format!("expected one of: {}", PROTOCOLS.join(", ")),
            );
        }
        let host = match host {
            None => {
                if !errors.0.contains_key("url") {
                    errors.add("host", "required field missing");
                }
                String::new()
            }
            Some(h) => {
                if let Err(msg) = check_host(&h) {
                    errors.add("host", msg);
                }
                h
            }
        };
        if let Some(p) = &path {
            if let Err(msg) = check_service_path(p) {
                errors.add("path", msg);
            }
        }
        check_protocol_fields(
            &protocol,
            [
                ("path", path.is_some()),
                ("client_certificate", client_certificate.is_some()),
                ("tls_verify", tls_verify.is_some()),
                ("tls_verify_depth", tls_verify_depth.is_some()),
                ("ca_certificates", ca_certificates.is_some()),
            ],
            &mut errors,
        );
        for (field, items) in [("ca_certificates", &ca_certificates)] {
            if let Some(items) = items {
                if items.iter().any(|s| Uuid::parse_str(s.trim()).is_err()) {
                    errors.add(field, "expected a valid UUID");
                }
            }
        }
        check_tags(&tags, &mut errors);

        let created_at = base.map(|b| b.created_at).unwrap_or(now);
        errors.into_result(GatewayService {
            id,
            created_at,
            updated_at: now,
            name,
            retries,
            protocol,
            host,
            port,
            path,
            connect_timeout,
            write_timeout,
            read_timeout,
            tags,
            client_certificate,
            tls_verify,
            tls_verify_depth,
            ca_certificates,
            enabled,
        })
    }

    /// `protocol://host:port/path`, the form the console shows and copies.
    pub fn url(&self) -> String {
        format!(
            "{}://{}:{}{}",
            self.protocol,
            self.host,
            self.port,
            self.path.as_deref().unwrap_or("")
        )
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

pub fn client_certificate(r: &mut Reader<'_>) -> Option<ForeignKey> {
    client_certificate_field(r, "client_certificate")
}

/// A foreign key given as `{"id": "…"}` or a bare id string (form bodies).
pub fn client_certificate_field(r: &mut Reader<'_>, field: &str) -> Option<ForeignKey> {
    match r.obj.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => match m.get("id").and_then(Value::as_str).map(Uuid::parse_str) {
            Some(Ok(id)) => Some(ForeignKey { id }),
            _ => {
                r.errors.add(field, "expected a valid UUID in id");
                None
            }
        },
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => match Uuid::parse_str(s.trim()) {
            Ok(id) => Some(ForeignKey { id }),
            Err(_) => {
                r.errors.add(field, "expected a valid UUID");
                None
            }
        },
        Some(_) => {
            r.errors.add(field, "expected a record");
            None
        }
    }
}

pub fn check_tags(tags: &Option<Vec<String>>, errors: &mut FieldErrors) {
    if let Some(tags) = tags {
        for t in tags {
            if t.is_empty()
                || t.len() > 128
                || t.contains(',')
                || t.chars().any(|c| c.is_control() || c == ' ')
            {
                errors.add(
                    "tags",
                    format!("invalid tag '{t}': tags must be non-empty, without spaces or commas"),
                );
                break;
            }
        }
    }
}

/// Kong's conditional checks on `protocol`: no path for stream and gRPC services, and the TLS
/// fields only where the upstream connection is TLS. `set` says which fields have a value.
fn check_protocol_fields(protocol: &str, set: [(&str, bool); 5], errors: &mut FieldErrors) {
    let mut failed = false;
    for (field, present) in set {
        let allowed = match field {
            "path" => !PATHLESS.contains(&protocol),
            _ => UPSTREAM_TLS.contains(&protocol),
        };
        if present && !allowed {
            errors.add(field, "value must be null");
            failed = true;
        }
    }
    if failed {
        errors.add(
            "@entity",
            "failed conditional validation given value of field 'protocol'",
        );
    }
}

/// Splits Kong's `url` shorthand into protocol, host, port and path.
pub fn parse_url(raw: &str) -> Result<(String, String, i64, Option<String>), String> {
    let raw = raw.trim();
    let parsed = url::Url::parse(raw).map_err(|e| match e {
        url::ParseError::InvalidPort => format!("invalid port number in url '{raw}'"),
        _ => format!("missing host in url '{raw}'"),
    })?;
    let protocol = parsed.scheme().to_string();
    if !PROTOCOLS.contains(&protocol.as_str()) {
        return Err(format!(
            "unsupported protocol '{protocol}': expected one of: {}",
            PROTOCOLS.join(", ")
        ));
    }
    let host = match parsed.host() {
        Some(url::Host::Ipv6(a)) => format!("[{a}]"),
        Some(h) => h.to_string(),
        None => return Err(format!("missing host in url '{raw}'")),
    };
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err("url must not contain a query or fragment".into());
    }
    let port = parsed
        .port()
        .map(i64::from)
        .unwrap_or_else(|| default_port(&protocol));
    // `url` normalises "http://h" to path "/", while Kong keeps no path; keep what was typed.
    let after_host = raw.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    let path = after_host.find('/').map(|_| parsed.path().to_string());
    Ok((protocol, host, port, path))
}

pub fn check_host(host: &str) -> Result<(), String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err("required field missing".into());
    }
    if bare.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let valid = host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if valid {
        Ok(())
    } else {
        Err(format!("invalid hostname: {host}"))
    }
}

fn check_service_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err("should start with: /".into());
    }
    if path.contains("//") {
        return Err("must not have empty segments".into());
    }
    if path
        .chars()
        .any(|c| c.is_whitespace() || c == '?' || c == '#')
    {
        return Err("invalid path: must not contain spaces, '?' or '#'".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn build(v: Value) -> Result<GatewayService, FieldErrors> {
        let Value::Object(m) = v else {
            panic!("object")
        };
        GatewayService::parse(Uuid::nil(), 1, None, &m)
    }

    #[test]
    fn url_shorthand_fills_parts_and_defaults() {
        let s = build(json!({"name": "mock", "url": "http://127.0.0.1:8009"})).expect("valid");
        assert_eq!(
            (s.protocol.as_str(), s.host.as_str(), s.port),
            ("http", "127.0.0.1", 8009)
        );
        assert_eq!(s.path, None);
        assert_eq!(
            (
                s.retries,
                s.connect_timeout,
                s.read_timeout,
                s.write_timeout
            ),
            (5, 60000, 60000, 60000)
        );
        let s = build(json!({"url": "https://example.com/api"})).expect("valid");
        assert_eq!((s.port, s.path.as_deref()), (443, Some("/api")));
    }

    #[test]
    fn rejects_bad_fields_with_kong_messages() {
        let e = build(json!({"name": "bad name"})).expect_err("invalid");
        assert_eq!(e.get("host"), Some("required field missing"));
        assert!(e.get("name").is_some());
        let e = build(json!({"host": "h", "port": 70000, "path": "x", "retries": -1}))
            .expect_err("invalid");
        assert_eq!(e.get("port"), Some("value should be between 0 and 65535"));
        assert_eq!(e.get("path"), Some("should start with: /"));
        assert!(e.get("retries").is_some());
        let e = build(json!({"host": "h", "bogus": 1})).expect_err("invalid");
        assert_eq!(e.get("bogus"), Some("unknown field"));
        let e = build(json!({"url": "ftp://x"})).expect_err("invalid");
        assert!(e.get("url").is_some());
    }

    #[test]
    fn every_kong_protocol_with_its_conditional_fields() {
        for p in PROTOCOLS {
            let s = build(json!({"protocol": p, "host": "h"})).expect("valid");
            assert_eq!(s.protocol, *p);
        }
        let e = build(json!({"protocol": "quic", "host": "h"})).expect_err("invalid");
        assert_eq!(
            e.get("protocol"),
            Some("expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp, ws, wss")
        );
        for p in ["tcp", "tls", "udp", "grpc", "grpcs"] {
            let e = build(json!({"protocol": p, "host": "h", "path": "/"})).expect_err("path");
            assert_eq!(e.get("path"), Some("value must be null"));
        }
        assert!(build(json!({"protocol": "ws", "host": "h", "path": "/chat"})).is_ok());
        let e = build(json!({"protocol": "http", "host": "h", "tls_verify": true}))
            .expect_err("tls on http");
        assert_eq!(e.get("tls_verify"), Some("value must be null"));
        assert!(e.get("@entity").is_some());
        assert!(build(json!({"protocol": "tls", "host": "h", "tls_verify": true})).is_ok());
        let s = build(json!({"url": "grpcs://grpc.example.com:50051"})).expect("valid");
        assert_eq!(
            (s.protocol.as_str(), s.port, s.path),
            ("grpcs", 50051, None)
        );
        let s = build(json!({"url": "wss://example.com/socket"})).expect("valid");
        assert_eq!((s.port, s.path.as_deref()), (443, Some("/socket")));
    }

    #[test]
    fn patch_keeps_base_fields() {
        let base = build(json!({"name": "a", "host": "h", "retries": 2})).expect("valid");
        let Value::Object(patch) = json!({"read_timeout": 10}) else {
            panic!()
        };
        let s = GatewayService::parse(base.id, 9, Some(&base), &patch).expect("valid");
        assert_eq!(
            (s.retries, s.read_timeout, s.created_at, s.updated_at),
            (2, 10, 1, 9)
        );
    }
}
