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

    /// Delivers batches oldest first; stops at the first one the control plane did not take.
    pub async fn deliver(&mut self, client: &ClusterClient) {
        while let Some((path, size)) = self.files.front().cloned() {
            let batch_id = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let data = match tokio::fs::read(&path).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, path = %path.display(), "unreadable telemetry batch dropped");
                    self.forget_front(size).await;
                    continue;
                }
            };
            let sent = client
                .call(
                    http::Method::POST,
                    wire::PATH_TELEMETRY,
                    Bytes::from(data),
                    &[(wire::H_BATCH_ID, batch_id)],
                )
                .await;
            match sent {
                Ok((StatusCode::OK, _)) => self.forget_front(size).await,
                Ok((StatusCode::BAD_REQUEST, body)) => {
                    tracing::warn!(error = %refusal(StatusCode::BAD_REQUEST, &body), "the control plane rejected a telemetry batch; dropped");
                    self.forget_front(size).await;
                }
                Ok((status, body)) => {
                    tracing::debug!(error = %refusal(status, &body), pending = self.files.len(), "telemetry delivery deferred");
                    return;
                }
                Err(e) => {
                    tracing::debug!(error = %e, pending = self.files.len(), "telemetry delivery deferred");
                    return;
                }
            }
        }
    }

    async fn forget_front(&mut self, size: u64) {
        if let Some((path, _)) = self.files.pop_front() {
            let _ = tokio::fs::remove_file(&path).await;
            self.bytes = self.bytes.saturating_sub(size);
        }
    }
}

/// Drains the proxy's records into the disk spool every ~50 ms (so a crash loses at most the
/// last moments of traffic) and delivers the spool. When `drain` turns true (the proxy workers
/// have stopped and flushed), it spools everything still queued, tries one last delivery, and
/// returns: a graceful stop keeps every record, on the control plane or on disk for the next
/// start.
pub async fn ship_telemetry(
    mut rx: mpsc::Receiver<Vec<RequestRecord>>,
    mut spool: Spool,
    client: Arc<ClusterClient>,
    metrics: Arc<Metrics>,
    access_log: bool,
    mut drain: watch::Receiver<bool>,
) {
    let mut retry = tokio::time::interval(Duration::from_secs(2));
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
            _ = retry.tick() => false,
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
            let written = tokio::task::block_in_place(|| spool.push(&batch));
            if let Err(e) = written {
                tracing::error!(error = %e, records = batch.len(), "spooling request records failed; dropped");
            }
        }
        if spool.pending() > 0 {
            if stopping {
                let last = tokio::time::timeout(Duration::from_secs(3), spool.deliver(&client));
                if last.await.is_err() || spool.pending() > 0 {
                    tracing::info!(
                        batches = spool.pending(),
                        "request records kept in the spool for the next start"
                    );
                }
            } else {
                spool.deliver(&client).await;
            }
        }
        if stopping {
            return;
        }
    }
}
