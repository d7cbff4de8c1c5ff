//! The Service Hub catalog: catalog services, their versions, and a version's implementation
//! (a gateway service, its first route and the link, created and removed together).

use uuid::Uuid;

use super::{Result, ServiceError};
use crate::domain::catalog::{
    konnect_service_of, CatalogService, NewCatalogService, ServiceVersion, VersionStatus,
};
use crate::domain::{names, now_secs, GatewayService, Route};
use crate::store::catalog as db;
use crate::store::{Conn, Store, StoreError};

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

/// Edits a service's display name, description and labels, all or nothing. The key (`name`)
/// stays as it was created: implementations' `_KonnectService:<key>` tags and links keep
/// pointing at it. The new display name must not collide with another service's, spaces
/// counting as `-` (Konnect's rule), nor derive another service's key.
pub async fn update_service(
    store: &Store,
    id: Uuid,
    edit: &NewCatalogService,
) -> Result<CatalogService> {
    let mut tx = store.begin().await?;
    let all = db::list_all_catalog_services(&mut tx).await?;
    let Some(current) = all.iter().find(|s| s.id == id) else {
        return Err(ServiceError::NotFound);
    };
    let taken = all.iter().any(|s| {
        s.id != id && (s.name == edit.name || names::slugify(&s.display_name) == edit.name)
    });
    if taken {
        return Err(ServiceError::Unique {
            field: "display_name".into(),
            value: edit.display_name.clone(),
        });
    }
    let updated = CatalogService {
        display_name: edit.display_name.clone(),
        description: edit.description.clone(),
        labels: edit.labels.clone(),
        updated_at: now_secs(),
        ..current.clone()
    };
    db::update_catalog_service(&mut tx, &updated).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(updated)
}

/// Sets a version's lifecycle status (published / deprecated / unpublished).
pub async fn set_version_status(
    store: &Store,
    version: &ServiceVersion,
    status: VersionStatus,
) -> Result<()> {
    let mut tx = store.begin().await?;
    db::update_version_status(&mut tx, version.id, status.as_str()).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

/// Konnect's `_KonnectService:<name>` linkage, in the transaction that saves `svc`: a gateway
/// service tagged so, and implementing no version yet, becomes the implementation of a version
/// named after it (its name, else its id) in its runtime group, of the catalog service with key
/// `<name>`, which is created (display name `<name>`) when the catalog has none. A version of
/// that name already there and unlinked is linked; one linked elsewhere is left alone. A tag
/// that is no valid display name links nothing.
pub async fn link_tagged(conn: &mut Conn, group: Uuid, svc: &GatewayService) -> Result<()> {
    let Some(wanted) = konnect_service_of(svc.tags.as_deref()) else {
        return Ok(());
    };
    if db::version_of_gateway_service(conn, svc.id)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let key = names::slugify(wanted);
    let now = now_secs();
    let catalog = match db::get_catalog_service_by_name(conn, &key).await? {
        Some(c) => c,
        None => {
            let c = CatalogService {
                id: Uuid::new_v4(),
                display_name: wanted.to_string(),
                name: key,
                description: String::new(),
                labels: Default::default(),
                created_at: now,
                updated_at: now,
            };
            db::insert_catalog_service(conn, &c).await?;
            c
        }
    };
    let version_name = svc.name.clone().unwrap_or_else(|| svc.id.to_string());
    match db::find_version(conn, catalog.id, group, &version_name).await? {
        Some(v) if v.gateway_service_id.is_none() => db::link_version(conn, v.id, svc.id).await?,
        Some(_) => {}
        None => {
            let v = ServiceVersion {
                id: Uuid::new_v4(),
                service_id: catalog.id,
                name: version_name,
                runtime_group_id: group,
                gateway_service_id: Some(svc.id),
                status: VersionStatus::Published.as_str().into(),
                created_at: now,
                updated_at: now,
            };
            db::insert_linked_version(conn, &v).await?;
        }
    }
    Ok(())
}
