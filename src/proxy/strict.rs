//! HTTP/1 strictness in front of hyper: every byte a client sends passes a scanner that knows
//! where each request head and body starts and ends, checks each head as nginx would
//! (`head.rs`) and holds a chunked body until its framing is known good (`chunked.rs`). hyper
//! is more lenient than nginx in ways a handler cannot see (a repeated Content-Length is
//! dropped, Content-Length beside Transfer-Encoding removed); here nothing it would accept
//! differently gets through. A refused request never reaches hyper: the scanner hands it a
//! stand-in request instead (`GET *`, which no client can send through here), the proxy answers
//! that with the refusal's status and Kong's JSON body, and the connection ends, since what
//! follows a bad head cannot be framed. It does not rewrite bytes or know about routes.

mod chunked;
mod head;

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub use chunked::Chunks;
pub use head::{check, method_start_ok, Framing, Head, MAX_HEAD, MAX_LINE};

/// Why a request was refused, with nginx's status and Kong's message for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Refusal {
    BadRequest = 1,
    HeaderTooLarge,
    UriTooLong,
    MethodNotAllowed,
    NotImplemented,
    VersionNotSupported,
}

impl Refusal {
    pub fn status(self) -> StatusCode {
        match self {
            // nginx's 494 is sent as 400.
            Refusal::BadRequest | Refusal::HeaderTooLarge => StatusCode::BAD_REQUEST,
            Refusal::UriTooLong => StatusCode::URI_TOO_LONG,
            Refusal::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            Refusal::VersionNotSupported => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::BadRequest => "Bad request",
            Refusal::HeaderTooLarge => "Request header or cookie too large",
            Refusal::UriTooLong => "URI too long",
            Refusal::MethodNotAllowed => "Method not allowed",
            Refusal::NotImplemented => "Not implemented",
            Refusal::VersionNotSupported => "HTTP version not supported",
        }
    }

    fn from_u8(v: u8) -> Option<Refusal> {
        [
            Refusal::BadRequest,
            Refusal::HeaderTooLarge,
            Refusal::UriTooLong,
            Refusal::MethodNotAllowed,
            Refusal::NotImplemented,
            Refusal::VersionNotSupported,
        ]
        .into_iter()
        .find(|r| *r as u8 == v)
    }
}

/// What the scanner tells the request handler about its connection.
#[derive(Debug, Default)]
pub struct Verdicts {
    refusal: AtomicU8,
    upgrade: AtomicBool,
    broken: AtomicBool,
}

impl Verdicts {
    /// The refusal the stand-in request (`GET *`) stands for, if any.
    pub fn refusal(&self) -> Option<Refusal> {
        Refusal::from_u8(self.refusal.load(Ordering::Relaxed))
    }

    /// A request asked to switch protocols: the scanner stopped checking what follows, so an
    /// answer other than 101 must close the connection.
    pub fn upgrade_requested(&self) -> bool {
        self.upgrade.load(Ordering::Relaxed)
    }

    /// A chunked body that was already streaming turned out badly framed: the request failed
    /// because of the client, not the upstream.
    pub fn body_broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }
}

/// What hyper parses instead of a refused request; `*` is refused in any client's request.
const STAND_IN: &[u8] = b"GET * HTTP/1.1\r\nHost: gatehouse\r\nConnection: close\r\n\r\n";
/// HTTP/2 with prior knowledge (h2c) starts with this; such a connection is not checked here.
pub const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// A chunked request is held back with its head (nginx buffers request bodies too) until its
/// body is complete and well framed, so a bad one never reaches the upstream. The hold ends
/// early, and the body streams on (still checked), when the client pauses (the socket has
/// nothing more to read: a client streaming a large body waits for it to flow) or past this
/// many bytes. Bad framing found while streaming breaks the connection; the proxy answers 400.
const HOLD_LIMIT: usize = 1024 * 1024;

#[derive(Debug)]
enum State {
    Head,
    Body(u64),
    /// A chunked request held back, head and body, while its chunks are walked.
    HoldChunked(Chunks),
    StreamChunked(Chunks),
    /// HTTP/2, or after a protocol upgrade: bytes are passed as they are.
    Passthrough,
    Refused,
    Broken,
}

enum Next {
    /// That many bytes may go to hyper.
    Pass(usize),
    /// Nothing can go yet: hold everything.
    Wait,
    Refuse(Refusal),
    Broken,
}

/// The byte-stream state of one connection. Pure: it sees bytes and says what may pass.
#[derive(Debug)]
pub struct Scanner {
    state: State,
    first: bool,
    /// Bytes read but not yet given to hyper, oldest first.
    held: Vec<u8>,
    /// How far into `held` (or the data being looked at) has been scanned already.
    searched: usize,
    /// Bytes cleared to go to hyper, waiting for room in its buffer.
    out: Vec<u8>,
    out_pos: usize,
    refused: Option<Refusal>,
    upgrade: bool,
    /// The head being looked at has a complete request line.
    line_seen: bool,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner {
            state: State::Head,
            first: true,
            held: Vec::new(),
            searched: 0,
            out: Vec::new(),
            out_pos: 0,
            refused: None,
            upgrade: false,
            line_seen: false,
        }
    }
}

impl Scanner {
    /// Looks at freshly read bytes and returns how many of them (a prefix) may go to hyper
    /// as they are; the rest is held or dropped, and released bytes appear in `out`.
    pub fn feed(&mut self, data: &[u8]) -> usize {
        if !self.held.is_empty() {
            self.held.extend_from_slice(data);
            self.drain_held();
            return 0;
        }
        let mut pos = 0;
        while pos < data.len() {
            match self.next(&data[pos..]) {
                Next::Pass(n) => pos += n,
                Next::Wait => {
                    self.held.extend_from_slice(&data[pos..]);
                    break;
                }
                Next::Refuse(r) => {
                    self.refuse(r);
                    break;
                }
                Next::Broken => {
                    self.state = State::Broken;
                    break;
                }
            }
        }
        pos
    }

    /// Bytes released from `held`, waiting to be copied to hyper.
    pub fn pending_out(&self) -> &[u8] {
        &self.out[self.out_pos..]
    }

    pub fn consume_out(&mut self, n: usize) {
        self.out_pos += n;
        if self.out_pos >= self.out.len() {
            self.out.clear();
            self.out_pos = 0;
            // A big held body should not stay allocated for the connection's lifetime.
            if self.out.capacity() > 64 * 1024 {
                self.out = Vec::new();
            }
        }
    }

    pub fn take_refusal(&mut self) -> Option<Refusal> {
        self.refused.take()
    }

    pub fn take_upgrade(&mut self) -> bool {
        std::mem::take(&mut self.upgrade)
    }

    /// The client paused in the middle of a chunked body: let what is held go and stream the
    /// rest. False when nothing was held that way.
    pub fn release_hold(&mut self) -> bool {
        let State::HoldChunked(chunks) = &mut self.state else {
            return false;
        };
        if self.held.is_empty() {
            return false;
        }
        self.state = State::StreamChunked(std::mem::take(chunks));
        self.out.extend_from_slice(&self.held);
        self.held.clear();
        self.searched = 0;
        true
    }

    pub fn is_broken(&self) -> bool {
        matches!(self.state, State::Broken)
    }

    fn drain_held(&mut self) {
        let mut held = std::mem::take(&mut self.held);
        while !held.is_empty() {
            match self.next(&held) {
                Next::Pass(n) => {
                    self.out.extend_from_slice(&held[..n]);
                    held.drain(..n);
                }
                Next::Wait => break,
                Next::Refuse(r) => {
                    held.clear();
                    self.refuse(r);
                }
                Next::Broken => {
                    held.clear();
                    self.state = State::Broken;
                }
            }
        }
        if held.is_empty() && held.capacity() > 64 * 1024 {
            held = Vec::new();
        }
        self.held = held;
    }

    fn refuse(&mut self, r: Refusal) {
        self.state = State::Refused;
        self.refused = Some(r);
        self.out.extend_from_slice(STAND_IN);
    }

    /// Decides about the start of `data` in the current state.
    fn next(&mut self, data: &[u8]) -> Next {
        let next = match &mut self.state {
            State::Head => return self.next_head(data),
            State::Body(left) => {
                let n = data.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                *left -= n as u64;
                if *left == 0 {
                    self.state = State::Head;
                }
                Next::Pass(n)
            }
            State::HoldChunked(chunks) => match chunks.feed(&data[self.searched..]) {
                Ok(Some(n)) => {
                    let n = self.searched + n;
                    self.state = State::Head;
                    Next::Pass(n)
                }
                Ok(None) if data.len() > HOLD_LIMIT => {
                    self.state = State::StreamChunked(std::mem::take(chunks));
                    Next::Pass(data.len())
                }
                Ok(None) => {
                    self.searched = data.len();
                    return Next::Wait;
                }
                Err(_) => Next::Refuse(Refusal::BadRequest),
            },
            State::StreamChunked(chunks) => match chunks.feed(data) {
                Ok(Some(n)) => {
                    self.state = State::Head;
                    Next::Pass(n)
                }
                Ok(None) => Next::Pass(data.len()),
                Err(_) => Next::Broken,
            },
            State::Passthrough => Next::Pass(data.len()),
            // Never asked: nothing is read once refused or broken.
            State::Refused => return Next::Wait,
            State::Broken => Next::Broken,
        };
        self.searched = 0;
        next
    }

    fn next_head(&mut self, data: &[u8]) -> Next {
        if self.first {
            let n = data.len().min(H2_PREFACE.len());
            if data[..n] == H2_PREFACE[..n] {
                if n < H2_PREFACE.len() {
                    return Next::Wait;
                }
                self.state = State::Passthrough;
                return Next::Pass(data.len());
            }
        }
        // Empty lines before a request line are skipped, by nginx and hyper alike.
        match data {
            [b'\n', ..] => return Next::Pass(1),
            [b'\r', b'\n', ..] => return Next::Pass(2),
            [b'\r'] => return Next::Wait,
            [b'\r', ..] => return Next::Refuse(Refusal::BadRequest),
            _ => {}
        }
        let Some(end) = self.find_head_end(data) else {
            if !head::method_start_ok(data) {
                return Next::Refuse(Refusal::BadRequest);
            }
            if !self.line_seen && data.len() > MAX_LINE {
                return Next::Refuse(Refusal::UriTooLong);
            }
            if data.len() > MAX_HEAD {
                return Next::Refuse(Refusal::HeaderTooLarge);
            }
            return Next::Wait;
        };
        if end > MAX_HEAD + 2 {
            return Next::Refuse(Refusal::HeaderTooLarge);
        }
        let head = match head::check(&data[..end]) {
            Ok(h) => h,
            Err(r) => return Next::Refuse(r),
        };
        self.first = false;
        self.searched = 0;
        self.line_seen = false;
        if head.upgrade {
            self.state = State::Passthrough;
            self.upgrade = true;
            return Next::Pass(data.len());
        }
        match head.framing {
            Framing::None => Next::Pass(end),
            Framing::Length(n) => {
                self.state = State::Body(n);
                Next::Pass(end)
            }
            // A client waiting for `100 Continue` would wait forever for a held head.
            Framing::Chunked if head.expect_continue => {
                self.state = State::StreamChunked(Chunks::default());
                Next::Pass(end)
            }
            Framing::Chunked => {
                self.state = State::HoldChunked(Chunks::default());
                self.searched = end;
                self.next(data)
            }
        }
    }

    /// The end of the head (just past its empty line), resuming where the last look stopped.
    fn find_head_end(&mut self, data: &[u8]) -> Option<usize> {
        let mut i = self.searched.saturating_sub(2);
        while let Some(off) = data[i..].iter().position(|&b| b == b'\n') {
            let lf = i + off;
            self.line_seen = true;
            match (data.get(lf + 1), data.get(lf + 2)) {
                (Some(b'\n'), _) => return Some(lf + 2),
                (Some(b'\r'), Some(b'\n')) => return Some(lf + 3),
                (None, _) | (Some(b'\r'), None) => break,
                _ => i = lf + 1,
            }
        }
        // Remember how far was looked at, never past a line end that may still complete.
        self.searched = self.searched.max(data.len().saturating_sub(2));
        None
    }
}

/// A client connection with the scanner in front of its reads; writes pass straight through.
pub struct StrictIo<S> {
    inner: S,
    scanner: Scanner,
    verdicts: Arc<Verdicts>,
}

impl<S> StrictIo<S> {
    pub fn new(inner: S, verdicts: Arc<Verdicts>) -> StrictIo<S> {
        StrictIo {
            inner,
            scanner: Scanner::default(),
            verdicts,
        }
    }

    /// A connection the fast path (`fast.rs`) served until now: `first` when no request was
    /// served on it yet (only then may HTTP/2's preface start it).
    pub fn resumed(inner: S, verdicts: Arc<Verdicts>, first: bool) -> StrictIo<S> {
        let mut io = StrictIo::new(inner, verdicts);
        io.scanner.first = first;
        io
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for StrictIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            let out = this.scanner.pending_out();
            if !out.is_empty() {
                let n = out.len().min(buf.remaining());
                buf.put_slice(&out[..n]);
                this.scanner.consume_out(n);
                return Poll::Ready(Ok(()));
            }
            match this.scanner.state {
                // hyper answers the stand-in and closes; nothing more is read.
                State::Refused => return Poll::Pending,
                State::Broken => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "invalid chunked request body",
                    )))
                }
                State::Passthrough if this.scanner.held.is_empty() => {
                    return Pin::new(&mut this.inner).poll_read(cx, buf)
                }
                _ => {}
            }
            let start = buf.filled().len();
            if Pin::new(&mut this.inner).poll_read(cx, buf)?.is_pending() {
                if this.scanner.release_hold() {
                    continue;
                }
                return Poll::Pending;
            }
            let end = buf.filled().len();
            if end == start {
                return Poll::Ready(Ok(()));
            }
            let keep = this.scanner.feed(&buf.filled()[start..end]);
            buf.set_filled(start + keep);
            if let Some(r) = this.scanner.take_refusal() {
                this.verdicts.refusal.store(r as u8, Ordering::Relaxed);
            }
            if this.scanner.take_upgrade() {
                this.verdicts.upgrade.store(true, Ordering::Relaxed);
            }
            if this.scanner.is_broken() {
                this.verdicts.broken.store(true, Ordering::Relaxed);
            }
            if keep > 0 {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for StrictIo<S> {
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

#[cfg(test)]
mod tests;
