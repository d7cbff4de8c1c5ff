//! Runtime groups, data-plane credentials and runtime instances (the nodes serving a group).

use std::collections::{BTreeMap, HashMap};

use sqlx::any::AnyRow;
use uuid::Uuid;

use super::db::{classify, RowExt};
use super::{Store, StoreError, StoreResult};
use crate::domain::now_secs;
use crate::domain::runtime::{DpCredential, RuntimeGroup, RuntimeGroupInput, RuntimeInstance};

const GROUP_COLS: &str = "id, name, description, labels, is_default, created_at, updated_at";

fn group_row(r: &AnyRow) -> StoreResult<RuntimeGroup> {
    let labels = r.text(3)?;
    Ok(RuntimeGroup {
        id: r.uuid(0)?,
        name: r.text(1)?,
        description: r.text(2)?,
        labels: serde_json::from_str::<BTreeMap<String, String>>(&labels).unwrap_or_default(),
        is_default: r.flag(4)?,
        created_at: r.int(5)?,
        updated_at: r.int(6)?,
    })
}

const CRED_COLS: &str =
    "id, runtime_group_id, name, created_at, updated_at, expires_at, revoked_at";

fn cred_row(r: &AnyRow) -> StoreResult<DpCredential> {
    Ok(DpCredential {
        id: r.uuid(0)?,
        runtime_group_id: r.uuid(1)?,
        name: r.text(2)?,
        created_at: r.int(3)?,
        updated_at: r.int(4)?,
        expires_at: r.int(5)?,
        revoked_at: r.opt_int(6)?,
    })
}

const INSTANCE_COLS: &str = "id, runtime_group_id, hostname, ip, version, config_hash, first_seen, last_seen, connected, embedded, problem";

fn instance_row(r: &AnyRow) -> StoreResult<RuntimeInstance> {
    Ok(RuntimeInstance {
        id: r.uuid(0)?,
        runtime_group_id: r.uuid(1)?,
        hostname: r.text(2)?,
        ip: r.text(3)?,
        version: r.text(4)?,
        config_hash: r.text(5)?,
        first_seen: r.int(6)?,
        last_seen: r.int(7)?,
        connected: r.flag(8)?,
        embedded: r.flag(9)?,
        problem: r.text(10)?,
    })
}

/// What a node reported about itself, as the control plane records it.
#[derive(Debug, Clone)]
pub struct InstanceReport {
    pub id: Uuid,
    pub runtime_group_id: Uuid,
    pub hostname: String,
    pub ip: String,
    pub version: String,
    pub config_hash: String,
    pub embedded: bool,
}

/// Requests and errors (status ≥ 500) a node served in a time window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeTraffic {
    pub requests: i64,
    pub errors: i64,
}

impl Store {
    // ---- runtime groups ----

    /// Creates the default group once; two control planes starting together create one.
    pub(super) async fn ensure_default_group(&self) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        if self.backend() == super::Backend::Postgres {
            sqlx::query("LOCK TABLE runtime_groups IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await?;
        }
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM runtime_groups WHERE is_default = 1")
            .fetch_one(&mut *tx)
            .await?;
        if n == 0 {
            let now = now_secs();
            sqlx::query(
                "INSERT INTO runtime_groups (id, name, description, is_default, created_at, updated_at) VALUES ($1, 'default', 'The default runtime group', 1, $2, $2)",
            )
            .bind(Uuid::new_v4().to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn get_default_group(&self) -> StoreResult<RuntimeGroup> {
        let sql = format!("SELECT {GROUP_COLS} FROM runtime_groups WHERE is_default = 1");
        let row = sqlx::query(&sql)
            .fetch_optional(self.read())
            .await?
            .ok_or(StoreError::NotFound)?;
        group_row(&row)
    }

    pub async fn list_runtime_groups(&self) -> StoreResult<Vec<RuntimeGroup>> {
        let sql = format!("SELECT {GROUP_COLS} FROM runtime_groups ORDER BY is_default DESC, name");
        let rows = sqlx::query(&sql).fetch_all(self.read()).await?;
        rows.iter().map(group_row).collect()
    }

    pub async fn get_runtime_group(&self, id: Uuid) -> StoreResult<RuntimeGroup> {
        let sql = format!("SELECT {GROUP_COLS} FROM runtime_groups WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_optional(self.read())
            .await?
            .ok_or(StoreError::NotFound)?;
        group_row(&row)
    }

    /// By id, by name, or `default` for the default group whatever its current name.
    pub async fn find_runtime_group(&self, id_or_name: &str) -> StoreResult<RuntimeGroup> {
        if let Ok(id) = Uuid::parse_str(id_or_name) {
            return self.get_runtime_group(id).await;
        }
        let sql = format!("SELECT {GROUP_COLS} FROM runtime_groups WHERE name = $1");
        let by_name = sqlx::query(&sql)
            .bind(id_or_name)
            .fetch_optional(self.read())
            .await?;
        match by_name {
            Some(g) => group_row(&g),
            None if id_or_name == "default" => self.get_default_group().await,
            None => Err(StoreError::NotFound),
        }
    }

    pub async fn insert_runtime_group(
        &self,
        input: &RuntimeGroupInput,
    ) -> StoreResult<RuntimeGroup> {
        let now = now_secs();
        let group = RuntimeGroup {
            id: Uuid::new_v4(),
            name: input.name.clone(),
            description: input.description.clone(),
            labels: input.labels.clone(),
            is_default: false,
            created_at: now,
            updated_at: now,
        };
        sqlx::query(
            "INSERT INTO runtime_groups (id, name, description, labels, is_default, created_at, updated_at) VALUES ($1, $2, $3, $4, 0, $5, $5)",
        )
        .bind(group.id.to_string())
        .bind(&group.name)
        .bind(&group.description)
        .bind(serde_json::to_string(&group.labels)?)
        .bind(now)
        .execute(self.write_pool())
        .await
        .map_err(|e| classify(e, "runtime_groups"))?;
        Ok(group)
    }

    pub async fn update_runtime_group(
        &self,
        id: Uuid,
        input: &RuntimeGroupInput,
    ) -> StoreResult<RuntimeGroup> {
        let n = sqlx::query(
            "UPDATE runtime_groups SET name = $2, description = $3, labels = $4, updated_at = $5 WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(&input.name)
        .bind(&input.description)
        .bind(serde_json::to_string(&input.labels)?)
        .bind(now_secs())
        .execute(self.write_pool())
        .await
        .map_err(|e| classify(e, "runtime_groups"))?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.get_runtime_group(id).await
    }

    /// Deletes a non-default group and every entity in it, in one transaction. Its nodes are
    /// not forgotten: they are orphaned and keep serving what they last received.
    pub async fn delete_runtime_group(&self, id: Uuid) -> StoreResult<bool> {
        let g = id.to_string();
        let mut tx = self.begin().await?;
        let is_default = sqlx::query("SELECT is_default FROM runtime_groups WHERE id = $1")
            .bind(&g)
            .fetch_optional(&mut *tx)
            .await?;
        match is_default.map(|r| r.flag(0)).transpose()? {
            None => return Ok(false),
            Some(true) => return Err(StoreError::ForeignKey),
            Some(false) => {}
        }
        // Owned and referring entities first, so no foreign key stands in the way.
        for sql in [
            "DELETE FROM service_versions WHERE runtime_group_id = $1",
            "DELETE FROM entities WHERE runtime_group_id = $1 AND parent_id IS NOT NULL",
            "DELETE FROM entities WHERE runtime_group_id = $1 AND ref_id IS NOT NULL",
            "DELETE FROM entities WHERE runtime_group_id = $1",
            "DELETE FROM runtime_groups WHERE id = $1",
        ] {
            sqlx::query(sql).bind(&g).execute(&mut *tx).await?;
        }
        // The group and its history are gone: nothing to record.
        self.commit_groups(tx, &[]).await?;
        Ok(true)
    }

    // ---- data-plane credentials ----

    pub async fn insert_dp_credential(
        &self,
        group: Uuid,
        name: &str,
        token_hash: &str,
        expires_at: i64,
    ) -> StoreResult<DpCredential> {
        let now = now_secs();
        let cred = DpCredential {
            id: Uuid::new_v4(),
            runtime_group_id: group,
            name: name.to_string(),
            created_at: now,
            updated_at: now,
            expires_at,
            revoked_at: None,
        };
        sqlx::query(
            "INSERT INTO dp_credentials (id, runtime_group_id, name, token_hash, created_at, updated_at, expires_at) VALUES ($1, $2, $3, $4, $5, $5, $6)",
        )
        .bind(cred.id.to_string())
        .bind(group.to_string())
        .bind(name)
        .bind(token_hash)
        .bind(now)
        .bind(expires_at)
        .execute(self.write_pool())
        .await
        .map_err(|e| classify(e, "dp_credentials"))?;
        Ok(cred)
    }

    pub async fn list_dp_credentials(&self, group: Uuid) -> StoreResult<Vec<DpCredential>> {
        let sql = format!(
            "SELECT {CRED_COLS} FROM dp_credentials WHERE runtime_group_id = $1 ORDER BY created_at DESC, id"
        );
        let rows = sqlx::query(&sql)
            .bind(group.to_string())
            .fetch_all(self.read())
            .await?;
        rows.iter().map(cred_row).collect()
    }

    pub async fn find_dp_credential_by_hash(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<DpCredential>> {
        let sql = format!("SELECT {CRED_COLS} FROM dp_credentials WHERE token_hash = $1");
        sqlx::query(&sql)
            .bind(token_hash)
            .fetch_optional(self.read())
            .await?
            .as_ref()
            .map(cred_row)
            .transpose()
    }

    pub async fn get_dp_credential(&self, id: Uuid) -> StoreResult<Option<DpCredential>> {
        let sql = format!("SELECT {CRED_COLS} FROM dp_credentials WHERE id = $1");
        sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_optional(self.read())
            .await?
            .as_ref()
            .map(cred_row)
            .transpose()
    }

    /// Sets a credential's expiry (renew) or revokes it; `None` when it is not in `group`.
    pub async fn update_dp_credential(
        &self,
        group: Uuid,
        id: Uuid,
        expires_at: Option<i64>,
        revoke: bool,
    ) -> StoreResult<Option<DpCredential>> {
        let now = now_secs();
        let sql = format!(
            "UPDATE dp_credentials SET expires_at = COALESCE($3, expires_at), revoked_at = CASE WHEN $4 = 1 THEN COALESCE(revoked_at, $5) ELSE revoked_at END, updated_at = $5 WHERE id = $1 AND runtime_group_id = $2 RETURNING {CRED_COLS}"
        );
        sqlx::query(&sql)
            .bind(id.to_string())
            .bind(group.to_string())
            .bind(expires_at)
            .bind(i64::from(revoke))
            .bind(now)
            .fetch_optional(self.write_pool())
            .await?
            .as_ref()
            .map(cred_row)
            .transpose()
    }

    pub async fn delete_dp_credential(&self, group: Uuid, id: Uuid) -> StoreResult<bool> {
        Ok(
            sqlx::query("DELETE FROM dp_credentials WHERE id = $1 AND runtime_group_id = $2")
                .bind(id.to_string())
                .bind(group.to_string())
                .execute(self.write_pool())
                .await?
                .rows_affected()
                > 0,
        )
    }

    // ---- runtime instances ----

    /// Records that a node was heard from now, with what it said about itself.
    pub async fn report_instance(&self, r: &InstanceReport, connected: bool) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO runtime_instances (id, runtime_group_id, hostname, ip, version, config_hash, first_seen, last_seen, connected, embedded, problem)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, '')
             ON CONFLICT (id) DO UPDATE SET runtime_group_id = excluded.runtime_group_id, hostname = excluded.hostname,
               ip = excluded.ip, version = excluded.version, config_hash = excluded.config_hash,
               last_seen = excluded.last_seen, connected = excluded.connected, embedded = excluded.embedded, problem = ''",
        )
        .bind(r.id.to_string())
        .bind(r.runtime_group_id.to_string())
        .bind(&r.hostname)
        .bind(&r.ip)
        .bind(&r.version)
        .bind(&r.config_hash)
        .bind(now_secs())
        .bind(i64::from(connected))
        .bind(i64::from(r.embedded))
        .execute(self.write_pool())
        .await?;
        Ok(())
    }

    pub async fn set_instance_disconnected(&self, id: Uuid) -> StoreResult<()> {
        sqlx::query("UPDATE runtime_instances SET connected = 0 WHERE id = $1")
            .bind(id.to_string())
            .execute(self.write_pool())
            .await?;
        Ok(())
    }

    /// Notes why the control plane refused a node it already knows; unknown nodes are not added.
    pub async fn set_instance_problem(&self, id: Uuid, problem: &str) -> StoreResult<()> {
        sqlx::query("UPDATE runtime_instances SET problem = $2, connected = 0 WHERE id = $1")
            .bind(id.to_string())
            .bind(problem)
            .execute(self.write_pool())
            .await?;
        Ok(())
    }

    /// Records a node the control plane refused although its credential names a group (revoked
    /// or expired), so the table shows it and why; what it last ran is kept.
    pub async fn note_refused_instance(
        &self,
        r: &InstanceReport,
        problem: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO runtime_instances (id, runtime_group_id, hostname, ip, version, config_hash, first_seen, last_seen, connected, embedded, problem)
             VALUES ($1, $2, $3, $4, $5, '', $6, $6, 0, 0, $7)
             ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, ip = excluded.ip, version = excluded.version,
               last_seen = excluded.last_seen, connected = 0, problem = excluded.problem",
        )
        .bind(r.id.to_string())
        .bind(r.runtime_group_id.to_string())
        .bind(&r.hostname)
        .bind(&r.ip)
        .bind(&r.version)
        .bind(now_secs())
        .bind(problem)
        .execute(self.write_pool())
        .await?;
        Ok(())
    }

    /// At control-plane start no node is connected to this process yet. With control planes
    /// sharing one database this only clears what the table said at the last shutdown of a
    /// single control plane; nodes connected elsewhere report themselves again at their next
    /// heartbeat.
    pub async fn mark_all_instances_disconnected(&self) -> StoreResult<()> {
        sqlx::query("UPDATE runtime_instances SET connected = 0")
            .execute(self.write_pool())
            .await?;
        Ok(())
    }

    pub async fn list_instances(&self, group: Uuid) -> StoreResult<Vec<RuntimeInstance>> {
        let sql = format!(
            "SELECT {INSTANCE_COLS} FROM runtime_instances WHERE runtime_group_id = $1 ORDER BY embedded DESC, hostname, id"
        );
        let rows = sqlx::query(&sql)
            .bind(group.to_string())
            .fetch_all(self.read())
            .await?;
        rows.iter().map(instance_row).collect()
    }

    pub async fn get_instance(&self, id: Uuid) -> StoreResult<Option<RuntimeInstance>> {
        let sql = format!("SELECT {INSTANCE_COLS} FROM runtime_instances WHERE id = $1");
        sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_optional(self.read())
            .await?
            .as_ref()
            .map(instance_row)
            .transpose()
    }

    pub async fn forget_instance(&self, group: Uuid, id: Uuid) -> StoreResult<bool> {
        Ok(
            sqlx::query("DELETE FROM runtime_instances WHERE id = $1 AND runtime_group_id = $2")
                .bind(id.to_string())
                .bind(group.to_string())
                .execute(self.write_pool())
                .await?
                .rows_affected()
                > 0,
        )
    }

    /// Requests and server errors per node since `since_ms`.
    pub async fn node_traffic_since(
        &self,
        since_ms: i64,
    ) -> StoreResult<HashMap<Uuid, NodeTraffic>> {
        let rows = sqlx::query(
            "SELECT node_id, CAST(SUM(count) AS BIGINT), CAST(SUM(errors) AS BIGINT) FROM node_traffic WHERE minute >= $1 GROUP BY node_id",
        )
        .bind(since_ms / 60_000)
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.uuid(0)?,
                    NodeTraffic {
                        requests: r.int(1)?,
                        errors: r.int(2)?,
                    },
                ))
            })
            .collect()
    }
}
