//! What request- and response-transformer share: Kong's `name:value` entries, its
//! `append_value` on JSON, and query strings as Kong's `set_query` writes them (keys sorted,
//! values percent-encoded).

use serde_json::Value;

/// One `name` or `name:value` entry (Kong's `^([^:]+):*(.-)$`; an empty value is none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub name: String,
    pub value: Option<String>,
}

impl Pair {
    pub fn parse(s: &str) -> Pair {
        let (name, value) = match s.split_once(':') {
            Some((n, v)) => (n, v.trim_start_matches(':')),
            None => (s, ""),
        };
        Pair {
            name: name.to_string(),
            value: (!value.is_empty()).then(|| value.to_string()),
        }
    }
}

/// `config.<section>.<field>` as entries.
pub fn pairs(config: &Value, section: &str, field: &str) -> Vec<Pair> {
    strings(config, section, field)
        .iter()
        .map(|s| Pair::parse(s))
        .collect()
}

pub fn strings(config: &Value, section: &str, field: &str) -> Vec<String> {
    config
        .get(section)
        .and_then(|s| s.get(field))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Kong's `append_value`: a string becomes a list of both, a list grows, anything else is
/// replaced by a list of the new value.
pub fn append_value(current: Option<Value>, value: Value) -> Value {
    match current {
        Some(Value::String(s)) => Value::Array(vec![Value::String(s), value]),
        Some(Value::Array(mut a)) => {
            a.push(value);
            Value::Array(a)
        }
        _ => Value::Array(vec![value]),
    }
}

/// Query arguments in their order, each name with its values.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Args(pub Vec<(String, Vec<String>)>);

impl Args {
    pub fn parse(q: &str) -> Args {
        let mut out = Args::default();
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            out.push(k.into_owned(), v.into_owned());
        }
        out
    }
    pub fn get(&self, name: &str) -> Option<&Vec<String>> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
    pub fn remove(&mut self, name: &str) -> Option<Vec<String>> {
        let i = self.0.iter().position(|(k, _)| k == name)?;
        Some(self.0.remove(i).1)
    }
    pub fn set(&mut self, name: &str, values: Vec<String>) {
        match self.0.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => *v = values,
            None => self.0.push((name.to_string(), values)),
        }
    }
    /// Adds a value to the name's values.
    pub fn push(&mut self, name: String, value: String) {
        match self.0.iter_mut().find(|(k, _)| *k == name) {
            Some((_, v)) => v.push(value),
            None => self.0.push((name, vec![value])),
        }
    }
    pub fn rename(&mut self, old: &str, new: &str) {
        if old == new {
            return;
        }
        if let Some(v) = self.remove(old) {
            self.set(new, v);
        }
    }
    /// Kong's `set_query`: `k=v` chunks sorted; `None` when nothing is left.
    pub fn encode_sorted(&self) -> Option<String> {
        let mut chunks: Vec<String> = self
            .0
            .iter()
            .map(|(k, vs)| {
                vs.iter()
                    .map(|v| format!("{}={}", escape(k), escape(v)))
                    .collect::<Vec<_>>()
                    .join("&")
            })
            .filter(|c| !c.is_empty())
            .collect();
        chunks.sort();
        (!chunks.is_empty()).then(|| chunks.join("&"))
    }
    /// A form body in the arguments' order (Kong's `encode_args`).
    pub fn encode(&self) -> String {
        let mut out = Vec::new();
        for (k, vs) in &self.0 {
            for v in vs {
                out.push(format!("{}={}", escape(k), escape(v)));
            }
        }
        out.join("&")
    }
}

/// nginx's `escape_uri` for arguments: everything but `A-Za-z0-9-._~` as `%XX`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pairs_split_like_kong() {
        assert_eq!(
            Pair::parse("a:b:c"),
            Pair {
                name: "a".into(),
                value: Some("b:c".into())
            }
        );
        assert_eq!(Pair::parse("a::b").value.as_deref(), Some("b"));
        assert_eq!(Pair::parse("a").value, None);
        assert_eq!(Pair::parse("a:").value, None);
    }

    #[test]
    fn args_encode_sorted_and_escaped() {
        let mut a = Args::parse("z=1&a=x+y&a=2");
        a.push("m".into(), "ü/".into());
        assert_eq!(
            a.encode_sorted().as_deref(),
            Some("a=x%20y&a=2&m=%C3%BC%2F&z=1")
        );
        a.rename("z", "b");
        assert_eq!(a.get("b"), Some(&vec!["1".to_string()]));
        assert_eq!(Args::default().encode_sorted(), None);
    }

    #[test]
    fn append_value_grows_lists() {
        assert_eq!(
            append_value(Some(json!("a")), json!("b")),
            json!(["a", "b"])
        );
        assert_eq!(
            append_value(Some(json!(["a"])), json!("b")),
            json!(["a", "b"])
        );
        assert_eq!(append_value(Some(json!(1)), json!("b")), json!(["b"]));
        assert_eq!(append_value(None, json!("b")), json!(["b"]));
    }
}
