//! Keep-alive HTTP/1.1 connections to one upstream address (plain or TLS). Idle senders sit in
//! a lock-free queue; a sender goes back to it only after its response body ended cleanly.

use std::io;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_queue::ArrayQueue;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::buf::Buf;
use super::timeout_io::TimeoutStream;

/// Idle connections are kept per proxy worker thread, so a connection is reused by the thread
/// (and runtime) that drives it; queues are created on first use to keep idle upstreams cheap.
const SHARDS: usize = 16;
const MAX_IDLE_PER_SHARD: usize = 256;

thread_local! {
    static WORKER: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn worker() -> usize {
    WORKER.with(|w| w.get())
}

/// Marks the current thread as proxy worker `index` (its idle-connection shard).
pub fn set_worker(index: usize) {
    WORKER.with(|w| w.set(index));
}

/// What is sent upstream: the client's streamed body, or nothing (a replayed bodiless request).
/// The client's body streamed through, or bytes the gateway made (empty for probes and
/// replays; a plugin's rewritten body).
pub type ClientBody = Either<Incoming, Full<Bytes>>;

type IdleQueue = ArrayQueue<SendRequest<ClientBody>>;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("connecting to the upstream failed: {0}")]
    Connect(std::io::Error),
    #[error("connecting to the upstream timed out")]
    ConnectTimeout,
    #[error("the TLS handshake with the upstream failed: {0}")]
    Tls(std::io::Error),
    #[error("the upstream did not answer in time")]
    ReadTimeout,
    #[error("the upstream failed: {0}")]
    Upstream(hyper::Error),
    /// The fast path's own connection failed (`fast/upstream.rs`).
    #[error("the upstream failed: {0}")]
    Io(std::io::Error),
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

    /// Whether nothing reached the upstream (so trying another target is always safe).
    pub fn before_send(&self) -> bool {
        matches!(
            self,
            ProxyError::Connect(_) | ProxyError::ConnectTimeout | ProxyError::Tls(_)
        )
    }

    pub fn is_timeout(&self) -> bool {
        matches!(self, ProxyError::ConnectTimeout | ProxyError::ReadTimeout)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub read: Duration,
    pub write: Duration,
}

/// TLS to the upstream: the client configuration and the name sent as SNI and verified.
#[derive(Clone)]
pub struct UpstreamTls {
    pub connector: TlsConnector,
    pub server_name: ServerName<'static>,
}

pub struct Upstream {
    host: String,
    port: u16,
    tls: Option<UpstreamTls>,
    idle: [OnceLock<IdleQueue>; SHARDS],
    /// Plain connections the HTTP/1 fast path (`fast/`) drives itself, per worker like `idle`.
    raw_idle: [OnceLock<ArrayQueue<RawConn>>; SHARDS],
}

/// A kept-alive upstream connection and the bytes read from it but not used yet.
pub struct RawConn {
    pub io: TimeoutStream<TcpStream>,
    pub buf: Buf,
}

impl RawConn {
    /// Whether an idle connection can carry a request: the upstream has not closed it or sent
    /// anything unasked. The runtime already knows when the socket became readable, so a
    /// quiet connection costs no system call.
    pub fn usable(&self) -> bool {
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        match self.io.get_ref().poll_read_ready(&mut cx) {
            Poll::Pending => true,
            // Readable: closed, or ready from the last read only. A read that would block
            // tells them apart.
            Poll::Ready(_) => matches!(
                self.io.get_ref().try_read(&mut [0u8; 1]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock
            ),
        }
    }
}

/// A connection lent to one request; [`Pooled::release`] returns it for reuse.
pub struct Pooled {
    sender: SendRequest<ClientBody>,
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

/// A failed attempt: the error, and the request when hyper handed it back unsent.
pub struct Failed {
    pub error: ProxyError,
    pub unsent: Option<Request<ClientBody>>,
}

impl Upstream {
    pub fn new(host: &str, port: u16, tls: Option<UpstreamTls>) -> Arc<Upstream> {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        Arc::new(Upstream {
            host,
            port,
            tls,
            idle: std::array::from_fn(|_| OnceLock::new()),
            raw_idle: std::array::from_fn(|_| OnceLock::new()),
        })
    }

    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Whether the upstream speaks TLS (the fast path only drives plain connections).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// An idle fast-path connection of this worker, if one is kept.
    pub fn raw_checkout(&self) -> Option<RawConn> {
        self.raw_idle[worker() % SHARDS].get()?.pop()
    }

    /// Keeps a fast-path connection whose last response ended cleanly.
    pub fn raw_release(&self, conn: RawConn) {
        let queue =
            self.raw_idle[worker() % SHARDS].get_or_init(|| ArrayQueue::new(MAX_IDLE_PER_SHARD));
        let _ = queue.push(conn);
    }

    /// A new plain TCP connection for the fast path, with the write timeout on the socket.
    pub async fn raw_connect(&self, t: Timeouts) -> Result<TimeoutStream, ProxyError> {
        let stream = tokio::time::timeout(
            t.connect,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| ProxyError::ConnectTimeout)?
        .map_err(ProxyError::Connect)?;
        let _ = stream.set_nodelay(true);
        Ok(TimeoutStream::new(stream, t.write))
    }

    fn shard(&self) -> &OnceLock<IdleQueue> {
        &self.idle[worker() % SHARDS]
    }

    async fn checkout(&self, t: Timeouts) -> Result<(SendRequest<ClientBody>, bool), ProxyError> {
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
        // Boxed: connecting (TCP, TLS handshake state, HTTP handshake) is by far the largest
        // state in the request future, and a kept-alive request never needs it; inline, it would
        // be copied around with every request's future.
        Box::pin(self.connect(t)).await.map(|s| (s, false))
    }

    /// A new connection: TCP (with the write timeout below TLS, on the raw socket), then TLS
    /// when the service speaks https, then an HTTP/1.1 handshake that allows upgrades.
    pub async fn connect(&self, t: Timeouts) -> Result<SendRequest<ClientBody>, ProxyError> {
        let stream = tokio::time::timeout(
            t.connect,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| ProxyError::ConnectTimeout)?
        .map_err(ProxyError::Connect)?;
        let _ = stream.set_nodelay(true);
        let stream = TimeoutStream::new(stream, t.write);
        match &self.tls {
            None => handshake(stream).await,
            Some(tls) => {
                let connect = tls.connector.connect(tls.server_name.clone(), stream);
                let tls_stream = tokio::time::timeout(t.connect, connect)
                    .await
                    .map_err(|_| ProxyError::ConnectTimeout)?
                    .map_err(ProxyError::Tls)?;
                handshake(tls_stream).await
            }
        }
    }

    /// Sends `req` once. A reused connection that turns out closed costs nothing: the request
    /// comes back unsent and goes out on another connection. A request is only handed back
    /// when hyper says it was not sent, so no request bytes are ever sent twice.
    pub async fn attempt(
        self: &Arc<Self>,
        mut req: Request<ClientBody>,
        t: Timeouts,
    ) -> Result<Sent, Failed> {
        loop {
            let (mut sender, reused) = match self.checkout(t).await {
                Ok(s) => s,
                Err(error) => {
                    return Err(Failed {
                        error,
                        unsent: Some(req),
                    })
                }
            };
            let started = Instant::now();
            match tokio::time::timeout(t.read, sender.try_send_request(req)).await {
                Err(_) => {
                    return Err(Failed {
                        error: ProxyError::ReadTimeout,
                        unsent: None,
                    })
                }
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
                    Some(unsent) if reused => req = unsent,
                    unsent => {
                        return Err(Failed {
                            error: ProxyError::Upstream(e.into_error()),
                            unsent,
                        })
                    }
                },
            }
        }
    }
}

async fn handshake<S>(stream: S) -> Result<SendRequest<ClientBody>, ProxyError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(ProxyError::Upstream)?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}
