//! The data-plane node's wiring: the proxy serving the cached (or no) configuration at once,
//! following the control plane from there, with heartbeats and the telemetry shipper; or, with
//! `--config kong.yml`, serving that file alone (DB-less), reloaded on SIGHUP.

use std::net::SocketAddr;
use std::path::PathBuf;
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
    if let Some(file) = settings.node.declarative_config.clone() {
        return start_dbless(settings, file);
    }
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

/// A DB-less node: the proxy serves a declarative file, with no control plane and no
/// database; SIGHUP reads the file again (a file with problems is logged and the previous
/// configuration keeps serving).
fn start_dbless(settings: Settings, file: PathBuf) -> anyhow::Result<RunningNode> {
    let loaded = super::config_cli::load_file(&file)?;
    for w in &loaded.warnings {
        tracing::warn!(warning = %w, "part of the declarative configuration was skipped");
    }
    super::data_dir::prepare(&settings.data_dir, settings.allow_shared_data_dir)?;
    let identity =
        node::Identity::load_or_create(&settings.data_dir).context("loading the node id")?;
    let proxy_l = bind(settings.proxy_listen, "proxy")?;
    let proxy_tls_l = bind(settings.proxy_tls_listen, "proxy TLS")?;
    let status_l = settings
        .status_listen
        .map(|a| bind(a, "status"))
        .transpose()?;
    let proxy_addr = proxy_l.local_addr()?;
    let proxy_tls_addr = proxy_tls_l.local_addr()?;
    let status_addr = status_l.as_ref().map(|l| l.local_addr()).transpose()?;
    let initial = ConfigSnapshot::build(uuid::Uuid::nil(), 1, loaded.config);
    tracing::info!(file = %file.display(), hash = %initial.hash, routes = initial.routes.len(), "serving the declarative configuration (DB-less)");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("gatehouse-ctl")
        .enable_all()
        .build()
        .context("starting the background runtime")?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (drain, mut drain_rx) = watch::channel(false);
    let metrics = Arc::new(crate::telemetry::Metrics::default());
    // No control plane to send request records to: none are kept.
    let recorder = crate::telemetry::Recorder::disabled();
    let (proxy, shipper) = runtime.block_on(async {
        let proxy = Proxy::new(&initial, recorder);
        tokio::spawn(reload_on_hangup(file, proxy.clone(), shutdown_rx.clone()));
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
        let shipper = tokio::spawn(async move {
            let _ = drain_rx.changed().await;
        });
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

/// Reads the declarative file again on every SIGHUP and applies it when it is valid.
async fn reload_on_hangup(file: PathBuf, proxy: Arc<Proxy>, mut shutdown: watch::Receiver<bool>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("SIGHUP cannot be watched: the declarative file will not be reloaded");
            return;
        };
        let mut version = 1;
        loop {
            tokio::select! {
                _ = hup.recv() => {}
                _ = shutdown.changed() => return,
            }
            let path = file.clone();
            let loaded =
                tokio::task::spawn_blocking(move || super::config_cli::load_file(&path)).await;
            match loaded {
                Ok(Ok(loaded)) => {
                    version += 1;
                    let snap = ConfigSnapshot::build(uuid::Uuid::nil(), version, loaded.config);
                    proxy.apply(&snap);
                    tracing::info!(hash = %snap.hash, routes = snap.routes.len(), "reloaded the declarative configuration");
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "the declarative configuration was not reloaded; the previous one keeps serving")
                }
                Err(e) => {
                    tracing::error!(error = %e, "reloading the declarative configuration failed")
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, proxy, shutdown.changed().await);
    }
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
