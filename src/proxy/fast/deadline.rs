//! A timer per connection whose deadline is rounded up, so arming it for every request leaves
//! the runtime's timer alone unless the rounded deadline moved. A fresh exact deadline per
//! request tends to be the runtime's earliest, and registering it wakes the I/O driver (a
//! syscall per request, as `server.rs`'s `CoarseTimer` notes for hyper's path). The slack is
//! a tenth of the timeout, at most a second: a deadline never comes early.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::Context;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

#[derive(Default)]
pub struct Coarse {
    sleep: Option<Pin<Box<Sleep>>>,
    at: Option<Instant>,
}

impl Coarse {
    /// Fires `timeout` from now, or up to a tenth of it (at most 1 s) later.
    pub fn arm(&mut self, timeout: Duration) {
        let at = round_up(Instant::now() + timeout, slack(timeout));
        if self.at == Some(at) {
            return;
        }
        self.at = Some(at);
        match &mut self.sleep {
            Some(s) => s.as_mut().reset(at),
            None => self.sleep = Some(Box::pin(tokio::time::sleep_until(at))),
        }
    }

    /// Whether the armed deadline passed (registers `cx` to be woken when it does).
    pub fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(s) = &mut self.sleep else {
            return false;
        };
        if s.as_mut().poll(cx).is_ready() {
            // Next time it is armed, it must be reset even to the same rounded deadline.
            self.at = None;
            return true;
        }
        false
    }
}

fn slack(timeout: Duration) -> Duration {
    (timeout / 10).clamp(Duration::from_millis(1), Duration::from_secs(1))
}

fn round_up(at: Instant, step: Duration) -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let base = *BASE.get_or_init(Instant::now);
    let step_ns = step.as_nanos().max(1);
    let offset = at.saturating_duration_since(base).as_nanos();
    let rounded = offset.div_ceil(step_ns) * step_ns;
    base + Duration::from_nanos(u64::try_from(rounded).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_never_comes_early_and_stays_within_the_slack() {
        let now = Instant::now();
        for ms in [5u64, 200, 3_000, 60_000] {
            let t = Duration::from_millis(ms);
            let at = round_up(now + t, slack(t));
            assert!(at >= now + t);
            assert!(at <= now + t + slack(t));
        }
    }

    #[tokio::test]
    async fn fires_after_the_timeout() {
        let mut c = Coarse::default();
        let started = Instant::now();
        c.arm(Duration::from_millis(30));
        std::future::poll_fn(|cx| {
            if c.expired(cx) {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
        assert!(started.elapsed() >= Duration::from_millis(30));
    }
}
