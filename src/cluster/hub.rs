//! The latest configuration of every runtime group some node follows, encoded once and handed
//! to every stream of that group; rebuilt (by the one configuration builder) after each change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::watch;
use uuid::Uuid;

use super::wire::Message;
use crate::store::Store;

/// How soon a snapshot that could not be built is tried again.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_millis(500);

/// A group's latest snapshot, encoded once for every node that follows it.
pub struct Published {
    /// The group's configuration version the snapshot is (the history's newest).
    pub version: u64,
    pub hash: String,
    pub frame: Bytes,
}

type Slot = watch::Sender<Option<Arc<Published>>>;

/// The latest snapshot of every group some node follows. Followers read a `watch`, so a burst of
/// changes reaches a slow node as one push of the newest state, never as a replay of stale ones.
pub struct SnapshotHub {
    store: Store,
    groups: Mutex<HashMap<Uuid, Slot>>,
}

impl SnapshotHub {
    pub fn new(store: Store) -> Arc<SnapshotHub> {
        Arc::new(SnapshotHub {
            store,
            groups: Mutex::new(HashMap::new()),
        })
    }

    fn slot(&self, group: Uuid) -> (watch::Receiver<Option<Arc<Published>>>, bool) {
        let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        match groups.get(&group) {
            Some(tx) => (tx.subscribe(), false),
            None => {
                let (tx, rx) = watch::channel(None);
                groups.insert(group, tx);
                (rx, true)
            }
        }
    }

    pub async fn subscribe(&self, group: Uuid) -> watch::Receiver<Option<Arc<Published>>> {
        let (rx, new) = self.slot(group);
        if new || rx.borrow().is_none() {
            self.refresh(group, false).await;
        }
        rx
    }

    /// Rebuilds `group`'s snapshot for its nodes; `false` when it could not be built (a
    /// database error), so the caller tries again.
    async fn refresh(&self, group: Uuid, retrying: bool) -> bool {
        let store = self.store.clone();
        let exists = store
            .run(move |s| async move {
                match s.get_runtime_group(group).await {
                    Ok(_) => Ok(true),
                    Err(crate::store::StoreError::NotFound) => Ok(false),
                    Err(e) => Err(e),
                }
            })
            .await;
        if let Ok(false) = exists {
            // A deleted group's nodes are orphaned, not emptied: drop its slot so their
            // streams end, and never push them an empty configuration.
            self.groups
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&group);
            tracing::info!(runtime_group = ?group, "runtime group deleted: its nodes keep their last configuration");
            return true;
        }
        let built = crate::service::config::load(&self.store, group)
            .await
            .and_then(|snap| {
                let frame = Message::snapshot(&snap).encode()?;
                Ok(Published {
                    version: snap.version,
                    hash: snap.hash,
                    frame,
                })
            });
        let published = match built {
            Ok(p) => p,
            Err(e) => {
                // Once per outage, not on every retry.
                if !retrying {
                    tracing::error!(error = %e, runtime_group = ?group, "building a group snapshot for nodes failed; nodes keep the previous one until a retry succeeds");
                }
                return false;
            }
        };
        let groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = groups.get(&group) {
            // Refreshes run concurrently (a node subscribing, the change loop): one that read
            // the database before a later commit may finish after the refresh that saw it, and
            // must not put the older configuration back, since no further change would come
            // to correct it.
            tx.send_if_modified(|cur| match cur {
                Some(c) if c.hash == published.hash || c.version > published.version => false,
                _ => {
                    *cur = Some(Arc::new(published));
                    true
                }
            });
        }
        true
    }

    /// Rebuilds the followed groups after every committed change; changes that land during a
    /// rebuild coalesce into one more.
    ///
    /// A rebuild that failed (the database busy or briefly gone) is retried on its own: no
    /// further change may come to wake the loop, and this process's own commit has already
    /// moved the revision the poll compares against, so waiting would leave nodes stale.
    pub async fn run(self: Arc<Self>) {
        let mut changes = self.store.subscribe();
        let mut retry = false;
        loop {
            if retry {
                tokio::time::sleep(RETRY_AFTER).await;
            } else if changes.changed().await.is_err() {
                break;
            }
            changes.borrow_and_update();
            let groups: Vec<Uuid> = {
                let g = self.groups.lock().unwrap_or_else(|p| p.into_inner());
                g.keys().copied().collect()
            };
            let retrying = retry;
            retry = false;
            for group in groups {
                if !self.refresh(group, retrying).await {
                    retry = true;
                }
            }
        }
    }
}
