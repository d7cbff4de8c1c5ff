//! Replacing a runtime group's whole gateway configuration with a declarative document
//! (kong.yml), in one transaction: what the document does not list is deleted, the rest is
//! inserted or updated with the ids the document gives or derives, and an entity the document
//! leaves as it was is not touched (it keeps its timestamps). Other groups are never touched;
//! a document that does not validate changes nothing. [`Store::commit`] raises the
//! configuration revision, so the proxy, other control planes and nodes follow, and the
//! import is one change in the configuration's history.

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use uuid::Uuid;

use super::{Result, ServiceError};
use crate::domain::config_diff::{self, ConfigDiff};
use crate::domain::declarative::{self, natural_key, Existing, Format, Loaded};
use crate::domain::{now_secs, Entity, GatewayConfig};
use crate::security;
use crate::store::entities as db;
use crate::store::{Conn, Store, StoreError};

/// The kinds whose entities refer to or belong to others, deleted before the kinds they
/// refer to.
const DEPENDENT: &[&str] = &[
    "plugins",
    "keyauth_credentials",
    "basicauth_credentials",
    "acls",
    "jwt_secrets",
    "snis",
    "targets",
    "routes",
];

/// Every stored entity of a configuration: id → (kind, JSON body).
fn stored(cfg: &GatewayConfig) -> HashMap<Uuid, (String, Value)> {
    let mut out = HashMap::new();
    if let Ok(Value::Object(kinds)) = serde_json::to_value(cfg) {
        for (kind, list) in kinds {
            for e in list.as_array().into_iter().flatten() {
                let id = e
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(|s| Uuid::parse_str(s).ok());
                if let Some(id) = id {
                    out.insert(id, (kind.clone(), e.clone()));
                }
            }
        }
    }
    out
}

/// The stored entities' ids by natural key (see [`declarative::natural_key`]).
fn existing_keys(cfg: &GatewayConfig) -> Existing {
    let mut out = Existing::new();
    for (id, (kind, body)) in stored(cfg) {
        if let Some(key) = body.as_object().and_then(|m| natural_key(&kind, m)) {
            out.insert((kind, key), id);
        }
    }
    out
}

/// Replaces `group`'s configuration with the document `text`.
pub async fn import(store: &Store, group: Uuid, text: &str, format: Format) -> Result<Loaded> {
    let doc =
        declarative::parse(text, format).map_err(|e| ServiceError::Declarative(Box::new(e)))?;
    import_document(store, group, doc).await
}

/// Replaces `group`'s configuration with an already parsed document.
pub async fn import_document(store: &Store, group: Uuid, doc: Value) -> Result<Loaded> {
    Ok(import_at(store, group, doc, None).await?.loaded)
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct Imported {
    pub loaded: Loaded,
    /// The configuration version the import became; `None` when the document described the
    /// configuration the group already ran (nothing was written).
    pub version: Option<u64>,
}

/// Replaces `group`'s configuration with `doc`. With `expected`, the import is refused when
/// the group's configuration is no longer that version (someone changed it after the caller
/// looked at what the import would do).
pub async fn import_at(
    store: &Store,
    group: Uuid,
    doc: Value,
    expected: Option<u64>,
) -> Result<Imported> {
    // Validation (and password hashing) happens before the write transaction opens, so the
    // single SQLite writer is held only for the writes.
    let before = store.load_gateway_config(group).await?;
    let loaded = declarative::load(doc, now_secs(), &existing_keys(&before))
        .map_err(|e| ServiceError::Declarative(Box::new(e)))?;
    let mut tx = store.begin().await?;
    if let Some(expected) = expected {
        if crate::store::history::latest_version(&mut tx, group).await? != expected {
            tx.rollback().await.map_err(StoreError::from)?;
            return Err(ServiceError::Stale(expected));
        }
    }
    let current = db::load_gateway_config(&mut tx, group).await?;
    let next = keep_matching_hashes(&current, &loaded);
    let writes = replace(&mut tx, group, &current, &next).await?;
    let version = if writes > 0 {
        // Recorded in the history as an import, whoever (token, user, CLI) ran it.
        crate::service::history::relabel(
            crate::domain::history::Channel::Import,
            "kong.yml".into(),
            store.commit_versioned(tx, group),
        )
        .await?
    } else {
        // A file that says what is already there is no change: no new revision.
        tx.rollback().await.map_err(StoreError::from)?;
        None
    };
    Ok(Imported { loaded, version })
}

/// What importing a document would change, worked out without writing anything.
#[derive(Debug, Clone)]
pub struct Preview {
    pub loaded: Loaded,
    /// From the group's configuration now to the document's.
    pub diff: ConfigDiff,
    /// The version the diff was computed against: pass it to [`import_at`] so the import
    /// applies exactly what was previewed.
    pub base_version: u64,
}

/// Validates `doc` and compares it with `group`'s configuration.
pub async fn preview(store: &Store, group: Uuid, doc: Value) -> Result<Preview> {
    let (base_version, current) = store.load_versioned_config(group).await?;
    let loaded = declarative::load(doc, now_secs(), &existing_keys(&current))
        .map_err(|e| ServiceError::Declarative(Box::new(e)))?;
    let next = keep_matching_hashes(&current, &loaded);
    Ok(Preview {
        diff: diff_ignoring_timestamps(&current, &next),
        loaded,
        base_version,
    })
}

/// The diff an import would make: an entity the document keeps has the stored timestamps
/// (the import keeps them too), so only what the file changes shows.
fn diff_ignoring_timestamps(current: &GatewayConfig, next: &GatewayConfig) -> ConfigDiff {
    let old = stored(current);
    let mut after = serde_json::to_value(next).unwrap_or(Value::Null);
    if let Value::Object(kinds) = &mut after {
        for (kind, list) in kinds.iter_mut() {
            for e in list.as_array_mut().into_iter().flatten() {
                let id = e
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(|s| Uuid::parse_str(s).ok());
                let Some((_, before)) = id.and_then(|id| old.get(&id)).filter(|(k, _)| k == kind)
                else {
                    continue;
                };
                if let Value::Object(m) = e {
                    for field in ["created_at", "updated_at"] {
                        if let Some(v) = before.get(field) {
                            m.insert(field.into(), v.clone());
                        }
                    }
                }
            }
        }
    }
    match serde_json::from_value::<GatewayConfig>(after) {
        Ok(after) => config_diff::diff(current, &after),
        // Not reachable for a configuration that serialised; the plain diff still holds.
        Err(_) => config_diff::diff(current, next),
    }
}

/// A basic-auth credential whose stored hash already matches the file's plain password keeps
/// that hash (a fresh salt would make every import a change).
fn keep_matching_hashes(current: &GatewayConfig, loaded: &Loaded) -> GatewayConfig {
    let mut next = loaded.config.clone();
    for cred in &mut next.basicauth_credentials {
        let Some(plain) = loaded.passwords.0.get(&cred.id) else {
            continue;
        };
        let stored = current
            .basicauth_credentials
            .iter()
            .find(|c| c.id == cred.id);
        if let Some(stored) = stored.filter(|s| security::verify_password(plain, &s.password)) {
            cred.password = stored.password.clone();
        }
    }
    next
}

/// Applies `next` over `current`; returns how many entities it wrote or deleted.
async fn replace(
    conn: &mut Conn,
    group: Uuid,
    current: &GatewayConfig,
    next: &GatewayConfig,
) -> Result<usize> {
    let old = stored(current);
    let new = stored(next);
    let stale: HashSet<Uuid> = old
        .iter()
        .filter(|(id, (kind, _))| new.get(*id).is_none_or(|(k, _)| k != kind))
        .map(|(id, _)| *id)
        .collect();
    // Referring kinds go first; a route that stays but refers to a service that goes lets go
    // of it (it is saved again below with its new service).
    for kind in DEPENDENT {
        for (id, (k, _)) in &old {
            if k == kind && stale.contains(id) {
                db::delete_entity_of_kind(conn, group, k, *id).await?;
            }
        }
    }
    for (id, (kind, body)) in &old {
        let service = body
            .get("service")
            .and_then(|s| s.get("id"))
            .and_then(Value::as_str);
        let refers_to_stale = service
            .and_then(|s| Uuid::parse_str(s).ok())
            .is_some_and(|s| stale.contains(&s));
        if kind == "routes" && !stale.contains(id) && refers_to_stale {
            db::clear_reference(conn, group, *id).await?;
        }
    }
    for (id, (kind, _)) in &old {
        if stale.contains(id) && !DEPENDENT.contains(&kind.as_str()) {
            db::delete_entity_of_kind(conn, group, kind, *id).await?;
        }
    }
    // Owners and referenced kinds first, in the registry's order.
    let mut writes = stale.len();
    writes += put(conn, group, &next.certificates, &old).await?;
    writes += put(conn, group, &next.ca_certificates, &old).await?;
    writes += put(conn, group, &next.services, &old).await?;
    // decK's way into the Service Hub: `_KonnectService:<name>` services get their catalog entry.
    for svc in &next.services {
        super::catalog::link_tagged(conn, group, svc).await?;
    }
    writes += put(conn, group, &next.upstreams, &old).await?;
    writes += put(conn, group, &next.consumers, &old).await?;
    writes += put(conn, group, &next.snis, &old).await?;
    writes += put(conn, group, &next.routes, &old).await?;
    writes += put(conn, group, &next.targets, &old).await?;
    writes += put(conn, group, &next.keyauth_credentials, &old).await?;
    writes += put(conn, group, &next.basicauth_credentials, &old).await?;
    writes += put(conn, group, &next.acls, &old).await?;
    writes += put(conn, group, &next.jwt_secrets, &old).await?;
    writes += put(conn, group, &next.plugins, &old).await?;
    Ok(writes)
}

/// Inserts or updates each entity; one the store already holds with the same content is left
/// as it is, and an updated one keeps its creation time. Returns how many it wrote.
async fn put<T: Entity>(
    conn: &mut Conn,
    group: Uuid,
    items: &[T],
    old: &HashMap<Uuid, (String, Value)>,
) -> Result<usize> {
    let mut writes = 0;
    for e in items {
        let mut value = e.to_json();
        let previous = old.get(&e.id()).filter(|(k, _)| k == T::KIND);
        if let Some((_, before)) = previous {
            if declarative::same_content(before, &value) {
                continue;
            }
            if let (Value::Object(m), Some(created)) = (&mut value, before.get("created_at")) {
                m.insert("created_at".into(), created.clone());
            }
        }
        let e: T = serde_json::from_value(value)
            .map_err(|err| ServiceError::internal("re-reading an entity failed", err))?;
        let saved = match previous {
            Some(_) => match db::update_entity(conn, group, &e).await {
                // Its owner went with a deleted entity: it comes back under the new one.
                Err(StoreError::NotFound) => db::insert_entity(conn, group, &e).await,
                other => other,
            },
            None => db::insert_entity(conn, group, &e).await,
        };
        saved.map_err(|err| match err {
            StoreError::Unique { column, .. } if column == "id" => ServiceError::Unique {
                field: "id".into(),
                value: e.id().to_string(),
            },
            StoreError::Unique { .. } => ServiceError::Unique {
                field: T::NAME_FIELD.unwrap_or("name").into(),
                value: e.unique_name().unwrap_or_default(),
            },
            other => other.into(),
        })?;
        writes += 1;
    }
    Ok(writes)
}

/// The group's configuration as kong.yml.
pub async fn export(store: &Store, group: Uuid) -> Result<String> {
    let cfg = store.load_gateway_config(group).await?;
    Ok(declarative::export(&cfg))
}

/// Kong's answer to `POST /config`: each kind's entities keyed by id, without secrets.
pub fn loaded_entities(cfg: &GatewayConfig) -> Value {
    let mut out = serde_json::Map::new();
    if let Ok(Value::Object(kinds)) = serde_json::to_value(cfg) {
        for (kind, list) in kinds {
            let Some(items) = list.as_array().filter(|l| !l.is_empty()) else {
                continue;
            };
            let mut by_id = serde_json::Map::new();
            for item in items {
                let mut item = item.clone();
                if kind == "basicauth_credentials" {
                    if let Value::Object(m) = &mut item {
                        m.remove("password");
                    }
                }
                if let Some(id) = item.get("id").and_then(Value::as_str) {
                    by_id.insert(id.to_string(), item.clone());
                }
            }
            out.insert(kind, Value::Object(by_id));
        }
    }
    Value::Object(out)
}
