//! The configuration schemas of the plugins Gatehouse runs, as Kong defines them: field types,
//! defaults and rules. A plugin's stored config always has every field, defaults filled in.

use serde_json::{Map, Value};

/// One config field's type and default.
#[derive(Debug, Clone, Copy)]
pub enum Field {
    Bool(bool),
    /// A string or null.
    OptString,
    /// An array of header names (letters, digits, `_` and `-`), with its default.
    HeaderNames(&'static [&'static str]),
}

#[derive(Debug)]
pub struct Schema {
    pub name: &'static str,
    pub fields: &'static [(&'static str, Field)],
    /// Whether the plugin may be scoped to a consumer (authentication plugins may not).
    pub consumer_allowed: bool,
}

const KEY_AUTH: Schema = Schema {
    name: "key-auth",
    fields: &[
        ("key_names", Field::HeaderNames(&["apikey"])),
        ("hide_credentials", Field::Bool(false)),
        ("anonymous", Field::OptString),
        ("key_in_header", Field::Bool(true)),
        ("key_in_query", Field::Bool(true)),
        ("key_in_body", Field::Bool(false)),
        ("run_on_preflight", Field::Bool(true)),
        ("realm", Field::OptString),
    ],
    consumer_allowed: false,
};

/// Every plugin this build runs.
pub const ALL: &[&Schema] = &[&KEY_AUTH];

pub fn schema(name: &str) -> Option<&'static Schema> {
    ALL.iter().copied().find(|s| s.name == name)
}

impl Schema {
    /// `given` checked against the schema, with every missing field at its default; errors
    /// are by field name.
    pub fn fill(
        &self,
        given: &Map<String, Value>,
    ) -> Result<Map<String, Value>, Vec<(String, String)>> {
        let mut out = Map::new();
        let mut errors = Vec::new();
        for k in given.keys() {
            if !self.fields.iter().any(|(f, _)| f == k) {
                errors.push((k.clone(), "unknown field".to_string()));
            }
        }
        for (name, field) in self.fields {
            let v = given.get(*name).filter(|v| !v.is_null());
            let value = match (field, v) {
                (Field::Bool(d), None) => Value::Bool(*d),
                (Field::Bool(_), Some(Value::Bool(b))) => Value::Bool(*b),
                (Field::Bool(_), Some(_)) => {
                    errors.push((name.to_string(), "expected a boolean".into()));
                    continue;
                }
                (Field::OptString, None) => Value::Null,
                (Field::OptString, Some(Value::String(s))) => Value::String(s.clone()),
                (Field::OptString, Some(_)) => {
                    errors.push((name.to_string(), "expected a string".into()));
                    continue;
                }
                (Field::HeaderNames(d), None) => Value::from(d.to_vec()),
                (Field::HeaderNames(_), Some(Value::Array(items))) => {
                    let ok = !items.is_empty()
                        && items.iter().all(|i| {
                            i.as_str().is_some_and(|s| {
                                !s.is_empty()
                                    && s.chars()
                                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                            })
                        });
                    if !ok {
                        errors.push((
                            name.to_string(),
                            "expected header names (letters, digits, '_' and '-')".into(),
                        ));
                        continue;
                    }
                    Value::Array(items.clone())
                }
                (Field::HeaderNames(_), Some(_)) => {
                    errors.push((name.to_string(), "expected an array".into()));
                    continue;
                }
            };
            out.insert(name.to_string(), value);
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_auth_defaults_and_errors_match_kong() {
        let filled = KEY_AUTH.fill(&Map::new()).expect("defaults");
        assert_eq!(filled["key_names"], serde_json::json!(["apikey"]));
        assert_eq!(filled["hide_credentials"], false);
        assert_eq!(filled["run_on_preflight"], true);
        assert_eq!(filled["anonymous"], Value::Null);
        let mut bad = Map::new();
        bad.insert("key_names".into(), serde_json::json!(["api key"]));
        bad.insert("hide_credentials".into(), serde_json::json!("yes"));
        bad.insert("nope".into(), serde_json::json!(1));
        let errors = KEY_AUTH.fill(&bad).expect_err("invalid");
        let names: Vec<&str> = errors.iter().map(|(k, _)| k.as_str()).collect();
        assert!(
            names.contains(&"key_names")
                && names.contains(&"hide_credentials")
                && names.contains(&"nope")
        );
    }
}
