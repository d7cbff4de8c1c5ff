//! Every Kong entity kind in one table, with one set of statements: the row keeps the entity's
//! JSON and, beside it, what SQL must constrain (its unique name and where it is unique, its
//! owner, what it refers to, its tags). The functions take a connection or transaction so the
//! service layer composes them into one atomic operation.

use uuid::Uuid;

mod replace;
mod search;

pub use replace::replace_gateway_config;
pub use search::Found;

use super::db::{classify, next_seq, tag_clause, tags_column, Arg, Conn, Page, RowExt};
use super::{Store, StoreError, StoreResult, TagFilter};
use crate::domain::{Entity, GatewayConfig};

/// Which entities of a kind a listing wants.
#[derive(Debug, Clone, Default)]
pub struct EntityFilter<'a> {
    /// Owned by this entity (an upstream's targets).
    pub parent: Option<Uuid>,
    /// Referring to this entity (a service's routes).
    pub reference: Option<Uuid>,
    pub tags: Option<&'a TagFilter>,
}

fn scope<T: Entity>(e: &T) -> String {
    e.scope()
}

fn tags_of<T: Entity>(e: &T) -> StoreResult<String> {
    let v = serde_json::to_value(e)?;
    let tags: Option<Vec<String>> = v
        .get("tags")
        .and_then(|t| serde_json::from_value(t.clone()).ok());
    Ok(tags_column(tags.as_deref()))
}

/// An entity as a row of the `entities` table.
struct StoredRow {
    id: String,
    kind: &'static str,
    scope: String,
    parent: Option<String>,
    reference: Option<String>,
    name: Option<String>,
    created_at: i64,
    body: String,
    seq: i64,
    tags: String,
}

impl StoredRow {
    fn of<T: Entity>(e: &T) -> StoreResult<StoredRow> {
        Ok(StoredRow {
            id: e.id().to_string(),
            kind: T::KIND,
            scope: scope(e),
            parent: e.parent().map(|p| p.to_string()),
            reference: e.reference().map(|p| p.to_string()),
            name: e.unique_name(),
            created_at: e.created_at(),
            body: serde_json::to_string(e)?,
            seq: next_seq(),
            tags: tags_of(e)?,
        })
    }
}

async fn insert_row(conn: &mut Conn, group: Uuid, r: &StoredRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO entities (id, runtime_group_id, kind, scope, parent_id, ref_id, name, created_at, body, seq, tags) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&r.id)
    .bind(group.to_string())
    .bind(r.kind)
    .bind(&r.scope)
    .bind(&r.parent)
    .bind(&r.reference)
    .bind(&r.name)
    .bind(r.created_at)
    .bind(&r.body)
    .bind(r.seq)
    .bind(&r.tags)
    .execute(&mut *conn)
    .await
    .map_err(|err| classify(err, "entities"))?;
    Ok(())
}

pub async fn insert_entity<T: Entity>(conn: &mut Conn, group: Uuid, e: &T) -> StoreResult<()> {
    insert_row(conn, group, &StoredRow::of(e)?).await
}

pub async fn update_entity<T: Entity>(conn: &mut Conn, group: Uuid, e: &T) -> StoreResult<()> {
    let n = sqlx::query(
        "UPDATE entities SET name = $1, scope = $2, parent_id = $3, ref_id = $4, body = $5, tags = $6 WHERE id = $7 AND runtime_group_id = $8 AND kind = $9",
    )
    .bind(e.unique_name())
    .bind(scope(e))
    .bind(e.parent().map(|p| p.to_string()))
    .bind(e.reference().map(|p| p.to_string()))
    .bind(serde_json::to_string(e)?)
    .bind(tags_of(e)?)
    .bind(e.id().to_string())
    .bind(group.to_string())
    .bind(T::KIND)
    .execute(&mut *conn)
    .await
    .map_err(|err| classify(err, "entities"))?
    .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Looks an entity up by id or, for kinds with names, by name (within `parent` when names are
/// scoped by parent). With a parent given, the entity must belong to it.
pub async fn get_entity<T: Entity>(
    conn: &mut Conn,
    group: Uuid,
    key: &str,
    parent: Option<Uuid>,
) -> StoreResult<T> {
    let g = group.to_string();
    let parent = parent.map(|p| p.to_string());
    let row = match (Uuid::parse_str(key), T::NAME_FIELD) {
        (Ok(id), _) => {
            sqlx::query(
                "SELECT body FROM entities WHERE id = $1 AND runtime_group_id = $2 AND kind = $3 AND ($4 IS NULL OR parent_id = $4)",
            )
            .bind(id.to_string())
            .bind(g)
            .bind(T::KIND)
            .bind(parent)
            .fetch_optional(&mut *conn)
            .await?
        }
        (Err(_), Some(_)) => {
            let scope = if T::SCOPED_BY_PARENT {
                parent.clone().unwrap_or_default()
            } else {
                String::new()
            };
            sqlx::query(
                "SELECT body FROM entities WHERE name = $1 AND runtime_group_id = $2 AND kind = $3 AND scope = $4 AND ($5 IS NULL OR parent_id = $5)",
            )
            .bind(key)
            .bind(g)
            .bind(T::KIND)
            .bind(scope)
            .bind(parent)
            .fetch_optional(&mut *conn)
            .await?
        }
        (Err(_), None) => None,
    };
    row.ok_or(StoreError::NotFound)?.json(0)
}

/// One page of a kind, oldest first (Kong's order).
pub async fn list_entities<T: Entity>(
    conn: &mut Conn,
    backend: super::Backend,
    group: Uuid,
    filter: &EntityFilter<'_>,
    offset: u64,
    size: u64,
) -> StoreResult<Page<T>> {
    let mut args = vec![Arg::Text(group.to_string()), Arg::Text(T::KIND.into())];
    let mut sql =
        String::from("SELECT body FROM entities WHERE runtime_group_id = $1 AND kind = $2");
    for (col, v) in [("parent_id", filter.parent), ("ref_id", filter.reference)] {
        if let Some(v) = v {
            args.push(Arg::Text(v.to_string()));
            sql.push_str(&format!(" AND {col} = ${}", args.len()));
        }
    }
    sql.push_str(&tag_clause(backend, filter.tags, &mut args));
    let limit = size.saturating_add(1).min(i64::MAX as u64) as i64;
    args.push(Arg::Int(limit));
    args.push(Arg::Int(offset.min(i64::MAX as u64) as i64));
    sql.push_str(&format!(
        " ORDER BY created_at, seq LIMIT ${} OFFSET ${}",
        args.len() - 1,
        args.len()
    ));
    let rows = super::db::bind_all(sqlx::query(&sql), &args)
        .fetch_all(&mut *conn)
        .await?;
    let mut items = rows
        .iter()
        .map(|r| r.json(0))
        .collect::<StoreResult<Vec<T>>>()?;
    let more = items.len() as u64 > size;
    items.truncate(size.min(usize::MAX as u64) as usize);
    Ok(Page {
        items,
        next_offset: more.then_some(offset + size),
    })
}

/// Deletes an entity of kind `T` and (by cascade) what it owns. Returns whether it existed;
/// refused with [`StoreError::ForeignKey`] while another entity refers to it.
pub async fn delete_entity<T: Entity>(conn: &mut Conn, group: Uuid, id: Uuid) -> StoreResult<bool> {
    let n =
        sqlx::query("DELETE FROM entities WHERE id = $1 AND runtime_group_id = $2 AND kind = $3")
            .bind(id.to_string())
            .bind(group.to_string())
            .bind(T::KIND)
            .execute(&mut *conn)
            .await
            .map_err(|e| classify(e, "entities"))?
            .rows_affected();
    Ok(n > 0)
}

/// Deletes an entity named by its kind as a string (a declarative import removing what its
/// document no longer lists) and, by cascade, what it owns. Returns whether it existed.
pub async fn delete_entity_of_kind(
    conn: &mut Conn,
    group: Uuid,
    kind: &str,
    id: Uuid,
) -> StoreResult<bool> {
    let n =
        sqlx::query("DELETE FROM entities WHERE id = $1 AND runtime_group_id = $2 AND kind = $3")
            .bind(id.to_string())
            .bind(group.to_string())
            .bind(kind)
            .execute(&mut *conn)
            .await
            .map_err(|e| classify(e, "entities"))?
            .rows_affected();
    Ok(n > 0)
}

/// Lets go of what an entity refers to (a route's service) until it is saved again in the
/// same transaction, so the entity it referred to can be deleted first.
pub async fn clear_reference(conn: &mut Conn, group: Uuid, id: Uuid) -> StoreResult<()> {
    sqlx::query("UPDATE entities SET ref_id = NULL WHERE id = $1 AND runtime_group_id = $2")
        .bind(id.to_string())
        .bind(group.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Deletes every entity of kind `T` owned by `parent` (a certificate's SNIs before new ones).
pub async fn delete_children<T: Entity>(conn: &mut Conn, parent: Uuid) -> StoreResult<u64> {
    Ok(
        sqlx::query("DELETE FROM entities WHERE parent_id = $1 AND kind = $2")
            .bind(parent.to_string())
            .bind(T::KIND)
            .execute(&mut *conn)
            .await?
            .rows_affected(),
    )
}

/// Deletes a gateway service and every route that refers to it.
pub async fn delete_service_with_routes(conn: &mut Conn, service: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM entities WHERE ref_id = $1 AND kind = 'routes'")
        .bind(service)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM entities WHERE id = $1 AND kind = 'services'")
        .bind(service)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A group's whole gateway configuration, read in one transaction so it never mixes two
/// states of the database.
pub async fn load_gateway_config(conn: &mut Conn, group: Uuid) -> StoreResult<GatewayConfig> {
    let g = group.to_string();
    let rows = sqlx::query(
        "SELECT kind, body FROM entities WHERE runtime_group_id = $1 ORDER BY created_at, seq",
    )
    .bind(&g)
    .fetch_all(&mut *conn)
    .await?;
    let mut cfg = GatewayConfig::default();
    for r in &rows {
        cfg.push_stored(&r.text(0)?, &r.text(1)?)?;
    }
    let links = sqlx::query(
        "SELECT gateway_service_id, id FROM service_versions WHERE runtime_group_id = $1 AND gateway_service_id IS NOT NULL ORDER BY gateway_service_id, id",
    )
    .bind(&g)
    .fetch_all(&mut *conn)
    .await?;
    cfg.version_links = links
        .iter()
        .map(|r| Ok((r.uuid(0)?, r.uuid(1)?)))
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(cfg)
}

impl Store {
    /// [`get_entity`] on the read pool.
    pub async fn get_entity<T: Entity>(
        &self,
        group: Uuid,
        key: &str,
        parent: Option<Uuid>,
    ) -> StoreResult<T> {
        let mut conn = self.read().acquire().await?;
        get_entity(&mut conn, group, key, parent).await
    }

    /// [`list_entities`] on the read pool.
    pub async fn list_entities<T: Entity>(
        &self,
        group: Uuid,
        filter: &EntityFilter<'_>,
        offset: u64,
        size: u64,
    ) -> StoreResult<Page<T>> {
        let mut conn = self.read().acquire().await?;
        list_entities(&mut conn, self.backend(), group, filter, offset, size).await
    }

    /// Every entity of a kind in the group (optionally under one parent), oldest first.
    pub async fn list_all_entities<T: Entity>(
        &self,
        group: Uuid,
        parent: Option<Uuid>,
    ) -> StoreResult<Vec<T>> {
        let filter = EntityFilter {
            parent,
            ..EntityFilter::default()
        };
        Ok(self
            .list_entities::<T>(group, &filter, 0, i64::MAX as u64 - 1)
            .await?
            .items)
    }

    /// [`load_gateway_config`] in a read transaction of its own (a consistent snapshot on both
    /// backends).
    pub async fn load_gateway_config(&self, group: Uuid) -> StoreResult<GatewayConfig> {
        let mut tx = self.read().begin().await?;
        if self.backend() == super::Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        let cfg = load_gateway_config(&mut tx, group).await?;
        tx.commit().await?;
        Ok(cfg)
    }
}
