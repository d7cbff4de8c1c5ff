//! The proxy's response body: either a small generated body (errors) or the upstream's body
//! streamed through frame by frame, with a read timeout between frames. When the upstream body
//! ends cleanly its connection returns to the pool; either way the request record is sent.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::Sleep;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::balancer::{Algorithm, Balancer, Health, Target};
use super::pipeline::LogTap;
use super::pool::Pooled;
use crate::telemetry::{Recorder, RequestRecord};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Sends the request record when the response is finished (or abandoned).
pub struct Completion {
    pub recorder: Recorder,
    pub record: RequestRecord,
    pub started: Instant,
    /// The route's log-phase plugins and what they are told.
    pub log: Option<Box<LogTap>>,
}

impl Completion {
    pub fn new(recorder: Recorder, record: RequestRecord, started: Instant) -> Completion {
        Completion {
            recorder,
            record,
            started,
            log: None,
        }
    }

    /// Records a request that ended with `bytes_out` sent and has no log phase.
    pub fn record(recorder: &Recorder, record: RequestRecord, started: Instant, bytes_out: u64) {
        done(recorder, record, elapsed_ms(started), bytes_out);
    }

    pub fn finish(self, bytes_out: u64) {
        let Completion {
            recorder,
            record,
            started,
            log,
        } = self;
        let latency_ms = elapsed_ms(started);
        if let Some(mut tap) = log {
            let e = &mut tap.entry;
            e.status = record.status;
            e.response_size = bytes_out;
            e.latency_ms = latency_ms;
            e.upstream_latency_ms = record.upstream_latency_ms;
            super::pipeline::log(&tap);
        }
        done(&recorder, record, latency_ms, bytes_out);
    }
}

fn elapsed_ms(started: Instant) -> i64 {
    started.elapsed().as_millis() as i64
}

fn done(recorder: &Recorder, mut record: RequestRecord, latency_ms: i64, bytes_out: u64) {
    record.bytes_out = bytes_out;
    record.latency_ms = latency_ms;
    recorder.record(record);
}

// Boxing the completion would add an allocation to every generated response; the enum lives
// inside the response future either way.
#[allow(clippy::large_enum_variant)]
pub enum ProxyBody {
    Full(Option<Bytes>, Option<Completion>),
    Upstream(Box<UpstreamBody>),
}

pub struct UpstreamBody {
    pub inner: Incoming,
    pub read_timeout: Duration,
    pub sleep: Option<Pin<Box<Sleep>>>,
    pub conn: Option<Pooled>,
    pub completion: Option<Completion>,
    pub bytes: u64,
    pub _in_flight: Option<InFlight>,
}

/// Counts a request against its target while it is in flight (least-connections and latency
/// balancing); only those algorithms pay for the shared counter.
pub struct InFlight(Arc<Health>);

impl InFlight {
    pub fn start(balancer: &Balancer, target: &Target) -> Option<InFlight> {
        matches!(
            balancer.algorithm,
            Algorithm::LeastConnections | Algorithm::Latency
        )
        .then(|| {
            target.health.active.fetch_add(1, Ordering::Relaxed);
            InFlight(target.health.clone())
        })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ProxyBody {
    /// A generated body's bytes and completion, for the fast path to send itself (`fast/`).
    pub fn take_full(&mut self) -> (Bytes, Option<Completion>) {
        match self {
            ProxyBody::Full(data, completion) => {
                (data.take().unwrap_or_default(), completion.take())
            }
            ProxyBody::Upstream(_) => (Bytes::new(), None),
        }
    }

    pub fn full(bytes: impl Into<Bytes>, completion: Option<Completion>) -> ProxyBody {
        ProxyBody::Full(Some(bytes.into()), completion)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the upstream stopped sending the response body for longer than the read timeout")]
pub struct BodyTimeout;

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ProxyBody::Full(data, completion) => {
                let frame = data.take().map(|d| Ok(Frame::data(d)));
                if frame.is_none() {
                    if let Some(c) = completion.take() {
                        c.finish(0);
                    }
                }
                Poll::Ready(frame)
            }
            ProxyBody::Upstream(b) => b.poll(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Full(d, _) => d.is_none(),
            ProxyBody::Upstream(b) => b.inner.is_end_stream() && b.completion.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Full(Some(d), _) => SizeHint::with_exact(d.len() as u64),
            ProxyBody::Full(None, _) => SizeHint::with_exact(0),
            ProxyBody::Upstream(b) => b.inner.size_hint(),
        }
    }
}

impl UpstreamBody {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    self.bytes += d.len() as u64;
                }
                self.sleep = None;
                // hyper's server stops polling once a sized body is fully written, so the end
                // must be noticed here, with the last frame, or the connection is never reused.
                if self.inner.is_end_stream() {
                    self.release();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                self.conn = None;
                self.complete();
                Poll::Ready(Some(Err(Box::new(e))))
            }
            Poll::Ready(None) => {
                self.release();
                Poll::Ready(None)
            }
            Poll::Pending => {
                let timeout = self.read_timeout;
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if sleep.as_mut().poll(cx).is_ready() {
                    self.conn = None;
                    self.complete();
                    return Poll::Ready(Some(Err(Box::new(BodyTimeout))));
                }
                Poll::Pending
            }
        }
    }

    /// The upstream body ended cleanly: its connection can serve the next request.
    fn release(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.release();
        }
        self.complete();
    }

    fn complete(&mut self) {
        if let Some(c) = self.completion.take() {
            c.finish(self.bytes);
        }
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        if self.inner.is_end_stream() {
            self.release();
        }
        self.complete();
    }
}

impl Drop for ProxyBody {
    fn drop(&mut self) {
        if let ProxyBody::Full(_, completion) = self {
            if let Some(c) = completion.take() {
                c.finish(0);
            }
        }
    }
}

/// The whole upstream body, for plugins that change or keep it; the completion is handed back
/// so the record counts what the client is finally sent.
pub async fn collect(mut body: Box<UpstreamBody>) -> Result<(Bytes, Option<Completion>), BoxError> {
    use http_body_util::BodyExt;
    let completion = body.completion.take();
    let collected = ProxyBody::Upstream(body).collect().await?;
    Ok((collected.to_bytes(), completion))
}
