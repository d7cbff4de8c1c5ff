//! Request records and per-minute rollups written by the telemetry task; read by the console.

use uuid::Uuid;

use super::db::{bind_all, Arg, RowExt};
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
    /// Requests authenticated as this consumer.
    pub consumer: Option<Uuid>,
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
    fn clause(&self, class: &str) -> (String, Vec<Arg>) {
        let mut sql = String::from("minute >= $1");
        let mut args = vec![Arg::Int(self.since_ms.div_euclid(60_000))];
        if let Some(vs) = &self.versions {
            if vs.is_empty() {
                sql.push_str(" AND 1 = 0");
            } else {
                let first = args.len() + 1;
                let marks: Vec<String> =
                    (first..first + vs.len()).map(|i| format!("${i}")).collect();
                sql.push_str(&format!(" AND version_id IN ({})", marks.join(", ")));
                args.extend(vs.iter().map(|v| Arg::Text(v.to_string())));
            }
        }
        let mut add = |cond: &str, v: Arg| {
            args.push(v);
            sql.push_str(&format!(" AND {cond} ${}", args.len()));
        };
        if let Some(until) = self.until_ms {
            add("minute <", Arg::Int(until.div_euclid(60_000)));
        }
        for (col, v) in [
            ("runtime_group_id", self.group),
            ("service_id", self.service),
            ("version_id", self.version),
            ("route_id", self.route),
            ("consumer_id", self.consumer),
        ] {
            if let Some(v) = v {
                add(&format!("{col} ="), Arg::Text(v.to_string()));
            }
        }
        if let Some(c) = self.status_class {
            add(&format!("{class} ="), Arg::Int(i64::from(c)));
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
    pub async fn analytics_totals(&self, f: &AnalyticsFilter) -> StoreResult<Totals> {
        let (w, args) = f.clause("status / 100");
        let sql = format!(
            "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT),
                    CAST(COALESCE(SUM(CASE WHEN status >= 400 THEN count ELSE 0 END), 0) AS BIGINT),
                    CAST(COALESCE(SUM(CASE WHEN status >= 500 THEN count ELSE 0 END), 0) AS BIGINT),
                    CAST(COALESCE(SUM(latency_ms_sum), 0) AS BIGINT),
                    CAST(COALESCE(SUM(upstream_latency_ms_sum), 0) AS BIGINT)
             FROM request_rollups WHERE {w}"
        );
        let r = bind_all(sqlx::query(&sql), &args)
            .fetch_one(self.read())
            .await?;
        Ok(Totals {
            requests: r.int(0)?,
            errors: r.int(1)?,
            server_errors: r.int(2)?,
            latency_ms_sum: r.int(3)?,
            upstream_latency_ms_sum: r.int(4)?,
        })
    }

    pub async fn analytics_status_counts(
        &self,
        f: &AnalyticsFilter,
    ) -> StoreResult<Vec<StatusCount>> {
        let (w, args) = f.clause("status / 100");
        let sql = format!(
            "SELECT status, CAST(SUM(count) AS BIGINT) FROM request_rollups WHERE {w} GROUP BY status ORDER BY status"
        );
        let rows = bind_all(sqlx::query(&sql), &args)
            .fetch_all(self.read())
            .await?;
        rows.iter().map(status_count).collect()
    }

    /// Requests per status class in steps of `step_secs` (a multiple of 60) from the filter's
    /// start to `until_ms`; steps without traffic are present with zeros.
    pub async fn analytics_series(
        &self,
        f: &AnalyticsFilter,
        step_secs: i64,
        until_ms: i64,
    ) -> StoreResult<Vec<SeriesPoint>> {
        let step_min = (step_secs / 60).max(1);
        let (w, args) = f.clause("status / 100");
        let sql = format!(
            "SELECT (minute / {step_min}) * {step_min}, status / 100, CAST(SUM(count) AS BIGINT) FROM request_rollups
             WHERE {w} GROUP BY 1, 2"
        );
        let rows = bind_all(sqlx::query(&sql), &args)
            .fetch_all(self.read())
            .await?
            .iter()
            .map(|r| Ok((r.int(0)?, r.int(1)?, r.int(2)?)))
            .collect::<StoreResult<Vec<(i64, i64, i64)>>>()?;
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

    pub async fn analytics_percentiles(&self, f: &AnalyticsFilter) -> StoreResult<Percentiles> {
        let (w, args) = f.clause("status_class");
        let sql = format!(
            "SELECT bucket, CAST(SUM(count) AS BIGINT) FROM latency_buckets WHERE {w} GROUP BY bucket"
        );
        let counts = bind_all(sqlx::query(&sql), &args)
            .fetch_all(self.read())
            .await?
            .iter()
            .map(|r| Ok((r.int(0)?.max(0) as usize, r.int(1)?)))
            .collect::<StoreResult<Vec<(usize, i64)>>>()?;
        Ok(Percentiles {
            p50: histogram::percentile(&counts, 0.50),
            p95: histogram::percentile(&counts, 0.95),
            p99: histogram::percentile(&counts, 0.99),
        })
    }

    /// The busiest entities by `dimension` (`route_id`, `version_id` or `service_id`).
    pub async fn analytics_top(
        &self,
        f: &AnalyticsFilter,
        dimension: &str,
        limit: usize,
    ) -> StoreResult<Vec<EntityTraffic>> {
        let col = match dimension {
            "route_id" | "version_id" | "service_id" | "consumer_id" => dimension,
            _ => return Ok(Vec::new()),
        };
        let (w, args) = f.clause("status / 100");
        let sql = format!(
            "SELECT {col}, CAST(SUM(count) AS BIGINT), CAST(SUM(CASE WHEN status >= 400 THEN count ELSE 0 END) AS BIGINT) FROM request_rollups
             WHERE {w} AND {col} != '' GROUP BY {col} ORDER BY 2 DESC, 1 LIMIT {limit}"
        );
        let rows = bind_all(sqlx::query(&sql), &args)
            .fetch_all(self.read())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(EntityTraffic {
                    id: r.text(0)?,
                    requests: r.int(1)?,
                    errors: r.int(2)?,
                })
            })
            .collect()
    }

    /// Drops rollups, histograms and per-node traffic older than `before_ms`, and the record of
    /// ingested node batches older than `batches_before_ms`. Returns the rollup rows removed.
    pub async fn prune_analytics(
        &self,
        before_ms: i64,
        batches_before_ms: i64,
    ) -> StoreResult<usize> {
        let minute = before_ms.div_euclid(60_000);
        let mut tx = self.begin().await?;
        let n = sqlx::query("DELETE FROM request_rollups WHERE minute < $1")
            .bind(minute)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        for sql in [
            "DELETE FROM latency_buckets WHERE minute < $1",
            "DELETE FROM node_traffic WHERE minute < $1",
        ] {
            sqlx::query(sql).bind(minute).execute(&mut *tx).await?;
        }
        sqlx::query("DELETE FROM telemetry_batches WHERE received_at < $1")
            .bind(batches_before_ms.div_euclid(1000))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n as usize)
    }

    pub async fn group_summary(&self, group: Uuid, since_ms: i64) -> StoreResult<TrafficSummary> {
        let filter = AnalyticsFilter {
            group: Some(group),
            ..AnalyticsFilter::since(since_ms)
        };
        let totals = self.analytics_totals(&filter).await?;
        Ok(TrafficSummary {
            requests: totals.requests,
            errors: totals.errors,
            p99_ms: self.analytics_percentiles(&filter).await?.p99,
        })
    }

    /// Writes a batch of records and folds them into the per-minute rollups, in one transaction.
    /// The batch is aggregated in memory first: one upsert per (minute, route, version, status).
    pub async fn insert_request_records(
        &self,
        node: Uuid,
        records: &[RequestRecord],
    ) -> StoreResult<()> {
        self.insert_request_batches(node, &[records]).await
    }

    /// [`Store::insert_request_records`] for records in several batches (as the proxy's
    /// threads sent them): one block, one transaction, nothing copied into one list first.
    pub async fn insert_request_batches(
        &self,
        node: Uuid,
        batches: &[&[RequestRecord]],
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        insert_records_tx(&mut tx, node, batches).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ingests a batch a data-plane node shipped. A batch is identified by its id: one that was
    /// already ingested (the node resent it after a lost acknowledgement) is acknowledged again
    /// without being counted twice. Returns whether the batch was new.
    pub async fn ingest_node_batch(
        &self,
        batch_id: &str,
        node: Uuid,
        records: &[RequestRecord],
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let fresh = sqlx::query(
            "INSERT INTO telemetry_batches (id, node_id, received_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        )
        .bind(batch_id)
        .bind(node.to_string())
        .bind(crate::domain::now_secs())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if fresh {
            insert_records_tx(&mut tx, node, &[records]).await?;
        }
        tx.commit().await?;
        Ok(fresh)
    }

    /// Requests per status code for a version since `since_ms` (rounded down to the minute).
    pub async fn status_counts_for_version(
        &self,
        version: Uuid,
        since_ms: i64,
    ) -> StoreResult<Vec<StatusCount>> {
        let rows = sqlx::query(
            "SELECT status, CAST(SUM(count) AS BIGINT) FROM request_rollups WHERE version_id = $1 AND minute >= $2 GROUP BY status ORDER BY status",
        )
        .bind(version.to_string())
        .bind(since_ms / 60_000)
        .fetch_all(self.read())
        .await?;
        rows.iter().map(status_count).collect()
    }

    /// Drops raw records older than `before_ms` (whole blocks, once their newest record is);
    /// rollups stay. Returns how many records went.
    pub async fn prune_request_records(&self, before_ms: i64) -> StoreResult<usize> {
        let mut tx = self.begin().await?;
        let n: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) FROM request_record_blocks WHERE last_ts_ms < $1",
        )
        .bind(before_ms)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM request_record_blocks WHERE last_ts_ms < $1")
            .bind(before_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n.max(0) as usize)
    }

    /// Raw records from `since_ms` on, oldest first.
    pub async fn list_request_records(&self, since_ms: i64) -> StoreResult<Vec<RequestRecord>> {
        let rows = sqlx::query(
            "SELECT data FROM request_record_blocks WHERE last_ts_ms >= $1 ORDER BY first_ts_ms, seq",
        )
        .bind(since_ms)
        .fetch_all(self.read())
        .await?;
        let mut out = Vec::new();
        for row in rows {
            let b: Vec<u8> = sqlx::Row::try_get(&row, 0)?;
            let records = decode_records(&b).ok_or_else(|| {
                StoreError::Corrupt(serde::de::Error::custom("malformed request record block"))
            })?;
            out.extend(records.into_iter().filter(|r| r.ts_ms >= since_ms));
        }
        Ok(out)
    }
}

fn status_count(r: &sqlx::any::AnyRow) -> StoreResult<StatusCount> {
    Ok(StatusCount {
        status: u16::try_from(r.int(0)?).unwrap_or(0),
        count: r.int(1)?,
    })
}

mod blocks;
mod ingest;

use blocks::decode_records;
use ingest::insert_records_tx;

#[cfg(test)]
mod tests;
