//! Service Hub catalog: services (catalog entries), their versions, and runtime groups.

use std::collections::BTreeMap;

use serde::Serialize;
use uuid::Uuid;

use super::{labels, names, FieldErrors};

pub use super::runtime::RuntimeGroup;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CatalogService {
    pub id: Uuid,
    pub display_name: String,
    pub name: String,
    pub description: String,
    /// Konnect's labels: at most 5 `key:value` pairs (see [`labels`]).
    pub labels: BTreeMap<String, String>,
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

/// Validated input for a new catalog service, or for editing one (then `name`, the key, is
/// what the display name would derive; the stored key does not change, see
/// [`crate::service::catalog::update_service`]).
#[derive(Debug, Clone)]
pub struct NewCatalogService {
    pub display_name: String,
    pub name: String,
    pub description: String,
    pub labels: BTreeMap<String, String>,
}

impl NewCatalogService {
    pub fn parse(display_name: &str, description: &str) -> Result<Self, FieldErrors> {
        Self::parse_with_labels(display_name, description, "")
    }

    /// `labels` in the console's text form (`key:value`, comma or line separated).
    pub fn parse_with_labels(
        display_name: &str,
        description: &str,
        labels: &str,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        if let Err(msg) = names::check_display_name(display_name) {
            errors.add("display_name", msg);
        }
        if description.len() > 1000 {
            errors.add("description", "Description must be at most 1000 characters");
        }
        let labels = labels::parse_labels(labels).unwrap_or_else(|msg| {
            errors.add("labels", msg);
            BTreeMap::new()
        });
        errors.into_result(Self {
            display_name: display_name.trim().to_string(),
            name: names::slugify(display_name),
            description: description.trim().to_string(),
            labels,
        })
    }
}

/// A version's lifecycle status, as Konnect's "Edit version status" offers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionStatus {
    Published,
    Deprecated,
    Unpublished,
}

impl VersionStatus {
    pub const ALL: [VersionStatus; 3] = [
        VersionStatus::Published,
        VersionStatus::Deprecated,
        VersionStatus::Unpublished,
    ];

    pub fn parse(s: &str) -> Result<VersionStatus, FieldErrors> {
        match s.trim() {
            "published" => Ok(VersionStatus::Published),
            "deprecated" => Ok(VersionStatus::Deprecated),
            "unpublished" => Ok(VersionStatus::Unpublished),
            _ => Err(FieldErrors::single(
                "status",
                "Choose published, deprecated or unpublished",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Published => "published",
            VersionStatus::Deprecated => "deprecated",
            VersionStatus::Unpublished => "unpublished",
        }
    }

    /// The word the console shows.
    pub fn label(self) -> &'static str {
        match self {
            VersionStatus::Published => "Published",
            VersionStatus::Deprecated => "Deprecated",
            VersionStatus::Unpublished => "Unpublished",
        }
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

const KONNECT_SERVICE_TAG: &str = "_KonnectService:";

/// The tag that links a gateway service to its catalog service, as Konnect writes it.
pub fn konnect_service_tag(service_name: &str) -> String {
    format!("{KONNECT_SERVICE_TAG}{service_name}")
}

/// The catalog service a gateway service's tags name (`_KonnectService:<name>`), if any: the
/// first such tag whose name is a valid display name.
pub fn konnect_service_of(tags: Option<&[String]>) -> Option<&str> {
    tags?
        .iter()
        .filter_map(|t| t.strip_prefix(KONNECT_SERVICE_TAG))
        .find(|n| names::check_display_name(n).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_check_labels_and_versions_their_status() {
        let e = NewCatalogService::parse_with_labels("Pay", "", "kong:x").expect_err("reserved");
        assert!(e.get("labels").is_some());
        let e = NewCatalogService::parse_with_labels("", "", "a:1,b:2,c:3,d:4,e:5,f:6")
            .expect_err("bad");
        assert!(e.get("labels").is_some() && e.get("display_name").is_some());
        let ok = NewCatalogService::parse_with_labels("My API", "d", "env:prod").expect("valid");
        assert_eq!((ok.name.as_str(), ok.labels.len()), ("my-api", 1));
        assert_eq!(
            VersionStatus::parse("deprecated").map(VersionStatus::as_str),
            Ok("deprecated")
        );
        assert!(VersionStatus::parse("retired").is_err());
    }

    #[test]
    fn konnect_tag_names_the_catalog_service() {
        let tags = vec!["x".to_string(), konnect_service_tag("billing")];
        assert_eq!(konnect_service_of(Some(&tags)), Some("billing"));
        assert_eq!(konnect_service_of(Some(&["_KonnectService:".into()])), None);
        assert_eq!(konnect_service_of(None), None);
    }
}
