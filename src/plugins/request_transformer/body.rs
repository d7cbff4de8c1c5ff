//! request-transformer on bodies: JSON objects and url-encoded forms, with Kong's rules
//! (remove, rename and replace only touch a non-empty body; add and append may create one).

use bytes::Bytes;
use http::{header, HeaderMap};
use serde_json::{Map, Value};

use super::Ops;
use crate::plugins::transform::{append_value, Args};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Json,
    Form,
    Multipart,
}

impl Kind {
    /// Kong's `get_content_type`: by substring, case-insensitively.
    pub fn of(h: &HeaderMap) -> Option<Kind> {
        let ct = h
            .get(header::CONTENT_TYPE)?
            .to_str()
            .ok()?
            .to_ascii_lowercase();
        if ct.contains("application/json") {
            Some(Kind::Json)
        } else if ct.contains("multipart/form-data") {
            Some(Kind::Multipart)
        } else if ct.contains("application/x-www-form-urlencoded") {
            Some(Kind::Form)
        } else {
            None
        }
    }
}

/// The new body, or `None` when nothing changed (or a JSON body does not parse).
pub fn transform(kind: Kind, ops: &Ops, body: &Bytes) -> Option<Bytes> {
    match kind {
        Kind::Json => json(ops, body),
        Kind::Form => form(ops, body),
        Kind::Multipart => None,
    }
}

/// Lua truthiness on a JSON value: absent and `false` are false (`null` decodes to a value).
fn truthy(v: Option<&Value>) -> bool {
    !matches!(v, None | Some(Value::Bool(false)))
}

fn json(ops: &Ops, body: &Bytes) -> Option<Bytes> {
    let mut o: Map<String, Value> = if body.is_empty() {
        Map::new()
    } else {
        match serde_json::from_slice(body) {
            Ok(Value::Object(o)) => o,
            _ => return None,
        }
    };
    let mut changed = false;
    if !body.is_empty() {
        for n in &ops.remove {
            o.remove(n);
            changed = true;
        }
        for p in &ops.rename {
            let Some(new) = &p.value else { continue };
            if p.name != *new && truthy(o.get(&p.name)) {
                if let Some(v) = o.remove(&p.name) {
                    o.insert(new.clone(), v);
                    changed = true;
                }
            }
        }
        for p in &ops.replace {
            if let (Some(v), true) = (&p.value, truthy(o.get(&p.name))) {
                o.insert(p.name.clone(), Value::from(v.as_str()));
                changed = true;
            }
        }
    }
    for p in &ops.add {
        if let (Some(v), false) = (&p.value, truthy(o.get(&p.name))) {
            o.insert(p.name.clone(), Value::from(v.as_str()));
            changed = true;
        }
    }
    for p in &ops.append {
        if let Some(v) = &p.value {
            let cur = o.remove(&p.name);
            o.insert(p.name.clone(), append_value(cur, Value::from(v.as_str())));
            changed = true;
        }
    }
    changed.then(|| Bytes::from(Value::Object(o).to_string()))
}

fn form(ops: &Ops, body: &Bytes) -> Option<Bytes> {
    let mut args = Args::parse(&String::from_utf8_lossy(body));
    let mut changed = false;
    if !body.is_empty() {
        for n in &ops.remove {
            args.remove(n);
            changed = true;
        }
        for p in &ops.rename {
            if let Some(new) = &p.value {
                if p.name != *new && args.has(&p.name) {
                    args.rename(&p.name, new);
                    changed = true;
                }
            }
        }
        for p in &ops.replace {
            if let (Some(v), true) = (&p.value, args.has(&p.name)) {
                args.set(&p.name, vec![v.clone()]);
                changed = true;
            }
        }
    }
    for p in &ops.add {
        if let (Some(v), false) = (&p.value, args.has(&p.name)) {
            args.set(&p.name, vec![v.clone()]);
            changed = true;
        }
    }
    for p in &ops.append {
        if let Some(v) = &p.value {
            args.push(p.name.clone(), v.clone());
            changed = true;
        }
    }
    changed.then(|| Bytes::from(args.encode()))
}

/// A form's arguments added to the query (the method became GET, HEAD or TRACE).
pub fn form_into_query(body: &Bytes, query: &mut Option<String>) {
    let from_body = Args::parse(&String::from_utf8_lossy(body));
    if from_body.0.is_empty() {
        return;
    }
    let mut args = query.as_deref().map(Args::parse).unwrap_or_default();
    for (k, vs) in from_body.0 {
        for v in vs {
            args.push(k.clone(), v);
        }
    }
    *query = args.encode_sorted();
}
