//! Configuration changes shared by the console and the Admin API: resolve references, build
//! domain entities, store them, and turn storage conflicts into Kong's errors. Synchronous;
//! callers run it on the blocking pool through `Store::run`.

mod entities;
pub mod runtime;

pub use entities::{
    create_entity, delete_entity, present_one, update_entity, upsert_entity, Managed,
};

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::domain::route::{service_ref, ServiceRef};
use crate::domain::{now_secs, GatewayService, Route};
use crate::store::{Store, StoreError};
use crate::web_error::WebError;

pub type Result<T> = std::result::Result<T, WebError>;

fn unique(e: StoreError, field: &str, value: Option<&str>) -> WebError {
    match e {
        StoreError::Unique { column, .. } if column == field => WebError::Unique {
            field: field.into(),
            value: value.unwrap_or("").into(),
        },
        StoreError::Unique { column, .. } if column == "id" => WebError::Unique {
            field: "id".into(),
            value: String::new(),
        },
        other => other.into(),
    }
}

/// A path segment `{id|name}`: an id when it parses as a UUID, otherwise a name.
fn key_parts(key: &str) -> (Option<Uuid>, Option<String>) {
    match Uuid::parse_str(key) {
        Ok(id) => (Some(id), None),
        Err(_) => (None, Some(key.to_string())),
    }
}

fn id_from_input(input: &Map<String, Value>) -> Result<Option<Uuid>> {
    match input.get("id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Uuid::parse_str(s).map(Some).map_err(|_| {
            WebError::Validation(crate::domain::FieldErrors::single(
                "id",
                "expected a valid UUID",
            ))
        }),
        Some(_) => Err(WebError::Validation(crate::domain::FieldErrors::single(
            "id",
            "expected a string",
        ))),
    }
}

fn without_meta(input: &Map<String, Value>) -> Map<String, Value> {
    let mut m = input.clone();
    for k in ["id", "created_at", "updated_at"] {
        m.remove(k);
    }
    m
}

pub fn build_service(
    existing: Option<&GatewayService>,
    id: Uuid,
    input: &Map<String, Value>,
) -> Result<GatewayService> {
    Ok(GatewayService::from_input(
        id,
        now_secs(),
        existing,
        &without_meta(input),
    )?)
}

pub async fn create_service(
    store: &Store,
    group: Uuid,
    input: &Map<String, Value>,
) -> Result<GatewayService> {
    let id = id_from_input(input)?.unwrap_or_else(Uuid::new_v4);
    let svc = build_service(None, id, input)?;
    store
        .insert_gateway_service(group, &svc)
        .await
        .map_err(|e| unique(e, "name", svc.name.as_deref()))?;
    Ok(svc)
}

pub async fn update_service(
    store: &Store,
    group: Uuid,
    key: &str,
    input: &Map<String, Value>,
) -> Result<GatewayService> {
    let existing = store.get_gateway_service(group, key).await?;
    let svc = build_service(Some(&existing), existing.id, input)?;
    store
        .update_gateway_service(group, &svc)
        .await
        .map_err(|e| unique(e, "name", svc.name.as_deref()))?;
    Ok(svc)
}

/// PUT: replaces the service named by `key`, or creates it with that id or name.
pub async fn upsert_service(
    store: &Store,
    group: Uuid,
    key: &str,
    input: &Map<String, Value>,
) -> Result<GatewayService> {
    let mut input = input.clone();
    let (id, name) = key_parts(key);
    if let Some(n) = &name {
        input.insert("name".into(), Value::String(n.clone()));
    }
    match store.get_gateway_service(group, key).await {
        Ok(existing) => {
            let mut svc = build_service(None, existing.id, &input)?;
            svc.created_at = existing.created_at;
            store
                .update_gateway_service(group, &svc)
                .await
                .map_err(|e| unique(e, "name", svc.name.as_deref()))?;
            Ok(svc)
        }
        Err(StoreError::NotFound) => {
            let svc = build_service(None, id.unwrap_or_else(Uuid::new_v4), &input)?;
            store
                .insert_gateway_service(group, &svc)
                .await
                .map_err(|e| unique(e, "name", svc.name.as_deref()))?;
            Ok(svc)
        }
        Err(e) => Err(e.into()),
    }
}

/// Deletes a service; Kong answers 204 whether or not it existed.
pub async fn delete_service(store: &Store, group: Uuid, key: &str) -> Result<()> {
    match store.get_gateway_service(group, key).await {
        Ok(svc) => {
            store.delete_gateway_service(group, svc.id).await?;
            Ok(())
        }
        Err(StoreError::NotFound) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Resolves the route body's `service` (`{"id"}` or `{"name"}`) to a service of the group.
pub async fn resolve_service(
    store: &Store,
    group: Uuid,
    input: &Map<String, Value>,
) -> Result<Option<Option<Uuid>>> {
    if !input.contains_key("service") {
        return Ok(None);
    }
    let found = match service_ref(input)? {
        None => return Ok(Some(None)),
        Some(ServiceRef::Id(id)) => store
            .get_gateway_service(group, &id.to_string())
            .await
            .map_err(|_| WebError::MissingService {
                key: "id".into(),
                value: id.to_string(),
            })?,
        Some(ServiceRef::Name(n)) => {
            store
                .get_gateway_service(group, &n)
                .await
                .map_err(|_| WebError::MissingService {
                    key: "name".into(),
                    value: n.clone(),
                })?
        }
    };
    Ok(Some(Some(found.id)))
}

pub fn build_route(
    existing: Option<&Route>,
    id: Uuid,
    input: &Map<String, Value>,
    service: Option<Uuid>,
) -> Result<Route> {
    let mut m = without_meta(input);
    m.remove("service");
    Ok(Route::from_input(id, now_secs(), existing, &m, service)?)
}

/// Creates a route; `forced_service` is the service of a nested path (`/services/x/routes`).
pub async fn create_route(
    store: &Store,
    group: Uuid,
    input: &Map<String, Value>,
    forced_service: Option<Uuid>,
) -> Result<Route> {
    let service = match forced_service {
        Some(s) => Some(s),
        None => resolve_service(store, group, input).await?.flatten(),
    };
    let id = id_from_input(input)?.unwrap_or_else(Uuid::new_v4);
    let route = build_route(None, id, input, service)?;
    store
        .insert_route(group, &route)
        .await
        .map_err(|e| unique(e, "name", route.name.as_deref()))?;
    Ok(route)
}

pub async fn update_route(
    store: &Store,
    group: Uuid,
    key: &str,
    input: &Map<String, Value>,
) -> Result<Route> {
    let existing = store.get_route(group, key).await?;
    let service = match resolve_service(store, group, input).await? {
        Some(s) => s,
        None => existing.service.as_ref().map(|s| s.id),
    };
    let route = build_route(Some(&existing), existing.id, input, service)?;
    store
        .update_route(group, &route)
        .await
        .map_err(|e| unique(e, "name", route.name.as_deref()))?;
    Ok(route)
}

pub async fn upsert_route(
    store: &Store,
    group: Uuid,
    key: &str,
    input: &Map<String, Value>,
) -> Result<Route> {
    let mut input = input.clone();
    let (id, name) = key_parts(key);
    if let Some(n) = &name {
        input.insert("name".into(), Value::String(n.clone()));
    }
    let service = resolve_service(store, group, &input).await?.flatten();
    match store.get_route(group, key).await {
        Ok(existing) => {
            let mut route = build_route(None, existing.id, &input, service)?;
            route.created_at = existing.created_at;
            store
                .update_route(group, &route)
                .await
                .map_err(|e| unique(e, "name", route.name.as_deref()))?;
            Ok(route)
        }
        Err(StoreError::NotFound) => {
            let route = build_route(None, id.unwrap_or_else(Uuid::new_v4), &input, service)?;
            store
                .insert_route(group, &route)
                .await
                .map_err(|e| unique(e, "name", route.name.as_deref()))?;
            Ok(route)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn delete_route(store: &Store, group: Uuid, key: &str) -> Result<()> {
    match store.get_route(group, key).await {
        Ok(r) => {
            store.delete_route(group, r.id).await?;
            Ok(())
        }
        Err(StoreError::NotFound) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
