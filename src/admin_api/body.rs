//! Request bodies as Kong accepts them: JSON objects, or form-encoded fields where `a[]=x`
//! builds arrays, `a.b=x` / `a[b]=x` nested records, repeated keys arrays, and `a=` means null.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::HttpRequest;
use serde_json::{Map, Value};

use crate::web_error::WebError;

pub fn parse(req: &HttpRequest, bytes: &[u8]) -> Result<Map<String, Value>, WebError> {
    let ct = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    if ct.starts_with("application/json") {
        return match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(WebError::BadRequest(
                "Cannot parse JSON body: expected an object".into(),
            )),
            Err(_) => Err(WebError::BadRequest("Cannot parse JSON body".into())),
        };
    }
    if ct.is_empty() || ct.starts_with("application/x-www-form-urlencoded") {
        return Ok(from_form(bytes));
    }
    Err(WebError::BadRequest(format!("Unsupported content type '{ct}': use application/json or application/x-www-form-urlencoded")))
}

pub fn from_form(bytes: &[u8]) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in form_urlencoded::parse(bytes) {
        let value = if value.is_empty() {
            Value::Null
        } else {
            Value::String(value.into_owned())
        };
        let (path, is_array) = split_key(&key);
        insert(&mut out, &path, value, is_array);
    }
    out
}

/// `headers[x-version][]` → (["headers", "x-version"], true); `paths[1]` → (["paths"], true).
fn split_key(key: &str) -> (Vec<String>, bool) {
    let mut parts = Vec::new();
    let mut is_array = false;
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    parts.extend(head.split('.').map(str::to_string));
    while let Some(stripped) = rest.strip_prefix('[') {
        let Some(end) = stripped.find(']') else { break };
        let inner = &stripped[..end];
        if inner.is_empty() || inner.chars().all(|c| c.is_ascii_digit()) {
            is_array = true;
        } else {
            parts.push(inner.to_string());
        }
        rest = &stripped[end + 1..];
    }
    (parts, is_array)
}

fn insert(obj: &mut Map<String, Value>, path: &[String], value: Value, is_array: bool) {
    let Some((first, tail)) = path.split_first() else {
        return;
    };
    if !tail.is_empty() {
        let child = obj
            .entry(first.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !child.is_object() {
            *child = Value::Object(Map::new());
        }
        if let Value::Object(m) = child {
            insert(m, tail, value, is_array);
        }
        return;
    }
    match obj.get_mut(first) {
        Some(Value::Array(a)) => {
            if !value.is_null() {
                a.push(value)
            }
        }
        Some(prev) if !prev.is_null() => {
            let p = prev.take();
            *prev = if value.is_null() {
                Value::Array(vec![p])
            } else {
                Value::Array(vec![p, value])
            };
        }
        _ => {
            let v = if is_array {
                Value::Array(if value.is_null() { vec![] } else { vec![value] })
            } else {
                value
            };
            obj.insert(first.clone(), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::from_form;
    use serde_json::json;

    #[test]
    fn kong_form_conventions() {
        let m = from_form(b"name=mockbin&paths[]=/a&paths[]=/b&methods=GET&service.id=abc&headers.x-v=1&path=&hosts[1]=h");
        assert_eq!(
            serde_json::Value::Object(m),
            json!({"name": "mockbin", "paths": ["/a", "/b"], "methods": "GET", "service": {"id": "abc"},
                   "headers": {"x-v": "1"}, "path": null, "hosts": ["h"]})
        );
        let m = from_form(b"tags=a&tags=b&headers[x-v][]=1");
        assert_eq!(
            serde_json::Value::Object(m),
            json!({"tags": ["a", "b"], "headers": {"x-v": ["1"]}})
        );
    }
}
