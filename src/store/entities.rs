//! Generic storage for the Kong entities kept in the `entities` table (upstreams, targets,
//! certificates, SNIs, CA certificates): one set of statements for every kind.

use uuid::Uuid;

use super::db::{classify, next_seq, tag_clause, tags_column, Arg, Conn, RowExt};
use super::gateway::Page;
use super::{Store, StoreError, StoreResult, TagFilter};
use crate::domain::{Certificate, Entity, Sni};

fn scope<T: Entity>(e: &T) -> String {
    match (T::SCOPED_BY_PARENT, e.parent()) {
        (true, Some(p)) => p.to_string(),
        _ => String::new(),
    }
}

fn tags_of<T: Entity>(e: &T) -> StoreResult<String> {
    let v = serde_json::to_value(e)?;
    let tags: Option<Vec<String>> = v
        .get("tags")
        .and_then(|t| serde_json::from_value(t.clone()).ok());
    Ok(tags_column(tags.as_deref()))
}

pub(super) async fn insert_entity_tx<T: Entity>(
    conn: &mut Conn,
    group: Uuid,
    e: &T,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO entities (id, runtime_group_id, kind, scope, parent_id, name, created_at, body, seq, tags) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(e.id().to_string())
    .bind(group.to_string())
    .bind(T::KIND)
    .bind(scope(e))
    .bind(e.parent().map(|p| p.to_string()))
    .bind(e.unique_name())
    .bind(e.created_at())
    .bind(serde_json::to_string(e)?)
    .bind(next_seq())
    .bind(tags_of(e)?)
    .execute(&mut *conn)
    .await
    .map_err(|err| classify(err, "entities"))?;
    Ok(())
}

async fn update_entity_tx<T: Entity>(conn: &mut Conn, group: Uuid, e: &T) -> StoreResult<()> {
    let n = sqlx::query(
        "UPDATE entities SET name = $1, scope = $2, parent_id = $3, body = $4, tags = $5 WHERE id = $6 AND runtime_group_id = $7 AND kind = $8",
    )
    .bind(e.unique_name())
    .bind(scope(e))
    .bind(e.parent().map(|p| p.to_string()))
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

pub(super) async fn list_all_conn<T: Entity>(conn: &mut Conn, group: &str) -> StoreResult<Vec<T>> {
    let rows = sqlx::query(
        "SELECT body FROM entities WHERE runtime_group_id = $1 AND kind = $2 ORDER BY created_at, seq",
    )
    .bind(group)
    .bind(T::KIND)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| r.json(0)).collect()
}

impl Store {
    pub async fn insert_entity<T: Entity>(&self, group: Uuid, e: &T) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        insert_entity_tx(&mut tx, group, e).await?;
        self.commit(tx).await
    }

    pub async fn update_entity<T: Entity>(&self, group: Uuid, e: &T) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        update_entity_tx(&mut tx, group, e).await?;
        self.commit(tx).await
    }

    /// Looks an entity up by id or, for kinds with names, by name (within `parent` when names
    /// are scoped by parent). With a parent given, the entity must belong to it.
    pub async fn get_entity<T: Entity>(
        &self,
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
                .fetch_optional(self.read())
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
                .fetch_optional(self.read())
                .await?
            }
            (Err(_), None) => None,
        };
        row.ok_or(StoreError::NotFound)?.json(0)
    }

    pub async fn list_entities<T: Entity>(
        &self,
        group: Uuid,
        parent: Option<Uuid>,
        tags: Option<&TagFilter>,
        offset: u64,
        size: u64,
    ) -> StoreResult<Page<T>> {
        let mut args = vec![Arg::Text(group.to_string()), Arg::Text(T::KIND.into())];
        let mut sql =
            String::from("SELECT body FROM entities WHERE runtime_group_id = $1 AND kind = $2");
        if let Some(p) = parent {
            args.push(Arg::Text(p.to_string()));
            sql.push_str(&format!(" AND parent_id = ${}", args.len()));
        }
        sql.push_str(&tag_clause(self.backend(), tags, &mut args));
        self.list_page(sql, args, offset, size).await
    }

    /// Every entity of a kind in the group (optionally under one parent), oldest first.
    pub async fn list_all_entities<T: Entity>(
        &self,
        group: Uuid,
        parent: Option<Uuid>,
    ) -> StoreResult<Vec<T>> {
        Ok(self
            .list_entities::<T>(group, parent, None, 0, i64::MAX as u64 - 1)
            .await?
            .items)
    }

    /// Deletes an entity and (by cascade) its children: an upstream's targets, a certificate's
    /// SNIs. Returns whether it existed.
    pub async fn delete_entity<T: Entity>(&self, group: Uuid, id: Uuid) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "DELETE FROM entities WHERE id = $1 AND runtime_group_id = $2 AND kind = $3",
        )
        .bind(id.to_string())
        .bind(group.to_string())
        .bind(T::KIND)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        self.commit(tx).await?;
        Ok(n > 0)
    }

    /// Saves a certificate and, when `snis` is given, makes them exactly its SNIs: one
    /// transaction, so a taken SNI name leaves the certificate unsaved too.
    pub async fn save_certificate(
        &self,
        group: Uuid,
        cert: &Certificate,
        is_new: bool,
        snis: Option<&[Sni]>,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        if is_new {
            insert_entity_tx(&mut tx, group, cert).await?;
        } else {
            update_entity_tx(&mut tx, group, cert).await?;
        }
        if let Some(snis) = snis {
            sqlx::query("DELETE FROM entities WHERE parent_id = $1 AND kind = $2")
                .bind(cert.id.to_string())
                .bind(Sni::KIND)
                .execute(&mut *tx)
                .await?;
            for s in snis {
                insert_entity_tx(&mut tx, group, s).await?;
            }
        }
        self.commit(tx).await
    }
}
