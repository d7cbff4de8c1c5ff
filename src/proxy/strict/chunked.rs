//! Walks a chunked request body's framing byte by byte, without copying it, and refuses what
//! nginx or hyper would refuse: no size, a non-hex size, a size past nginx's `off_t`, chunk data
//! longer than its size, a missing CRLF, oversized extensions or trailers.

/// Chunk extensions and trailers together may not pass this (nginx caps them by its buffers).
const MAX_META: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first hex digit of a size.
    SizeStart,
    Size,
    /// Spaces or tabs after the size.
    SizeSpace,
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    /// After the last chunk's CRLF: a trailer line or the final CRLF.
    TrailerStart,
    Trailer,
    TrailerLf,
    EndLf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadChunk;

#[derive(Debug, Clone)]
pub struct Chunks {
    state: State,
    size: u64,
    meta: usize,
}

impl Default for Chunks {
    fn default() -> Self {
        Chunks {
            state: State::SizeStart,
            size: 0,
            meta: 0,
        }
    }
}

impl Chunks {
    /// Feeds the next bytes of the body: `Ok(Some(n))` when the body ended after `n` of them,
    /// `Ok(None)` when all were body and more is to come.
    pub fn feed(&mut self, data: &[u8]) -> Result<Option<usize>, BadChunk> {
        let mut i = 0;
        while i < data.len() {
            if self.state == State::Data {
                // Skip the chunk's data in one step.
                let take = (data.len() - i).min(usize::try_from(self.size).unwrap_or(usize::MAX));
                i += take;
                self.size -= take as u64;
                if self.size == 0 {
                    self.state = State::DataCr;
                }
                continue;
            }
            let b = data[i];
            i += 1;
            self.state = match (self.state, b) {
                (State::SizeStart | State::Size, b) if b.is_ascii_hexdigit() => {
                    // nginx's limit: the size must stay a positive `off_t`.
                    if self.size > (i64::MAX as u64) / 16 {
                        return Err(BadChunk);
                    }
                    self.size = self.size * 16 + u64::from(hex(b));
                    State::Size
                }
                (State::Size | State::SizeSpace, b' ' | b'\t') => State::SizeSpace,
                (State::Size | State::SizeSpace, b';') => State::Extension,
                (State::Size | State::SizeSpace | State::Extension, b'\r') => State::SizeLf,
                (State::Extension, b) if b != b'\n' && b != 0 => {
                    self.meta += 1;
                    if self.meta > MAX_META {
                        return Err(BadChunk);
                    }
                    State::Extension
                }
                (State::SizeLf, b'\n') if self.size == 0 => State::TrailerStart,
                (State::SizeLf, b'\n') => State::Data,
                (State::DataCr, b'\r') => State::DataLf,
                (State::DataLf, b'\n') => State::SizeStart,
                (State::TrailerStart, b'\r') => State::EndLf,
                (State::EndLf, b'\n') => {
                    *self = Chunks::default();
                    return Ok(Some(i));
                }
                (State::TrailerStart | State::Trailer, b) if b != b'\n' && b != 0 => {
                    self.meta += 1;
                    if self.meta > MAX_META {
                        return Err(BadChunk);
                    }
                    if b == b'\r' {
                        State::TrailerLf
                    } else {
                        State::Trailer
                    }
                }
                (State::TrailerLf, b'\n') => State::TrailerStart,
                _ => return Err(BadChunk),
            };
        }
        Ok(None)
    }
}

fn hex(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(body: &str) -> Result<Option<usize>, BadChunk> {
        Chunks::default().feed(body.as_bytes())
    }

    #[test]
    fn accepts_what_nginx_and_hyper_both_accept() {
        assert_eq!(whole("5\r\nhello\r\n0\r\n\r\nGET"), Ok(Some(15)));
        assert_eq!(whole("5;a=b\r\nhello\r\n0\r\n\r\n"), Ok(Some(19)));
        assert_eq!(whole("5 \r\nhello\r\n0\r\nX-T: 1\r\n\r\n"), Ok(Some(24)));
        assert_eq!(whole("5\r\nhel"), Ok(None));
    }

    #[test]
    fn refuses_bad_framing() {
        for body in [
            "zz\r\nhello\r\n0\r\n\r\n",
            "\r\n\r\n",
            "fffffffffffffffff\r\nhello\r\n0\r\n\r\n",
            "8000000000000000\r\nx\r\n",
            "3\r\nhello\r\n0\r\n\r\n",
            "5\nhello\n0\n\n",
            "5\r\nhelloXX",
            "0\r\nX: a\nb\r\n\r\n",
        ] {
            assert_eq!(whole(body), Err(BadChunk), "{body:?}");
        }
    }

    #[test]
    fn byte_by_byte_gives_the_same_answer() {
        let body = b"5;x\r\nhello\r\na\r\n0123456789\r\n0\r\nT: 1\r\n\r\n";
        let mut c = Chunks::default();
        for (i, b) in body.iter().enumerate() {
            let r = c.feed(std::slice::from_ref(b));
            if i + 1 == body.len() {
                assert_eq!(r, Ok(Some(1)));
            } else {
                assert_eq!(r, Ok(None), "at {i}");
            }
        }
    }
}
