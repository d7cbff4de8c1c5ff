//! Runtime groups in the Admin API: Konnect-style `/runtime-groups` and their node credentials
//! and nodes, plus `/runtime-groups/{id}/core-entities/...`, which serves the same Kong entity
//! endpoints as the top level, scoped to that group.

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use uuid::Uuid;

use super::keys::GroupKey;
use super::{body, ApiResult, State};
use crate::domain::now_secs;
use crate::domain::runtime::{
    parse_credential_days, parse_credential_name, DpCredential, RuntimeGroup, RuntimeGroupInput,
    RuntimeInstance,
};
use crate::service::runtime as groups;
use crate::store::NodeTraffic;
use crate::web_error::WebError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/runtime-groups")
            .get(list_groups)
            .post(create_group),
    )
    .service(
        web::resource("/runtime-groups/{rg}")
            .get(get_group)
            .patch(update_group)
            .delete(delete_group),
    )
    .service(
        web::resource("/runtime-groups/{rg}/dp-credentials")
            .get(list_credentials)
            .post(issue_credential),
    )
    .service(
        web::resource("/runtime-groups/{rg}/dp-credentials/{id}")
            .patch(update_credential)
            .delete(delete_credential),
    )
    .service(web::resource("/runtime-groups/{rg}/nodes").get(list_nodes))
    .service(web::resource("/runtime-groups/{rg}/nodes/{id}").delete(forget_node));
}

fn group_json(g: &RuntimeGroup, state: &State) -> Value {
    json!({
        "id": g.id,
        "name": g.name,
        "description": g.description,
        "labels": g.labels,
        "is_default": g.is_default,
        "config": { "control_plane_endpoint": state.cluster.url, "ca_fingerprint": state.cluster.ca_fingerprint },
        "created_at": g.created_at,
        "updated_at": g.updated_at,
    })
}

fn credential_json(c: &DpCredential) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "status": c.status(now_secs()),
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "expires_at": c.expires_at,
        "revoked_at": c.revoked_at,
    })
}

fn node_json(n: &RuntimeInstance, latest_hash: &str, traffic: NodeTraffic) -> Value {
    let now = now_secs();
    let sync = n.sync_status(now, env!("CARGO_PKG_VERSION"), latest_hash);
    json!({
        "id": n.id,
        "hostname": n.hostname,
        "ip": n.ip,
        "version": n.version,
        "config_hash": n.config_hash,
        "connected": n.is_connected(now),
        "first_seen": n.first_seen,
        "last_seen": n.last_seen,
        "embedded": n.embedded,
        "sync_status": sync.label(),
        "sync_reason": sync.reason(),
        "requests_24h": traffic.requests,
        "server_errors_24h": traffic.errors,
    })
}

fn str_field<'a>(
    obj: &'a serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, WebError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(WebError::Validation(crate::domain::FieldErrors::single(
            key,
            "expected a string",
        ))),
    }
}

/// Group input from a JSON or form body; for a PATCH, missing fields keep `current`'s values.
fn group_input(
    obj: &serde_json::Map<String, Value>,
    current: Option<&RuntimeGroup>,
) -> Result<RuntimeGroupInput, WebError> {
    let name = str_field(obj, "name")?
        .map(str::to_string)
        .or_else(|| current.map(|g| g.name.clone()))
        .unwrap_or_default();
    let description = str_field(obj, "description")?
        .map(str::to_string)
        .or_else(|| current.map(|g| g.description.clone()))
        .unwrap_or_default();
    let labels = match obj.get("labels") {
        None | Some(Value::Null) => current.map(|g| g.labels.clone()).unwrap_or_default(),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect::<BTreeMap<_, _>>(),
        Some(_) => {
            return Err(WebError::Validation(crate::domain::FieldErrors::single(
                "labels",
                "expected an object of string values",
            )))
        }
    };
    RuntimeGroupInput::from_parts(&name, &description, labels).map_err(WebError::Validation)
}

async fn list_groups(state: web::Data<State>) -> ApiResult {
    let groups = state
        .store
        .run(move |s| async move { s.list_runtime_groups().await })
        .await?;
    let data: Vec<Value> = groups.iter().map(|g| group_json(g, &state)).collect();
    Ok(HttpResponse::Ok().json(json!({ "data": data, "next": null })))
}

async fn create_group(state: web::Data<State>, req: HttpRequest, bytes: web::Bytes) -> ApiResult {
    let obj = body::parse(&req, &bytes)?;
    let input = group_input(&obj, None)?;
    let g = state
        .store
        .run(move |s| async move {
            groups::create_group(&s, &input)
                .await
                .map_err(crate::web_error::WebError::from)
        })
        .await?;
    Ok(HttpResponse::Created().json(group_json(&g, &state)))
}

async fn get_group(state: web::Data<State>, rg: GroupKey) -> ApiResult {
    let g = state
        .store
        .run(move |s| async move { s.get_runtime_group(rg.id(&s).await?).await })
        .await?;
    Ok(HttpResponse::Ok().json(group_json(&g, &state)))
}

async fn update_group(
    state: web::Data<State>,
    rg: GroupKey,
    req: HttpRequest,
    bytes: web::Bytes,
) -> ApiResult {
    let obj = body::parse(&req, &bytes)?;
    let g = state
        .store
        .run(move |s| async move {
            let current = s.get_runtime_group(rg.id(&s).await?).await?;
            let input = group_input(&obj, Some(&current))?;
            groups::update_group(&s, current.id, &input)
                .await
                .map_err(crate::web_error::WebError::from)
        })
        .await?;
    Ok(HttpResponse::Ok().json(group_json(&g, &state)))
}

async fn delete_group(state: web::Data<State>, rg: GroupKey) -> ApiResult {
    state
        .store
        .run(move |s| async move {
            groups::delete_group(&s, rg.id(&s).await?)
                .await
                .map_err(crate::web_error::WebError::from)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn list_credentials(state: web::Data<State>, rg: GroupKey) -> ApiResult {
    let creds = state
        .store
        .run(move |s| async move { s.list_dp_credentials(rg.id(&s).await?).await })
        .await?;
    let data: Vec<Value> = creds.iter().map(credential_json).collect();
    Ok(HttpResponse::Ok().json(json!({ "data": data, "next": null })))
}

async fn issue_credential(
    state: web::Data<State>,
    rg: GroupKey,
    req: HttpRequest,
    bytes: web::Bytes,
) -> ApiResult {
    let obj = body::parse(&req, &bytes)?;
    let name = parse_credential_name(str_field(&obj, "name")?.unwrap_or(""))?;
    let days = match obj.get("days") {
        Some(Value::Number(n)) => parse_credential_days(&n.to_string())?,
        Some(Value::String(s)) => parse_credential_days(s)?,
        _ => parse_credential_days("")?,
    };
    let (cred, token) = state
        .store
        .run(move |s| async move {
            groups::issue_credential(&s, rg.id(&s).await?, &name, days)
                .await
                .map_err(crate::web_error::WebError::from)
        })
        .await?;
    let mut body = credential_json(&cred);
    body["token"] = json!(token);
    body["control_plane"] = json!(state.cluster.url);
    body["ca_fingerprint"] = json!(state.cluster.ca_fingerprint);
    Ok(HttpResponse::Created().json(body))
}

async fn update_credential(
    state: web::Data<State>,
    rg: GroupKey,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    bytes: web::Bytes,
) -> ApiResult {
    let id = Uuid::parse_str(&path.1).map_err(|_| WebError::NotFound)?;
    let obj = body::parse(&req, &bytes)?;
    let revoke = matches!(obj.get("revoked"), Some(Value::Bool(true)))
        || obj.get("revoked").and_then(Value::as_str) == Some("true");
    let renew = match obj.get("renew_days") {
        Some(Value::Number(n)) => Some(parse_credential_days(&n.to_string())?),
        Some(Value::String(s)) => Some(parse_credential_days(s)?),
        _ => None,
    };
    let cred = state
        .store
        .run(move |s| async move {
            let g = rg.id(&s).await?;
            match (revoke, renew) {
                (true, _) => groups::revoke_credential(&s, g, id)
                    .await
                    .map_err(crate::web_error::WebError::from),
                (false, Some(days)) => groups::renew_credential(&s, g, id, days)
                    .await
                    .map_err(crate::web_error::WebError::from),
                (false, None) => Err(WebError::BadRequest(
                    "send {\"revoked\": true} or {\"renew_days\": N}".into(),
                )),
            }
        })
        .await?;
    Ok(HttpResponse::Ok().json(credential_json(&cred)))
}

async fn delete_credential(
    state: web::Data<State>,
    rg: GroupKey,
    path: web::Path<(String, String)>,
) -> ApiResult {
    let id = Uuid::parse_str(&path.1).map_err(|_| WebError::NotFound)?;
    let deleted = state
        .store
        .run(move |s| async move {
            let g = rg.id(&s).await?;
            groups::delete_credential(&s, g, id)
                .await
                .map_err(WebError::from)?;
            Ok::<_, WebError>(true)
        })
        .await?;
    if !deleted {
        return Err(WebError::NotFound.into());
    }
    Ok(HttpResponse::NoContent().finish())
}

async fn list_nodes(state: web::Data<State>, rg: GroupKey) -> ApiResult {
    let store = state.store.clone();
    let since = (now_secs() - 86_400) * 1000;
    let (group, nodes, traffic) = store
        .run(move |s| async move {
            let g = rg.id(&s).await?;
            Ok::<_, WebError>((
                g,
                s.list_instances(g).await?,
                s.node_traffic_since(since).await?,
            ))
        })
        .await?;
    let latest = crate::service::config::load(&state.store, group)
        .await
        .map_err(|e| WebError::internal("building the group snapshot failed", e))?;
    let data: Vec<Value> = nodes
        .iter()
        .map(|n| {
            node_json(
                n,
                &latest.hash,
                traffic.get(&n.id).copied().unwrap_or_default(),
            )
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "data": data, "next": null })))
}

async fn forget_node(
    state: web::Data<State>,
    rg: GroupKey,
    path: web::Path<(String, String)>,
) -> ApiResult {
    let id = Uuid::parse_str(&path.1).map_err(|_| WebError::NotFound)?;
    let forgotten = state
        .store
        .run(move |s| async move {
            let g = rg.id(&s).await?;
            groups::forget_instance(&s, g, id)
                .await
                .map_err(WebError::from)
        })
        .await?;
    if !forgotten {
        return Err(WebError::NotFound.into());
    }
    Ok(HttpResponse::NoContent().finish())
}
