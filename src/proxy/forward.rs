//! One proxied request: match, rewrite, forward, stream back, record.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;

use http_body_util::Either;
use hyper_util::rt::TokioIo;

use super::answers::{self, error, https_required};
use super::balancer::Algorithm;
use super::body::{collect, Completion, ProxyBody, UpstreamBody};
use super::config::CompiledConfig;
use super::config::RouteTarget;
use super::dispatch::{dispatch, hash_key};
use super::headers::{self, Forwarded};
use super::paths::{normalize, upstream_path};
use super::pipeline::{self, LogTap};
use super::pool::{ClientBody, Sent};
use super::router::RequestView;
use super::state::Proxy;
use super::strict::Verdicts;
use crate::plugins::{Access, Chain, Ctx, Exit, LogEntry, ResponseHead, Rewrite};
use crate::telemetry::RequestRecord;

/// What the proxy knows about the client connection a request arrived on.
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub local_port: u16,
    pub https: bool,
    /// The TLS server name the client asked for.
    pub sni: Option<Box<str>>,
    /// What the HTTP/1 scanner found on this connection (`strict.rs`).
    pub verdicts: Arc<Verdicts>,
    /// Header values every request on the connection sends upstream, built once.
    pub(super) client_ip: HeaderValue,
    pub(super) port_value: HeaderValue,
}

impl ConnInfo {
    pub fn new(
        peer: SocketAddr,
        local_port: u16,
        https: bool,
        sni: Option<Box<str>>,
        verdicts: Arc<Verdicts>,
    ) -> ConnInfo {
        ConnInfo {
            verdicts,
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
        consumer_id: None,
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
    // Routed and forwarded on the normalized path, so `/mock/../admin` is `/admin`. A request
    // the HTTP/1 scanner refused arrives as `GET *`, which lands here too: answered with the
    // refusal's status, and the connection closed (its framing cannot be trusted).
    let normalized = match normalize(original_uri.path()) {
        Ok(p) => p,
        Err(_) => {
            let Some(refusal) = conn.verdicts.refusal() else {
                return error(
                    &proxy,
                    record,
                    started,
                    StatusCode::BAD_REQUEST,
                    "Bad request",
                );
            };
            let mut resp = error(&proxy, record, started, refusal.status(), refusal.message());
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return resp;
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
    if let Some(protocol) = &service.unproxied {
        return error(
            &proxy,
            record,
            started,
            StatusCode::BAD_GATEWAY,
            &format!("This gateway does not proxy to '{protocol}' services yet"),
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
    // upstream. A route without plugins skips all of it.
    let mut query: Option<String> = req.uri().query().map(str::to_string);
    let mut ctx = Ctx::default();
    let mut rewrite: Option<Rewrite> = None;
    if let Some(chain) = &route.plugins {
        let content_length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let (parts, body) = req.into_parts();
        let mut parts = parts;
        let outcome = pipeline::access(
            chain,
            &mut Access {
                method: &parts.method,
                path,
                headers: &mut parts.headers,
                query: &mut query,
                client_ip: conn.peer.ip(),
                https: conn.https,
                content_length,
                route_id: route.id,
                service_id: Some(service.id),
                shared: &config.plugins,
                ctx: &mut ctx,
            },
        )
        .await;
        req = Request::from_parts(parts, body);
        if let Err(e) = outcome {
            record.consumer_id = ctx.consumer.as_ref().map(|c| c.consumer_id);
            let mut completion = Completion::new(proxy.recorder.clone(), record, started);
            if chain.log {
                completion.log = Some(log_tap(
                    chain,
                    &req,
                    RequestLine::new(&original_uri, host_owned, conn.https),
                    &conn,
                    &ctx,
                    &completion.record,
                    String::new(),
                ));
            }
            return answers::exit(completion, e, std::mem::take(&mut ctx.downstream));
        }
        record.consumer_id = ctx.consumer.as_ref().map(|c| c.consumer_id);
        rewrite = Some(std::mem::take(&mut ctx.rewrite));
    }
    let mut req: Request<ClientBody> = req.map(Either::Left);
    let mut new_path = None;
    let mut new_host = None;
    if let Some(rw) = rewrite {
        if let Some(m) = rw.method {
            *req.method_mut() = m;
        }
        new_path = rw.path;
        new_host = rw.host;
        if let Some(filter) = rw.body {
            req = match pipeline::rewrite_body(req, filter, rw.body_limit, &mut query).await {
                Ok(req) => req,
                Err(status) => {
                    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                        "Request size limit exceeded"
                    } else {
                        "Bad request"
                    };
                    return error(&proxy, record, started, status, message);
                }
            };
        }
    }

    let stripped = route.strip_path.then_some(found.matched_len);
    let mut target = match new_path {
        Some(p) => p,
        None => upstream_path(&service.base_path, path, stripped, route.path_handling_v1),
    };
    if let Some(q) = &query {
        target.push('?');
        target.push_str(q);
    }
    let log = route.plugins.as_ref().filter(|c| c.log).map(|c| {
        log_tap(
            c,
            &req,
            RequestLine::new(&original_uri, host_owned, conn.https),
            &conn,
            &ctx,
            &record,
            target.clone(),
        )
    });
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
            _ if new_host.is_some() => {
                if let Some(host) = new_host.take() {
                    h.insert(header::HOST, host);
                }
            }
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

    let method = req.method().clone();
    let sent = match dispatch(&service, req, hash_key.as_ref()).await {
        Ok(sent) => sent,
        Err(e) => {
            tracing::warn!(service.id = %service.id, route.id = %route.id, error = %e, "upstream request failed");
            let (status, message) = if conn.verdicts.body_broken() {
                // The client's chunked body broke its framing while streaming upstream.
                (StatusCode::BAD_REQUEST, "Bad request")
            } else {
                e.answer()
            };
            let mut completion = Completion::new(proxy.recorder.clone(), record, started);
            completion.log = log;
            return answers::exit(
                completion,
                Exit::message(status.as_u16(), message),
                std::mem::take(&mut ctx.downstream),
            );
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
    let mut completion = Completion::new(proxy.recorder.clone(), record, started);
    completion.log = log;
    let body = Box::new(UpstreamBody {
        inner,
        read_timeout: service.timeouts.read,
        sleep: None,
        conn: Some(pooled),
        completion: Some(completion),
        bytes: 0,
        _in_flight: sent.in_flight,
    });
    match &route.plugins {
        Some(chain) => respond(chain, parts, body, ctx, &method, route, conn.https).await,
        None => Response::from_parts(parts, ProxyBody::Upstream(body)),
    }
}

/// The response phase of a route with plugins: downstream headers from the access phase, the
/// plugins' header changes, and the body filters when a plugin asked for the whole body.
async fn respond(
    chain: &Chain,
    mut parts: http::response::Parts,
    mut body: Box<UpstreamBody>,
    mut ctx: Ctx,
    method: &http::Method,
    route: &RouteTarget,
    https: bool,
) -> Response<ProxyBody> {
    for (name, value) in std::mem::take(&mut ctx.downstream) {
        // Vary lists what the response depends on: a plugin's entry (CORS's Origin) adds to
        // the upstream's rather than replacing it.
        if name == header::VARY {
            parts.headers.append(name, value);
        } else {
            parts.headers.insert(name, value);
        }
    }
    if !chain.response {
        return Response::from_parts(parts, ProxyBody::Upstream(body));
    }
    let filters = pipeline::response(
        chain,
        &mut ResponseHead {
            status: parts.status.as_u16(),
            headers: &mut parts.headers,
            method,
            route_id: route.id,
            service_id: route.service.as_ref().map(|s| s.id),
        },
        &mut ctx,
        https,
    );
    let filters = match filters {
        Ok(f) => f,
        Err(e) => {
            let completion = body.completion.take();
            return answers::exit_after(completion, e);
        }
    };
    if filters.is_empty() {
        return Response::from_parts(parts, ProxyBody::Upstream(body));
    }
    match collect(body).await {
        Ok((bytes, completion)) => {
            let bytes = pipeline::body(filters, bytes);
            parts.headers.remove(header::TRANSFER_ENCODING);
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            Response::from_parts(parts, ProxyBody::full(bytes, completion))
        }
        Err(e) => {
            tracing::warn!(route.id = %route.id, error = %e, "reading the upstream body for a plugin failed");
            answers::exit_after(
                None,
                Exit::message(
                    502,
                    "An invalid response was received from the upstream server",
                ),
            )
        }
    }
}

/// The request as the client sent it, for logs: path and query, and the full URL.
struct RequestLine {
    uri: String,
    url: String,
}

impl RequestLine {
    fn new(original: &Uri, host: Option<&str>, https: bool) -> RequestLine {
        let scheme = if https { "https" } else { "http" };
        let pq = original.path_and_query().map_or("/", |p| p.as_str());
        RequestLine {
            uri: pq.to_string(),
            url: format!("{scheme}://{}{pq}", host.unwrap_or("")),
        }
    }
}

/// What the log phase will be told, built before the request goes upstream.
fn log_tap<B>(
    chain: &Arc<Chain>,
    req: &Request<B>,
    line: RequestLine,
    conn: &ConnInfo,
    ctx: &Ctx,
    record: &RequestRecord,
    upstream_uri: String,
) -> Box<LogTap> {
    Box::new(LogTap {
        chain: chain.clone(),
        https: conn.https,
        entry: LogEntry {
            started_at_ms: record.ts_ms,
            client_ip: conn.peer.ip(),
            method: req.method().clone(),
            uri: line.uri,
            url: line.url,
            request_headers: req.headers().clone(),
            request_size: content_length(req),
            upstream_uri,
            status: 0,
            response_headers: http::HeaderMap::new(),
            response_size: 0,
            latency_ms: 0,
            upstream_latency_ms: None,
            route_id: record.route_id,
            service_id: record.service_id,
            runtime_group_id: record.runtime_group_id,
            consumer: ctx.consumer.clone(),
            extra: ctx.log_fields.clone(),
        },
    })
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
    let completion = Completion::new(proxy.recorder.clone(), record, started);
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
