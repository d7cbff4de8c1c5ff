//! Reading typed fields out of a JSON object with Kong's error wording. Entities are merged as
//! JSON (defaults or the stored entity, then the caller's fields) and then read back through
//! these helpers, so POST, PUT, PATCH and console forms share one set of rules.

use serde_json::{Map, Value};

use super::FieldErrors;

pub struct Reader<'a> {
    pub obj: &'a Map<String, Value>,
    pub errors: FieldErrors,
}

impl<'a> Reader<'a> {
    pub fn new(obj: &'a Map<String, Value>) -> Self {
        Self {
            obj,
            errors: FieldErrors::new(),
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        match self.obj.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    pub fn opt_string(&mut self, key: &str) -> Option<String> {
        match self.get(key) {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.errors.add(key, "expected a string");
                None
            }
        }
    }

    pub fn int(&mut self, key: &str, default: i64, min: i64, max: i64) -> i64 {
        let v = match self.get(key) {
            None => return default,
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
            Some(_) => None,
        };
        match v {
            Some(n) if (min..=max).contains(&n) => n,
            Some(_) => {
                self.errors
                    .add(key, format!("value should be between {min} and {max}"));
                default
            }
            None => {
                self.errors.add(key, "expected an integer");
                default
            }
        }
    }

    pub fn bool(&mut self, key: &str, default: bool) -> bool {
        self.opt_bool(key).unwrap_or(default)
    }

    pub fn opt_bool(&mut self, key: &str) -> Option<bool> {
        match self.get(key) {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(s)) if s == "true" => Some(true),
            Some(Value::String(s)) if s == "false" => Some(false),
            Some(_) => {
                self.errors.add(key, "expected a boolean");
                None
            }
        }
    }

    /// An array of strings; a lone string is accepted as a one-element array because form
    /// bodies (`methods=GET`) cannot say otherwise.
    pub fn opt_string_array(&mut self, key: &str) -> Option<Vec<String>> {
        match self.get(key) {
            None => None,
            Some(Value::String(s)) => Some(vec![s.clone()]),
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => out.push(s.clone()),
                        _ => {
                            self.errors.add(key, "expected a string");
                            return None;
                        }
                    }
                }
                Some(out)
            }
            Some(_) => {
                self.errors.add(key, "expected an array");
                None
            }
        }
    }

    pub fn finish(self) -> FieldErrors {
        self.errors
    }
}

/// Rejects fields the schema does not know, as Kong does (`unknown field`).
pub fn check_known(obj: &Map<String, Value>, known: &[&str], errors: &mut FieldErrors) {
    for key in obj.keys() {
        if !known.contains(&key.as_str()) {
            errors.add(key.clone(), "unknown field");
        }
    }
}

/// Empty arrays mean "not set" in Kong's output (`null`).
pub fn none_if_empty(v: Option<Vec<String>>) -> Option<Vec<String>> {
    v.filter(|items| !items.is_empty())
}
