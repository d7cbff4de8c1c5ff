//! Keep-alive HTTP/1.1 connections to one upstream address. Idle senders sit in a lock-free
//! queue; a sender goes back to it only after its response body ended cleanly.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::timeout_io::TimeoutStream;

/// Idle connections are kept per proxy worker thread, so a connection is reused by the thread
/// (and runtime) that drives it; queues are created on first use to keep idle upstreams cheap.
const SHARDS: usize = 16;
const MAX_IDLE_PER_SHARD: usize = 256;

thread_local! {
    static WORKER: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Marks the current thread as proxy worker `index` (its idle-connection shard).
pub fn set_worker(index: usize) {
    WORKER.with(|w| w.set(index));
}

type IdleQueue = ArrayQueue<SendRequest<Incoming>>;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("connecting to the upstream failed: {0}")]
    Connect(std::io::Error),
    #[error("connecting to the upstream timed out")]
    ConnectTimeout,
    #[error("the upstream did not answer in time")]
    ReadTimeout,
    #[error("the upstream failed: {0}")]
    Upstream(hyper::Error),
    #[error("unsupported upstream protocol {0}")]
    Unsupported(String),
}

impl ProxyError {
    /// Kong's status for the failure: timeouts are 504, everything else 502.
    pub fn status(&self) -> http::StatusCode {
        match self {
            ProxyError::ConnectTimeout | ProxyError::ReadTimeout => {
                http::StatusCode::GATEWAY_TIMEOUT
            }
            _ => http::StatusCode::BAD_GATEWAY,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub read: Duration,
    pub write: Duration,
}

pub struct Upstream {
    host: String,
    port: u16,
    idle: [OnceLock<IdleQueue>; SHARDS],
}

/// A connection lent to one request; [`Pooled::release`] returns it for reuse.
pub struct Pooled {
    sender: SendRequest<Incoming>,
    upstream: Arc<Upstream>,
}

impl Pooled {
    pub fn release(self) {
        if !self.sender.is_closed() {
            let queue = self
                .upstream
                .shard()
                .get_or_init(|| ArrayQueue::new(MAX_IDLE_PER_SHARD));
            let _ = queue.push(self.sender);
        }
    }
}

pub struct Sent {
    pub response: Response<Incoming>,
    pub conn: Pooled,
    pub upstream_latency: Duration,
}

impl Upstream {
    pub fn new(host: &str, port: u16) -> Arc<Upstream> {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        Arc::new(Upstream {
            host,
            port,
            idle: std::array::from_fn(|_| OnceLock::new()),
        })
    }

    fn shard(&self) -> &OnceLock<IdleQueue> {
        &self.idle[WORKER.with(|w| w.get()) % SHARDS]
    }

    async fn checkout(&self, t: Timeouts) -> Result<(SendRequest<Incoming>, bool), ProxyError> {
        if let Some(queue) = self.shard().get() {
            while let Some(mut sender) = queue.pop() {
                if sender.is_closed() {
                    continue;
                }
                if sender.ready().await.is_ok() {
                    return Ok((sender, true));
                }
            }
        }
        self.connect(t).await.map(|s| (s, false))
    }

    async fn connect(&self, t: Timeouts) -> Result<SendRequest<Incoming>, ProxyError> {
        let stream = tokio::time::timeout(
            t.connect,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| ProxyError::ConnectTimeout)?
        .map_err(ProxyError::Connect)?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::Builder::new()
            .handshake(TokioIo::new(TimeoutStream::new(stream, t.write)))
            .await
            .map_err(ProxyError::Upstream)?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
        });
        Ok(sender)
    }

    /// Sends `req`, retrying up to `retries` times when connecting fails. A request is only
    /// re-sent when hyper hands it back unsent, so no request bytes are ever sent twice.
    pub async fn send(
        self: &Arc<Self>,
        mut req: Request<Incoming>,
        t: Timeouts,
        retries: u32,
    ) -> Result<Sent, ProxyError> {
        let mut failures = 0u32;
        loop {
            let (mut sender, reused) = match self.checkout(t).await {
                Ok(s) => s,
                Err(e) => {
                    if failures < retries {
                        failures += 1;
                        tracing::debug!(error = %e, attempt = failures, upstream.addr = %format!("{}:{}", self.host, self.port), "retrying upstream connect");
                        continue;
                    }
                    return Err(e);
                }
            };
            let started = Instant::now();
            match tokio::time::timeout(t.read, sender.try_send_request(req)).await {
                Err(_) => return Err(ProxyError::ReadTimeout),
                Ok(Ok(response)) => {
                    return Ok(Sent {
                        response,
                        conn: Pooled {
                            sender,
                            upstream: self.clone(),
                        },
                        upstream_latency: started.elapsed(),
                    })
                }
                Ok(Err(mut e)) => match e.take_message() {
                    Some(unsent) => {
                        req = unsent;
                        // A reused connection closed under us: that costs no retry.
                        if !reused {
                            failures += 1;
                            if failures > retries {
                                return Err(ProxyError::Upstream(e.into_error()));
                            }
                        }
                    }
                    None => return Err(ProxyError::Upstream(e.into_error())),
                },
            }
        }
    }
}
