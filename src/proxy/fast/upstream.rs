//! The upstream side of the fast path: pooled plain connections this worker drives itself (no
//! connection task), the balancer's pick with `dispatch.rs`'s retry rules, and reading the
//! response head with the service's read timeout.

use std::io;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::deadline::Coarse;
use crate::proxy::balancer::{Algorithm, Outcome};
use crate::proxy::body::InFlight;
use crate::proxy::buf::Buf;
use crate::proxy::config::ServiceTarget;
use crate::proxy::dispatch::{report, DispatchError};
use crate::proxy::pool::{ProxyError, RawConn, Timeouts};

/// The client side a request body streams from: its socket and what was read already.
pub struct Client<'a> {
    pub stream: &'a mut TcpStream,
    pub inbuf: &'a mut Buf,
    /// Body bytes still to come from the client after what the request bytes hold.
    pub remaining: u64,
}

pub struct Dispatched {
    pub conn: RawConn,
    /// The response head's length at the start of `conn.buf`.
    pub head_len: usize,
    pub target: usize,
    pub upstream_latency: Duration,
    pub in_flight: Option<InFlight>,
}

/// Sends `request` (head and the body bytes at hand) to a target the balancer picks, then the
/// rest of the body, and reads the response head. A connection that fails moves on to another
/// target as `dispatch.rs` does: always when nothing was sent, and again only for a request
/// that can be replayed exactly (idempotent, no body) when the service has several targets.
pub async fn dispatch(
    service: &ServiceTarget,
    request: &[u8],
    idempotent: bool,
    client: &mut Client<'_>,
    deadline: &mut Coarse,
) -> Result<Dispatched, DispatchError> {
    let balancer = &service.balancer;
    let t = service.timeouts;
    let replayable = balancer.targets.len() > 1 && idempotent && client.remaining == 0;
    let mut tried: u64 = 0;
    let mut last_error = None;
    for _attempt in 0..=service.retries {
        let Some(idx) = balancer
            .pick(None, tried)
            .or_else(|| (tried != 0).then(|| balancer.pick(None, 0)).flatten())
        else {
            return Err(last_error.map_or(DispatchError::NoTarget, DispatchError::Proxy));
        };
        let target = &balancer.targets[idx];
        let in_flight = InFlight::start(balancer, target);
        let outcome = loop {
            let (mut conn, reused) = match target.pool.raw_checkout().filter(RawConn::usable) {
                Some(c) => (c, true),
                None => match target.pool.raw_connect(t).await {
                    Ok(io) => (
                        RawConn {
                            io,
                            buf: Buf::new(),
                        },
                        false,
                    ),
                    Err(e) => break Err((e, false)),
                },
            };
            let started = Instant::now();
            match exchange(&mut conn, request, idempotent, client, deadline, t).await {
                Ok(head_len) => break Ok((conn, head_len, started.elapsed())),
                // A kept-alive connection the upstream closed meanwhile: nothing of the
                // request was taken, so another connection gets it.
                Err(Failure::Stale) if reused => continue,
                Err(Failure::Stale) => {
                    break Err((ProxyError::Io(io::ErrorKind::UnexpectedEof.into()), true))
                }
                Err(Failure::Error(e)) => break Err((e, true)),
            }
        };
        match outcome {
            Ok((conn, head_len, latency)) => {
                if balancer.algorithm == Algorithm::Latency {
                    target.health.observe_latency(latency.as_micros() as u64);
                }
                if balancer.passive.counts_anything() {
                    let status = super::wire::status_of(&conn.buf.filled()[..head_len]);
                    if let Some(o) = balancer.passive.classify(status) {
                        report(balancer, target, o, false);
                    }
                }
                return Ok(Dispatched {
                    conn,
                    head_len,
                    target: idx,
                    upstream_latency: latency,
                    in_flight,
                });
            }
            Err((error, sent)) => {
                drop(in_flight);
                let outcome = if error.is_timeout() {
                    Outcome::Timeout
                } else {
                    Outcome::TcpFailure
                };
                report(balancer, target, outcome, false);
                tracing::debug!(error = %error, upstream.addr = %target.name, "upstream attempt failed");
                if idx < 64 {
                    tried |= 1 << idx;
                }
                let timed_out = matches!(error, ProxyError::ReadTimeout);
                last_error = Some(error);
                if sent && (!replayable || timed_out) {
                    break;
                }
            }
        }
    }
    Err(last_error.map_or(DispatchError::NoTarget, DispatchError::Proxy))
}

enum Failure {
    /// The connection ended before taking any of the request or answering.
    Stale,
    Error(ProxyError),
}

/// One try on one connection: the request, the rest of the client's body, the response head.
async fn exchange(
    conn: &mut RawConn,
    request: &[u8],
    idempotent: bool,
    client: &mut Client<'_>,
    deadline: &mut Coarse,
    t: Timeouts,
) -> Result<usize, Failure> {
    // Closed with no answer: on a kept-alive connection most likely closed while idle, but the
    // upstream may have acted on it, so only a request that can be repeated is sent again.
    let stale = |streamed: bool, buf: &Buf| idempotent && !streamed && buf.is_empty();
    if let Err(e) = conn.io.write_all(request).await {
        return Err(match e.kind() {
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => Failure::Stale,
            _ => Failure::Error(ProxyError::Io(e)),
        });
    }
    let mut streamed = false;
    while client.remaining > 0 {
        streamed = true;
        if client.inbuf.is_empty() {
            let n = read(client.stream, client.inbuf, None)
                .await
                .map_err(|e| Failure::Error(ProxyError::Io(e)))?;
            if n == 0 {
                return Err(Failure::Error(ProxyError::Io(
                    io::ErrorKind::UnexpectedEof.into(),
                )));
            }
        }
        let take = client
            .inbuf
            .len()
            .min(usize::try_from(client.remaining).unwrap_or(usize::MAX));
        conn.io
            .write_all(&client.inbuf.filled()[..take])
            .await
            .map_err(|e| Failure::Error(ProxyError::Io(e)))?;
        client.inbuf.consume(take);
        client.remaining -= take as u64;
    }
    loop {
        if let Some(end) = super::head::head_end(conn.buf.filled()) {
            let status = super::wire::status_of(&conn.buf.filled()[..end]);
            // Interim answers (100 Continue, 103 Early Hints) are not relayed.
            if (100..200).contains(&status) && status != 101 {
                conn.buf.consume(end);
                continue;
            }
            return Ok(end);
        }
        match read(&mut conn.io, &mut conn.buf, Some((deadline, t.read))).await {
            Ok(0) if stale(streamed, &conn.buf) => return Err(Failure::Stale),
            Ok(0) => {
                return Err(Failure::Error(ProxyError::Io(
                    io::ErrorKind::UnexpectedEof.into(),
                )))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return Err(Failure::Error(ProxyError::ReadTimeout))
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset && stale(streamed, &conn.buf) => {
                return Err(Failure::Stale)
            }
            Err(e) => return Err(Failure::Error(ProxyError::Io(e))),
        }
    }
}

/// Reads once into `buf`; with a deadline, a read that waits longer than `timeout` fails as
/// timed out. A full buffer reads as the end of the stream.
pub async fn read<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Buf,
    mut deadline: Option<(&mut Coarse, Duration)>,
) -> io::Result<usize> {
    let mut armed = false;
    let n = std::future::poll_fn(|cx| {
        let mut rb = ReadBuf::new(buf.spare());
        match Pin::new(&mut *stream).poll_read(cx, &mut rb) {
            Poll::Ready(r) => Poll::Ready(r.map(|()| rb.filled().len())),
            Poll::Pending => {
                if let Some((d, timeout)) = &mut deadline {
                    if !armed {
                        d.arm(*timeout);
                        armed = true;
                    }
                    if d.expired(cx) {
                        return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
                    }
                }
                Poll::Pending
            }
        }
    })
    .await?;
    buf.filled_more(n);
    Ok(n)
}
