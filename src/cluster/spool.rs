//! A node's request records on their way to the control plane: spooled to disk first (so an
//! outage or a restart delays them instead of losing them), then delivered batch by batch, each
//! with an id the control plane deduplicates.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::StatusCode;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use super::node::{refusal, ClusterClient};
use super::wire::{self, WireRecord};
use crate::telemetry::{Metrics, RequestRecord};

const SPOOL_DIR: &str = "telemetry-spool";
/// A batch can be large and the control plane busy writing: wait this long for its answer.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// Request records waiting for delivery, one file per batch, oldest first; bounded in bytes
/// (the oldest batches go first when full).
pub struct Spool {
    dir: PathBuf,
    files: VecDeque<(PathBuf, u64)>,
    bytes: u64,
    max_bytes: u64,
    pub dropped_batches: u64,
}

impl Spool {
    pub fn open(data_dir: &Path, max_bytes: u64) -> std::io::Result<Spool> {
        let dir = data_dir.join(SPOOL_DIR);
        std::fs::create_dir_all(&dir)?;
        let mut files: Vec<(PathBuf, u64)> = std::fs::read_dir(&dir)?
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .map(|e| (e.path(), e.metadata().map(|m| m.len()).unwrap_or(0)))
            .collect();
        files.sort();
        let bytes = files.iter().map(|f| f.1).sum();
        Ok(Spool {
            dir,
            files: files.into(),
            bytes,
            max_bytes,
            dropped_batches: 0,
        })
    }

    pub fn pending(&self) -> usize {
        self.files.len()
    }

    pub fn push(&mut self, records: &[RequestRecord]) -> std::io::Result<()> {
        let wire: Vec<WireRecord> = records.iter().map(WireRecord::from_record).collect();
        let data = serde_json::to_vec(&wire)?;
        let ts = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let path = self.dir.join(format!("{ts:016}-{}.json", Uuid::new_v4()));
        let tmp = path.with_extension("tmp");
        super::node::write_private(&tmp, &data)?;
        std::fs::rename(&tmp, &path)?;
        self.bytes += data.len() as u64;
        self.files.push_back((path, data.len() as u64));
        while self.bytes > self.max_bytes && self.files.len() > 1 {
            if let Some((old, size)) = self.files.pop_front() {
                let _ = std::fs::remove_file(&old);
                self.bytes -= size;
                self.dropped_batches += 1;
                tracing::warn!(path = %old.display(), "telemetry spool full: dropped the oldest batch");
            }
        }
        Ok(())
    }

    /// The oldest batch waiting: its file and size.
    fn oldest(&self) -> Option<(PathBuf, u64)> {
        self.files.front().cloned()
    }

    /// Removes a delivered (or undeliverable) batch. It is looked up by path: while it was on
    /// its way, a full spool may have dropped it already.
    fn forget(&mut self, path: &Path) {
        if let Some(at) = self.files.iter().position(|(p, _)| p == path) {
            if let Some((path, size)) = self.files.remove(at) {
                let _ = std::fs::remove_file(&path);
                self.bytes = self.bytes.saturating_sub(size);
            }
        }
    }
}

/// A spool the shipper writes to while the deliverer empties it.
type Shared = Arc<std::sync::Mutex<Spool>>;

fn locked(spool: &Shared) -> std::sync::MutexGuard<'_, Spool> {
    spool.lock().unwrap_or_else(|p| p.into_inner())
}

/// Delivers batches oldest first; stops at the first one the control plane did not take. The
/// spool is locked only between requests, so spooling never waits for the control plane.
async fn deliver(spool: &Shared, client: &ClusterClient) {
    loop {
        // The guard must be gone before the awaits below.
        let oldest = locked(spool).oldest();
        let Some((path, _)) = oldest else {
            return;
        };
        let batch_id = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let data = match tokio::fs::read(&path).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "unreadable telemetry batch dropped");
                locked(spool).forget(&path);
                continue;
            }
        };
        let sent = client
            .call(
                http::Method::POST,
                wire::PATH_TELEMETRY,
                Bytes::from(data),
                &[(wire::H_BATCH_ID, batch_id)],
                DELIVERY_TIMEOUT,
            )
            .await;
        match sent {
            Ok((StatusCode::OK, _)) => {
                locked(spool).forget(&path);
            }
            Ok((StatusCode::BAD_REQUEST, body)) => {
                tracing::warn!(error = %refusal(StatusCode::BAD_REQUEST, &body), "the control plane rejected a telemetry batch; dropped");
                locked(spool).forget(&path);
            }
            Ok((status, body)) => {
                let pending = locked(spool).pending();
                tracing::debug!(error = %refusal(status, &body), pending, "telemetry delivery deferred");
                return;
            }
            Err(e) => {
                let pending = locked(spool).pending();
                tracing::debug!(error = %e, pending, "telemetry delivery deferred");
                return;
            }
        }
    }
}

/// Delivers the spool whenever the shipper adds to it, and every 2 s (the control plane may be
/// back). When `last` turns true it tries one final delivery, for at most 3 s, and returns.
async fn run_deliverer(
    spool: Shared,
    client: Arc<ClusterClient>,
    added: Arc<tokio::sync::Notify>,
    mut last: watch::Receiver<bool>,
) {
    let mut retry = tokio::time::interval(Duration::from_secs(2));
    loop {
        let mut stopping = tokio::select! {
            _ = added.notified() => false,
            _ = retry.tick() => false,
            _ = last.changed() => true,
        };
        if !stopping {
            // A stop does not wait for a delivery the control plane is sitting on (up to its
            // 30 s timeout): the batch stays in the spool, and a resend is deduplicated.
            stopping = tokio::select! {
                _ = deliver(&spool, &client) => false,
                _ = last.changed() => true,
            };
        }
        if stopping {
            let _ = tokio::time::timeout(Duration::from_secs(3), deliver(&spool, &client)).await;
            let pending = locked(&spool).pending();
            if pending > 0 {
                tracing::info!(
                    batches = pending,
                    "request records kept in the spool for the next start"
                );
            }
            return;
        }
    }
}

/// Drains the proxy's records into the disk spool every ~50 ms (so a crash loses at most the
/// last moments of traffic), while a task of its own delivers the spool: a slow or unreachable
/// control plane delays delivery, never spooling. When `drain` turns true (the proxy workers
/// have stopped and flushed), it spools everything still queued, lets the deliverer try once
/// more, and returns: a graceful stop keeps every record, on the control plane or on disk for
/// the next start.
pub async fn ship_telemetry(
    mut rx: mpsc::Receiver<Vec<RequestRecord>>,
    spool: Spool,
    client: Arc<ClusterClient>,
    metrics: Arc<Metrics>,
    access_log: bool,
    mut drain: watch::Receiver<bool>,
) {
    let spool: Shared = Arc::new(std::sync::Mutex::new(spool));
    let added = Arc::new(tokio::sync::Notify::new());
    let (last, last_rx) = watch::channel(false);
    let deliverer = tokio::spawn(run_deliverer(spool.clone(), client, added.clone(), last_rx));
    loop {
        let mut batch = Vec::new();
        let stopping = tokio::select! {
            first = rx.recv() => match first {
                Some(r) => {
                    batch.extend(r);
                    // As the local writer does: sleep, then take what piled up, instead of a
                    // wake-up per request.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    false
                }
                None => true,
            },
            _ = drain.changed() => true,
        };
        while let Ok(r) = rx.try_recv() {
            batch.extend(r);
        }
        if !batch.is_empty() {
            metrics.observe(&batch);
            if access_log {
                crate::telemetry::write_access_log(&batch);
            }
            let written = tokio::task::block_in_place(|| locked(&spool).push(&batch));
            match written {
                Ok(()) => added.notify_one(),
                Err(e) => {
                    tracing::error!(error = %e, records = batch.len(), "spooling request records failed; dropped")
                }
            }
        }
        if stopping {
            let _ = last.send(true);
            let _ = deliverer.await;
            return;
        }
    }
}
