//! The HTTP/1.1 fast path on plain connections: one task reads a request head, checks it with
//! the strict scanner's own rules (`strict/head.rs`), routes it, runs the access phase, writes
//! it to a pooled upstream connection and relays the response. Upstream and downstream live on
//! the same task, header bytes are written through, and no timer is armed per request (hyper's
//! path costs a second task, two parses and two encodes per request, and timers).
//!
//! Anything it does not handle — a head the scanner would refuse, HTTP/1.0, chunked or
//! `Expect` bodies, upgrades, HTTP/2, a request that matches no route, a route whose plugins
//! touch the response, the log or the body, TLS upstreams — hands the connection, with every
//! byte read so far, to hyper behind `StrictIo`, which serves the rest of it exactly as
//! before. Handing off only happens before anything was sent or run, so the fast path must
//! never answer differently from hyper's: when in doubt, it hands off.

mod deadline;
mod exchange;
mod head;
mod upstream;
mod wire;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::Watcher;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use super::buf::Buf;
use super::forward::ConnInfo;
use super::state::Proxy;
use super::strict::{StrictIo, Verdicts};
use deadline::Coarse;
use exchange::Step;

/// What every connection of one listener shares.
pub struct Listener {
    pub proxy: Arc<Proxy>,
    pub builder: Arc<auto::Builder<TokioExecutor>>,
    pub local_port: u16,
    /// Held by every fast connection: the drain waits until all clones are gone.
    pub alive: mpsc::Sender<()>,
}

/// One client connection while the fast path serves it.
struct Conn {
    stream: TcpStream,
    inbuf: Buf,
    /// The bytes of the next write (an upstream request or a response head).
    out: Vec<u8>,
    info: Arc<ConnInfo>,
    proxy: Arc<Proxy>,
    /// No request served on this connection yet (HTTP/2's preface is only looked for then).
    first: bool,
    header_deadline: Coarse,
    upstream_deadline: Coarse,
    /// The request headers as the router (on header routes) and the plugins see them, kept
    /// between requests: its table (over 1 KiB) is allocated once per connection, not per request.
    header_map: http::HeaderMap,
}

/// Serves a plain connection: requests on the fast path until one needs hyper, then hyper.
pub async fn serve_conn(
    stream: TcpStream,
    peer: SocketAddr,
    listener: Arc<Listener>,
    watcher: Watcher,
    mut shutdown: watch::Receiver<bool>,
) {
    let _alive = listener.alive.clone();
    let verdicts = Arc::new(Verdicts::default());
    let info = Arc::new(ConnInfo::new(
        peer,
        listener.local_port,
        false,
        None,
        verdicts,
    ));
    let mut c = Conn {
        stream,
        inbuf: Buf::new(),
        out: Vec::with_capacity(1024),
        info,
        proxy: listener.proxy.clone(),
        first: true,
        header_deadline: Coarse::default(),
        upstream_deadline: Coarse::default(),
        header_map: http::HeaderMap::new(),
    };
    let stop = shutdown.changed();
    tokio::pin!(stop);
    loop {
        let (end, head) = match read_head(&mut c, stop.as_mut()).await {
            Got::Head(end, head) => (end, head),
            Got::HandOff => break,
            Got::Close => return,
        };
        match exchange::exchange(&mut c, end, head).await {
            Step::Next => c.first = false,
            Step::Close => {
                // A FIN after the answer, as hyper ends a connection.
                let _ = c.stream.shutdown().await;
                return;
            }
            Step::HandOff => break,
        }
        // Shutting down: the answer went out, the connection ends between requests.
        if stop.as_mut().now_or_never().is_some() {
            return;
        }
    }
    hand_off(c, &listener, watcher).await;
}

enum Got {
    Head(usize, super::strict::Head),
    HandOff,
    Close,
}

/// Reads until the buffer starts with a whole head the fast path takes (or one it leaves to
/// hyper). A client that sends no whole head within hyper's header timeout is dropped, as a
/// shutdown drops a connection waiting for its next request.
async fn read_head<F>(c: &mut Conn, mut stop: Pin<&mut F>) -> Got
where
    F: Future,
{
    let mut armed = false;
    loop {
        if !c.inbuf.is_empty() {
            match head::scan(c.inbuf.filled(), c.first) {
                head::Scan::Complete(end, h) => return Got::Head(end, h),
                head::Scan::HandOff => return Got::HandOff,
                head::Scan::Need => {}
            }
        }
        let Conn {
            stream,
            inbuf,
            header_deadline,
            ..
        } = c;
        let read = std::future::poll_fn(|cx| {
            let mut rb = ReadBuf::new(inbuf.spare());
            match Pin::new(&mut *stream).poll_read(cx, &mut rb) {
                Poll::Ready(r) => Poll::Ready(r.map(|()| rb.filled().len())),
                Poll::Pending => {
                    if !armed {
                        header_deadline.arm(super::service::HEADER_READ_TIMEOUT);
                        armed = true;
                    }
                    if header_deadline.expired(cx) || stop.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
                    }
                    Poll::Pending
                }
            }
        })
        .await;
        match read {
            Ok(0) | Err(_) => return Got::Close,
            Ok(n) => inbuf.filled_more(n),
        }
    }
}

/// Gives the connection to hyper: the bytes read so far are read again first, through a
/// scanner that knows whether a request was already served here.
async fn hand_off(c: Conn, listener: &Listener, watcher: Watcher) {
    let io = Rewind {
        pre: c.inbuf.filled().to_vec(),
        pos: 0,
        inner: c.stream,
    };
    let strict = StrictIo::resumed(io, c.info.verdicts.clone(), c.first);
    let service = super::service::service(listener.proxy.clone(), c.info);
    let conn = listener
        .builder
        .serve_connection_with_upgrades(TokioIo::new(strict), service);
    if let Err(e) = watcher.watch(conn.into_owned()).await {
        tracing::debug!(error = %e, "client connection ended with an error");
    }
}

/// A stream that yields `pre` before what it reads from `inner`.
struct Rewind {
    pre: Vec<u8>,
    pos: usize,
    inner: TcpStream,
}

impl AsyncRead for Rewind {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.pre.len() {
            let n = (this.pre.len() - this.pos).min(buf.remaining());
            buf.put_slice(&this.pre[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.pre.len() {
                this.pre = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
