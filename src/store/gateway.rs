//! Gateway services and routes, and a runtime group's whole gateway configuration.

use uuid::Uuid;

use super::db::{bind_all, classify, next_seq, tag_clause, tags_column, Arg, Conn, RowExt};
use super::entities::list_all_conn;
use super::{Store, StoreError, StoreResult, TagFilter};
use crate::domain::{CaCertificate, Certificate, GatewayService, Route, Sni, Target, Upstream};

/// One page of a Kong-style listing.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_offset: Option<u64>,
}

/// Everything a runtime group's gateway serves, read in one transaction.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct GroupConfig {
    pub services: Vec<GatewayService>,
    pub routes: Vec<Route>,
    /// gateway service id → (catalog service version id)
    pub version_links: Vec<(Uuid, Uuid)>,
    pub upstreams: Vec<Upstream>,
    pub targets: Vec<Target>,
    pub certificates: Vec<Certificate>,
    pub snis: Vec<Sni>,
    pub ca_certificates: Vec<CaCertificate>,
}

impl Store {
    // ---- gateway services ----

    pub async fn insert_gateway_service(
        &self,
        group: Uuid,
        svc: &GatewayService,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        insert_service_tx(&mut tx, group, svc).await?;
        self.commit(tx).await
    }

    /// Replaces a stored service (same id) with `svc`.
    pub async fn update_gateway_service(
        &self,
        group: Uuid,
        svc: &GatewayService,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE gateway_services SET name = $1, body = $2, tags = $3 WHERE id = $4 AND runtime_group_id = $5",
        )
        .bind(svc.name.as_deref())
        .bind(serde_json::to_string(svc)?)
        .bind(tags_column(svc.tags.as_deref()))
        .bind(svc.id.to_string())
        .bind(group.to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| classify(e, "gateway_services"))?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.commit(tx).await
    }

    /// Looks a service up by id or, failing that, by name, as Kong's `/services/{id|name}` does.
    pub async fn get_gateway_service(
        &self,
        group: Uuid,
        id_or_name: &str,
    ) -> StoreResult<GatewayService> {
        let mut conn = self.read().acquire().await?;
        get_by_key(&mut conn, "gateway_services", group, id_or_name).await
    }

    pub async fn list_gateway_services(
        &self,
        group: Uuid,
        tags: Option<&TagFilter>,
        offset: u64,
        size: u64,
    ) -> StoreResult<Page<GatewayService>> {
        let mut args = vec![Arg::Text(group.to_string())];
        let sql = format!(
            "SELECT body FROM gateway_services WHERE runtime_group_id = $1{}",
            tag_clause(self.backend(), tags, &mut args)
        );
        self.list_page(sql, args, offset, size).await
    }

    /// Runs a `SELECT body …` listing (without ORDER/LIMIT) and cuts one page out of it.
    pub(super) async fn list_page<T: serde::de::DeserializeOwned>(
        &self,
        sql: String,
        mut args: Vec<Arg>,
        offset: u64,
        size: u64,
    ) -> StoreResult<Page<T>> {
        let limit = size.saturating_add(1).min(i64::MAX as u64) as i64;
        args.push(Arg::Int(limit));
        args.push(Arg::Int(offset.min(i64::MAX as u64) as i64));
        let sql = format!(
            "{sql} ORDER BY created_at, seq LIMIT ${} OFFSET ${}",
            args.len() - 1,
            args.len()
        );
        let rows = bind_all(sqlx::query(&sql), &args)
            .fetch_all(self.read())
            .await?;
        let bodies = rows
            .iter()
            .map(|r| r.text(0))
            .collect::<StoreResult<Vec<_>>>()?;
        page_of(bodies, offset, size)
    }

    /// Deletes a service; refused with [`StoreError::ForeignKey`] while routes still use it.
    pub async fn delete_gateway_service(&self, group: Uuid, id: Uuid) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("DELETE FROM gateway_services WHERE id = $1 AND runtime_group_id = $2")
            .bind(id.to_string())
            .bind(group.to_string())
            .execute(&mut *tx)
            .await
            .map_err(|e| classify(e, "gateway_services"))?
            .rows_affected();
        self.commit(tx).await?;
        Ok(n > 0)
    }

    // ---- routes ----

    pub async fn insert_route(&self, group: Uuid, route: &Route) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        insert_route_tx(&mut tx, group, route).await?;
        self.commit(tx).await
    }

    pub async fn update_route(&self, group: Uuid, route: &Route) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE routes SET name = $1, service_id = $2, body = $3, tags = $4 WHERE id = $5 AND runtime_group_id = $6",
        )
        .bind(route.name.as_deref())
        .bind(route.service.as_ref().map(|s| s.id.to_string()))
        .bind(serde_json::to_string(route)?)
        .bind(tags_column(route.tags.as_deref()))
        .bind(route.id.to_string())
        .bind(group.to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| classify(e, "routes"))?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.commit(tx).await
    }

    pub async fn get_route(&self, group: Uuid, id_or_name: &str) -> StoreResult<Route> {
        let mut conn = self.read().acquire().await?;
        get_by_key(&mut conn, "routes", group, id_or_name).await
    }

    /// Routes of a group, optionally only those of one service.
    pub async fn list_routes(
        &self,
        group: Uuid,
        service: Option<Uuid>,
        tags: Option<&TagFilter>,
        offset: u64,
        size: u64,
    ) -> StoreResult<Page<Route>> {
        let mut args = vec![Arg::Text(group.to_string())];
        let mut sql = String::from("SELECT body FROM routes WHERE runtime_group_id = $1");
        if let Some(s) = service {
            args.push(Arg::Text(s.to_string()));
            sql.push_str(&format!(" AND service_id = ${}", args.len()));
        }
        sql.push_str(&tag_clause(self.backend(), tags, &mut args));
        self.list_page(sql, args, offset, size).await
    }

    pub async fn delete_route(&self, group: Uuid, id: Uuid) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("DELETE FROM routes WHERE id = $1 AND runtime_group_id = $2")
            .bind(id.to_string())
            .bind(group.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        self.commit(tx).await?;
        Ok(n > 0)
    }

    /// Reads a group's whole gateway configuration in one transaction, so a snapshot never mixes
    /// two states of the database.
    pub async fn load_group_config(&self, group: Uuid) -> StoreResult<GroupConfig> {
        let mut tx = self.read().begin().await?;
        if self.backend() == super::Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        let g = group.to_string();
        let services = bodies(&mut tx, "gateway_services", &g).await?;
        let routes = bodies(&mut tx, "routes", &g).await?;
        let links = sqlx::query(
            "SELECT gateway_service_id, id FROM service_versions WHERE runtime_group_id = $1 AND gateway_service_id IS NOT NULL",
        )
        .bind(&g)
        .fetch_all(&mut *tx)
        .await?;
        let version_links = links
            .iter()
            .map(|r| Ok((r.uuid(0)?, r.uuid(1)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        let cfg = GroupConfig {
            services,
            routes,
            version_links,
            upstreams: list_all_conn(&mut tx, &g).await?,
            targets: list_all_conn(&mut tx, &g).await?,
            certificates: list_all_conn(&mut tx, &g).await?,
            snis: list_all_conn(&mut tx, &g).await?,
            ca_certificates: list_all_conn(&mut tx, &g).await?,
        };
        tx.commit().await?;
        Ok(cfg)
    }
}

async fn bodies<T: serde::de::DeserializeOwned>(
    conn: &mut Conn,
    table: &str,
    group: &str,
) -> StoreResult<Vec<T>> {
    let sql =
        format!("SELECT body FROM {table} WHERE runtime_group_id = $1 ORDER BY created_at, seq");
    let rows = sqlx::query(&sql).bind(group).fetch_all(&mut *conn).await?;
    rows.iter().map(|r| r.json(0)).collect()
}

async fn get_by_key<T: serde::de::DeserializeOwned>(
    conn: &mut Conn,
    table: &str,
    group: Uuid,
    id_or_name: &str,
) -> StoreResult<T> {
    let (col, key) = match Uuid::parse_str(id_or_name) {
        Ok(id) => ("id", id.to_string()),
        Err(_) => ("name", id_or_name.to_string()),
    };
    let sql = format!("SELECT body FROM {table} WHERE {col} = $1 AND runtime_group_id = $2");
    let row = sqlx::query(&sql)
        .bind(key)
        .bind(group.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    row.json(0)
}

pub(super) fn page_of<T: serde::de::DeserializeOwned>(
    bodies: Vec<String>,
    offset: u64,
    size: u64,
) -> StoreResult<Page<T>> {
    let more = bodies.len() as u64 > size;
    let items = bodies
        .iter()
        .take(size as usize)
        .map(|b| serde_json::from_str(b))
        .collect::<Result<Vec<T>, _>>()?;
    Ok(Page {
        items,
        next_offset: more.then_some(offset + size),
    })
}

pub(super) async fn insert_service_tx(
    conn: &mut Conn,
    group: Uuid,
    svc: &GatewayService,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO gateway_services (id, runtime_group_id, name, created_at, body, seq, tags) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(svc.id.to_string())
    .bind(group.to_string())
    .bind(svc.name.as_deref())
    .bind(svc.created_at)
    .bind(serde_json::to_string(svc)?)
    .bind(next_seq())
    .bind(tags_column(svc.tags.as_deref()))
    .execute(&mut *conn)
    .await
    .map_err(|e| classify(e, "gateway_services"))?;
    Ok(())
}

pub(super) async fn insert_route_tx(
    conn: &mut Conn,
    group: Uuid,
    route: &Route,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO routes (id, runtime_group_id, name, service_id, created_at, body, seq, tags) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(route.id.to_string())
    .bind(group.to_string())
    .bind(route.name.as_deref())
    .bind(route.service.as_ref().map(|s| s.id.to_string()))
    .bind(route.created_at)
    .bind(serde_json::to_string(route)?)
    .bind(next_seq())
    .bind(tags_column(route.tags.as_deref()))
    .execute(&mut *conn)
    .await
    .map_err(|e| classify(e, "routes"))?;
    Ok(())
}

/// Deletes a gateway service and every route that points at it.
pub(super) async fn delete_service_cascade_tx(conn: &mut Conn, service: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM routes WHERE service_id = $1")
        .bind(service)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM gateway_services WHERE id = $1")
        .bind(service)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
