//! Service Hub catalog: catalog services, versions and their implementations.

use sqlx::any::AnyRow;
use uuid::Uuid;

use super::db::{classify, Conn, RowExt};
use super::entities::{delete_service_with_routes, insert_entity};
use super::{Store, StoreError, StoreResult};
use crate::domain::catalog::{CatalogService, NewCatalogService, ServiceVersion};
use crate::domain::{now_secs, GatewayService, Route};

const SERVICE_COLS: &str = "id, display_name, name, description, created_at, updated_at, labels";
const VERSION_COLS: &str =
    "id, service_id, name, runtime_group_id, gateway_service_id, status, created_at, updated_at";

fn service_row(r: &AnyRow) -> StoreResult<CatalogService> {
    Ok(CatalogService {
        id: r.uuid(0)?,
        display_name: r.text(1)?,
        name: r.text(2)?,
        description: r.text(3)?,
        created_at: r.int(4)?,
        updated_at: r.int(5)?,
        labels: serde_json::from_str(&r.text(6)?).unwrap_or_default(),
    })
}

fn version_row(r: &AnyRow) -> StoreResult<ServiceVersion> {
    Ok(ServiceVersion {
        id: r.uuid(0)?,
        service_id: r.uuid(1)?,
        name: r.text(2)?,
        runtime_group_id: r.uuid(3)?,
        gateway_service_id: r.opt_uuid(4)?,
        status: r.text(5)?,
        created_at: r.int(6)?,
        updated_at: r.int(7)?,
    })
}

impl Store {
    /// Every catalog service matching `filter` (see [`Store::list_catalog_services_page`]).
    pub async fn list_catalog_services(
        &self,
        filter: &str,
    ) -> StoreResult<Vec<(CatalogService, i64)>> {
        Ok(self
            .list_catalog_services_page(filter, 0, i64::MAX as u64)
            .await?
            .0)
    }

    /// One page of the catalog services whose display name, key or description contains
    /// `filter` (case-insensitive), by display name, each with its version count; and how many
    /// match in all.
    pub async fn list_catalog_services_page(
        &self,
        filter: &str,
        offset: u64,
        size: u64,
    ) -> StoreResult<(Vec<(CatalogService, i64)>, u64)> {
        let pattern = format!("%{}%", like_escape(&filter.to_lowercase()));
        let matching =
            "lower(display_name) LIKE $1 ESCAPE '\\' OR lower(name) LIKE $1 ESCAPE '\\' \
             OR lower(description) LIKE $1 ESCAPE '\\'";
        let sql = format!(
            "SELECT {SERVICE_COLS}, (SELECT COUNT(*) FROM service_versions v WHERE v.service_id = s.id)
             FROM catalog_services s WHERE {matching}
             ORDER BY lower(display_name), display_name LIMIT $2 OFFSET $3"
        );
        let rows = sqlx::query(&sql)
            .bind(&pattern)
            .bind(size.min(i64::MAX as u64) as i64)
            .bind(offset.min(i64::MAX as u64) as i64)
            .fetch_all(self.read())
            .await?;
        let page = rows
            .iter()
            .map(|r| Ok((service_row(r)?, r.int(7)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        let total: i64 = sqlx::query_scalar(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM catalog_services WHERE {matching}"
        ))
        .bind(&pattern)
        .fetch_one(self.read())
        .await?;
        Ok((page, total.max(0) as u64))
    }

    pub async fn insert_catalog_service(
        &self,
        new: &NewCatalogService,
    ) -> StoreResult<CatalogService> {
        let now = now_secs();
        let svc = CatalogService {
            id: Uuid::new_v4(),
            display_name: new.display_name.clone(),
            name: new.name.clone(),
            description: new.description.clone(),
            labels: new.labels.clone(),
            created_at: now,
            updated_at: now,
        };
        let mut conn = self.write_pool().acquire().await?;
        insert_catalog_service(&mut conn, &svc).await?;
        Ok(svc)
    }

    pub async fn get_catalog_service(&self, id: Uuid) -> StoreResult<CatalogService> {
        let sql = format!("SELECT {SERVICE_COLS} FROM catalog_services WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_optional(self.read())
            .await?
            .ok_or(StoreError::NotFound)?;
        service_row(&row)
    }

    /// Deletes a catalog service with all its versions, their gateway services and routes.
    pub async fn delete_catalog_service(&self, id: Uuid) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let impls = sqlx::query(
            "SELECT gateway_service_id FROM service_versions WHERE service_id = $1 AND gateway_service_id IS NOT NULL",
        )
        .bind(id.to_string())
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.text(0))
        .collect::<StoreResult<Vec<_>>>()?;
        // Every group a version of it lived in loses that version's implementation.
        let mut groups =
            sqlx::query("SELECT runtime_group_id FROM service_versions WHERE service_id = $1")
                .bind(id.to_string())
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.uuid(0))
                .collect::<StoreResult<Vec<_>>>()?;
        groups.sort();
        groups.dedup();
        sqlx::query("DELETE FROM service_versions WHERE service_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        for gs in &impls {
            delete_service_with_routes(&mut tx, gs).await?;
        }
        let n = sqlx::query("DELETE FROM catalog_services WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.commit_groups(tx, &groups).await.map(|_| ())
    }

    pub async fn list_versions(&self, service_id: Uuid) -> StoreResult<Vec<ServiceVersion>> {
        let sql = format!(
            "SELECT {VERSION_COLS} FROM service_versions WHERE service_id = $1 ORDER BY created_at, name"
        );
        let rows = sqlx::query(&sql)
            .bind(service_id.to_string())
            .fetch_all(self.read())
            .await?;
        rows.iter().map(version_row).collect()
    }

    pub async fn insert_version(
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
        let sql = format!(
            "INSERT INTO service_versions ({VERSION_COLS}) VALUES ($1, $2, $3, $4, NULL, $5, $6, $6)"
        );
        sqlx::query(&sql)
            .bind(v.id.to_string())
            .bind(service_id.to_string())
            .bind(&v.name)
            .bind(group.to_string())
            .bind(&v.status)
            .bind(now)
            .execute(self.write_pool())
            .await
            .map_err(|e| classify(e, "service_versions"))?;
        Ok(v)
    }

    pub async fn get_version(
        &self,
        service_id: Uuid,
        version_id: Uuid,
    ) -> StoreResult<ServiceVersion> {
        let sql = format!(
            "SELECT {VERSION_COLS} FROM service_versions WHERE id = $1 AND service_id = $2"
        );
        let row = sqlx::query(&sql)
            .bind(version_id.to_string())
            .bind(service_id.to_string())
            .fetch_optional(self.read())
            .await?
            .ok_or(StoreError::NotFound)?;
        version_row(&row)
    }

    /// Deletes a version and its implementation (gateway service and routes).
    pub async fn delete_version(&self, version: &ServiceVersion) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM service_versions WHERE id = $1")
            .bind(version.id.to_string())
            .execute(&mut *tx)
            .await?;
        if let Some(gs) = version.gateway_service_id {
            delete_service_with_routes(&mut tx, &gs.to_string()).await?;
        }
        self.commit(tx, version.runtime_group_id).await
    }

    /// Creates a version's implementation: the gateway service, its first route and the link,
    /// all or nothing.
    pub async fn create_implementation(
        &self,
        version: &ServiceVersion,
        svc: &GatewayService,
        route: &Route,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        create_implementation_tx(&mut tx, version, svc, route).await?;
        self.commit(tx, version.runtime_group_id).await
    }

    /// Removes a version's implementation, keeping the version.
    pub async fn delete_implementation(&self, version: &ServiceVersion) -> StoreResult<()> {
        let Some(gs) = version.gateway_service_id else {
            return Ok(());
        };
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE service_versions SET gateway_service_id = NULL, updated_at = $1 WHERE id = $2",
        )
        .bind(now_secs())
        .bind(version.id.to_string())
        .execute(&mut *tx)
        .await?;
        delete_service_with_routes(&mut tx, &gs.to_string()).await?;
        self.commit(tx, version.runtime_group_id).await
    }
}

pub async fn create_implementation_tx(
    conn: &mut Conn,
    version: &ServiceVersion,
    svc: &GatewayService,
    route: &Route,
) -> StoreResult<()> {
    let linked = sqlx::query("SELECT gateway_service_id FROM service_versions WHERE id = $1")
        .bind(version.id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    match linked {
        None => return Err(StoreError::NotFound),
        Some(row) if row.opt_text(0)?.is_some() => {
            return Err(StoreError::Unique {
                table: "service_versions".into(),
                column: "gateway_service_id".into(),
            })
        }
        Some(_) => {}
    }
    // Both live in `entities`: say which one's name was taken, for the dialog's message.
    let which = |table: &str| {
        let table = table.to_string();
        move |e| match e {
            StoreError::Unique { column, .. } => StoreError::Unique { table, column },
            other => other,
        }
    };
    insert_entity(conn, version.runtime_group_id, svc)
        .await
        .map_err(which("gateway_services"))?;
    insert_entity(conn, version.runtime_group_id, route)
        .await
        .map_err(which("routes"))?;
    sqlx::query(
        "UPDATE service_versions SET gateway_service_id = $1, updated_at = $2 WHERE id = $3",
    )
    .bind(svc.id.to_string())
    .bind(now_secs())
    .bind(version.id.to_string())
    .execute(&mut *conn)
    .await
    .map_err(|e| classify(e, "service_versions"))?;
    Ok(())
}

/// `s` for a `LIKE … ESCAPE '\'` pattern: its own `%`, `_` and `\` match themselves.
pub fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

pub async fn insert_catalog_service(conn: &mut Conn, svc: &CatalogService) -> StoreResult<()> {
    let sql = format!(
        "INSERT INTO catalog_services ({SERVICE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    );
    sqlx::query(&sql)
        .bind(svc.id.to_string())
        .bind(&svc.display_name)
        .bind(&svc.name)
        .bind(&svc.description)
        .bind(svc.created_at)
        .bind(svc.updated_at)
        .bind(serde_json::to_string(&svc.labels)?)
        .execute(&mut *conn)
        .await
        .map_err(|e| classify(e, "catalog_services"))?;
    Ok(())
}

/// Every catalog service, for checks across the catalog (a renamed service's key collisions).
pub async fn list_all_catalog_services(conn: &mut Conn) -> StoreResult<Vec<CatalogService>> {
    let sql = format!("SELECT {SERVICE_COLS} FROM catalog_services");
    let rows = sqlx::query(&sql).fetch_all(&mut *conn).await?;
    rows.iter().map(service_row).collect()
}

pub async fn get_catalog_service_by_name(
    conn: &mut Conn,
    name: &str,
) -> StoreResult<Option<CatalogService>> {
    let sql = format!("SELECT {SERVICE_COLS} FROM catalog_services WHERE name = $1");
    let row = sqlx::query(&sql)
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(service_row).transpose()
}

/// Writes a service's display name, description and labels (its key and id stay).
pub async fn update_catalog_service(conn: &mut Conn, svc: &CatalogService) -> StoreResult<()> {
    let n = sqlx::query(
        "UPDATE catalog_services SET display_name = $1, description = $2, labels = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(&svc.display_name)
    .bind(&svc.description)
    .bind(serde_json::to_string(&svc.labels)?)
    .bind(svc.updated_at)
    .bind(svc.id.to_string())
    .execute(&mut *conn)
    .await
    .map_err(|e| classify(e, "catalog_services"))?
    .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub async fn update_version_status(
    conn: &mut Conn,
    version: Uuid,
    status: &str,
) -> StoreResult<()> {
    let n = sqlx::query("UPDATE service_versions SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status)
        .bind(now_secs())
        .bind(version.to_string())
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The version a gateway service implements, if any.
pub async fn version_of_gateway_service(
    conn: &mut Conn,
    gateway_service: Uuid,
) -> StoreResult<Option<ServiceVersion>> {
    let sql = format!("SELECT {VERSION_COLS} FROM service_versions WHERE gateway_service_id = $1");
    let row = sqlx::query(&sql)
        .bind(gateway_service.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(version_row).transpose()
}

/// The version of `service` named `name` in `group`, if any.
pub async fn find_version(
    conn: &mut Conn,
    service: Uuid,
    group: Uuid,
    name: &str,
) -> StoreResult<Option<ServiceVersion>> {
    let sql = format!(
        "SELECT {VERSION_COLS} FROM service_versions WHERE service_id = $1 AND runtime_group_id = $2 AND name = $3"
    );
    let row = sqlx::query(&sql)
        .bind(service.to_string())
        .bind(group.to_string())
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(version_row).transpose()
}

/// Inserts a version already linked to its implementation (a tagged gateway service).
pub async fn insert_linked_version(conn: &mut Conn, v: &ServiceVersion) -> StoreResult<()> {
    let sql = format!(
        "INSERT INTO service_versions ({VERSION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"
    );
    sqlx::query(&sql)
        .bind(v.id.to_string())
        .bind(v.service_id.to_string())
        .bind(&v.name)
        .bind(v.runtime_group_id.to_string())
        .bind(v.gateway_service_id.map(|g| g.to_string()))
        .bind(&v.status)
        .bind(v.created_at)
        .execute(&mut *conn)
        .await
        .map_err(|e| classify(e, "service_versions"))?;
    Ok(())
}

/// Links an unlinked version to a gateway service.
pub async fn link_version(
    conn: &mut Conn,
    version: Uuid,
    gateway_service: Uuid,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE service_versions SET gateway_service_id = $1, updated_at = $2 WHERE id = $3",
    )
    .bind(gateway_service.to_string())
    .bind(now_secs())
    .bind(version.to_string())
    .execute(&mut *conn)
    .await
    .map_err(|e| classify(e, "service_versions"))?;
    Ok(())
}
