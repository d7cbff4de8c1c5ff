//! One proxied request: match, rewrite, forward, stream back, record.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;

use super::body::{Completion, ProxyBody, UpstreamBody};
use super::config::{CompiledConfig, RouteTarget};
use super::headers::{self, Forwarded};
use super::paths::upstream_path;
use super::pool::ProxyError;
use super::router::RequestView;
use super::server::Proxy;
use crate::telemetry::RequestRecord;

pub async fn handle(
    proxy: Arc<Proxy>,
    mut req: Request<Incoming>,
    peer: SocketAddr,
    local_port: u16,
) -> Response<ProxyBody> {
    let started = Instant::now();
    let config: Arc<CompiledConfig> = proxy.current();
    let mut record = RequestRecord {
        ts_ms: time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000,
        runtime_group_id: config.runtime_group_id,
        service_id: None,
        route_id: None,
        version_id: None,
        method: req.method().clone(),
        status: 0,
        latency_ms: 0,
        upstream_latency_ms: None,
        bytes_in: content_length(&req),
        bytes_out: 0,
    };

    // Cheap reference-counted copies: the request is rewritten below, but the original host and
    // URI are still needed for the forwarded headers.
    let host_value = req.headers().get(header::HOST).cloned().or_else(|| {
        req.uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    let host_owned: Option<&str> = host_value.as_ref().and_then(|v| v.to_str().ok());
    let original_uri = req.uri().clone();
    let path = original_uri.path();
    let found = config.router.find(&RequestView {
        method: req.method().as_str(),
        host: host_owned,
        path,
        headers: req.headers(),
        local_port,
    });
    let Some(found) = found else {
        return error(
            &proxy,
            record,
            started,
            StatusCode::NOT_FOUND,
            "no Route matched with those values",
        );
    };
    let route: &RouteTarget = &config.routes[found.route];
    record.route_id = Some(route.id);
    if !route.allows_http {
        return https_required(&proxy, record, started, route, host_owned, req.uri());
    }
    let Some(service) = route.service.clone() else {
        return error(
            &proxy,
            record,
            started,
            StatusCode::SERVICE_UNAVAILABLE,
            "no Service found with those values",
        );
    };
    record.service_id = Some(service.id);
    record.version_id = service.version_id;
    if !service.enabled {
        return error(
            &proxy,
            record,
            started,
            StatusCode::SERVICE_UNAVAILABLE,
            "Service unavailable",
        );
    }
    if service.protocol != "http" {
        let e = ProxyError::Unsupported(service.protocol.clone());
        tracing::warn!(service.id = %service.id, error = %e, "cannot forward");
        return error(
            &proxy,
            record,
            started,
            e.status(),
            "An invalid response was received from the upstream server",
        );
    }

    let stripped = route.strip_path.then_some(found.matched_len);
    let mut target = upstream_path(&service.base_path, path, stripped, route.path_handling_v1);
    if let Some(q) = req.uri().query() {
        target.push('?');
        target.push_str(q);
    }
    let uri = match target.parse::<Uri>() {
        Ok(u) => u,
        Err(_) => {
            return error(
                &proxy,
                record,
                started,
                StatusCode::BAD_REQUEST,
                "Bad request",
            )
        }
    };
    let prefix = match stripped {
        Some(n) if n > 1 => path.get(..n),
        _ => None,
    };
    let client_ip = peer.ip().to_string();
    let host_for_fwd = host_owned.unwrap_or("");
    {
        let h = req.headers_mut();
        headers::strip_hop_by_hop(h);
        headers::set_forwarded(
            h,
            &Forwarded {
                client_ip: &client_ip,
                proto: "http",
                host: host_for_fwd,
                port: local_port,
                path,
                prefix,
            },
        );
        if !route.preserve_host || host_owned.is_none() {
            h.insert(header::HOST, service.host_header.clone());
        }
        headers::add_via(h);
    }
    *req.uri_mut() = uri;
    *req.version_mut() = http::Version::HTTP_11;

    match service
        .upstream
        .send(req, service.timeouts, service.retries)
        .await
    {
        Ok(sent) => {
            record.upstream_latency_ms = Some(sent.upstream_latency.as_millis() as i64);
            let (mut parts, inner) = sent.response.into_parts();
            record.status = parts.status.as_u16();
            headers::strip_hop_by_hop(&mut parts.headers);
            headers::add_via(&mut parts.headers);
            let body = UpstreamBody {
                inner,
                read_timeout: service.timeouts.read,
                sleep: None,
                conn: Some(sent.conn),
                completion: Some(Completion {
                    recorder: proxy.recorder.clone(),
                    record,
                    started,
                }),
                bytes: 0,
            };
            Response::from_parts(parts, ProxyBody::Upstream(Box::new(body)))
        }
        Err(e) => {
            tracing::warn!(service.id = %service.id, route.id = %route.id, error = %e, "upstream request failed");
            let message = if e.status() == StatusCode::GATEWAY_TIMEOUT {
                "The upstream server is timed out"
            } else {
                "An invalid response was received from the upstream server"
            };
            error(&proxy, record, started, e.status(), message)
        }
    }
}

fn content_length<B>(req: &Request<B>) -> u64 {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Kong's JSON error body: `{"message":"…"}`.
fn error(
    proxy: &Proxy,
    mut record: RequestRecord,
    started: Instant,
    status: StatusCode,
    message: &str,
) -> Response<ProxyBody> {
    record.status = status.as_u16();
    let body = serde_json::json!({ "message": message }).to_string();
    let completion = Completion {
        recorder: proxy.recorder.clone(),
        record,
        started,
    };
    let mut resp = Response::new(ProxyBody::full(body, Some(completion)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(header::SERVER, HeaderValue::from_static("gatehouse"));
    resp
}

/// An http request on an https-only route: 426, or a redirect with the route's status code.
fn https_required(
    proxy: &Proxy,
    record: RequestRecord,
    started: Instant,
    route: &RouteTarget,
    host: Option<&str>,
    uri: &Uri,
) -> Response<ProxyBody> {
    let status = StatusCode::from_u16(route.https_redirect_status_code)
        .unwrap_or(StatusCode::UPGRADE_REQUIRED);
    let mut resp = error(proxy, record, started, status, "Please use HTTPS protocol");
    if status != StatusCode::UPGRADE_REQUIRED {
        let host = host
            .map(|h| h.rsplit_once(':').map(|(h, _)| h).unwrap_or(h))
            .unwrap_or("localhost");
        let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        if let Ok(v) = HeaderValue::from_str(&format!("https://{host}{pq}")) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
    } else {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        resp.headers_mut().insert(
            header::UPGRADE,
            HeaderValue::from_static("TLS/1.2, HTTP/1.1"),
        );
    }
    resp
}
