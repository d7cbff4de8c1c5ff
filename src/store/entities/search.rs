//! The console's lists of a kind: one page of a group's entities matching a typed filter, with
//! how many match and how many the group has, counted in SQL so a group of thousands of routes
//! reads one page, never all of them.

use std::collections::HashMap;

use uuid::Uuid;

use super::super::catalog::like_escape;
use super::super::db::{bind_all, tag_clause, Arg, RowExt};
use super::super::{Store, StoreResult, TagFilter};
use crate::domain::Entity;

/// One page of a list, with its counts.
pub struct Found<T> {
    pub items: Vec<T>,
    /// How many entities match the filter.
    pub matching: u64,
    /// How many entities of the kind the group has.
    pub total: u64,
}

impl Store {
    /// Entities of kind `T` in `group` matching `filter` (the console's filter box: part of a
    /// name, an exact id or tag, case-insensitive; `tag:NAME` for exactly that tag), oldest
    /// first, `size` of them from `offset`.
    pub async fn search_entities<T: Entity>(
        &self,
        group: Uuid,
        filter: &str,
        offset: u64,
        size: u64,
    ) -> StoreResult<Found<T>> {
        let mut args = vec![Arg::Text(group.to_string()), Arg::Text(T::KIND.into())];
        let base = "FROM entities WHERE runtime_group_id = $1 AND kind = $2";
        let f = filter.trim();
        let clause = if f.is_empty() {
            String::new()
        } else if let Some(tag) = f.strip_prefix("tag:") {
            let tags = TagFilter::All(vec![tag.trim().to_string()]);
            tag_clause(self.backend(), Some(&tags), &mut args)
        } else {
            let lower = f.to_lowercase();
            args.push(Arg::Text(format!("%{}%", like_escape(&lower))));
            args.push(Arg::Text(lower.clone()));
            args.push(Arg::Text(format!("%,{},%", like_escape(&lower))));
            let n = args.len();
            format!(
                " AND (lower(name) LIKE ${} ESCAPE '\\' OR id = ${} OR lower(tags) LIKE ${} ESCAPE '\\')",
                n - 2,
                n - 1,
                n
            )
        };
        let count = |sql: String, args: Vec<Arg>| async move {
            let n: i64 = bind_all(sqlx::query(&sql), &args)
                .fetch_one(self.read())
                .await?
                .int(0)?;
            Ok::<u64, super::super::StoreError>(n.max(0) as u64)
        };
        let total = count(
            format!("SELECT CAST(COUNT(*) AS BIGINT) {base}"),
            args[..2].to_vec(),
        )
        .await?;
        let matching = if clause.is_empty() {
            total
        } else {
            count(
                format!("SELECT CAST(COUNT(*) AS BIGINT) {base}{clause}"),
                args.clone(),
            )
            .await?
        };
        args.push(Arg::Int(size.min(i64::MAX as u64) as i64));
        args.push(Arg::Int(offset.min(i64::MAX as u64) as i64));
        let sql = format!(
            "SELECT body {base}{clause} ORDER BY created_at, seq LIMIT ${} OFFSET ${}",
            args.len() - 1,
            args.len()
        );
        let rows = bind_all(sqlx::query(&sql), &args)
            .fetch_all(self.read())
            .await?;
        let items = rows
            .iter()
            .map(|r| r.json(0))
            .collect::<StoreResult<Vec<T>>>()?;
        Ok(Found {
            items,
            matching,
            total,
        })
    }

    /// How many entities of `kind` in `group` refer to each entity (routes per service).
    pub async fn count_references(
        &self,
        group: Uuid,
        kind: &str,
    ) -> StoreResult<HashMap<Uuid, u64>> {
        let rows = sqlx::query(
            "SELECT ref_id, CAST(COUNT(*) AS BIGINT) FROM entities WHERE runtime_group_id = $1 AND kind = $2 AND ref_id IS NOT NULL GROUP BY ref_id",
        )
        .bind(group.to_string())
        .bind(kind)
        .fetch_all(self.read())
        .await?;
        let mut out = HashMap::new();
        for r in &rows {
            out.insert(r.uuid(0)?, r.int(1)?.max(0) as u64);
        }
        Ok(out)
    }

    /// Entities of kind `T` in `group` with these ids (the services a page of routes names).
    pub async fn get_entities<T: Entity>(&self, group: Uuid, ids: &[Uuid]) -> StoreResult<Vec<T>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(200) {
            let mut args = vec![Arg::Text(group.to_string()), Arg::Text(T::KIND.into())];
            let marks: Vec<String> = chunk
                .iter()
                .map(|id| {
                    args.push(Arg::Text(id.to_string()));
                    format!("${}", args.len())
                })
                .collect();
            let sql = format!(
                "SELECT body FROM entities WHERE runtime_group_id = $1 AND kind = $2 AND id IN ({})",
                marks.join(", ")
            );
            let rows = bind_all(sqlx::query(&sql), &args)
                .fetch_all(self.read())
                .await?;
            for r in &rows {
                out.push(r.json(0)?);
            }
        }
        Ok(out)
    }
}
