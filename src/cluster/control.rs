//! The control plane's cluster listener (8005, TLS with the cluster CA): nodes open a long-lived
//! configuration stream and are pushed their group's latest snapshot on connect and after every
//! change; they post heartbeats and telemetry batches beside it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;
use uuid::Uuid;

use super::hub::SnapshotHub;
use super::wire::{self, Heartbeat, HeartbeatReply, Message, WireRecord};
use crate::domain::now_secs;
use crate::domain::runtime::{compatible, CredentialRefusal, DpCredential};
use crate::store::{InstanceReport, Store};

/// How often an idle stream carries a ping.
pub const PING_EVERY: Duration = Duration::from_secs(10);
const MAX_TELEMETRY_BODY: usize = 32 * 1024 * 1024;
const MAX_SMALL_BODY: usize = 64 * 1024;

pub struct ControlPlane {
    store: Store,
    hub: Arc<SnapshotHub>,
    version: String,
    /// Per node, the generation of its current stream: a stream that ends only marks the node
    /// disconnected if no newer stream has replaced it.
    streams: Mutex<HashMap<Uuid, u64>>,
    generation: AtomicU64,
    metrics: Arc<crate::telemetry::Metrics>,
}

impl ControlPlane {
    pub fn new(
        store: Store,
        hub: Arc<SnapshotHub>,
        metrics: Arc<crate::telemetry::Metrics>,
    ) -> Arc<ControlPlane> {
        Arc::new(ControlPlane {
            store,
            hub,
            metrics,
            version: env!("CARGO_PKG_VERSION").to_string(),
            streams: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
        })
    }
}

pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    cp: Arc<ControlPlane>,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "cluster listener accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let (acceptor, cp) = (acceptor.clone(), cp.clone());
        tokio::spawn(async move {
            let stream =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::info!(peer = %peer, error = %e, "cluster TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
            let svc = service_fn(move |req| {
                let cp = cp.clone();
                async move { Ok::<_, Infallible>(handle(cp, peer, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

type ClusterBody = http_body_util::Either<Full<Bytes>, ChannelBody>;

fn json(status: StatusCode, value: serde_json::Value) -> Response<ClusterBody> {
    let mut resp = Response::new(http_body_util::Either::Left(Full::new(Bytes::from(
        value.to_string(),
    ))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

fn message(status: StatusCode, msg: &str) -> Response<ClusterBody> {
    json(status, serde_json::json!({ "message": msg }))
}

fn header<'a>(req: &'a Request<Incoming>, name: &str) -> &'a str {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The credential behind the request's bearer token, or why there is none.
async fn authenticate(
    cp: &ControlPlane,
    peer: SocketAddr,
    req: &Request<Incoming>,
) -> Result<DpCredential, Response<ClusterBody>> {
    let token = header(req, "authorization")
        .strip_prefix("Bearer ")
        .unwrap_or("")
        .trim()
        .to_string();
    let node = Uuid::parse_str(header(req, wire::H_NODE_ID)).ok();
    let hash = crate::security::hash_token(&token);
    let store = cp.store.clone();
    let found = store
        .run(move |s| async move { s.find_dp_credential_by_hash(&hash).await })
        .await;
    let (refusal, cred) = match found {
        Err(e) => {
            tracing::error!(error = %e, "looking up a node credential failed");
            return Err(message(
                StatusCode::SERVICE_UNAVAILABLE,
                "control plane storage unavailable",
            ));
        }
        Ok(None) => (CredentialRefusal::Unknown, None),
        Ok(Some(cred)) => match cred.check(now_secs()) {
            Ok(()) => return Ok(cred),
            Err(r) => (r, Some(cred)),
        },
    };
    tracing::warn!(node = ?node, peer = %peer, reason = ?refusal, "refused a node");
    if let (Some(node), Some(cred)) = (node, cred) {
        // The credential names the group, so the node can be shown there with the reason.
        let report = report_from(
            &cred,
            peer,
            &Heartbeat {
                node_id: node,
                hostname: header(req, wire::H_HOSTNAME).to_string(),
                version: header(req, wire::H_VERSION).to_string(),
                config_hash: String::new(),
            },
        );
        let problem = refusal.to_string();
        let _ = store
            .run(move |s| async move { s.note_refused_instance(&report, &problem).await })
            .await;
    }
    Err(message(StatusCode::UNAUTHORIZED, &refusal.to_string()))
}

/// Whether a credential is still good; a stream whose credential was revoked or expired ends.
async fn still_valid(store: &Store, cred: Uuid) -> Result<(), String> {
    match store
        .run(move |s| async move { s.get_dp_credential(cred).await })
        .await
    {
        Ok(Some(c)) => c.check(now_secs()).map_err(|r| r.to_string()),
        Ok(None) => Err(CredentialRefusal::Unknown.to_string()),
        // A storage hiccup is not the node's fault: keep the stream.
        Err(_) => Ok(()),
    }
}

async fn handle(
    cp: Arc<ControlPlane>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<ClusterBody> {
    let cred = match authenticate(&cp, peer, &req).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    match (req.method().as_str(), req.uri().path()) {
        ("GET", wire::PATH_STREAM) => stream(cp, peer, cred, req).await,
        ("POST", wire::PATH_HEARTBEAT) => heartbeat(cp, peer, cred, req).await,
        ("POST", wire::PATH_TELEMETRY) => telemetry(cp, cred, req).await,
        _ => message(StatusCode::NOT_FOUND, "no such cluster endpoint"),
    }
}

fn report_from(cred: &DpCredential, peer: SocketAddr, hb: &Heartbeat) -> InstanceReport {
    InstanceReport {
        id: hb.node_id,
        runtime_group_id: cred.runtime_group_id,
        hostname: hb.hostname.chars().take(253).collect(),
        ip: peer.ip().to_string(),
        version: hb.version.chars().take(64).collect(),
        config_hash: hb.config_hash.chars().take(64).collect(),
        embedded: false,
    }
}

async fn stream(
    cp: Arc<ControlPlane>,
    peer: SocketAddr,
    cred: DpCredential,
    req: Request<Incoming>,
) -> Response<ClusterBody> {
    let Ok(node_id) = Uuid::parse_str(header(&req, wire::H_NODE_ID)) else {
        return message(
            StatusCode::BAD_REQUEST,
            "missing or malformed node id header",
        );
    };
    let hb = Heartbeat {
        node_id,
        hostname: header(&req, wire::H_HOSTNAME).to_string(),
        version: header(&req, wire::H_VERSION).to_string(),
        config_hash: header(&req, wire::H_CONFIG_HASH).to_string(),
    };
    let report = report_from(&cred, peer, &hb);
    let incompatible = !compatible(&hb.version, &cp.version);
    {
        let store = cp.store.clone();
        let r = report.clone();
        let problem = incompatible.then(|| {
            format!(
                "incompatible version: node {} cannot follow control plane {}",
                hb.version, cp.version
            )
        });
        let saved = store
            .run(move |s| async move {
                s.report_instance(&r, problem.is_none()).await?;
                match problem {
                    Some(p) => s.set_instance_problem(r.id, &p).await,
                    None => Ok(()),
                }
            })
            .await;
        if let Err(e) = saved {
            tracing::error!(error = %e, node = %node_id, "recording a node failed");
        }
    }
    if incompatible {
        return message(
            StatusCode::CONFLICT,
            &format!(
                "incompatible version: node {} cannot follow control plane {} (same major.minor required)",
                hb.version, cp.version
            ),
        );
    }
    let generation = cp.generation.fetch_add(1, Ordering::Relaxed) + 1;
    {
        let mut streams = cp.streams.lock().unwrap_or_else(|p| p.into_inner());
        streams.insert(node_id, generation);
        cp.metrics
            .remote_nodes
            .store(streams.len() as u64, Ordering::Relaxed);
    }
    tracing::info!(node = %node_id, hostname = ?hb.hostname, peer = %peer, runtime_group = ?cred.runtime_group_id, "node connected");

    let mut latest = cp.hub.subscribe(cred.runtime_group_id).await;
    let (tx, rx) = mpsc::channel::<Bytes>(2);
    let group = cred.runtime_group_id;
    let cred_id = cred.id;
    tokio::spawn(async move {
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        let mut sent_hash = String::new();
        let ping_frame = Message::Ping.encode().unwrap_or_default();
        loop {
            let frame = {
                let current = latest.borrow_and_update().clone();
                match current {
                    Some(p) if p.hash != sent_hash => {
                        sent_hash = p.hash.clone();
                        Some(p.frame.clone())
                    }
                    _ => None,
                }
            };
            if let Some(frame) = frame {
                if tx.send(frame).await.is_err() {
                    break;
                }
                continue;
            }
            tokio::select! {
                changed = latest.changed() => if changed.is_err() { break },
                _ = ping.tick() => {
                    if let Err(reason) = still_valid(&cp.store, cred_id).await {
                        tracing::warn!(node = %node_id, reason = ?reason, "closing the stream of a node whose credential is no longer valid");
                        let _ = cp.store.run(move |s| async move { s.set_instance_problem(node_id, &reason).await }).await;
                        break;
                    }
                    if tx.send(ping_frame.clone()).await.is_err() { break }
                }
            }
        }
        let current = {
            let mut streams = cp.streams.lock().unwrap_or_else(|p| p.into_inner());
            if streams.get(&node_id) == Some(&generation) {
                streams.remove(&node_id);
                cp.metrics
                    .remote_nodes
                    .store(streams.len() as u64, Ordering::Relaxed);
                true
            } else {
                false
            }
        };
        if current {
            tracing::info!(node = %node_id, runtime_group = ?group, "node disconnected");
            let _ = cp
                .store
                .run(move |s| async move { s.set_instance_disconnected(node_id).await })
                .await;
        }
    });
    let mut resp = Response::new(http_body_util::Either::Right(ChannelBody(rx)));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-gatehouse-frames"),
    );
    resp
}

async fn read_json<T: serde::de::DeserializeOwned>(
    req: Request<Incoming>,
    limit: usize,
) -> Result<T, Response<ClusterBody>> {
    let body = Limited::new(req.into_body(), limit)
        .collect()
        .await
        .map_err(|e| {
            message(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("unreadable body: {e}"),
            )
        })?
        .to_bytes();
    serde_json::from_slice(&body)
        .map_err(|e| message(StatusCode::BAD_REQUEST, &format!("malformed body: {e}")))
}

async fn heartbeat(
    cp: Arc<ControlPlane>,
    peer: SocketAddr,
    cred: DpCredential,
    req: Request<Incoming>,
) -> Response<ClusterBody> {
    let hb: Heartbeat = match read_json(req, MAX_SMALL_BODY).await {
        Ok(hb) => hb,
        Err(resp) => return resp,
    };
    let report = report_from(&cred, peer, &hb);
    let streaming = cp
        .streams
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains_key(&hb.node_id);
    let store = cp.store.clone();
    if let Err(e) = store
        .run(move |s| async move { s.report_instance(&report, streaming).await })
        .await
    {
        tracing::error!(error = %e, node = %hb.node_id, "recording a heartbeat failed");
    }
    let latest = cp.hub.subscribe(cred.runtime_group_id).await;
    let latest_hash = latest
        .borrow()
        .as_ref()
        .map(|p| p.hash.clone())
        .unwrap_or_default();
    json(
        StatusCode::OK,
        serde_json::to_value(HeartbeatReply { latest_hash }).unwrap_or_default(),
    )
}

async fn telemetry(
    cp: Arc<ControlPlane>,
    cred: DpCredential,
    req: Request<Incoming>,
) -> Response<ClusterBody> {
    let batch_id = header(&req, wire::H_BATCH_ID).to_string();
    let node = Uuid::parse_str(header(&req, wire::H_NODE_ID));
    let (Ok(node), false) = (node, batch_id.is_empty() || batch_id.len() > 100) else {
        return message(
            StatusCode::BAD_REQUEST,
            "missing node id or batch id header",
        );
    };
    let records: Vec<WireRecord> = match read_json(req, MAX_TELEMETRY_BODY).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let group = cred.runtime_group_id;
    let records: Vec<_> = records
        .into_iter()
        .filter_map(|r| r.into_record(group))
        .collect();
    let n = records.len();
    let store = cp.store.clone();
    match store
        .run(move |s| async move { s.ingest_node_batch(&batch_id, node, &records).await })
        .await
    {
        Ok(fresh) => {
            tracing::debug!(node = %node, records = n, fresh, "telemetry batch received");
            json(
                StatusCode::OK,
                serde_json::json!({ "accepted": n, "duplicate": !fresh }),
            )
        }
        Err(e) => {
            tracing::error!(error = %e, node = %node, "storing a telemetry batch failed");
            message(
                StatusCode::SERVICE_UNAVAILABLE,
                "could not store the batch; retry",
            )
        }
    }
}

/// A response body fed by a channel: each message is one data frame.
pub struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|m| m.map(|b| Ok(Frame::data(b))))
    }
}

/// The rustls configuration of the cluster listener.
pub fn server_tls(
    cert_chain_pem: &str,
    key_pem: &str,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let key = crate::proxy::tls::certified_key(cert_chain_pem, key_pem)
        .map_err(|e| anyhow::anyhow!("cluster certificate: {e}"))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_cert_resolver(Arc::new(Fixed(key)));
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

#[derive(Debug)]
struct Fixed(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for Fixed {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
}
