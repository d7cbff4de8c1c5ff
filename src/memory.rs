//! Gives memory a configuration change freed back to the operating system.
//!
//! A large change (a 10,000-route import) briefly holds several copies of the configuration:
//! the parsed document, the store's rows, the history diff, the new snapshot and its router.
//! Once they are dropped, glibc keeps most of that heap in its arenas, where threads other than
//! the main one freed it, so the process stays at its peak (180 MB measured after importing
//! 10,000 routes, of which 37 MB were live). `malloc_trim` hands the free pages back.
//!
//! Trims are coalesced and run a moment after the change, off the async threads, when the old
//! configuration's last in-flight requests have let go of it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// Coalesces trim requests into one trim a moment later.
struct Trimmer {
    /// How long after a change the trim runs: the previous configuration is dropped by the
    /// last request still using it, which on a healthy proxy is well within this.
    settle: Duration,
    pending: AtomicBool,
    runs: AtomicUsize,
}

static TRIMMER: Trimmer = Trimmer::new(Duration::from_secs(2));

impl Trimmer {
    const fn new(settle: Duration) -> Self {
        Trimmer {
            settle,
            pending: AtomicBool::new(false),
            runs: AtomicUsize::new(0),
        }
    }

    fn schedule(&'static self) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.pending.swap(true, Ordering::AcqRel) {
            return;
        }
        handle.spawn(async move {
            tokio::time::sleep(self.settle).await;
            self.pending.store(false, Ordering::Release);
            let _ = tokio::task::spawn_blocking(release_now).await;
            self.runs.fetch_add(1, Ordering::Relaxed);
        });
    }
}

/// Schedules one trim shortly; calls while one is pending join it. Outside a Tokio runtime (a
/// CLI command) it does nothing: the process exits soon anyway.
pub fn release_soon() {
    TRIMMER.schedule();
}

/// Returns free heap pages to the OS now (it walks every arena, so it is kept off async threads).
pub fn release_now() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: malloc_trim only releases free memory glibc owns; it takes the arenas' locks and
    // touches no memory the program holds.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_while_a_trim_is_pending_join_it() {
        static T: Trimmer = Trimmer::new(Duration::from_millis(20));
        T.schedule();
        T.schedule();
        T.schedule();
        assert!(T.pending.load(Ordering::Acquire));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(T.runs.load(Ordering::Relaxed), 1);
        assert!(!T.pending.load(Ordering::Acquire));
        T.schedule();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            T.runs.load(Ordering::Relaxed),
            2,
            "a change after the trim gets its own"
        );
    }

    #[test]
    fn outside_a_runtime_nothing_is_scheduled() {
        static T: Trimmer = Trimmer::new(Duration::from_millis(1));
        T.schedule();
        assert!(!T.pending.load(Ordering::Acquire));
    }
}
