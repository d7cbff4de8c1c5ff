//! The hyper service every connection hyper serves answers with (`forward::handle`), shared by
//! the listener (`server.rs`) and the fast path's hand-off (`fast.rs`).

use std::convert::Infallible;
use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;

use super::body::ProxyBody;
use super::forward::{self, ConnInfo};
use super::state::Proxy;

/// A client that has not sent a whole request head by then is dropped (slowloris).
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

type ServiceFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Response<ProxyBody>, Infallible>> + Send>,
>;

pub fn service(
    proxy: Arc<Proxy>,
    info: Arc<ConnInfo>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<ProxyBody>,
    Error = Infallible,
    Future = ServiceFuture,
> + Clone {
    service_fn(move |req| {
        let proxy = proxy.clone();
        let info = info.clone();
        // The scanner stops checking a connection once a request asks to switch protocols
        // (what follows may not be HTTP); unless the switch happens, the connection ends.
        let upgrading = info.verdicts.upgrade_requested();
        Box::pin(async move {
            let mut resp = forward::handle(proxy, req, info).await;
            if upgrading && resp.status() != http::StatusCode::SWITCHING_PROTOCOLS {
                resp.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
            }
            Ok(resp)
        }) as ServiceFuture
    })
}
