//! The control plane's wiring: opens the store, seeds identities, binds every listener and starts the proxy runtime
//! (proxy, echo upstream, snapshot follower, telemetry writer) and the actix system (console and
//! Admin API) side by side, so neither starves the other.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use super::{bind, wait_for_signal};
use crate::cluster::{self, ClusterCa, ClusterInfo, ControlPlane, SnapshotHub};
use crate::proxy::Proxy;
use crate::settings::Settings;
use crate::store::InstanceReport;
use crate::store::Store;
use crate::store::TokenSeed;
use crate::{admin_api, console, echo, security, service, telemetry};

pub struct RunningApp {
    pub proxy_addr: SocketAddr,
    pub proxy_tls_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub console_addr: SocketAddr,
    pub echo_addr: SocketAddr,
    pub cluster_addr: SocketAddr,
    pub status_addr: Option<SocketAddr>,
    pub cluster: Arc<ClusterInfo>,
    /// The embedded proxy's id in the Runtime Instances table.
    pub embedded_node_id: uuid::Uuid,
    /// The first-run setup code this process printed.
    pub setup_code: String,
    pub store: Store,
    pub proxy: Arc<Proxy>,
    shutdown: watch::Sender<bool>,
    /// Tells the telemetry writer that no record can arrive any more: write the rest and stop.
    drain: watch::Sender<bool>,
    writer: tokio::task::JoinHandle<()>,
    runtime: tokio::runtime::Runtime,
    proxy_workers: Vec<JoinHandle<()>>,
    web: Option<(JoinHandle<()>, Vec<actix_web::dev::ServerHandle>)>,
}

pub fn start(settings: Settings) -> anyhow::Result<RunningApp> {
    super::data_dir::prepare(&settings.data_dir, settings.allow_shared_data_dir)?;
    settings.check_bootstrap_token()?;
    let location = settings.database_location()?;

    // Background work (the store's connections, snapshots, telemetry, the echo upstream) runs
    // on a small runtime of its own, one thread: a second one measurably slowed the proxy on a
    // 2-core machine. The proxy gets one single-threaded runtime per worker.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("gatehouse-ctl")
        .enable_all()
        .build()
        .context("starting the background runtime")?;
    // Whoever reaches the console before the owner could otherwise claim the installation:
    // the first-run setup asks for this code, which only the log shows.
    let setup_code = security::setup_code();
    let (store, ca, session_key) = runtime.block_on(async {
        let store = Store::open(&location)
            .await
            .with_context(|| format!("opening the database {}", location.redacted()))?;
        seed(&store, &settings).await?;
        if store.count_users().await? == 0 {
            tracing::warn!(
                setup_code = %setup_code,
                "first-run setup: open the console and enter this setup code to create the admin"
            );
        }
        super::data_dir::restrict_files(&settings.data_dir)?;
        if store.backend() == crate::store::Backend::Sqlite {
            // One control plane per SQLite file: no node can be connected to it yet. On a
            // shared PostgreSQL, nodes connected to the other control planes still are.
            store.mark_all_instances_disconnected().await?;
        }
        let ca = ClusterCa::load_or_create(&store)
            .await
            .context("loading the cluster CA")?;
        let key = store
            .get_or_create_secret("session_key", || security::random_hex(64))
            .await?;
        anyhow::Ok((store, ca, key))
    })?;

    let proxy_l = bind(settings.proxy_listen, "proxy")?;
    let proxy_tls_l = bind(settings.proxy_tls_listen, "proxy TLS")?;
    let admin_l = bind(settings.admin_listen, "Admin API")?;
    let console_l = bind(settings.console_listen, "console")?;
    let cluster_l = bind(settings.cluster_listen, "cluster")?;
    let echo_l = bind(settings.echo_listen, "echo")?;
    let proxy_addr = proxy_l.local_addr()?;
    let proxy_tls_addr = proxy_tls_l.local_addr()?;
    let admin_addr = admin_l.local_addr()?;
    let console_addr = console_l.local_addr()?;
    let cluster_addr = cluster_l.local_addr()?;
    let echo_addr = echo_l.local_addr()?;
    let status_l = settings
        .status_listen
        .map(|a| bind(a, "status"))
        .transpose()?;
    let status_addr = status_l.as_ref().map(|l| l.local_addr()).transpose()?;

    let host = cluster::node::hostname();
    let names = if settings.cluster_server_names.is_empty() {
        let mut n = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        if host != "localhost" {
            n.push(host.clone());
        }
        n
    } else {
        settings.cluster_server_names.clone()
    };
    let (chain, key) = ca
        .issue_server_cert(&names)
        .context("issuing the cluster listener certificate")?;
    let cluster_tls = cluster::control::server_tls(&chain, &key)?;
    let cluster_info = Arc::new(ClusterInfo {
        url: settings.cluster_url.clone().unwrap_or_else(|| {
            let h = if cluster_addr.ip().is_loopback() {
                "localhost"
            } else {
                host.as_str()
            };
            format!("https://{h}:{}", cluster_addr.port())
        }),
        ca_fingerprint: ca.fingerprint(),
        ca_pem: ca.cert_pem.clone(),
    });
    let (embedded_node_id, group) = runtime.block_on(async {
        // The embedded proxy is this process's own node: on a database that several control
        // planes share, its id lives in the data dir like a data-plane node's.
        let id = match store.backend() {
            crate::store::Backend::Postgres => {
                cluster::node::Identity::load_or_create(&settings.data_dir)?.id
            }
            crate::store::Backend::Sqlite => uuid::Uuid::parse_str(
                &store
                    .get_or_create_secret("embedded_node_id", || uuid::Uuid::new_v4().to_string())
                    .await?,
            )
            .context("the stored embedded node id is malformed")?,
        };
        anyhow::Ok((id, store.get_default_group().await?))
    })?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (recorder, records) = telemetry::channel(65_536);
    let analytics_on = settings.analytics == crate::settings::OnOff::On;
    let recorder = if analytics_on {
        recorder
    } else {
        tracing::info!("analytics are off (GATEHOUSE_ANALYTICS=off): no request records are kept");
        telemetry::Recorder::disabled()
    };
    let access_log = settings.access_log == crate::settings::AccessLog::Json;
    let retention = settings.retention();
    let history_retention = settings.history_retention();
    store.set_history_max_versions(history_retention.max_versions);
    let metrics = Arc::new(telemetry::Metrics::default());
    let (drain, drain_rx) = watch::channel(false);
    let (proxy, writer) = runtime.block_on(async {
        let initial = service::config::load(&store, group.id).await?;
        let proxy = Proxy::new(&initial, recorder);
        let p = proxy.clone();
        let applied = Arc::new(tokio::sync::Notify::new());
        let notify = applied.clone();
        tokio::spawn(service::config::follow(
            store.clone(),
            group.id,
            move |snap| {
                p.apply(&snap);
                notify.notify_one();
            },
        ));
        tokio::spawn(report_embedded(
            store.clone(),
            proxy.clone(),
            embedded_node_id,
            host.clone(),
            applied,
            shutdown_rx.clone(),
        ));
        let hub = SnapshotHub::new(store.clone());
        tokio::spawn(hub.clone().run());
        tokio::spawn(store.clone().watch_changes(Duration::from_secs(2)));
        tokio::spawn(cluster::control::serve(
            tokio::net::TcpListener::from_std(cluster_l)?,
            cluster_tls,
            ControlPlane::new(store.clone(), hub, metrics.clone()),
            shutdown_rx.clone(),
        ));
        let writer = tokio::spawn(service::records::run_writer(
            records,
            embedded_node_id,
            store.clone(),
            metrics.clone(),
            Duration::from_millis(100),
            access_log,
            drain_rx,
        ));
        if let Some(l) = status_l {
            tokio::spawn(crate::status::serve(
                tokio::net::TcpListener::from_std(l)?,
                proxy.clone(),
                metrics.clone(),
                shutdown_rx.clone(),
            ));
        }
        tokio::spawn(service::records::run_pruner(
            store.clone(),
            retention,
            history_retention,
            Duration::from_secs(60),
        ));
        tokio::spawn(crate::proxy::run_active_checks(
            proxy.clone(),
            shutdown_rx.clone(),
        ));
        tokio::spawn(echo::serve(
            tokio::net::TcpListener::from_std(echo_l)?,
            echo::Mode::Mockbin,
            shutdown_rx.clone(),
        ));
        anyhow::Ok((proxy, writer))
    })?;
    let proxy_workers = crate::proxy::spawn_workers(
        settings.proxy_workers,
        &proxy_l,
        &proxy_tls_l,
        &proxy,
        &shutdown_rx,
    )
    .context("starting proxy workers")?;
    drop(proxy_l);
    drop(proxy_tls_l);

    let proxy_url = settings
        .proxy_url
        .clone()
        .unwrap_or_else(|| format!("http://localhost:{}", proxy_addr.port()));
    let web_state = WebParts {
        store: store.clone(),
        proxy: proxy.clone(),
        proxy_url,
        echo_url: format!("http://{echo_addr}"),
        metrics: metrics.clone(),
        cluster: cluster_info.clone(),
        session_key,
        session_limits: crate::service::identity::SessionLimits {
            idle_secs: settings.session_idle_timeout_secs,
            max_age_secs: settings.session_max_age_secs,
        },
        setup_code: setup_code.clone(),
        console_hosts: settings.console_hosts()?,
        secure_cookies: settings.cookies_secure(),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let web_thread = std::thread::Builder::new()
        .name("gatehouse-web".into())
        .spawn(move || {
            let sys = actix_web::rt::System::new();
            sys.block_on(async move {
                let started = (|| -> anyhow::Result<_> {
                    let console = console::server(console_l, web_state.console_state()?)?;
                    let admin = admin_api::server(admin_l, web_state.admin_state())?;
                    Ok((console, admin))
                })();
                match started {
                    Ok((console, admin)) => {
                        let _ = tx.send(Ok(vec![console.handle(), admin.handle()]));
                        let _ = futures_util::future::join(console, admin).await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        })?;
    let handles = rx
        .recv()
        .context("the web thread stopped during start-up")??;

    Ok(RunningApp {
        proxy_addr,
        proxy_tls_addr,
        admin_addr,
        console_addr,
        echo_addr,
        cluster_addr,
        status_addr,
        cluster: cluster_info,
        embedded_node_id,
        setup_code,
        store,
        proxy,
        shutdown,
        drain,
        writer,
        runtime,
        proxy_workers,
        web: Some((web_thread, handles)),
    })
}

/// What the console and Admin API need from the running process.
struct WebParts {
    store: Store,
    proxy: Arc<Proxy>,
    proxy_url: String,
    echo_url: String,
    metrics: Arc<telemetry::Metrics>,
    cluster: Arc<ClusterInfo>,
    session_key: String,
    session_limits: crate::service::identity::SessionLimits,
    setup_code: String,
    console_hosts: Vec<String>,
    secure_cookies: bool,
}

impl WebParts {
    fn console_state(&self) -> anyhow::Result<console::State> {
        console::State::new(
            self.store.clone(),
            self.proxy.clone(),
            console::Options {
                proxy_url: self.proxy_url.clone(),
                echo_url: self.echo_url.clone(),
                session_key_hex: self.session_key.clone(),
                cluster: self.cluster.clone(),
                session_limits: self.session_limits,
                setup_code: self.setup_code.clone(),
                hosts: self.console_hosts.clone(),
                secure_cookies: self.secure_cookies,
            },
        )
    }

    fn admin_state(&self) -> admin_api::State {
        admin_api::State {
            store: self.store.clone(),
            proxy: self.proxy.clone(),
            metrics: self.metrics.clone(),
            cluster: self.cluster.clone(),
        }
    }
}

/// Keeps the embedded proxy's row in the Runtime Instances table current: at every applied
/// snapshot and every heartbeat interval, like a remote node's heartbeat.
async fn report_embedded(
    store: Store,
    proxy: Arc<Proxy>,
    id: uuid::Uuid,
    hostname: String,
    applied: Arc<tokio::sync::Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(
        crate::domain::runtime::HEARTBEAT_SECS as u64,
    ));
    loop {
        tokio::select! {
            _ = tick.tick() => {},
            _ = applied.notified() => {},
            _ = shutdown.changed() => {
                let _ = store.run(move |s| async move { s.set_instance_disconnected(id).await }).await;
                return;
            }
        }
        let cfg = proxy.current();
        let report = InstanceReport {
            id,
            runtime_group_id: cfg.runtime_group_id,
            hostname: hostname.clone(),
            ip: "127.0.0.1".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            config_hash: cfg.hash.clone(),
            embedded: true,
        };
        if let Err(e) = store
            .run(move |s| async move { s.report_instance(&report, true).await })
            .await
        {
            tracing::warn!(error = %e, "recording the embedded proxy's instance failed");
        }
    }
}

async fn seed(store: &Store, settings: &Settings) -> anyhow::Result<()> {
    if let (Some(email), Some(password)) = (&settings.admin_email, &settings.admin_password) {
        if store.get_user_by_email(email).await?.is_none() {
            security::check_password_strength(password)
                .map_err(|m| anyhow::anyhow!("GATEHOUSE_ADMIN_PASSWORD: {m}"))?;
            let hash = security::hash_password(password)
                .map_err(|e| anyhow::anyhow!("hashing the admin password: {e}"))?;
            if service::identity::ensure_user(store, email, &hash).await? {
                tracing::info!(user.email = ?email, "seeded the organization admin");
            }
        }
    }
    if let Some(token) = &settings.bootstrap_token {
        let hash = security::hash_token(token);
        match service::identity::seed_token_once(store, "bootstrap", &hash).await? {
            TokenSeed::Created => tracing::info!("registered the bootstrap Admin API token"),
            TokenSeed::Active => {}
            TokenSeed::Retired => tracing::warn!(
                "GATEHOUSE_BOOTSTRAP_TOKEN is set but that token was registered before and has since been revoked: it stays revoked (unset the variable)"
            ),
        }
    }
    Ok(())
}

impl RunningApp {
    /// Blocks until Ctrl-C or SIGTERM.
    pub fn wait_for_signal(&self) {
        wait_for_signal(&self.runtime);
    }

    /// Stops accepting, lets in-flight requests finish (up to 30 s), then stops everything.
    pub fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some((thread, handles)) = self.web.take() {
            self.runtime.block_on(async {
                for h in handles {
                    h.stop(true).await;
                }
            });
            let _ = thread.join();
        }
        super::drain_records(
            &self.runtime,
            self.proxy_workers,
            &self.drain,
            self.writer,
            "the telemetry writer",
        );
        self.runtime.shutdown_timeout(Duration::from_secs(5));
    }
}
