//! One request on the fast path, in `forward.rs`'s order: route, access phase, upstream
//! request, response head, body, record. Every check that could end the request before the
//! access phase hands off instead, so hyper's path makes those answers exactly as before.

use std::time::Instant;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode, Uri};
use tokio::io::AsyncWriteExt;

use super::head;
use super::upstream::{self, Client};
use super::wire::{self, Body, Relay};
use super::Conn;
use crate::plugins::{Access, Ctx, Exit};
use crate::proxy::answers;
use crate::proxy::balancer::Algorithm;
use crate::proxy::body::{Completion, ProxyBody};
use crate::proxy::headers;
use crate::proxy::paths::{normalize, upstream_path};
use crate::proxy::pipeline;
use crate::proxy::pool::RawConn;
use crate::proxy::router::RequestView;
use crate::proxy::strict::{Chunks, Framing, Head};
use crate::telemetry::RequestRecord;

pub enum Step {
    /// Answered; the connection carries on with its next request.
    Next,
    Close,
    /// Nothing was done: hyper serves this request and the rest of the connection.
    HandOff,
}

/// Plugins that ask for the whole request body; their routes stay on hyper's path.
const BODY_PLUGINS: [&str; 2] = ["request-transformer", "request-size-limiting"];

pub async fn exchange(c: &mut Conn, end: usize, h: Head) -> Step {
    let started = Instant::now();
    let config = c.proxy.current();
    let mut storage = [httparse::EMPTY_HEADER; 100];
    let mut parsed = httparse::Request::new(&mut storage);
    match parsed.parse(&c.inbuf.filled()[..end]) {
        Ok(httparse::Status::Complete(n)) if n == end => {}
        _ => return Step::HandOff,
    }
    let (Some(method_str), Some(target_str), Some(1)) =
        (parsed.method, parsed.path, parsed.version)
    else {
        return Step::HandOff;
    };
    let raw_headers: &[httparse::Header<'_>] = parsed.headers;
    let (Some(facts), true) = (
        head::facts(raw_headers),
        head::plain_target(target_str.as_bytes()),
    ) else {
        return Step::HandOff;
    };
    let Some(host) = facts.host else {
        return Step::HandOff;
    };
    let close = facts.close;
    let Ok(method) = Method::from_bytes(method_str.as_bytes()) else {
        return Step::HandOff;
    };
    let (path_raw, query) = match target_str.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target_str, None),
    };
    let Ok(normalized) = normalize(path_raw) else {
        return Step::HandOff;
    };
    let path: &str = &normalized;
    let head_bytes = &c.inbuf.filled()[..end];
    // One map for routing on headers and for the plugins, filled once, kept by the connection.
    let mut header_map = std::mem::take(&mut c.header_map);
    let filled = config.router.uses_headers();
    if filled && fill_header_map(&mut header_map, head_bytes, raw_headers).is_none() {
        return Step::HandOff;
    }
    let found = config.router.find(&RequestView {
        method: method_str,
        host: Some(host),
        path,
        headers: &header_map,
        local_port: c.info.local_port,
        sni: None,
    });
    let Some(found) = found else {
        return Step::HandOff;
    };
    let route = &config.routes[found.route];
    // Borrowed, not cloned: `config` holds it for the whole exchange, and every clone of a
    // shared `Arc` is an atomic both workers write to.
    let Some(service) = route.service.as_deref() else {
        return Step::HandOff;
    };
    let balancer = &service.balancer;
    if !route.allows_http
        || !service.enabled
        || service.broken.is_some()
        || service.unproxied.is_some()
        || balancer.algorithm == Algorithm::ConsistentHashing
        || balancer.targets.iter().any(|t| t.pool.is_tls())
    {
        return Step::HandOff;
    }
    if let Some(chain) = &route.plugins {
        let body_plugin = chain
            .slots
            .iter()
            .flat_map(|s| s.handlers())
            .any(|h| BODY_PLUGINS.contains(&h.name()));
        if chain.response || chain.log || body_plugin {
            return Step::HandOff;
        }
    }

    let body_len = match h.framing {
        Framing::Length(n) => n,
        _ => 0,
    };
    let mut record = RequestRecord {
        ts_ms: time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000,
        runtime_group_id: config.runtime_group_id,
        service_id: Some(service.id),
        route_id: Some(route.id),
        version_id: service.version_id,
        consumer_id: None,
        method: method.clone(),
        status: 0,
        latency_ms: 0,
        upstream_latency_ms: None,
        bytes_in: facts.content_length.unwrap_or(0),
        bytes_out: 0,
    };
    let is_head = method == Method::HEAD;

    // The access phase, as `forward.rs` runs it; from here on the request is answered here.
    let mut ctx = Ctx::default();
    let mut plugin_map = None;
    let mut query_owned = None;
    let mut rewrite = None;
    if let Some(chain) = &route.plugins {
        let mut map = std::mem::take(&mut header_map);
        if !filled && fill_header_map(&mut map, head_bytes, raw_headers).is_none() {
            return Step::HandOff;
        }
        let mut q = query.map(str::to_string);
        let outcome = pipeline::access(
            chain,
            &mut Access {
                method: &method,
                path,
                headers: &mut map,
                query: &mut q,
                client_ip: c.info.peer.ip(),
                https: false,
                content_length: facts.content_length,
                route_id: route.id,
                service_id: Some(service.id),
                shared: &config.plugins,
                ctx: &mut ctx,
            },
        )
        .await;
        record.consumer_id = ctx.consumer.as_ref().map(|who| who.consumer_id);
        if let Err(e) = outcome {
            let completion = Completion::new(c.proxy.recorder.clone(), record, started);
            let resp = answers::exit(completion, e, std::mem::take(&mut ctx.downstream));
            let skipped = skip_body(c, end, body_len);
            return send_generated(c, resp, is_head, close || !skipped).await;
        }
        let rw = std::mem::take(&mut ctx.rewrite);
        if rw.body.is_some() {
            tracing::error!(route.id = %route.id, "a plugin asked for the request body on the fast path");
            let resp = answers::error(
                &c.proxy,
                record,
                started,
                StatusCode::INTERNAL_SERVER_ERROR,
                "An unexpected error occurred",
            );
            let skipped = skip_body(c, end, body_len);
            return send_generated(c, resp, is_head, close || !skipped).await;
        }
        plugin_map = Some(map);
        query_owned = q;
        rewrite = Some(rw);
    }
    let (new_method, new_path, new_host) = match rewrite {
        Some(rw) => (rw.method, rw.path, rw.host),
        None => (None, None, None),
    };

    let stripped = route.strip_path.then_some(found.matched_len);
    let mut target = match new_path {
        Some(p) => p,
        None => upstream_path(&service.base_path, path, stripped, route.path_handling_v1),
    };
    if let Some(q) = if plugin_map.is_some() {
        query_owned.as_deref()
    } else {
        query
    } {
        target.push('?');
        target.push_str(q);
    }
    if !head::plain_target(target.as_bytes()) && target.parse::<Uri>().is_err() {
        let resp = answers::error(
            &c.proxy,
            record,
            started,
            StatusCode::BAD_REQUEST,
            "Bad request",
        );
        let skipped = skip_body(c, end, body_len);
        return send_generated(c, resp, is_head, close || !skipped).await;
    }
    let prefix = match stripped {
        Some(n) if n > 1 => path.get(..n),
        _ => None,
    };
    let host_upstream: HeaderValue = match new_host {
        Some(h) => h,
        None if route.preserve_host => match HeaderValue::from_str(host) {
            Ok(v) => v,
            Err(_) => service.host_header.clone(),
        },
        None => service.host_header.clone(),
    };
    let method_out = new_method.unwrap_or_else(|| method.clone());
    let u = wire::Upstream {
        method: method_out.as_str().as_bytes(),
        target: target.as_bytes(),
        client_ip: c.info.client_ip.as_bytes(),
        port: c.info.port_value.as_bytes(),
        host,
        xff: facts.xff,
        path,
        prefix,
        host_upstream: host_upstream.as_bytes(),
    };
    c.out.clear();
    match plugin_map {
        None => wire::request_head_raw(&mut c.out, raw_headers, &u),
        Some(mut map) => {
            if map.contains_key(header::CONNECTION) {
                headers::strip_hop_by_hop(&mut map);
            }
            wire::request_head_map(&mut c.out, &map, &u);
            header_map = map;
        }
    }
    header_map.clear();
    c.header_map = header_map;
    let idempotent = body_len == 0
        && matches!(
            method_out,
            Method::GET
                | Method::HEAD
                | Method::PUT
                | Method::DELETE
                | Method::OPTIONS
                | Method::TRACE
        );
    let at_hand = (c.inbuf.len() - end).min(usize::try_from(body_len).unwrap_or(usize::MAX));
    c.out
        .extend_from_slice(&c.inbuf.filled()[end..end + at_hand]);
    c.inbuf.consume(end + at_hand);

    let mut client = Client {
        stream: &mut c.stream,
        inbuf: &mut c.inbuf,
        remaining: body_len - at_hand as u64,
    };
    let sent = upstream::dispatch(
        service,
        &c.out,
        idempotent,
        &mut client,
        &mut c.upstream_deadline,
    )
    .await;
    let body_left = client.remaining > 0;
    let d = match sent {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(service.id = %service.id, route.id = %route.id, error = %e, "upstream request failed");
            let (status, message) = e.answer();
            let completion = Completion::new(c.proxy.recorder.clone(), record, started);
            let resp = answers::exit(
                completion,
                Exit::message(status.as_u16(), message),
                std::mem::take(&mut ctx.downstream),
            );
            return send_generated(c, resp, is_head, close || body_left).await;
        }
    };
    record.upstream_latency_ms = Some(d.upstream_latency.as_millis() as i64);
    let _in_flight = d.in_flight;
    let mut conn = d.conn;
    c.out.clear();
    let relay = Relay {
        head_request: is_head,
        close,
        downstream: &ctx.downstream,
    };
    let Some(rh) = wire::relay_head(&mut c.out, &conn.buf.filled()[..d.head_len], &relay) else {
        tracing::warn!(service.id = %service.id, route.id = %route.id, "upstream request failed: invalid response head");
        let completion = Completion::new(c.proxy.recorder.clone(), record, started);
        let resp = answers::exit(
            completion,
            Exit::message(
                502,
                "An invalid response was received from the upstream server",
            ),
            std::mem::take(&mut ctx.downstream),
        );
        return send_generated(c, resp, is_head, close).await;
    };
    conn.buf.consume(d.head_len);
    record.status = rh.status;
    let (bytes, complete) = relay_body(c, &mut conn, rh.body, service.timeouts.read).await;
    // No log phase on this path, so no `Completion` (and no per-request clone of the shared
    // recorder: four atomic writes both workers contend for).
    Completion::record(&c.proxy.recorder, record, started, bytes);
    if complete && rh.reusable && conn.buf.is_empty() {
        balancer.targets[d.target].pool.raw_release(conn);
    }
    if complete && !close {
        Step::Next
    } else {
        Step::Close
    }
}

/// Fills `map` (emptied first) with the request's headers. The values share one copy of the
/// head instead of a copy each: one allocation per request, not one per header.
fn fill_header_map(map: &mut HeaderMap, head: &[u8], raw: &[httparse::Header<'_>]) -> Option<()> {
    map.clear();
    // Room for what plugins add (the consumer headers) without growing the map mid-request.
    map.reserve(raw.len() + 6);
    let shared = bytes::Bytes::copy_from_slice(head);
    let base = head.as_ptr() as usize;
    for h in raw {
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        // httparse's values are slices of `head`; anything else (an empty value may not be)
        // is copied.
        let at = (h.value.as_ptr() as usize).wrapping_sub(base);
        let value = match at.checked_add(h.value.len()) {
            Some(to) if !h.value.is_empty() && to <= head.len() => {
                HeaderValue::from_maybe_shared(shared.slice(at..to))
            }
            _ => HeaderValue::from_bytes(h.value),
        };
        map.append(name, value.ok()?);
    }
    Some(())
}

/// Drops the request's head and body from the buffer; false when the body is not all there
/// (the connection then ends after the answer, as its next request cannot be found).
fn skip_body(c: &mut Conn, end: usize, body_len: u64) -> bool {
    let whole = u64::try_from(c.inbuf.len()).unwrap_or(u64::MAX) >= end as u64 + body_len;
    c.inbuf
        .consume(end + usize::try_from(body_len).unwrap_or(usize::MAX));
    whole
}

/// Sends a response the proxy made, as hyper would, and finishes its record.
async fn send_generated(
    c: &mut Conn,
    resp: Response<ProxyBody>,
    is_head: bool,
    close: bool,
) -> Step {
    let (parts, mut body) = resp.into_parts();
    let (bytes, completion) = body.take_full();
    c.out.clear();
    let relay = Relay {
        head_request: is_head,
        close,
        downstream: &[],
    };
    wire::generated(
        &mut c.out,
        parts.status.as_u16(),
        &parts.headers,
        &bytes,
        &relay,
    );
    let sent = c.stream.write_all(&c.out).await.is_ok();
    if let Some(done) = completion {
        done.finish(0);
    }
    if sent && !close {
        Step::Next
    } else {
        Step::Close
    }
}

/// Streams the response body after the head in `c.out`; returns the body bytes relayed and
/// whether the response ended cleanly (otherwise both connections are dropped).
async fn relay_body(
    c: &mut Conn,
    conn: &mut RawConn,
    body: Body,
    read_timeout: std::time::Duration,
) -> (u64, bool) {
    let mut bytes = 0u64;
    let mut chunks = Chunks::default();
    let mut left = match body {
        Body::Length(n) => n,
        _ => 0,
    };
    loop {
        let data = conn.buf.filled();
        let done = match body {
            Body::None => true,
            Body::Length(_) => {
                let take = data.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                c.out.extend_from_slice(&data[..take]);
                conn.buf.consume(take);
                left -= take as u64;
                bytes += take as u64;
                left == 0
            }
            Body::Chunked => match chunks.feed(data) {
                Ok(Some(k)) => {
                    c.out.extend_from_slice(&data[..k]);
                    conn.buf.consume(k);
                    bytes += k as u64;
                    true
                }
                Ok(None) => {
                    c.out.extend_from_slice(data);
                    bytes += data.len() as u64;
                    conn.buf.consume(usize::MAX);
                    false
                }
                Err(_) => {
                    let _ = c.stream.write_all(&c.out).await;
                    return (bytes, false);
                }
            },
            Body::Close => {
                if !data.is_empty() {
                    use std::io::Write as _;
                    let _ = write!(c.out, "{:x}\r\n", data.len());
                    c.out.extend_from_slice(data);
                    c.out.extend_from_slice(b"\r\n");
                    bytes += data.len() as u64;
                    conn.buf.consume(usize::MAX);
                }
                false
            }
        };
        if done || !c.out.is_empty() {
            if c.stream.write_all(&c.out).await.is_err() {
                return (bytes, false);
            }
            c.out.clear();
        }
        if done {
            return (bytes, true);
        }
        match upstream::read(
            &mut conn.io,
            &mut conn.buf,
            Some((&mut c.upstream_deadline, read_timeout)),
        )
        .await
        {
            Ok(0) if body == Body::Close => {
                let ended = c.stream.write_all(b"0\r\n\r\n").await.is_ok();
                return (bytes, ended);
            }
            Ok(0) | Err(_) => return (bytes, false),
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_used_as_sent() {
        let mut storage = [httparse::EMPTY_HEADER; 8];
        let mut req = httparse::Request::new(&mut storage);
        let raw = b"GET / HTTP/1.1\r\nHost: a:80\r\nX-Forwarded-For: 1.2.3.4\r\nConnection: close\r\n\r\n";
        assert!(req.parse(raw).is_ok_and(|s| s.is_complete()));
        let f: head::Facts<'_> = head::facts(req.headers).expect("plain");
        assert_eq!(
            (f.host, f.xff, f.close),
            (Some("a:80"), Some("1.2.3.4"), true)
        );
    }
}
