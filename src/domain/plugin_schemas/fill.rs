//! Checking a config against a schema and filling in defaults, with Kong's messages. Form
//! bodies arrive as strings, so a string that reads as the field's type is taken as it.

use serde_json::{Map, Value};

use super::{Field, Ty};

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

pub(super) fn record(
    fields: &[Field],
    given: &Map<String, Value>,
    prefix: &str,
    errors: &mut Vec<(String, String)>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for k in given.keys() {
        if !fields.iter().any(|f| f.name == k) {
            errors.push((join(prefix, k), "unknown field".into()));
        }
    }
    for f in fields {
        let path = join(prefix, f.name);
        let v = match given.get(f.name).filter(|v| !v.is_null()) {
            Some(v) => value(&f.ty, v, &path, errors),
            None => match (f.default.value(), &f.ty) {
                (Some(d), _) => Some(d),
                // A record nobody set still gets its fields' defaults, as Kong fills them.
                (None, Ty::Record(inner)) => {
                    Some(Value::Object(record(inner, &Map::new(), &path, errors)))
                }
                (None, _) if f.required => {
                    errors.push((path, "required field missing".into()));
                    None
                }
                (None, _) => Some(Value::Null),
            },
        };
        if let Some(v) = v {
            out.insert(f.name.to_string(), v);
        }
    }
    out
}

fn value(ty: &Ty, v: &Value, path: &str, errors: &mut Vec<(String, String)>) -> Option<Value> {
    let mut fail = |m: String| {
        errors.push((path.to_string(), m));
        None
    };
    match ty {
        Ty::Boolean => match v {
            Value::Bool(b) => Some(Value::Bool(*b)),
            Value::String(s) if s == "true" => Some(Value::Bool(true)),
            Value::String(s) if s == "false" => Some(Value::Bool(false)),
            _ => fail("expected a boolean".into()),
        },
        Ty::Integer { between } => {
            let n = match v {
                Value::Number(n) => n.as_i64().or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                        .map(|f| f as i64)
                }),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            let Some(n) = n else {
                return fail("expected an integer".into());
            };
            match between {
                Some((lo, hi)) if n < *lo || n > *hi => {
                    fail(format!("value should be between {lo} and {hi}"))
                }
                _ => Some(Value::from(n)),
            }
        }
        Ty::Number { between } => {
            let n = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
                _ => None,
            };
            let Some(n) = n else {
                return fail("expected a number".into());
            };
            match between {
                Some((lo, hi)) if n < *lo || n > *hi => {
                    fail(format!("value should be between {lo} and {hi}"))
                }
                _ => Some(
                    serde_json::Number::from_f64(n)
                        .map(|x| {
                            if n.fract() == 0.0 && n.abs() < 9e15 {
                                Value::from(n as i64)
                            } else {
                                Value::Number(x)
                            }
                        })
                        .unwrap_or(Value::Null),
                ),
            }
        }
        Ty::String { one_of, check } => {
            let Value::String(s) = v else {
                return fail("expected a string".into());
            };
            if s.is_empty() {
                return fail("length must be at least 1".into());
            }
            if !one_of.is_empty() && !one_of.contains(&s.as_str()) {
                return fail(format!("expected one of: {}", one_of.join(", ")));
            }
            if let Some(check) = check {
                if let Err(m) = check(s) {
                    return fail(m);
                }
            }
            Some(v.clone())
        }
        Ty::Array { of, set } => {
            let items: Vec<Value> = match v {
                Value::Array(a) => a.clone(),
                // `config.key_names=apikey` in a form: one element.
                Value::String(_) => vec![v.clone()],
                // `config.methods[1]=GET` read as a record of indexes.
                Value::Object(o) if o.keys().all(|k| k.parse::<usize>().is_ok()) => {
                    let mut pairs: Vec<(usize, Value)> = o
                        .iter()
                        .map(|(k, v)| (k.parse().unwrap_or(0), v.clone()))
                        .collect();
                    pairs.sort_by_key(|(i, _)| *i);
                    pairs.into_iter().map(|(_, v)| v).collect()
                }
                _ => {
                    return fail(if *set {
                        "expected a set".into()
                    } else {
                        "expected an array".into()
                    })
                }
            };
            let before = errors.len();
            let mut out: Vec<Value> = Vec::with_capacity(items.len());
            for item in &items {
                if let Some(x) = value(of, item, path, errors) {
                    if !*set || !out.contains(&x) {
                        out.push(x);
                    }
                }
            }
            (errors.len() == before).then_some(Value::Array(out))
        }
        Ty::Map { values } => {
            let Value::Object(o) = v else {
                return fail("expected a map".into());
            };
            let before = errors.len();
            let mut out = Map::new();
            for (k, item) in o {
                if let Some(x) = value(values, item, &join(path, k), errors) {
                    out.insert(k.clone(), x);
                }
            }
            (errors.len() == before).then_some(Value::Object(out))
        }
        Ty::Record(fields) => {
            let Value::Object(o) = v else {
                return fail("expected a record".into());
            };
            Some(Value::Object(record(fields, o, path, errors)))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::{json, Map, Value};

    use super::super::{Default, Field, Ty, INTEGER, STRING};

    const INNER: &[Field] = &[
        Field::new("host", STRING),
        Field::new("port", INTEGER).default(Default::Int(6379)),
    ];
    const FIELDS: &[Field] = &[
        Field::new(
            "minute",
            Ty::Integer {
                between: Some((1, 100)),
            },
        ),
        Field::one_of("policy", "local", &["local", "redis"]),
        Field::new("redis", Ty::Record(INNER)),
        Field::strings("names").default(Default::Strs(&["a"])),
        Field::boolean("on", true),
    ];

    fn fill(v: Value) -> Result<Map<String, Value>, Vec<(String, String)>> {
        let mut errors = Vec::new();
        let out = super::record(FIELDS, v.as_object().unwrap(), "", &mut errors);
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }

    #[test]
    fn defaults_fill_nested_records_and_nulls() {
        let out = fill(json!({})).unwrap();
        assert_eq!(
            Value::Object(out),
            json!({"minute": null, "policy": "local", "redis": {"host": null, "port": 6379}, "names": ["a"], "on": true})
        );
    }

    #[test]
    fn form_strings_read_as_their_types() {
        let out =
            fill(json!({"minute": "5", "on": "false", "names": "x", "redis": {"port": "7000"}}))
                .unwrap();
        assert_eq!(out["minute"], 5);
        assert_eq!(out["on"], false);
        assert_eq!(out["names"], json!(["x"]));
        assert_eq!(out["redis"]["port"], 7000);
        let out = fill(json!({"names": {"2": "b", "1": "a"}})).unwrap();
        assert_eq!(out["names"], json!(["a", "b"]));
    }

    #[test]
    fn errors_carry_kong_messages_and_paths() {
        let e =
            fill(json!({"minute": 0, "policy": "x", "redis": {"port": "p", "nope": 1}, "on": 3}))
                .unwrap_err();
        let has = |p: &str, m: &str| e.iter().any(|(k, v)| k == p && v == m);
        assert!(has("minute", "value should be between 1 and 100"), "{e:?}");
        assert!(has("policy", "expected one of: local, redis"), "{e:?}");
        assert!(has("redis.port", "expected an integer"), "{e:?}");
        assert!(has("redis.nope", "unknown field"), "{e:?}");
        assert!(has("on", "expected a boolean"), "{e:?}");
    }
}
