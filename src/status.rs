//! The status listener (`GATEHOUSE_STATUS_LISTEN`): `/status` and Prometheus `/metrics` without a
//! token, for health checks and scrapers on a private interface. The Admin API serves the same
//! `/metrics` behind its token.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::proxy::Proxy;
use crate::telemetry::{Gauges, Metrics};

/// The metrics text for this process.
pub fn render_metrics(proxy: &Proxy, metrics: &Metrics) -> String {
    let cfg = proxy.current();
    let target_health = cfg
        .balancers
        .iter()
        .filter(|b| !b.upstream_id.is_nil())
        .flat_map(|b| {
            cfg.upstream_health(b.upstream_id)
                .into_iter()
                .map(move |v| (b.upstream_id, v.target, v.state.metric_label()))
        })
        .collect();
    let mut text = metrics.render(&Gauges {
        target_health,
        config_version: cfg.version,
        config_hash: &cfg.hash,
        records_dropped: proxy.recorder.dropped(),
        // This process's own proxy, and the data planes streaming from it (a node has none).
        connected_nodes: 1 + metrics
            .remote_nodes
            .load(std::sync::atomic::Ordering::Relaxed),
    });
    text.push_str(&crate::plugins::prometheus::render(&cfg.plugin_runtime));
    text
}

pub fn status_json(proxy: &Proxy) -> serde_json::Value {
    let cfg = proxy.current();
    serde_json::json!({
        "configuration_hash": cfg.hash,
        "configuration_version": cfg.version,
        "server": { "routes": cfg.routes.len() },
    })
}

pub async fn serve(
    listener: TcpListener,
    proxy: Arc<Proxy>,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let (proxy, metrics) = (proxy.clone(), metrics.clone());
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let (proxy, metrics) = (proxy.clone(), metrics.clone());
                    async move { Ok::<_, Infallible>(respond(req.uri().path(), &proxy, &metrics)) }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
            _ = shutdown.changed() => break,
        }
    }
}

fn respond(path: &str, proxy: &Proxy, metrics: &Metrics) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match path {
        "/metrics" => (
            StatusCode::OK,
            "text/plain; version=0.0.4",
            render_metrics(proxy, metrics),
        ),
        "/status" => (
            StatusCode::OK,
            "application/json",
            status_json(proxy).to_string(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "application/json",
            r#"{"message":"Not found"}"#.to_string(),
        ),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    r
}
