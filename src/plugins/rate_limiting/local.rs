//! The `local` policy's counters: this process only, shared by every rate-limiting plugin and
//! kept across config changes. Sharded maps behind short `std` locks (never held across an
//! await), so requests for different identifiers rarely contend; each check-and-count is one
//! lock, so concurrent requests never let more through than the limit. Entries whose windows
//! have all ended are swept out every few seconds.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;

use foldhash::fast::RandomState;

use super::{Period, Usage};

const SHARDS: usize = 16;
/// How often (seconds) a shard drops entries whose windows have all ended.
const SWEEP_EVERY: i64 = 5;

#[derive(Default)]
struct Entry {
    /// Per window (indexed like [`Period`]): its start (seconds) and the requests counted in it.
    windows: [(i64, u64); 6],
    /// When the last of its windows ends (seconds); the entry is useless after that.
    expires_at: i64,
}

#[derive(Default)]
struct Shard {
    // Keys are built from what clients send (an IP, a header), but a flood of distinct keys
    // costs memory whatever the hasher; foldhash's per-process seed keeps collisions random.
    entries: HashMap<String, Entry, RandomState>,
    swept_at: i64,
}

pub struct Counters {
    shards: Vec<Mutex<Shard>>,
    /// Picks a key's shard (SipHash here was a visible share of a rate-limited request).
    spread: RandomState,
}

impl Default for Counters {
    fn default() -> Counters {
        Counters {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            spread: RandomState::default(),
        }
    }
}

impl Counters {
    /// Counts one request for `identifier` under the plugin's `scope` in every configured
    /// window, unless one of them is used up already (a refused request does not count, as in
    /// Kong). Returns each window's usage before this request.
    /// `key` is the plugin's scope and the identifier (`scope:identifier`); it is copied only
    /// when first seen.
    pub fn hit(&self, key: &str, limits: &[(Period, f64)], starts: &[i64; 6], now: i64) -> Usage {
        let shard = &self.shards[(self.spread.hash_one(key) as usize) % SHARDS];
        // A panic elsewhere cannot leave a count half-written: keep using the map.
        let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
        if now - shard.swept_at >= SWEEP_EVERY {
            shard.entries.retain(|_, e| e.expires_at > now);
            shard.swept_at = now;
        }
        let entries = &mut shard.entries;
        let entry = match entries.get_mut(key) {
            Some(e) => e,
            None => entries.entry(key.to_owned()).or_default(),
        };
        let mut used = Vec::with_capacity(limits.len());
        let mut stop = false;
        for (p, limit) in limits {
            let w = &mut entry.windows[p.0];
            if w.0 != starts[p.0] {
                *w = (starts[p.0], 0);
            }
            let count = w.1 as f64;
            stop |= limit - count <= 0.0;
            used.push((*p, *limit, count));
        }
        if !stop {
            for (p, _) in limits {
                entry.windows[p.0].1 += 1;
                entry.expires_at = entry.expires_at.max(starts[p.0] + p.expiration());
            }
        }
        Usage { used }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.entries.len()))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::super::window_starts;
    use super::*;

    #[test]
    fn counts_refuses_and_starts_over_in_a_new_window() {
        let c = Counters::default();
        let limits = [(Period(1), 3.0)];
        let now = 1_700_000_000 - 1_700_000_000 % 60;
        let starts = window_starts(now);
        let used: Vec<f64> = (0..5)
            .map(|_| c.hit("r:s:ip", &limits, &starts, now).used[0].2)
            .collect();
        assert_eq!(used, vec![0.0, 1.0, 2.0, 3.0, 3.0], "refusals do not count");
        assert_eq!(c.hit("r:s:other", &limits, &starts, now).used[0].2, 0.0);
        let later = window_starts(now + 60);
        assert_eq!(c.hit("r:s:ip", &limits, &later, now + 60).used[0].2, 0.0);
    }

    #[test]
    fn ended_windows_are_swept() {
        let c = Counters::default();
        let limits = [(Period(0), 5.0)];
        let now = 1_700_000_000;
        for i in 0..100 {
            c.hit(&format!("s:ip{i}"), &limits, &window_starts(now), now);
        }
        assert_eq!(c.len(), 100);
        let later = now + SWEEP_EVERY + 1;
        // Enough keys that every shard sees one and sweeps.
        for i in 0..1000 {
            c.hit(&format!("s:x{i}"), &limits, &window_starts(later), later);
        }
        assert_eq!(c.len(), 1000, "every old entry gone");
    }
}
