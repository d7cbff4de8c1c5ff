//! Turns collected records into a [`GatewayConfig`]: duplicate ids and names are refused as
//! Kong refuses them, references (a route's `service`, a plugin's `consumer`, by name or id)
//! are resolved within the document, and every entity is built by its kind's own
//! `Entity::from_input`, so the rules and defaults are exactly the Admin API's.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::collect::Record;
use super::problems::Problem;
use crate::domain::gateway_service::ForeignKey;
use crate::domain::{
    Acl, BasicAuthCredential, CaCertificate, Certificate, Consumer, Entity, FieldErrors,
    GatewayConfig, GatewayService, JwtSecret, KeyAuthCredential, Plugin, Route, Sni, Target,
    Upstream,
};

/// The references each kind may hold: field and the kind it names.
fn references(kind: &str) -> &'static [(&'static str, &'static str)] {
    match kind {
        "routes" => &[("service", "services")],
        "plugins" => &[
            ("service", "services"),
            ("route", "routes"),
            ("consumer", "consumers"),
        ],
        "targets" => &[("upstream", "upstreams")],
        "snis" => &[("certificate", "certificates")],
        "keyauth_credentials" | "basicauth_credentials" | "acls" | "jwt_secrets" => {
            &[("consumer", "consumers")]
        }
        "services" | "upstreams" => &[("client_certificate", "certificates")],
        _ => &[],
    }
}

/// The field Kong looks a kind up by when a reference names it.
fn endpoint_key(kind: &str) -> Option<&'static str> {
    match kind {
        "services" | "routes" | "upstreams" | "snis" => Some("name"),
        "consumers" => Some("username"),
        _ => None,
    }
}

/// The field through which an owned kind belongs to its owner: its builder takes the owner
/// as `parent`.
fn owner_field(kind: &str) -> Option<&'static str> {
    match kind {
        "targets" => Some("upstream"),
        "snis" => Some("certificate"),
        "keyauth_credentials" | "basicauth_credentials" | "acls" | "jwt_secrets" => {
            Some("consumer")
        }
        _ => None,
    }
}

fn uniqueness(kind: &str, field: &str, value: &str) -> String {
    format!("uniqueness violation: '{kind}' entity with {field} set to '{value}' already declared")
}

struct Index {
    by_id: HashMap<(&'static str, Uuid), usize>,
    by_key: HashMap<(&'static str, String), usize>,
}

fn index(records: &[Record], problems: &mut Vec<Problem>) -> Index {
    let mut ix = Index {
        by_id: HashMap::new(),
        by_key: HashMap::new(),
    };
    for (i, r) in records.iter().enumerate() {
        if let Some(field) = endpoint_key(r.kind) {
            if let Some(Value::String(key)) = r.input.get(field) {
                let key = if r.kind == "snis" {
                    key.to_ascii_lowercase()
                } else {
                    key.clone()
                };
                if ix.by_key.contains_key(&(r.kind, key.clone())) {
                    problems.push(Problem::entry(&r.at, uniqueness(r.kind, field, &key)));
                    continue;
                }
                ix.by_key.insert((r.kind, key), i);
            }
        }
        if ix.by_id.insert((r.kind, r.id), i).is_some() {
            problems.push(Problem::entry(
                &r.at,
                uniqueness(r.kind, "primary key", &r.id.to_string()),
            ));
        }
    }
    ix
}

/// Rewrites each reference of `r` into `{"id": …}` (by name first, then by id), and returns
/// the owner's id for kinds built with a parent.
fn resolve(
    r: &mut Record,
    owner: Option<Uuid>,
    records_ids: &[Uuid],
    ix: &Index,
    problems: &mut Vec<Problem>,
) -> Option<Uuid> {
    let mut parent = None;
    for (field, target) in references(r.kind) {
        let id = match (r.owner, r.input.remove(*field)) {
            (Some((_, fk)), _) if fk == *field => owner,
            (_, None | Some(Value::Null)) => None,
            (_, Some(v)) => {
                let key = match &v {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(m) => m
                        .get("id")
                        .or_else(|| m.get("name"))
                        .or_else(|| m.get("username"))
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    _ => None,
                };
                let found = key.as_ref().and_then(|k| {
                    ix.by_key
                        .get(&(*target, k.clone()))
                        .or_else(|| {
                            Uuid::parse_str(k)
                                .ok()
                                .and_then(|u| ix.by_id.get(&(*target, u)))
                        })
                        .map(|i| records_ids[*i])
                });
                if found.is_none() {
                    let shown = match &v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    problems.push(Problem::field(
                        &r.at,
                        *field,
                        format!(
                            "invalid reference '{field}: {shown}' (no such entry in '{target}')"
                        ),
                    ));
                }
                found
            }
        };
        if let Some(id) = id {
            if owner_field(r.kind) == Some(*field) {
                parent = Some(id);
            } else {
                r.input.insert(field.to_string(), json!({ "id": id }));
            }
        }
    }
    parent
}

/// Unique values beyond the ones references use, per kind and scope (a target per upstream).
struct Uniques(HashSet<(&'static str, String, String)>);

impl Uniques {
    fn check<T: Entity>(
        &mut self,
        e: &T,
        at: &[super::problems::Seg],
        problems: &mut Vec<Problem>,
    ) {
        let already_indexed = endpoint_key(T::KIND).is_some();
        if let Some(name) = e.unique_name().filter(|_| !already_indexed) {
            if !self.0.insert((T::KIND, e.scope(), name.clone())) {
                let field = match T::KIND {
                    "ca_certificates" => "cert_digest",
                    "plugins" => "name",
                    _ => T::NAME_FIELD.unwrap_or("name"),
                };
                problems.push(Problem::entry(at, uniqueness(T::KIND, field, &name)));
            }
        }
    }
}

fn built<T: Entity>(
    out: &mut Vec<T>,
    made: Result<T, FieldErrors>,
    r: &Record,
    uniques: &mut Uniques,
    problems: &mut Vec<Problem>,
) {
    match made {
        Ok(e) => {
            uniques.check(&e, &r.at, problems);
            out.push(e);
        }
        Err(errors) => {
            for (field, message) in errors.0 {
                problems.push(Problem::field(&r.at, field, message));
            }
        }
    }
}

/// A basic-auth credential whose password is already a hash (`_transform: false`, as Kong's
/// own exports say): the hash is kept as it is.
fn basic_auth_hashed(
    id: Uuid,
    now: i64,
    parent: Option<Uuid>,
    input: &Map<String, Value>,
) -> Result<BasicAuthCredential, FieldErrors> {
    let mut input = input.clone();
    let hash = match input.remove("password") {
        Some(Value::String(h)) => h,
        _ => String::new(),
    };
    let base = BasicAuthCredential {
        id,
        created_at: now,
        consumer: ForeignKey {
            id: parent.unwrap_or_else(Uuid::nil),
        },
        username: String::new(),
        password: hash,
        tags: None,
    };
    BasicAuthCredential::from_input(id, now, parent, Some(&base), &input)
}

pub struct Options {
    pub now: i64,
    /// Whether plain passwords are to be hashed (Kong's `_transform`, true by default).
    pub transform: bool,
}

/// Builds every record into one configuration, or says everything that is wrong.
pub fn build(
    mut records: Vec<Record>,
    opts: &Options,
    problems: &mut Vec<Problem>,
    passwords: &mut HashMap<Uuid, String>,
) -> GatewayConfig {
    let ix = index(&records, problems);
    let ids: Vec<Uuid> = records.iter().map(|r| r.id).collect();
    let mut cfg = GatewayConfig::default();
    let mut uniques = Uniques(HashSet::new());
    let mut custom_ids = HashSet::new();
    // Referenced kinds are built first, so the configuration lists them in a useful order.
    let mut order: Vec<usize> = (0..records.len()).collect();
    order.sort_by_key(|i| {
        super::collect::TOP_LEVEL
            .iter()
            .position(|k| *k == records[*i].kind)
            .unwrap_or(usize::MAX)
    });
    for i in order {
        let owner = records[i].owner.map(|(o, _)| ids[o]);
        let parent = resolve(&mut records[i], owner, &ids, &ix, problems);
        let r = &records[i];
        let (id, now, input) = (r.id, opts.now, &r.input);
        let p = &mut *problems;
        let u = &mut uniques;
        match r.kind {
            "services" => built(
                &mut cfg.services,
                GatewayService::from_input(id, now, None, None, input),
                r,
                u,
                p,
            ),
            "routes" => built(
                &mut cfg.routes,
                Route::from_input(id, now, None, None, input),
                r,
                u,
                p,
            ),
            "upstreams" => built(
                &mut cfg.upstreams,
                Upstream::from_input(id, now, None, None, input),
                r,
                u,
                p,
            ),
            "targets" => built(
                &mut cfg.targets,
                Target::from_input(id, now, parent, None, input),
                r,
                u,
                p,
            ),
            "certificates" => built(
                &mut cfg.certificates,
                Certificate::from_input(id, now, None, None, input),
                r,
                u,
                p,
            ),
            "snis" => built(
                &mut cfg.snis,
                Sni::from_input(id, now, parent, None, input),
                r,
                u,
                p,
            ),
            "ca_certificates" => built(
                &mut cfg.ca_certificates,
                CaCertificate::from_input(id, now, None, None, input),
                r,
                u,
                p,
            ),
            "consumers" => {
                if let Some(c) = input.get("custom_id").and_then(Value::as_str) {
                    if !custom_ids.insert(c.to_string()) {
                        p.push(Problem::entry(
                            &r.at,
                            uniqueness("consumers", "custom_id", c),
                        ));
                    }
                }
                built(
                    &mut cfg.consumers,
                    Consumer::from_input(id, now, None, None, input),
                    r,
                    u,
                    p,
                )
            }
            "keyauth_credentials" => built(
                &mut cfg.keyauth_credentials,
                KeyAuthCredential::from_input(id, now, parent, None, input),
                r,
                u,
                p,
            ),
            "basicauth_credentials" => {
                let made = if opts.transform {
                    if let Some(Value::String(plain)) = input.get("password") {
                        passwords.insert(id, plain.clone());
                    }
                    BasicAuthCredential::from_input(id, now, parent, None, input)
                } else {
                    basic_auth_hashed(id, now, parent, input)
                };
                built(&mut cfg.basicauth_credentials, made, r, u, p)
            }
            "acls" => built(
                &mut cfg.acls,
                Acl::from_input(id, now, parent, None, input),
                r,
                u,
                p,
            ),
            "jwt_secrets" => built(
                &mut cfg.jwt_secrets,
                JwtSecret::from_input(id, now, parent, None, input),
                r,
                u,
                p,
            ),
            _ => built(
                &mut cfg.plugins,
                Plugin::from_input(id, now, None, None, input),
                r,
                u,
                p,
            ),
        }
    }
    cfg
}
