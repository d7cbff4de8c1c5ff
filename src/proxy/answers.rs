//! Responses the proxy makes itself: Kong's JSON errors, a plugin's exit, the https redirect.

use std::time::Instant;

use http::header::{self, HeaderValue};
use http::{Response, StatusCode, Uri};

use super::body::{Completion, ProxyBody};
use super::config::RouteTarget;
use super::state::Proxy;
use crate::plugins::{Exit, ExitBody};
use crate::telemetry::RequestRecord;

/// A request a plugin answered itself: its status, body and headers, plus the headers plugins
/// that ran before it added (rate-limit counters, CORS).
pub fn exit(
    completion: Completion,
    exit: Exit,
    downstream: Vec<(header::HeaderName, HeaderValue)>,
) -> Response<ProxyBody> {
    let mut completion = completion;
    completion.record.status = exit.status;
    let (body, content_type) = match exit.body {
        ExitBody::Message(m) => (
            bytes::Bytes::from(serde_json::json!({ "message": m }).to_string()),
            Some(JSON),
        ),
        ExitBody::Json(v) => (bytes::Bytes::from(v.to_string()), Some(JSON)),
        ExitBody::Raw(b) => (b, None),
        ExitBody::Empty => (bytes::Bytes::new(), None),
    };
    let mut resp = Response::new(ProxyBody::full(body, Some(completion)));
    *resp.status_mut() =
        StatusCode::from_u16(exit.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    if let Some(ct) = content_type {
        h.insert(header::CONTENT_TYPE, ct);
    }
    h.insert(header::SERVER, HeaderValue::from_static("gatehouse"));
    for (name, value) in downstream.into_iter().chain(exit.headers) {
        h.insert(name, value);
    }
    resp
}

/// A plugin's answer after the upstream already responded (its response phase failed, or
/// the body it asked for could not be read): the upstream's response is dropped.
pub fn exit_after(completion: Option<Completion>, e: Exit) -> Response<ProxyBody> {
    match completion {
        Some(c) => exit(c, e, Vec::new()),
        None => {
            let status =
                StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut resp = Response::new(ProxyBody::full(
                serde_json::json!({ "message": match e.body { ExitBody::Message(m) => m, _ => String::new() } }).to_string(),
                None,
            ));
            *resp.status_mut() = status;
            resp.headers_mut().insert(header::CONTENT_TYPE, JSON);
            resp
        }
    }
}

const JSON: HeaderValue = HeaderValue::from_static("application/json; charset=utf-8");

/// Kong's JSON error body: `{"message":"…"}`.
pub fn error(
    proxy: &Proxy,
    record: RequestRecord,
    started: Instant,
    status: StatusCode,
    message: &str,
) -> Response<ProxyBody> {
    exit(
        Completion::new(proxy.recorder.clone(), record, started),
        Exit::message(status.as_u16(), message),
        Vec::new(),
    )
}

/// An http request on an https-only route: 426, or a redirect with the route's status code.
pub fn https_required(
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
