//! Analytics ingestion, the store side of telemetry: the writer that turns the proxy's request
//! records into raw blocks, rollups and histograms, and the pruner that keeps them within their
//! retention. The proxy only ever sees `telemetry`; this is where records meet the database.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use uuid::Uuid;

use crate::domain::history::HistoryRetention;
use crate::store::Store;
use crate::telemetry::{write_access_log, Metrics, RequestRecord, Retention};

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
    // The proxy threads' batches are kept as they came: copying ~150-byte records into one
    // list (twice, at first) was most of the writer's own CPU.
    let mut pending = Pending::default();
    let mut retry = tokio::time::interval(Duration::from_secs(1));
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopping = tokio::select! {
            first = rx.recv() => match first {
                Some(first) => {
                    pending.push(first, &metrics, access_log);
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
            pending.push(r, &metrics, access_log);
            if pending.fresh >= MAX_BATCH {
                pending.write(node, &store).await;
            }
        }
        pending.write(node, &store).await;
        if stopping {
            if !pending.is_empty() {
                tracing::error!(
                    records = pending.len,
                    "the database is unreachable at shutdown: request records lost"
                );
            }
            return;
        }
    }
}

/// Records waiting to be written, in the batches the proxy threads sent.
#[derive(Default)]
struct Pending {
    batches: VecDeque<Vec<RequestRecord>>,
    /// Records in `batches`.
    len: usize,
    /// Records received since the last write attempt.
    fresh: usize,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Takes a batch; metrics and the access log see it now, the store when it is written.
    fn push(&mut self, batch: Vec<RequestRecord>, metrics: &Metrics, access_log: bool) {
        if batch.is_empty() {
            return;
        }
        metrics.observe(&batch);
        if access_log {
            write_access_log(&batch);
        }
        self.len += batch.len();
        self.fresh += batch.len();
        self.batches.push_back(batch);
    }

    /// Writes everything; on failure keeps it (bounded) for the next attempt.
    async fn write(&mut self, node: Uuid, store: &Store) {
        self.fresh = 0;
        if self.is_empty() {
            return;
        }
        let slices: Vec<&[RequestRecord]> = self.batches.iter().map(Vec::as_slice).collect();
        // The writer runs on the store's own runtime, so it awaits the store directly.
        match store.insert_request_batches(node, &slices).await {
            Ok(()) => {
                self.batches.clear();
                self.len = 0;
            }
            Err(e) => {
                tracing::warn!(error = %e, records = self.len, "writing request records failed; keeping them for a retry");
                let mut dropped = 0;
                while self.len > MAX_PENDING {
                    let Some(oldest) = self.batches.pop_front() else {
                        break;
                    };
                    self.len -= oldest.len();
                    dropped += oldest.len();
                }
                if dropped > 0 {
                    tracing::error!(
                        records = dropped,
                        "request records dropped: the database was unreachable too long"
                    );
                }
            }
        }
    }
}

/// How long the control plane remembers which node batches it ingested (for deduplication); a
/// node that is offline longer than this and then resends is the only way to count twice.
const BATCH_IDS_KEPT: Duration = Duration::from_secs(7 * 86_400);

/// Prunes analytics past their retention, and configuration versions past theirs, every
/// `every`.
pub async fn run_pruner(store: Store, keep: Retention, history: HistoryRetention, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let versions = store
            .run(move |s| async move { super::history::prune(&s, history.max_age_secs).await })
            .await;
        match versions {
            Ok(0) => {}
            Ok(n) => tracing::debug!(versions = n, "pruned configuration versions"),
            Err(e) => tracing::warn!(error = %e, "pruning configuration versions failed"),
        }
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
