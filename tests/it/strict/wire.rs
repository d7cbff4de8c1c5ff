//! Raw bytes on loopback: an upstream that records everything it receives and answers each
//! request it can frame, and a client that sends bytes as written and reads back responses.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Every byte an upstream received, and the request lines it answered.
#[derive(Clone, Default)]
pub struct Recorded {
    bytes: Arc<Mutex<Vec<u8>>>,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Recorded {
    pub fn clear(&self) {
        self.bytes.lock().expect("lock").clear();
        self.lines.lock().expect("lock").clear();
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.bytes.lock().expect("lock").clone()
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lock").clone()
    }
}

/// A loopback upstream answering `200 ok` to every request framed by Content-Length or
/// chunked encoding (what nginx and Gatehouse send upstream), recording all bytes.
pub async fn recording_upstream() -> (SocketAddr, Recorded) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let rec = Recorded::default();
    let r = rec.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let r = r.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 16 * 1024];
                loop {
                    let n = match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    r.bytes.lock().expect("lock").extend_from_slice(&chunk[..n]);
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some((line, used)) = frame_request(&buf) {
                        r.lines.lock().expect("lock").push(line);
                        buf.drain(..used);
                        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                        if s.write_all(ok).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, rec)
}

/// The request line and length of the first complete request in `buf`.
fn frame_request(buf: &[u8]) -> Option<(String, usize)> {
    let (head, body) = split_head(buf)?;
    let text = String::from_utf8_lossy(head);
    let line = text.lines().next().unwrap_or("").to_string();
    let body_len = match framing(&text) {
        Framing::Length(n) => (body.len() >= n).then_some(n)?,
        Framing::Chunked => chunked_len(body)?,
    };
    Some((line, head.len() + body_len))
}

enum Framing {
    Length(usize),
    Chunked,
}

fn framing(head: &str) -> Framing {
    let mut framing = Framing::Length(0);
    for l in head.lines().skip(1) {
        let Some((name, value)) = l.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("content-length") {
            framing = Framing::Length(value.trim().parse().unwrap_or(0));
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.trim().eq_ignore_ascii_case("chunked")
        {
            return Framing::Chunked;
        }
    }
    framing
}

/// Head (with its blank line) and what follows.
fn split_head(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    Some(buf.split_at(end))
}

/// The length of a complete, well-formed chunked body at the start of `body`.
fn chunked_len(body: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        let eol = body[i..].windows(2).position(|w| w == b"\r\n")? + i;
        let size_text = std::str::from_utf8(&body[i..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        i = eol + 2;
        if size == 0 {
            // Trailers until the empty line.
            loop {
                let eol = body[i..].windows(2).position(|w| w == b"\r\n")? + i;
                let empty = eol == i;
                i = eol + 2;
                if empty {
                    return Some(i);
                }
            }
        }
        if body.len() < i + size + 2 || &body[i + size..i + size + 2] != b"\r\n" {
            return None;
        }
        i += size + 2;
    }
}

/// One response as the client read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

/// What came back for one exchange: final responses in order, and whether bytes that are no
/// HTTP response followed them.
#[derive(Debug, Default)]
pub struct Answer {
    pub responses: Vec<Response>,
    pub garbage: bool,
    /// Bytes after the last complete response (a response cut short, or garbage).
    pub leftover: usize,
}

impl Answer {
    /// The first final status, 0 when nothing came back.
    pub fn status(&self) -> u16 {
        self.responses.first().map_or(0, |r| r.status)
    }
}

/// Sends `raw` as written, then reads until `expect` final responses arrived, the server
/// closed, or `patience` passed without a byte. With `half_close`, the write side is shut
/// once everything is sent (so a server waiting for more has to end the exchange).
pub async fn exchange(addr: SocketAddr, raw: &[u8], expect: usize, half_close: bool) -> Answer {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    // The server may refuse and close before everything was written: that is an answer too.
    let _ = s.write_all(raw).await;
    if half_close {
        let _ = s.shutdown().await;
    }
    let mut got = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let patience = Duration::from_secs(3);
    loop {
        let answer = parse_responses(&got);
        if answer.responses.len() >= expect && !answer.garbage {
            return answer;
        }
        match tokio::time::timeout(patience, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return parse_responses(&got),
            Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Splits `bytes` into complete responses (1xx interim ones skipped); anything left over
/// that does not start a response is garbage.
pub fn parse_responses(mut bytes: &[u8]) -> Answer {
    let mut answer = Answer::default();
    while !bytes.is_empty() {
        let Some((head, rest)) = split_head(bytes) else {
            answer.garbage = !(bytes.starts_with(b"HTTP/1.") || b"HTTP/1.".starts_with(bytes));
            answer.leftover = bytes.len();
            return answer;
        };
        let text = String::from_utf8_lossy(head).into_owned();
        let status = text
            .strip_prefix("HTTP/1.1 ")
            .or_else(|| text.strip_prefix("HTTP/1.0 "))
            .and_then(|t| t.get(..3))
            .and_then(|c| c.parse::<u16>().ok());
        let Some(status) = status else {
            answer.garbage = true;
            answer.leftover = bytes.len();
            return answer;
        };
        if (100..200).contains(&status) {
            bytes = rest;
            continue;
        }
        let len = match framing(&text) {
            Framing::Length(n) if rest.len() >= n => n,
            Framing::Chunked => match chunked_len(rest) {
                Some(n) => n,
                None => {
                    answer.leftover = bytes.len();
                    return answer;
                }
            },
            Framing::Length(_) => {
                answer.leftover = bytes.len();
                return answer;
            }
        };
        answer.responses.push(Response {
            status,
            head: text,
            body: rest[..len].to_vec(),
        });
        bytes = &rest[len..];
    }
    answer
}
