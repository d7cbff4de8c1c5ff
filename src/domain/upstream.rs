//! Kong's Upstream object: a virtual host name that gateway services point at, balanced over
//! its targets with an algorithm and watched by health checks.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::entity::{merged, Entity};
use super::fields::{check_known, none_if_empty, Reader};
use super::gateway_service::{check_tags, ForeignKey};
use super::FieldErrors;

pub const ALGORITHMS: &[&str] = &[
    "round-robin",
    "consistent-hashing",
    "least-connections",
    "latency",
];
pub const HASH_ON: &[&str] = &[
    "none",
    "ip",
    "header",
    "cookie",
    "path",
    "query_arg",
    "uri_capture",
];
const KNOWN: &[&str] = &[
    "id",
    "created_at",
    "updated_at",
    "name",
    "algorithm",
    "hash_on",
    "hash_fallback",
    "hash_on_header",
    "hash_fallback_header",
    "hash_on_cookie",
    "hash_on_cookie_path",
    "hash_on_query_arg",
    "hash_fallback_query_arg",
    "hash_on_uri_capture",
    "hash_fallback_uri_capture",
    "slots",
    "healthchecks",
    "tags",
    "host_header",
    "client_certificate",
    "use_srv_name",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Upstream {
    pub id: Uuid,
    pub created_at: i64,
    pub updated_at: i64,
    pub name: String,
    pub algorithm: String,
    pub hash_on: String,
    pub hash_fallback: String,
    pub hash_on_header: Option<String>,
    pub hash_fallback_header: Option<String>,
    pub hash_on_cookie: Option<String>,
    pub hash_on_cookie_path: String,
    pub hash_on_query_arg: Option<String>,
    pub hash_fallback_query_arg: Option<String>,
    pub hash_on_uri_capture: Option<String>,
    pub hash_fallback_uri_capture: Option<String>,
    pub slots: i64,
    pub healthchecks: Healthchecks,
    pub tags: Option<Vec<String>>,
    pub host_header: Option<String>,
    pub client_certificate: Option<ForeignKey>,
    pub use_srv_name: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Healthchecks {
    pub active: ActiveCheck,
    pub passive: PassiveCheck,
    pub threshold: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActiveCheck {
    #[serde(rename = "type")]
    pub kind: String,
    /// Seconds, as Kong counts them (fractions allowed).
    pub timeout: f64,
    pub concurrency: i64,
    pub http_path: String,
    pub https_verify_certificate: bool,
    pub https_sni: Option<String>,
    pub headers: Option<Value>,
    pub healthy: Healthy,
    pub unhealthy: Unhealthy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PassiveCheck {
    #[serde(rename = "type")]
    pub kind: String,
    pub healthy: Healthy,
    pub unhealthy: Unhealthy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Healthy {
    /// Seconds between active probes of a healthy target; 0 turns them off. Unused by passive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<f64>,
    pub http_statuses: Vec<u16>,
    pub successes: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Unhealthy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<f64>,
    pub http_statuses: Vec<u16>,
    pub tcp_failures: i64,
    pub timeouts: i64,
    pub http_failures: i64,
}

impl Default for ActiveCheck {
    fn default() -> Self {
        ActiveCheck {
            kind: "http".into(),
            timeout: 1.0,
            concurrency: 10,
            http_path: "/".into(),
            https_verify_certificate: true,
            https_sni: None,
            headers: None,
            healthy: Healthy {
                interval: Some(0.0),
                http_statuses: vec![200, 302],
                successes: 0,
            },
            unhealthy: Unhealthy {
                interval: Some(0.0),
                http_statuses: vec![429, 404, 500, 501, 502, 503, 504, 505],
                tcp_failures: 0,
                timeouts: 0,
                http_failures: 0,
            },
        }
    }
}

impl Default for PassiveCheck {
    fn default() -> Self {
        PassiveCheck {
            kind: "http".into(),
            healthy: Healthy {
                interval: None,
                http_statuses: vec![
                    200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305,
                    306, 307, 308,
                ],
                successes: 0,
            },
            unhealthy: Unhealthy {
                interval: None,
                http_statuses: vec![429, 500, 503],
                tcp_failures: 0,
                timeouts: 0,
                http_failures: 0,
            },
        }
    }
}

impl Default for Healthy {
    fn default() -> Self {
        ActiveCheck::default().healthy
    }
}

impl Default for Unhealthy {
    fn default() -> Self {
        ActiveCheck::default().unhealthy
    }
}

impl ActiveCheck {
    /// Active probing is on when either interval is positive.
    pub fn enabled(&self) -> bool {
        self.healthy.interval.unwrap_or(0.0) > 0.0 || self.unhealthy.interval.unwrap_or(0.0) > 0.0
    }
}

impl Entity for Upstream {
    const KIND: &'static str = "upstreams";
    const NAME_FIELD: Option<&'static str> = Some("name");

    fn id(&self) -> Uuid {
        self.id
    }
    fn created_at(&self) -> i64 {
        self.created_at
    }
    fn unique_name(&self) -> Option<String> {
        Some(self.name.clone())
    }

    fn from_input(
        id: Uuid,
        now: i64,
        _parent: Option<Uuid>,
        base: Option<&Upstream>,
        input: &Map<String, Value>,
    ) -> Result<Upstream, FieldErrors> {
        let mut errors = FieldErrors::new();
        check_known(input, KNOWN, &mut errors);
        let m = merged(base, input);
        let mut r = Reader::new(&m);
        let name = r.opt_string("name");
        let algorithm = r
            .opt_string("algorithm")
            .unwrap_or_else(|| "round-robin".into());
        let hash_on = r.opt_string("hash_on").unwrap_or_else(|| "none".into());
        let hash_fallback = r
            .opt_string("hash_fallback")
            .unwrap_or_else(|| "none".into());
        let hash_on_header = r.opt_string("hash_on_header");
        let hash_fallback_header = r.opt_string("hash_fallback_header");
        let hash_on_cookie = r.opt_string("hash_on_cookie");
        let hash_on_cookie_path = r
            .opt_string("hash_on_cookie_path")
            .unwrap_or_else(|| "/".into());
        let hash_on_query_arg = r.opt_string("hash_on_query_arg");
        let hash_fallback_query_arg = r.opt_string("hash_fallback_query_arg");
        let hash_on_uri_capture = r.opt_string("hash_on_uri_capture");
        let hash_fallback_uri_capture = r.opt_string("hash_fallback_uri_capture");
        let slots = r.int("slots", 10000, 10, 65536);
        let tags = none_if_empty(r.opt_string_array("tags"));
        let host_header = r.opt_string("host_header");
        let use_srv_name = r.bool("use_srv_name", false);
        let client_certificate = super::gateway_service::client_certificate(&mut r);
        for (k, v) in r.finish().0 {
            errors.add(k, v);
        }
        let healthchecks = healthchecks(m.get("healthchecks"), &mut errors);

        let name = match name {
            None => {
                errors.add("name", "required field missing");
                String::new()
            }
            Some(n) => {
                if let Err(msg) = super::gateway_service::check_host(&n) {
                    errors.add("name", msg);
                }
                n
            }
        };
        if !ALGORITHMS.contains(&algorithm.as_str()) {
            errors.add(
                "algorithm",
                format!("expected one of: {}", ALGORITHMS.join(", ")),
            );
        }
        for (field, value, header, query, capture) in [
            (
                "hash_on",
                &hash_on,
                &hash_on_header,
                &hash_on_query_arg,
                &hash_on_uri_capture,
            ),
            (
                "hash_fallback",
                &hash_fallback,
                &hash_fallback_header,
                &hash_fallback_query_arg,
                &hash_fallback_uri_capture,
            ),
        ] {
            if value == "uri_capture" && capture.is_none() {
                errors.add(
                    format!("{field}_uri_capture"),
                    format!("required field missing (when '{field}' is 'uri_capture')"),
                );
            }
            if !HASH_ON.contains(&value.as_str()) {
                errors.add(field, format!("expected one of: {}", HASH_ON.join(", ")));
            }
            if value == "header" && header.is_none() {
                errors.add(
                    format!("{field}_header"),
                    format!("required field missing (when '{field}' is 'header')"),
                );
            }
            if value == "query_arg" && query.is_none() {
                errors.add(
                    format!("{field}_query_arg"),
                    format!("required field missing (when '{field}' is 'query_arg')"),
                );
            }
        }
        if hash_on == "cookie" && hash_on_cookie.is_none() {
            errors.add(
                "hash_on_cookie",
                "required field missing (when 'hash_on' is 'cookie')",
            );
        }
        if hash_on == "none" && hash_fallback != "none" {
            errors.add("hash_fallback", "must be 'none' when 'hash_on' is 'none'");
        }
        if hash_fallback == "cookie" {
            errors.add("hash_fallback", "'cookie' cannot be a fallback");
        }
        if algorithm == "consistent-hashing" && hash_on == "none" {
            errors.add(
                "hash_on",
                "must not be 'none' when 'algorithm' is 'consistent-hashing'",
            );
        }
        if let Some(h) = &host_header {
            if let Err(msg) = super::gateway_service::check_host(h) {
                errors.add("host_header", msg);
            }
        }
        check_tags(&tags, &mut errors);
        errors.into_result(Upstream {
            id,
            created_at: base.map(|b| b.created_at).unwrap_or(now),
            updated_at: now,
            name,
            algorithm,
            hash_on,
            hash_fallback,
            hash_on_header,
            hash_fallback_header,
            hash_on_cookie,
            hash_on_cookie_path,
            hash_on_query_arg,
            hash_fallback_query_arg,
            hash_on_uri_capture,
            hash_fallback_uri_capture,
            slots,
            healthchecks,
            tags,
            host_header,
            client_certificate,
            use_srv_name,
        })
    }
}

/// Reads `healthchecks`, coercing form-encoded strings ("5", "true") to the numbers and
/// booleans the schema wants, then checks Kong's ranges.
fn healthchecks(raw: Option<&Value>, errors: &mut FieldErrors) -> Healthchecks {
    let Some(raw) = raw.filter(|v| !v.is_null()) else {
        return Healthchecks::default();
    };
    let mut v = raw.clone();
    coerce_scalars(&mut v);
    let mut hc: Healthchecks = match serde_json::from_value(v) {
        Ok(hc) => hc,
        Err(e) => {
            errors.add("healthchecks", e.to_string());
            return Healthchecks::default();
        }
    };
    // Passive checks have no interval in Kong; serde's field defaults (the active ones) would
    // give them one whenever `passive` is written out, and a re-read would differ.
    hc.passive.healthy.interval = None;
    hc.passive.unhealthy.interval = None;
    let mut range = |field: &str, value: f64, max: f64| {
        if !(0.0..=max).contains(&value) {
            errors.add(
                format!("healthchecks.{field}"),
                format!("value should be between 0 and {max}"),
            );
        }
    };
    let a = &hc.active;
    range("active.timeout", a.timeout, 65535.0);
    range("active.concurrency", a.concurrency as f64, 2147483648.0);
    range(
        "active.healthy.interval",
        a.healthy.interval.unwrap_or(0.0),
        65535.0,
    );
    range(
        "active.unhealthy.interval",
        a.unhealthy.interval.unwrap_or(0.0),
        65535.0,
    );
    for (prefix, h, u) in [
        ("active", &a.healthy, &a.unhealthy),
        ("passive", &hc.passive.healthy, &hc.passive.unhealthy),
    ] {
        range(
            &format!("{prefix}.healthy.successes"),
            h.successes as f64,
            255.0,
        );
        range(
            &format!("{prefix}.unhealthy.tcp_failures"),
            u.tcp_failures as f64,
            255.0,
        );
        range(
            &format!("{prefix}.unhealthy.timeouts"),
            u.timeouts as f64,
            255.0,
        );
        range(
            &format!("{prefix}.unhealthy.http_failures"),
            u.http_failures as f64,
            255.0,
        );
        for s in h.http_statuses.iter().chain(&u.http_statuses) {
            if !(100..=999).contains(s) {
                range(&format!("{prefix}.http_statuses"), -1.0, 999.0);
            }
        }
    }
    range("threshold", hc.threshold, 100.0);
    if !["http", "https", "tcp"].contains(&a.kind.as_str()) {
        errors.add(
            "healthchecks.active.type",
            "expected one of: tcp, http, https",
        );
    }
    if !a.http_path.starts_with('/') {
        errors.add("healthchecks.active.http_path", "should start with: /");
    }
    hc
}

fn coerce_scalars(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, item) in m.iter_mut() {
                if !matches!(k.as_str(), "type" | "http_path" | "https_sni" | "headers") {
                    coerce_scalars(item);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(coerce_scalars),
        Value::String(s) => {
            if let Ok(n) = s.trim().parse::<i64>() {
                *v = Value::from(n);
            } else if let Ok(f) = s.trim().parse::<f64>() {
                *v = Value::from(f);
            } else if s == "true" || s == "false" {
                *v = Value::Bool(s == "true");
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn build(v: Value) -> Result<Upstream, FieldErrors> {
        let Value::Object(m) = v else {
            panic!("object")
        };
        Upstream::from_input(Uuid::nil(), 1, None, None, &m)
    }

    #[test]
    fn defaults_match_kong() {
        let u = build(json!({"name": "svc.v1"})).expect("valid");
        assert_eq!(u.algorithm, "round-robin");
        assert_eq!((u.hash_on.as_str(), u.slots), ("none", 10000));
        assert_eq!(u.healthchecks.active.http_path, "/");
        assert_eq!(
            u.healthchecks.passive.unhealthy.http_statuses,
            vec![429, 500, 503]
        );
        assert!(!u.healthchecks.active.enabled());
    }

    #[test]
    fn form_strings_are_coerced_and_ranges_checked() {
        let u = build(json!({"name": "a", "healthchecks": {"active": {"healthy": {"interval": "5"}, "unhealthy": {"http_failures": "2"}}}}))
            .expect("valid");
        assert_eq!(u.healthchecks.active.healthy.interval, Some(5.0));
        assert_eq!(u.healthchecks.active.unhealthy.http_failures, 2);
        assert_eq!(
            u.healthchecks.active.timeout, 1.0,
            "untouched fields keep defaults"
        );
        let e = build(
            json!({"name": "a", "healthchecks": {"passive": {"unhealthy": {"tcp_failures": 300}}}}),
        )
        .expect_err("out of range");
        assert!(e
            .get("healthchecks.passive.unhealthy.tcp_failures")
            .is_some());
        let e = build(json!({"name": "a", "healthchecks": {"bogus": 1}})).expect_err("unknown");
        assert!(e.get("healthchecks").is_some());
    }

    #[test]
    fn hashing_rules() {
        let e = build(json!({"name": "a", "algorithm": "consistent-hashing"}))
            .expect_err("needs hash_on");
        assert!(e.get("hash_on").is_some());
        let e = build(json!({"name": "a", "hash_on": "header"})).expect_err("needs header");
        assert!(e.get("hash_on_header").is_some());
        let e = build(json!({"algorithm": "fastest"})).expect_err("invalid");
        assert_eq!(e.get("name"), Some("required field missing"));
        assert!(e.get("algorithm").is_some());
        build(json!({"name": "a", "algorithm": "consistent-hashing", "hash_on": "cookie", "hash_on_cookie": "sid"}))
            .expect("valid");
    }
}
