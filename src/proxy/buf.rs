//! A plain read buffer for the HTTP/1 fast path's connections (`fast/`, `pool.rs`): bytes read but not yet used, kept initialized so reads need no unsafe
//! code. It grows for a large head (up to a cap) and shrinks back once a large head is gone.

/// What a buffer starts with: a request or response head and a small body fit.
const INITIAL: usize = 8 * 1024;
/// Beyond the strict scanner's 32k head limit, so a head it refuses is always seen whole.
const MAX: usize = 64 * 1024;

pub struct Buf {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl Buf {
    pub fn new() -> Buf {
        Buf {
            data: vec![0; INITIAL],
            start: 0,
            end: 0,
        }
    }

    pub fn filled(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Drops the first `n` bytes (they were used).
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.data.len() > INITIAL {
                self.data = vec![0; INITIAL];
            }
        }
    }

    /// Room to read into: the unused bytes move to the front, and a full buffer grows up to
    /// its cap. Empty only when the buffer holds its cap of unused bytes.
    pub fn spare(&mut self) -> &mut [u8] {
        if self.end == self.data.len() {
            if self.start > 0 {
                self.data.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.data.len() < MAX {
                self.data.resize((self.data.len() * 2).min(MAX), 0);
            }
        }
        &mut self.data[self.end..]
    }

    /// `n` bytes were read into [`Buf::spare`].
    pub fn filled_more(&mut self, n: usize) {
        self.end = (self.end + n).min(self.data.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compacts_grows_and_shrinks() {
        let mut b = Buf::new();
        let room = b.spare().len();
        b.spare()[..room].fill(b'a');
        b.filled_more(room);
        assert_eq!(b.len(), INITIAL);
        b.consume(10);
        assert_eq!(b.spare().len(), 10, "compacted");
        b.filled_more(10);
        assert!(b.spare().len() >= INITIAL, "grown");
        b.consume(usize::MAX);
        assert!(b.is_empty() && b.spare().len() == INITIAL);
    }
}
