//! Kong's Route object: which requests reach a gateway service, and how the path is rewritten.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::fields::{check_known, none_if_empty, Reader};
use super::gateway_service::{check_tags, ForeignKey};
use super::{names, FieldErrors};

const KNOWN: &[&str] = &[
    "id",
    "created_at",
    "updated_at",
    "name",
    "protocols",
    "methods",
    "hosts",
    "paths",
    "headers",
    "https_redirect_status_code",
    "regex_priority",
    "strip_path",
    "path_handling",
    "preserve_host",
    "request_buffering",
    "response_buffering",
    "snis",
    "sources",
    "destinations",
    "tags",
    "service",
];
pub const ROUTE_PROTOCOLS: &[&str] = &["http", "https"];
pub const REDIRECT_CODES: &[i64] = &[426, 301, 302, 307, 308];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub id: Uuid,
    pub created_at: i64,
    pub updated_at: i64,
    pub name: Option<String>,
    pub protocols: Vec<String>,
    pub methods: Option<Vec<String>>,
    pub hosts: Option<Vec<String>>,
    pub paths: Option<Vec<String>>,
    pub headers: Option<BTreeMap<String, Vec<String>>>,
    pub https_redirect_status_code: i64,
    pub regex_priority: i64,
    pub strip_path: bool,
    pub path_handling: String,
    pub preserve_host: bool,
    pub request_buffering: bool,
    pub response_buffering: bool,
    pub snis: Option<Vec<String>>,
    pub sources: Option<Value>,
    pub destinations: Option<Value>,
    pub tags: Option<Vec<String>>,
    pub service: Option<ForeignKey>,
}

/// How the caller named the route's service: Kong accepts `{"id": …}` and `{"name": …}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceRef {
    Id(Uuid),
    Name(String),
}

/// Reads the `service` field of a route body without resolving it; resolution needs the store.
pub fn service_ref(input: &Map<String, Value>) -> Result<Option<ServiceRef>, FieldErrors> {
    match input.get("service") {
        None => Ok(None),
        Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => {
            if let Some(id) = m.get("id").filter(|v| !v.is_null()) {
                return match id.as_str().map(|s| Uuid::parse_str(s.trim())) {
                    Some(Ok(id)) => Ok(Some(ServiceRef::Id(id))),
                    _ => Err(FieldErrors::single(
                        "service",
                        "expected a valid UUID in id",
                    )),
                };
            }
            match m.get("name").and_then(Value::as_str) {
                Some(n) => Ok(Some(ServiceRef::Name(n.to_string()))),
                None => Err(FieldErrors::single(
                    "service",
                    "expected a record with id or name",
                )),
            }
        }
        Some(_) => Err(FieldErrors::single("service", "expected a record")),
    }
}

impl super::Entity for Route {
    const KIND: &'static str = "routes";
    const NAME_FIELD: Option<&'static str> = Some("name");
    const NAME_UNIQUE_IN_INSTALL: bool = true;

    fn id(&self) -> Uuid {
        self.id
    }
    fn created_at(&self) -> i64 {
        self.created_at
    }
    fn unique_name(&self) -> Option<String> {
        self.name.clone()
    }
    fn reference(&self) -> Option<Uuid> {
        self.service.as_ref().map(|s| s.id)
    }

    /// `parent` is the service of a nested path (`/services/{s}/routes`); otherwise the body's
    /// `service` must already be resolved to `{"id": …}` (names need the store), and without
    /// one the base's service stays.
    fn from_input(
        id: Uuid,
        now: i64,
        parent: Option<Uuid>,
        base: Option<&Route>,
        input: &Map<String, Value>,
    ) -> Result<Route, FieldErrors> {
        let service = match (parent, input.contains_key("service")) {
            (Some(p), _) => Some(p),
            (None, false) => base.and_then(|b| b.service.as_ref().map(|s| s.id)),
            (None, true) => match service_ref(input)? {
                None => None,
                Some(ServiceRef::Id(id)) => Some(id),
                Some(ServiceRef::Name(_)) => {
                    return Err(FieldErrors::single(
                        "service",
                        "a service named here must be resolved to its id first",
                    ))
                }
            },
        };
        let mut m = input.clone();
        m.remove("service");
        Route::parse(id, now, base, &m, service)
    }
}

impl Route {
    /// Builds a route from `input` laid over `base`. `service` is resolved by the caller and
    /// passed in; `input["service"]` is ignored here.
    pub fn parse(
        id: Uuid,
        now: i64,
        base: Option<&Route>,
        input: &Map<String, Value>,
        service: Option<Uuid>,
    ) -> Result<Route, FieldErrors> {
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
            merged.insert(k.clone(), v.clone());
        }
        let mut r = Reader::new(&merged);
        let name = r.opt_string("name");
        let protocols = r
            .opt_string_array("protocols")
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| vec!["http".into(), "https".into()]);
        let methods = none_if_empty(r.opt_string_array("methods"));
        let hosts = none_if_empty(r.opt_string_array("hosts"));
        let paths = none_if_empty(r.opt_string_array("paths"));
        let snis = none_if_empty(r.opt_string_array("snis"));
        let https_redirect_status_code = r.int("https_redirect_status_code", 426, 100, 999);
        let regex_priority = r.int("regex_priority", 0, -(1 << 31), (1 << 31) - 1);
        let strip_path = r.bool("strip_path", true);
        let path_handling = r.opt_string("path_handling").unwrap_or_else(|| "v0".into());
        let preserve_host = r.bool("preserve_host", false);
        let request_buffering = r.bool("request_buffering", true);
        let response_buffering = r.bool("response_buffering", true);
        let tags = none_if_empty(r.opt_string_array("tags"));
        for (k, v) in r.finish().0 {
            errors.add(k, v);
        }
        let headers = read_headers(merged.get("headers"), &mut errors);

        if let Some(n) = &name {
            if let Err(msg) = names::check_entity_name(n) {
                errors.add("name", msg);
            }
        }
        for p in &protocols {
            if !ROUTE_PROTOCOLS.contains(&p.as_str()) {
                errors.add(
                    "protocols",
                    format!("expected one of: {}", ROUTE_PROTOCOLS.join(", ")),
                );
            }
        }
        if let Some(ms) = &methods {
            for m in ms {
                if m.is_empty() || !m.chars().all(|c| c.is_ascii_uppercase()) {
                    errors.add("methods", format!("invalid value: {m}"));
                }
            }
        }
        if let Some(hs) = &hosts {
            for h in hs {
                if let Err(msg) = check_route_host(h) {
                    errors.add("hosts", msg);
                }
            }
        }
        if let Some(ps) = &paths {
            for p in ps {
                if let Err(msg) = check_route_path(p) {
                    errors.add("paths", msg);
                }
            }
        }
        if !REDIRECT_CODES.contains(&https_redirect_status_code) {
            errors.add(
                "https_redirect_status_code",
                "expected one of: 426, 301, 302, 307, 308",
            );
        }
        if path_handling != "v0" && path_handling != "v1" {
            errors.add("path_handling", "expected one of: v0, v1");
        }
        check_tags(&tags, &mut errors);
        let has_http = protocols.iter().any(|p| p == "http" || p == "https");
        if has_http
            && methods.is_none()
            && hosts.is_none()
            && paths.is_none()
            && headers.is_none()
            && snis.is_none()
            && errors.is_empty()
        {
            errors.add(
                "@entity",
                "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'http' or 'https'",
            );
        }

        let created_at = base.map(|b| b.created_at).unwrap_or(now);
        errors.into_result(Route {
            id,
            created_at,
            updated_at: now,
            name,
            protocols,
            methods,
            hosts,
            paths,
            headers,
            https_redirect_status_code,
            regex_priority,
            strip_path,
            path_handling,
            preserve_host,
            request_buffering,
            response_buffering,
            snis,
            sources: None,
            destinations: None,
            tags,
            service: service.map(|id| ForeignKey { id }),
        })
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

fn read_headers(
    v: Option<&Value>,
    errors: &mut FieldErrors,
) -> Option<BTreeMap<String, Vec<String>>> {
    let obj = match v {
        None | Some(Value::Null) => return None,
        Some(Value::Object(m)) => m,
        Some(_) => {
            errors.add("headers", "expected a map");
            return None;
        }
    };
    let mut out = BTreeMap::new();
    for (name, values) in obj {
        let lname = name.to_ascii_lowercase();
        if lname == "host" {
            errors.add(
                "headers",
                "cannot contain 'host' header, which must be specified in the 'hosts' attribute",
            );
            return None;
        }
        let list = match values {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect(),
            _ => {
                errors.add("headers", "expected an array of strings for each header");
                return None;
            }
        };
        for value in &list {
            if let Some(re) = value.strip_prefix("~*") {
                if regex::Regex::new(re).is_err() {
                    errors.add("headers", format!("invalid regex: '{re}'"));
                }
            }
        }
        if list.is_empty() {
            errors.add(
                "headers",
                format!("header '{name}' needs at least one value"),
            );
        }
        out.insert(lname, list);
    }
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

fn check_route_host(host: &str) -> Result<(), String> {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if !n.contains(':') => (n, Some(p)),
        _ => (host, None),
    };
    if let Some(p) = port {
        if p.parse::<u16>().is_err() {
            return Err(format!("invalid port number in host '{host}'"));
        }
    }
    if name.matches('*').count() > 1 {
        return Err(format!(
            "invalid wildcard: '{host}': only one wildcard is allowed"
        ));
    }
    if name.contains('*') && !(name.starts_with("*.") || name.ends_with(".*")) {
        return Err(format!(
            "invalid wildcard: '{host}': must be placed at leftmost or rightmost label"
        ));
    }
    let plain = name.trim_start_matches("*.").trim_end_matches(".*");
    let ok = !plain.is_empty()
        && plain.split('.').all(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("invalid hostname: {host}"))
    }
}

fn check_route_path(path: &str) -> Result<(), String> {
    if let Some(re) = path.strip_prefix('~') {
        if !re.starts_with('/') {
            return Err("should start with: / (fixed path) or ~/ (regex path)".into());
        }
        return regex::Regex::new(re)
            .map(|_| ())
            .map_err(|_| format!("invalid regex: '{re}'"));
    }
    if !path.starts_with('/') {
        return Err("should start with: / (fixed path) or ~/ (regex path)".into());
    }
    if path.contains("//") {
        return Err("must not have empty segments".into());
    }
    if path
        .chars()
        .any(|c| c.is_whitespace() || c == '?' || c == '#')
    {
        return Err(format!("invalid path: '{path}'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn build(v: Value) -> Result<Route, FieldErrors> {
        let Value::Object(m) = v else {
            panic!("object")
        };
        Route::parse(Uuid::nil(), 1, None, &m, None)
    }

    #[test]
    fn defaults_match_kong() {
        let r = build(json!({"name": "mockbin", "paths": ["/mock"]})).expect("valid");
        assert!(r.strip_path && !r.preserve_host && r.request_buffering && r.response_buffering);
        assert_eq!(
            (
                r.regex_priority,
                r.https_redirect_status_code,
                r.path_handling.as_str()
            ),
            (0, 426, "v0")
        );
        assert_eq!(r.protocols, vec!["http", "https"]);
    }

    #[test]
    fn validation_messages() {
        let e = build(json!({"name": "r"})).expect_err("needs a matcher");
        assert!(e.get("@entity").is_some());
        let e = build(json!({"paths": ["mock"]})).expect_err("bad path");
        assert_eq!(
            e.get("paths"),
            Some("should start with: / (fixed path) or ~/ (regex path)")
        );
        let e = build(json!({"paths": ["~/(unclosed"]})).expect_err("bad regex");
        assert!(e
            .get("paths")
            .is_some_and(|m| m.starts_with("invalid regex")));
        let e = build(json!({"paths": ["/a"], "methods": ["get"]})).expect_err("lowercase");
        assert_eq!(e.get("methods"), Some("invalid value: get"));
        let e =
            build(json!({"paths": ["/a"], "https_redirect_status_code": 200})).expect_err("code");
        assert!(e.get("https_redirect_status_code").is_some());
        let e = build(json!({"hosts": ["a.*.com"]})).expect_err("wildcard");
        assert!(e.get("hosts").is_some());
    }

    #[test]
    fn service_ref_by_id_or_name() {
        let Value::Object(m) = json!({"service": {"name": "s"}}) else {
            panic!()
        };
        assert_eq!(
            service_ref(&m).expect("ok"),
            Some(ServiceRef::Name("s".into()))
        );
        let Value::Object(m) = json!({"service": {"id": "nope"}}) else {
            panic!()
        };
        assert!(service_ref(&m).is_err());
    }
}
