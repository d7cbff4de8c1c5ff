//! Bytes on the wire for the fast path: the request head sent upstream (the client's header
//! lines written through, Kong's forwarded headers added), the response head relayed to the
//! client (the upstream's lines written through, hop-by-hop ones dropped, Via added), and the
//! responses the proxy makes itself. What changes matches `headers.rs` on hyper's path.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// The status code of a response head (`HTTP/1.x NNN`), 0 when it has none.
pub fn status_of(head: &[u8]) -> u16 {
    head.get(9..12)
        .and_then(|d| std::str::from_utf8(d).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Where the forwarded headers come from (see `headers::set_forwarded`).
pub struct Upstream<'a> {
    pub method: &'a [u8],
    pub target: &'a [u8],
    pub client_ip: &'a [u8],
    pub port: &'a [u8],
    /// The client's Host, as sent.
    pub host: &'a str,
    /// The first X-Forwarded-For the client sent.
    pub xff: Option<&'a str>,
    pub path: &'a str,
    pub prefix: Option<&'a str>,
    /// The Host header sent upstream.
    pub host_upstream: &'a [u8],
}

/// Request headers the proxy drops (hop by hop) or sets itself.
const REPLACED: [&[u8]; 17] = [
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"upgrade",
    b"host",
    b"x-forwarded-for",
    b"x-real-ip",
    b"x-forwarded-proto",
    b"x-forwarded-host",
    b"x-forwarded-port",
    b"x-forwarded-path",
    b"x-forwarded-prefix",
];

fn replaced_request_header(name: &[u8]) -> bool {
    REPLACED.iter().any(|r| name.eq_ignore_ascii_case(r))
}

/// The upstream request head from the client's own header lines (a route without plugins).
pub fn request_head_raw(out: &mut Vec<u8>, headers: &[httparse::Header<'_>], u: &Upstream<'_>) {
    request_line(out, u);
    for h in headers {
        if !replaced_request_header(h.name.as_bytes()) {
            line(out, h.name.as_bytes(), h.value);
        }
    }
    set_by_proxy(out, u);
}

/// The upstream request head from a header map a plugin's access phase may have changed, as
/// `forward.rs` makes it with `headers.rs`: hop-by-hop headers dropped, X-Forwarded-* set
/// (extending the map's X-Forwarded-For, which a plugin may have set), Host and Via. Written
/// straight into the buffer: inserting them into the map first cost a rate-limited,
/// authenticated request more than its plugins did. A map whose Connection header names other
/// headers must have been through `headers::strip_hop_by_hop`.
pub fn request_head_map(out: &mut Vec<u8>, headers: &HeaderMap, u: &Upstream<'_>) {
    request_line(out, u);
    for (name, value) in headers {
        let name = name.as_str().as_bytes();
        if !replaced_request_header(name) {
            line(out, name, value.as_bytes());
        }
    }
    let xff = headers
        .get(super::super::headers::X_FORWARDED_FOR)
        .and_then(|v| v.to_str().ok());
    set_by_proxy(out, &Upstream { xff, ..*u });
}

/// The lines the proxy sets itself, after the client's own, and the end of the head.
fn set_by_proxy(out: &mut Vec<u8>, u: &Upstream<'_>) {
    forwarded(out, u);
    line(out, b"host", u.host_upstream);
    line(out, b"via", super::super::headers::VIA.as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn request_line(out: &mut Vec<u8>, u: &Upstream<'_>) {
    out.extend_from_slice(u.method);
    out.push(b' ');
    out.extend_from_slice(u.target);
    out.extend_from_slice(b" HTTP/1.1\r\n");
}

/// Kong's X-Forwarded-* and X-Real-IP, as `headers::set_forwarded` sets them.
fn forwarded(out: &mut Vec<u8>, u: &Upstream<'_>) {
    out.extend_from_slice(b"x-forwarded-for: ");
    if let Some(prev) = u.xff.filter(|p| !p.is_empty()) {
        out.extend_from_slice(prev.as_bytes());
        out.extend_from_slice(b", ");
    }
    out.extend_from_slice(u.client_ip);
    out.extend_from_slice(b"\r\n");
    line(out, b"x-real-ip", u.client_ip);
    line(out, b"x-forwarded-proto", b"http");
    let host = u
        .host
        .rsplit_once(':')
        .filter(|(_, p)| p.parse::<u16>().is_ok())
        .map_or(u.host, |(h, _)| h);
    line(out, b"x-forwarded-host", host.as_bytes());
    line(out, b"x-forwarded-port", u.port);
    line(out, b"x-forwarded-path", u.path.as_bytes());
    if let Some(p) = u.prefix {
        line(out, b"x-forwarded-prefix", p.as_bytes());
    }
}

fn line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    None,
    Length(u64),
    /// Chunked upstream: relayed as it is, its framing checked.
    Chunked,
    /// Until the upstream closes: relayed to the client re-chunked.
    Close,
}

pub struct RespHead {
    pub status: u16,
    pub body: Body,
    /// The upstream connection may serve another request after this response.
    pub reusable: bool,
}

pub struct Relay<'a> {
    pub head_request: bool,
    /// The client asked to close: say so, as hyper does.
    pub close: bool,
    /// Headers the access phase set for the response (rate-limit counters).
    pub downstream: &'a [(HeaderName, HeaderValue)],
}

/// Writes the client's response head from the upstream's `head` (complete, without 1xx).
/// `None`: the upstream's head is not a valid HTTP/1 response (a 502 for the client).
pub fn relay_head(out: &mut Vec<u8>, head: &[u8], r: &Relay<'_>) -> Option<RespHead> {
    let mut storage = [httparse::EMPTY_HEADER; 100];
    let mut resp = httparse::Response::new(&mut storage);
    match resp.parse(head) {
        Ok(httparse::Status::Complete(n)) if n == head.len() => {}
        _ => return None,
    }
    let status = resp.code.filter(|c| (200..1000).contains(c))?;
    let mut reusable = resp.version == Some(1);
    let (mut length, mut chunked, mut coded) = (None, false, false);
    // Headers the Connection header names are hop by hop too (a few; more go to a 502).
    let mut named: [&[u8]; 8] = [b""; 8];
    let mut named_len = 0;
    for h in resp.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    reusable = false;
                } else if !token.eq_ignore_ascii_case(b"keep-alive") && !token.is_empty() {
                    *named.get_mut(named_len)? = token;
                    named_len += 1;
                }
            }
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<u64>()
                .ok()?;
            if length.is_some_and(|l| l != v) {
                return None;
            }
            length = Some(v);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            coded = true;
            chunked = h
                .value
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        }
    }
    let body = if r.head_request || status == 204 || status == 304 {
        Body::None
    } else if coded {
        if chunked {
            Body::Chunked
        } else {
            Body::Close
        }
    } else {
        length.map_or(Body::Close, Body::Length)
    };
    if body == Body::Close {
        reusable = false;
    }
    status_line(out, status);
    let mut has_date = false;
    for h in resp.headers.iter() {
        let name = h.name.as_bytes();
        if hop_by_hop_response(name)
            || named[..named_len]
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n))
            || (coded && name.eq_ignore_ascii_case(b"content-length"))
            || r.downstream.iter().any(|(n, _)| {
                *n != header::VARY && name.eq_ignore_ascii_case(n.as_str().as_bytes())
            })
        {
            continue;
        }
        has_date |= name.eq_ignore_ascii_case(b"date");
        line(out, name, h.value);
    }
    for (n, v) in r.downstream {
        line(out, n.as_str().as_bytes(), v.as_bytes());
    }
    line(out, b"via", super::super::headers::VIA.as_bytes());
    finish_head(
        out,
        has_date,
        matches!(body, Body::Chunked | Body::Close),
        r.close,
    );
    Some(RespHead {
        status,
        body,
        reusable,
    })
}

fn hop_by_hop_response(name: &[u8]) -> bool {
    [
        &b"connection"[..],
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

fn status_line(out: &mut Vec<u8>, status: u16) {
    out.extend_from_slice(b"HTTP/1.1 ");
    // Three digits: `relay_head` and `generated` only see 100..=999.
    out.extend_from_slice(&[
        b'0' + (status / 100 % 10) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
    ]);
    out.push(b' ');
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn finish_head(out: &mut Vec<u8>, has_date: bool, chunked: bool, close: bool) {
    if !has_date {
        DATE.with(|d| line(out, b"date", &d.borrow_mut().now()));
    }
    if chunked {
        line(out, b"transfer-encoding", b"chunked");
    }
    if close {
        line(out, b"connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
}

/// A response the proxy made (Kong's JSON errors, a plugin's exit), as hyper would send it.
pub fn generated(out: &mut Vec<u8>, status: u16, headers: &HeaderMap, body: &[u8], r: &Relay<'_>) {
    status_line(out, status);
    for (name, value) in headers {
        line(out, name.as_str().as_bytes(), value.as_bytes());
    }
    if !headers.contains_key(header::CONTENT_LENGTH) {
        line(out, b"content-length", body.len().to_string().as_bytes());
    }
    finish_head(out, headers.contains_key(header::DATE), false, r.close);
    if !r.head_request {
        out.extend_from_slice(body);
    }
}

/// The Date header, formatted once a second per thread (as hyper caches it).
struct DateCache {
    second: u64,
    text: [u8; 29],
}

impl DateCache {
    fn now(&mut self) -> [u8; 29] {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second {
            let s = httpdate::fmt_http_date(now);
            if s.len() == 29 {
                self.text.copy_from_slice(s.as_bytes());
                self.second = second;
            }
        }
        self.text
    }
}

thread_local! {
    static DATE: RefCell<DateCache> = const { RefCell::new(DateCache { second: 0, text: [b' '; 29] }) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay(head: &str, head_request: bool) -> Option<(String, RespHead)> {
        let mut out = Vec::new();
        let r = Relay {
            head_request,
            close: false,
            downstream: &[],
        };
        let h = relay_head(&mut out, head.as_bytes(), &r)?;
        Some((String::from_utf8(out).unwrap_or_default(), h))
    }

    #[test]
    fn relays_lines_drops_hop_by_hop_and_adds_via_and_date() {
        let (out, h) = relay(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nKeep-Alive: timeout=5\r\nConnection: keep-alive\r\n\r\n",
            false,
        )
        .expect("valid");
        assert_eq!(h.body, Body::Length(5));
        assert!(h.reusable);
        assert!(out.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nvia: 1.1 gatehouse\r\ndate: "));
        assert!(!out.contains("Keep-Alive") && !out.contains("keep-alive"));
        let (out, _) = relay(
            "HTTP/1.1 200 OK\r\nConnection: x-secret\r\nX-Secret: 1\r\nX-Kept: 1\r\nContent-Length: 0\r\n\r\n",
            false,
        )
        .expect("valid");
        assert!(
            !out.contains("X-Secret") && out.contains("X-Kept: 1"),
            "{out}"
        );
        assert!(out.ends_with("\r\n\r\n"));
    }

    #[test]
    fn status_of_a_head() {
        assert_eq!(status_of(b"HTTP/1.1 204 No Content\r\n\r\n"), 204);
        assert_eq!(status_of(b"HTTP/1.1"), 0);
    }

    #[test]
    fn framing_of_the_upstream_body() {
        let chunked = relay(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            false,
        )
        .expect("valid");
        assert_eq!(chunked.1.body, Body::Chunked);
        assert!(chunked.0.contains("transfer-encoding: chunked\r\n"));
        let close = relay("HTTP/1.1 200 OK\r\n\r\n", false).expect("valid");
        assert_eq!(close.1.body, Body::Close);
        assert!(!close.1.reusable);
        let head = relay("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true).expect("valid");
        assert_eq!(head.1.body, Body::None);
        assert!(relay(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            false
        )
        .is_none());
        assert!(relay("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false)
            .is_some_and(|(_, h)| !h.reusable));
    }
}
