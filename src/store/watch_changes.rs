//! Notices configuration changes committed by other processes on the same database: PostgreSQL
//! notifications for promptness, and a periodic look at the configuration revision as the
//! safety net (a notification missed while the listener reconnected, a second process on one
//! SQLite file).

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Location, Store};

pub const CHANNEL: &str = "gatehouse_config";

impl Store {
    /// Follows other processes' changes until the process ends; run it on the store's runtime.
    pub async fn watch_changes(self, poll: Duration) {
        let listener = match &self.location {
            Location::Postgres(url) => Some(tokio::spawn(self.clone().listen(url.clone()))),
            Location::Sqlite(_) => None,
        };
        let mut tick = tokio::time::interval(poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.check_revision().await;
            if listener.as_ref().is_some_and(|l| l.is_finished()) {
                tracing::warn!("the configuration listener stopped; relying on polling");
            }
        }
    }

    /// Announces a change when the committed revision is past the one this process has seen.
    pub async fn check_revision(&self) {
        match self.config_revision().await {
            Ok(rev) => {
                if self.seen_revision.fetch_max(rev, Ordering::Relaxed) < rev {
                    self.config_changed();
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "reading the configuration revision failed")
            }
        }
    }

    async fn listen(self, url: String) {
        let mut backoff = Duration::from_millis(200);
        loop {
            match sqlx::postgres::PgListener::connect(&url).await {
                Ok(mut l) => match l.listen(CHANNEL).await {
                    Ok(()) => {
                        backoff = Duration::from_millis(200);
                        // Anything committed while we were not listening.
                        self.check_revision().await;
                        loop {
                            match l.try_recv().await {
                                Ok(Some(n)) => {
                                    if n.payload() != self.instance.to_string() {
                                        self.check_revision().await;
                                    }
                                }
                                // The connection dropped: notifications may have been missed.
                                Ok(None) => self.check_revision().await,
                                Err(e) => {
                                    tracing::warn!(error = %e, "configuration listener lost its connection");
                                    break;
                                }
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "LISTEN failed"),
                },
                Err(e) => {
                    tracing::debug!(error = %e, "configuration listener cannot connect yet")
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}
