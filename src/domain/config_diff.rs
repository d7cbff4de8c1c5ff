//! What changed between two gateway configurations: per kind, the entities added, removed and
//! changed field by field. Pure and general: it works on the configurations' JSON form, so
//! every kind the registry knows is covered without a line here (the history pages and the
//! declarative import's preview both use it). No I/O, no HTTP.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::kinds::KINDS;
use super::GatewayConfig;

/// The difference between two configurations; kinds without changes are left out, the rest
/// come in the registry's order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConfigDiff {
    pub kinds: Vec<KindDiff>,
}

/// One kind's changes (`routes`, `plugins`, … as Kong names the collections).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindDiff {
    pub kind: String,
    pub added: Vec<EntityRef>,
    pub removed: Vec<EntityRef>,
    pub changed: Vec<EntityChange>,
}

/// An entity as a whole: added (its new value) or removed (its old value).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntityRef {
    pub id: String,
    /// What people call it (`name`, `username`, `target`…), when it has such a field.
    pub name: Option<String>,
    pub value: Value,
}

/// An entity present on both sides with different fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntityChange {
    pub id: String,
    pub name: Option<String>,
    pub fields: Vec<FieldChange>,
}

/// One changed field: its path inside the entity (`paths`, `config.minute`) and its values;
/// `None` when the field is absent on that side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// How many entities of one kind a change added, removed and changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct KindCount {
    pub kind: String,
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
}

/// The difference from `before` to `after`.
pub fn diff(before: &GatewayConfig, after: &GatewayConfig) -> ConfigDiff {
    // Links are compared as a set: their order is not part of the configuration.
    let sorted = |c: &GatewayConfig| {
        let mut c = c.clone();
        c.version_links.sort();
        serde_json::to_value(c).unwrap_or(Value::Null)
    };
    diff_json(&sorted(before), &sorted(after))
}

/// The difference between two configurations in their JSON form: an object of kinds, each an
/// array of entities. Entities are matched by `id`; array elements without one (the version
/// links) are matched by their whole value, so they are only ever added or removed.
pub fn diff_json(before: &Value, after: &Value) -> ConfigDiff {
    let empty = Map::new();
    let b = before.as_object().unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let mut kinds: Vec<&String> = a.keys().collect();
    kinds.extend(b.keys().filter(|k| !a.contains_key(*k)));
    // The registry's order (services before their routes…), anything else after it.
    kinds.sort_by_key(|k| (KINDS.iter().position(|x| x == k).unwrap_or(usize::MAX), *k));
    let none = Vec::new();
    let list = |m: &Map<String, Value>, k: &str| -> Vec<Value> {
        m.get(k).and_then(Value::as_array).unwrap_or(&none).clone()
    };
    let kinds = kinds
        .into_iter()
        .map(|k| diff_kind(k, &list(b, k), &list(a, k)))
        .filter(|d| !d.is_empty())
        .collect();
    ConfigDiff { kinds }
}

fn key_of(v: &Value) -> String {
    match v.get("id").and_then(Value::as_str) {
        Some(id) => id.to_string(),
        None => v.to_string(),
    }
}

fn name_of(v: &Value) -> Option<String> {
    ["name", "username", "custom_id", "target", "group"]
        .iter()
        .find_map(|f| v.get(*f).and_then(Value::as_str))
        .map(str::to_string)
}

fn entity_ref(v: &Value) -> EntityRef {
    EntityRef {
        id: key_of(v),
        name: name_of(v),
        value: v.clone(),
    }
}

fn diff_kind(kind: &str, before: &[Value], after: &[Value]) -> KindDiff {
    let old: HashMap<String, &Value> = before.iter().map(|v| (key_of(v), v)).collect();
    let new_keys: std::collections::HashSet<String> = after.iter().map(key_of).collect();
    let mut d = KindDiff {
        kind: kind.to_string(),
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
    };
    for v in after {
        match old.get(&key_of(v)) {
            None => d.added.push(entity_ref(v)),
            Some(o) => {
                let mut fields = Vec::new();
                diff_fields("", o, v, &mut fields);
                if !fields.is_empty() {
                    d.changed.push(EntityChange {
                        id: key_of(v),
                        name: name_of(v).or_else(|| name_of(o)),
                        fields,
                    });
                }
            }
        }
    }
    d.removed = before
        .iter()
        .filter(|v| !new_keys.contains(&key_of(v)))
        .map(entity_ref)
        .collect();
    d
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Objects are compared key by key (nested paths joined with `.`); anything else, arrays
/// included, is one value: `paths` changing from two entries to three is one field change.
fn diff_fields(prefix: &str, old: &Value, new: &Value, out: &mut Vec<FieldChange>) {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            // Fields in name order, whatever order the maps keep.
            let mut fields: Vec<(&String, &Value)> = n.iter().collect();
            fields.sort_by(|a, b| a.0.cmp(b.0));
            for (k, nv) in fields {
                match o.get(k) {
                    Some(ov) => diff_fields(&join(prefix, k), ov, nv, out),
                    None => out.push(FieldChange {
                        path: join(prefix, k),
                        old: None,
                        new: Some(nv.clone()),
                    }),
                }
            }
            let mut gone: Vec<(&String, &Value)> = o.iter().collect();
            gone.sort_by(|a, b| a.0.cmp(b.0));
            for (k, ov) in gone {
                if !n.contains_key(k) {
                    out.push(FieldChange {
                        path: join(prefix, k),
                        old: Some(ov.clone()),
                        new: None,
                    });
                }
            }
        }
        _ if old == new => {}
        _ => out.push(FieldChange {
            path: prefix.to_string(),
            old: Some(old.clone()),
            new: Some(new.clone()),
        }),
    }
}

impl KindDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

impl ConfigDiff {
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// Counts per kind, for a version's one-line summary.
    pub fn counts(&self) -> Vec<KindCount> {
        self.kinds
            .iter()
            .map(|k| KindCount {
                kind: k.kind.clone(),
                added: k.added.len(),
                removed: k.removed.len(),
                changed: k.changed.len(),
            })
            .collect()
    }

    /// The id of every entity the change touched, in order.
    pub fn entity_ids(&self) -> Vec<String> {
        self.kinds
            .iter()
            .flat_map(|k| {
                k.added
                    .iter()
                    .chain(&k.removed)
                    .map(|e| e.id.clone())
                    .chain(k.changed.iter().map(|c| c.id.clone()))
            })
            .collect()
    }
}

/// "+2 routes, ~1 plugin, -1 service"; "no change" when nothing changed.
pub fn summary_text(counts: &[KindCount]) -> String {
    let mut parts = Vec::new();
    for c in counts {
        for (sign, n) in [("+", c.added), ("~", c.changed), ("-", c.removed)] {
            if n > 0 {
                parts.push(format!("{sign}{n} {}", kind_label(&c.kind, n)));
            }
        }
    }
    if parts.is_empty() {
        "no change".into()
    } else {
        parts.join(", ")
    }
}

/// A kind's collection name in words: `ca_certificates` → "CA certificates", one → singular.
pub fn kind_label(kind: &str, n: usize) -> String {
    let plural = match kind {
        "ca_certificates" => "CA certificates".to_string(),
        "snis" => "SNIs".to_string(),
        "acls" => "ACL groups".to_string(),
        "keyauth_credentials" => "key-auth credentials".to_string(),
        "basicauth_credentials" => "basic-auth credentials".to_string(),
        "jwt_secrets" => "JWT credentials".to_string(),
        "version_links" => "version links".to_string(),
        other => other.replace('_', " "),
    };
    if n == 1 {
        plural.strip_suffix('s').unwrap_or(&plural).to_string()
    } else {
        plural
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn added_removed_and_changed_fields_per_kind() {
        let before = json!({
            "routes": [
                {"id": "00000000-0000-0000-0000-000000000001", "name": "a", "paths": ["/a"], "strip_path": true},
                {"id": "00000000-0000-0000-0000-000000000002", "name": "b", "paths": ["/b"]}
            ]
        });
        let after = json!({
            "routes": [
                {"id": "00000000-0000-0000-0000-000000000001", "name": "a", "paths": ["/a", "/aa"], "hosts": ["x"]},
                {"id": "00000000-0000-0000-0000-000000000003", "name": "c", "paths": ["/c"]}
            ],
            "plugins": [{"id": "p1", "name": "cors", "config": {"max_age": 1}}]
        });
        let d = diff_json(&before, &after);
        assert_eq!(d.kinds.len(), 2);
        let routes = &d.kinds[0];
        assert_eq!(routes.kind, "routes");
        assert_eq!(routes.added[0].name.as_deref(), Some("c"));
        assert_eq!(routes.removed[0].name.as_deref(), Some("b"));
        let fields = &routes.changed[0].fields;
        let paths: Vec<&str> = fields.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, vec!["hosts", "paths", "strip_path"]);
        assert_eq!(fields[0].old, None);
        assert_eq!(fields[1].old, Some(json!(["/a"])));
        assert_eq!(fields[1].new, Some(json!(["/a", "/aa"])));
        assert_eq!(fields[2].new, None);
        assert_eq!(
            summary_text(&d.counts()),
            "+1 route, ~1 route, -1 route, +1 plugin"
        );
    }

    #[test]
    fn nested_fields_get_dotted_paths() {
        let before = json!({"plugins": [{"id": "p", "name": "rate-limiting", "config": {"minute": 5, "policy": "local"}}]});
        let after = json!({"plugins": [{"id": "p", "name": "rate-limiting", "config": {"minute": 6, "policy": "local"}}]});
        let d = diff_json(&before, &after);
        let change = &d.kinds[0].changed[0];
        assert_eq!(change.name.as_deref(), Some("rate-limiting"));
        assert_eq!(
            change.fields,
            vec![FieldChange {
                path: "config.minute".into(),
                old: Some(json!(5)),
                new: Some(json!(6)),
            }]
        );
        assert_eq!(d.entity_ids(), vec!["p".to_string()]);
    }

    #[test]
    fn equal_configurations_have_no_diff_and_link_order_does_not_count() {
        use uuid::Uuid;
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let one = GatewayConfig {
            version_links: vec![(a, b), (b, a)],
            ..GatewayConfig::default()
        };
        let two = GatewayConfig {
            version_links: vec![(b, a), (a, b)],
            ..GatewayConfig::default()
        };
        assert!(diff(&one, &two).is_empty());
        let d = diff(&GatewayConfig::default(), &one);
        assert_eq!(d.kinds[0].kind, "version_links");
        assert_eq!(d.kinds[0].added.len(), 2);
        assert_eq!(summary_text(&[]), "no change");
        assert_eq!(kind_label("ca_certificates", 1), "CA certificate");
    }
}
