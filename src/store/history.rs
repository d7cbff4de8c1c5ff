//! Configuration history: the version [`Store::commit`] records in the transaction of every
//! configuration change, the reads of the history pages, and pruning. Who made a change rides
//! along as a task-local [`ChangeSource`] that the web edges set for the request (the Admin
//! API's token, the console's signed-in user), so no service function needs a parameter for it;
//! [`Store::run`] carries it onto the store's runtime.

use std::future::Future;
use std::sync::{Arc, Mutex};

use sqlx::any::AnyRow;
use uuid::Uuid;

use super::db::{bind_all, Arg, Backend, Conn, Page, RowExt};
use super::entities::load_gateway_config;
use super::{Store, StoreError, StoreResult};
use crate::domain::config_diff::{diff, KindCount};
use crate::domain::history::{Actor, ActorKind, ChangeSource, Channel, ConfigVersion};
use crate::domain::kinds::hash_json;
use crate::domain::{now_secs, GatewayConfig};

/// The current request's change source. Shared (not copied) so that an extractor that learns
/// who is asking after the request started (the console's `CurrentUser`) can fill it in.
#[derive(Debug, Clone)]
pub struct Attribution(Arc<Mutex<ChangeSource>>);

tokio::task_local! {
    static SOURCE: Attribution;
}

/// Runs `f` with `source` as the author of every configuration change it commits.
pub async fn attributed<F: Future>(source: ChangeSource, f: F) -> F::Output {
    SOURCE
        .scope(Attribution(Arc::new(Mutex::new(source))), f)
        .await
}

/// Names the actor of the current request's changes (a no-op outside [`attributed`]).
pub fn identify(actor: Actor) {
    let _ = SOURCE.try_with(|a| {
        a.0.lock().unwrap_or_else(|p| p.into_inner()).actor = actor;
    });
}

/// Runs `f` with the same actor but another channel and detail: a restore or an import made
/// through some endpoint is recorded as what it is.
pub async fn relabel<F: Future>(channel: Channel, detail: String, f: F) -> F::Output {
    let mut source = current_source();
    source.channel = channel;
    source.detail = detail;
    attributed(source, f).await
}

/// Who is changing the configuration now: the system outside any attributed request.
pub fn current_source() -> ChangeSource {
    SOURCE
        .try_with(|a| a.0.lock().unwrap_or_else(|p| p.into_inner()).clone())
        .unwrap_or_else(|_| ChangeSource::system(""))
}

/// `f` carrying the current attribution, for work moved onto another task.
pub(super) fn carry<F: Future>(f: F) -> impl Future<Output = F::Output> {
    let current = SOURCE
        .try_with(Attribution::clone)
        .unwrap_or_else(|_| Attribution(Arc::new(Mutex::new(ChangeSource::system("")))));
    SOURCE.scope(current, f)
}

/// The most a stored configuration may inflate to; more means the row is not one we wrote.
const MAX_UNPACKED: usize = 1 << 30;

/// A configuration as a version keeps it: deflated JSON (a 10,000-route group's JSON is
/// megabytes, and a history keeps hundreds of versions).
/// A configuration's JSON as stored: deflated.
fn pack(json: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec(json, 3)
}

/// The configuration in columns `at` (JSON, rows from before packing) and `at + 1` (packed).
fn stored_config(row: &AnyRow, at: usize) -> StoreResult<GatewayConfig> {
    let packed: Option<Vec<u8>> = sqlx::Row::try_get(row, at + 1)?;
    match packed {
        Some(bytes) => {
            let json = miniz_oxide::inflate::decompress_to_vec_with_limit(&bytes, MAX_UNPACKED)
                .map_err(|e| {
                    StoreError::Corrupt(serde::de::Error::custom(format!(
                        "a stored configuration version does not inflate: {e:?}"
                    )))
                })?;
            Ok(serde_json::from_slice(&json)?)
        }
        None => row.json(at),
    }
}

fn listed(items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!(",{},", items.join(","))
    }
}

/// Records `group`'s configuration as version `revision`, in the transaction of the change,
/// unless it is the same as the group's newest version (nothing it serves changed). Keeps at
/// most `keep` versions of the group. Returns the version recorded, if any.
pub(super) async fn record(
    conn: &mut Conn,
    group: Uuid,
    revision: i64,
    source: &ChangeSource,
    keep: u64,
) -> StoreResult<Option<u64>> {
    let g = group.to_string();
    let exists = sqlx::query("SELECT 1 FROM runtime_groups WHERE id = $1")
        .bind(&g)
        .fetch_optional(&mut *conn)
        .await?;
    if exists.is_none() {
        return Ok(None);
    }
    let cfg = load_gateway_config(conn, group).await?;
    // Serialized once, for the hash and for the stored copy.
    let json = cfg.canonical_json();
    let hash = hash_json(&json);
    let previous = sqlx::query(
        "SELECT hash, config, config_z FROM config_versions WHERE runtime_group_id = $1 ORDER BY version DESC LIMIT 1",
    )
    .bind(&g)
    .fetch_optional(&mut *conn)
    .await?;
    let before = match previous {
        Some(row) if row.text(0)? == hash => return Ok(None),
        Some(row) => stored_config(&row, 1)?,
        None => GatewayConfig::default(),
    };
    let d = diff(&before, &cfg);
    let packed = pack(&json);
    let counts = d.counts();
    let kinds: Vec<String> = counts.iter().map(|c| c.kind.clone()).collect();
    sqlx::query(
        "INSERT INTO config_versions (runtime_group_id, version, created_at, actor_kind, actor_id, actor_name, channel, detail, summary, touched, kinds, hash, config, config_z) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, '', $13)",
    )
    .bind(&g)
    .bind(revision)
    .bind(now_secs())
    .bind(source.actor.kind.as_str())
    .bind(source.actor.id.map(|i| i.to_string()))
    .bind(&source.actor.name)
    .bind(source.channel.as_str())
    .bind(&source.detail)
    .bind(serde_json::to_string(&counts)?)
    .bind(listed(&d.entity_ids()))
    .bind(listed(&kinds))
    .bind(&hash)
    .bind(packed)
    .execute(&mut *conn)
    .await?;
    // The newest `keep` stay; the subquery finds nothing (so nothing goes) below that count.
    sqlx::query(
        "DELETE FROM config_versions WHERE runtime_group_id = $1 AND version <= (SELECT version FROM config_versions WHERE runtime_group_id = $1 ORDER BY version DESC LIMIT 1 OFFSET $2)",
    )
    .bind(&g)
    .bind(keep.max(1) as i64)
    .execute(&mut *conn)
    .await?;
    Ok(Some(revision as u64))
}

/// The group's newest version number (0 before its first recorded change).
pub async fn latest_version(conn: &mut Conn, group: Uuid) -> StoreResult<u64> {
    let v: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM config_versions WHERE runtime_group_id = $1")
            .bind(group.to_string())
            .fetch_one(&mut *conn)
            .await?;
    Ok(v.unwrap_or(0).max(0) as u64)
}

/// Which versions a history listing wants.
#[derive(Debug, Clone, Default)]
pub struct VersionFilter {
    /// Versions that added, removed or changed the entity with this id.
    pub entity_id: Option<String>,
    /// Versions that changed entities of this kind (`routes`).
    pub kind: Option<String>,
    /// Versions made by this actor (email, token name, or id).
    pub actor: Option<String>,
    /// Made at or after / before these Unix seconds.
    pub since: Option<i64>,
    pub until: Option<i64>,
}

const META_COLS: &str =
    "runtime_group_id, version, created_at, actor_kind, actor_id, actor_name, channel, detail, hash, summary";

fn version_row(r: &sqlx::any::AnyRow) -> StoreResult<ConfigVersion> {
    let summary: Vec<KindCount> = r.json(9)?;
    Ok(ConfigVersion {
        runtime_group_id: r.uuid(0)?,
        version: r.int(1)?.max(0) as u64,
        created_at: r.int(2)?,
        source: ChangeSource {
            actor: Actor {
                kind: ActorKind::parse(&r.text(3)?),
                id: r.opt_uuid(4)?,
                name: r.text(5)?,
            },
            channel: Channel::parse(&r.text(6)?),
            detail: r.text(7)?,
        },
        hash: r.text(8)?,
        summary,
    })
}

fn filter_clause(backend: Backend, f: &VersionFilter, args: &mut Vec<Arg>) -> String {
    let mut sql = String::new();
    if let Some(id) = f.entity_id.as_deref().filter(|s| !s.is_empty()) {
        args.push(Arg::Text(format!(",{id},")));
        sql.push_str(&format!(
            " AND {}",
            backend.contains("touched", &format!("${}", args.len()))
        ));
    }
    if let Some(kind) = f.kind.as_deref().filter(|s| !s.is_empty()) {
        args.push(Arg::Text(format!(",{kind},")));
        sql.push_str(&format!(
            " AND {}",
            backend.contains("kinds", &format!("${}", args.len()))
        ));
    }
    if let Some(actor) = f.actor.as_deref().filter(|s| !s.is_empty()) {
        args.push(Arg::Text(actor.to_string()));
        let n = args.len();
        sql.push_str(&format!(" AND (actor_name = ${n} OR actor_id = ${n})"));
    }
    if let Some(t) = f.since {
        args.push(Arg::Int(t));
        sql.push_str(&format!(" AND created_at >= ${}", args.len()));
    }
    if let Some(t) = f.until {
        args.push(Arg::Int(t));
        sql.push_str(&format!(" AND created_at < ${}", args.len()));
    }
    sql
}

impl Store {
    /// The group's configuration with the number of the history version it is (0 before the
    /// group's first recorded change), read in one transaction so the two belong together.
    pub async fn load_versioned_config(&self, group: Uuid) -> StoreResult<(u64, GatewayConfig)> {
        let mut tx = self.read().begin().await?;
        if self.backend() == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        let version = latest_version(&mut tx, group).await?;
        let cfg = load_gateway_config(&mut tx, group).await?;
        tx.commit().await?;
        Ok((version, cfg))
    }

    /// A page of the group's versions, newest first.
    pub async fn list_config_versions(
        &self,
        group: Uuid,
        filter: &VersionFilter,
        offset: u64,
        size: u64,
    ) -> StoreResult<Page<ConfigVersion>> {
        let mut args = vec![Arg::Text(group.to_string())];
        let clause = filter_clause(self.backend(), filter, &mut args);
        let sql = format!(
            "SELECT {META_COLS} FROM config_versions WHERE runtime_group_id = $1{clause} ORDER BY version DESC LIMIT {} OFFSET {}",
            size.saturating_add(1).min(i64::MAX as u64),
            offset.min(i64::MAX as u64)
        );
        let rows = bind_all(sqlx::query(&sql), &args)
            .fetch_all(self.read())
            .await?;
        let mut items = rows
            .iter()
            .map(version_row)
            .collect::<StoreResult<Vec<_>>>()?;
        let next_offset = if items.len() as u64 > size {
            items.truncate(size as usize);
            Some(offset + size)
        } else {
            None
        };
        Ok(Page { items, next_offset })
    }

    /// One version with the configuration it recorded.
    pub async fn get_config_version(
        &self,
        group: Uuid,
        version: u64,
    ) -> StoreResult<(ConfigVersion, GatewayConfig)> {
        let mut conn = self.read().acquire().await?;
        get_config_version(&mut conn, group, version).await
    }

    /// The version recorded just before `version`, if it is still kept.
    pub async fn previous_config_version(
        &self,
        group: Uuid,
        version: u64,
    ) -> StoreResult<Option<u64>> {
        let v: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(version) FROM config_versions WHERE runtime_group_id = $1 AND version < $2",
        )
        .bind(group.to_string())
        .bind(version as i64)
        .fetch_one(self.read())
        .await?;
        Ok(v.map(|v| v.max(0) as u64))
    }

    /// The newest kept version of `group` whose configuration had `hash` (what a node reports
    /// running), if any.
    pub async fn config_version_with_hash(
        &self,
        group: Uuid,
        hash: &str,
    ) -> StoreResult<Option<u64>> {
        let v: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(version) FROM config_versions WHERE runtime_group_id = $1 AND hash = $2",
        )
        .bind(group.to_string())
        .bind(hash)
        .fetch_one(self.read())
        .await?;
        Ok(v.map(|v| v.max(0) as u64))
    }

    /// How many versions of `group` are kept and the bytes their configurations take.
    pub async fn config_history_size(&self, group: Uuid) -> StoreResult<(u64, u64)> {
        let row = sqlx::query(
            "SELECT COUNT(*), CAST(COALESCE(SUM(LENGTH(config) + COALESCE(LENGTH(config_z), 0)), 0) AS BIGINT) FROM config_versions WHERE runtime_group_id = $1",
        )
        .bind(group.to_string())
        .fetch_one(self.read())
        .await?;
        Ok((row.int(0)?.max(0) as u64, row.int(1)?.max(0) as u64))
    }

    /// The group's newest version number (0 before its first recorded change).
    pub async fn latest_config_version(&self, group: Uuid) -> StoreResult<u64> {
        let mut conn = self.read().acquire().await?;
        latest_version(&mut conn, group).await
    }

    /// Deletes versions made before `cutoff` (Unix seconds), keeping each group's newest one:
    /// it is the configuration the group runs.
    pub async fn prune_config_versions(&self, cutoff: i64) -> StoreResult<u64> {
        Ok(sqlx::query(
            "DELETE FROM config_versions WHERE created_at < $1 AND version < (SELECT MAX(v.version) FROM config_versions v WHERE v.runtime_group_id = config_versions.runtime_group_id)",
        )
        .bind(cutoff)
        .execute(self.write_pool())
        .await?
        .rows_affected())
    }

    /// Groups that have a configuration but no history yet (databases from before history was
    /// kept) get a first version, so later changes have something to be compared with.
    pub(super) async fn start_history(&self) -> StoreResult<()> {
        let rows = sqlx::query(
            "SELECT id FROM runtime_groups g WHERE NOT EXISTS (SELECT 1 FROM config_versions v WHERE v.runtime_group_id = g.id) AND EXISTS (SELECT 1 FROM entities e WHERE e.runtime_group_id = g.id)",
        )
        .fetch_all(self.read())
        .await?;
        let groups = rows
            .iter()
            .map(|r| r.uuid(0))
            .collect::<StoreResult<Vec<_>>>()?;
        if groups.is_empty() {
            return Ok(());
        }
        let tx = self.begin().await?;
        attributed(
            ChangeSource::system("history started"),
            self.commit_groups(tx, &groups),
        )
        .await?;
        Ok(())
    }
}

pub async fn get_config_version(
    conn: &mut Conn,
    group: Uuid,
    version: u64,
) -> StoreResult<(ConfigVersion, GatewayConfig)> {
    let sql = format!(
        "SELECT {META_COLS}, config, config_z FROM config_versions WHERE runtime_group_id = $1 AND version = $2"
    );
    let row = sqlx::query(&sql)
        .bind(group.to_string())
        .bind(version.min(i64::MAX as u64) as i64)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok((version_row(&row)?, stored_config(&row, 10)?))
}
