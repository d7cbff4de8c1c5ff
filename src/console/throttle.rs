//! Login throttling, by account and by client address. An account that keeps failing makes
//! each next attempt wait a little longer (1 s, doubling, at most 30 s) — and once the wait is
//! over the right password still gets in, so knowing someone's email is not enough to lock them
//! out. An address that fails too often across accounts is refused for a while.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures an account may have before attempts must wait.
const FREE_FAILURES: u32 = 5;
const MAX_WAIT: Duration = Duration::from_secs(30);
/// Failures an address may have within `ADDRESS_WINDOW`.
const ADDRESS_FAILURES: usize = 20;
const ADDRESS_WINDOW: Duration = Duration::from_secs(600);
/// Entries kept before stale ones are swept.
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Account {
    failures: u32,
    last: Instant,
}

#[derive(Default)]
pub struct Throttle {
    accounts: Mutex<HashMap<String, Account>>,
    addresses: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl Throttle {
    /// How long this account (lower-cased email) and address must still wait, if at all.
    pub fn wait(&self, account: &str, addr: Option<IpAddr>) -> Option<Duration> {
        let now = Instant::now();
        let by_account = self
            .accounts
            .lock()
            .ok()
            .and_then(|a| a.get(account).copied())
            .and_then(|a| {
                (a.failures >= FREE_FAILURES)
                    .then(|| backoff(a.failures))
                    .and_then(|d| (a.last + d).checked_duration_since(now))
            });
        let by_address = addr.and_then(|ip| {
            let mut map = self.addresses.lock().ok()?;
            let times = map.get_mut(&ip)?;
            while times
                .front()
                .is_some_and(|t| now.duration_since(*t) > ADDRESS_WINDOW)
            {
                times.pop_front();
            }
            (times.len() >= ADDRESS_FAILURES)
                .then(|| {
                    times
                        .front()
                        .map(|t| (*t + ADDRESS_WINDOW).saturating_duration_since(now))
                })
                .flatten()
        });
        match (by_account, by_address) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn failed(&self, account: &str, addr: Option<IpAddr>) {
        let now = Instant::now();
        if let Ok(mut map) = self.accounts.lock() {
            if map.len() > MAX_ENTRIES {
                map.retain(|_, a| now.duration_since(a.last) < MAX_WAIT * 2);
            }
            let a = map.entry(account.to_string()).or_insert(Account {
                failures: 0,
                last: now,
            });
            // A quiet hour forgives old failures.
            if now.duration_since(a.last) > Duration::from_secs(3600) {
                a.failures = 0;
            }
            a.failures += 1;
            a.last = now;
        }
        if let (Some(ip), Ok(mut map)) = (addr, self.addresses.lock()) {
            if map.len() > MAX_ENTRIES {
                map.retain(|_, t| {
                    t.back()
                        .is_some_and(|t| now.duration_since(*t) < ADDRESS_WINDOW)
                });
            }
            let times = map.entry(ip).or_default();
            times.push_back(now);
            while times.len() > ADDRESS_FAILURES * 2 {
                times.pop_front();
            }
        }
    }

    pub fn succeeded(&self, account: &str) {
        if let Ok(mut map) = self.accounts.lock() {
            map.remove(account);
        }
    }
}

/// The wait before the next attempt after `failures` failures (at least `FREE_FAILURES`).
fn backoff(failures: u32) -> Duration {
    let step = failures.saturating_sub(FREE_FAILURES).min(8);
    Duration::from_secs(1u64 << step).min(MAX_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_back_off_and_addresses_fill_up() {
        let t = Throttle::default();
        let ip: Option<IpAddr> = "192.0.2.1".parse().ok();
        for _ in 0..FREE_FAILURES - 1 {
            t.failed("a@example.com", ip);
        }
        assert_eq!(t.wait("a@example.com", ip), None, "a few failures are free");
        t.failed("a@example.com", ip);
        assert!(t
            .wait("a@example.com", ip)
            .is_some_and(|d| d <= Duration::from_secs(1)));
        assert_eq!(backoff(FREE_FAILURES + 3), Duration::from_secs(8));
        assert_eq!(backoff(FREE_FAILURES + 20), MAX_WAIT);
        t.succeeded("a@example.com");
        assert_eq!(t.wait("a@example.com", None), None);
        for i in 0..ADDRESS_FAILURES {
            t.failed(&format!("u{i}@example.com"), ip);
        }
        assert!(
            t.wait("other@example.com", ip).is_some(),
            "the address is refused"
        );
        assert_eq!(t.wait("other@example.com", "192.0.2.2".parse().ok()), None);
    }
}
