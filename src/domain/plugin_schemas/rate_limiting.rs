//! Kong's rate-limiting schema (3.x): limits per second … year (at least one, each larger
//! window's limit no lower than a smaller one's), what to count by, the policy (`local` or
//! `redis`; Kong's `cluster` policy keeps counters in Kong's database, which a data-plane node
//! does not have — Kong refuses it on DB-less and hybrid nodes too, and so do we), the `redis`
//! record with its deprecated flat `redis_*` spellings, and how a refusal looks.

use super::{at_least_one_of, header_name, Default, Field, Group, Map, Schema, Ty, Value};
use super::{INTEGER, NUMBER, STRING};

pub const PERIODS: [&str; 6] = ["second", "minute", "hour", "day", "month", "year"];

/// Kong's `typedefs.path`: starts with `/`, no empty segments, RFC 3986 characters only.
fn path(s: &str) -> Result<(), String> {
    if !s.starts_with('/') {
        return Err("should start with: /".into());
    }
    if s.contains("//") {
        return Err("must not have empty segments".into());
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._-~/%:@!$&'()*+,;=".contains(c);
    if !s.chars().all(allowed) {
        return Err(format!(
            "invalid path: '{s}' (characters outside of the reserved list of RFC 3986 found)"
        ));
    }
    Ok(())
}

const REDIS: &[Field] = &[
    Field::new("host", STRING),
    Field::new(
        "port",
        Ty::Integer {
            between: Some((0, 65535)),
        },
    )
    .default(Default::Int(6379)),
    Field::new(
        "timeout",
        Ty::Integer {
            between: Some((0, 2_147_483_646)),
        },
    )
    .default(Default::Int(2000))
    .help("Connect, send and read timeout, in milliseconds."),
    Field::new("username", STRING),
    Field::new("password", STRING),
    Field::new("database", INTEGER).default(Default::Int(0)),
    Field::boolean("ssl", false),
    Field::boolean("ssl_verify", false),
    Field::new("server_name", STRING),
];

/// The deprecated flat spellings Kong 3.x still accepts (until 4.0), to their `redis` field.
const SHORTHANDS: [(&str, &str); 9] = [
    ("redis_host", "host"),
    ("redis_port", "port"),
    ("redis_password", "password"),
    ("redis_username", "username"),
    ("redis_ssl", "ssl"),
    ("redis_ssl_verify", "ssl_verify"),
    ("redis_server_name", "server_name"),
    ("redis_timeout", "timeout"),
    ("redis_database", "database"),
];

/// Moves `redis_host`-style fields into the `redis` record (a value set there wins).
pub fn expand_shorthands(given: &mut Map<String, Value>) {
    for (flat, field) in SHORTHANDS {
        let Some(v) = given.remove(flat) else {
            continue;
        };
        if v.is_null() {
            continue;
        }
        let redis = given
            .entry("redis")
            .or_insert_with(|| Value::Object(Map::new()));
        if redis.is_null() {
            *redis = Value::Object(Map::new());
        }
        if let Value::Object(r) = redis {
            r.entry(field).or_insert(v);
        }
    }
}

fn num(config: &Map<String, Value>, k: &str) -> Option<f64> {
    config.get(k).and_then(Value::as_f64)
}

fn some_period(config: &Map<String, Value>) -> Vec<(String, String)> {
    let names: Vec<String> = PERIODS.iter().map(|p| p.to_string()).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    at_least_one_of(config, &refs)
}

/// Kong's `gt = 0` on the limits and the error code.
fn positive(config: &Map<String, Value>) -> Vec<(String, String)> {
    PERIODS
        .iter()
        .chain(&["error_code"])
        .filter(|k| num(config, k).is_some_and(|v| v <= 0.0))
        .map(|k| (k.to_string(), "value must be greater than 0".to_string()))
        .collect()
}

/// Kong's `custom_validator` on the config record: its error is the whole config's (path "").
fn periods_order(config: &Map<String, Value>) -> Vec<(String, String)> {
    for (i, lower) in PERIODS.iter().enumerate() {
        let Some(v1) = num(config, lower) else {
            continue;
        };
        for upper in &PERIODS[i + 1..] {
            if let Some(v2) = num(config, upper).filter(|v2| *v2 < v1) {
                return vec![(
                    String::new(),
                    format!(
                        "The limit for {upper}({v2:.1}) cannot be lower than the limit for {lower}({v1:.1})"
                    ),
                )];
            }
        }
    }
    let redis = config.get("policy").and_then(Value::as_str) == Some("redis");
    let sync_rate = num(config, "sync_rate").unwrap_or(-1.0);
    if !redis && sync_rate != -1.0 {
        return vec![(
            String::new(),
            "sync_rate can only be used with the redis policy".into(),
        )];
    }
    if redis && sync_rate != -1.0 && sync_rate < 0.02 {
        return vec![(
            String::new(),
            "sync_rate must be greater than 0.02, or -1 to disable".into(),
        )];
    }
    Vec::new()
}

/// Kong's `conditional` entity checks: the field's own error plus the entity's.
fn conditionals(config: &Map<String, Value>) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let mut require = |if_field: &str, value: &str, path: &[&str]| {
        if config.get(if_field).and_then(Value::as_str) != Some(value) {
            return;
        }
        let mut v = config.get(path[0]);
        for p in &path[1..] {
            v = v.and_then(|x| x.get(*p));
        }
        if v.is_none_or(Value::is_null) {
            errors.push((path.join("."), "required field missing".to_string()));
            errors.push((
                "@entity".into(),
                format!("failed conditional validation given value of field 'config.{if_field}'"),
            ));
        }
    };
    require("policy", "redis", &["redis", "host"]);
    require("policy", "redis", &["redis", "port"]);
    require("policy", "redis", &["redis", "timeout"]);
    require("limit_by", "header", &["header_name"]);
    require("limit_by", "path", &["path"]);
    errors
}

pub const SCHEMA: Schema = Schema {
    name: "rate-limiting",
    group: Group::TrafficControl,
    summary:
        "Limit how many requests a client can make per second, minute, hour, day, month or year.",
    fields: &[
        Field::new("second", NUMBER).help("Requests allowed per second."),
        Field::new("minute", NUMBER).help("Requests allowed per minute."),
        Field::new("hour", NUMBER).help("Requests allowed per hour."),
        Field::new("day", NUMBER).help("Requests allowed per day."),
        Field::new("month", NUMBER).help("Requests allowed per month."),
        Field::new("year", NUMBER).help("Requests allowed per year."),
        Field::one_of(
            "limit_by",
            "consumer",
            &["consumer", "credential", "ip", "service", "header", "path"],
        )
        .help("What requests are counted by (the client IP when it is unknown)."),
        Field::new(
            "header_name",
            Ty::String {
                one_of: &[],
                check: Some(header_name),
            },
        ),
        Field::new(
            "path",
            Ty::String {
                one_of: &[],
                check: Some(path),
            },
        ),
        Field::one_of("policy", "local", &["local", "redis"])
            .help("Where counters live: this node (local) or Redis, shared by every node."),
        Field::boolean("fault_tolerant", true)
            .help("Let requests through when Redis cannot be reached (else 500)."),
        Field::new("redis", Ty::Record(REDIS)),
        Field::boolean("hide_client_headers", false),
        Field::new("error_code", NUMBER).default(Default::Int(429)),
        Field::new("error_message", STRING).default(Default::Str("API rate limit exceeded")),
        Field::new("sync_rate", NUMBER)
            .default(Default::Int(-1))
            .required(),
    ],
    consumer_allowed: true,
    checks: &[some_period, positive, periods_order, conditionals],
};

#[cfg(test)]
mod tests {
    use serde_json::{json, Map, Value};

    fn fill(v: Value) -> Result<Map<String, Value>, Vec<(String, String)>> {
        let mut m = v.as_object().cloned().unwrap_or_default();
        super::expand_shorthands(&mut m);
        super::SCHEMA.fill(&m)
    }

    #[test]
    fn defaults_like_kong() {
        let c = fill(json!({ "minute": 3 })).expect("valid");
        assert_eq!(c["limit_by"], "consumer");
        assert_eq!(c["policy"], "local");
        assert_eq!(c["fault_tolerant"], true);
        assert_eq!(c["error_code"], 429);
        assert_eq!(c["error_message"], "API rate limit exceeded");
        assert_eq!(c["sync_rate"], -1);
        assert_eq!(c["redis"]["port"], 6379);
        assert_eq!(c["redis"]["timeout"], 2000);
        assert_eq!(c["redis"]["database"], 0);
        assert_eq!(c["second"], Value::Null);
    }

    #[test]
    fn kong_errors() {
        let e = fill(json!({})).expect_err("no limit");
        assert_eq!(e, vec![("@entity".to_string(), "at least one of these fields must be non-empty: 'config.second', 'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year'".to_string())]);
        let e = fill(json!({ "second": 20, "hour": 10 })).expect_err("order");
        assert_eq!(
            e[0],
            (
                String::new(),
                "The limit for hour(10.0) cannot be lower than the limit for second(20.0)".into()
            )
        );
        let e = fill(json!({ "second": 10, "limit_by": "header" })).expect_err("header");
        assert!(e.contains(&("header_name".into(), "required field missing".into())));
        let e = fill(json!({ "second": 10, "policy": "redis" })).expect_err("redis host");
        assert!(e.contains(&("redis.host".into(), "required field missing".into())));
        let e = fill(json!({ "second": 10, "policy": "cluster" })).expect_err("cluster");
        assert_eq!(
            e,
            vec![("policy".into(), "expected one of: local, redis".into())]
        );
        let e = fill(json!({ "second": 0 })).expect_err("gt 0");
        assert_eq!(
            e,
            vec![("second".into(), "value must be greater than 0".into())]
        );
        let e = fill(json!({ "second": 1, "sync_rate": 1 })).expect_err("sync_rate");
        assert_eq!(e[0].1, "sync_rate can only be used with the redis policy");
    }

    #[test]
    fn legacy_redis_fields_land_in_the_record() {
        let c = fill(json!({
            "second": 10, "policy": "redis", "redis_host": "cache", "redis_port": 7000,
            "redis_timeout": 1100, "redis_database": 2, "redis_password": "pw",
        }))
        .expect("valid");
        assert_eq!(c["redis"]["host"], "cache");
        assert_eq!(c["redis"]["port"], 7000);
        assert_eq!(c["redis"]["timeout"], 1100);
        assert_eq!(c["redis"]["database"], 2);
        assert_eq!(c["redis"]["password"], "pw");
        assert!(c.get("redis_host").is_none());
    }
}
