//! The one error type of the web layers. Its status codes are decided in exactly one `match`;
//! the Admin API renders it as Kong's JSON body and the console as an HTML page. Internal
//! errors are logged here, once, with their context, and never shown raw.

use actix_web::http::StatusCode;
use serde_json::{json, Value};

use crate::domain::FieldErrors;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("{0}")]
    Validation(FieldErrors),
    #[error("UNIQUE violation detected on '{{{field}=\"{value}\"}}'")]
    Unique { field: String, value: String },
    #[error(
        "the foreign key '{{{key}=\"{value}\"}}' does not reference an existing 'services' entity."
    )]
    MissingService { key: String, value: String },
    #[error("the foreign key '{{id=\"{id}\"}}' does not reference an existing '{entity}' entity.")]
    MissingReference {
        field: String,
        entity: &'static str,
        id: String,
    },
    #[error("an existing '{0}' entity references this entity")]
    StillReferenced(String),
    /// A declarative document refused (Kong's code 14); `flatten` adds Kong's
    /// `flattened_errors` list, as `?flatten_errors=1` asks.
    #[error("{error}")]
    Declarative {
        error: Box<crate::domain::declarative::DeclarativeError>,
        flatten: bool,
    },
    #[error("Not found")]
    NotFound,
    #[error("Invalid credentials. Token or User credentials required")]
    Unauthorized,
    /// The console needs a session for this page; the path (and query) it was asked at, so
    /// logging in can return there.
    #[error("Invalid credentials. Token or User credentials required")]
    LoginRequired(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    TooManyRequests(String),
    /// The change was based on a state that has moved on; nothing was changed.
    #[error("{0}")]
    Conflict(String),
    #[error("The request body is too large: at most {0} bytes are accepted.")]
    PayloadTooLarge(usize),
    /// The database cannot be reached; the request changed nothing and may be retried.
    #[error("The database is unavailable; nothing was changed. Try again shortly.")]
    Unavailable,
    #[error("An unexpected error occurred")]
    Internal(String),
}

impl WebError {
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::Validation(_)
            | WebError::MissingService { .. }
            | WebError::MissingReference { .. }
            | WebError::StillReferenced(_)
            | WebError::Declarative { .. }
            | WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Unique { .. } | WebError::Conflict(_) => StatusCode::CONFLICT,
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::Unauthorized | WebError::LoginRequired(_) => StatusCode::UNAUTHORIZED,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            WebError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn internal(context: &str, e: impl std::fmt::Display) -> WebError {
        tracing::error!(error = %e, "{context}");
        WebError::Internal(context.to_string())
    }

    /// Kong's Admin API error body.
    pub fn kong_body(&self) -> Value {
        match self {
            WebError::Validation(f) => json!({
                "code": 2, "name": "schema violation", "message": f.summary(), "fields": fields_json(f),
            }),
            WebError::Unique { field, value } => json!({
                "code": 5, "name": "unique constraint violation", "message": self.to_string(), "fields": { field: value },
            }),
            WebError::MissingService { key, value } => json!({
                "code": 4, "name": "foreign key violation", "message": self.to_string(), "fields": { "service": { key: value } },
            }),
            WebError::MissingReference { field, id, .. } => json!({
                "code": 4, "name": "foreign key violation", "message": self.to_string(), "fields": { field: { "id": id } },
            }),
            WebError::StillReferenced(by) => json!({
                "code": 4, "name": "foreign key violation", "message": format!("an existing '{by}' entity references this 'services' entity"),
                "fields": { "@referenced_by": by },
            }),
            WebError::Declarative { error, flatten } => {
                let mut body = json!({
                    "code": 14, "name": "invalid declarative configuration",
                    "message": error.message(), "fields": error.fields(),
                });
                if *flatten {
                    body["flattened_errors"] = error.flattened();
                }
                body
            }
            other => json!({ "message": other.to_string() }),
        }
    }
}

fn fields_json(f: &FieldErrors) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in &f.0 {
        // Kong nests errors inside records: `config.redis.host` is `fields.config.redis.host`.
        let parts: Vec<&str> = if k.starts_with("config.") {
            k.split('.').collect()
        } else {
            vec![k.as_str()]
        };
        insert_path(&mut m, &parts, v);
    }
    Value::Object(m)
}

fn insert_path(m: &mut serde_json::Map<String, Value>, parts: &[&str], v: &str) {
    match parts {
        [] => {}
        [last] if *last == "@entity" => {
            m.insert(last.to_string(), json!([v]));
        }
        [last] => {
            m.insert(last.to_string(), json!(v));
        }
        [first, rest @ ..] => {
            let next = m.entry(first.to_string()).or_insert_with(|| json!({}));
            if !next.is_object() {
                *next = json!({});
            }
            if let Value::Object(o) = next {
                insert_path(o, rest, v);
            }
        }
    }
}

/// The service layer's refusals, mapped once onto what the web edge shows.
impl From<crate::service::ServiceError> for WebError {
    fn from(e: crate::service::ServiceError) -> Self {
        use crate::service::ServiceError as S;
        match e {
            S::Validation(f) => WebError::Validation(f),
            S::Unique { field, value } => WebError::Unique { field, value },
            S::MissingService { key, value } => WebError::MissingService { key, value },
            S::MissingReference { field, entity, id } => {
                WebError::MissingReference { field, entity, id }
            }
            S::StillReferenced(by) => WebError::StillReferenced(by),
            S::Declarative(error) => WebError::Declarative {
                error,
                flatten: false,
            },
            S::NotFound => WebError::NotFound,
            S::Refused(msg) => WebError::BadRequest(msg),
            S::Stale(v) => WebError::Conflict(format!(
                "The configuration changed after version {v}; nothing was applied. Review the changes again."
            )),
            S::Unavailable(reason) => {
                tracing::warn!(error = %reason, "database unavailable");
                WebError::Unavailable
            }
            S::Internal { context, detail } => WebError::internal(&context, detail),
        }
    }
}

impl From<FieldErrors> for WebError {
    fn from(f: FieldErrors) -> Self {
        WebError::Validation(f)
    }
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => WebError::NotFound,
            StoreError::Unavailable(reason) => {
                tracing::warn!(error = %reason, "database unavailable");
                WebError::Unavailable
            }
            StoreError::ForeignKey => WebError::StillReferenced("routes".into()),
            StoreError::Unique { column, .. } => WebError::Unique {
                field: column,
                value: String::new(),
            },
            other => WebError::internal("storage operation failed", other),
        }
    }
}
