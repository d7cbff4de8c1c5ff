//! Service Hub catalog: services (catalog entries), their versions, and runtime groups.

use serde::Serialize;
use uuid::Uuid;

use super::{names, FieldErrors};

pub use super::runtime::RuntimeGroup;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CatalogService {
    pub id: Uuid,
    pub display_name: String,
    pub name: String,
    pub description: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ServiceVersion {
    pub id: Uuid,
    pub service_id: Uuid,
    pub name: String,
    pub runtime_group_id: Uuid,
    pub gateway_service_id: Option<Uuid>,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Validated input for a new catalog service.
#[derive(Debug, Clone)]
pub struct NewCatalogService {
    pub display_name: String,
    pub name: String,
    pub description: String,
}

impl NewCatalogService {
    pub fn parse(display_name: &str, description: &str) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        if let Err(msg) = names::check_display_name(display_name) {
            errors.add("display_name", msg);
        }
        if description.len() > 1000 {
            errors.add("description", "Description must be at most 1000 characters");
        }
        errors.into_result(Self {
            display_name: display_name.trim().to_string(),
            name: names::slugify(display_name),
            description: description.trim().to_string(),
        })
    }
}

/// A version name: free text (`v.1`, `1.0.0`), trimmed, non-empty.
pub fn parse_version_name(name: &str) -> Result<String, FieldErrors> {
    let name = name.trim();
    if name.is_empty() {
        return Err(FieldErrors::single("name", "Version name is required"));
    }
    if name.len() > 100 {
        return Err(FieldErrors::single(
            "name",
            "Version name must be at most 100 characters",
        ));
    }
    Ok(name.to_string())
}

/// The tag that links a gateway service to its catalog service, as Konnect writes it.
pub fn konnect_service_tag(service_name: &str) -> String {
    format!("_KonnectService:{service_name}")
}
