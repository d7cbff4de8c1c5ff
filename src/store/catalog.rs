//! Service Hub catalog: catalog services, versions and their implementations.

use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use super::gateway::{delete_service_cascade_tx, insert_route_tx, insert_service_tx};
use super::{uuid_col, Store, StoreError, StoreResult};
use crate::domain::catalog::{CatalogService, NewCatalogService, ServiceVersion};
use crate::domain::{now_secs, GatewayService, Route};

const SERVICE_COLS: &str = "id, display_name, name, description, created_at, updated_at";
const VERSION_COLS: &str =
    "id, service_id, name, runtime_group_id, gateway_service_id, status, created_at, updated_at";

fn service_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CatalogService> {
    Ok(CatalogService {
        id: uuid_col(r.get(0)?)?,
        display_name: r.get(1)?,
        name: r.get(2)?,
        description: r.get(3)?,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

fn version_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ServiceVersion> {
    Ok(ServiceVersion {
        id: uuid_col(r.get(0)?)?,
        service_id: uuid_col(r.get(1)?)?,
        name: r.get(2)?,
        runtime_group_id: uuid_col(r.get(3)?)?,
        gateway_service_id: r.get::<_, Option<String>>(4)?.map(uuid_col).transpose()?,
        status: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

impl Store {
    /// Catalog services whose display name contains `filter` (case-insensitive), by name.
    pub fn list_catalog_services(&self, filter: &str) -> StoreResult<Vec<(CatalogService, i64)>> {
        let conn = self.lock();
        let pattern = format!(
            "%{}%",
            filter
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let mut stmt = conn.prepare(&format!(
            "SELECT {SERVICE_COLS}, (SELECT COUNT(*) FROM service_versions v WHERE v.service_id = s.id)
             FROM catalog_services s WHERE display_name LIKE ?1 ESCAPE '\\' ORDER BY display_name COLLATE NOCASE"
        ))?;
        let rows = stmt
            .query_map([pattern], |r| Ok((service_row(r)?, r.get::<_, i64>(6)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn insert_catalog_service(&self, new: &NewCatalogService) -> StoreResult<CatalogService> {
        let now = now_secs();
        let svc = CatalogService {
            id: Uuid::new_v4(),
            display_name: new.display_name.clone(),
            name: new.name.clone(),
            description: new.description.clone(),
            created_at: now,
            updated_at: now,
        };
        let conn = self.lock();
        conn.execute(
            &format!(
                "INSERT INTO catalog_services ({SERVICE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            ),
            params![
                svc.id.to_string(),
                svc.display_name,
                svc.name,
                svc.description,
                now,
                now
            ],
        )
        .map_err(StoreError::classify)?;
        Ok(svc)
    }

    pub fn get_catalog_service(&self, id: Uuid) -> StoreResult<CatalogService> {
        let conn = self.lock();
        conn.query_row(
            &format!("SELECT {SERVICE_COLS} FROM catalog_services WHERE id = ?1"),
            [id.to_string()],
            service_row,
        )
        .optional()?
        .ok_or(StoreError::NotFound)
    }

    /// Deletes a catalog service with all its versions, their gateway services and routes.
    pub fn delete_catalog_service(&self, id: Uuid) -> StoreResult<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let impls: Vec<String> = {
            let mut stmt = tx.prepare("SELECT gateway_service_id FROM service_versions WHERE service_id = ?1 AND gateway_service_id IS NOT NULL")?;
            let rows = stmt
                .query_map([id.to_string()], |r| r.get(0))?
                .collect::<Result<Vec<_>, _>>()?;
            rows
        };
        tx.execute(
            "DELETE FROM service_versions WHERE service_id = ?1",
            [id.to_string()],
        )?;
        for gs in &impls {
            delete_service_cascade_tx(&tx, gs)?;
        }
        let n = tx.execute(
            "DELETE FROM catalog_services WHERE id = ?1",
            [id.to_string()],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit()?;
        drop(conn);
        self.config_changed();
        Ok(())
    }

    pub fn list_versions(&self, service_id: Uuid) -> StoreResult<Vec<ServiceVersion>> {
        let conn = self.lock();
        let mut stmt = conn.prepare(&format!("SELECT {VERSION_COLS} FROM service_versions WHERE service_id = ?1 ORDER BY created_at, name"))?;
        let rows = stmt
            .query_map([service_id.to_string()], version_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn insert_version(
        &self,
        service_id: Uuid,
        name: &str,
        group: Uuid,
    ) -> StoreResult<ServiceVersion> {
        let now = now_secs();
        let v = ServiceVersion {
            id: Uuid::new_v4(),
            service_id,
            name: name.to_string(),
            runtime_group_id: group,
            gateway_service_id: None,
            status: "published".into(),
            created_at: now,
            updated_at: now,
        };
        let conn = self.lock();
        conn.execute(
            &format!("INSERT INTO service_versions ({VERSION_COLS}) VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6, ?6)"),
            params![v.id.to_string(), service_id.to_string(), v.name, group.to_string(), v.status, now],
        )
        .map_err(StoreError::classify)?;
        Ok(v)
    }

    pub fn get_version(&self, service_id: Uuid, version_id: Uuid) -> StoreResult<ServiceVersion> {
        let conn = self.lock();
        conn.query_row(
            &format!(
                "SELECT {VERSION_COLS} FROM service_versions WHERE id = ?1 AND service_id = ?2"
            ),
            [version_id.to_string(), service_id.to_string()],
            version_row,
        )
        .optional()?
        .ok_or(StoreError::NotFound)
    }

    /// Deletes a version and its implementation (gateway service and routes).
    pub fn delete_version(&self, version: &ServiceVersion) -> StoreResult<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM service_versions WHERE id = ?1",
            [version.id.to_string()],
        )?;
        if let Some(gs) = version.gateway_service_id {
            delete_service_cascade_tx(&tx, &gs.to_string())?;
        }
        tx.commit()?;
        drop(conn);
        self.config_changed();
        Ok(())
    }

    /// Creates a version's implementation: the gateway service, its first route and the link,
    /// all or nothing.
    pub fn create_implementation(
        &self,
        version: &ServiceVersion,
        svc: &GatewayService,
        route: &Route,
    ) -> StoreResult<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let linked: Option<Option<String>> = tx
            .query_row(
                "SELECT gateway_service_id FROM service_versions WHERE id = ?1",
                [version.id.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        match linked {
            None => return Err(StoreError::NotFound),
            Some(Some(_)) => {
                return Err(StoreError::Unique {
                    table: "service_versions".into(),
                    column: "gateway_service_id".into(),
                })
            }
            Some(None) => {}
        }
        insert_service_tx(&tx, version.runtime_group_id, svc)?;
        insert_route_tx(&tx, version.runtime_group_id, route)?;
        tx.execute(
            "UPDATE service_versions SET gateway_service_id = ?1, updated_at = ?2 WHERE id = ?3",
            params![svc.id.to_string(), now_secs(), version.id.to_string()],
        )?;
        tx.commit()?;
        drop(conn);
        self.config_changed();
        Ok(())
    }

    /// Removes a version's implementation, keeping the version.
    pub fn delete_implementation(&self, version: &ServiceVersion) -> StoreResult<()> {
        let Some(gs) = version.gateway_service_id else {
            return Ok(());
        };
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE service_versions SET gateway_service_id = NULL, updated_at = ?1 WHERE id = ?2",
            params![now_secs(), version.id.to_string()],
        )?;
        delete_service_cascade_tx(&tx, &gs.to_string())?;
        tx.commit()?;
        drop(conn);
        self.config_changed();
        Ok(())
    }
}
