//! Generic storage for the Kong entities kept in the `entities` table (upstreams, targets,
//! certificates, SNIs, CA certificates): one set of statements for every kind.

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, OptionalExtension, Transaction};
use uuid::Uuid;

use super::gateway::{tag_clause, Page, TagFilter};
use super::{Store, StoreError, StoreResult};
use crate::domain::{Certificate, Entity, Sni};

fn scope<T: Entity>(e: &T) -> String {
    match (T::SCOPED_BY_PARENT, e.parent()) {
        (true, Some(p)) => p.to_string(),
        _ => String::new(),
    }
}

pub(super) fn insert_entity_tx<T: Entity>(
    tx: &Transaction<'_>,
    group: Uuid,
    e: &T,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO entities (id, runtime_group_id, kind, scope, parent_id, name, created_at, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            e.id().to_string(),
            group.to_string(),
            T::KIND,
            scope(e),
            e.parent().map(|p| p.to_string()),
            e.unique_name(),
            e.created_at(),
            serde_json::to_string(e)?
        ],
    )
    .map_err(StoreError::classify)?;
    Ok(())
}

fn update_entity_tx<T: Entity>(tx: &Transaction<'_>, group: Uuid, e: &T) -> StoreResult<()> {
    let n = tx
        .execute(
            "UPDATE entities SET name = ?1, scope = ?2, parent_id = ?3, body = ?4 WHERE id = ?5 AND runtime_group_id = ?6 AND kind = ?7",
            params![
                e.unique_name(),
                scope(e),
                e.parent().map(|p| p.to_string()),
                serde_json::to_string(e)?,
                e.id().to_string(),
                group.to_string(),
                T::KIND
            ],
        )
        .map_err(StoreError::classify)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(super) fn list_all_tx<T: Entity>(tx: &Transaction<'_>, group: &str) -> StoreResult<Vec<T>> {
    let mut stmt = tx.prepare(
        "SELECT body FROM entities WHERE runtime_group_id = ?1 AND kind = ?2 ORDER BY created_at, rowid",
    )?;
    let bodies = stmt
        .query_map(params![group, T::KIND], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(bodies
        .iter()
        .map(|b| serde_json::from_str(b))
        .collect::<Result<Vec<T>, _>>()?)
}

impl Store {
    /// Runs `f` in one write transaction and announces a configuration change after commit.
    fn write<R>(&self, f: impl FnOnce(&Transaction<'_>) -> StoreResult<R>) -> StoreResult<R> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let out = f(&tx)?;
        tx.commit()?;
        drop(conn);
        self.config_changed();
        Ok(out)
    }

    pub fn insert_entity<T: Entity>(&self, group: Uuid, e: &T) -> StoreResult<()> {
        self.write(|tx| insert_entity_tx(tx, group, e))
    }

    pub fn update_entity<T: Entity>(&self, group: Uuid, e: &T) -> StoreResult<()> {
        self.write(|tx| update_entity_tx(tx, group, e))
    }

    /// Looks an entity up by id or, for kinds with names, by name (within `parent` when names
    /// are scoped by parent). With a parent given, the entity must belong to it.
    pub fn get_entity<T: Entity>(
        &self,
        group: Uuid,
        key: &str,
        parent: Option<Uuid>,
    ) -> StoreResult<T> {
        let conn = self.lock();
        let g = group.to_string();
        let body: Option<String> = match (Uuid::parse_str(key), T::NAME_FIELD) {
            (Ok(id), _) => conn
                .query_row(
                    "SELECT body FROM entities WHERE id = ?1 AND runtime_group_id = ?2 AND kind = ?3 AND (?4 IS NULL OR parent_id = ?4)",
                    params![id.to_string(), g, T::KIND, parent.map(|p| p.to_string())],
                    |r| r.get(0),
                )
                .optional()?,
            (Err(_), Some(_)) => {
                let scope = if T::SCOPED_BY_PARENT {
                    parent.map(|p| p.to_string()).unwrap_or_default()
                } else {
                    String::new()
                };
                conn.query_row(
                    "SELECT body FROM entities WHERE name = ?1 AND runtime_group_id = ?2 AND kind = ?3 AND scope = ?4 AND (?5 IS NULL OR parent_id = ?5)",
                    params![key, g, T::KIND, scope, parent.map(|p| p.to_string())],
                    |r| r.get(0),
                )
                .optional()?
            }
            (Err(_), None) => None,
        };
        Ok(serde_json::from_str(&body.ok_or(StoreError::NotFound)?)?)
    }

    pub fn list_entities<T: Entity>(
        &self,
        group: Uuid,
        parent: Option<Uuid>,
        tags: Option<&TagFilter>,
        offset: u64,
        size: u64,
    ) -> StoreResult<Page<T>> {
        let mut args = vec![
            SqlValue::Text(group.to_string()),
            SqlValue::Text(T::KIND.into()),
        ];
        let parent_clause = match parent {
            Some(p) => {
                args.push(SqlValue::Text(p.to_string()));
                " AND parent_id = ?"
            }
            None => "",
        };
        let sql = format!(
            "SELECT body FROM entities WHERE runtime_group_id = ? AND kind = ?{parent_clause}{} ORDER BY created_at, rowid LIMIT ? OFFSET ?",
            tag_clause(tags, &mut args)
        );
        self.list_page(&sql, args, offset, size)
    }

    /// Every entity of a kind in the group (optionally under one parent), oldest first.
    pub fn list_all_entities<T: Entity>(
        &self,
        group: Uuid,
        parent: Option<Uuid>,
    ) -> StoreResult<Vec<T>> {
        Ok(self
            .list_entities::<T>(group, parent, None, 0, i64::MAX as u64 - 1)?
            .items)
    }

    /// Deletes an entity and (by cascade) its children: an upstream's targets, a certificate's
    /// SNIs. Returns whether it existed.
    pub fn delete_entity<T: Entity>(&self, group: Uuid, id: Uuid) -> StoreResult<bool> {
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM entities WHERE id = ?1 AND runtime_group_id = ?2 AND kind = ?3",
                params![id.to_string(), group.to_string(), T::KIND],
            )? > 0)
        })
    }

    /// Saves a certificate and, when `snis` is given, makes them exactly its SNIs: one
    /// transaction, so a taken SNI name leaves the certificate unsaved too.
    pub fn save_certificate(
        &self,
        group: Uuid,
        cert: &Certificate,
        is_new: bool,
        snis: Option<&[Sni]>,
    ) -> StoreResult<()> {
        self.write(|tx| {
            if is_new {
                insert_entity_tx(tx, group, cert)?;
            } else {
                update_entity_tx(tx, group, cert)?;
            }
            if let Some(snis) = snis {
                tx.execute(
                    "DELETE FROM entities WHERE parent_id = ?1 AND kind = ?2",
                    params![cert.id.to_string(), Sni::KIND],
                )?;
                for s in snis {
                    insert_entity_tx(tx, group, s)?;
                }
            }
            Ok(())
        })
    }
}
