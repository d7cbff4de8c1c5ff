//! The service layer: every write to the configuration, catalog, runtime groups and identities
//! goes through here, from the console, the Admin API and declarative imports alike.
//! One operation is one transaction; failures come back as [`ServiceError`], which the web
//! edge maps to HTML or Kong's JSON in one place. Handlers never write to the store directly.

pub mod catalog;
pub mod config;
pub mod declarative;
pub mod history;
pub mod identity;
mod kong;
pub mod records;
pub mod runtime;

pub use kong::{
    build, create_entity, delete_entity, present_one, save_built, update_entity, upsert_entity,
    Managed,
};

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::domain::FieldErrors;
use crate::store::StoreError;

/// Why an operation changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Validation(FieldErrors),
    /// Another entity already holds this unique value.
    #[error("UNIQUE violation detected on '{{{field}=\"{value}\"}}'")]
    Unique { field: String, value: String },
    /// A route names a service the group does not have.
    #[error(
        "the foreign key '{{{key}=\"{value}\"}}' does not reference an existing 'services' entity."
    )]
    MissingService { key: String, value: String },
    /// A reference (by id) to an entity the group does not have.
    #[error("the foreign key '{{id=\"{id}\"}}' does not reference an existing '{entity}' entity.")]
    MissingReference {
        field: String,
        entity: &'static str,
        id: String,
    },
    /// Entities of this kind still refer to the one being deleted.
    #[error("an existing '{0}' entity references this entity")]
    StillReferenced(String),
    /// A declarative document that does not parse or validate; nothing was applied.
    #[error("{0}")]
    Declarative(Box<crate::domain::declarative::DeclarativeError>),
    #[error("Not found")]
    NotFound,
    /// A rule of the product refuses the operation (the default group cannot be deleted, a
    /// group holds at most 16 node credentials).
    #[error("{0}")]
    Refused(String),
    /// The configuration moved on from the version the caller's change was based on.
    #[error("the configuration changed after version {0}")]
    Stale(u64),
    /// The database cannot be reached; nothing was changed.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("{context}: {detail}")]
    Internal { context: String, detail: String },
}

pub type Result<T> = std::result::Result<T, ServiceError>;

impl ServiceError {
    pub fn internal(context: &str, e: impl std::fmt::Display) -> ServiceError {
        ServiceError::Internal {
            context: context.to_string(),
            detail: e.to_string(),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ServiceError::NotFound,
            StoreError::ForeignKey => ServiceError::StillReferenced("routes".into()),
            StoreError::Unique { column, .. } => ServiceError::Unique {
                field: column,
                value: String::new(),
            },
            StoreError::Unavailable(reason) => ServiceError::Unavailable(reason),
            other => ServiceError::internal("storage operation failed", other),
        }
    }
}

impl From<FieldErrors> for ServiceError {
    fn from(f: FieldErrors) -> Self {
        ServiceError::Validation(f)
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
        Some(Value::String(s)) => Uuid::parse_str(s)
            .map(Some)
            .map_err(|_| FieldErrors::single("id", "expected a valid UUID").into()),
        Some(_) => Err(FieldErrors::single("id", "expected a string").into()),
    }
}

fn without_meta(input: &Map<String, Value>) -> Map<String, Value> {
    let mut m = input.clone();
    for k in ["id", "created_at", "updated_at"] {
        m.remove(k);
    }
    m
}
