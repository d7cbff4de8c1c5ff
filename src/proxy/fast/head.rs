//! Which request heads the fast path takes, decided with the strict scanner's own rules, and
//! what it needs to know about one (from a single pass over its headers).

use crate::proxy::strict::{self, Framing, Head, H2_PREFACE, MAX_HEAD, MAX_LINE};

pub enum Scan {
    /// The buffer starts with a whole head the fast path takes, `usize` bytes long.
    Complete(usize, Head),
    /// More bytes are needed, and the scanner would wait for them too.
    Need,
    /// The scanner decides about these bytes (it may refuse them): hyper serves from here.
    HandOff,
}

/// Looks at the start of `data` (not empty) as the strict scanner would.
pub fn scan(data: &[u8], first: bool) -> Scan {
    // Leading empty lines and HTTP/2's preface are the scanner's business.
    if matches!(data.first(), Some(b'\r' | b'\n')) {
        return Scan::HandOff;
    }
    if first && data.first() == Some(&b'P') {
        let n = data.len().min(H2_PREFACE.len());
        if data[..n] == H2_PREFACE[..n] {
            return Scan::HandOff;
        }
    }
    let Some(end) = head_end(data) else {
        // The scanner's checks on an incomplete head: a refusal it would make now is its own.
        if !strict::method_start_ok(data) || data.len() > MAX_LINE {
            return Scan::HandOff;
        }
        return Scan::Need;
    };
    if end > MAX_HEAD + 2 {
        return Scan::HandOff;
    }
    match strict::check(&data[..end]) {
        Ok(h) if !h.upgrade && !h.expect_continue && h.framing != Framing::Chunked => {
            Scan::Complete(end, h)
        }
        _ => Scan::HandOff,
    }
}

/// Just past the empty line that ends the head, found as the scanner finds it (a line feed
/// followed by another, or by CR LF).
pub fn head_end(data: &[u8]) -> Option<usize> {
    for lf in memchr::memchr_iter(b'\n', data) {
        match (data.get(lf + 1), data.get(lf + 2)) {
            (Some(b'\n'), _) => return Some(lf + 2),
            (Some(b'\r'), Some(b'\n')) => return Some(lf + 3),
            _ => {}
        }
    }
    None
}

/// A request target the fast path forwards as it is: origin-form, made only of bytes every
/// URI parser here accepts (anything else is hyper's to judge).
pub fn plain_target(t: &[u8]) -> bool {
    t.first() == Some(&b'/') && t.iter().all(|&b| SAFE[usize::from(b)])
}

static SAFE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric();
        b += 1;
    }
    let extra = b"-._~!$&'()*+,;=:@/?%";
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
};

/// What one pass over a request's headers tells the fast path.
#[derive(Default)]
pub struct Facts<'b> {
    pub host: Option<&'b str>,
    /// The first X-Forwarded-For value (Kong extends it).
    pub xff: Option<&'b str>,
    /// `Connection: close`: answer, then end the connection.
    pub close: bool,
    /// The Content-Length header's value, when sent.
    pub content_length: Option<u64>,
}

/// Reads the headers' facts; `None` when hyper's path should serve the request: a value that
/// is not visible ASCII (header values then differ in how they are read) or a Connection
/// header naming other headers to drop.
pub fn facts<'b>(headers: &[httparse::Header<'b>]) -> Option<Facts<'b>> {
    let mut f = Facts::default();
    for h in headers {
        let value = std::str::from_utf8(h.value).ok()?;
        if !h
            .value
            .iter()
            .all(|&b| b == b'\t' || (b' '..0x7f).contains(&b))
        {
            return None;
        }
        let name = h.name.as_bytes();
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => f.host = Some(value),
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for token in value.split(',').map(str::trim) {
                    if token.eq_ignore_ascii_case("close") {
                        f.close = true;
                    } else if !token.eq_ignore_ascii_case("keep-alive") && !token.is_empty() {
                        return None;
                    }
                }
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                f.content_length = value.trim().parse().ok();
            }
            15 if name.eq_ignore_ascii_case(b"x-forwarded-for") && f.xff.is_none() => {
                f.xff = Some(value);
            }
            _ => {}
        }
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(data: &str, first: bool) -> &'static str {
        match scan(data.as_bytes(), first) {
            Scan::Complete(..) => "complete",
            Scan::Need => "need",
            Scan::HandOff => "hand-off",
        }
    }

    #[test]
    fn takes_plain_heads_and_leaves_the_rest_to_the_scanner() {
        assert_eq!(kind("GET / HTTP/1.1\r\nHost: x\r\n\r\n", true), "complete");
        assert_eq!(kind("GET / HTTP/1.1\nHost: x\n\n", true), "complete");
        assert_eq!(kind("GET / HTTP/1.1\r\nHost: x\r\n", true), "need");
        assert_eq!(kind("PRI * HTTP/2.0\r\n", true), "hand-off");
        assert_eq!(
            kind("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", true),
            "hand-off"
        );
        assert_eq!(kind("get / HTTP/1.1\r\n", true), "hand-off");
        assert_eq!(kind("GET / HTTP/1.1\r\n\r\n", true), "hand-off");
        let chunked = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(kind(chunked, false), "hand-off");
        let upgrade = "GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: ws\r\n\r\n";
        assert_eq!(kind(upgrade, false), "hand-off");
        let cl_te =
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(kind(cl_te, false), "hand-off");
        let long = format!("GET /{}", "a".repeat(MAX_LINE));
        assert_eq!(kind(&long, false), "hand-off");
    }

    #[test]
    fn targets_outside_the_plain_alphabet_are_not_taken() {
        assert!(plain_target(b"/a/b?c=d&e=%41"));
        for t in [
            &b"*"[..],
            b"http://x/",
            b"/a\"b",
            b"/a{b}",
            b"/a#b",
            b"/\xff",
        ] {
            assert!(!plain_target(t), "{t:?}");
        }
    }
}
