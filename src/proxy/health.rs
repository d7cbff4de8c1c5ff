//! Active health checks: probes each target of every Upstream object whose checks are on, at the
//! interval its current health asks for (Kong's `healthy.interval` / `unhealthy.interval`), and
//! feeds the results into the same health cells the balancers read. Runs on the background
//! runtime, never on a proxy worker.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{header, HeaderValue, Request};
use http_body_util::{Either, Full};
use tokio::sync::watch;
use uuid::Uuid;

use super::balancer::{Balancer, Outcome};
use super::pool::Timeouts;
use super::state::Proxy;
use crate::domain::upstream::ActiveCheck;

const TICK: Duration = Duration::from_millis(100);

pub async fn run_active_checks(proxy: Arc<Proxy>, mut shutdown: watch::Receiver<bool>) {
    let mut due: HashMap<(Uuid, String), Instant> = HashMap::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let cfg = proxy.current();
        let now = Instant::now();
        let mut seen = Vec::new();
        for b in &cfg.balancers {
            let Some(check) = &b.active else { continue };
            for (i, t) in b.targets.iter().enumerate() {
                let interval = if t.health.is_healthy() {
                    check.healthy.interval
                } else {
                    check.unhealthy.interval
                }
                .unwrap_or(0.0);
                if interval <= 0.0 {
                    continue;
                }
                let key = (b.upstream_id, t.name.clone());
                seen.push(key.clone());
                let next = due.entry(key).or_insert(now);
                if *next > now {
                    continue;
                }
                *next = now + Duration::from_secs_f64(interval);
                tokio::spawn(probe(b.clone(), i, check.clone()));
            }
        }
        due.retain(|k, _| seen.contains(k));
    }
}

/// One probe: connect (TCP, TLS when the upstream speaks https), and for http checks send
/// `GET http_path` and classify the status.
async fn probe(b: Arc<Balancer>, index: usize, check: ActiveCheck) {
    let Some(target) = b.targets.get(index) else {
        return;
    };
    let timeout = Duration::from_secs_f64(check.timeout.max(0.001));
    let t = Timeouts {
        connect: timeout,
        read: timeout,
        write: timeout,
    };
    let outcome = match tokio::time::timeout(timeout, target.pool.connect(t)).await {
        Err(_) => Some(Outcome::Timeout),
        Ok(Err(e)) if e.is_timeout() => Some(Outcome::Timeout),
        Ok(Err(_)) => Some(Outcome::TcpFailure),
        Ok(Ok(_)) if check.kind == "tcp" => Some(Outcome::Success),
        Ok(Ok(mut sender)) => {
            let mut req = Request::new(Either::Right(Full::default()));
            *req.uri_mut() = check
                .http_path
                .parse()
                .unwrap_or_else(|_| http::Uri::from_static("/"));
            let host = target.name.clone();
            if let Ok(v) = HeaderValue::from_str(&host) {
                req.headers_mut().insert(header::HOST, v);
            }
            for (name, values) in check
                .headers
                .as_ref()
                .and_then(|h| h.as_object())
                .into_iter()
                .flatten()
            {
                let Ok(name) = http::HeaderName::from_bytes(name.as_bytes()) else {
                    continue;
                };
                for v in values
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str())
                {
                    if let Ok(v) = HeaderValue::from_str(v) {
                        req.headers_mut().append(name.clone(), v);
                    }
                }
            }
            match tokio::time::timeout(timeout, sender.send_request(req)).await {
                Err(_) => Some(Outcome::Timeout),
                Ok(Err(_)) => Some(Outcome::TcpFailure),
                Ok(Ok(resp)) => b.active_thresholds.classify(resp.status().as_u16()),
            }
        }
    };
    if let Some(outcome) = outcome {
        if b.active_thresholds.counts_anything()
            && target.health.report(outcome, &b.active_thresholds)
        {
            tracing::warn!(upstream.id = %b.upstream_id, upstream.target = ?target.name, healthy = target.health.is_healthy(), "target health changed (active check)");
        }
    }
}
