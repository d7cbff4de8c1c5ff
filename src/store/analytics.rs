//! Request records and per-minute rollups written by the telemetry task; read by the console.

use std::collections::HashMap;

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter};
use uuid::Uuid;

use super::{Store, StoreError, StoreResult};
use crate::telemetry::{histogram, RequestRecord};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCount {
    pub status: u16,
    pub count: i64,
}

/// Which traffic an analytics query is about; `None` fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnalyticsFilter {
    pub group: Option<Uuid>,
    pub service: Option<Uuid>,
    pub version: Option<Uuid>,
    pub route: Option<Uuid>,
    /// Any of these versions (a catalog service's); `Some(empty)` matches nothing.
    pub versions: Option<Vec<Uuid>>,
    /// 2 for 2xx … 5xx.
    pub status_class: Option<u16>,
    pub since_ms: i64,
    pub until_ms: Option<i64>,
}

impl AnalyticsFilter {
    pub fn since(since_ms: i64) -> AnalyticsFilter {
        AnalyticsFilter {
            since_ms,
            ..AnalyticsFilter::default()
        }
    }

    /// The WHERE clause over a rollup-shaped table; `class` is the SQL for the status class.
    fn clause(&self, class: &str) -> (String, Vec<SqlValue>) {
        let mut sql = String::from("minute >= ?1");
        let mut args = vec![SqlValue::Integer(self.since_ms.div_euclid(60_000))];
        if let Some(vs) = &self.versions {
            if vs.is_empty() {
                sql.push_str(" AND 0");
            } else {
                let first = args.len() + 1;
                let marks: Vec<String> =
                    (first..first + vs.len()).map(|i| format!("?{i}")).collect();
                sql.push_str(&format!(" AND version_id IN ({})", marks.join(", ")));
                args.extend(vs.iter().map(|v| SqlValue::Text(v.to_string())));
            }
        }
        let mut add = |cond: &str, v: SqlValue| {
            args.push(v);
            sql.push_str(&format!(" AND {cond} ?{}", args.len()));
        };
        if let Some(until) = self.until_ms {
            add("minute <", SqlValue::Integer(until.div_euclid(60_000)));
        }
        for (col, v) in [
            ("runtime_group_id", self.group),
            ("service_id", self.service),
            ("version_id", self.version),
            ("route_id", self.route),
        ] {
            if let Some(v) = v {
                add(&format!("{col} ="), SqlValue::Text(v.to_string()));
            }
        }
        if let Some(c) = self.status_class {
            add(&format!("{class} ="), SqlValue::Integer(i64::from(c)));
        }
        (sql, args)
    }
}

/// Requests over a window: totals and latency sums (rollups only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub requests: i64,
    /// Status 400 and above.
    pub errors: i64,
    /// Status 500 and above.
    pub server_errors: i64,
    pub latency_ms_sum: i64,
    pub upstream_latency_ms_sum: i64,
}

/// Requests per status class in one time step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesPoint {
    pub start_ms: i64,
    /// Index 0 is 1xx … 4 is 5xx.
    pub classes: [i64; 5],
}

impl SeriesPoint {
    pub fn total(&self) -> i64 {
        self.classes.iter().sum()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Percentiles {
    pub p50: Option<i64>,
    pub p95: Option<i64>,
    pub p99: Option<i64>,
}

/// Traffic of one entity (route, version, service) in a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityTraffic {
    pub id: String,
    pub requests: i64,
    pub errors: i64,
}

/// A runtime group's traffic over a window, for the group page's tiles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrafficSummary {
    pub requests: i64,
    /// Responses with status 400 or above.
    pub errors: i64,
    /// From the latency histograms; `None` without traffic.
    pub p99_ms: Option<i64>,
}

impl Store {
    pub fn analytics_totals(&self, f: &AnalyticsFilter) -> StoreResult<Totals> {
        let (w, args) = f.clause("status / 100");
        let conn = self.lock();
        let t = conn.query_row(
            &format!(
                "SELECT COALESCE(SUM(count), 0),
                        COALESCE(SUM(CASE WHEN status >= 400 THEN count ELSE 0 END), 0),
                        COALESCE(SUM(CASE WHEN status >= 500 THEN count ELSE 0 END), 0),
                        COALESCE(SUM(latency_ms_sum), 0), COALESCE(SUM(upstream_latency_ms_sum), 0)
                 FROM request_rollups WHERE {w}"
            ),
            params_from_iter(args),
            |r| {
                Ok(Totals {
                    requests: r.get(0)?,
                    errors: r.get(1)?,
                    server_errors: r.get(2)?,
                    latency_ms_sum: r.get(3)?,
                    upstream_latency_ms_sum: r.get(4)?,
                })
            },
        )?;
        Ok(t)
    }

    pub fn analytics_status_counts(&self, f: &AnalyticsFilter) -> StoreResult<Vec<StatusCount>> {
        let (w, args) = f.clause("status / 100");
        let conn = self.lock();
        let mut stmt = conn.prepare(&format!(
            "SELECT status, SUM(count) FROM request_rollups WHERE {w} GROUP BY status ORDER BY status"
        ))?;
        let rows = stmt
            .query_map(params_from_iter(args), |r| {
                Ok(StatusCount {
                    status: r.get(0)?,
                    count: r.get(1)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Requests per status class in steps of `step_secs` (a multiple of 60) from the filter's
    /// start to `until_ms`; steps without traffic are present with zeros.
    pub fn analytics_series(
        &self,
        f: &AnalyticsFilter,
        step_secs: i64,
        until_ms: i64,
    ) -> StoreResult<Vec<SeriesPoint>> {
        let step_min = (step_secs / 60).max(1);
        let (w, args) = f.clause("status / 100");
        let rows: Vec<(i64, i64, i64)> = {
            let conn = self.lock();
            let mut stmt = conn.prepare(&format!(
                "SELECT (minute / {step_min}) * {step_min}, status / 100, SUM(count) FROM request_rollups
                 WHERE {w} GROUP BY 1, 2"
            ))?;
            let rows = stmt
                .query_map(params_from_iter(args), |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows
        };
        let first = (f.since_ms.div_euclid(60_000) / step_min) * step_min;
        let last = (until_ms.div_euclid(60_000) / step_min) * step_min;
        let mut points: Vec<SeriesPoint> = (0..=((last - first) / step_min).max(0))
            .map(|i| SeriesPoint {
                start_ms: (first + i * step_min) * 60_000,
                classes: [0; 5],
            })
            .collect();
        for (start, class, n) in rows {
            let idx = ((start - first) / step_min) as usize;
            if let (Some(p), 1..=5) = (points.get_mut(idx), class) {
                p.classes[(class - 1) as usize] += n;
            }
        }
        Ok(points)
    }

    pub fn analytics_percentiles(&self, f: &AnalyticsFilter) -> StoreResult<Percentiles> {
        let (w, args) = f.clause("status_class");
        let counts: Vec<(usize, i64)> = {
            let conn = self.lock();
            let mut stmt = conn.prepare(&format!(
                "SELECT bucket, SUM(count) FROM latency_buckets WHERE {w} GROUP BY bucket"
            ))?;
            let rows = stmt
                .query_map(params_from_iter(args), |r| {
                    Ok((r.get::<_, i64>(0)? as usize, r.get(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows
        };
        Ok(Percentiles {
            p50: histogram::percentile(&counts, 0.50),
            p95: histogram::percentile(&counts, 0.95),
            p99: histogram::percentile(&counts, 0.99),
        })
    }

    /// The busiest entities by `dimension` (`route_id`, `version_id` or `service_id`).
    pub fn analytics_top(
        &self,
        f: &AnalyticsFilter,
        dimension: &str,
        limit: usize,
    ) -> StoreResult<Vec<EntityTraffic>> {
        let col = match dimension {
            "route_id" | "version_id" | "service_id" => dimension,
            _ => return Ok(Vec::new()),
        };
        let (w, args) = f.clause("status / 100");
        let conn = self.lock();
        let mut stmt = conn.prepare(&format!(
            "SELECT {col}, SUM(count), SUM(CASE WHEN status >= 400 THEN count ELSE 0 END) FROM request_rollups
             WHERE {w} AND {col} != '' GROUP BY {col} ORDER BY 2 DESC, 1 LIMIT {limit}"
        ))?;
        let rows = stmt
            .query_map(params_from_iter(args), |r| {
                Ok(EntityTraffic {
                    id: r.get(0)?,
                    requests: r.get(1)?,
                    errors: r.get(2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Drops rollups, histograms and per-node traffic older than `before_ms`, and the record of
    /// ingested node batches older than `batches_before_ms`. Returns the rollup rows removed.
    pub fn prune_analytics(&self, before_ms: i64, batches_before_ms: i64) -> StoreResult<usize> {
        let minute = before_ms.div_euclid(60_000);
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let n = tx.execute("DELETE FROM request_rollups WHERE minute < ?1", [minute])?;
        tx.execute("DELETE FROM latency_buckets WHERE minute < ?1", [minute])?;
        tx.execute("DELETE FROM node_traffic WHERE minute < ?1", [minute])?;
        tx.execute(
            "DELETE FROM telemetry_batches WHERE received_at < ?1",
            [batches_before_ms.div_euclid(1000)],
        )?;
        tx.commit()?;
        Ok(n)
    }

    pub fn group_summary(&self, group: Uuid, since_ms: i64) -> StoreResult<TrafficSummary> {
        let filter = AnalyticsFilter {
            group: Some(group),
            ..AnalyticsFilter::since(since_ms)
        };
        let totals = self.analytics_totals(&filter)?;
        Ok(TrafficSummary {
            requests: totals.requests,
            errors: totals.errors,
            p99_ms: self.analytics_percentiles(&filter)?.p99,
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
    // Aggregated in memory first: one upsert per rollup row and per histogram bucket.
    type Key = (i64, Uuid, Option<Uuid>, Option<Uuid>, Option<Uuid>, u16);
    #[derive(Default)]
    struct Sums {
        count: i64,
        latency: i64,
        upstream: i64,
        bytes_in: i64,
        bytes_out: i64,
    }
    let mut rollups: HashMap<Key, Sums> = HashMap::new();
    let mut buckets: HashMap<(Key, usize), i64> = HashMap::new();
    for r in records {
        let key = (
            r.ts_ms / 60_000,
            r.runtime_group_id,
            r.service_id,
            r.route_id,
            r.version_id,
            r.status,
        );
        let e = rollups.entry(key).or_default();
        e.count += 1;
        e.latency += r.latency_ms;
        e.upstream += r.upstream_latency_ms.unwrap_or(0);
        e.bytes_in += r.bytes_in as i64;
        e.bytes_out += r.bytes_out as i64;
        let class_key = (key.0, key.1, key.2, key.3, key.4, r.status / 100);
        *buckets
            .entry((class_key, histogram::bucket_of(r.latency_ms)))
            .or_insert(0) += 1;
    }
    let id = |u: Option<Uuid>| u.map(|u| u.to_string()).unwrap_or_default();
    if !records.is_empty() {
        let block = encode_records(records);
        let (first, last) = records.iter().fold((i64::MAX, i64::MIN), |(a, b), r| {
            (a.min(r.ts_ms), b.max(r.ts_ms))
        });
        tx.prepare_cached(
            "INSERT INTO request_record_blocks (first_ts_ms, last_ts_ms, count, data) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![first, last, records.len() as i64, block])?;
    }
    let mut rollup = tx.prepare_cached(
        "INSERT INTO request_rollups (minute, runtime_group_id, service_id, route_id, version_id, status, count, latency_ms_sum, upstream_latency_ms_sum, bytes_in, bytes_out)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (minute, runtime_group_id, route_id, version_id, status)
         DO UPDATE SET count = count + excluded.count, latency_ms_sum = latency_ms_sum + excluded.latency_ms_sum,
           upstream_latency_ms_sum = upstream_latency_ms_sum + excluded.upstream_latency_ms_sum,
           bytes_in = bytes_in + excluded.bytes_in, bytes_out = bytes_out + excluded.bytes_out",
    )?;
    for ((minute, group, service, route, version, status), sums) in rollups {
        rollup.execute(params![
            minute,
            group.to_string(),
            id(service),
            id(route),
            id(version),
            status,
            sums.count,
            sums.latency,
            sums.upstream,
            sums.bytes_in,
            sums.bytes_out
        ])?;
    }
    let mut bucket_stmt = tx.prepare_cached(
        "INSERT INTO latency_buckets (minute, runtime_group_id, service_id, route_id, version_id, status_class, bucket, count)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (minute, runtime_group_id, route_id, version_id, status_class, bucket) DO UPDATE SET count = count + excluded.count",
    )?;
    for (((minute, group, service, route, version, class), bucket), n) in buckets {
        bucket_stmt.execute(params![
            minute,
            group.to_string(),
            id(service),
            id(route),
            id(version),
            class,
            bucket as i64,
            n
        ])?;
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
    fn unrouted_requests_of_two_groups_are_kept_apart() {
        let dir = tempfile_dir();
        let store = Store::open(&dir.join("t.db")).expect("open");
        let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let unrouted = |group: Uuid| RequestRecord {
            runtime_group_id: group,
            service_id: None,
            route_id: None,
            version_id: None,
            ..record(now, Uuid::nil(), 404)
        };
        store
            .insert_request_records(Uuid::nil(), &[unrouted(a), unrouted(b), unrouted(b)])
            .expect("insert");
        assert_eq!(store.group_summary(a, now - 60_000).expect("a").requests, 1);
        assert_eq!(store.group_summary(b, now - 60_000).expect("b").requests, 2);
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
