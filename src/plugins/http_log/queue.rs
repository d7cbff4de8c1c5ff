//! A bounded queue of serialized records and the task that sends them: batches up to
//! `max_batch_size` (waiting at most `max_coalescing_delay` for one to fill), one batch at a
//! time, each retried from `initial_retry_delay` doubling up to `max_retry_delay` until
//! `max_retry_time` has passed (Kong's `kong.tools.queue`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::time::Instant;

use super::client::Client;

pub struct Settings {
    pub max_batch_size: usize,
    pub max_coalescing_delay: Duration,
    pub max_entries: usize,
    /// Seconds; negative: no retries.
    pub max_retry_time: f64,
    pub initial_retry_delay: Duration,
    pub max_retry_delay: Duration,
}

pub struct Queue {
    name: String,
    tx: mpsc::Sender<String>,
    dropped: AtomicU64,
}

impl Queue {
    /// Starts the sending task on `rt`; it ends once the queue is dropped and drained.
    pub fn start(rt: &tokio::runtime::Handle, name: String, s: Settings, client: Client) -> Queue {
        let (tx, rx) = mpsc::channel(s.max_entries);
        rt.spawn(run(rx, s, client, name.clone()));
        Queue {
            name,
            tx,
            dropped: AtomicU64::new(0),
        }
    }

    /// Never waits: a full queue drops the entry (counted; logged at 1, 2, 4, 8… drops).
    pub fn push(&self, entry: String) {
        match self.tx.try_send(entry) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(queue = %self.name, dropped = n, "http-log: queue full, log entry dropped");
                }
            }
            Err(TrySendError::Closed(_)) => {
                tracing::error!(queue = %self.name, "http-log: the sender has stopped; log entry dropped");
            }
        }
    }
}

/// Kong's payload: the entry itself, or a JSON array of them when batching.
pub fn payload(batch: &[String], max_batch_size: usize) -> Bytes {
    if max_batch_size == 1 && batch.len() == 1 {
        return Bytes::from(batch[0].clone());
    }
    let mut out = String::with_capacity(batch.iter().map(|e| e.len() + 1).sum::<usize>() + 2);
    out.push('[');
    out.push_str(&batch.join(","));
    out.push(']');
    Bytes::from(out)
}

async fn run(mut rx: mpsc::Receiver<String>, s: Settings, mut client: Client, name: String) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        if s.max_batch_size > 1 {
            let deadline = Instant::now() + s.max_coalescing_delay;
            while batch.len() < s.max_batch_size {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(e)) => batch.push(e),
                    Ok(None) | Err(_) => break,
                }
            }
        }
        deliver(&mut client, &s, &batch, &name).await;
    }
}

async fn deliver(client: &mut Client, s: &Settings, batch: &[String], name: &str) {
    let body = payload(batch, s.max_batch_size);
    let started = Instant::now();
    let mut delay = s.initial_retry_delay;
    loop {
        let err = match client.send(body.clone()).await {
            Ok(()) => return,
            Err(e) => e,
        };
        let next = started.elapsed() + delay;
        if s.max_retry_time < 0.0 || next.as_secs_f64() > s.max_retry_time {
            tracing::error!(queue = %name, entries = batch.len(), error = %err, "http-log: giving up on a batch");
            return;
        }
        tracing::warn!(queue = %name, error = %err, retry_in_ms = delay.as_millis() as u64, "http-log: sending failed, will retry");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(s.max_retry_delay);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn payloads_are_entries_or_arrays() {
        let batch = vec!["{\"a\":1}".to_string(), "{\"b\":2}".to_string()];
        assert_eq!(super::payload(&batch[..1], 1), "{\"a\":1}");
        assert_eq!(super::payload(&batch[..1], 5), "[{\"a\":1}]");
        assert_eq!(super::payload(&batch, 5), "[{\"a\":1},{\"b\":2}]");
    }
}
