//! Kong's prometheus plugin: per service and route (and consumer, with `per_consumer`) request
//! counts by status code and source, latency histograms (Kong, upstream, total) and bandwidth,
//! under Kong's metric names and buckets. Counted in the log phase into one registry kept for
//! the life of the proxy; `/metrics` appends it to Gatehouse's own metrics.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::context::Names;
use super::{Handler, LogEntry, Runtime, Shared};
use crate::domain::Plugin;

const KONG_BUCKETS: &[i64] = &[
    1, 2, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 750, 1000, 3000, 6000,
];
const UPSTREAM_BUCKETS: &[i64] = &[
    25, 50, 80, 100, 250, 400, 700, 1000, 2000, 5000, 10000, 30000, 60000,
];
const KEY: &str = "prometheus";

#[derive(Default, Clone)]
struct Histogram {
    buckets: Vec<u64>,
    count: u64,
    sum: i64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[i64], v: i64) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; bounds.len()];
        }
        self.count += 1;
        self.sum += v;
        if let Some(i) = bounds.iter().position(|b| v <= *b) {
            self.buckets[i] += 1;
        }
    }
}

/// (service, route, code, source, consumer)
type StatusKey = (String, String, u16, &'static str, String);
/// (service, route, direction, consumer)
type BandwidthKey = (String, String, &'static str, String);

#[derive(Default)]
struct Series {
    status: BTreeMap<StatusKey, u64>,
    /// (service, route) → Kong, upstream, total latency.
    latency: BTreeMap<(String, String), [Histogram; 3]>,
    bandwidth: BTreeMap<BandwidthKey, u64>,
}

#[derive(Default)]
pub struct Registry {
    series: Mutex<Series>,
}

pub struct Prometheus {
    registry: Arc<Registry>,
    per_consumer: bool,
    status: bool,
    latency: bool,
    bandwidth: bool,
    names: Arc<Names>,
}

pub fn build(p: &Plugin, shared: &Shared, runtime: &Runtime) -> Result<Arc<dyn Handler>, String> {
    let flag = |k: &str| p.config.get(k).and_then(Value::as_bool).unwrap_or(false);
    Ok(Arc::new(Prometheus {
        registry: runtime.get(KEY, Registry::default),
        per_consumer: flag("per_consumer"),
        status: flag("status_code_metrics"),
        latency: flag("latency_metrics"),
        bandwidth: flag("bandwidth_metrics"),
        names: shared.names(),
    }))
}

impl Handler for Prometheus {
    fn name(&self) -> &'static str {
        "prometheus"
    }
    fn priority(&self) -> i32 {
        13
    }
    fn wants_log(&self) -> bool {
        self.status || self.latency || self.bandwidth
    }
    fn log(&self, e: &LogEntry) {
        let service = e
            .service_id
            .and_then(|id| self.names.name_of(id))
            .unwrap_or_default();
        let route = e
            .route_id
            .and_then(|id| self.names.name_of(id))
            .unwrap_or_default();
        let consumer = match (&e.consumer, self.per_consumer) {
            (Some(c), true) => c
                .username
                .clone()
                .or(c.custom_id.clone())
                .unwrap_or_else(|| c.consumer_id.to_string()),
            _ => String::new(),
        };
        let mut s = self
            .registry
            .series
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if self.status {
            // A response the upstream did not send came from Kong (a plugin or the proxy).
            let source = if e.upstream_latency_ms.is_some() {
                "service"
            } else {
                "kong"
            };
            *s.status
                .entry((
                    service.clone(),
                    route.clone(),
                    e.status,
                    source,
                    consumer.clone(),
                ))
                .or_insert(0) += 1;
        }
        if self.latency {
            let h = s
                .latency
                .entry((service.clone(), route.clone()))
                .or_default();
            let upstream = e.upstream_latency_ms.unwrap_or(0);
            h[0].observe(KONG_BUCKETS, (e.latency_ms - upstream).max(0));
            if let Some(u) = e.upstream_latency_ms {
                h[1].observe(UPSTREAM_BUCKETS, u);
            }
            h[2].observe(UPSTREAM_BUCKETS, e.latency_ms);
        }
        if self.bandwidth {
            *s.bandwidth
                .entry((service.clone(), route.clone(), "ingress", consumer.clone()))
                .or_insert(0) += e.request_size;
            *s.bandwidth
                .entry((service, route, "egress", consumer))
                .or_insert(0) += e.response_size;
        }
    }
}

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The plugin's metrics in the text exposition format (empty until the plugin counted
/// something).
pub fn render(runtime: &Runtime) -> String {
    let registry = runtime.get(KEY, Registry::default);
    let s = registry.series.lock().unwrap_or_else(|p| p.into_inner());
    let mut out = String::new();
    if !s.status.is_empty() {
        out.push_str("# HELP kong_http_requests_total HTTP status codes per consumer/service/route in Kong\n# TYPE kong_http_requests_total counter\n");
        for ((svc, route, code, source, consumer), n) in &s.status {
            let _ = writeln!(
                out,
                "kong_http_requests_total{{service=\"{}\",route=\"{}\",code=\"{code}\",source=\"{source}\",workspace=\"default\",consumer=\"{}\"}} {n}",
                esc(svc), esc(route), esc(consumer)
            );
        }
    }
    if !s.latency.is_empty() {
        let names = [
            (
                "kong_kong_latency_ms",
                "Latency added by Kong and enabled plugins for each service/route in Kong",
                KONG_BUCKETS,
            ),
            (
                "kong_upstream_latency_ms",
                "Latency added by upstream response for each service/route in Kong",
                UPSTREAM_BUCKETS,
            ),
            (
                "kong_request_latency_ms",
                "Total latency incurred during requests for each service/route in Kong",
                UPSTREAM_BUCKETS,
            ),
        ];
        for (i, (name, help, bounds)) in names.iter().enumerate() {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            for ((svc, route), hs) in &s.latency {
                let h = &hs[i];
                if h.count == 0 {
                    continue;
                }
                let labels = format!(
                    "service=\"{}\",route=\"{}\",workspace=\"default\"",
                    esc(svc),
                    esc(route)
                );
                let mut cumulative = 0;
                for (b, n) in bounds.iter().zip(&h.buckets) {
                    cumulative += n;
                    let _ = writeln!(
                        out,
                        "{name}_bucket{{{labels},le=\"{b:05}.0\"}} {cumulative}"
                    );
                }
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
                let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum);
            }
        }
    }
    if !s.bandwidth.is_empty() {
        out.push_str("# HELP kong_bandwidth_bytes Total bandwidth (ingress/egress) throughput in bytes\n# TYPE kong_bandwidth_bytes counter\n");
        for ((svc, route, dir, consumer), n) in &s.bandwidth {
            let _ = writeln!(
                out,
                "kong_bandwidth_bytes{{service=\"{}\",route=\"{}\",direction=\"{dir}\",workspace=\"default\",consumer=\"{}\"}} {n}",
                esc(svc), esc(route), esc(consumer)
            );
        }
    }
    out
}
