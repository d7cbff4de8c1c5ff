//! Runtime groups, data-plane credentials and runtime instances (the nodes serving a group).

use std::collections::{BTreeMap, HashMap};

use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use super::{uuid_col, Store, StoreError, StoreResult};
use crate::domain::now_secs;
use crate::domain::runtime::{DpCredential, RuntimeGroup, RuntimeGroupInput, RuntimeInstance};

const GROUP_COLS: &str = "id, name, description, labels, is_default, created_at, updated_at";

fn group_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RuntimeGroup> {
    let labels: String = r.get(3)?;
    Ok(RuntimeGroup {
        id: uuid_col(r.get(0)?)?,
        name: r.get(1)?,
        description: r.get(2)?,
        labels: serde_json::from_str::<BTreeMap<String, String>>(&labels).unwrap_or_default(),
        is_default: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

const CRED_COLS: &str =
    "id, runtime_group_id, name, created_at, updated_at, expires_at, revoked_at";

fn cred_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DpCredential> {
    Ok(DpCredential {
        id: uuid_col(r.get(0)?)?,
        runtime_group_id: uuid_col(r.get(1)?)?,
        name: r.get(2)?,
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
        expires_at: r.get(5)?,
        revoked_at: r.get(6)?,
    })
}

const INSTANCE_COLS: &str = "id, runtime_group_id, hostname, ip, version, config_hash, first_seen, last_seen, connected, embedded, problem";

fn instance_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RuntimeInstance> {
    Ok(RuntimeInstance {
        id: uuid_col(r.get(0)?)?,
        runtime_group_id: uuid_col(r.get(1)?)?,
        hostname: r.get(2)?,
        ip: r.get(3)?,
        version: r.get(4)?,
        config_hash: r.get(5)?,
        first_seen: r.get(6)?,
        last_seen: r.get(7)?,
        connected: r.get(8)?,
        embedded: r.get(9)?,
        problem: r.get(10)?,
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

    pub(super) fn ensure_default_group(&self) -> StoreResult<()> {
        let conn = self.lock();
        let exists: bool = conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM runtime_groups WHERE is_default = 1)",
            [],
            |r| r.get(0),
        )?;
        if !exists {
            let now = now_secs();
            conn.execute(
                "INSERT INTO runtime_groups (id, name, description, is_default, created_at, updated_at) VALUES (?1, 'default', 'The default runtime group', 1, ?2, ?2)",
                params![Uuid::new_v4().to_string(), now],
            )?;
        }
        Ok(())
    }

    pub fn get_default_group(&self) -> StoreResult<RuntimeGroup> {
        let conn = self.lock();
        Ok(conn.query_row(
            &format!("SELECT {GROUP_COLS} FROM runtime_groups WHERE is_default = 1"),
            [],
            group_row,
        )?)
    }

    pub fn list_runtime_groups(&self) -> StoreResult<Vec<RuntimeGroup>> {
        let conn = self.lock();
        let mut stmt = conn.prepare(&format!(
            "SELECT {GROUP_COLS} FROM runtime_groups ORDER BY is_default DESC, name"
        ))?;
        let rows = stmt
            .query_map([], group_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn get_runtime_group(&self, id: Uuid) -> StoreResult<RuntimeGroup> {
        let conn = self.lock();
        conn.query_row(
            &format!("SELECT {GROUP_COLS} FROM runtime_groups WHERE id = ?1"),
            [id.to_string()],
            group_row,
        )
        .optional()?
        .ok_or(StoreError::NotFound)
    }

    /// By id, by name, or `default` for the default group whatever its current name.
    pub fn find_runtime_group(&self, id_or_name: &str) -> StoreResult<RuntimeGroup> {
        if let Ok(id) = Uuid::parse_str(id_or_name) {
            return self.get_runtime_group(id);
        }
        let conn = self.lock();
        let by_name = conn
            .query_row(
                &format!("SELECT {GROUP_COLS} FROM runtime_groups WHERE name = ?1"),
                [id_or_name],
                group_row,
            )
            .optional()?;
        drop(conn);
        match by_name {
            Some(g) => Ok(g),
            None if id_or_name == "default" => self.get_default_group(),
            None => Err(StoreError::NotFound),
        }
    }

    pub fn insert_runtime_group(&self, input: &RuntimeGroupInput) -> StoreResult<RuntimeGroup> {
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
        let conn = self.lock();
        conn.execute(
            "INSERT INTO runtime_groups (id, name, description, labels, is_default, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 0, ?5, ?5)",
            params![
                group.id.to_string(),
                group.name,
                group.description,
                serde_json::to_string(&group.labels)?,
                now
            ],
        )
        .map_err(StoreError::classify)?;
        Ok(group)
    }

    pub fn update_runtime_group(
        &self,
        id: Uuid,
        input: &RuntimeGroupInput,
    ) -> StoreResult<RuntimeGroup> {
        let n = {
            let conn = self.lock();
            conn.execute(
                "UPDATE runtime_groups SET name = ?2, description = ?3, labels = ?4, updated_at = ?5 WHERE id = ?1",
                params![
                    id.to_string(),
                    input.name,
                    input.description,
                    serde_json::to_string(&input.labels)?,
                    now_secs()
                ],
            )
            .map_err(StoreError::classify)?
        };
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.get_runtime_group(id)
    }

    /// Deletes a non-default group and every entity in it, in one transaction. Its nodes are
    /// not forgotten: they are orphaned and keep serving what they last received.
    pub fn delete_runtime_group(&self, id: Uuid) -> StoreResult<bool> {
        let g = id.to_string();
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let is_default: Option<bool> = tx
            .query_row(
                "SELECT is_default FROM runtime_groups WHERE id = ?1",
                [&g],
                |r| r.get(0),
            )
            .optional()?;
        match is_default {
            None => return Ok(false),
            Some(true) => return Err(StoreError::ForeignKey),
            Some(false) => {}
        }
        for sql in [
            "DELETE FROM routes WHERE runtime_group_id = ?1",
            "DELETE FROM service_versions WHERE runtime_group_id = ?1",
            "DELETE FROM gateway_services WHERE runtime_group_id = ?1",
            "DELETE FROM entities WHERE runtime_group_id = ?1 AND parent_id IS NOT NULL",
            "DELETE FROM entities WHERE runtime_group_id = ?1",
            "DELETE FROM runtime_groups WHERE id = ?1",
        ] {
            tx.execute(sql, [&g])?;
        }
        tx.commit()?;
        drop(conn);
        self.config_changed();
        Ok(true)
    }

    // ---- data-plane credentials ----

    pub fn insert_dp_credential(
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
        let conn = self.lock();
        conn.execute(
            "INSERT INTO dp_credentials (id, runtime_group_id, name, token_hash, created_at, updated_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
            params![cred.id.to_string(), group.to_string(), name, token_hash, now, expires_at],
        )
        .map_err(StoreError::classify)?;
        Ok(cred)
    }

    pub fn list_dp_credentials(&self, group: Uuid) -> StoreResult<Vec<DpCredential>> {
        let conn = self.lock();
        let mut stmt = conn.prepare(&format!(
            "SELECT {CRED_COLS} FROM dp_credentials WHERE runtime_group_id = ?1 ORDER BY created_at DESC, id"
        ))?;
        let rows = stmt
            .query_map([group.to_string()], cred_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn find_dp_credential_by_hash(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<DpCredential>> {
        let conn = self.lock();
        Ok(conn
            .query_row(
                &format!("SELECT {CRED_COLS} FROM dp_credentials WHERE token_hash = ?1"),
                [token_hash],
                cred_row,
            )
            .optional()?)
    }

    pub fn get_dp_credential(&self, id: Uuid) -> StoreResult<Option<DpCredential>> {
        let conn = self.lock();
        Ok(conn
            .query_row(
                &format!("SELECT {CRED_COLS} FROM dp_credentials WHERE id = ?1"),
                [id.to_string()],
                cred_row,
            )
            .optional()?)
    }

    /// Sets a credential's expiry (renew) or revokes it; `None` when it is not in `group`.
    pub fn update_dp_credential(
        &self,
        group: Uuid,
        id: Uuid,
        expires_at: Option<i64>,
        revoke: bool,
    ) -> StoreResult<Option<DpCredential>> {
        let now = now_secs();
        let conn = self.lock();
        let n = conn.execute(
            "UPDATE dp_credentials SET expires_at = COALESCE(?3, expires_at), revoked_at = CASE WHEN ?4 THEN COALESCE(revoked_at, ?5) ELSE revoked_at END, updated_at = ?5 WHERE id = ?1 AND runtime_group_id = ?2",
            params![id.to_string(), group.to_string(), expires_at, revoke, now],
        )?;
        drop(conn);
        if n == 0 {
            return Ok(None);
        }
        self.get_dp_credential(id)
    }

    pub fn delete_dp_credential(&self, group: Uuid, id: Uuid) -> StoreResult<bool> {
        let conn = self.lock();
        Ok(conn.execute(
            "DELETE FROM dp_credentials WHERE id = ?1 AND runtime_group_id = ?2",
            params![id.to_string(), group.to_string()],
        )? > 0)
    }

    // ---- runtime instances ----

    /// Records that a node was heard from now, with what it said about itself.
    pub fn report_instance(&self, r: &InstanceReport, connected: bool) -> StoreResult<()> {
        let now = now_secs();
        let conn = self.lock();
        conn.execute(
            "INSERT INTO runtime_instances (id, runtime_group_id, hostname, ip, version, config_hash, first_seen, last_seen, connected, embedded, problem)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9, '')
             ON CONFLICT (id) DO UPDATE SET runtime_group_id = excluded.runtime_group_id, hostname = excluded.hostname,
               ip = excluded.ip, version = excluded.version, config_hash = excluded.config_hash,
               last_seen = excluded.last_seen, connected = excluded.connected, embedded = excluded.embedded, problem = ''",
            params![
                r.id.to_string(),
                r.runtime_group_id.to_string(),
                r.hostname,
                r.ip,
                r.version,
                r.config_hash,
                now,
                connected,
                r.embedded
            ],
        )?;
        Ok(())
    }

    pub fn set_instance_disconnected(&self, id: Uuid) -> StoreResult<()> {
        let conn = self.lock();
        conn.execute(
            "UPDATE runtime_instances SET connected = 0 WHERE id = ?1",
            [id.to_string()],
        )?;
        Ok(())
    }

    /// Notes why the control plane refused a node it already knows; unknown nodes are not added.
    pub fn set_instance_problem(&self, id: Uuid, problem: &str) -> StoreResult<()> {
        let conn = self.lock();
        conn.execute(
            "UPDATE runtime_instances SET problem = ?2, connected = 0 WHERE id = ?1",
            params![id.to_string(), problem],
        )?;
        Ok(())
    }

    /// Records a node the control plane refused although its credential names a group (revoked
    /// or expired), so the table shows it and why; what it last ran is kept.
    pub fn note_refused_instance(&self, r: &InstanceReport, problem: &str) -> StoreResult<()> {
        let now = now_secs();
        let conn = self.lock();
        conn.execute(
            "INSERT INTO runtime_instances (id, runtime_group_id, hostname, ip, version, config_hash, first_seen, last_seen, connected, embedded, problem)
             VALUES (?1, ?2, ?3, ?4, ?5, '', ?6, ?6, 0, 0, ?7)
             ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, ip = excluded.ip, version = excluded.version,
               last_seen = excluded.last_seen, connected = 0, problem = excluded.problem",
            params![
                r.id.to_string(),
                r.runtime_group_id.to_string(),
                r.hostname,
                r.ip,
                r.version,
                now,
                problem
            ],
        )?;
        Ok(())
    }

    /// At control-plane start no node is connected yet, whatever the table said at shutdown.
    pub fn mark_all_instances_disconnected(&self) -> StoreResult<()> {
        let conn = self.lock();
        conn.execute("UPDATE runtime_instances SET connected = 0", [])?;
        Ok(())
    }

    pub fn list_instances(&self, group: Uuid) -> StoreResult<Vec<RuntimeInstance>> {
        let conn = self.lock();
        let mut stmt = conn.prepare(&format!(
            "SELECT {INSTANCE_COLS} FROM runtime_instances WHERE runtime_group_id = ?1 ORDER BY embedded DESC, hostname, id"
        ))?;
        let rows = stmt
            .query_map([group.to_string()], instance_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn get_instance(&self, id: Uuid) -> StoreResult<Option<RuntimeInstance>> {
        let conn = self.lock();
        Ok(conn
            .query_row(
                &format!("SELECT {INSTANCE_COLS} FROM runtime_instances WHERE id = ?1"),
                [id.to_string()],
                instance_row,
            )
            .optional()?)
    }

    pub fn forget_instance(&self, group: Uuid, id: Uuid) -> StoreResult<bool> {
        let conn = self.lock();
        Ok(conn.execute(
            "DELETE FROM runtime_instances WHERE id = ?1 AND runtime_group_id = ?2",
            params![id.to_string(), group.to_string()],
        )? > 0)
    }

    /// Requests and server errors per node since `since_ms`.
    pub fn node_traffic_since(&self, since_ms: i64) -> StoreResult<HashMap<Uuid, NodeTraffic>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT node_id, SUM(count), SUM(errors) FROM node_traffic WHERE minute >= ?1 GROUP BY node_id",
        )?;
        let rows = stmt
            .query_map([since_ms / 60_000], |r| {
                Ok((
                    uuid_col(r.get(0)?)?,
                    NodeTraffic {
                        requests: r.get(1)?,
                        errors: r.get(2)?,
                    },
                ))
            })?
            .collect::<Result<HashMap<_, _>, _>>()?;
        Ok(rows)
    }
}
