//! A snapshot compiled for serving: the router plus, per route, everything forwarding needs,
//! resolved once so the request path does no lookups by id and no string parsing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use uuid::Uuid;

use super::pool::{Timeouts, Upstream};
use super::router::Router;
use crate::domain::gateway_service::default_port;
use crate::snapshot::ConfigSnapshot;

pub struct ServiceTarget {
    pub id: Uuid,
    pub version_id: Option<Uuid>,
    pub protocol: String,
    pub upstream: Arc<Upstream>,
    pub host_header: HeaderValue,
    pub base_path: String,
    pub timeouts: Timeouts,
    pub retries: u32,
    pub enabled: bool,
}

pub struct RouteTarget {
    pub id: Uuid,
    pub service: Option<Arc<ServiceTarget>>,
    pub strip_path: bool,
    pub preserve_host: bool,
    pub path_handling_v1: bool,
    pub allows_http: bool,
    pub https_redirect_status_code: u16,
}

pub struct CompiledConfig {
    pub version: u64,
    pub hash: String,
    pub runtime_group_id: Uuid,
    pub router: Router,
    pub routes: Vec<RouteTarget>,
    upstreams: HashMap<PoolKey, Arc<Upstream>>,
}

/// Connections carry their service's write timeout, so pools are per address and timeout.
type PoolKey = (String, u16, i64);

impl CompiledConfig {
    /// Compiles `snap`, keeping the connection pools of `previous` for addresses still in use so
    /// a configuration change does not drop warm keep-alive connections.
    pub fn compile(snap: &ConfigSnapshot, previous: Option<&CompiledConfig>) -> CompiledConfig {
        let mut upstreams: HashMap<PoolKey, Arc<Upstream>> = HashMap::new();
        let mut services: HashMap<Uuid, Arc<ServiceTarget>> = HashMap::new();
        for s in &snap.services {
            let port = u16::try_from(s.port).unwrap_or(80);
            let key = (
                s.host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
                port,
                s.write_timeout,
            );
            let upstream = upstreams
                .entry(key.clone())
                .or_insert_with(|| {
                    previous
                        .and_then(|p| p.upstreams.get(&key).cloned())
                        .unwrap_or_else(|| Upstream::new(&s.host, port))
                })
                .clone();
            let host_header = if s.port == default_port(&s.protocol) {
                s.host.clone()
            } else {
                format!("{}:{}", s.host, s.port)
            };
            let ms = |v: i64| Duration::from_millis(v.max(1) as u64);
            services.insert(
                s.id,
                Arc::new(ServiceTarget {
                    id: s.id,
                    version_id: snap.version_links.get(&s.id).copied(),
                    protocol: s.protocol.clone(),
                    upstream,
                    host_header: HeaderValue::from_str(&host_header)
                        .unwrap_or(HeaderValue::from_static("localhost")),
                    base_path: s.path.clone().unwrap_or_else(|| "/".into()),
                    timeouts: Timeouts {
                        connect: ms(s.connect_timeout),
                        read: ms(s.read_timeout),
                        write: ms(s.write_timeout),
                    },
                    retries: u32::try_from(s.retries).unwrap_or(0),
                    enabled: s.enabled,
                }),
            );
        }
        let (router, errors) = Router::compile(&snap.routes);
        for e in errors {
            tracing::warn!(route.id = %snap.routes[e.route].id, error = %e.message, "route left out of the router");
        }
        let routes = snap
            .routes
            .iter()
            .map(|r| RouteTarget {
                id: r.id,
                service: r
                    .service
                    .as_ref()
                    .and_then(|s| services.get(&s.id).cloned()),
                strip_path: r.strip_path,
                preserve_host: r.preserve_host,
                path_handling_v1: r.path_handling == "v1",
                allows_http: r.protocols.iter().any(|p| p == "http"),
                https_redirect_status_code: u16::try_from(r.https_redirect_status_code)
                    .unwrap_or(426),
            })
            .collect();
        CompiledConfig {
            version: snap.version,
            hash: snap.hash.clone(),
            runtime_group_id: snap.runtime_group_id,
            router,
            routes,
            upstreams,
        }
    }
}
