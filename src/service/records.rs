//! Analytics ingestion, the store side of telemetry: the writer that turns the proxy's request
//! records into raw blocks, rollups and histograms, and the pruner that keeps them within their
//! retention. The proxy only ever sees `telemetry`; this is where records meet the database.

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
