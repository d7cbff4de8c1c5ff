//! Kong's `/config` (DB-less mode's endpoint, here for every runtime group): `POST` replaces
//! the group's whole configuration with a declarative document, `GET` returns the current one
//! as kong.yml in `{"config": "…"}`. The document comes as the raw body (YAML or JSON) or as
//! a `config` field of a JSON, form-encoded or multipart body, as Kong accepts it.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::{json, Map, Value};

use super::keys::GroupKey;
use super::{body, ApiResult, State};
use crate::domain::declarative::{self, DeclarativeError, Format, MAX_BYTES};
use crate::service::declarative as import;
use crate::service::ServiceError;
use crate::web_error::WebError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/config").get(get_config).post(post_config));
}

/// `/runtime-groups/{rg}/config`: the same for a named group.
pub fn configure_group(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/runtime-groups/{rg}/config")
            .get(get_config)
            .post(post_config),
    );
}

fn refused(e: DeclarativeError, flatten: bool) -> WebError {
    WebError::Declarative {
        error: Box::new(e),
        flatten,
    }
}

/// Kong's reading of a flag: `true`, `1`, `on`, `yes` (any case), or JSON true / 1.
fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::String(s)) => {
            matches!(s.to_ascii_lowercase().as_str(), "true" | "1" | "on" | "yes")
        }
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        _ => false,
    }
}

/// Reads the body, refusing more than [`MAX_BYTES`] as a declarative error (not a bare 413):
/// the size is part of what the caller needs to fix.
async fn read_body(payload: &mut web::Payload) -> Result<Vec<u8>, WebError> {
    let mut out = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| WebError::BadRequest(format!("reading the body failed: {e}")))?;
        if out.len() + chunk.len() > MAX_BYTES {
            return Err(refused(
                DeclarativeError::TooLarge {
                    size: out.len() + chunk.len(),
                    limit: MAX_BYTES,
                },
                false,
            ));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn no_config() -> WebError {
    WebError::BadRequest("expected a declarative configuration".into())
}

/// The document a request carries, and whether it asks for flattened errors in its body.
fn document(req: &HttpRequest, bytes: &[u8]) -> Result<(Value, bool), WebError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| WebError::BadRequest("the declarative configuration is not UTF-8".into()))?;
    if text.trim().is_empty() {
        return Err(no_config());
    }
    let ct = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let fields: Map<String, Value> = if ct.starts_with("application/json") {
        match declarative::parse(text, Format::Json).map_err(|e| refused(e, false))? {
            // The body is the document itself…
            Value::Object(m) if m.contains_key("_format_version") => {
                return Ok((Value::Object(m), false))
            }
            // …or carries it in `config`.
            Value::Object(m) => m,
            _ => return Err(no_config()),
        }
    } else if ct.starts_with("application/x-www-form-urlencoded")
        || ct.starts_with("multipart/form-data")
    {
        body::parse(req, bytes)?
    } else {
        // application/yaml, text/yaml, text/plain or nothing: the raw document.
        let doc = declarative::parse(text, Format::Yaml).map_err(|e| refused(e, false))?;
        return Ok((doc, false));
    };
    let flatten = truthy(fields.get("flatten_errors"));
    let doc = match fields.get("config") {
        Some(Value::String(s)) => {
            declarative::parse(s, Format::sniff(s)).map_err(|e| refused(e, flatten))?
        }
        Some(Value::Object(m)) => Value::Object(m.clone()),
        _ => return Err(no_config()),
    };
    Ok((doc, flatten))
}

async fn post_config(
    req: HttpRequest,
    mut payload: web::Payload,
    group: GroupKey,
    state: web::Data<State>,
) -> ApiResult {
    let query: Map<String, Value> = body::from_form(req.query_string().as_bytes());
    let flatten_query = truthy(query.get("flatten_errors"));
    let bytes = read_body(&mut payload).await.map_err(|e| match e {
        WebError::Declarative { error, .. } => WebError::Declarative {
            error,
            flatten: flatten_query,
        },
        other => other,
    })?;
    let (doc, flatten_body) = document(&req, &bytes).map_err(|e| match e {
        WebError::Declarative { error, .. } => WebError::Declarative {
            error,
            flatten: flatten_query,
        },
        other => other,
    })?;
    let flatten = flatten_query || flatten_body;
    // Kong's `check_hash=1`: a document identical to what runs is answered 304.
    let check_hash = query.get("check_hash").and_then(Value::as_str) == Some("1");
    let store = state.store.clone();
    let imported = store
        .run(move |s| async move {
            let g = group.id(&s).await?;
            import::import_at(&s, g, doc, None).await
        })
        .await
        .map_err(|e: ServiceError| match WebError::from(e) {
            WebError::Declarative { error, .. } => WebError::Declarative { error, flatten },
            other => other,
        })?;
    for w in &imported.loaded.warnings {
        tracing::warn!(warning = %w, "declarative import skipped part of the document");
    }
    if check_hash && imported.version.is_none() {
        return Ok(HttpResponse::NotModified().finish());
    }
    Ok(HttpResponse::Created().json(import::loaded_entities(&imported.loaded.config)))
}

async fn get_config(group: GroupKey, state: web::Data<State>) -> ApiResult {
    let store = state.store.clone();
    let yaml = store
        .run(move |s| async move {
            let g = group.id(&s).await?;
            import::export(&s, g).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "config": yaml })))
}
