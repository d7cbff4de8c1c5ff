//! The proxy listener: accepts connections, serves HTTP/1.1 with keep-alive, and on shutdown
//! stops accepting and lets in-flight requests finish.

use std::sync::Arc;

use arc_swap::ArcSwap;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::config::CompiledConfig;
use super::forward;
use crate::snapshot::ConfigSnapshot;
use crate::telemetry::Recorder;

/// Shared proxy state: the configuration being served (swapped atomically) and the recorder.
pub struct Proxy {
    config: ArcSwap<CompiledConfig>,
    pub recorder: Recorder,
}

impl Proxy {
    pub fn new(initial: &ConfigSnapshot, recorder: Recorder) -> Arc<Proxy> {
        Arc::new(Proxy {
            config: ArcSwap::from_pointee(CompiledConfig::compile(initial, None)),
            recorder,
        })
    }

    pub fn current(&self) -> Arc<CompiledConfig> {
        self.config.load_full()
    }

    /// Compiles and swaps in a new snapshot; requests already running keep the one they loaded.
    pub fn apply(&self, snap: &ConfigSnapshot) {
        let previous = self.config.load();
        if previous.hash == snap.hash && previous.version != 0 {
            return;
        }
        let next = CompiledConfig::compile(snap, Some(&previous));
        tracing::info!(config.version = snap.version, config.hash = %snap.hash, routes = snap.routes.len(), "proxy configuration applied");
        self.config.store(Arc::new(next));
    }
}

/// Serves the proxy on `listener` until `shutdown` turns true, then drains open connections.
pub async fn serve(listener: TcpListener, proxy: Arc<Proxy>, mut shutdown: watch::Receiver<bool>) {
    let local_port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(true).max_buf_size(64 * 1024);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let proxy = proxy.clone();
                let svc = service_fn(move |req| {
                    let proxy = proxy.clone();
                    async move { Ok::<_, std::convert::Infallible>(forward::handle(proxy, req, peer, local_port).await) }
                });
                let conn = builder.serve_connection(TokioIo::new(stream), svc);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "client connection ended with an error");
                    }
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain timeout; closing them");
    }
}

/// How long a shutdown waits for in-flight requests.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Starts proxy worker `index`: a thread with its own single-threaded runtime accepting on a
/// clone of `listener`. A request, its upstream connection and that connection's pool shard all
/// stay on one thread, so forwarding needs no cross-thread wake-ups.
pub fn spawn_worker(
    index: usize,
    listener: &std::net::TcpListener,
    proxy: Arc<Proxy>,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let listener = listener.try_clone()?;
    std::thread::Builder::new().name(format!("gatehouse-proxy-{index}")).spawn(move || {
        super::pool::set_worker(index);
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error = %e, worker = index, "starting a proxy worker failed");
                return;
            }
        };
        runtime.block_on(async move {
            match TcpListener::from_std(listener) {
                Ok(l) => serve(l, proxy, shutdown).await,
                Err(e) => tracing::error!(error = %e, worker = index, "proxy worker cannot use the listener"),
            }
        });
    })
}
