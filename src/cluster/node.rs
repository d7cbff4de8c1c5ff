//! The data-plane side: follows a control plane's configuration stream, applies each verified
//! snapshot to the local proxy and caches it on disk, reports itself with heartbeats, and ships
//! request records from an on-disk spool so an outage delays them instead of losing them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rand::Rng;
use tokio::sync::{watch, Notify};
use uuid::Uuid;

use super::pki::CaPin;
use super::wire::{self, FrameDecoder, Heartbeat};
use crate::domain::runtime::HEARTBEAT_SECS;
use crate::proxy::Proxy;
use crate::snapshot::ConfigSnapshot;

const CACHE_FILE: &str = "config-cache.json";
const NODE_ID_FILE: &str = "node-id";
/// A stream that carried nothing (not even a ping) for this long is dead.
const STREAM_IDLE: Duration = Duration::from_secs(35);
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// `https://HOST:PORT` of the control plane's cluster listener.
    pub control_plane: url::Url,
    pub token: String,
    pub pin: CaPin,
    pub data_dir: PathBuf,
    pub max_frame: usize,
    pub spool_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("cannot reach the control plane at {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("TLS with the control plane failed: {0}")]
    Tls(std::io::Error),
    #[error("the control plane refused this node ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("cluster protocol error: {0}")]
    Protocol(String),
    #[error(transparent)]
    Frame(#[from] wire::FrameError),
    #[error("the configuration stream was idle for {0:?}")]
    Idle(Duration),
}

/// Who this node is: a stable id kept in its data dir, and its host name.
#[derive(Debug, Clone)]
pub struct Identity {
    pub id: Uuid,
    pub hostname: String,
}

impl Identity {
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Identity> {
        let path = data_dir.join(NODE_ID_FILE);
        let id = match std::fs::read_to_string(&path) {
            Ok(text) => Uuid::parse_str(text.trim())
                .map_err(|e| anyhow::anyhow!("{} is not a node id: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let id = Uuid::new_v4();
                write_private(&path, id.to_string().as_bytes())?;
                id
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Identity {
            id,
            hostname: hostname(),
        })
    }
}

pub fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// HTTPS to the control plane with the pinned CA, over a kept-alive connection for heartbeats
/// and telemetry (the stream gets its own). A call that finds that connection busy opens another
/// instead of queueing behind it: a delivery the control plane is slow to answer (up to its 30 s
/// timeout) must not hold back the heartbeats that keep the node listed as connected.
pub struct ClusterClient {
    opts: NodeOptions,
    tls: tokio_rustls::TlsConnector,
    pub identity: Identity,
    /// The idle kept-alive connection, taken out for the length of a call.
    idle: Mutex<Option<SendRequest<Full<Bytes>>>>,
}

impl ClusterClient {
    pub fn new(opts: NodeOptions, identity: Identity) -> anyhow::Result<ClusterClient> {
        let cfg = opts
            .pin
            .client_config()
            .map_err(|e| anyhow::anyhow!("cluster CA: {e}"))?;
        Ok(ClusterClient {
            opts,
            tls: tokio_rustls::TlsConnector::from(cfg),
            identity,
            idle: Mutex::new(None),
        })
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, NodeError> {
        let url = &self.opts.control_plane;
        let host = url.host_str().unwrap_or("localhost").to_string();
        let port = url.port_or_known_default().unwrap_or(8005);
        let addr = format!("{host}:{port}");
        let connect = tokio::net::TcpStream::connect((
            host.trim_start_matches('[').trim_end_matches(']'),
            port,
        ));
        let tcp = match tokio::time::timeout(Duration::from_secs(10), connect).await {
            Ok(Ok(s)) => s,
            Ok(Err(source)) => return Err(NodeError::Connect { addr, source }),
            Err(_) => {
                return Err(NodeError::Connect {
                    addr,
                    source: std::io::ErrorKind::TimedOut.into(),
                })
            }
        };
        let _ = tcp.set_nodelay(true);
        let tls = self
            .tls
            .connect(crate::proxy::tls::server_name(&host), tcp)
            .await
            .map_err(NodeError::Tls)?;
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| NodeError::Protocol(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(send)
    }

    fn request(&self, method: http::Method, path: &str, body: Bytes) -> Request<Full<Bytes>> {
        let host = self.opts.control_plane.host_str().unwrap_or("localhost");
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = method;
        *req.uri_mut() = path.parse().unwrap_or_default();
        let h = req.headers_mut();
        let mut put = |name: &'static str, value: &str| {
            if let Ok(v) = http::HeaderValue::from_str(value) {
                h.insert(name, v);
            }
        };
        put("host", host);
        put("authorization", &format!("Bearer {}", self.opts.token));
        put(wire::H_NODE_ID, &self.identity.id.to_string());
        put(wire::H_HOSTNAME, &self.identity.hostname);
        put(wire::H_VERSION, env!("CARGO_PKG_VERSION"));
        put("content-type", "application/json");
        req
    }

    /// Sends a small request on the idle kept-alive connection, or on a new one when there is
    /// none (another call has it, or it was closed); the connection is kept for the next call
    /// unless another was kept meanwhile.
    pub(super) async fn call(
        &self,
        method: http::Method,
        path: &str,
        body: Bytes,
        extra: &[(&'static str, String)],
        answer_within: Duration,
    ) -> Result<(StatusCode, Bytes), NodeError> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).take();
        let reusable = match idle {
            Some(mut s) => s.ready().await.is_ok().then_some(s),
            None => None,
        };
        let mut sender = match reusable {
            Some(s) => s,
            None => self.connect().await?,
        };
        let mut req = self.request(method, path, body);
        for (k, v) in extra {
            if let Ok(v) = http::HeaderValue::from_str(v) {
                req.headers_mut().insert(*k, v);
            }
        }
        let resp = tokio::time::timeout(answer_within, sender.send_request(req))
            .await
            .map_err(|_| {
                NodeError::Protocol(format!(
                    "the control plane did not answer in {} s",
                    answer_within.as_secs()
                ))
            })?
            .map_err(|e| NodeError::Protocol(e.to_string()))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| NodeError::Protocol(e.to_string()))?
            .to_bytes();
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(sender);
        Ok((status, body))
    }
}

pub(super) fn refusal(status: StatusCode, body: &[u8]) -> NodeError {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
    NodeError::Refused {
        status: status.as_u16(),
        message,
    }
}

/// What the node currently runs, shared by the follower and the heartbeat task.
pub struct NodeState {
    pub hash: watch::Sender<String>,
    beat_now: Notify,
}

impl NodeState {
    pub fn new(hash: String) -> Arc<NodeState> {
        Arc::new(NodeState {
            hash: watch::Sender::new(hash),
            beat_now: Notify::new(),
        })
    }
}

/// Reads the cached snapshot, if there is a usable one.
pub fn load_cache(data_dir: &Path) -> Option<ConfigSnapshot> {
    let path = data_dir.join(CACHE_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(error = %e, path = %path.display(), "cannot read the configuration cache");
            return None;
        }
    };
    match wire::decode(&bytes) {
        Ok(Some(snap)) => Some(snap),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, path = %path.display(), "ignoring an unusable configuration cache");
            None
        }
    }
}

/// Writes the frame's message atomically: a crash mid-write leaves the previous cache whole.
async fn store_cache(data_dir: &Path, frame: Bytes) {
    let dir = data_dir.to_path_buf();
    let written = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let tmp = dir.join(format!("{CACHE_FILE}.tmp"));
        write_private(&tmp, &frame)?;
        std::fs::rename(&tmp, dir.join(CACHE_FILE))
    })
    .await;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "writing the configuration cache failed"),
        Err(e) => tracing::warn!(error = %e, "the configuration cache task failed"),
    }
}

fn jitter(d: Duration) -> Duration {
    let f = rand::thread_rng().gen_range(0.5..=1.0);
    d.mul_f64(f)
}

/// Follows the control plane until shutdown: connect, apply what it pushes, and on any failure
/// keep the current configuration and retry with jittered exponential backoff.
pub async fn follow(
    client: Arc<ClusterClient>,
    proxy: Arc<Proxy>,
    state: Arc<NodeState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = BACKOFF_FIRST;
    let mut last_failure: Option<String> = None;
    loop {
        let mut applied_any = false;
        let result = tokio::select! {
            r = stream_once(&client, &proxy, &state, &mut applied_any) => r,
            _ = shutdown.changed() => return,
        };
        if applied_any {
            backoff = BACKOFF_FIRST;
        }
        // Each distinct failure is logged once at its level; repeats while retrying are debug.
        let text = match &result {
            Ok(()) => "the control plane closed the configuration stream".to_string(),
            Err(e) => e.to_string(),
        };
        if last_failure.as_deref() == Some(text.as_str()) {
            tracing::debug!(error = %text, "still retrying the control plane");
        } else {
            match &result {
                Ok(()) => tracing::warn!(
                    "the control plane closed the configuration stream; reconnecting"
                ),
                Err(NodeError::Refused {
                    status: 401,
                    message,
                }) => tracing::error!(
                    reason = ?message,
                    "the control plane refused this node's credential ({message}); serving the last configuration received. Issue a new credential under Runtime Manager > Data plane certificates"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "lost the control plane; serving the last configuration received")
                }
            }
        }
        last_failure = if applied_any { None } else { Some(text) };
        let wait = jitter(backoff);
        backoff = (backoff * 2).min(BACKOFF_MAX);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {},
            _ = shutdown.changed() => return,
        }
    }
}

async fn stream_once(
    client: &ClusterClient,
    proxy: &Arc<Proxy>,
    state: &NodeState,
    applied_any: &mut bool,
) -> Result<(), NodeError> {
    let mut sender = client.connect().await?;
    let mut req = client.request(http::Method::GET, wire::PATH_STREAM, Bytes::new());
    if let Ok(v) = http::HeaderValue::from_str(&state.hash.borrow()) {
        req.headers_mut().insert(wire::H_CONFIG_HASH, v);
    }
    let resp: Response<Incoming> =
        tokio::time::timeout(Duration::from_secs(30), sender.send_request(req))
            .await
            .map_err(|_| NodeError::Protocol("no answer to the stream request in 30 s".into()))?
            .map_err(|e| NodeError::Protocol(e.to_string()))?;
    if resp.status() != StatusCode::OK {
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        return Err(refusal(status, &body));
    }
    tracing::info!(control_plane = %client.opts.control_plane, node = %client.identity.id, "connected to the control plane");
    let mut body = resp.into_body();
    let mut decoder = FrameDecoder::new(client.opts.max_frame);
    loop {
        let frame = match tokio::time::timeout(STREAM_IDLE, body.frame()).await {
            Err(_) => return Err(NodeError::Idle(STREAM_IDLE)),
            Ok(None) => return Ok(()),
            Ok(Some(Err(e))) => return Err(NodeError::Protocol(e.to_string())),
            Ok(Some(Ok(f))) => f,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        decoder.push(&data);
        while let Some(payload) = decoder.next_frame()? {
            let Some(snap) = wire::decode(&payload)? else {
                continue;
            };
            let changed = *state.hash.borrow() != snap.hash;
            if changed {
                proxy.apply(&snap);
                tracing::info!(hash = %snap.hash, routes = snap.routes.len(), "applied configuration from the control plane");
                store_cache(&client.opts.data_dir, payload).await;
                state.hash.send_replace(snap.hash.clone());
            }
            *applied_any = true;
            state.beat_now.notify_one();
        }
    }
}

/// Sends a heartbeat every `HEARTBEAT_SECS`, and at once after each applied snapshot.
pub async fn heartbeats(
    client: Arc<ClusterClient>,
    state: Arc<NodeState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(HEARTBEAT_SECS as u64));
    // Refusals are logged when they start and stop, not at every beat.
    let mut refused: Option<String> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {},
            _ = state.beat_now.notified() => {},
            _ = shutdown.changed() => return,
        }
        let hb = Heartbeat {
            node_id: client.identity.id,
            hostname: client.identity.hostname.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            config_hash: state.hash.borrow().clone(),
        };
        let body = Bytes::from(serde_json::to_vec(&hb).unwrap_or_default());
        match client
            // No longer than the interval: a beat that hangs would hold back the next one.
            .call(
                http::Method::POST,
                wire::PATH_HEARTBEAT,
                body,
                &[],
                tick.period(),
            )
            .await
        {
            Ok((StatusCode::OK, _)) => {
                if refused.take().is_some() {
                    tracing::info!("the control plane accepts this node's credential again");
                }
            }
            Ok((status, body)) => {
                let reason = refusal(status, &body).to_string();
                if refused.as_deref() != Some(reason.as_str()) {
                    tracing::error!(reason = ?reason, "heartbeat refused: {reason:?}; serving the last configuration received");
                    refused = Some(reason);
                }
            }
            Err(e) => tracing::debug!(error = %e, "heartbeat failed"),
        }
    }
}

/// Writes a file only its owner can read: what a node keeps (its id, its configuration with
/// certificate keys, request records) is nobody else's business.
pub fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(data)
}
