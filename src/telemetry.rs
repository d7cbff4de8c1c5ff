//! Request records: the proxy pushes them onto a bounded channel without ever waiting; a writer
//! task drains the channel in batches into the store (raw records plus per-minute rollups).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use uuid::Uuid;

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
    /// Who the request authenticated as (or the anonymous consumer), when a plugin said.
    pub consumer_id: Option<Uuid>,
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
