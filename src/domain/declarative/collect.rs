//! Walks a document into a flat list of entity records, parents before children: each with
//! its place in the document (for errors), its own fields (nested collections, `_comment` and
//! `_ignore` taken out), its owner when nested, and its id (given, derived as Kong derives it,
//! or the id of the stored entity with the same natural key).

use std::collections::HashMap;

use serde_json::{Map, Value};
use uuid::Uuid;

use super::ids;
use super::problems::{Problem, Seg};

/// The entity kinds a document may list at its top level, in the order they are built
/// (referenced kinds first).
pub const TOP_LEVEL: &[&str] = &[
    "certificates",
    "snis",
    "ca_certificates",
    "services",
    "routes",
    "upstreams",
    "targets",
    "consumers",
    "keyauth_credentials",
    "basicauth_credentials",
    "acls",
    "jwt_secrets",
    "plugins",
];

/// Kong collections Gatehouse does not serve: a document may carry them (decK dumps do); they
/// are skipped with a warning rather than refused.
pub const UNSUPPORTED: &[&str] = &[
    "hmacauth_credentials",
    "oauth2_credentials",
    "oauth2_tokens",
    "oauth2_authorization_codes",
    "consumer_groups",
    "consumer_group_consumers",
    "consumer_group_plugins",
    "vaults",
    "key_sets",
    "keys",
    "filter_chains",
    "custom_entities",
    "degraphql_routes",
    "graphql_ratelimiting_advanced_cost_decoration",
    "mtls_auth_credentials",
];

/// Which collections nest under a kind, with the foreign key that points back at the owner.
pub fn nested(kind: &str) -> &'static [(&'static str, &'static str)] {
    match kind {
        "services" => &[("routes", "service"), ("plugins", "service")],
        "routes" => &[("plugins", "route")],
        "upstreams" => &[("targets", "upstream")],
        "certificates" => &[("snis", "certificate")],
        "consumers" => &[
            ("plugins", "consumer"),
            ("keyauth_credentials", "consumer"),
            ("basicauth_credentials", "consumer"),
            ("acls", "consumer"),
            ("jwt_secrets", "consumer"),
        ],
        _ => &[],
    }
}

pub struct Record {
    pub kind: &'static str,
    pub at: Vec<Seg>,
    pub input: Map<String, Value>,
    pub id: Uuid,
    /// The record this one is nested in, and the foreign key field naming it.
    pub owner: Option<(usize, &'static str)>,
}

/// Stored entities' ids by natural key: for kinds Kong gives random ids (certificates,
/// key-auth credentials…) importing the same file again then keeps their ids too, and named
/// entities keep the ids they were made with.
pub type Existing = HashMap<(String, String), Uuid>;

/// What identifies a stored entity when a file gives no id: its name, or for kinds Kong does
/// not derive ids for, the content that makes it unique.
pub fn natural_key(kind: &str, body: &Map<String, Value>) -> Option<String> {
    let text = |f: &str| body.get(f).and_then(Value::as_str).map(str::trim);
    match kind {
        "certificates" => Some(format!("{}|{}", text("cert")?, text("key")?)),
        "ca_certificates" => text("cert").map(str::to_string),
        "keyauth_credentials" | "jwt_secrets" => text("key").map(str::to_string),
        // Named entities keep the id they have (made in the console or the Admin API, where
        // ids are random), as decK matches by name: links to them (a version's
        // implementation, analytics) survive an import of a file that gives no ids.
        "consumers" => match text("username") {
            Some(u) => Some(format!("username:{u}")),
            None => text("custom_id").map(|c| format!("custom:{c}")),
        },
        "services" => match text("name") {
            Some(n) => Some(format!("name:{n}")),
            None => Some(format!("{}:{}", text("host")?, body.get("port")?)),
        },
        "routes" | "upstreams" => text("name").map(|n| format!("name:{n}")),
        _ => None,
    }
}

pub struct Collector<'a> {
    pub records: Vec<Record>,
    pub problems: Vec<Problem>,
    pub warnings: Vec<String>,
    existing: &'a Existing,
}

impl<'a> Collector<'a> {
    pub fn new(existing: &'a Existing) -> Self {
        Collector {
            records: Vec::new(),
            problems: Vec::new(),
            warnings: Vec::new(),
            existing,
        }
    }

    /// Adds the entities of `value` (which should be a list of `kind`) found at `at`.
    pub fn list(
        &mut self,
        kind: &'static str,
        value: Value,
        at: Vec<Seg>,
        owner: Option<(usize, &'static str)>,
    ) {
        let items = match value {
            Value::Array(items) => items,
            Value::Null => return,
            _ => {
                self.problems.push(Problem::entry(&at, "expected an array"));
                return;
            }
        };
        for (i, item) in items.into_iter().enumerate() {
            let mut here = at.clone();
            here.push(Seg::Index(i));
            let item = match (kind, item) {
                // A certificate's SNIs may be plain names.
                ("snis", Value::String(name)) => {
                    let mut m = Map::new();
                    m.insert("name".into(), Value::String(name));
                    m
                }
                (_, Value::Object(m)) => m,
                _ => {
                    self.problems
                        .push(Problem::entry(&here, "expected a record"));
                    continue;
                }
            };
            self.entity(kind, item, here, owner);
        }
    }

    fn entity(
        &mut self,
        kind: &'static str,
        mut input: Map<String, Value>,
        at: Vec<Seg>,
        owner: Option<(usize, &'static str)>,
    ) {
        self.annotations(&mut input, &at);
        let mut children = Vec::new();
        for (key, fk) in nested(kind) {
            if let Some(v) = input.remove(*key) {
                children.push((*key, *fk, v));
            }
        }
        for key in UNSUPPORTED {
            if input.remove(*key).is_some() {
                self.warnings.push(format!(
                    "{}: '{key}' is not supported by Gatehouse and was skipped",
                    super::problems::place(&at)
                ));
            }
        }
        for meta in ["created_at", "updated_at"] {
            input.remove(meta);
        }
        let owner_id = owner.map(|(idx, fk)| (fk, self.records[idx].id));
        if let Some((_, fk)) = owner {
            input.remove(fk);
        }
        let id = match input.remove("id") {
            None | Some(Value::Null) => self.pick_id(kind, &input, owner_id),
            Some(Value::String(s)) => match Uuid::parse_str(s.trim()) {
                Ok(id) => id,
                Err(_) => {
                    self.problems
                        .push(Problem::field(&at, "id", "expected a valid UUID"));
                    Uuid::new_v4()
                }
            },
            Some(_) => {
                self.problems
                    .push(Problem::field(&at, "id", "expected a string"));
                Uuid::new_v4()
            }
        };
        let idx = self.records.len();
        self.records.push(Record {
            kind,
            at: at.clone(),
            input,
            id,
            owner,
        });
        for (key, fk, v) in children {
            let child_kind = TOP_LEVEL
                .iter()
                .copied()
                .find(|k| *k == key)
                .unwrap_or("plugins");
            let mut child_at = at.clone();
            child_at.push(Seg::Key(key.to_string()));
            self.list(child_kind, v, child_at, Some((idx, fk)));
        }
    }

    fn pick_id(&self, kind: &str, input: &Map<String, Value>, owner: Option<(&str, Uuid)>) -> Uuid {
        let stored = natural_key(kind, input)
            .and_then(|k| self.existing.get(&(kind.to_string(), k)).copied());
        stored
            .or_else(|| ids::derive(kind, input, owner))
            .unwrap_or_else(Uuid::new_v4)
    }

    /// `_comment` (a string) and `_ignore` (a list) annotate any entity; both are dropped.
    fn annotations(&mut self, input: &mut Map<String, Value>, at: &[Seg]) {
        if let Some(c) = input.remove("_comment") {
            if !c.is_string() {
                self.problems
                    .push(Problem::field(at, "_comment", "expected a string"));
            }
        }
        if let Some(i) = input.remove("_ignore") {
            if !i.is_array() {
                self.problems
                    .push(Problem::field(at, "_ignore", "expected an array"));
            }
        }
    }
}
