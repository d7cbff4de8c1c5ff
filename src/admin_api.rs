//! Kong-compatible Admin API (JSON over HTTP on 8001) for the default runtime group. Every
//! request needs a token (`Authorization: Bearer` or `Kong-Admin-Token`), also on loopback.

mod body;
mod config;
mod entities;
mod group;
mod history;
mod keys;
mod pagination;
mod plugins;
mod routes;
mod services;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, App, HttpResponse, HttpServer, ResponseError};
use serde_json::json;

use crate::domain::history::{Actor, ChangeSource, Channel};
use crate::proxy::Proxy;
use crate::security;
use crate::service::history::attributed;
use crate::store::Store;
use crate::web_error::WebError;

#[derive(Clone)]
pub struct State {
    pub store: Store,
    pub proxy: Arc<Proxy>,
    pub metrics: Arc<crate::telemetry::Metrics>,
    pub cluster: Arc<crate::cluster::ClusterInfo>,
}

/// The Admin API's rendering of [`WebError`]: Kong's JSON bodies.
#[derive(Debug)]
pub struct ApiError(pub WebError);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: Into<WebError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.0.status()
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.0.status()).json(self.0.kong_body())
    }
}

pub type ApiResult = Result<HttpResponse, ApiError>;

pub fn server(listener: TcpListener, state: State) -> anyhow::Result<Server> {
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(4 << 20))
            .wrap(actix_web::middleware::from_fn(require_token))
            .configure(configure)
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(root))
        .route("/status", web::get().to(status))
        .route("/metrics", web::get().to(metrics))
        .configure(services::configure)
        .configure(routes::configure)
        .configure(plugins::configure)
        .configure(entities::configure)
        .configure(config::configure)
        .configure(group::configure)
        .configure(config::configure_group)
        .configure(history::configure)
        // Every Kong entity path again under a runtime group's scope.
        .service(
            web::scope("/runtime-groups/{rg}/core-entities")
                .configure(services::configure)
                .configure(routes::configure)
                .configure(plugins::configure)
                .configure(entities::configure)
                .configure(config::configure),
        )
        .default_service(web::to(|| async {
            ApiError(WebError::NotFound).error_response()
        }));
}

async fn require_token(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let token = req
        .headers()
        .get("kong-admin-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .or_else(|| {
            req.headers()
                .get(actix_web::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .map(str::trim)
        })
        .map(str::to_string);
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(req.error_response(ApiError(WebError::Unauthorized)));
    };
    let Some(state) = req.app_data::<web::Data<State>>().cloned() else {
        return Ok(req.error_response(ApiError(WebError::internal(
            "admin state missing",
            "no app data",
        ))));
    };
    let hash = security::hash_token(&token);
    match state
        .store
        .run(move |s| async move { crate::service::identity::authenticate_token(&s, &hash).await })
        .await
    {
        Ok(Some((id, name))) => {
            // Every configuration change this request commits is recorded as the token's.
            let source = ChangeSource {
                actor: Actor::token(id, &name),
                channel: Channel::AdminApi,
                detail: format!("{} {}", req.method(), req.path()),
            };
            attributed(source, async move {
                Ok(next.call(req).await?.map_into_boxed_body())
            })
            .await
        }
        Ok(None) => Ok(req.error_response(ApiError(WebError::Unauthorized))),
        Err(e) => Ok(req.error_response(ApiError(WebError::from(e)))),
    }
}

async fn root() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "tagline": "Welcome to gatehouse",
        "version": env!("CARGO_PKG_VERSION"),
        "node_id": null,
        "configuration": { "database": "sqlite", "role": "traditional" },
    }))
}

async fn metrics(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::status::render_metrics(&state.proxy, &state.metrics))
}

async fn status(state: web::Data<State>) -> ApiResult {
    let store = state.store.clone();
    let reachable = store
        .run(move |s| async move { s.count_users().await })
        .await
        .is_ok();
    let cfg = state.proxy.current();
    Ok(HttpResponse::Ok().json(json!({
        "database": { "reachable": reachable },
        "configuration_hash": cfg.hash,
        "configuration_version": cfg.version,
        "server": { "routes": cfg.routes.len() },
    })))
}
