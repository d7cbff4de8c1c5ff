//! Kong's response-transformer: response headers through remove, rename, replace, add and
//! append; a JSON body (Content-Type application/json or `+json`) through the same steps,
//! values typed by `json_types`. Only upstream responses are transformed (Kong also runs it
//! on the gateway's own answers); a body that does not parse as JSON is sent unchanged.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::transform::{append_value, pairs, strings, Pair};
use super::{BodyFilter, Ctx, Handler, ResponseHead, Runtime, Shared};
use crate::domain::Plugin;

/// A `name:value` entry with the JSON type its value is sent as.
#[derive(Clone)]
struct Typed {
    pair: Pair,
    ty: Option<String>,
}

#[derive(Default)]
struct Json {
    remove: Vec<String>,
    rename: Vec<Pair>,
    replace: Vec<Typed>,
    add: Vec<Typed>,
    append: Vec<Typed>,
}

pub struct ResponseTransformer {
    remove: Vec<String>,
    rename: Vec<Pair>,
    replace: Vec<Pair>,
    add: Vec<Pair>,
    append: Vec<Pair>,
    json: Option<Arc<Json>>,
}

fn typed(c: &Value, section: &str) -> Vec<Typed> {
    let types = strings(c, section, "json_types");
    pairs(c, section, "json")
        .into_iter()
        .enumerate()
        .map(|(i, pair)| Typed {
            pair,
            ty: types.get(i).cloned(),
        })
        .collect()
}

pub fn build(p: &Plugin, _: &Shared, _: &Runtime) -> Result<Arc<dyn Handler>, String> {
    Ok(Arc::new(ResponseTransformer::compile(&p.config)))
}

impl ResponseTransformer {
    pub fn compile(c: &Value) -> ResponseTransformer {
        let json = Json {
            remove: strings(c, "remove", "json"),
            rename: pairs(c, "rename", "json"),
            replace: typed(c, "replace"),
            add: typed(c, "add"),
            append: typed(c, "append"),
        };
        let any = !(json.remove.is_empty()
            && json.rename.is_empty()
            && json.replace.is_empty()
            && json.add.is_empty()
            && json.append.is_empty());
        ResponseTransformer {
            remove: strings(c, "remove", "headers"),
            rename: pairs(c, "rename", "headers"),
            replace: pairs(c, "replace", "headers"),
            add: pairs(c, "add", "headers"),
            append: pairs(c, "append", "headers"),
            json: any.then(|| Arc::new(json)),
        }
    }
}

/// Kong's `is_json_body`: any of the listed types is application/json or application/*+json.
pub fn is_json(content_type: Option<&HeaderValue>) -> bool {
    let Some(ct) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    ct.split(',').any(|t| {
        let essence = t
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.split_once('/') {
            Some(("application", sub)) => sub == "json" || sub.ends_with("+json"),
            _ => false,
        }
    })
}

fn name(n: &str) -> Option<HeaderName> {
    HeaderName::from_bytes(n.as_bytes()).ok()
}

impl ResponseTransformer {
    fn headers(&self, h: &mut HeaderMap) {
        for n in self.remove.iter().filter_map(|n| name(n)) {
            h.remove(n);
        }
        for p in &self.rename {
            let (Some(old), Some(new)) = (name(&p.name), p.value.as_deref().and_then(name)) else {
                continue;
            };
            if old == new || !h.contains_key(&old) {
                continue;
            }
            let values: Vec<HeaderValue> = h.get_all(&old).iter().cloned().collect();
            h.remove(&old);
            h.remove(&new);
            for v in values {
                h.append(new.clone(), v);
            }
        }
        let each = |list: &[Pair]| -> Vec<(HeaderName, HeaderValue)> {
            list.iter()
                .filter_map(|p| {
                    let v = HeaderValue::from_str(p.value.as_deref()?).ok()?;
                    Some((name(&p.name)?, v))
                })
                .collect()
        };
        for (n, v) in each(&self.replace) {
            if h.contains_key(&n) {
                h.insert(n, v);
            }
        }
        for (n, v) in each(&self.add) {
            if !h.contains_key(&n) {
                h.insert(n, v);
            }
        }
        for (n, v) in each(&self.append) {
            h.append(n, v);
        }
    }
}

/// Kong's `json_value`: the configured string, cast when a type is given (a number that
/// does not parse leaves the entry out; a boolean is `true` only for "true").
fn json_value(value: &str, ty: Option<&str>) -> Option<Value> {
    match ty {
        Some("number") => {
            let n: f64 = value.trim().parse().ok()?;
            if n.fract() == 0.0 && n.abs() < 9e15 {
                Some(Value::from(n as i64))
            } else {
                serde_json::Number::from_f64(n).map(Value::Number)
            }
        }
        Some("boolean") => Some(Value::Bool(value == "true")),
        _ => Some(Value::from(value)),
    }
}

fn truthy(v: Option<&Value>) -> bool {
    !matches!(v, None | Some(Value::Bool(false)))
}

fn transform_json(ops: &Json, body: &Bytes) -> Option<Bytes> {
    let Ok(Value::Object(mut o)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    for n in &ops.remove {
        o.remove(n);
    }
    for p in &ops.rename {
        if let (Some(new), true) = (&p.value, o.contains_key(&p.name)) {
            if let Some(v) = o.remove(&p.name) {
                o.insert(new.clone(), v);
            }
        }
    }
    let value = |t: &Typed| json_value(t.pair.value.as_deref()?, t.ty.as_deref());
    for t in &ops.replace {
        if let (Some(v), true) = (value(t), truthy(o.get(&t.pair.name))) {
            o.insert(t.pair.name.clone(), v);
        }
    }
    for t in &ops.add {
        if let (Some(v), false) = (value(t), truthy(o.get(&t.pair.name))) {
            o.insert(t.pair.name.clone(), v);
        }
    }
    for t in &ops.append {
        if let Some(v) = value(t) {
            let cur = o.remove(&t.pair.name);
            o.insert(t.pair.name.clone(), append_value(cur, v));
        }
    }
    Some(Bytes::from(Value::Object(o).to_string()))
}

impl Handler for ResponseTransformer {
    fn name(&self) -> &'static str {
        "response-transformer"
    }
    fn priority(&self) -> i32 {
        800
    }
    fn wants_response(&self) -> bool {
        true
    }
    fn response(&self, head: &mut ResponseHead<'_>, _: &mut Ctx) -> Option<BodyFilter> {
        self.headers(head.headers);
        let ops = self.json.clone()?;
        if !is_json(head.headers.get(header::CONTENT_TYPE)) {
            return None;
        }
        // The body changes: its length is set again once the new body is known.
        head.headers.remove(header::CONTENT_LENGTH);
        Some(Box::new(move |body: Bytes| {
            transform_json(&ops, &body).unwrap_or_else(|| {
                tracing::warn!(
                    "response-transformer: the body is not a JSON object; sent unchanged"
                );
                body
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plugin(config: Value) -> ResponseTransformer {
        ResponseTransformer::compile(&config)
    }

    #[test]
    fn json_bodies_follow_kongs_rules_and_types() {
        let p = plugin(json!({
            "remove": { "json": ["gone"] },
            "rename": { "json": ["old:new"] },
            "replace": { "json": ["r:9", "absent:x"], "json_types": ["number"] },
            "add": { "json": ["flag:true", "r:no", "s:text"], "json_types": ["boolean", "string"] },
            "append": { "json": ["list:b", "n:1"] },
        }));
        let ops = p.json.clone().expect("json ops");
        let out = transform_json(
            &ops,
            &Bytes::from(r#"{"gone":1,"old":null,"r":"1","list":"a","n":5}"#),
        )
        .expect("object");
        let v: Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(
            v,
            json!({"new": null, "r": 9, "flag": true, "s": "text", "list": ["a", "b"], "n": ["1"]})
        );
        assert_eq!(transform_json(&ops, &Bytes::from("[1]")), None);
        assert!(is_json(Some(&HeaderValue::from_static(
            "application/json; charset=utf-8"
        ))));
        assert!(is_json(Some(&HeaderValue::from_static(
            "application/hal+json"
        ))));
        assert!(!is_json(Some(&HeaderValue::from_static("text/json"))));
    }

    #[test]
    fn headers_follow_kongs_order() {
        let p = plugin(json!({
            "remove": { "headers": ["x-gone"] },
            "rename": { "headers": ["x-old:x-new"] },
            "replace": { "headers": ["x-rep:new", "x-absent:1"] },
            "add": { "headers": ["x-rep:no", "x-added:a"] },
            "append": { "headers": ["x-rep:more"] },
        }));
        let mut h = HeaderMap::new();
        for (k, v) in [("x-gone", "1"), ("x-old", "o"), ("x-rep", "old")] {
            h.insert(k, HeaderValue::from_static(v));
        }
        p.headers(&mut h);
        assert!(
            h.get("x-gone").is_none() && h.get("x-old").is_none() && h.get("x-absent").is_none()
        );
        assert_eq!(h.get("x-new").map(|v| v.as_bytes()), Some(&b"o"[..]));
        let rep: Vec<&[u8]> = h.get_all("x-rep").iter().map(|v| v.as_bytes()).collect();
        assert_eq!(rep, [&b"new"[..], &b"more"[..]]);
        assert_eq!(h.get("x-added").map(|v| v.as_bytes()), Some(&b"a"[..]));
    }
}
