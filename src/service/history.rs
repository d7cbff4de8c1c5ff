//! Configuration history: a version compared with another, restoring a version as a new one,
//! and pruning by age. Versions themselves are recorded by `Store::commit` in the transaction
//! of every change; the edges name who is changing things with [`attributed`].

use uuid::Uuid;

pub use crate::store::history::{attributed, current_source, identify, relabel};

use super::{Result, ServiceError};
use crate::domain::config_diff::{diff, ConfigDiff};
use crate::domain::history::{Channel, ConfigVersion};
use crate::domain::GatewayConfig;
use crate::store::entities::replace_gateway_config;
use crate::store::{history as versions, Store, StoreError};

/// What a version is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Against {
    /// The version recorded before it: what this version changed.
    Previous,
    /// The configuration the group runs now: what restoring this version would change.
    Current,
}

/// A version and how it differs from what it was compared with.
#[derive(Debug, Clone)]
pub struct Compared {
    pub version: ConfigVersion,
    /// The version compared with; `None` when there is none (the first version kept).
    pub base: Option<u64>,
    /// From `base` to `version`.
    pub diff: ConfigDiff,
}

/// Version `n` of `group` compared as `against` says.
pub async fn compare(store: &Store, group: Uuid, n: u64, against: Against) -> Result<Compared> {
    let (version, cfg) = store.get_config_version(group, n).await?;
    let (base, before) = match against {
        Against::Previous => match store.previous_config_version(group, n).await? {
            Some(p) => (Some(p), store.get_config_version(group, p).await?.1),
            None => (None, GatewayConfig::default()),
        },
        Against::Current => {
            let (current, cfg) = store.load_versioned_config(group).await?;
            (Some(current), cfg)
        }
    };
    Ok(Compared {
        diff: diff(&before, &cfg),
        version,
        base,
    })
}

/// The outcome of a restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    /// The version whose configuration was applied.
    pub from: u64,
    /// The new version it became; `None` when the group already ran that configuration.
    pub version: Option<u64>,
}

/// Applies version `n`'s configuration to `group` as a new version, in one transaction: the
/// group's entities become exactly the version's, with their ids. The proxy and the nodes
/// follow as after any other change.
pub async fn restore(store: &Store, group: Uuid, n: u64) -> Result<Restored> {
    let mut tx = store.begin().await?;
    let (_, cfg) = versions::get_config_version(&mut tx, group, n).await?;
    replace_gateway_config(&mut tx, group, &cfg)
        .await
        .map_err(|e| match e {
            StoreError::Unique { .. } => ServiceError::Refused(format!(
                "Version {n} cannot be restored: a name it uses is now taken in another runtime group"
            )),
            other => other.into(),
        })?;
    let version = relabel(
        Channel::Restore,
        format!("version {n}"),
        store.commit_versioned(tx, group),
    )
    .await?;
    tracing::info!(runtime_group = %group, restored = n, version = ?version, "configuration version restored");
    Ok(Restored { from: n, version })
}

/// Deletes versions older than `max_age_secs`, keeping each group's newest one.
pub async fn prune(store: &Store, max_age_secs: i64) -> Result<u64> {
    let cutoff = crate::domain::now_secs() - max_age_secs.max(0);
    Ok(store.prune_config_versions(cutoff).await?)
}
