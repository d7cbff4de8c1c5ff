//! Ingestion: a batch of request records becomes one raw block, the per-minute rollups, the
//! latency histograms and the node's traffic, in the caller's transaction.
//!
//! Each table gets one multi-row upsert per batch rather than a statement per row. Every
//! statement is a round trip to the connection's worker thread (SQLite) or to the server
//! (PostgreSQL); with a statement per row, the writer woke up ~26 times per flush on a busy
//! proxy, each wake-up taking a core from a proxy worker for a moment, which showed in p99.

use std::collections::HashMap;
use std::fmt::Write as _;

use uuid::Uuid;

use super::super::db::{bind_all, next_seq, Arg, Conn};
use super::blocks::encode_records;
use crate::store::StoreResult;
use crate::telemetry::{histogram, RequestRecord};

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Rows per statement: 256 rollup rows bind 3,072 values, far below SQLite's 32,766 and
/// PostgreSQL's 65,535.
const ROWS_PER_STATEMENT: usize = 256;

/// One rollup row's identity: minute, group, service, route, version, consumer, status.
type Key = (
    i64,
    Uuid,
    Option<Uuid>,
    Option<Uuid>,
    Option<Uuid>,
    Option<Uuid>,
    u16,
);

#[derive(Default)]
struct Sums {
    count: i64,
    latency: i64,
    upstream: i64,
    bytes_in: i64,
    bytes_out: i64,
}

fn key_of(r: &RequestRecord) -> Key {
    (
        r.ts_ms / 60_000,
        r.runtime_group_id,
        r.service_id,
        r.route_id,
        r.version_id,
        r.consumer_id,
        r.status,
    )
}

fn id(u: Option<Uuid>) -> Arg {
    Arg::Text(u.map(|u| u.to_string()).unwrap_or_default())
}

/// A key's columns, in the order both tables list them: minute, group, service, route,
/// version, consumer, then the status (rollups) or status class (histograms).
fn key_args((minute, group, service, route, version, consumer, status): Key) -> [Arg; 7] {
    [
        Arg::Int(minute),
        Arg::Text(group.to_string()),
        id(service),
        id(route),
        id(version),
        id(consumer),
        Arg::Int(i64::from(status)),
    ]
}

/// Writes records as one raw block and folds them into the rollups, the histograms and the
/// node's traffic.
pub(super) async fn insert_records_tx(
    conn: &mut Conn,
    node: Uuid,
    batches: &[&[RequestRecord]],
) -> StoreResult<()> {
    let count: usize = batches.iter().map(|b| b.len()).sum();
    if count == 0 {
        return Ok(());
    }
    let records = || batches.iter().flat_map(|b| b.iter());
    let (first, last) = records().fold((i64::MAX, i64::MIN), |(a, b), r| {
        (a.min(r.ts_ms), b.max(r.ts_ms))
    });
    sqlx::query(
        "INSERT INTO request_record_blocks (first_ts_ms, last_ts_ms, count, data, seq) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(first)
    .bind(last)
    .bind(count as i64)
    .bind(encode_records(records()))
    .bind(next_seq())
    .execute(&mut *conn)
    .await?;

    let (rollups, buckets) = aggregate(batches);
    let mut args = Vec::with_capacity(rollups.len() * 12);
    for (key, sums) in rollups {
        args.extend(key_args(key));
        args.extend([
            Arg::Int(sums.count),
            Arg::Int(sums.latency),
            Arg::Int(sums.upstream),
            Arg::Int(sums.bytes_in),
            Arg::Int(sums.bytes_out),
        ]);
    }
    upsert(
        conn,
        "INSERT INTO request_rollups (minute, runtime_group_id, service_id, route_id, version_id, consumer_id, status, count, latency_ms_sum, upstream_latency_ms_sum, bytes_in, bytes_out)",
        12,
        &args,
        "ON CONFLICT (minute, runtime_group_id, route_id, version_id, consumer_id, status)
         DO UPDATE SET count = request_rollups.count + excluded.count,
           latency_ms_sum = request_rollups.latency_ms_sum + excluded.latency_ms_sum,
           upstream_latency_ms_sum = request_rollups.upstream_latency_ms_sum + excluded.upstream_latency_ms_sum,
           bytes_in = request_rollups.bytes_in + excluded.bytes_in,
           bytes_out = request_rollups.bytes_out + excluded.bytes_out",
    )
    .await?;

    let mut args = Vec::with_capacity(buckets.len() * 9);
    for ((key, bucket), n) in buckets {
        args.extend(key_args(key));
        args.extend([Arg::Int(bucket as i64), Arg::Int(n)]);
    }
    upsert(
        conn,
        "INSERT INTO latency_buckets (minute, runtime_group_id, service_id, route_id, version_id, consumer_id, status_class, bucket, count)",
        9,
        &args,
        "ON CONFLICT (minute, runtime_group_id, route_id, version_id, consumer_id, status_class, bucket)
         DO UPDATE SET count = latency_buckets.count + excluded.count",
    )
    .await?;

    let mut traffic: FastMap<i64, (i64, i64)> = FastMap::default();
    let minutes = batches
        .iter()
        .flat_map(|b| b.chunk_by(|a, b| a.ts_ms / 60_000 == b.ts_ms / 60_000));
    for run in minutes {
        let t = traffic.entry(run[0].ts_ms / 60_000).or_default();
        t.0 += run.len() as i64;
        t.1 += run.iter().filter(|r| r.status >= 500).count() as i64;
    }
    let node = node.to_string();
    let mut args = Vec::with_capacity(traffic.len() * 4);
    for (minute, (count, errors)) in traffic {
        args.extend([
            Arg::Int(minute),
            Arg::Text(node.clone()),
            Arg::Int(count),
            Arg::Int(errors),
        ]);
    }
    upsert(
        conn,
        "INSERT INTO node_traffic (minute, node_id, count, errors)",
        4,
        &args,
        "ON CONFLICT (minute, node_id) DO UPDATE SET count = node_traffic.count + excluded.count,
           errors = node_traffic.errors + excluded.errors",
    )
    .await
}

/// The rollup sums per key, and the histogram counts per key (status folded to its class) and
/// latency bucket.
fn aggregate(batches: &[&[RequestRecord]]) -> (FastMap<Key, Sums>, FastMap<(Key, usize), i64>) {
    // Every record is hashed into these at proxy speed; SipHash was the writer's largest cost.
    // The maps live for one batch (at most 8,192 records), so a fast hasher cannot be turned
    // into a flooding attack.
    let mut rollups: FastMap<Key, Sums> = FastMap::default();
    let mut buckets: FastMap<(Key, usize), i64> = FastMap::default();
    // Records in a row mostly share their key (one route, one status, one minute): each run
    // is hashed once, its latencies counted in a short list first.
    let mut run_buckets: Vec<(usize, i64)> = Vec::new();
    let runs = batches
        .iter()
        .flat_map(|b| b.chunk_by(|a, b| key_of(a) == key_of(b)));
    for run in runs {
        let key = key_of(&run[0]);
        let e = rollups.entry(key).or_default();
        run_buckets.clear();
        for r in run {
            e.count += 1;
            e.latency += r.latency_ms;
            e.upstream += r.upstream_latency_ms.unwrap_or(0);
            e.bytes_in += r.bytes_in as i64;
            e.bytes_out += r.bytes_out as i64;
            let b = histogram::bucket_of(r.latency_ms);
            match run_buckets.iter_mut().find(|(have, _)| *have == b) {
                Some((_, n)) => *n += 1,
                None => run_buckets.push((b, 1)),
            }
        }
        let class_key = (key.0, key.1, key.2, key.3, key.4, key.5, key.6 / 100);
        for &(b, n) in &run_buckets {
            *buckets.entry((class_key, b)).or_insert(0) += n;
        }
    }
    (rollups, buckets)
}

/// `head VALUES (…), (…) tail` over `args`, `width` values a row, a statement per
/// [`ROWS_PER_STATEMENT`] rows. The rows' keys must be distinct: PostgreSQL refuses an upsert
/// that touches one row twice (the maps above guarantee it).
async fn upsert(
    conn: &mut Conn,
    head: &str,
    width: usize,
    args: &[Arg],
    tail: &str,
) -> StoreResult<()> {
    for chunk in args.chunks(width * ROWS_PER_STATEMENT) {
        let rows = chunk.len() / width;
        let mut sql = String::with_capacity(head.len() + tail.len() + 8 + rows * width * 6);
        sql.push_str(head);
        sql.push_str(" VALUES ");
        for row in 0..rows {
            sql.push_str(if row == 0 { "(" } else { ", (" });
            for col in 0..width {
                let sep = if col == 0 { "" } else { ", " };
                let _ = write!(sql, "{sep}${}", row * width + col + 1);
            }
            sql.push(')');
        }
        sql.push(' ');
        sql.push_str(tail);
        bind_all(sqlx::query(&sql), chunk)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
