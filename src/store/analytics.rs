//! Request records and per-minute rollups written by the telemetry task; read by the console.

use std::collections::HashMap;

use rusqlite::params;
use uuid::Uuid;

use super::{Store, StoreResult};
use crate::telemetry::RequestRecord;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCount {
    pub status: u16,
    pub count: i64,
}

impl Store {
    /// Writes a batch of records and folds them into the per-minute rollups, in one transaction.
    /// The batch is aggregated in memory first: one upsert per (minute, route, version, status).
    pub fn insert_request_records(&self, records: &[RequestRecord]) -> StoreResult<()> {
        type Key = (i64, Uuid, Option<Uuid>, Option<Uuid>, Option<Uuid>, u16);
        let mut rollups: HashMap<Key, (i64, i64)> = HashMap::new();
        for r in records {
            let key = (
                r.ts_ms / 60_000,
                r.runtime_group_id,
                r.service_id,
                r.route_id,
                r.version_id,
                r.status,
            );
            let entry = rollups.entry(key).or_insert((0, 0));
            entry.0 += 1;
            entry.1 += r.latency_ms;
        }
        let id = |u: Option<Uuid>| u.map(|u| u.to_string());
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        {
            let mut raw = tx.prepare_cached(
                "INSERT INTO request_records (ts_ms, runtime_group_id, service_id, route_id, version_id, method, status, latency_ms, upstream_latency_ms, bytes_in, bytes_out)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for r in records {
                raw.execute(params![
                    r.ts_ms,
                    r.runtime_group_id.to_string(),
                    id(r.service_id),
                    id(r.route_id),
                    id(r.version_id),
                    r.method.as_str(),
                    r.status,
                    r.latency_ms,
                    r.upstream_latency_ms,
                    r.bytes_in as i64,
                    r.bytes_out as i64
                ])?;
            }
            let mut rollup = tx.prepare_cached(
                "INSERT INTO request_rollups (minute, runtime_group_id, service_id, route_id, version_id, status, count, latency_ms_sum)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (minute, route_id, version_id, status)
                 DO UPDATE SET count = count + excluded.count, latency_ms_sum = latency_ms_sum + excluded.latency_ms_sum",
            )?;
            for ((minute, group, service, route, version, status), (count, latency)) in rollups {
                rollup.execute(params![
                    minute,
                    group.to_string(),
                    id(service).unwrap_or_default(),
                    id(route).unwrap_or_default(),
                    id(version).unwrap_or_default(),
                    status,
                    count,
                    latency
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Requests per status code for a version since `since_ms` (rounded down to the minute).
    pub fn status_counts_for_version(
        &self,
        version: Uuid,
        since_ms: i64,
    ) -> StoreResult<Vec<StatusCount>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT status, SUM(count) FROM request_rollups WHERE version_id = ?1 AND minute >= ?2 GROUP BY status ORDER BY status",
        )?;
        let rows = stmt
            .query_map(params![version.to_string(), since_ms / 60_000], |r| {
                Ok(StatusCount {
                    status: r.get(0)?,
                    count: r.get(1)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Drops raw records older than `before_ms`; rollups stay.
    pub fn prune_request_records(&self, before_ms: i64) -> StoreResult<usize> {
        Ok(self
            .lock()
            .execute("DELETE FROM request_records WHERE ts_ms < ?1", [before_ms])?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::RequestRecord;

    fn record(ts_ms: i64, version: Uuid, status: u16) -> RequestRecord {
        RequestRecord {
            ts_ms,
            runtime_group_id: Uuid::nil(),
            service_id: Some(Uuid::nil()),
            route_id: Some(Uuid::nil()),
            version_id: Some(version),
            method: http::Method::GET,
            status,
            latency_ms: 3,
            upstream_latency_ms: Some(1),
            bytes_in: 0,
            bytes_out: 10,
        }
    }

    #[test]
    fn rollups_count_per_status_and_survive_pruning() {
        let dir = tempfile_dir();
        let store = Store::open(&dir.join("t.db")).expect("open");
        let v = Uuid::new_v4();
        let now = 100 * 60_000;
        let batch = vec![
            record(now, v, 200),
            record(now + 1, v, 200),
            record(now + 2, v, 404),
            record(now - 10 * 60_000, v, 500),
        ];
        store.insert_request_records(&batch).expect("insert");
        let counts = store
            .status_counts_for_version(v, now - 5 * 60_000)
            .expect("counts");
        assert_eq!(
            counts,
            vec![
                StatusCount {
                    status: 200,
                    count: 2
                },
                StatusCount {
                    status: 404,
                    count: 1
                }
            ]
        );
        assert_eq!(store.prune_request_records(now).expect("prune"), 1);
        let counts = store.status_counts_for_version(v, 0).expect("counts");
        assert_eq!(
            counts.iter().map(|c| c.count).sum::<i64>(),
            4,
            "rollups are not pruned with raw records"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("gatehouse-test-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }
}
