//! A runtime group's configuration as the proxy and the nodes receive it: the group's
//! [`GatewayConfig`] numbered and hashed whole. A pure value: the one builder that reads it
//! from the store is `service::config`, so the proxy reaches no storage through it.

use std::collections::HashMap;
use std::ops::Deref;

use uuid::Uuid;

use crate::domain::GatewayConfig;

#[derive(Debug, Clone)]
pub struct ConfigSnapshot {
    pub version: u64,
    pub hash: String,
    pub runtime_group_id: Uuid,
    pub config: GatewayConfig,
    /// gateway service id → catalog service version id
    pub version_links: HashMap<Uuid, Uuid>,
}

impl ConfigSnapshot {
    pub fn build(runtime_group_id: Uuid, version: u64, config: GatewayConfig) -> ConfigSnapshot {
        ConfigSnapshot {
            version,
            hash: config.hash(),
            runtime_group_id,
            version_links: config.version_links.iter().copied().collect(),
            config,
        }
    }

    pub fn empty(runtime_group_id: Uuid) -> ConfigSnapshot {
        ConfigSnapshot::build(runtime_group_id, 0, GatewayConfig::default())
    }
}

/// The snapshot reads as the configuration it carries: `snap.routes`, `snap.upstreams`, ….
impl Deref for ConfigSnapshot {
    type Target = GatewayConfig;

    fn deref(&self) -> &GatewayConfig {
        &self.config
    }
}
