//! Kong's file-log and http-log schemas (http-log with Kong 3.x's `queue` record and its
//! deprecated `queue_size`/`flush_timeout`/`retry_count`). `custom_fields_by_lua` is Lua:
//! Gatehouse runs none, so a config that sets it is refused rather than silently ignored.

use serde_json::{Map, Value};

use super::{Default, Field, Group, Schema, Ty, INTEGER, NUMBER, STRING};

/// Kong's file-log `path` pattern `^[^%s*&%%\`][^*&%%\`]*[^%s*&%%\`]$`.
fn file_path(s: &str) -> Result<(), String> {
    let bad = |c: char| "*&%\\`".contains(c);
    let chars: Vec<char> = s.chars().collect();
    let ok = chars.len() >= 2
        && chars.iter().all(|c| !bad(*c))
        && !chars[0].is_whitespace()
        && !chars[chars.len() - 1].is_whitespace();
    if ok {
        Ok(())
    } else {
        Err("not a valid filename".into())
    }
}

fn no_lua(config: &Map<String, Value>) -> Vec<(String, String)> {
    match config.get("custom_fields_by_lua") {
        Some(Value::Object(m)) if !m.is_empty() => vec![(
            "custom_fields_by_lua".into(),
            "not supported: Gatehouse does not run Lua code".into(),
        )],
        _ => Vec::new(),
    }
}

const LUA: Field = Field::new("custom_fields_by_lua", Ty::Map { values: &STRING })
    .help("Not supported (Lua); must be left empty.");

pub const FILE_LOG: Schema = Schema {
    name: "file-log",
    group: Group::Logging,
    summary: "Append one JSON line per request to a file.",
    fields: &[
        Field::new(
            "path",
            Ty::String {
                one_of: &[],
                check: Some(file_path),
            },
        )
        .required()
        .help("The file; created when missing."),
        Field::boolean("reopen", false).help("Close and reopen the file for every line."),
        LUA,
    ],
    consumer_allowed: true,
    checks: &[no_lua],
};

/// Kong's `typedefs.url` for the endpoint: an absolute http(s) URL.
fn endpoint(s: &str) -> Result<(), String> {
    match url::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(_) => Err("missing host in url".into()),
        Err(e) => Err(format!("not a valid url: {e}")),
    }
}

fn headers(config: &Map<String, Value>) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let Some(Value::Object(h)) = config.get("headers") else {
        return errors;
    };
    for k in h.keys() {
        let lower = k.to_ascii_lowercase();
        let msg = if let Err(m) = super::header_name(k) {
            m
        } else if lower == "host" {
            "cannot contain 'Host' header".into()
        } else if lower == "content-length" {
            "cannot contain 'Content-Length' header".into()
        } else if lower == "content-type" {
            "cannot contain 'Content-Type' header".into()
        } else {
            continue;
        };
        errors.push(("headers".into(), msg));
    }
    let userinfo = config
        .get("http_endpoint")
        .and_then(Value::as_str)
        .and_then(|u| url::Url::parse(u).ok())
        .is_some_and(|u| !u.username().is_empty() || u.password().is_some());
    if userinfo && h.keys().any(|k| k.eq_ignore_ascii_case("authorization")) {
        errors.push((
            "@entity".into(),
            "specifying both an 'Authorization' header and user info in 'http_endpoint' is not allowed".into(),
        ));
    }
    errors
}

/// Kong's `concurrency_limit` is one of -1 and 1.
fn concurrency(config: &Map<String, Value>) -> Vec<(String, String)> {
    let limit = config
        .get("queue")
        .and_then(|q| q.get("concurrency_limit"))
        .and_then(Value::as_i64);
    match limit {
        Some(-1) | Some(1) | None => Vec::new(),
        Some(_) => vec![(
            "queue.concurrency_limit".into(),
            "expected one of: -1, 1".into(),
        )],
    }
}

const QUEUE: &[Field] = &[
    Field::new(
        "max_batch_size",
        Ty::Integer {
            between: Some((1, 1_000_000)),
        },
    )
    .default(Default::Int(1))
    .help("Entries sent together (a JSON array when more than one)."),
    Field::new(
        "max_coalescing_delay",
        Ty::Number {
            between: Some((0.0, 3600.0)),
        },
    )
    .default(Default::Int(1))
    .help("Seconds to wait for a batch to fill."),
    Field::new(
        "max_entries",
        Ty::Integer {
            between: Some((1, 1_000_000)),
        },
    )
    .default(Default::Int(10000))
    .help("Entries waiting at most; more are dropped."),
    Field::new("max_bytes", INTEGER),
    Field::new("max_retry_time", NUMBER)
        .default(Default::Int(60))
        .help("Seconds before a failing batch is given up."),
    Field::new(
        "initial_retry_delay",
        Ty::Number {
            between: Some((0.001, 1_000_000.0)),
        },
    )
    .default(Default::Num(0.01)),
    Field::new(
        "max_retry_delay",
        Ty::Number {
            between: Some((0.001, 1_000_000.0)),
        },
    )
    .default(Default::Int(60)),
    Field::new(
        "concurrency_limit",
        Ty::Integer {
            between: Some((-1, 1)),
        },
    )
    .default(Default::Int(1)),
];

pub const HTTP_LOG: Schema = Schema {
    name: "http-log",
    group: Group::Logging,
    summary: "Send each request's record to an HTTP endpoint, batched and retried.",
    fields: &[
        Field::new(
            "http_endpoint",
            Ty::String {
                one_of: &[],
                check: Some(endpoint),
            },
        )
        .required()
        .help("Where records are sent (user info becomes Basic authorization)."),
        Field::one_of("method", "POST", &["POST", "PUT", "PATCH"]),
        Field::one_of(
            "content_type",
            "application/json",
            &["application/json", "application/json; charset=utf-8"],
        ),
        Field::new("timeout", NUMBER)
            .default(Default::Int(10000))
            .help("Milliseconds for each attempt."),
        Field::new("keepalive", NUMBER)
            .default(Default::Int(60000))
            .help("Milliseconds an idle connection is kept."),
        Field::new("retry_count", INTEGER).help("Deprecated: use queue.max_retry_time."),
        Field::new("queue_size", INTEGER).help("Deprecated: queue.max_batch_size."),
        Field::new("flush_timeout", NUMBER).help("Deprecated: queue.max_coalescing_delay."),
        Field::new("headers", Ty::Map { values: &STRING }).help("Headers sent with each batch."),
        Field::new("queue", Ty::Record(QUEUE)),
        LUA,
    ],
    consumer_allowed: true,
    checks: &[no_lua, headers, concurrency],
};

#[cfg(test)]
mod tests {
    use serde_json::{json, Map, Value};

    fn fill(s: &super::Schema, v: Value) -> Result<Map<String, Value>, Vec<(String, String)>> {
        s.fill(v.as_object().expect("object"))
    }

    #[test]
    fn file_log_paths_and_lua_like_kong() {
        let ok = fill(&super::FILE_LOG, json!({ "path": "/tmp/log.json" })).expect("valid");
        assert_eq!(ok["reopen"], false);
        for bad in ["/tmp/a*b", " /tmp/x", "/tmp/x ", "x", "/tmp/`x`"] {
            let e = fill(&super::FILE_LOG, json!({ "path": bad })).expect_err(bad);
            assert_eq!(
                e,
                [("path".to_string(), "not a valid filename".to_string())]
            );
        }
        let e = fill(&super::FILE_LOG, json!({})).expect_err("required");
        assert_eq!(e[0].0, "path");
        let e = fill(
            &super::FILE_LOG,
            json!({ "path": "/tmp/x", "custom_fields_by_lua": { "a": "return 1" } }),
        )
        .expect_err("lua");
        assert_eq!(e[0].0, "custom_fields_by_lua");
    }

    #[test]
    fn http_log_defaults_and_errors_like_kong() {
        let ok = fill(
            &super::HTTP_LOG,
            json!({ "http_endpoint": "http://127.0.0.1:9/x" }),
        )
        .expect("valid");
        assert_eq!(ok["method"], "POST");
        assert_eq!(ok["timeout"], 10000);
        assert_eq!(ok["queue"]["max_batch_size"], 1);
        assert_eq!(ok["queue"]["initial_retry_delay"], 0.01);
        assert_eq!(ok["retry_count"], Value::Null);
        let e = fill(
            &super::HTTP_LOG,
            json!({ "http_endpoint": "http://u:p@h/", "headers": { "Host": "x", "Authorization": "y" } }),
        )
        .expect_err("invalid");
        let has = |p: &str, m: &str| e.iter().any(|(k, v)| k == p && v.contains(m));
        assert!(has("headers", "cannot contain 'Host' header"), "{e:?}");
        assert!(has("@entity", "user info"), "{e:?}");
        assert!(fill(&super::HTTP_LOG, json!({ "http_endpoint": "nope" })).is_err());
        assert!(fill(
            &super::HTTP_LOG,
            json!({ "http_endpoint": "http://h/", "queue": { "concurrency_limit": 0 } })
        )
        .is_err());
    }
}
