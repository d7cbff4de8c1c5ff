//! Plugins scoped by path (`/services/{s}/plugins`, `/routes/{r}/plugins`,
//! `/consumers/{c}/plugins`), the list of enabled
//! plugins and their schemas. `/plugins` and `/plugins/{id}` are the generic entity handlers.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::body;
use super::keys::{GroupKey, Key};
use super::{ApiResult, State};
use crate::domain::plugin_schemas::{self, Field, Ty};
use crate::domain::{Consumer, Entity, GatewayService, Plugin, Route};
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
        )
        .service(
            web::resource("/consumers/{consumer}/plugins")
                .get(list_scoped::<Consumer>)
                .post(create_scoped::<Consumer>),
        );
}

/// The field of a plugin that names its scope of kind `T`.
fn scope_field<T: Entity>() -> &'static str {
    if T::KIND == Route::KIND {
        "route"
    } else if T::KIND == Consumer::KIND {
        "consumer"
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
                        let scope = match scope_field::<T>() {
                            "route" => &p.route,
                            "consumer" => &p.consumer,
                            _ => &p.service,
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
    let consumer = if schema.consumer_allowed {
        json!({ "type": "foreign", "reference": "consumers" })
    } else {
        json!({ "type": "foreign", "reference": "consumers", "eq": null })
    };
    Ok(HttpResponse::Ok().json(json!({
        "fields": [
            { "consumer": consumer },
            { "protocols": { "type": "set", "default": ["grpc", "grpcs", "http", "https"], "elements": { "type": "string", "one_of": ["grpc", "grpcs", "http", "https", "tcp", "tls", "udp", "ws", "wss"] } } },
            { "config": { "type": "record", "required": true, "fields": fields(schema.fields) } },
        ]
    })))
}

fn fields(list: &[Field]) -> Vec<Value> {
    list.iter()
        .map(|f| {
            let mut def = describe(&f.ty);
            def.insert("required".into(), json!(f.required));
            if let Some(d) = f.default.value() {
                def.insert("default".into(), d);
            }
            json!({ f.name: def })
        })
        .collect()
}

fn describe(ty: &Ty) -> Map<String, Value> {
    let mut def = Map::new();
    def.insert("type".into(), json!(ty.kong_name()));
    match ty {
        Ty::Integer {
            between: Some((lo, hi)),
        } => {
            def.insert("between".into(), json!([lo, hi]));
        }
        Ty::Number {
            between: Some((lo, hi)),
        } => {
            def.insert("between".into(), json!([lo, hi]));
        }
        Ty::String { one_of, .. } if !one_of.is_empty() => {
            def.insert("one_of".into(), json!(one_of));
        }
        Ty::Array { of, .. } => {
            def.insert("elements".into(), Value::Object(describe(of)));
        }
        Ty::Map { values } => {
            def.insert("keys".into(), json!({ "type": "string" }));
            def.insert("values".into(), Value::Object(describe(values)));
        }
        Ty::Record(inner) => {
            def.insert("fields".into(), Value::Array(fields(inner)));
        }
        _ => {}
    }
    def
}
