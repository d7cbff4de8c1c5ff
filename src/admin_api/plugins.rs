//! Plugins scoped by path (`/services/{s}/plugins`, `/routes/{r}/plugins`), the list of enabled
//! plugins and their schemas. `/plugins` and `/plugins/{id}` are the generic entity handlers.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::body;
use super::keys::{GroupKey, Key};
use super::{ApiResult, State};
use crate::domain::plugin_schemas::{self, Field};
use crate::domain::{Entity, GatewayService, Plugin, Route};
use crate::service;
use crate::web_error::WebError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/plugins/enabled").get(enabled))
        .service(web::resource("/schemas/plugins/{name}").get(plugin_schema))
        .service(
            web::resource("/services/{service}/plugins")
                .get(list_scoped::<GatewayService>)
                .post(create_scoped::<GatewayService>),
        )
        .service(
            web::resource("/routes/{route}/plugins")
                .get(list_scoped::<Route>)
                .post(create_scoped::<Route>),
        );
}

/// The field of a plugin that names its scope of kind `T`.
fn scope_field<T: Entity>() -> &'static str {
    if T::KIND == Route::KIND {
        "route"
    } else {
        "service"
    }
}

async fn create_scoped<T: service::Managed>(
    state: web::Data<State>,
    rg: GroupKey,
    key: Key,
    req: HttpRequest,
    bytes: web::Bytes,
) -> ApiResult {
    let mut input = body::parse(&req, &bytes)?;
    let key = key.into_inner();
    let plugin = state
        .store
        .run(move |s| async move {
            let g = rg.id(&s).await?;
            let owner: T = s.get_entity(g, &key, None).await?;
            input.insert(scope_field::<T>().into(), json!({ "id": owner.id() }));
            service::create_entity::<Plugin>(&s, g, None, &input)
                .await
                .map_err(WebError::from)
        })
        .await?;
    Ok(HttpResponse::Created().json(plugin.to_json()))
}

async fn list_scoped<T: service::Managed>(
    state: web::Data<State>,
    rg: GroupKey,
    key: Key,
) -> ApiResult {
    let key = key.into_inner();
    let plugins = state
        .store
        .run(move |s| async move {
            let g = rg.id(&s).await?;
            let owner: T = s.get_entity(g, &key, None).await?;
            let all: Vec<Plugin> = s.list_all_entities(g, None).await?;
            Ok::<_, WebError>(
                all.into_iter()
                    .filter(|p| {
                        let scope = if T::KIND == Route::KIND {
                            &p.route
                        } else {
                            &p.service
                        };
                        scope.as_ref().is_some_and(|f| f.id == owner.id())
                    })
                    .map(|p| p.to_json())
                    .collect::<Vec<_>>(),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "data": plugins, "next": null })))
}

async fn enabled() -> HttpResponse {
    let names: Vec<&str> = plugin_schemas::ALL.iter().map(|s| s.name).collect();
    HttpResponse::Ok().json(json!({ "enabled_plugins": names }))
}

/// Kong's schema shape: `fields` as a list of one-key records, config nested as a record.
async fn plugin_schema(path: web::Path<String>) -> ApiResult {
    let name = path.into_inner();
    let schema = plugin_schemas::schema(&name).ok_or(WebError::NotFound)?;
    let config: Vec<Value> = schema
        .fields
        .iter()
        .map(|(n, f)| {
            let mut def = Map::new();
            match f {
                Field::Bool(d) => {
                    def.insert("type".into(), json!("boolean"));
                    def.insert("required".into(), json!(true));
                    def.insert("default".into(), json!(d));
                }
                Field::OptString => {
                    def.insert("type".into(), json!("string"));
                    def.insert("required".into(), json!(false));
                }
                Field::HeaderNames(d) => {
                    def.insert("type".into(), json!("array"));
                    def.insert("required".into(), json!(true));
                    def.insert("elements".into(), json!({ "type": "string" }));
                    def.insert("default".into(), json!(d));
                }
            }
            json!({ *n: def })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "fields": [
            { "consumer": { "type": "foreign", "reference": "consumers", "eq": if schema.consumer_allowed { Value::Null } else { json!(null) } } },
            { "protocols": { "type": "set", "default": ["grpc", "grpcs", "http", "https"] } },
            { "config": { "type": "record", "required": true, "fields": config } },
        ]
    })))
}
