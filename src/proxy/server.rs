//! The proxy listener: accepts connections, serves HTTP/1.1 with keep-alive, and on shutdown
//! stops accepting and lets in-flight requests finish.

use std::sync::Arc;

use std::pin::Pin;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::forward::ConnInfo;
use super::spread::{Spread, Station};
use super::state::Proxy;
use super::strict::{StrictIo, Verdicts};
use crate::telemetry::Recorder;

/// Serves the proxy on `listener` until `shutdown` turns true, then drains open connections.
/// With `tls`, every connection first completes a TLS handshake (certificate chosen by SNI).
/// HTTP/1.1 (keep-alive, pipelining, upgrades) and HTTP/2 (by ALPN over TLS, or h2c with prior
/// knowledge in plain text) are both served. `station` shares the listener's connections
/// evenly with the other workers accepting on it.
pub async fn serve(
    listener: TcpListener,
    proxy: Arc<Proxy>,
    mut shutdown: watch::Receiver<bool>,
    tls: Option<TlsAcceptor>,
    mut station: Station,
) {
    let local_port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .keep_alive(true)
        .max_buf_size(64 * 1024)
        .timer(CoarseTimer::default())
        .header_read_timeout(super::service::HEADER_READ_TIMEOUT);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    // Plain connections start on the HTTP/1 fast path (`fast.rs`); each holds a sender, so the
    // drain can wait for them beside hyper's.
    let (alive, mut all_gone) = tokio::sync::mpsc::channel::<()>(1);
    let fast = Arc::new(super::fast::Listener {
        proxy: proxy.clone(),
        builder: builder.clone(),
        local_port,
        alive,
    });
    loop {
        let (stream, peer, seat) = tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let Some((stream, seat)) = station.place(stream, peer) else {
                    continue;
                };
                (stream, peer, seat)
            }
            handed = station.arrival() => handed,
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let proxy = proxy.clone();
        match &tls {
            None => {
                let conn = super::fast::serve_conn(
                    stream,
                    peer,
                    fast.clone(),
                    graceful.watcher(),
                    shutdown.clone(),
                );
                tokio::spawn(async move {
                    let _seat = seat;
                    conn.await
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let builder = builder.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let _seat = seat;
                    let stream = match tokio::time::timeout(
                        super::service::HEADER_READ_TIMEOUT,
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, client.addr = %peer, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let sni = stream.get_ref().1.server_name().map(Box::from);
                    let verdicts = Arc::new(Verdicts::default());
                    let info =
                        Arc::new(ConnInfo::new(peer, local_port, true, sni, verdicts.clone()));
                    let stream = StrictIo::new(stream, verdicts);
                    let conn = builder.serve_connection_with_upgrades(
                        TokioIo::new(stream),
                        super::service::service(proxy, info),
                    );
                    if let Err(e) = watcher.watch(conn.into_owned()).await {
                        tracing::debug!(error = %e, "client connection ended with an error");
                    }
                });
            }
        }
    }
    drop(listener);
    drop(fast);
    let drained = async {
        graceful.shutdown().await;
        let _ = all_gone.recv().await;
    };
    if tokio::time::timeout(DRAIN_TIMEOUT, drained).await.is_err() {
        tracing::warn!("connections still open after the drain timeout; closing them");
    }
}

/// hyper's timer with deadlines rounded up to whole seconds. Every request arms a header-read
/// timeout; with exact deadlines each new one tends to be the runtime's earliest and re-arming
/// it wakes the I/O driver (an eventfd write per request, measured with strace). Rounded, they
/// coincide and the driver is left alone. A second of slack is nothing for a 30 s timeout.
#[derive(Clone, Default)]
struct CoarseTimer(TokioTimer);

impl CoarseTimer {
    fn round(at: Instant) -> Instant {
        static BASE: OnceLock<Instant> = OnceLock::new();
        let base = *BASE.get_or_init(Instant::now);
        let offset = at.saturating_duration_since(base);
        base + Duration::from_secs(offset.as_secs() + u64::from(offset.subsec_nanos() > 0))
    }
}

impl hyper::rt::Timer for CoarseTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.0.sleep_until(Self::round(Instant::now() + duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.0.sleep_until(Self::round(deadline))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        self.0.reset(sleep, Self::round(new_deadline))
    }
}

/// How long a shutdown waits for in-flight requests.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Starts `count` proxy workers (one per core when `None`) on the plain and TLS listeners.
pub fn spawn_workers(
    count: Option<usize>,
    listener: &std::net::TcpListener,
    tls_listener: &std::net::TcpListener,
    proxy: &Arc<Proxy>,
    shutdown: &watch::Receiver<bool>,
) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
    let count = count.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let plain = Spread::stations(count);
    let tls = Spread::stations(count);
    plain
        .into_iter()
        .zip(tls)
        .enumerate()
        .map(|(i, (plain, tls))| {
            spawn_worker(
                i,
                listener,
                Some((tls_listener, tls)),
                proxy.clone(),
                shutdown.clone(),
                plain,
            )
        })
        .collect()
}

/// Starts proxy worker `index`: a thread with its own single-threaded runtime accepting on a
/// clone of `listener`. A request, its upstream connection and that connection's pool shard all
/// stay on one thread, so forwarding needs no cross-thread wake-ups.
pub fn spawn_worker(
    index: usize,
    listener: &std::net::TcpListener,
    tls_listener: Option<(&std::net::TcpListener, Station)>,
    proxy: Arc<Proxy>,
    shutdown: watch::Receiver<bool>,
    station: Station,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let listener = listener.try_clone()?;
    let tls_listener = tls_listener
        .map(|(l, s)| l.try_clone().map(|l| (l, s)))
        .transpose()?;
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
            // Records this worker buffered reach the writer even when traffic stops.
            let flusher = tokio::spawn(async {
                let mut tick = tokio::time::interval(crate::telemetry::FLUSH_EVERY);
                loop {
                    tick.tick().await;
                    Recorder::flush_thread();
                }
            });
            let tls = match tls_listener.map(|(l, s)| TcpListener::from_std(l).map(|l| (l, s))).transpose() {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, worker = index, "proxy worker cannot use the TLS listener");
                    None
                }
            };
            let tls_task = tls.and_then(|(l, s)| match server_config(proxy.clone()) {
                Ok(cfg) => Some(tokio::spawn(serve(l, proxy.clone(), shutdown.clone(), Some(TlsAcceptor::from(cfg)), s))),
                Err(e) => {
                    tracing::error!(error = %e, "TLS listener not started");
                    None
                }
            });
            match TcpListener::from_std(listener) {
                Ok(l) => serve(l, proxy, shutdown, None, station).await,
                Err(e) => tracing::error!(error = %e, worker = index, "proxy worker cannot use the listener"),
            }
            if let Some(t) = tls_task {
                let _ = t.await;
            }
            flusher.abort();
            Recorder::flush_thread();
        });
    })
}

/// Resolves the server certificate from whatever configuration the proxy serves right now.
pub struct SniResolver {
    proxy: Arc<Proxy>,
    fallback: Option<Arc<CertifiedKey>>,
}

impl std::fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SniResolver")
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        hello
            .server_name()
            .and_then(|name| self.proxy.current().certs.find(name))
            .or_else(|| self.fallback.clone())
    }
}

/// The TLS listener's configuration: certificates by SNI, ALPN h2 then http/1.1.
pub fn server_config(proxy: Arc<Proxy>) -> Result<Arc<ServerConfig>, rustls::Error> {
    let mut cfg = ServerConfig::builder_with_provider(super::tls::provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver {
            proxy,
            fallback: super::tls::fallback_certificate(),
        }));
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_deadlines_round_up_to_whole_seconds_and_never_come_early() {
        let now = Instant::now();
        let a = CoarseTimer::round(now + Duration::from_millis(10));
        let b = CoarseTimer::round(now + Duration::from_millis(900));
        assert!(a >= now + Duration::from_millis(10));
        assert!(b >= now + Duration::from_millis(900));
        assert!(a <= now + Duration::from_millis(1010) && b <= now + Duration::from_millis(1900));
        let exact = CoarseTimer::round(a);
        assert_eq!(exact, a, "a rounded deadline stays put");
    }
}
