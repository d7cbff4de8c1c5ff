//! The one configuration builder: a runtime group's [`ConfigSnapshot`] read from the store in
//! one transaction, for the embedded proxy and the cluster hub alike, rebuilt after every
//! committed change.

use std::sync::Arc;

use uuid::Uuid;

use crate::snapshot::ConfigSnapshot;
use crate::store::Store;

/// Builds a snapshot of `group` now, numbered with the configuration history's newest version
/// of the group, so the version the proxy and nodes report is the one History lists.
pub async fn load(store: &Store, group: Uuid) -> anyhow::Result<ConfigSnapshot> {
    let (version, cfg) = store
        .run(move |s| async move { s.load_versioned_config(group).await })
        .await?;
    Ok(ConfigSnapshot::build(group, version, cfg))
}

/// Rebuilds the group's snapshot after every committed change and passes it to `apply`. Bursts
/// of changes coalesce: a change that lands during a build triggers exactly one more build.
pub async fn follow(
    store: Store,
    group: Uuid,
    apply: impl Fn(Arc<ConfigSnapshot>) + Send + 'static,
) {
    let mut changes = store.subscribe();
    let mut failing = false;
    loop {
        changes.borrow_and_update();
        match load(&store, group).await {
            Ok(snap) => {
                failing = false;
                apply(Arc::new(snap))
            }
            Err(e) => {
                // Once per outage, not every retry.
                if !failing {
                    tracing::error!(error = %e, "building configuration snapshot failed; keeping the previous one and trying again");
                }
                failing = true;
                // No further change may come (this process's own commit already moved the
                // revision the poll compares against): retry rather than wait for one.
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
        }
        if changes.changed().await.is_err() {
            break;
        }
    }
}
