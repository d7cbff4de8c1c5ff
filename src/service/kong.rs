//! Create, update, upsert and delete for every Kong entity kind, each in one transaction:
//! resolve what the input names, build the entity with Kong's defaults, check its references,
//! save it. Per-kind differences (a route's service named by name, a certificate's SNIs) are
//! the [`Managed`] hooks; everything else is one code path for every kind.

use std::future::Future;

use serde_json::{Map, Value};
use uuid::Uuid;

use super::{id_from_input, key_parts, without_meta, Result, ServiceError};
use crate::domain::certificate::sni_names;
use crate::domain::route::{service_ref, ServiceRef};
use crate::domain::{
    now_secs, Acl, BasicAuthCredential, CaCertificate, Certificate, Consumer, Entity,
    GatewayService, JwtSecret, KeyAuthCredential, Plugin, Route, Sni, Target, Upstream,
};
use crate::store::entities as db;
use crate::store::{Conn, Store, StoreError};

pub trait Managed: Entity + Sync {
    /// Rewrites what the input names into what the entity stores (a route's `service` by name
    /// into its id), refusing names and ids the group does not have.
    fn resolve(
        _conn: &mut Conn,
        _group: Uuid,
        input: Map<String, Value>,
    ) -> impl Future<Output = Result<Map<String, Value>>> + Send {
        async { Ok(input) }
    }

    /// Checks that the references the entity holds exist in the group.
    fn check_refs(
        &self,
        _conn: &mut Conn,
        _group: Uuid,
    ) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }

    /// Writes the entity (and whatever `input` says about its children).
    fn save(
        &self,
        conn: &mut Conn,
        group: Uuid,
        is_new: bool,
        _input: &Map<String, Value>,
    ) -> impl Future<Output = Result<()>> + Send {
        async move {
            write(conn, group, is_new, self)
                .await
                .map_err(|e| conflict::<Self>(e, self))
        }
    }

    /// The Admin API's JSON for a list of entities.
    fn present(
        _store: &Store,
        _group: Uuid,
        items: Vec<Self>,
    ) -> impl Future<Output = Result<Vec<Value>>> + Send {
        async move { Ok(items.iter().map(Entity::to_json).collect()) }
    }
}

fn conflict<T: Entity>(e: StoreError, entity: &T) -> ServiceError {
    match e {
        StoreError::Unique { column, .. } if column == "name" => ServiceError::Unique {
            field: T::NAME_FIELD.unwrap_or("name").into(),
            value: entity.unique_name().unwrap_or_default(),
        },
        StoreError::Unique { column, .. } if column == "id" => ServiceError::Unique {
            field: "id".into(),
            value: entity.id().to_string(),
        },
        other => other.into(),
    }
}

async fn must_exist<T: Entity>(conn: &mut Conn, group: Uuid, field: &str, id: Uuid) -> Result<()> {
    match db::get_entity::<T>(conn, group, &id.to_string(), None).await {
        Ok(_) => Ok(()),
        Err(StoreError::NotFound) => Err(ServiceError::MissingReference {
            field: field.into(),
            entity: T::KIND,
            id: id.to_string(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Inserts a new entity or updates a stored one: what every kind's `save` starts with.
async fn write<T: Entity>(
    conn: &mut Conn,
    group: Uuid,
    is_new: bool,
    e: &T,
) -> std::result::Result<(), StoreError> {
    if is_new {
        db::insert_entity(conn, group, e).await
    } else {
        db::update_entity(conn, group, e).await
    }
}

impl Managed for GatewayService {
    /// A service tagged `_KonnectService:<name>` shows up in the Service Hub catalog as
    /// Konnect's does, linked in the same transaction (see [`super::catalog::link_tagged`]).
    async fn save(
        &self,
        conn: &mut Conn,
        group: Uuid,
        is_new: bool,
        _input: &Map<String, Value>,
    ) -> Result<()> {
        let saved = write(conn, group, is_new, self).await;
        saved.map_err(|e| conflict(e, self))?;
        super::catalog::link_tagged(conn, group, self).await
    }
}

impl Managed for Consumer {
    /// `custom_id` is unique in the group too (the table's unique key holds the username).
    async fn check_refs(&self, conn: &mut Conn, group: Uuid) -> Result<()> {
        let Some(custom) = &self.custom_id else {
            return Ok(());
        };
        // No tag filter, so the backend's SQL spelling does not matter here.
        let all = db::list_entities::<Consumer>(
            conn,
            crate::store::Backend::Sqlite,
            group,
            &crate::store::EntityFilter::default(),
            0,
            u64::MAX / 2,
        )
        .await?;
        if all
            .items
            .iter()
            .any(|c| c.id != self.id && c.custom_id.as_ref() == Some(custom))
        {
            return Err(ServiceError::Unique {
                field: "custom_id".into(),
                value: custom.clone(),
            });
        }
        Ok(())
    }
}

impl Managed for KeyAuthCredential {
    async fn check_refs(&self, conn: &mut Conn, group: Uuid) -> Result<()> {
        must_exist::<Consumer>(conn, group, "consumer", self.consumer.id).await
    }
}

impl Managed for BasicAuthCredential {
    async fn check_refs(&self, conn: &mut Conn, group: Uuid) -> Result<()> {
        must_exist::<Consumer>(conn, group, "consumer", self.consumer.id).await
    }
}

impl Managed for JwtSecret {
    async fn check_refs(&self, conn: &mut Conn, group: Uuid) -> Result<()> {
        must_exist::<Consumer>(conn, group, "consumer", self.consumer.id).await
    }
}

impl Managed for Acl {
    async fn check_refs(&self, conn: &mut Conn, group: Uuid) -> Result<()> {
        must_exist::<Consumer>(conn, group, "consumer", self.consumer.id).await
    }
}

impl Managed for Plugin {
    async fn check_refs(&self, conn: &mut Conn, group: Uuid) -> Result<()> {
        if let Some(s) = &self.service {
            must_exist::<GatewayService>(conn, group, "service", s.id).await?;
        }
        if let Some(r) = &self.route {
            must_exist::<Route>(conn, group, "route", r.id).await?;
        }
        if let Some(c) = &self.consumer {
            must_exist::<Consumer>(conn, group, "consumer", c.id).await?;
        }
        Ok(())
    }

    /// The same plugin twice on one scope is Kong's unique violation (409).
    async fn save(
        &self,
        conn: &mut Conn,
        group: Uuid,
        is_new: bool,
        _input: &Map<String, Value>,
    ) -> Result<()> {
        let saved = write(conn, group, is_new, self).await;
        saved.map_err(|e| match e {
            StoreError::Unique { column, .. } if column == "name" => ServiceError::Unique {
                field: "cache_key".into(),
                value: format!("plugins:{}:{}", self.name, self.scope_key()),
            },
            other => conflict(other, self),
        })
    }
}
impl Managed for Target {}
impl Managed for CaCertificate {}

impl Managed for Route {
    /// Kong takes the service as `{"id": …}` or `{"name": …}`; either must exist in the group.
    async fn resolve(
        conn: &mut Conn,
        group: Uuid,
        mut input: Map<String, Value>,
    ) -> Result<Map<String, Value>> {
        if !input.contains_key("service") {
            return Ok(input);
        }
        let (key, value) = match service_ref(&input)? {
            None => return Ok(input),
            Some(ServiceRef::Id(id)) => ("id", id.to_string()),
            Some(ServiceRef::Name(n)) => ("name", n),
        };
        match db::get_entity::<GatewayService>(conn, group, &value, None).await {
            Ok(svc) => {
                input.insert("service".into(), serde_json::json!({ "id": svc.id }));
                Ok(input)
            }
            Err(StoreError::NotFound) => Err(ServiceError::MissingService {
                key: key.into(),
                value,
            }),
            Err(e) => Err(e.into()),
        }
    }

    async fn check_refs(&self, conn: &mut Conn, group: Uuid) -> Result<()> {
        // A nested path's service (`/services/{s}/routes`) was found by the caller; one
        // named in the body was resolved above. Either way it must be in this group.
        match &self.service {
            Some(s) => {
                match db::get_entity::<GatewayService>(conn, group, &s.id.to_string(), None).await {
                    Ok(_) => Ok(()),
                    Err(StoreError::NotFound) => Err(ServiceError::MissingService {
                        key: "id".into(),
                        value: s.id.to_string(),
                    }),
                    Err(e) => Err(e.into()),
                }
            }
            None => Ok(()),
        }
    }
}

impl Managed for Upstream {
    async fn check_refs(&self, conn: &mut Conn, group: Uuid) -> Result<()> {
        match &self.client_certificate {
            Some(c) => must_exist::<Certificate>(conn, group, "client_certificate", c.id).await,
            None => Ok(()),
        }
    }
}

impl Managed for Sni {
    async fn check_refs(&self, conn: &mut Conn, group: Uuid) -> Result<()> {
        must_exist::<Certificate>(conn, group, "certificate", self.certificate.id).await
    }
}

impl Managed for Certificate {
    /// With `snis` in the input, they become exactly the certificate's SNIs, in the same
    /// transaction: a taken SNI name leaves the certificate unsaved too.
    async fn save(
        &self,
        conn: &mut Conn,
        group: Uuid,
        is_new: bool,
        input: &Map<String, Value>,
    ) -> Result<()> {
        let saved = write(conn, group, is_new, self).await;
        saved.map_err(|e| conflict(e, self))?;
        let Some(names) = sni_names(input)? else {
            return Ok(());
        };
        db::delete_children::<Sni>(conn, self.id).await?;
        let now = now_secs();
        for name in &names {
            let mut one = Map::new();
            one.insert("name".into(), Value::String(name.clone()));
            let sni = Sni::from_input(Uuid::new_v4(), now, Some(self.id), None, &one)?;
            db::insert_entity(conn, group, &sni)
                .await
                .map_err(|e| match e {
                    StoreError::Unique { column, .. } if column == "name" => ServiceError::Unique {
                        field: "snis".into(),
                        value: names.join(","),
                    },
                    other => conflict(other, self),
                })?;
        }
        Ok(())
    }

    /// Kong prints a certificate with the names of its SNIs.
    async fn present(store: &Store, group: Uuid, items: Vec<Self>) -> Result<Vec<Value>> {
        let mut out = Vec::with_capacity(items.len());
        for c in items {
            let snis: Vec<Sni> = store.list_all_entities(group, Some(c.id)).await?;
            let mut v = c.to_json();
            if let Value::Object(m) = &mut v {
                m.insert(
                    "snis".into(),
                    Value::from(snis.into_iter().map(|s| s.name).collect::<Vec<_>>()),
                );
            }
            out.push(v);
        }
        Ok(out)
    }
}

pub async fn present_one<T: Managed>(store: &Store, group: Uuid, e: T) -> Result<Value> {
    Ok(T::present(store, group, vec![e])
        .await?
        .pop()
        .unwrap_or(Value::Null))
}

/// Builds an entity from form or body input without saving it: the checks a form runs before
/// it asks for anything else. References are not resolved.
pub fn build<T: Entity>(
    base: Option<&T>,
    id: Uuid,
    parent: Option<Uuid>,
    input: &Map<String, Value>,
) -> Result<T> {
    Ok(T::from_input(
        id,
        now_secs(),
        parent,
        base,
        &without_meta(input),
    )?)
}

async fn build_checked<T: Managed>(
    conn: &mut Conn,
    group: Uuid,
    id: Uuid,
    parent: Option<Uuid>,
    base: Option<&T>,
    input: Map<String, Value>,
) -> Result<(T, Map<String, Value>)> {
    let input = T::resolve(conn, group, input).await?;
    let e: T = build(base, id, parent, &input)?;
    e.check_refs(conn, group).await?;
    Ok((e, input))
}

/// Saves an entity its caller already built and checked (a console form), inserting it or
/// replacing the stored one with the same id, in one transaction.
pub async fn save_built<T: Managed>(store: &Store, group: Uuid, e: &T, is_new: bool) -> Result<()> {
    let mut tx = store.begin().await?;
    e.check_refs(&mut tx, group).await?;
    e.save(&mut tx, group, is_new, &Map::new()).await?;
    store.commit(tx, group).await?;
    Ok(())
}

pub async fn create_entity<T: Managed>(
    store: &Store,
    group: Uuid,
    parent: Option<Uuid>,
    input: &Map<String, Value>,
) -> Result<T> {
    let id = id_from_input(input)?.unwrap_or_else(Uuid::new_v4);
    let mut tx = store.begin().await?;
    let (e, input) = build_checked::<T>(&mut tx, group, id, parent, None, input.clone()).await?;
    e.save(&mut tx, group, true, &input).await?;
    store.commit(tx, group).await?;
    Ok(e)
}

pub async fn update_entity<T: Managed>(
    store: &Store,
    group: Uuid,
    key: &str,
    parent: Option<Uuid>,
    input: &Map<String, Value>,
) -> Result<T> {
    let mut tx = store.begin().await?;
    let existing: T = db::get_entity(&mut tx, group, key, parent).await?;
    let (e, input) = build_checked::<T>(
        &mut tx,
        group,
        existing.id(),
        parent,
        Some(&existing),
        input.clone(),
    )
    .await?;
    e.save(&mut tx, group, false, &input).await?;
    store.commit(tx, group).await?;
    Ok(e)
}

/// PUT: replaces the entity named by `key`, or creates it with that id or name.
pub async fn upsert_entity<T: Managed>(
    store: &Store,
    group: Uuid,
    key: &str,
    parent: Option<Uuid>,
    input: &Map<String, Value>,
) -> Result<T> {
    let mut input = input.clone();
    let (id, name) = key_parts(key);
    if let (Some(n), Some(field)) = (&name, T::NAME_FIELD) {
        input.insert(field.into(), Value::String(n.clone()));
    }
    let mut tx = store.begin().await?;
    let e = match db::get_entity::<T>(&mut tx, group, key, parent).await {
        Ok(existing) => {
            let (mut e, input) =
                build_checked::<T>(&mut tx, group, existing.id(), parent, None, input).await?;
            // Kong keeps the creation time of a replaced entity.
            if let Value::Object(mut m) = e.to_json() {
                m.insert("created_at".into(), Value::from(existing.created_at()));
                e = serde_json::from_value(Value::Object(m))
                    .map_err(|err| ServiceError::internal("re-reading an entity failed", err))?;
            }
            e.save(&mut tx, group, false, &input).await?;
            e
        }
        Err(StoreError::NotFound) => {
            if name.is_some() && T::NAME_FIELD.is_none() {
                return Err(ServiceError::NotFound);
            }
            let id = id.unwrap_or_else(Uuid::new_v4);
            let (e, input) = build_checked::<T>(&mut tx, group, id, parent, None, input).await?;
            e.save(&mut tx, group, true, &input).await?;
            e
        }
        Err(e) => return Err(e.into()),
    };
    store.commit(tx, group).await?;
    Ok(e)
}

/// Deletes an entity; Kong answers 204 whether or not it existed, and refuses (code 4) while
/// other entities still refer to it.
pub async fn delete_entity<T: Managed>(
    store: &Store,
    group: Uuid,
    key: &str,
    parent: Option<Uuid>,
) -> Result<()> {
    let mut tx = store.begin().await?;
    match db::get_entity::<T>(&mut tx, group, key, parent).await {
        Ok(e) => {
            db::delete_entity::<T>(&mut tx, group, e.id()).await?;
            store.commit(tx, group).await?;
            Ok(())
        }
        Err(StoreError::NotFound) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
