//! One proxied request: match, rewrite, forward, stream back, record.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;

use http_body_util::{Either, Empty};
use hyper_util::rt::TokioIo;

use super::balancer::{fnv, Algorithm, Balancer, HashKey, HashOn, Outcome, Target};
use super::body::{Completion, InFlight, ProxyBody, UpstreamBody};
use super::config::{CompiledConfig, RouteTarget, ServiceTarget};
use super::headers::{self, Forwarded};
use super::paths::{normalize, upstream_path};
use super::pool::{ClientBody, ProxyError, Sent};
use super::router::RequestView;
use super::state::Proxy;
use crate::telemetry::RequestRecord;

/// What the proxy knows about the client connection a request arrived on.
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub local_port: u16,
    pub https: bool,
    /// The TLS server name the client asked for.
    pub sni: Option<Box<str>>,
    /// Header values every request on the connection sends upstream, built once.
    client_ip: HeaderValue,
    port_value: HeaderValue,
}

impl ConnInfo {
    pub fn new(peer: SocketAddr, local_port: u16, https: bool, sni: Option<Box<str>>) -> ConnInfo {
        ConnInfo {
            client_ip: HeaderValue::from_str(&peer.ip().to_string())
                .unwrap_or(HeaderValue::from_static("0.0.0.0")),
            port_value: HeaderValue::from(local_port),
            peer,
            local_port,
            https,
            sni,
        }
    }
}

pub async fn handle(
    proxy: Arc<Proxy>,
    mut req: Request<Incoming>,
    conn: Arc<ConnInfo>,
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
    // URI are still needed for the forwarded headers. HTTP/2 clients send `:authority` instead.
    let host_value = req.headers().get(header::HOST).cloned().or_else(|| {
        req.uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    let host_owned: Option<&str> = host_value.as_ref().and_then(|v| v.to_str().ok());
    let original_uri = req.uri().clone();
    // Routed and forwarded on the normalized path, so `/mock/../admin` is `/admin`.
    let normalized = match normalize(original_uri.path()) {
        Ok(p) => p,
        Err(_) => {
            return error(
                &proxy,
                record,
                started,
                StatusCode::BAD_REQUEST,
                "Bad request",
            );
        }
    };
    let path: &str = &normalized;
    let found = config.router.find(&RequestView {
        method: req.method().as_str(),
        host: host_owned,
        path,
        headers: req.headers(),
        local_port: conn.local_port,
        sni: conn.sni.as_deref(),
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
    if !route.allows_http && !conn.https {
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
    if let Some(why) = &service.broken {
        tracing::warn!(service.id = %service.id, error = %why, "cannot forward");
        return error(
            &proxy,
            record,
            started,
            StatusCode::BAD_GATEWAY,
            "An invalid response was received from the upstream server",
        );
    }

    // The access phase: plugins may answer the request themselves or change what goes
    // upstream.
    let mut query: Option<String> = req.uri().query().map(str::to_string);
    if let Some(chain) = &route.plugins {
        if let Some(auth) = &chain.key_auth {
            match auth.access(req.method(), req.headers(), query.as_deref(), &config.keys) {
                Ok(Some(who)) => {
                    if let Some(h) = &who.hide_header {
                        req.headers_mut().remove(h.as_str());
                    }
                    if let (Some(arg), Some(q)) = (&who.hide_query, &query) {
                        query = crate::plugins::key_auth::without_query_arg(q, arg);
                    }
                    headers::set_consumer(req.headers_mut(), &who.identity, who.anonymous);
                }
                Ok(None) => {}
                Err(reject) => return rejected(&proxy, record, started, reject),
            }
        }
    }

    let stripped = route.strip_path.then_some(found.matched_len);
    let mut target = upstream_path(&service.base_path, path, stripped, route.path_handling_v1);
    if let Some(q) = &query {
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
    let balancer = &service.balancer;
    let (hash_key, set_cookie) = if balancer.algorithm == Algorithm::ConsistentHashing {
        let captures = config.router.captures(&found, path);
        hash_key(balancer, &req, conn.peer, &captures)
    } else {
        (None, None)
    };
    let upgrade = upgrade_protocol(req.headers());
    let client_upgrade = upgrade.as_ref().map(|_| hyper::upgrade::on(&mut req));
    let host_for_fwd = host_owned.unwrap_or("");
    {
        let h = req.headers_mut();
        headers::strip_hop_by_hop(h);
        headers::set_forwarded(
            h,
            &Forwarded {
                client_ip: &conn.client_ip,
                proto: if conn.https { "https" } else { "http" },
                host: host_for_fwd,
                port: &conn.port_value,
                path,
                prefix,
            },
        );
        match (&host_value, route.preserve_host) {
            (Some(original), true) => {
                h.insert(header::HOST, original.clone());
            }
            _ => {
                h.insert(header::HOST, service.host_header.clone());
            }
        }
        if let Some(proto) = &upgrade {
            h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            h.insert(header::UPGRADE, proto.clone());
        }
        headers::add_via(h);
    }
    *req.uri_mut() = uri;
    *req.version_mut() = http::Version::HTTP_11;

    let sent = match dispatch(&service, req.map(Either::Left), hash_key.as_ref()).await {
        Ok(sent) => sent,
        Err(e) => {
            tracing::warn!(service.id = %service.id, route.id = %route.id, error = %e, "upstream request failed");
            let (status, message) = match &e {
                DispatchError::NoTarget => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "failure to get a peer from the ring-balancer",
                ),
                DispatchError::Proxy(p) if p.status() == StatusCode::GATEWAY_TIMEOUT => {
                    (p.status(), "The upstream server is timed out")
                }
                DispatchError::Proxy(p) => (
                    p.status(),
                    "An invalid response was received from the upstream server",
                ),
            };
            return error(&proxy, record, started, status, message);
        }
    };
    record.upstream_latency_ms = Some(sent.upstream_latency.as_millis() as i64);
    let Sent {
        response,
        conn: pooled,
        ..
    } = sent.sent;
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client) = client_upgrade {
            return tunnel(&proxy, record, started, response, client, pooled);
        }
    }
    let (mut parts, inner) = response.into_parts();
    record.status = parts.status.as_u16();
    headers::strip_hop_by_hop(&mut parts.headers);
    headers::add_via(&mut parts.headers);
    if let Some(c) = set_cookie {
        parts.headers.append(header::SET_COOKIE, c);
    }
    let body = UpstreamBody {
        inner,
        read_timeout: service.timeouts.read,
        sleep: None,
        conn: Some(pooled),
        completion: Some(Completion {
            recorder: proxy.recorder.clone(),
            record,
            started,
        }),
        bytes: 0,
        _in_flight: sent.in_flight,
    };
    Response::from_parts(parts, ProxyBody::Upstream(Box::new(body)))
}

#[derive(Debug, thiserror::Error)]
enum DispatchError {
    #[error("no healthy target to send the request to")]
    NoTarget,
    #[error(transparent)]
    Proxy(#[from] ProxyError),
}

struct Dispatched {
    sent: Sent,
    upstream_latency: std::time::Duration,
    in_flight: Option<InFlight>,
}

/// Sends the request to a target the balancer picks, moving to another target when connecting
/// fails. A request whose bytes may have reached the upstream is only sent again when it can be
/// replayed exactly: an idempotent method without a body.
async fn dispatch(
    service: &ServiceTarget,
    req: Request<ClientBody>,
    hash: Option<&HashKey>,
) -> Result<Dispatched, DispatchError> {
    let balancer = &service.balancer;
    // Replaying means another target can take the request: a single-target service pays
    // nothing for the copy.
    let replay = if balancer.targets.len() > 1 {
        replayable(&req)
    } else {
        None
    };
    let mut req = Some(req);
    let mut tried: u64 = 0;
    let mut last_error = None;
    for _attempt in 0..=service.retries {
        let Some(next) = req.take().or_else(|| replay.as_ref().map(rebuild)) else {
            break;
        };
        let Some(idx) = balancer.pick(hash, tried).or_else(|| {
            // Every target tried once: go round again rather than give up early.
            (tried != 0).then(|| balancer.pick(hash, 0)).flatten()
        }) else {
            return Err(last_error.map_or(DispatchError::NoTarget, DispatchError::Proxy));
        };
        let target = &balancer.targets[idx];
        let in_flight = InFlight::start(balancer, target);
        match target.pool.attempt(next, service.timeouts).await {
            Ok(sent) => {
                let latency = sent.upstream_latency;
                if balancer.algorithm == Algorithm::Latency {
                    target.health.observe_latency(latency.as_micros() as u64);
                }
                if balancer.passive.counts_anything() {
                    if let Some(outcome) =
                        balancer.passive.classify(sent.response.status().as_u16())
                    {
                        report(balancer, target, outcome, false);
                    }
                }
                return Ok(Dispatched {
                    sent,
                    upstream_latency: latency,
                    in_flight,
                });
            }
            Err(failed) => {
                drop(in_flight);
                let outcome = if failed.error.is_timeout() {
                    Outcome::Timeout
                } else {
                    Outcome::TcpFailure
                };
                report(balancer, target, outcome, false);
                tracing::debug!(error = %failed.error, upstream.addr = %target.name, "upstream attempt failed");
                if idx < 64 {
                    tried |= 1 << idx;
                }
                // A read timeout means the upstream got the request and may still act on it.
                let may_replay =
                    replay.is_some() && !matches!(failed.error, ProxyError::ReadTimeout);
                req = failed.unsent;
                last_error = Some(failed.error);
                if req.is_none() && !may_replay {
                    break;
                }
            }
        }
    }
    Err(last_error.map_or(DispatchError::NoTarget, DispatchError::Proxy))
}
/// The parts of a bodiless idempotent request, enough to send it again on another connection.
struct Replay {
    method: http::Method,
    uri: Uri,
    headers: http::HeaderMap,
}

fn replayable(req: &Request<ClientBody>) -> Option<Replay> {
    use hyper::body::Body as _;
    let idempotent = matches!(
        *req.method(),
        http::Method::GET
            | http::Method::HEAD
            | http::Method::PUT
            | http::Method::DELETE
            | http::Method::OPTIONS
            | http::Method::TRACE
    );
    (idempotent && req.body().is_end_stream()).then(|| Replay {
        method: req.method().clone(),
        uri: req.uri().clone(),
        headers: req.headers().clone(),
    })
}

fn rebuild(r: &Replay) -> Request<ClientBody> {
    let mut req = Request::new(Either::Right(Empty::new()));
    *req.method_mut() = r.method.clone();
    *req.uri_mut() = r.uri.clone();
    *req.headers_mut() = r.headers.clone();
    req
}

fn report(balancer: &Balancer, target: &Target, outcome: Outcome, active: bool) {
    let thresholds = if active {
        &balancer.active_thresholds
    } else {
        &balancer.passive
    };
    if thresholds.counts_anything() && target.health.report(outcome, thresholds) {
        tracing::warn!(upstream.id = %balancer.upstream_id, upstream.target = ?target.name, healthy = target.health.is_healthy(), "target health changed (passive check)");
    }
}

/// The consistent-hashing key of a request (falling back as Kong does) and, when the key is a
/// cookie the client did not send yet, the Set-Cookie that pins its next requests.
fn hash_key(
    b: &Balancer,
    req: &Request<Incoming>,
    peer: SocketAddr,
    captures: &[(&str, &str)],
) -> (Option<HashKey>, Option<HeaderValue>) {
    let value = |on: &HashOn| -> Option<Vec<u8>> {
        match on {
            HashOn::None => None,
            HashOn::Ip => Some(peer.ip().to_string().into_bytes()),
            HashOn::Path => Some(req.uri().path().as_bytes().to_vec()),
            HashOn::UriCapture(name) => captures
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_bytes().to_vec()),
            HashOn::Header(name) => req.headers().get(name).map(|v| v.as_bytes().to_vec()),
            HashOn::QueryArg(arg) => req.uri().query().and_then(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == arg)
                    .map(|(_, v)| v.into_owned().into_bytes())
            }),
            HashOn::Cookie { name, .. } => req
                .headers()
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .filter_map(|c| c.trim().split_once('='))
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_bytes().to_vec()),
        }
    };
    if let Some(v) = value(&b.hash_on).or_else(|| value(&b.hash_fallback)) {
        return (Some(HashKey(fnv(&v))), None);
    }
    if let HashOn::Cookie { name, path } = &b.hash_on {
        let fresh = uuid::Uuid::new_v4().to_string();
        let cookie = HeaderValue::from_str(&format!("{name}={fresh}; Path={path}")).ok();
        return (Some(HashKey(fnv(fresh.as_bytes()))), cookie);
    }
    (None, None)
}

/// The protocol a client asks to switch to (`Connection: upgrade` + `Upgrade: x`), if any.
fn upgrade_protocol(h: &http::HeaderMap) -> Option<HeaderValue> {
    let wants = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    if wants {
        h.get(header::UPGRADE).cloned()
    } else {
        None
    }
}

/// The upstream agreed to switch protocols (a WebSocket, say): answer the client with the 101
/// and splice the two upgraded connections together until either side closes.
fn tunnel(
    proxy: &Proxy,
    mut record: RequestRecord,
    started: Instant,
    mut response: Response<Incoming>,
    client: hyper::upgrade::OnUpgrade,
    pooled: super::pool::Pooled,
) -> Response<ProxyBody> {
    record.status = 101;
    let upstream = hyper::upgrade::on(&mut response);
    let completion = Completion {
        recorder: proxy.recorder.clone(),
        record,
        started,
    };
    tokio::spawn(async move {
        // The upstream connection now belongs to the tunnel; it never returns to the pool.
        let _held = pooled;
        let mut bytes = 0;
        match tokio::try_join!(client, upstream) {
            Ok((c, u)) => {
                let mut c = TokioIo::new(c);
                let mut u = TokioIo::new(u);
                match tokio::io::copy_bidirectional(&mut c, &mut u).await {
                    Ok((_to_upstream, to_client)) => bytes = to_client,
                    Err(e) => {
                        tracing::debug!(error = %e, "upgraded connection ended with an error")
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "protocol upgrade failed"),
        }
        completion.finish(bytes);
    });
    let (mut parts, _) = response.into_parts();
    headers::add_via(&mut parts.headers);
    Response::from_parts(parts, ProxyBody::full(bytes::Bytes::new(), None))
}

fn content_length<B>(req: &Request<B>) -> u64 {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Kong's JSON error body: `{"message":"…"}`.
/// A request a plugin answered itself, with Kong's JSON body and the plugin's headers.
fn rejected(
    proxy: &Proxy,
    record: RequestRecord,
    started: Instant,
    reject: crate::plugins::Reject,
) -> Response<ProxyBody> {
    let status = StatusCode::from_u16(reject.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = error(proxy, record, started, status, &reject.message);
    for (name, value) in reject.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().insert(name, v);
        }
    }
    resp
}

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
