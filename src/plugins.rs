//! The plugins the proxy runs, compiled from their stored configuration when a snapshot is
//! built (never per request): each in a file of its own. They see requests and consumers, never
//! the store or the web layer.

pub mod key_auth;

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

use crate::domain::{Entity, GatewayConfig, Plugin};

/// Who a request authenticated as (or the anonymous consumer it fell back to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub consumer_id: Uuid,
    pub username: Option<String>,
    pub custom_id: Option<String>,
    /// `None` for the anonymous consumer.
    pub credential_id: Option<Uuid>,
}

/// A request a plugin answered itself (401, 403, …): Kong's JSON body and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub status: u16,
    pub message: String,
    pub headers: Vec<(&'static str, String)>,
}

/// The plugins of one route, resolved by Kong's precedence (route and service > route >
/// service > global; consumer-scoped plugins are not run yet).
#[derive(Default)]
pub struct Chain {
    pub key_auth: Option<Arc<key_auth::KeyAuth>>,
}

impl Chain {
    pub fn is_empty(&self) -> bool {
        self.key_auth.is_none()
    }
}

/// Compiles each route's chain from the group's configuration, plus what the plugins share
/// (key-auth's keys).
pub struct Compiled {
    pub chains: HashMap<Uuid, Arc<Chain>>,
    pub keys: Arc<key_auth::Keys>,
}

pub fn compile(cfg: &GatewayConfig) -> Compiled {
    let keys = Arc::new(key_auth::Keys::build(cfg));
    let mut chains = HashMap::new();
    for route in &cfg.routes {
        let service = route.service.as_ref().map(|s| s.id);
        let pick = |name: &str| -> Option<&Plugin> {
            let of = |r: Option<Uuid>, s: Option<Uuid>| {
                cfg.plugins.iter().find(|p| {
                    p.enabled
                        && p.name == name
                        && p.consumer.is_none()
                        && p.route.as_ref().map(|f| f.id) == r
                        && p.service.as_ref().map(|f| f.id) == s
                })
            };
            of(Some(route.id), service)
                .or_else(|| of(Some(route.id), None))
                .or_else(|| service.and_then(|s| of(None, Some(s))))
                .or_else(|| of(None, None))
        };
        let mut chain = Chain::default();
        if let Some(p) = pick("key-auth") {
            match key_auth::KeyAuth::compile(&p.config, cfg) {
                Ok(k) => chain.key_auth = Some(Arc::new(k)),
                Err(e) => {
                    tracing::error!(plugin.id = %p.id(), error = %e, "key-auth plugin not applied")
                }
            }
        }
        if !chain.is_empty() {
            chains.insert(route.id, Arc::new(chain));
        }
    }
    Compiled { chains, keys }
}
