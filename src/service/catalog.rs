//! The Service Hub catalog: catalog services, their versions, and a version's implementation
//! (a gateway service, its first route and the link, created and removed together).

use uuid::Uuid;

use super::{Result, ServiceError};
use crate::domain::catalog::{CatalogService, NewCatalogService, ServiceVersion};
use crate::domain::{GatewayService, Route};
use crate::store::{Store, StoreError};

pub async fn create_service(store: &Store, new: &NewCatalogService) -> Result<CatalogService> {
    store
        .insert_catalog_service(new)
        .await
        .map_err(|e| match e {
            StoreError::Unique { .. } => ServiceError::Unique {
                field: "name".into(),
                value: new.name.clone(),
            },
            other => other.into(),
        })
}

/// Deletes a catalog service with all its versions, their gateway services and routes.
pub async fn delete_service(store: &Store, id: Uuid) -> Result<()> {
    Ok(store.delete_catalog_service(id).await?)
}

pub async fn create_version(
    store: &Store,
    service: Uuid,
    name: &str,
    group: Uuid,
) -> Result<ServiceVersion> {
    store
        .insert_version(service, name, group)
        .await
        .map_err(|e| match e {
            StoreError::Unique { .. } => ServiceError::Unique {
                field: "name".into(),
                value: name.to_string(),
            },
            other => other.into(),
        })
}

/// Deletes a version and its implementation.
pub async fn delete_version(store: &Store, version: &ServiceVersion) -> Result<()> {
    Ok(store.delete_version(version).await?)
}

/// Creates the version's gateway service, its first route and the link, all or nothing. A
/// taken name is reported as [`StoreError::Unique`] on the table it belongs to, so the dialog
/// can put the message beside the right field.
pub async fn create_implementation(
    store: &Store,
    version: &ServiceVersion,
    svc: &GatewayService,
    route: &Route,
) -> std::result::Result<(), StoreError> {
    store.create_implementation(version, svc, route).await
}

/// Removes a version's implementation, keeping the version.
pub async fn delete_implementation(store: &Store, version: &ServiceVersion) -> Result<()> {
    Ok(store.delete_implementation(version).await?)
}
