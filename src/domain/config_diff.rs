//! What changed between two gateway configurations: per kind, the entities added, removed and
//! changed field by field. Pure and general: kinds are walked through the registry's
//! [`PairVisitor`] and entities that differ are compared in their JSON form, so every kind the
//! registry knows is covered without a line here (the history pages and the declarative
//! import's preview both use it). No I/O, no HTTP.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use serde::Serialize;
use serde_json::Value;

use super::kinds::PairVisitor;
use super::{Entity, GatewayConfig};

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

/// The difference from `before` to `after`. Kinds are compared typed, and only entities that
/// differ are turned into JSON to find their changed fields: at 10,000 routes, converting both
/// configurations whole was most of a write's cost.
pub fn diff(before: &GatewayConfig, after: &GatewayConfig) -> ConfigDiff {
    struct Kinds(Vec<KindDiff>);
    impl Kinds {
        fn push<E: Serialize + PartialEq, K: Hash + Eq>(
            &mut self,
            kind: &str,
            before: &[E],
            after: &[E],
            key: impl Fn(&E) -> K,
        ) {
            if before != after {
                let d = diff_items(kind, before, after, key);
                if !d.is_empty() {
                    self.0.push(d);
                }
            }
        }
    }
    impl PairVisitor for Kinds {
        fn visit<T: Entity>(&mut self, before: &[T], after: &[T]) {
            self.push(T::KIND, before, after, Entity::id);
        }
    }
    let mut kinds = Kinds(Vec::new());
    before.visit_pair(after, &mut kinds);
    // Links have no id: matched by value (as a set), so only ever added or removed.
    kinds.push(
        "version_links",
        &before.version_links,
        &after.version_links,
        |l| *l,
    );
    ConfigDiff { kinds: kinds.0 }
}

/// One kind's difference: items matched by `key`, and only those that differ turned into JSON.
fn diff_items<E: Serialize + PartialEq, K: Hash + Eq>(
    kind: &str,
    before: &[E],
    after: &[E],
    key: impl Fn(&E) -> K,
) -> KindDiff {
    let json = |e: &E| serde_json::to_value(e).unwrap_or(Value::Null);
    let old: HashMap<K, &E> = before.iter().map(|e| (key(e), e)).collect();
    let new_keys: HashSet<K> = after.iter().map(&key).collect();
    let mut d = KindDiff {
        kind: kind.to_string(),
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
    };
    for a in after {
        match old.get(&key(a)) {
            None => d.added.push(entity_ref(&json(a))),
            Some(b) if *b != a => {
                let (bv, av) = (json(b), json(a));
                let mut fields = Vec::new();
                diff_fields("", &bv, &av, &mut fields);
                if !fields.is_empty() {
                    d.changed.push(EntityChange {
                        id: key_of(&av).into_owned(),
                        name: name_of(&av).or_else(|| name_of(&bv)),
                        fields,
                    });
                }
            }
            Some(_) => {}
        }
    }
    d.removed = before
        .iter()
        .filter(|b| !new_keys.contains(&key(b)))
        .map(|b| entity_ref(&json(b)))
        .collect();
    d
}

fn key_of(v: &Value) -> Cow<'_, str> {
    match v.get("id").and_then(Value::as_str) {
        Some(id) => Cow::Borrowed(id),
        None => Cow::Owned(v.to_string()),
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
        id: key_of(v).into_owned(),
        name: name_of(v),
        value: v.clone(),
    }
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
    if old == new {
        // Most entities of a large configuration are unchanged: no paths built for them.
        return;
    }
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
    use uuid::Uuid;

    fn route(id: u128, fields: Value) -> crate::domain::Route {
        let Value::Object(m) = fields else {
            panic!("an object")
        };
        crate::domain::Route::parse(Uuid::from_u128(id), 1, None, &m, None).expect("a route")
    }

    #[test]
    fn added_removed_and_changed_fields_per_kind() {
        let before = GatewayConfig {
            routes: vec![
                route(1, json!({"name": "a", "paths": ["/a"]})),
                route(2, json!({"name": "b", "paths": ["/b"]})),
            ],
            ..GatewayConfig::default()
        };
        let mut a = route(
            1,
            json!({"name": "a", "paths": ["/a", "/aa"], "hosts": ["x"], "strip_path": false}),
        );
        a.created_at = before.routes[0].created_at;
        let plugin: crate::domain::Plugin = serde_json::from_value(json!({
            "id": "00000000-0000-0000-0000-0000000000aa", "name": "cors", "config": {"max_age": 1},
            "created_at": 1, "updated_at": 1, "enabled": true, "protocols": ["http"]
        }))
        .expect("a plugin");
        let after = GatewayConfig {
            routes: vec![a, route(3, json!({"name": "c", "paths": ["/c"]}))],
            plugins: vec![plugin],
            ..GatewayConfig::default()
        };
        let d = diff(&before, &after);
        assert_eq!(d.kinds.len(), 2);
        let routes = &d.kinds[0];
        assert_eq!(routes.kind, "routes");
        assert_eq!(routes.added[0].name.as_deref(), Some("c"));
        assert_eq!(routes.removed[0].name.as_deref(), Some("b"));
        assert_eq!(routes.changed[0].id, Uuid::from_u128(1).to_string());
        let fields = &routes.changed[0].fields;
        let paths: Vec<&str> = fields.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, vec!["hosts", "paths", "strip_path"]);
        assert_eq!(fields[0].old, Some(Value::Null));
        assert_eq!(fields[1].old, Some(json!(["/a"])));
        assert_eq!(fields[1].new, Some(json!(["/a", "/aa"])));
        assert_eq!(fields[2].new, Some(json!(false)));
        assert_eq!(d.kinds[1].kind, "plugins");
        assert_eq!(
            summary_text(&d.counts()),
            "+1 route, ~1 route, -1 route, +1 plugin"
        );
    }

    #[test]
    fn nested_fields_get_dotted_paths_and_unchanged_entities_stay_out() {
        let plugin = |minute: u32| -> crate::domain::Plugin {
            serde_json::from_value(json!({
                "id": "00000000-0000-0000-0000-0000000000bb", "name": "rate-limiting",
                "config": {"minute": minute, "policy": "local"},
                "created_at": 1, "updated_at": 1, "enabled": true, "protocols": ["http"]
            }))
            .expect("a plugin")
        };
        let routes = vec![route(1, json!({"name": "a", "paths": ["/a"]}))];
        let before = GatewayConfig {
            routes: routes.clone(),
            plugins: vec![plugin(5)],
            ..GatewayConfig::default()
        };
        let after = GatewayConfig {
            routes,
            plugins: vec![plugin(6)],
            ..GatewayConfig::default()
        };
        let d = diff(&before, &after);
        assert_eq!(d.kinds.len(), 1, "the unchanged route is not listed");
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
        assert_eq!(
            d.entity_ids(),
            vec!["00000000-0000-0000-0000-0000000000bb".to_string()]
        );
    }

    #[test]
    fn equal_configurations_have_no_diff_and_link_order_does_not_count() {
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
