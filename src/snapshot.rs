//! Per-runtime-group configuration snapshots: immutable, versioned, content-hashed values built
//! from the store after each committed change, and handed to whoever serves them.

use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::{CaCertificate, Certificate, GatewayService, Route, Sni, Target, Upstream};
use crate::store::{GroupConfig, Store};

#[derive(Debug, Clone)]
pub struct ConfigSnapshot {
    pub version: u64,
    pub hash: String,
    pub runtime_group_id: Uuid,
    pub services: Vec<GatewayService>,
    pub routes: Vec<Route>,
    /// gateway service id → catalog service version id
    pub version_links: HashMap<Uuid, Uuid>,
    pub upstreams: Vec<Upstream>,
    pub targets: Vec<Target>,
    pub certificates: Vec<Certificate>,
    pub snis: Vec<Sni>,
    pub ca_certificates: Vec<CaCertificate>,
}

impl ConfigSnapshot {
    pub fn build(runtime_group_id: Uuid, version: u64, cfg: GroupConfig) -> ConfigSnapshot {
        let mut hasher = Sha256::new();
        for s in &cfg.services {
            hasher.update(serde_json::to_vec(s).unwrap_or_default());
        }
        for r in &cfg.routes {
            hasher.update(serde_json::to_vec(r).unwrap_or_default());
        }
        hash_all(&mut hasher, &cfg.upstreams);
        hash_all(&mut hasher, &cfg.targets);
        hash_all(&mut hasher, &cfg.certificates);
        hash_all(&mut hasher, &cfg.snis);
        hash_all(&mut hasher, &cfg.ca_certificates);
        let mut links = cfg.version_links.clone();
        links.sort();
        for (a, b) in &links {
            hasher.update(a.as_bytes());
            hasher.update(b.as_bytes());
        }
        ConfigSnapshot {
            version,
            hash: hex::encode(&hasher.finalize()[..16]),
            runtime_group_id,
            services: cfg.services,
            routes: cfg.routes,
            version_links: cfg.version_links.into_iter().collect(),
            upstreams: cfg.upstreams,
            targets: cfg.targets,
            certificates: cfg.certificates,
            snis: cfg.snis,
            ca_certificates: cfg.ca_certificates,
        }
    }

    pub fn empty(runtime_group_id: Uuid) -> ConfigSnapshot {
        ConfigSnapshot::build(runtime_group_id, 0, GroupConfig::default())
    }
}

fn hash_all<T: serde::Serialize>(hasher: &mut Sha256, items: &[T]) {
    // A separator per kind, so moving an entity between kinds changes the hash.
    hasher.update(b"\x1e");
    for item in items {
        hasher.update(serde_json::to_vec(item).unwrap_or_default());
    }
}

/// Builds a snapshot of `group` now.
pub async fn load(store: &Store, group: Uuid, version: u64) -> anyhow::Result<ConfigSnapshot> {
    let cfg = store
        .run(move |s| async move { s.load_group_config(group).await })
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
    loop {
        let version = *changes.borrow_and_update();
        match load(&store, group, version).await {
            Ok(snap) => apply(Arc::new(snap)),
            Err(e) => {
                tracing::error!(error = %e, "building configuration snapshot failed; keeping the previous one")
            }
        }
        if changes.changed().await.is_err() {
            break;
        }
    }
}
