//! The data-plane node's wiring: the proxy serving the cached (or no) configuration at once,
//! following the control plane from there, with heartbeats and the telemetry shipper.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use super::{bind, wait_for_signal};
use crate::cluster::node;
use crate::cluster::{CaPin, NodeOptions};
use crate::proxy::Proxy;
use crate::settings::Settings;
use crate::snapshot::ConfigSnapshot;

/// A running data-plane node.
pub struct RunningNode {
    pub proxy_addr: SocketAddr,
    pub proxy_tls_addr: SocketAddr,
    pub status_addr: Option<SocketAddr>,
    pub node_id: uuid::Uuid,
    pub proxy: Arc<Proxy>,
    shutdown: watch::Sender<bool>,
    /// Tells the shipper that no record can arrive any more: spool the rest and stop.
    drain: watch::Sender<bool>,
    shipper: tokio::task::JoinHandle<()>,
    runtime: tokio::runtime::Runtime,
    proxy_workers: Vec<JoinHandle<()>>,
}

/// Starts a node: the proxy serves the cached snapshot (or nothing: 404s) at once, and follows
/// the control plane from there.
pub fn start_node(settings: Settings) -> anyhow::Result<RunningNode> {
    let opts = node_options(&settings)?;
    super::data_dir::prepare(&settings.data_dir, settings.allow_shared_data_dir)?;
    let identity =
        node::Identity::load_or_create(&settings.data_dir).context("loading the node id")?;
    super::data_dir::restrict_files(&settings.data_dir)?;
    let proxy_l = bind(settings.proxy_listen, "proxy")?;
    let proxy_tls_l = bind(settings.proxy_tls_listen, "proxy TLS")?;
    let status_l = settings
        .status_listen
        .map(|a| bind(a, "status"))
        .transpose()?;
    let proxy_addr = proxy_l.local_addr()?;
    let proxy_tls_addr = proxy_tls_l.local_addr()?;
    let status_addr = status_l.as_ref().map(|l| l.local_addr()).transpose()?;

    let initial = match node::load_cache(&settings.data_dir) {
        Some(snap) => {
            tracing::info!(hash = %snap.hash, routes = snap.routes.len(), "serving the cached configuration until the control plane answers");
            snap
        }
        None => {
            tracing::info!(
                "no cached configuration: answering 404 until the control plane sends one"
            );
            ConfigSnapshot::empty(uuid::Uuid::nil())
        }
    };
    let start_hash =
        if initial.version == 0 && initial.routes.is_empty() && initial.services.is_empty() {
            String::new()
        } else {
            initial.hash.clone()
        };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("gatehouse-ctl")
        .enable_all()
        .build()
        .context("starting the background runtime")?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (recorder, records) = crate::telemetry::channel(65_536);
    let recorder = if settings.analytics == crate::settings::OnOff::On {
        recorder
    } else {
        crate::telemetry::Recorder::disabled()
    };
    let access_log = settings.access_log == crate::settings::AccessLog::Json;
    let metrics = Arc::new(crate::telemetry::Metrics::default());
    let spool = crate::cluster::spool::Spool::open(&settings.data_dir, opts.spool_bytes)
        .context("opening the telemetry spool")?;
    let client = Arc::new(node::ClusterClient::new(opts, identity.clone())?);
    let (drain, drain_rx) = watch::channel(false);
    let (proxy, shipper) = runtime.block_on(async {
        let proxy = Proxy::new(&initial, recorder);
        let state = node::NodeState::new(start_hash);
        tokio::spawn(node::follow(
            client.clone(),
            proxy.clone(),
            state.clone(),
            shutdown_rx.clone(),
        ));
        tokio::spawn(node::heartbeats(client.clone(), state, shutdown_rx.clone()));
        let shipper = tokio::spawn(crate::cluster::spool::ship_telemetry(
            records,
            spool,
            client.clone(),
            metrics.clone(),
            access_log,
            drain_rx,
        ));
        tokio::spawn(crate::proxy::run_active_checks(
            proxy.clone(),
            shutdown_rx.clone(),
        ));
        if let Some(l) = status_l {
            tokio::spawn(crate::status::serve(
                tokio::net::TcpListener::from_std(l)?,
                proxy.clone(),
                metrics.clone(),
                shutdown_rx.clone(),
            ));
        }
        anyhow::Ok((proxy, shipper))
    })?;
    let proxy_workers = crate::proxy::spawn_workers(
        settings.proxy_workers,
        &proxy_l,
        &proxy_tls_l,
        &proxy,
        &shutdown_rx,
    )
    .context("starting proxy workers")?;
    Ok(RunningNode {
        proxy_addr,
        proxy_tls_addr,
        status_addr,
        node_id: identity.id,
        proxy,
        shutdown,
        drain,
        shipper,
        runtime,
        proxy_workers,
    })
}

impl RunningNode {
    pub fn wait_for_signal(&self) {
        wait_for_signal(&self.runtime);
    }

    pub fn shutdown(self) {
        let _ = self.shutdown.send(true);
        super::drain_records(
            &self.runtime,
            self.proxy_workers,
            &self.drain,
            self.shipper,
            "the telemetry shipper",
        );
        self.runtime.shutdown_timeout(Duration::from_secs(5));
    }
}

/// The data-plane settings, checked: a node needs a control plane URL, a credential and a way
/// to recognise the control plane's CA.
pub fn node_options(settings: &Settings) -> anyhow::Result<NodeOptions> {
    let n = &settings.node;
    let cp = n.control_plane.as_deref().ok_or_else(|| {
        anyhow::anyhow!("a data plane needs --control-plane https://HOST:8005 (GATEHOUSE_CLUSTER_CONTROL_PLANE)")
    })?;
    let url = url::Url::parse(cp)
        .map_err(|e| anyhow::anyhow!("--control-plane '{cp}' is not a URL: {e}"))?;
    if url.scheme() != "https" || url.host_str().is_none() {
        anyhow::bail!("--control-plane '{cp}' must be an https://HOST:PORT URL (cluster traffic is always TLS)");
    }
    let token = n.token.clone().filter(|t| !t.trim().is_empty()).ok_or_else(|| {
        anyhow::anyhow!("a data plane needs --token (GATEHOUSE_CLUSTER_TOKEN): issue one under Runtime Manager > New Runtime Instance")
    })?;
    let pin = match (&n.ca_fingerprint, &n.ca_file) {
        (Some(fp), _) => CaPin::parse_fingerprint(fp).map_err(|e| anyhow::anyhow!("--ca-fingerprint: {e}"))?,
        (None, Some(path)) => CaPin::Pem(std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!("reading --ca-file {}: {e}", path.display())
        })?),
        (None, None) => anyhow::bail!(
            "a data plane needs --ca-fingerprint (GATEHOUSE_CLUSTER_CA_FINGERPRINT) or --ca-file to trust the control plane; the console's node command carries it"
        ),
    };
    Ok(NodeOptions {
        control_plane: url,
        token: token.trim().to_string(),
        pin,
        data_dir: settings.data_dir.clone(),
        max_frame: n.max_snapshot_bytes,
        spool_bytes: n.telemetry_spool_bytes,
    })
}
