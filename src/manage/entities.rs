//! Create, update, upsert and delete for the Kong entities kept in the generic `entities` table,
//! shared by the console and the Admin API. Per-kind differences (a certificate's SNIs, checked
//! references) are the [`Managed`] hooks; everything else is one code path for every kind.

use std::future::Future;

use serde_json::{Map, Value};
use uuid::Uuid;

use super::{id_from_input, key_parts, without_meta, Result};
use crate::domain::certificate::sni_names;
use crate::domain::{now_secs, CaCertificate, Certificate, Entity, Sni, Target, Upstream};
use crate::store::{Store, StoreError};
use crate::web_error::WebError;

pub trait Managed: Entity + Sync {
    /// Checks that the references the entity holds exist in the group.
    fn check_refs(&self, _store: &Store, _group: Uuid) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }

    /// Writes the entity (and whatever `input` says about its children) in one transaction.
    fn save(
        &self,
        store: &Store,
        group: Uuid,
        is_new: bool,
        _input: &Map<String, Value>,
    ) -> impl Future<Output = Result<()>> + Send {
        async move {
            let saved = if is_new {
                store.insert_entity(group, self).await
            } else {
                store.update_entity(group, self).await
            };
            saved.map_err(|e| conflict::<Self>(e, self))
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

fn conflict<T: Entity>(e: StoreError, entity: &T) -> WebError {
    match e {
        StoreError::Unique { column, .. } if column == "name" => WebError::Unique {
            field: T::NAME_FIELD.unwrap_or("name").into(),
            value: entity.unique_name().unwrap_or_default(),
        },
        StoreError::Unique { column, .. } if column == "id" => WebError::Unique {
            field: "id".into(),
            value: entity.id().to_string(),
        },
        other => other.into(),
    }
}

async fn must_exist<T: Entity>(store: &Store, group: Uuid, field: &str, id: Uuid) -> Result<()> {
    match store.get_entity::<T>(group, &id.to_string(), None).await {
        Ok(_) => Ok(()),
        Err(StoreError::NotFound) => Err(WebError::MissingReference {
            field: field.into(),
            entity: T::KIND,
            id: id.to_string(),
        }),
        Err(e) => Err(e.into()),
    }
}

impl Managed for Upstream {
    async fn check_refs(&self, store: &Store, group: Uuid) -> Result<()> {
        match &self.client_certificate {
            Some(c) => must_exist::<Certificate>(store, group, "client_certificate", c.id).await,
            None => Ok(()),
        }
    }
}

impl Managed for Target {}
impl Managed for CaCertificate {}

impl Managed for Sni {
    async fn check_refs(&self, store: &Store, group: Uuid) -> Result<()> {
        must_exist::<Certificate>(store, group, "certificate", self.certificate.id).await
    }
}

impl Managed for Certificate {
    async fn save(
        &self,
        store: &Store,
        group: Uuid,
        is_new: bool,
        input: &Map<String, Value>,
    ) -> Result<()> {
        let snis = match sni_names(input)? {
            Some(names) => {
                let now = now_secs();
                let mut out = Vec::with_capacity(names.len());
                for name in names {
                    let mut one = Map::new();
                    one.insert("name".into(), Value::String(name));
                    out.push(Sni::from_input(
                        Uuid::new_v4(),
                        now,
                        Some(self.id),
                        None,
                        &one,
                    )?);
                }
                Some(out)
            }
            None => None,
        };
        store
            .save_certificate(group, self, is_new, snis.as_deref())
            .await
            .map_err(|e| match e {
                StoreError::Unique { column, .. } if column == "name" => WebError::Unique {
                    field: "snis".into(),
                    value: snis
                        .iter()
                        .flatten()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                },
                other => conflict(other, self),
            })
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

async fn build<T: Managed>(
    store: &Store,
    group: Uuid,
    id: Uuid,
    parent: Option<Uuid>,
    base: Option<&T>,
    input: &Map<String, Value>,
) -> Result<T> {
    let e = T::from_input(id, now_secs(), parent, base, &without_meta(input))?;
    e.check_refs(store, group).await?;
    Ok(e)
}

pub async fn create_entity<T: Managed>(
    store: &Store,
    group: Uuid,
    parent: Option<Uuid>,
    input: &Map<String, Value>,
) -> Result<T> {
    let id = id_from_input(input)?.unwrap_or_else(Uuid::new_v4);
    let e: T = build(store, group, id, parent, None, input).await?;
    e.save(store, group, true, input).await?;
    Ok(e)
}

pub async fn update_entity<T: Managed>(
    store: &Store,
    group: Uuid,
    key: &str,
    parent: Option<Uuid>,
    input: &Map<String, Value>,
) -> Result<T> {
    let existing: T = store.get_entity(group, key, parent).await?;
    let e: T = build(store, group, existing.id(), parent, Some(&existing), input).await?;
    e.save(store, group, false, input).await?;
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
    match store.get_entity::<T>(group, key, parent).await {
        Ok(existing) => {
            let mut e: T = build(store, group, existing.id(), parent, None, &input).await?;
            // Kong keeps the creation time of a replaced entity.
            if let Value::Object(mut m) = e.to_json() {
                m.insert("created_at".into(), Value::from(existing.created_at()));
                e = serde_json::from_value(Value::Object(m))
                    .map_err(|err| WebError::internal("re-reading an entity failed", err))?;
            }
            e.save(store, group, false, &input).await?;
            Ok(e)
        }
        Err(StoreError::NotFound) => {
            if name.is_some() && T::NAME_FIELD.is_none() {
                return Err(WebError::NotFound);
            }
            let e: T = build(
                store,
                group,
                id.unwrap_or_else(Uuid::new_v4),
                parent,
                None,
                &input,
            )
            .await?;
            e.save(store, group, true, &input).await?;
            Ok(e)
        }
        Err(e) => Err(e.into()),
    }
}

/// Deletes an entity; Kong answers 204 whether or not it existed.
pub async fn delete_entity<T: Managed>(
    store: &Store,
    group: Uuid,
    key: &str,
    parent: Option<Uuid>,
) -> Result<()> {
    match store.get_entity::<T>(group, key, parent).await {
        Ok(e) => {
            store.delete_entity::<T>(group, e.id()).await?;
            Ok(())
        }
        Err(StoreError::NotFound) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
