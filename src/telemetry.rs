//! Request records: the proxy pushes them onto a bounded channel without ever waiting; a writer
//! task drains the channel in batches into the store (raw records plus per-minute rollups).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use uuid::Uuid;

use crate::store::Store;

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
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<RequestRecord>,
    dropped: Arc<AtomicU64>,
}

impl Recorder {
    pub fn record(&self, record: RequestRecord) {
        if self.tx.try_send(record).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

pub fn channel(capacity: usize) -> (Recorder, mpsc::Receiver<RequestRecord>) {
    let (tx, rx) = mpsc::channel(capacity);
    (
        Recorder {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        },
        rx,
    )
}

const MAX_BATCH: usize = 8192;

/// Drains the channel into the store until every sender is gone. Records are written at most
/// `interval` after they arrive.
pub async fn run_writer(
    mut rx: mpsc::Receiver<RequestRecord>,
    node: Uuid,
    store: Store,
    metrics: Arc<Metrics>,
    interval: Duration,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let Some(first) = rx.recv().await else { break };
        batch.push(first);
        // Sleep instead of awaiting each record: a parked receiver would be woken (a cross-thread
        // wake-up, a syscall) by every request the proxy finishes. While it sleeps, senders just
        // enqueue; the channel's capacity bounds what can pile up.
        tokio::time::sleep(interval).await;
        while let Ok(r) = rx.try_recv() {
            batch.push(r);
            if batch.len() >= MAX_BATCH {
                flush(&mut batch, node, &store, &metrics).await;
            }
        }
        flush(&mut batch, node, &store, &metrics).await;
    }
}

async fn flush(batch: &mut Vec<RequestRecord>, node: Uuid, store: &Store, metrics: &Metrics) {
    if batch.is_empty() {
        return;
    }
    let records = std::mem::replace(batch, Vec::with_capacity(MAX_BATCH));
    metrics.observe(&records);
    let n = records.len();
    if let Err(e) = store
        .run(move |s| s.insert_request_records(node, &records))
        .await
    {
        tracing::error!(error = %e, records = n, "writing request records failed");
    }
}

/// Deletes raw request records older than `keep`, every `every`; rollups are kept.
pub async fn run_pruner(store: Store, keep: Duration, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let cutoff =
            time::OffsetDateTime::now_utc().unix_timestamp() * 1000 - keep.as_millis() as i64;
        match store.run(move |s| s.prune_request_records(cutoff)).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(records = n, "pruned raw request records"),
            Err(e) => tracing::warn!(error = %e, "pruning request records failed"),
        }
    }
}
