//! Kong's request-transformer and response-transformer schemas: records of `name` or
//! `name:value` lists for headers, query arguments and bodies, with Kong's checks and
//! messages.

use super::{Default, Field, Group, Schema, Ty, STRING, STRINGS};

/// Kong's `^([^:]+):*(.-)$`: the name before the first colon, the value after the colons.
fn split(s: &str) -> (&str, &str) {
    match s.split_once(':') {
        Some((n, v)) => (n, v.trim_start_matches(':')),
        None => (s, ""),
    }
}

fn header_ok(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_header(name: &str) -> Result<(), String> {
    if header_ok(name) {
        Ok(())
    } else {
        Err(format!("'{name}' is not a valid header"))
    }
}

/// A header name (for `remove`).
fn header_name(s: &str) -> Result<(), String> {
    valid_header(split(s).0)
}

/// Kong's `match = "^[^:]+:.*$"`.
fn colon(s: &str) -> Result<(), String> {
    match s.split_once(':') {
        Some((n, _)) if !n.is_empty() => Ok(()),
        _ => Err(format!("invalid value: {s}")),
    }
}

/// `name:value` with a header name.
fn colon_header(s: &str) -> Result<(), String> {
    colon(s)?;
    valid_header(split(s).0)
}

/// `old:new`, both header names (`rename.headers`).
fn colon_headers(s: &str) -> Result<(), String> {
    colon(s)?;
    let (name, value) = split(s);
    valid_header(name)?;
    valid_header(value)
}

/// Kong's `check_for_value`: entries set a key to a value.
fn has_value(s: &str) -> Result<(), String> {
    let (name, value) = split(s);
    if name.is_empty() || value.is_empty() {
        return Err(format!("key '{name}' has no value"));
    }
    Ok(())
}

macro_rules! array {
    ($name:expr, $check:expr) => {
        Field::new(
            $name,
            Ty::Array {
                of: &Ty::String {
                    one_of: &[],
                    check: $check,
                },
                set: false,
            },
        )
        .default(Default::Strs(&[]))
        .required()
    };
}

const REQ_REMOVE: &[Field] = &[
    array!("body", None),
    array!("headers", Some(header_name)),
    array!("querystring", None),
];
const REQ_RENAME: &[Field] = &[
    array!("body", Some(has_value)),
    array!("headers", Some(colon_headers)),
    array!("querystring", Some(has_value)),
];
const REQ_SET: &[Field] = &[
    array!("body", Some(has_value)),
    array!("headers", Some(colon_header)),
    array!("querystring", Some(has_value)),
];
const REQ_REPLACE: &[Field] = &[
    array!("body", Some(has_value)),
    array!("headers", Some(colon_header)),
    array!("querystring", Some(has_value)),
    Field::new("uri", STRING),
];

/// Kong's `typedefs.http_method` (`^%u+$`).
fn http_method(s: &str) -> Result<(), String> {
    if s.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(format!("invalid value: {s}"))
    }
}

pub const REQUEST: Schema = Schema {
    name: "request-transformer",
    group: Group::Transformations,
    summary: "Change the request's method, path, headers, query and body before it goes upstream.",
    fields: &[
        Field::new(
            "http_method",
            Ty::String {
                one_of: &[],
                check: Some(http_method),
            },
        )
        .help("The method sent upstream."),
        Field::new("remove", Ty::Record(REQ_REMOVE)).help("Names to remove."),
        Field::new("rename", Ty::Record(REQ_RENAME)).help("old:new names."),
        Field::new("replace", Ty::Record(REQ_REPLACE))
            .help("name:value, only where the name is present; uri replaces the upstream path."),
        Field::new("add", Ty::Record(REQ_SET)).help("name:value, only where the name is absent."),
        Field::new("append", Ty::Record(REQ_SET)).help("name:value, added to what is there."),
    ],
    consumer_allowed: true,
    checks: &[],
};

const JSON_TYPES: Field = Field::new(
    "json_types",
    Ty::Array {
        of: &Ty::String {
            one_of: &["boolean", "number", "string"],
            check: None,
        },
        set: false,
    },
)
.default(Default::Strs(&[]))
.required();

const RES_REMOVE: &[Field] = &[
    array!("json", None),
    Field::new("headers", STRINGS)
        .default(Default::Strs(&[]))
        .required(),
];
const RES_RENAME: &[Field] = &[
    array!("json", Some(colon)),
    array!("headers", Some(colon_headers)),
];
const RES_SET: &[Field] = &[
    array!("json", Some(colon)),
    JSON_TYPES,
    array!("headers", Some(colon)),
];

pub const RESPONSE: Schema = Schema {
    name: "response-transformer",
    group: Group::Transformations,
    summary: "Change the response's headers and JSON body before it reaches the client.",
    fields: &[
        Field::new("remove", Ty::Record(RES_REMOVE)).help("Names to remove."),
        Field::new("rename", Ty::Record(RES_RENAME)).help("old:new names."),
        Field::new("replace", Ty::Record(RES_SET))
            .help("name:value, only where the name is present."),
        Field::new("add", Ty::Record(RES_SET)).help("name:value, only where the name is absent."),
        Field::new("append", Ty::Record(RES_SET)).help("name:value, added to what is there."),
    ],
    consumer_allowed: true,
    checks: &[],
};

#[cfg(test)]
mod tests {
    use serde_json::{json, Map, Value};

    fn errors(schema: &super::Schema, config: Value) -> Vec<(String, String)> {
        let given: Map<String, Value> = config.as_object().cloned().unwrap_or_default();
        schema.fill(&given).err().unwrap_or_default()
    }

    #[test]
    fn transformer_defaults_and_errors_match_kong() {
        let filled = super::REQUEST.fill(&Map::new()).expect("defaults");
        assert_eq!(filled["add"]["headers"], json!([]));
        assert_eq!(filled["replace"]["uri"], Value::Null);
        assert_eq!(filled["http_method"], Value::Null);
        let e = errors(
            &super::REQUEST,
            json!({ "add": { "querystring": ["q1"], "headers": ["x y:1"] }, "http_method": "get" }),
        );
        let has = |p: &str, m: &str| e.iter().any(|(k, v)| k == p && v == m);
        assert!(has("add.querystring", "key 'q1' has no value"), "{e:?}");
        assert!(has("add.headers", "'x y' is not a valid header"), "{e:?}");
        assert!(has("http_method", "invalid value: get"), "{e:?}");
        let e = errors(
            &super::REQUEST,
            json!({ "rename": { "headers": ["a:b c"] } }),
        );
        assert!(
            e.iter().any(|(_, m)| m == "'b c' is not a valid header"),
            "{e:?}"
        );
        let filled = super::RESPONSE.fill(&Map::new()).expect("defaults");
        assert_eq!(filled["append"]["json_types"], json!([]));
        let e = errors(
            &super::RESPONSE,
            json!({ "add": { "json": ["novalue"], "json_types": ["date"] } }),
        );
        assert!(
            e.iter()
                .any(|(k, m)| k == "add.json" && m == "invalid value: novalue"),
            "{e:?}"
        );
        assert!(e.iter().any(|(k, _)| k == "add.json_types"), "{e:?}");
    }
}
