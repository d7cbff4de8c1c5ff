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
    if ct.starts_with("multipart/form-data") {
        // The boundary keeps its case: read it from the original header, not the lower-cased copy.
        let raw_ct = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        return from_multipart(raw_ct, bytes)
            .ok_or_else(|| WebError::BadRequest("Cannot parse multipart body".into()));
    }
    Err(WebError::BadRequest(format!("Unsupported content type '{ct}': use application/json or application/x-www-form-urlencoded")))
}

pub fn from_form(bytes: &[u8]) -> Map<String, Value> {
    from_pairs(form_urlencoded::parse(bytes))
}

fn from_pairs<K: AsRef<str>, V: AsRef<str>>(
    pairs: impl IntoIterator<Item = (K, V)>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in pairs {
        let value = match value.as_ref() {
            "" => Value::Null,
            v => Value::String(v.to_string()),
        };
        let (path, is_array) = split_key(key.as_ref());
        insert(&mut out, &path, value, is_array);
    }
    out
}

/// `multipart/form-data` (curl's `-F`, which Kong's certificate examples use): each part's
/// `name` and text value, with the same key conventions as form bodies. `None` when malformed.
fn from_multipart(content_type: &str, bytes: &[u8]) -> Option<Map<String, Value>> {
    crate::multipart::text_parts(content_type, bytes).map(from_pairs)
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
    use super::{from_form, from_multipart};
    use serde_json::json;

    #[test]
    fn kong_form_conventions() {
        let m = from_form(b"name=mockbin&paths[]=/a&paths[]=/b&methods=GET&service.id=abc&headers.x-v=1&path=&hosts[1]=h");
        assert_eq!(
            serde_json::Value::Object(m),
            json!({"name": "mockbin", "paths": ["/a", "/b"], "methods": "GET", "service": {"id": "abc"},
                   "headers": {"x-v": "1"}, "path": null, "hosts": ["h"]})
        );
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"cert\"; filename=\"c.pem\"\r\nContent-Type: application/octet-stream\r\n\r\n-----BEGIN X-----\nabc\n-----END X-----\n\r\n--XyZ\r\nContent-Disposition: form-data; name=\"snis[]\"\r\n\r\na.example\r\n--XyZ--\r\n";
        let m =
            from_multipart("multipart/form-data; boundary=XyZ", body.as_bytes()).expect("parses");
        assert_eq!(
            serde_json::Value::Object(m),
            json!({"cert": "-----BEGIN X-----\nabc\n-----END X-----\n", "snis": ["a.example"]})
        );
        assert!(from_multipart("multipart/form-data; boundary=XyZ", b"garbage").is_none());
        let m = from_form(b"tags=a&tags=b&headers[x-v][]=1");
        assert_eq!(
            serde_json::Value::Object(m),
            json!({"tags": ["a", "b"], "headers": {"x-v": ["1"]}})
        );
    }
}
