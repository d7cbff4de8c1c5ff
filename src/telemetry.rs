//! Request records: the proxy pushes them onto a bounded channel without ever waiting; a writer
//! task drains the channel in batches into the store (raw records plus per-minute rollups).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use uuid::Uuid;

use crate::store::Store;

pub mod histogram;
mod metrics;
pub use metrics::{Gauges, Metrics};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub ts_ms: i64,
    pub runtime_group_id: Uuid,
    pub service_id: Option<Uuid>,
    pub route_id: Option<Uuid>,
    pub version_id: Option<Uuid>,
    pub method: http::Method,
    pub status: u16,
    pub latency_ms: i64,
    pub upstream_latency_ms: Option<i64>,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// The proxy's handle: cheap to clone, never blocks, counts what it had to drop.
///
/// Records are buffered per thread and cross to the writer a batch at a time: the proxy worker
/// that finished a request pushes onto a plain `Vec` (no atomics, no shared cache line), and one
/// channel send carries up to `LOCAL_BATCH` records. Workers call [`Recorder::flush_thread`]
/// every `FLUSH_EVERY`, so a quiet gateway's records still arrive promptly.
#[derive(Clone)]
pub struct Recorder {
    /// `None` when analytics are off: recording is then a no-op.
    tx: Option<mpsc::Sender<Vec<RequestRecord>>>,
    dropped: Arc<AtomicU64>,
}

const LOCAL_BATCH: usize = 128;
/// A thread's batch is sent once its oldest record is this old, even if it is not full.
const LOCAL_MAX_AGE_MS: i64 = 100;
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

struct Local {
    owner: Recorder,
    records: Vec<RequestRecord>,
}

impl Local {
    fn send(&mut self) {
        if !self.records.is_empty() {
            let batch = std::mem::replace(&mut self.records, Vec::with_capacity(LOCAL_BATCH));
            self.owner.send(batch);
        }
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        self.send();
    }
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

impl Recorder {
    /// A recorder that keeps nothing (`GATEHOUSE_ANALYTICS=off`).
    pub fn disabled() -> Recorder {
        Recorder {
            tx: None,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    fn same(&self, other: &Recorder) -> bool {
        Arc::ptr_eq(&self.dropped, &other.dropped)
    }

    pub fn record(&self, record: RequestRecord) {
        if self.tx.is_none() {
            return;
        }
        LOCAL.with(|cell| {
            let mut slot = cell.borrow_mut();
            // Another recorder's records on this thread (tests run several gateways in one
            // process) are sent before this one takes the buffer.
            if slot.as_ref().is_some_and(|l| !l.owner.same(self)) {
                slot.take();
            }
            let local = slot.get_or_insert_with(|| Local {
                owner: self.clone(),
                records: Vec::with_capacity(LOCAL_BATCH),
            });
            let oldest = local.records.first().map(|r| r.ts_ms);
            let ts = record.ts_ms;
            local.records.push(record);
            if local.records.len() >= LOCAL_BATCH
                || oldest.is_some_and(|o| ts - o >= LOCAL_MAX_AGE_MS)
            {
                local.send();
            }
        });
    }

    fn send(&self, batch: Vec<RequestRecord>) {
        if let Some(tx) = &self.tx {
            let n = batch.len() as u64;
            if tx.try_send(batch).is_err() {
                self.dropped.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// Sends whatever the calling thread has buffered.
    pub fn flush_thread() {
        LOCAL.with(|cell| {
            if let Some(local) = cell.borrow_mut().as_mut() {
                local.send();
            }
        });
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// A recorder and the receiving end for its writer; `capacity` is in records.
pub fn channel(capacity: usize) -> (Recorder, mpsc::Receiver<Vec<RequestRecord>>) {
    let (tx, rx) = mpsc::channel((capacity / LOCAL_BATCH).max(16));
    (
        Recorder {
            tx: Some(tx),
            dropped: Arc::new(AtomicU64::new(0)),
        },
        rx,
    )
}

const MAX_BATCH: usize = 8192;
/// Records kept for a retry while the database is unreachable; past this the oldest go (and
/// are counted as dropped), so an outage cannot exhaust memory.
const MAX_PENDING: usize = 1_000_000;

/// Drains the channel into the store until `drain` turns true (after the proxy workers have
/// stopped and flushed their buffers): then it writes everything still queued and returns, so
/// a graceful stop loses no record. Records are written about `interval` after they arrive; a
/// batch the database refused is kept and retried with the next one.
pub async fn run_writer(
    mut rx: mpsc::Receiver<Vec<RequestRecord>>,
    node: Uuid,
    store: Store,
    metrics: Arc<Metrics>,
    interval: Duration,
    access_log: bool,
    mut drain: tokio::sync::watch::Receiver<bool>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut pending: Vec<RequestRecord> = Vec::new();
    let mut retry = tokio::time::interval(Duration::from_secs(1));
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopping = tokio::select! {
            first = rx.recv() => match first {
                Some(first) => {
                    batch.extend(first);
                    // Sleep instead of awaiting each batch: a parked receiver would be woken (a
                    // cross-thread wake-up, a syscall) by every send. While it sleeps, senders
                    // just enqueue; the channel's capacity bounds what can pile up.
                    tokio::time::sleep(interval).await;
                    false
                }
                None => true,
            },
            _ = retry.tick(), if !pending.is_empty() => false,
            _ = drain.changed() => true,
        };
        while let Ok(r) = rx.try_recv() {
            batch.extend(r);
            if batch.len() >= MAX_BATCH {
                observe(&batch, &metrics, access_log);
                pending.append(&mut batch);
                write(&mut pending, node, &store).await;
            }
        }
        observe(&batch, &metrics, access_log);
        pending.append(&mut batch);
        write(&mut pending, node, &store).await;
        if stopping {
            if !pending.is_empty() {
                tracing::error!(
                    records = pending.len(),
                    "the database is unreachable at shutdown: request records lost"
                );
            }
            return;
        }
    }
}

fn observe(records: &[RequestRecord], metrics: &Metrics, access_log: bool) {
    if records.is_empty() {
        return;
    }
    metrics.observe(records);
    if access_log {
        write_access_log(records);
    }
}

/// Writes `pending`; on failure keeps it (bounded) for the next attempt.
async fn write(pending: &mut Vec<RequestRecord>, node: Uuid, store: &Store) {
    if pending.is_empty() {
        return;
    }
    // The writer runs on the store's own runtime, so it awaits the store directly.
    match store.insert_request_records(node, pending).await {
        Ok(()) => pending.clear(),
        Err(e) => {
            tracing::warn!(error = %e, records = pending.len(), "writing request records failed; keeping them for a retry");
            if pending.len() > MAX_PENDING {
                let excess = pending.len() - MAX_PENDING;
                pending.drain(..excess);
                tracing::error!(
                    records = excess,
                    "request records dropped: the database was unreachable too long"
                );
            }
        }
    }
}

/// One JSON object per record on stdout, written by the telemetry task (never the proxy).
pub fn write_access_log(records: &[RequestRecord]) {
    use std::io::Write;
    let mut out = String::with_capacity(records.len() * 256);
    for r in records {
        let line = serde_json::json!({
            "ts_ms": r.ts_ms,
            "runtime_group_id": r.runtime_group_id,
            "service_id": r.service_id,
            "route_id": r.route_id,
            "version_id": r.version_id,
            "method": r.method.as_str(),
            "status": r.status,
            "latency_ms": r.latency_ms,
            "upstream_latency_ms": r.upstream_latency_ms,
            "gateway_latency_ms": r.upstream_latency_ms.map(|u| (r.latency_ms - u).max(0)),
            "bytes_in": r.bytes_in,
            "bytes_out": r.bytes_out,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
}

/// How long analytics data is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Raw request records.
    pub raw: Duration,
    /// Per-minute rollups, latency histograms and per-node traffic.
    pub rollups: Duration,
}

/// How long the control plane remembers which node batches it ingested (for deduplication); a
/// node that is offline longer than this and then resends is the only way to count twice.
const BATCH_IDS_KEPT: Duration = Duration::from_secs(7 * 86_400);

/// Prunes analytics past their retention, every `every`.
pub async fn run_pruner(store: Store, keep: Retention, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
        let raw_cutoff = now - keep.raw.as_millis() as i64;
        let rollup_cutoff = now - keep.rollups.as_millis() as i64;
        let batch_cutoff = now - BATCH_IDS_KEPT.as_millis() as i64;
        let pruned = store
            .run(move |s| async move {
                let raw = s.prune_request_records(raw_cutoff).await?;
                let rollups = s.prune_analytics(rollup_cutoff, batch_cutoff).await?;
                Ok::<_, crate::store::StoreError>((raw, rollups))
            })
            .await;
        match pruned {
            Ok((0, 0)) => {}
            Ok((raw, rollups)) => {
                tracing::debug!(records = raw, rollup_rows = rollups, "pruned analytics")
            }
            Err(e) => tracing::warn!(error = %e, "pruning analytics failed"),
        }
    }
}
