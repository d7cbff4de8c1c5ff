//! Checks one complete HTTP/1 request head as nginx 1.22 does (its defaults: 8k lines, 32k of
//! head) and says how its body is framed. Pure: bytes in, a verdict out; it never allocates.

use super::Refusal;

/// nginx's `large_client_header_buffers 4 8k`: no line may pass 8k, the whole head 32k.
pub const MAX_LINE: usize = 8 * 1024;
pub const MAX_HEAD: usize = 4 * MAX_LINE;
/// hyper's own limit (it would answer 431 above it, without a body).
const MAX_HEADERS: usize = 100;

/// How the body after a head is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub framing: Framing,
    /// `Connection: upgrade` with an `Upgrade` header: what follows may not be HTTP at all.
    pub upgrade: bool,
    /// `Expect: 100-continue`: the client waits for a go-ahead before sending the body.
    pub expect_continue: bool,
}

/// `head` runs from the request line to the empty line that ends it (inclusive); leading
/// empty lines have been skipped already.
pub fn check(head: &[u8]) -> Result<Head, Refusal> {
    let mut lines = Lines { rest: Some(head) };
    let request_line = lines.next().unwrap_or_default();
    let http11 = request_line_ok(request_line)?;
    let method = request_line
        .split(|&b| b == b' ')
        .next()
        .unwrap_or_default();

    let mut count = 0;
    let (mut lengths, mut encodings, mut hosts) = (0, 0, 0);
    let mut length: Option<&[u8]> = None;
    let mut encoding: Option<&[u8]> = None;
    let (mut upgrade, mut connection_upgrade, mut expect_continue) = (false, false, false);
    for line in lines {
        if line.is_empty() {
            break;
        }
        count += 1;
        if line.len() > MAX_LINE {
            return Err(Refusal::HeaderTooLarge);
        }
        if count > MAX_HEADERS {
            return Err(Refusal::HeaderTooLarge);
        }
        // A bare CR anywhere, a folded line (leading whitespace), a line without a colon, an
        // empty name or a byte outside a token: hyper refuses all of these, nginx most.
        let colon = memchr::memchr(b':', line).ok_or(Refusal::BadRequest)?;
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if name.is_empty() || !name.iter().all(|&b| is_token(b)) {
            return Err(Refusal::BadRequest);
        }
        if !value_ok(value) {
            return Err(Refusal::BadRequest);
        }
        // nginx strips spaces (not tabs) around a value: `Transfer-Encoding:\tchunked` is an
        // unknown coding to it, so it is to us.
        let value = trim_spaces(value);
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => {
                hosts += 1;
                if hosts > 1 || !host_ok(value) {
                    return Err(Refusal::BadRequest);
                }
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                lengths += 1;
                length = Some(value);
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                encodings += 1;
                encoding = Some(value);
            }
            7 if name.eq_ignore_ascii_case(b"upgrade") => upgrade = true,
            10 if name.eq_ignore_ascii_case(b"connection") => {
                connection_upgrade |= value
                    .split(|&b| b == b',')
                    .any(|t| trim_ows(t).eq_ignore_ascii_case(b"upgrade"));
            }
            6 if name.eq_ignore_ascii_case(b"expect") => {
                expect_continue = value.eq_ignore_ascii_case(b"100-continue");
            }
            _ => {}
        }
        // nginx treats these as unique header lines: a second one, even equal, is a 400.
        if lengths > 1 || encodings > 1 {
            return Err(Refusal::BadRequest);
        }
    }

    // The order of nginx's `ngx_http_process_request_header`.
    if http11 && hosts == 0 {
        return Err(Refusal::BadRequest);
    }
    let length = match length {
        Some(v) => Some(parse_length(v).ok_or(Refusal::BadRequest)?),
        None => None,
    };
    let mut framing = match length {
        Some(0) | None => Framing::None,
        Some(n) => Framing::Length(n),
    };
    if let Some(te) = encoding {
        if !http11 {
            return Err(Refusal::BadRequest);
        }
        if !te.eq_ignore_ascii_case(b"chunked") {
            return Err(Refusal::NotImplemented);
        }
        if length.is_some() {
            return Err(Refusal::BadRequest);
        }
        framing = Framing::Chunked;
    }
    if method == b"TRACE" {
        return Err(Refusal::MethodNotAllowed);
    }
    Ok(Head {
        framing,
        upgrade: upgrade && connection_upgrade,
        expect_continue,
    })
}

/// A head's lines as `split(b'\n')` gives them (the part after the last `\n` too), without a
/// trailing `\r`; found with `memchr`, which was most of what checking a head cost.
struct Lines<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest?;
        let line = match memchr::memchr(b'\n', rest) {
            Some(i) => {
                self.rest = Some(&rest[i + 1..]);
                &rest[..i]
            }
            None => {
                self.rest = None;
                rest
            }
        };
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }
}

/// Every byte of a header value is allowed ([`VALUE`]). Eight bytes at a time: a word with no
/// byte below a space and none from DEL up is all visible ASCII; any other word is looked up
/// byte by byte (a tab, obs-text or a refused byte).
fn value_ok(value: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = value.chunks_exact(8);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let w = u64::from_ne_bytes(bytes);
        let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
        let from_del = (w.wrapping_add(ONES) | w) & HIGH;
        if below_space | from_del != 0 && !word.iter().all(|&b| VALUE[usize::from(b)]) {
            return false;
        }
    }
    words.remainder().iter().all(|&b| VALUE[usize::from(b)])
}

/// `METHOD SP target SP HTTP/1.x`; true for HTTP/1.1.
fn request_line_ok(line: &[u8]) -> Result<bool, Refusal> {
    if !method_start_ok(line) {
        return Err(Refusal::BadRequest);
    }
    if line.len() > MAX_LINE {
        return Err(Refusal::UriTooLong);
    }
    let mut parts = line.splitn(3, |&b| b == b' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::BadRequest);
    };
    // nginx's method alphabet; lower case is refused.
    if method.is_empty()
        || !method
            .iter()
            .all(|&b| b.is_ascii_uppercase() || b == b'_' || b == b'-')
    {
        return Err(Refusal::BadRequest);
    }
    // CONNECT's authority-form target and `*` are refused by nginx as invalid requests.
    let origin = target.first() == Some(&b'/');
    let absolute =
        starts_with_ignore_case(target, b"http://") || starts_with_ignore_case(target, b"https://");
    if !(origin || absolute) || !target.iter().all(|&b| b > b' ' && b != 0x7f) {
        return Err(Refusal::BadRequest);
    }
    match version {
        b"HTTP/1.1" => Ok(true),
        b"HTTP/1.0" => Ok(false),
        [b'H', b'T', b'T', b'P', b'/', major, b'.', _minor]
            if major.is_ascii_digit() && *major >= b'2' =>
        {
            Err(Refusal::VersionNotSupported)
        }
        _ => Err(Refusal::BadRequest),
    }
}

/// The first bytes of a request line (up to 16, before any space) are method bytes: checked
/// while a head is still incomplete too, so a TLS handshake or binary noise on the plain port
/// is refused at once instead of waiting for a line end that never comes (nginx does the same).
pub fn method_start_ok(line: &[u8]) -> bool {
    line.iter()
        .take(16)
        .take_while(|&&b| b != b' ')
        .all(|&b| b.is_ascii_uppercase() || b == b'_' || b == b'-')
}

/// nginx's `ngx_http_validate_host`: no empty name, `..`, path separator, space or control byte.
fn host_ok(host: &[u8]) -> bool {
    let name = host.strip_suffix(b".").unwrap_or(host);
    !name.is_empty()
        && !host.windows(2).any(|w| w == b"..")
        && !host
            .iter()
            .any(|&b| b == b'/' || b == b'\\' || b <= b' ' || b == 0x7f)
}

/// Decimal digits only (no sign, comma or space), at most nginx's `off_t`.
fn parse_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    (n <= i64::MAX as u64).then_some(n)
}

/// Bytes allowed in a header name (RFC 9110 token) and in a header value (HTAB, visible
/// ASCII, space, obs-text), as hyper's parser allows them: looked up, not computed, per byte.
static TOKEN: [bool; 256] = byte_table(b"!#$%&'*+-.^_`|~", true);
static VALUE: [bool; 256] = byte_table(b"\t", false);

const fn byte_table(extra: &[u8], token: bool) -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if token {
            c.is_ascii_alphanumeric()
        } else {
            c >= b' ' && c != 0x7f
        };
        b += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
}

fn is_token(b: u8) -> bool {
    TOKEN[usize::from(b)]
}

fn trim_spaces(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|&b| b != b' ').unwrap_or(v.len());
    let end = v.iter().rposition(|&b| b != b' ').map_or(start, |e| e + 1);
    &v[start..end]
}

fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |e| e + 1);
    &v[start..end]
}

fn starts_with_ignore_case(v: &[u8], prefix: &[u8]) -> bool {
    v.len() >= prefix.len() && v[..prefix.len()].eq_ignore_ascii_case(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(head: &str) -> Result<Framing, Refusal> {
        check(head.as_bytes()).map(|h| h.framing)
    }

    #[test]
    fn framing_follows_nginx() {
        let ok = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(verdict(ok), Ok(Framing::Length(5)));
        let te = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n";
        assert_eq!(verdict(te), Ok(Framing::Chunked));
        assert_eq!(verdict("GET / HTTP/1.0\n\n"), Ok(Framing::None));
        for (head, want) in [
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", Refusal::BadRequest),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", Refusal::BadRequest),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\tchunked\r\n\r\n", Refusal::NotImplemented),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n", Refusal::NotImplemented),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", Refusal::BadRequest),
            ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", Refusal::BadRequest),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", Refusal::BadRequest),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n", Refusal::BadRequest),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", Refusal::BadRequest),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n", Refusal::BadRequest),
            ("GET / HTTP/1.1\r\n\r\n", Refusal::BadRequest),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", Refusal::BadRequest),
            ("GET / HTTP/1.1\r\nHost: a..b\r\n\r\n", Refusal::BadRequest),
            ("get / HTTP/1.1\r\nHost: x\r\n\r\n", Refusal::BadRequest),
            ("CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n", Refusal::BadRequest),
            ("TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", Refusal::MethodNotAllowed),
            ("GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n", Refusal::BadRequest),
            ("GET * HTTP/1.1\r\nHost: x\r\n\r\n", Refusal::BadRequest),
            ("GET / HTTP/2.0\r\nHost: x\r\n\r\n", Refusal::VersionNotSupported),
            ("GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", Refusal::BadRequest),
            ("GET / HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n", Refusal::BadRequest),
        ] {
            assert_eq!(verdict(head), Err(want), "{head:?}");
        }
        let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
        assert_eq!(verdict(&long), Err(Refusal::UriTooLong));
        let big = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
            "a".repeat(9000)
        );
        assert_eq!(verdict(&big), Err(Refusal::HeaderTooLarge));
    }

    #[test]
    fn values_are_checked_a_word_at_a_time_as_byte_by_byte() {
        // Every byte in every position of words and tails, among allowed neighbours.
        for len in [1, 7, 8, 9, 16, 23] {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut v = vec![b'a'; len];
                    v[at] = b;
                    let want = v.iter().all(|&b| VALUE[usize::from(b)]);
                    assert_eq!(value_ok(&v), want, "byte {b:#04x} at {at} of {len}");
                }
            }
        }
        assert!(value_ok(b"\t\x80\xff text with obs-text \xe2\x82\xac"));
        assert!(!value_ok(b"0123456789abcdef\x7f"));
    }

    #[test]
    fn lines_split_as_slice_split_does() {
        for head in ["a\r\nb\n\nc", "", "\n", "a", "a\r", "\r\n\r\n", "x\ny\r\n"] {
            let want: Vec<&[u8]> = head
                .as_bytes()
                .split(|&b| b == b'\n')
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                .collect();
            let got: Vec<&[u8]> = Lines {
                rest: Some(head.as_bytes()),
            }
            .collect();
            assert_eq!(got, want, "{head:?}");
        }
    }

    #[test]
    fn upgrades_need_both_headers() {
        let h = "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n";
        assert!(check(h.as_bytes()).is_ok_and(|h| h.upgrade));
        let h = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n";
        assert!(check(h.as_bytes()).is_ok_and(|h| !h.upgrade));
    }
}
