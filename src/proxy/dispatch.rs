//! Sending a request upstream: the balancer picks a target, a failed connection moves on to
//! another, and only a request that can be replayed exactly is sent twice.

use std::net::SocketAddr;

use http::header::{self, HeaderValue};
use http::{Request, StatusCode, Uri};
use http_body_util::{Either, Full};

use super::balancer::{fnv, Algorithm, Balancer, HashKey, HashOn, Outcome, Target};
use super::body::InFlight;
use super::config::ServiceTarget;
use super::pool::{ClientBody, ProxyError, Sent};

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("no healthy target to send the request to")]
    NoTarget,
    #[error(transparent)]
    Proxy(#[from] ProxyError),
}

impl DispatchError {
    /// Kong's status and message for a request that could not be sent or answered upstream.
    pub fn answer(&self) -> (StatusCode, &'static str) {
        match self {
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
        }
    }
}

pub struct Dispatched {
    pub sent: Sent,
    pub upstream_latency: std::time::Duration,
    pub in_flight: Option<InFlight>,
}

/// Sends the request to a target the balancer picks, moving to another target when connecting
/// fails. A request whose bytes may have reached the upstream is only sent again when it can be
/// replayed exactly: an idempotent method without a body.
pub async fn dispatch(
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
    let mut req = Request::new(Either::Right(Full::default()));
    *req.method_mut() = r.method.clone();
    *req.uri_mut() = r.uri.clone();
    *req.headers_mut() = r.headers.clone();
    req
}

pub(super) fn report(balancer: &Balancer, target: &Target, outcome: Outcome, active: bool) {
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
pub fn hash_key<B>(
    b: &Balancer,
    req: &Request<B>,
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
