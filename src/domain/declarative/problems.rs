//! What is wrong with a document, in the three shapes people read it in: Kong's `fields`
//! tree nested as the document is (`{"services": [null, {"routes": [{"paths": "…"}]}]}`),
//! Kong's `flattened_errors` list (one entry per entity, with its name, id and tags), and one
//! line per problem for the CLI, naming the entity and the field.

use serde_json::{json, Map, Value};

/// A step into the document: a key of a mapping or a position in a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// One problem: where the entity (or top-level key) is, which field, and Kong's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub at: Vec<Seg>,
    /// The field (`paths`, `config.second`, `@entity`); `None` when the message replaces the
    /// whole entry, as Kong's uniqueness errors do.
    pub field: Option<String>,
    pub message: String,
}

impl Problem {
    pub fn field(at: &[Seg], field: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            at: at.to_vec(),
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn entry(at: &[Seg], message: impl Into<String>) -> Problem {
        Problem {
            at: at.to_vec(),
            field: None,
            message: message.into(),
        }
    }
}

/// Kong's `fields` tree.
pub fn tree(problems: &[Problem]) -> Value {
    let mut root = Value::Object(Map::new());
    for p in problems {
        let mut path = p.at.clone();
        if let Some(f) = &p.field {
            // Record fields nest (`config.second`); entity-wide messages are a list.
            path.extend(f.split('.').map(|s| Seg::Key(s.to_string())));
        }
        let slot = slot(&mut root, &path);
        let msg = Value::String(p.message.clone());
        match (slot, p.field.as_deref()) {
            (Value::Array(list), Some("@entity")) => list.push(msg),
            (s, Some("@entity")) => *s = json!([msg]),
            (s @ Value::Null, _) => *s = msg,
            // A second message for the same field: Kong keeps one; keep the first.
            _ => {}
        }
    }
    root
}

/// The value at `path` under `root`, created (objects, null-padded arrays) as needed.
fn slot<'a>(root: &'a mut Value, path: &[Seg]) -> &'a mut Value {
    let mut cur = root;
    for seg in path {
        cur = match seg {
            Seg::Key(k) => {
                if !cur.is_object() {
                    *cur = Value::Object(Map::new());
                }
                match cur {
                    Value::Object(m) => m.entry(k.clone()).or_insert(Value::Null),
                    other => other,
                }
            }
            Seg::Index(i) => {
                if !cur.is_array() {
                    *cur = Value::Array(Vec::new());
                }
                match cur {
                    Value::Array(a) => {
                        if a.len() <= *i {
                            a.resize(*i + 1, Value::Null);
                        }
                        &mut a[*i]
                    }
                    other => other,
                }
            }
        };
    }
    cur
}

/// The entity (a mapping) at `at` in the document, if there is one.
fn entity_at<'a>(doc: &'a Value, at: &[Seg]) -> Option<&'a Map<String, Value>> {
    let mut cur = doc;
    for seg in at {
        cur = match seg {
            Seg::Key(k) => cur.get(k)?,
            Seg::Index(i) => cur.get(*i)?,
        };
    }
    cur.as_object()
}

/// The collection an entity position belongs to (`routes` for `services[0].routes[1]`).
fn kind_at(at: &[Seg]) -> Option<&str> {
    at.iter().rev().find_map(|s| match s {
        Seg::Key(k) => Some(k.as_str()),
        Seg::Index(_) => None,
    })
}

fn singular(kind: &str) -> String {
    kind.strip_suffix('s').unwrap_or(kind).to_string()
}

fn name_of(e: &Map<String, Value>) -> Option<&str> {
    ["name", "username", "target", "key", "group"]
        .iter()
        .find_map(|f| e.get(*f).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
}

/// Kong's `flattened_errors`: one entry per entity with problems, children left out of
/// `entity` (they get entries of their own).
pub fn flattened(problems: &[Problem], doc: &Value) -> Value {
    let mut out: Vec<(Vec<Seg>, Value)> = Vec::new();
    for p in problems {
        let is_entity = matches!(p.at.last(), Some(Seg::Index(_)));
        if !is_entity {
            continue;
        }
        let err = match p.field.as_deref() {
            None | Some("@entity") => json!({"type": "entity", "message": p.message}),
            Some(f) => json!({"type": "field", "field": f, "message": p.message}),
        };
        if let Some((_, entry)) = out.iter_mut().find(|(at, _)| *at == p.at) {
            if let Some(list) = entry.get_mut("errors").and_then(Value::as_array_mut) {
                list.push(err);
            }
            continue;
        }
        let entity = entity_at(doc, &p.at).cloned().unwrap_or_default();
        let shown: Map<String, Value> = entity
            .iter()
            .filter(|(_, v)| !matches!(v, Value::Array(a) if a.iter().any(Value::is_object)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut entry = json!({
            "entity_type": singular(kind_at(&p.at).unwrap_or("entity")),
            "entity": shown,
            "errors": [err],
        });
        if let Some(n) = name_of(&entity) {
            entry["entity_name"] = json!(n);
        }
        if let Some(id) = entity.get("id").and_then(Value::as_str) {
            if uuid::Uuid::parse_str(id).is_ok() {
                entry["entity_id"] = json!(id);
            }
        }
        if let Some(tags) = entity.get("tags").filter(|t| t.is_array()) {
            entry["entity_tags"] = tags.clone();
        }
        out.push((p.at.clone(), entry));
    }
    Value::Array(out.into_iter().map(|(_, e)| e).collect())
}

/// Where an entity is, as `services[1] > routes[0]`.
pub fn place(at: &[Seg]) -> String {
    let mut out = String::new();
    for seg in at {
        match seg {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => out.push_str(&format!(" > {k}")),
            Seg::Index(n) => out.push_str(&format!("[{n}]")),
        }
    }
    out
}

/// One line per problem: `services[1] (svc2) > routes[0] (r1): paths: should start with /`.
pub fn lines(problems: &[Problem], doc: &Value) -> Vec<String> {
    problems
        .iter()
        .map(|p| {
            let mut where_ = String::new();
            for (i, seg) in p.at.iter().enumerate() {
                match seg {
                    Seg::Key(k) => {
                        if !where_.is_empty() {
                            where_.push_str(" > ");
                        }
                        where_.push_str(k);
                    }
                    Seg::Index(n) => {
                        where_.push_str(&format!("[{n}]"));
                        if let Some(name) = entity_at(doc, &p.at[..=i]).and_then(name_of) {
                            where_.push_str(&format!(" ({name})"));
                        }
                    }
                }
            }
            let head = if where_.is_empty() {
                "document".to_string()
            } else {
                where_
            };
            match p.field.as_deref() {
                None | Some("@entity") => format!("{head}: {}", p.message),
                Some(f) => format!("{head}: {f}: {}", p.message),
            }
        })
        .collect()
}

/// Kong's message line: `declarative config is invalid: {services={{name="…"}}}`, written
/// the way Kong's pretty-printer writes the tree.
pub fn message(tree: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(k);
                    out.push('=');
                    write(v, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('{');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(v, out);
                }
                out.push('}');
            }
            Value::String(s) => out.push_str(&format!("{s:?}")),
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::from("declarative config is invalid: ");
    write(tree, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_nests_as_the_document_does() {
        let at = vec![
            Seg::Key("services".into()),
            Seg::Index(1),
            Seg::Key("routes".into()),
            Seg::Index(0),
        ];
        let problems = vec![
            Problem::field(&at, "paths", "bad path"),
            Problem::field(&at, "@entity", "one"),
            Problem::field(&at[..2], "config.second", "too big"),
        ];
        let t = tree(&problems);
        assert_eq!(
            t,
            json!({"services": [null, {"routes": [{"paths": "bad path", "@entity": ["one"]}], "config": {"second": "too big"}}]})
        );
        let doc =
            json!({"services": [{}, {"name": "s", "routes": [{"name": "r", "paths": ["x"]}]}]});
        let flat = flattened(&problems, &doc);
        assert_eq!(flat[0]["entity_type"], "route");
        assert_eq!(flat[0]["entity_name"], "r");
        assert_eq!(flat[0]["errors"].as_array().map(Vec::len), Some(2));
        assert_eq!(flat[1]["entity"], json!({"name": "s"}));
        let l = lines(&problems, &doc);
        assert_eq!(l[0], "services[1] (s) > routes[0] (r): paths: bad path");
        assert!(message(&t).starts_with("declarative config is invalid: {services={null,"));
    }
}
