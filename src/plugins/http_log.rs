//! Kong's http-log: each finished request's record (Kong's basic serializer) goes to a
//! bounded queue and on to `http_endpoint`, in batches of `queue.max_batch_size` (a JSON
//! array when above 1), retried with exponential backoff until `queue.max_retry_time`. The
//! proxy worker only serializes and enqueues; a full queue drops the entry, counts it and
//! says so in the log. Plugins with the same settings share one queue, kept across
//! snapshots for as long as a snapshot uses it. Deprecated `queue_size` and `flush_timeout`
//! still set the batch size and delay; `retry_count` does nothing, as in Kong 3.x.

mod client;
mod queue;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use serde_json::Value;

use super::{Handler, LogEntry, Runtime, Shared};
use crate::domain::Plugin;
use client::Endpoint;
pub use queue::Queue;
use queue::Settings;

/// The queues of one proxy, by their settings, and the thread their senders run on.
pub struct Queues {
    live: Mutex<HashMap<String, Weak<Queue>>>,
    runtime: Option<tokio::runtime::Handle>,
}

impl Queues {
    fn start() -> Queues {
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("http-log".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match rt {
                    Ok(rt) => {
                        let _ = tx.send(Some(rt.handle().clone()));
                        // The senders run here for the life of the process.
                        rt.block_on(std::future::pending::<()>());
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "http-log: cannot start its runtime");
                        let _ = tx.send(None);
                    }
                }
            });
        let runtime = match spawned {
            Ok(_) => rx.recv().ok().flatten(),
            Err(e) => {
                tracing::error!(error = %e, "http-log: cannot start its thread");
                None
            }
        };
        Queues {
            live: Mutex::new(HashMap::new()),
            runtime,
        }
    }

    /// The queue for these settings: the running one when a snapshot still uses it.
    fn get(
        &self,
        key: &str,
        make: impl FnOnce(&tokio::runtime::Handle) -> Queue,
    ) -> Result<Arc<Queue>, String> {
        let rt = self
            .runtime
            .as_ref()
            .ok_or("http-log has no runtime to send from")?;
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|_, q| q.strong_count() > 0);
        if let Some(q) = live.get(key).and_then(Weak::upgrade) {
            return Ok(q);
        }
        let q = Arc::new(make(rt));
        live.insert(key.to_string(), Arc::downgrade(&q));
        Ok(q)
    }
}

pub struct HttpLog {
    queue: Arc<Queue>,
}

fn num(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64)
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.clamp(0.0, 1e9))
}

pub fn build(p: &Plugin, _: &Shared, runtime: &Runtime) -> Result<Arc<dyn Handler>, String> {
    let c = &p.config;
    let url = c
        .get("http_endpoint")
        .and_then(Value::as_str)
        .ok_or("http-log needs http_endpoint")?;
    let endpoint = Endpoint::parse(url)?;
    let method = c.get("method").and_then(Value::as_str).unwrap_or("POST");
    let method = Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let content_type = c
        .get("content_type")
        .and_then(Value::as_str)
        .unwrap_or("application/json");
    let mut headers = Vec::new();
    if let Some(Value::Object(h)) = c.get("headers") {
        for (k, v) in h {
            let (Ok(k), Some(Ok(v))) = (
                HeaderName::from_bytes(k.as_bytes()),
                v.as_str().map(HeaderValue::from_str),
            ) else {
                return Err(format!("bad header '{k}'"));
            };
            headers.push((k, v));
        }
    }
    let q = c.get("queue").cloned().unwrap_or(Value::Null);
    // The deprecated fields win when set, as Kong's queue parameters do.
    let batch = c
        .get("queue_size")
        .and_then(Value::as_u64)
        .or_else(|| q.get("max_batch_size").and_then(Value::as_u64))
        .unwrap_or(1)
        .max(1) as usize;
    let delay = num(c.get("flush_timeout"))
        .or_else(|| num(q.get("max_coalescing_delay")))
        .unwrap_or(1.0);
    let settings = Settings {
        max_batch_size: batch,
        max_coalescing_delay: secs(delay),
        max_entries: q
            .get("max_entries")
            .and_then(Value::as_u64)
            .unwrap_or(10000)
            .max(1) as usize,
        max_retry_time: num(q.get("max_retry_time")).unwrap_or(60.0),
        initial_retry_delay: secs(num(q.get("initial_retry_delay")).unwrap_or(0.01)),
        max_retry_delay: secs(num(q.get("max_retry_delay")).unwrap_or(60.0)),
    };
    let client = client::Client {
        endpoint,
        method,
        content_type: HeaderValue::from_str(content_type).map_err(|e| e.to_string())?,
        headers,
        timeout: Duration::from_millis(num(c.get("timeout")).unwrap_or(10000.0).max(1.0) as u64),
        keepalive: Duration::from_millis(num(c.get("keepalive")).unwrap_or(60000.0).max(0.0) as u64),
        conn: None,
    };
    let queues = runtime.get("http-log:queues", Queues::start);
    let key = format!("{c}");
    let queue = queues.get(&key, |rt| {
        Queue::start(rt, url.to_string(), settings, client)
    })?;
    Ok(Arc::new(HttpLog { queue }))
}

impl Handler for HttpLog {
    fn name(&self) -> &'static str {
        "http-log"
    }
    fn priority(&self) -> i32 {
        12
    }
    fn wants_log(&self) -> bool {
        true
    }
    fn log(&self, entry: &LogEntry) {
        self.queue.push(entry.to_json().to_string());
    }
}
