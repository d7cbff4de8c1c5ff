//! A snapshot compiled for serving: the router plus, per route, everything forwarding needs,
//! resolved once so the request path does no lookups by id and no string parsing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use uuid::Uuid;

use super::balancer::{Algorithm, Balancer, HashOn, Health, Target};
use super::pool::{Timeouts, Upstream, UpstreamTls};
use super::router::Router;
use super::tls::{self, CertIndex, ClientSetting};
use crate::domain::gateway_service::default_port;
use crate::domain::GatewayService;
use crate::snapshot::ConfigSnapshot;

pub struct ServiceTarget {
    pub id: Uuid,
    pub version_id: Option<Uuid>,
    /// Where requests go: one target for a plain service, an Upstream object's targets otherwise.
    pub balancer: Arc<Balancer>,
    pub host_header: HeaderValue,
    pub base_path: String,
    pub timeouts: Timeouts,
    pub retries: u32,
    pub enabled: bool,
    /// Why the service cannot be forwarded to (bad TLS material), answered as 502.
    pub broken: Option<String>,
    /// The service's protocol when this proxy does not forward it yet (gRPC, stream protocols):
    /// answered as 502 saying so, never sent upstream as HTTP/1.1.
    pub unproxied: Option<String>,
}

pub struct RouteTarget {
    pub id: Uuid,
    pub service: Option<Arc<ServiceTarget>>,
    pub strip_path: bool,
    pub preserve_host: bool,
    pub path_handling_v1: bool,
    pub allows_http: bool,
    pub https_redirect_status_code: u16,
    /// The route's plugins, resolved when the snapshot was compiled; `None` costs nothing.
    pub plugins: Option<Arc<crate::plugins::Chain>>,
}

pub struct CompiledConfig {
    pub version: u64,
    pub hash: String,
    pub runtime_group_id: Uuid,
    pub router: Router,
    pub routes: Vec<RouteTarget>,
    /// The balancers of Upstream objects, for active health checks and the Admin API.
    pub balancers: Vec<Arc<Balancer>>,
    /// Server certificates by SNI for the TLS listener, and client certificates by id.
    pub certs: CertIndex,
    /// What the plugins share: consumers and credentials.
    pub plugins: Arc<crate::plugins::Shared>,
    /// Plugin state kept across snapshots (rate-limit counters, caches, queues).
    pub plugin_runtime: Arc<crate::plugins::Runtime>,
    pools: HashMap<PoolKey, Arc<Upstream>>,
    health: HashMap<(Uuid, String), Arc<Health>>,
}

/// A target's health as the Admin API and console show it.
pub struct TargetHealthView {
    pub target: String,
    pub state: HealthState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthState {
    Healthy,
    Unhealthy,
    ChecksOff,
}

impl HealthState {
    /// Kong's wording.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Healthy => "HEALTHY",
            HealthState::Unhealthy => "UNHEALTHY",
            HealthState::ChecksOff => "HEALTHCHECKS_OFF",
        }
    }

    /// The `state` label of the Prometheus target-health gauge.
    pub fn metric_label(self) -> &'static str {
        match self {
            HealthState::Healthy => "healthy",
            HealthState::Unhealthy => "unhealthy",
            HealthState::ChecksOff => "healthchecks_off",
        }
    }
}

/// Connections carry their service's write timeout and TLS setting, so pools are per address,
/// timeout and TLS setting.
type PoolKey = (String, u16, i64, Option<ClientSetting>);

/// Builds what a compile shares between services: pools and TLS client configurations.
struct Builder<'a> {
    snap: &'a ConfigSnapshot,
    previous: Option<&'a CompiledConfig>,
    certs: &'a CertIndex,
    pools: HashMap<PoolKey, Arc<Upstream>>,
    tls_configs: HashMap<ClientSetting, Arc<rustls::ClientConfig>>,
    health: HashMap<(Uuid, String), Arc<Health>>,
}

impl Builder<'_> {
    fn pool(
        &mut self,
        host: &str,
        port: u16,
        write_timeout: i64,
        tls: Option<(&ClientSetting, &str)>,
    ) -> Result<Arc<Upstream>, String> {
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let key = (bare, port, write_timeout, tls.map(|(s, _)| s.clone()));
        if let Some(p) = self.pools.get(&key) {
            return Ok(p.clone());
        }
        if let Some(p) = self.previous.and_then(|p| p.pools.get(&key)) {
            self.pools.insert(key, p.clone());
            return Ok(p.clone());
        }
        let upstream_tls = match tls {
            None => None,
            Some((setting, sni)) => {
                let cfg = match self.tls_configs.get(setting) {
                    Some(c) => c.clone(),
                    None => {
                        let c =
                            tls::client_config(setting, &self.snap.ca_certificates, self.certs)?;
                        self.tls_configs.insert(setting.clone(), c.clone());
                        c
                    }
                };
                Some(UpstreamTls {
                    connector: tokio_rustls::TlsConnector::from(cfg),
                    server_name: tls::server_name(sni),
                })
            }
        };
        let p = Upstream::new(host, port, upstream_tls);
        self.pools.insert(key, p.clone());
        Ok(p)
    }

    fn health(&mut self, upstream: Uuid, target: &str) -> Arc<Health> {
        let key = (upstream, target.to_string());
        let h = self
            .previous
            .and_then(|p| p.health.get(&key).cloned())
            .unwrap_or_default();
        self.health.insert(key, h.clone());
        h
    }

    /// The balancer for `s`: its Upstream object's targets when its host names one, else the
    /// service's own host and port.
    fn balancer(
        &mut self,
        s: &GatewayService,
        upstream: Option<&crate::domain::Upstream>,
    ) -> Result<Balancer, String> {
        let tls = matches!(s.protocol.as_str(), "https" | "wss").then(|| ClientSetting {
            verify: s.tls_verify.unwrap_or(false),
            ca_ids: s
                .ca_certificates
                .iter()
                .flatten()
                .filter_map(|id| Uuid::parse_str(id.trim()).ok())
                .collect(),
            client_cert: s
                .client_certificate
                .as_ref()
                .or(upstream.and_then(|u| u.client_certificate.as_ref()))
                .map(|c| c.id),
        });
        let sni = upstream
            .and_then(|u| u.host_header.as_deref())
            .unwrap_or(&s.host)
            .to_string();
        let Some(u) = upstream else {
            let port = u16::try_from(s.port).unwrap_or(80);
            let pool = self.pool(
                &s.host,
                port,
                s.write_timeout,
                tls.as_ref().map(|t| (t, sni.as_str())),
            )?;
            let target = Target {
                name: pool.addr(),
                pool,
                weight: 1,
                health: Arc::new(Health::default()),
            };
            return Ok(Balancer::new(
                Uuid::nil(),
                Algorithm::RoundRobin,
                HashOn::None,
                HashOn::None,
                vec![target],
                None,
            ));
        };
        let mut targets = Vec::new();
        for t in self.snap.targets.iter().filter(|t| t.upstream.id == u.id) {
            let (host, port) = t.host_port();
            let pool = self.pool(
                &host,
                port,
                s.write_timeout,
                tls.as_ref().map(|t| (t, sni.as_str())),
            )?;
            targets.push(Target {
                name: t.target.clone(),
                pool,
                weight: u32::try_from(t.weight).unwrap_or(0),
                health: self.health(u.id, &t.target),
            });
        }
        Ok(Balancer::new(
            u.id,
            Algorithm::parse(&u.algorithm),
            hash_on(
                u,
                &u.hash_on,
                [
                    u.hash_on_header.as_deref(),
                    u.hash_on_query_arg.as_deref(),
                    u.hash_on_uri_capture.as_deref(),
                ],
            ),
            hash_on(
                u,
                &u.hash_fallback,
                [
                    u.hash_fallback_header.as_deref(),
                    u.hash_fallback_query_arg.as_deref(),
                    u.hash_fallback_uri_capture.as_deref(),
                ],
            ),
            targets,
            Some(&u.healthchecks),
        ))
    }
}

/// What `on` hashes, with its parameter (`[header, query_arg, uri_capture]` names).
fn hash_on(u: &crate::domain::Upstream, on: &str, params: [Option<&str>; 3]) -> HashOn {
    let [header, query, capture] = params;
    match on {
        "ip" => HashOn::Ip,
        "path" => HashOn::Path,
        "header" => header
            .and_then(|h| http::HeaderName::from_bytes(h.as_bytes()).ok())
            .map(HashOn::Header)
            .unwrap_or(HashOn::None),
        "cookie" => HashOn::Cookie {
            name: u.hash_on_cookie.clone().unwrap_or_default(),
            path: u.hash_on_cookie_path.clone(),
        },
        "query_arg" => query
            .map(|q| HashOn::QueryArg(q.to_string()))
            .unwrap_or(HashOn::None),
        "uri_capture" => capture
            .map(|c| HashOn::UriCapture(c.to_string()))
            .unwrap_or(HashOn::None),
        _ => HashOn::None,
    }
}

impl CompiledConfig {
    /// Compiles `snap`, keeping the connection pools of `previous` for addresses still in use
    /// (so a configuration change does not drop warm keep-alive connections) and the health of
    /// targets that are still configured.
    pub fn compile(snap: &ConfigSnapshot, previous: Option<&CompiledConfig>) -> CompiledConfig {
        let certs = CertIndex::build(&snap.certificates, &snap.snis);
        let mut b = Builder {
            snap,
            previous,
            certs: &certs,
            pools: HashMap::new(),
            tls_configs: HashMap::new(),
            health: HashMap::new(),
        };
        let upstreams_by_name: HashMap<&str, &crate::domain::Upstream> = snap
            .upstreams
            .iter()
            .map(|u| (u.name.as_str(), u))
            .collect();
        let mut balancers: HashMap<Uuid, Arc<Balancer>> = HashMap::new();
        let mut services: HashMap<Uuid, Arc<ServiceTarget>> = HashMap::new();
        for s in &snap.services {
            let upstream = upstreams_by_name.get(s.host.as_str()).copied();
            let (balancer, broken) = match b.balancer(s, upstream) {
                Ok(bal) => (Arc::new(bal), None),
                Err(e) => {
                    tracing::warn!(service.id = %s.id, error = %e, "service cannot be forwarded to");
                    let empty = Balancer::new(
                        Uuid::nil(),
                        Algorithm::RoundRobin,
                        HashOn::None,
                        HashOn::None,
                        Vec::new(),
                        None,
                    );
                    (Arc::new(empty), Some(e))
                }
            };
            if let Some(u) = upstream {
                balancers.entry(u.id).or_insert_with(|| balancer.clone());
            }
            let host = upstream
                .and_then(|u| u.host_header.clone())
                .unwrap_or_else(|| s.host.clone());
            let host_header = if s.port == default_port(&s.protocol) || upstream.is_some() {
                host
            } else {
                format!("{}:{}", host, s.port)
            };
            let ms = |v: i64| Duration::from_millis(v.max(1) as u64);
            services.insert(
                s.id,
                Arc::new(ServiceTarget {
                    id: s.id,
                    version_id: snap.version_links.get(&s.id).copied(),
                    balancer,
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
                    broken,
                    unproxied: (!crate::domain::gateway_service::PROXIED
                        .contains(&s.protocol.as_str()))
                    .then(|| s.protocol.clone()),
                }),
            );
        }
        // Upstreams no service uses still get health checked and reported.
        for u in &snap.upstreams {
            if balancers.contains_key(&u.id) {
                continue;
            }
            let probe_service = GatewayService {
                host: u.name.clone(),
                ..placeholder_service()
            };
            if let Ok(bal) = b.balancer(&probe_service, Some(u)) {
                balancers.insert(u.id, Arc::new(bal));
            }
        }
        let (router, errors) = Router::compile(&snap.routes);
        for e in errors {
            tracing::warn!(route.id = %snap.routes[e.route].id, error = %e.message, "route left out of the router");
        }
        let plugin_runtime = previous
            .map(|p| p.plugin_runtime.clone())
            .unwrap_or_default();
        let mut plugins = crate::plugins::compile(&snap.config, &plugin_runtime);
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
                plugins: plugins.chains.remove(&r.id),
            })
            .collect();
        let pools = std::mem::take(&mut b.pools);
        let health = std::mem::take(&mut b.health);
        CompiledConfig {
            version: snap.version,
            hash: snap.hash.clone(),
            runtime_group_id: snap.runtime_group_id,
            router,
            routes,
            balancers: balancers.into_values().collect(),
            certs,
            plugins: plugins.shared,
            plugin_runtime,
            pools,
            health,
        }
    }

    fn balancer_of(&self, upstream: Uuid) -> Option<&Arc<Balancer>> {
        self.balancers.iter().find(|b| b.upstream_id == upstream)
    }

    /// The health of every target of an Upstream object, as this node sees it.
    pub fn upstream_health(&self, upstream: Uuid) -> Vec<TargetHealthView> {
        let Some(b) = self.balancer_of(upstream) else {
            return Vec::new();
        };
        b.targets
            .iter()
            .map(|t| TargetHealthView {
                target: t.name.clone(),
                state: if !t.health.is_healthy() {
                    HealthState::Unhealthy
                } else if b.checks_enabled() {
                    HealthState::Healthy
                } else {
                    HealthState::ChecksOff
                },
            })
            .collect()
    }

    /// Marks a target healthy or unhealthy by hand; false when the proxy does not know it.
    pub fn set_target_health(&self, upstream: Uuid, target: &str, healthy: bool) -> bool {
        match self.health.get(&(upstream, target.to_string())) {
            Some(h) => {
                h.set(healthy);
                true
            }
            None => false,
        }
    }
}

/// A service with Kong's defaults, used to build balancers for upstreams no service uses yet.
fn placeholder_service() -> GatewayService {
    GatewayService {
        id: Uuid::nil(),
        created_at: 0,
        updated_at: 0,
        name: None,
        retries: 5,
        protocol: "http".into(),
        host: String::new(),
        port: 80,
        path: None,
        connect_timeout: 60000,
        write_timeout: 60000,
        read_timeout: 60000,
        tags: None,
        client_certificate: None,
        tls_verify: None,
        tls_verify_depth: None,
        ca_certificates: None,
        enabled: true,
    }
}
