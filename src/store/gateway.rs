//! Runtime groups, gateway services and routes.

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, OptionalExtension, Transaction};
use uuid::Uuid;

use super::entities::list_all_tx;
use super::{uuid_col, Store, StoreError, StoreResult};
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

    pub fn insert_gateway_service(&self, group: Uuid, svc: &GatewayService) -> StoreResult<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        insert_service_tx(&tx, group, svc)?;
        tx.commit()?;
        drop(conn);
        self.config_changed();
        Ok(())
    }

    /// Replaces a stored service (same id) with `svc`.
    pub fn update_gateway_service(&self, group: Uuid, svc: &GatewayService) -> StoreResult<()> {
        let conn = self.lock();
        let n = conn
            .execute(
                "UPDATE gateway_services SET name = ?1, body = ?2 WHERE id = ?3 AND runtime_group_id = ?4",
                params![svc.name, serde_json::to_string(svc)?, svc.id.to_string(), group.to_string()],
            )
            .map_err(StoreError::classify)?;
        drop(conn);
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.config_changed();
        Ok(())
    }

    /// Looks a service up by id or, failing that, by name, as Kong's `/services/{id|name}` does.
    pub fn get_gateway_service(
        &self,
        group: Uuid,
        id_or_name: &str,
    ) -> StoreResult<GatewayService> {
        let conn = self.lock();
        let body: Option<String> = match Uuid::parse_str(id_or_name) {
            Ok(id) => conn
                .query_row(
                    "SELECT body FROM gateway_services WHERE id = ?1 AND runtime_group_id = ?2",
                    params![id.to_string(), group.to_string()],
                    |r| r.get(0),
                )
                .optional()?,
            Err(_) => conn
                .query_row(
                    "SELECT body FROM gateway_services WHERE name = ?1 AND runtime_group_id = ?2",
                    params![id_or_name, group.to_string()],
                    |r| r.get(0),
                )
                .optional()?,
        };
        Ok(serde_json::from_str(&body.ok_or(StoreError::NotFound)?)?)
    }

    pub fn list_gateway_services(
        &self,
        group: Uuid,
        tags: Option<&TagFilter>,
        offset: u64,
        size: u64,
    ) -> StoreResult<Page<GatewayService>> {
        let mut args = vec![SqlValue::Text(group.to_string())];
        let sql = format!(
            "SELECT body FROM gateway_services WHERE runtime_group_id = ?{} ORDER BY created_at, rowid LIMIT ? OFFSET ?",
            tag_clause(tags, &mut args)
        );
        self.list_page(&sql, args, offset, size)
    }

    pub(super) fn list_page<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        mut args: Vec<SqlValue>,
        offset: u64,
        size: u64,
    ) -> StoreResult<Page<T>> {
        args.push(SqlValue::Integer((size + 1) as i64));
        args.push(SqlValue::Integer(offset as i64));
        let conn = self.lock();
        let mut stmt = conn.prepare(sql)?;
        let bodies = stmt
            .query_map(params_from_iter(args), |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        page_of(bodies, offset, size)
    }

    /// Deletes a service; refused with [`StoreError::ForeignKey`] while routes still use it.
    pub fn delete_gateway_service(&self, group: Uuid, id: Uuid) -> StoreResult<bool> {
        let conn = self.lock();
        let n = conn
            .execute(
                "DELETE FROM gateway_services WHERE id = ?1 AND runtime_group_id = ?2",
                params![id.to_string(), group.to_string()],
            )
            .map_err(StoreError::classify)?;
        drop(conn);
        self.config_changed();
        Ok(n > 0)
    }

    // ---- routes ----

    pub fn insert_route(&self, group: Uuid, route: &Route) -> StoreResult<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        insert_route_tx(&tx, group, route)?;
        tx.commit()?;
        drop(conn);
        self.config_changed();
        Ok(())
    }

    pub fn update_route(&self, group: Uuid, route: &Route) -> StoreResult<()> {
        let conn = self.lock();
        let n = conn
            .execute(
                "UPDATE routes SET name = ?1, service_id = ?2, body = ?3 WHERE id = ?4 AND runtime_group_id = ?5",
                params![
                    route.name,
                    route.service.as_ref().map(|s| s.id.to_string()),
                    serde_json::to_string(route)?,
                    route.id.to_string(),
                    group.to_string()
                ],
            )
            .map_err(StoreError::classify)?;
        drop(conn);
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.config_changed();
        Ok(())
    }

    pub fn get_route(&self, group: Uuid, id_or_name: &str) -> StoreResult<Route> {
        let conn = self.lock();
        let body: Option<String> = match Uuid::parse_str(id_or_name) {
            Ok(id) => conn
                .query_row(
                    "SELECT body FROM routes WHERE id = ?1 AND runtime_group_id = ?2",
                    params![id.to_string(), group.to_string()],
                    |r| r.get(0),
                )
                .optional()?,
            Err(_) => conn
                .query_row(
                    "SELECT body FROM routes WHERE name = ?1 AND runtime_group_id = ?2",
                    params![id_or_name, group.to_string()],
                    |r| r.get(0),
                )
                .optional()?,
        };
        Ok(serde_json::from_str(&body.ok_or(StoreError::NotFound)?)?)
    }

    /// Routes of a group, optionally only those of one service.
    pub fn list_routes(
        &self,
        group: Uuid,
        service: Option<Uuid>,
        tags: Option<&TagFilter>,
        offset: u64,
        size: u64,
    ) -> StoreResult<Page<Route>> {
        let mut args = vec![SqlValue::Text(group.to_string())];
        let mut sql = String::from("SELECT body FROM routes WHERE runtime_group_id = ?");
        if let Some(s) = service {
            sql.push_str(" AND service_id = ?");
            args.push(SqlValue::Text(s.to_string()));
        }
        sql.push_str(&tag_clause(tags, &mut args));
        sql.push_str(" ORDER BY created_at, rowid LIMIT ? OFFSET ?");
        self.list_page(&sql, args, offset, size)
    }

    pub fn delete_route(&self, group: Uuid, id: Uuid) -> StoreResult<bool> {
        let conn = self.lock();
        let n = conn.execute(
            "DELETE FROM routes WHERE id = ?1 AND runtime_group_id = ?2",
            params![id.to_string(), group.to_string()],
        )?;
        drop(conn);
        self.config_changed();
        Ok(n > 0)
    }

    /// Reads a group's whole gateway configuration in one transaction, so a snapshot never mixes
    /// two states of the database.
    pub fn load_group_config(&self, group: Uuid) -> StoreResult<GroupConfig> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let g = group.to_string();
        let services = {
            let mut stmt = tx.prepare("SELECT body FROM gateway_services WHERE runtime_group_id = ?1 ORDER BY created_at, rowid")?;
            let bodies = stmt
                .query_map([&g], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            bodies
                .iter()
                .map(|b| serde_json::from_str(b))
                .collect::<Result<Vec<GatewayService>, _>>()?
        };
        let routes = {
            let mut stmt = tx.prepare(
                "SELECT body FROM routes WHERE runtime_group_id = ?1 ORDER BY created_at, rowid",
            )?;
            let bodies = stmt
                .query_map([&g], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            bodies
                .iter()
                .map(|b| serde_json::from_str(b))
                .collect::<Result<Vec<Route>, _>>()?
        };
        let version_links = {
            let mut stmt = tx.prepare(
                "SELECT gateway_service_id, id FROM service_versions WHERE runtime_group_id = ?1 AND gateway_service_id IS NOT NULL",
            )?;
            let rows = stmt
                .query_map([&g], |r| Ok((uuid_col(r.get(0)?)?, uuid_col(r.get(1)?)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            rows
        };
        let cfg = GroupConfig {
            services,
            routes,
            version_links,
            upstreams: list_all_tx(&tx, &g)?,
            targets: list_all_tx(&tx, &g)?,
            certificates: list_all_tx(&tx, &g)?,
            snis: list_all_tx(&tx, &g)?,
            ca_certificates: list_all_tx(&tx, &g)?,
        };
        tx.commit()?;
        Ok(cfg)
    }
}

/// Kong's `?tags=` filter: `a,b` needs every tag, `a/b` any of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagFilter {
    All(Vec<String>),
    Any(Vec<String>),
}

/// The SQL condition for a tag filter over the entity's JSON `tags`, pushing its arguments.
pub(super) fn tag_clause(filter: Option<&TagFilter>, args: &mut Vec<SqlValue>) -> String {
    const HAS_TAG: &str = " AND EXISTS (SELECT 1 FROM json_each(body, '$.tags') WHERE value = ?)";
    match filter {
        None => String::new(),
        Some(TagFilter::All(tags)) => {
            args.extend(tags.iter().map(|t| SqlValue::Text(t.clone())));
            HAS_TAG.repeat(tags.len())
        }
        Some(TagFilter::Any(tags)) => {
            args.extend(tags.iter().map(|t| SqlValue::Text(t.clone())));
            let marks = vec!["?"; tags.len()].join(", ");
            format!(
                " AND EXISTS (SELECT 1 FROM json_each(body, '$.tags') WHERE value IN ({marks}))"
            )
        }
    }
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

pub(super) fn insert_service_tx(
    tx: &Transaction<'_>,
    group: Uuid,
    svc: &GatewayService,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO gateway_services (id, runtime_group_id, name, created_at, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![svc.id.to_string(), group.to_string(), svc.name, svc.created_at, serde_json::to_string(svc)?],
    )
    .map_err(StoreError::classify)?;
    Ok(())
}

pub(super) fn insert_route_tx(tx: &Transaction<'_>, group: Uuid, route: &Route) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO routes (id, runtime_group_id, name, service_id, created_at, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            route.id.to_string(),
            group.to_string(),
            route.name,
            route.service.as_ref().map(|s| s.id.to_string()),
            route.created_at,
            serde_json::to_string(route)?
        ],
    )
    .map_err(StoreError::classify)?;
    Ok(())
}

/// Deletes a gateway service and every route that points at it.
pub(super) fn delete_service_cascade_tx(tx: &Transaction<'_>, service: &str) -> StoreResult<()> {
    tx.execute("DELETE FROM routes WHERE service_id = ?1", [service])?;
    tx.execute("DELETE FROM gateway_services WHERE id = ?1", [service])?;
    Ok(())
}
