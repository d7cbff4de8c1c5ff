//! The built-in echo upstream, a stand-in for mockbin so the walkthrough works offline:
//! `/` homepage, `/request` echo as JSON, `/status/{code}`, `/delay/{ms}`. Tests also run it in
//! "reflect" mode, where every path echoes, as the loopback upstreams of the routing cases.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

const HOMEPAGE: &str = include_str!("../templates/echo_home.html");
const MAX_ECHO_BODY: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// mockbin-like: a homepage at `/`, echo at `/request`.
    Mockbin,
    /// every path echoes the request (test upstreams).
    Reflect,
}

pub async fn serve(listener: TcpListener, mode: Mode, mut shutdown: watch::Receiver<bool>) {
    let local = listener.local_addr().ok();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let svc = service_fn(move |req| async move { Ok::<_, Infallible>(handle(req, mode, local).await) });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
            _ = shutdown.changed() => break,
        }
    }
}

async fn handle(
    req: Request<Incoming>,
    mode: Mode,
    local: Option<SocketAddr>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    if mode == Mode::Mockbin {
        if path == "/" && req.method() != hyper::Method::POST {
            return respond(StatusCode::OK, "text/html; charset=utf-8", HOMEPAGE.into());
        }
        if let Some(code) = path.strip_prefix("/status/") {
            let code = code
                .trim_end_matches('/')
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok());
            return match code {
                Some(c) => respond(
                    c,
                    "application/json",
                    json!({"code": c.as_u16(), "message": c.canonical_reason().unwrap_or("")})
                        .to_string(),
                ),
                None => respond(
                    StatusCode::BAD_REQUEST,
                    "application/json",
                    json!({"message": "status must be a number between 100 and 999"}).to_string(),
                ),
            };
        }
        if let Some(ms) = path.strip_prefix("/delay/") {
            let Ok(ms) = ms.trim_end_matches('/').parse::<u64>() else {
                return respond(
                    StatusCode::BAD_REQUEST,
                    "application/json",
                    json!({"message": "delay must be milliseconds"}).to_string(),
                );
            };
            tokio::time::sleep(std::time::Duration::from_millis(ms.min(600_000))).await;
            return respond(
                StatusCode::OK,
                "application/json",
                json!({"delay": ms}).to_string(),
            );
        }
        if !(path == "/request" || path.starts_with("/request/")) {
            return respond(
                StatusCode::NOT_FOUND,
                "application/json",
                json!({"message": "Not found", "path": path}).to_string(),
            );
        }
    }
    echo(req, local).await
}

async fn echo(req: Request<Incoming>, local: Option<SocketAddr>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        let v = Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned());
        match headers.get_mut(name.as_str()) {
            Some(Value::Array(a)) => a.push(v),
            Some(prev) => *prev = Value::Array(vec![prev.clone(), v]),
            None => {
                headers.insert(name.as_str().to_string(), v);
            }
        }
    }
    let body = match Limited::new(body, MAX_ECHO_BODY).collect().await {
        Ok(b) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
        Err(_) => {
            return respond(
                StatusCode::PAYLOAD_TOO_LARGE,
                "application/json",
                json!({"message": "body too large to echo"}).to_string(),
            )
        }
    };
    let out = json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query().unwrap_or(""),
        "headers": headers,
        "body": body,
        "server": local.map(|a| a.to_string()),
    });
    respond(StatusCode::OK, "application/json", out.to_string())
}

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    r
}
