//! Request records and per-minute rollups written by the telemetry task; read by the console.

use std::collections::HashMap;

use rusqlite::params;
use uuid::Uuid;

use super::{Store, StoreError, StoreResult};
use crate::telemetry::RequestRecord;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCount {
    pub status: u16,
    pub count: i64,
}

/// A runtime group's traffic over a window, for the group page's tiles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrafficSummary {
    pub requests: i64,
    /// Responses with status 400 or above.
    pub errors: i64,
    /// From the raw records (kept for a shorter window than rollups); `None` without traffic.
    pub p99_ms: Option<i64>,
}

impl Store {
    pub fn group_summary(&self, group: Uuid, since_ms: i64) -> StoreResult<TrafficSummary> {
        let (requests, errors): (i64, i64) = {
            let conn = self.lock();
            conn.query_row(
                "SELECT COALESCE(SUM(count), 0), COALESCE(SUM(CASE WHEN status >= 400 THEN count ELSE 0 END), 0)
                 FROM request_rollups WHERE runtime_group_id = ?1 AND minute >= ?2",
                params![group.to_string(), since_ms / 60_000],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?
        };
        let mut latencies: Vec<i64> = self
            .list_request_records(since_ms)?
            .into_iter()
            .filter(|r| r.runtime_group_id == group && r.ts_ms >= since_ms)
            .map(|r| r.latency_ms)
            .collect();
        latencies.sort_unstable();
        let p99_ms = (!latencies.is_empty()).then(|| {
            let rank = ((latencies.len() as f64) * 0.99).ceil() as usize;
            latencies[rank.clamp(1, latencies.len()) - 1]
        });
        Ok(TrafficSummary {
            requests,
            errors,
            p99_ms,
        })
    }

    /// Writes a batch of records and folds them into the per-minute rollups, in one transaction.
    /// The batch is aggregated in memory first: one upsert per (minute, route, version, status).
    pub fn insert_request_records(&self, node: Uuid, records: &[RequestRecord]) -> StoreResult<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        insert_records_tx(&tx, node, records)?;
        tx.commit()?;
        Ok(())
    }

    /// Ingests a batch a data-plane node shipped. A batch is identified by its id: one that was
    /// already ingested (the node resent it after a lost acknowledgement) is acknowledged again
    /// without being counted twice. Returns whether the batch was new.
    pub fn ingest_node_batch(
        &self,
        batch_id: &str,
        node: Uuid,
        records: &[RequestRecord],
    ) -> StoreResult<bool> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let fresh = tx.execute(
            "INSERT INTO telemetry_batches (id, node_id, received_at) VALUES (?1, ?2, ?3) ON CONFLICT (id) DO NOTHING",
            params![batch_id, node.to_string(), crate::domain::now_secs()],
        )? == 1;
        if fresh {
            insert_records_tx(&tx, node, records)?;
        }
        tx.commit()?;
        Ok(fresh)
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

    /// Drops raw records older than `before_ms` (whole blocks, once their newest record is);
    /// rollups stay. Returns how many records went.
    pub fn prune_request_records(&self, before_ms: i64) -> StoreResult<usize> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let n: i64 = tx.query_row(
            "SELECT COALESCE(SUM(count), 0) FROM request_record_blocks WHERE last_ts_ms < ?1",
            [before_ms],
            |r| r.get(0),
        )?;
        tx.execute(
            "DELETE FROM request_record_blocks WHERE last_ts_ms < ?1",
            [before_ms],
        )?;
        tx.commit()?;
        Ok(n as usize)
    }

    /// Raw records from `since_ms` on, oldest first.
    pub fn list_request_records(&self, since_ms: i64) -> StoreResult<Vec<RequestRecord>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT data FROM request_record_blocks WHERE last_ts_ms >= ?1 ORDER BY first_ts_ms, rowid",
        )?;
        let blocks = stmt
            .query_map([since_ms], |r| r.get::<_, Vec<u8>>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::new();
        for b in blocks {
            let records = decode_records(&b).ok_or_else(|| {
                StoreError::Corrupt(serde::de::Error::custom("malformed request record block"))
            })?;
            out.extend(records.into_iter().filter(|r| r.ts_ms >= since_ms));
        }
        Ok(out)
    }
}

// Raw records are stored in blocks, one row per telemetry batch: a row per request cost the
// writer most of its CPU at proxy speed (two B-tree inserts each), a block costs one. Layout per
// record, little-endian: ts_ms i64, group id, service id, route id, version id (16 bytes each,
// nil = none), status u16, latency_ms i64, upstream_latency_ms i64 (-1 = none), bytes_in u64,
// bytes_out u64, method length u8, method bytes.
const FIXED: usize = 8 + 16 * 4 + 2 + 8 * 4 + 1;

fn encode_records(records: &[RequestRecord]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * (FIXED + 6));
    let id = |u: Option<Uuid>| u.unwrap_or(Uuid::nil()).into_bytes();
    for r in records {
        out.extend_from_slice(&r.ts_ms.to_le_bytes());
        out.extend_from_slice(r.runtime_group_id.as_bytes());
        out.extend_from_slice(&id(r.service_id));
        out.extend_from_slice(&id(r.route_id));
        out.extend_from_slice(&id(r.version_id));
        out.extend_from_slice(&r.status.to_le_bytes());
        out.extend_from_slice(&r.latency_ms.to_le_bytes());
        out.extend_from_slice(&r.upstream_latency_ms.unwrap_or(-1).to_le_bytes());
        out.extend_from_slice(&r.bytes_in.to_le_bytes());
        out.extend_from_slice(&r.bytes_out.to_le_bytes());
        let m = r.method.as_str().as_bytes();
        let m = &m[..m.len().min(255)];
        out.push(m.len() as u8);
        out.extend_from_slice(m);
    }
    out
}

fn decode_records(mut b: &[u8]) -> Option<Vec<RequestRecord>> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, rest) = b.split_at_checked(n)?;
        *b = rest;
        Some(head)
    }
    fn i64_(b: &mut &[u8]) -> Option<i64> {
        Some(i64::from_le_bytes(take(b, 8)?.try_into().ok()?))
    }
    fn id(b: &mut &[u8]) -> Option<Option<Uuid>> {
        let u = Uuid::from_slice(take(b, 16)?).ok()?;
        Some((!u.is_nil()).then_some(u))
    }
    let mut out = Vec::with_capacity(b.len() / FIXED);
    while !b.is_empty() {
        let ts_ms = i64_(&mut b)?;
        let runtime_group_id = id(&mut b)?.unwrap_or(Uuid::nil());
        let service_id = id(&mut b)?;
        let route_id = id(&mut b)?;
        let version_id = id(&mut b)?;
        let status = u16::from_le_bytes(take(&mut b, 2)?.try_into().ok()?);
        let latency_ms = i64_(&mut b)?;
        let upstream = i64_(&mut b)?;
        let bytes_in = i64_(&mut b)? as u64;
        let bytes_out = i64_(&mut b)? as u64;
        let len = *take(&mut b, 1)?.first()? as usize;
        let method = http::Method::from_bytes(take(&mut b, len)?).ok()?;
        out.push(RequestRecord {
            ts_ms,
            runtime_group_id,
            service_id,
            route_id,
            version_id,
            method,
            status,
            latency_ms,
            upstream_latency_ms: (upstream >= 0).then_some(upstream),
            bytes_in,
            bytes_out,
        });
    }
    Some(out)
}

/// Writes records as one raw block, folds them into the per-minute rollups and the node's traffic.
fn insert_records_tx(
    tx: &rusqlite::Transaction<'_>,
    node: Uuid,
    records: &[RequestRecord],
) -> StoreResult<()> {
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
    let block = encode_records(records);
    let (first, last) = records.iter().fold((i64::MAX, i64::MIN), |(a, b), r| {
        (a.min(r.ts_ms), b.max(r.ts_ms))
    });
    {
        if !records.is_empty() {
            tx.prepare_cached(
                    "INSERT INTO request_record_blocks (first_ts_ms, last_ts_ms, count, data) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![first, last, records.len() as i64, block])?;
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
    let mut traffic: HashMap<i64, (i64, i64)> = HashMap::new();
    for r in records {
        let t = traffic.entry(r.ts_ms / 60_000).or_default();
        t.0 += 1;
        t.1 += i64::from(r.status >= 500);
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO node_traffic (minute, node_id, count, errors) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (minute, node_id) DO UPDATE SET count = count + excluded.count, errors = errors + excluded.errors",
    )?;
    for (minute, (count, errors)) in traffic {
        stmt.execute(params![minute, node.to_string(), count, errors])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::RequestRecord;

    fn record(ts_ms: i64, version: Uuid, status: u16) -> RequestRecord {
        RequestRecord {
            ts_ms,
            runtime_group_id: Uuid::nil(),
            service_id: Some(Uuid::from_u128(1)),
            route_id: Some(Uuid::from_u128(2)),
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
    fn a_resent_node_batch_is_counted_once() {
        let dir = tempfile_dir();
        let store = Store::open(&dir.join("t.db")).expect("open");
        let (v, node) = (Uuid::new_v4(), Uuid::new_v4());
        let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
        let batch = vec![record(now, v, 200), record(now, v, 502)];
        assert!(store.ingest_node_batch("b1", node, &batch).expect("first"));
        assert!(!store.ingest_node_batch("b1", node, &batch).expect("resent"));
        assert!(store
            .ingest_node_batch("b2", node, &batch[..1])
            .expect("second"));
        let traffic = store.node_traffic_since(now - 60_000).expect("traffic");
        let t = traffic.get(&node).copied().unwrap_or_default();
        assert_eq!((t.requests, t.errors), (3, 1));
        assert_eq!(
            store
                .status_counts_for_version(v, 0)
                .expect("counts")
                .iter()
                .map(|c| c.count)
                .sum::<i64>(),
            3
        );
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
        ];
        store
            .insert_request_records(Uuid::nil(), &[record(now - 10 * 60_000, v, 500)])
            .expect("insert old");
        store
            .insert_request_records(Uuid::nil(), &batch)
            .expect("insert");
        assert_eq!(
            store.list_request_records(now).expect("list"),
            batch,
            "raw records read back as written"
        );
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
