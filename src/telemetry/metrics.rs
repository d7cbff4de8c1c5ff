//! Prometheus metrics, computed by the telemetry writer from the request records it drains, so
//! the proxy's hot path pays nothing extra. Rendered in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use uuid::Uuid;

use super::RequestRecord;

const BUCKETS_MS: [i64; 12] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS_MS.len()],
    count: u64,
    sum_ms: i64,
}

#[derive(Default)]
struct Series {
    requests: BTreeMap<(Option<Uuid>, Option<Uuid>, u16), u64>,
    latency: BTreeMap<(Option<Uuid>, Option<Uuid>), Histogram>,
}

#[derive(Default)]
pub struct Metrics {
    series: Mutex<Series>,
    /// Data-plane nodes streaming from this control plane right now.
    pub remote_nodes: std::sync::atomic::AtomicU64,
}

/// Point-in-time values the registry does not own.
pub struct Gauges<'a> {
    pub config_version: u64,
    pub config_hash: &'a str,
    pub records_dropped: u64,
    pub connected_nodes: u64,
    /// (upstream id, target, state) for every target the proxy balances over.
    pub target_health: Vec<(Uuid, String, &'static str)>,
}

fn label(id: Option<Uuid>) -> String {
    id.map(|u| u.to_string()).unwrap_or_else(|| "none".into())
}

impl Metrics {
    pub fn observe(&self, records: &[RequestRecord]) {
        let mut s = self.series.lock().unwrap_or_else(|p| p.into_inner());
        // One map lookup per run of records with the same labels (the usual batch is a few
        // long runs), not per record.
        let labels = |r: &RequestRecord| (r.service_id, r.route_id, r.status);
        for run in records.chunk_by(|a, b| labels(a) == labels(b)) {
            let (service, route, status) = labels(&run[0]);
            *s.requests.entry((service, route, status)).or_insert(0) += run.len() as u64;
            let h = s.latency.entry((service, route)).or_default();
            for r in run {
                h.count += 1;
                h.sum_ms += r.latency_ms;
                if let Some(i) = BUCKETS_MS.iter().position(|b| r.latency_ms <= *b) {
                    h.buckets[i] += 1;
                }
            }
        }
    }

    pub fn render(&self, g: &Gauges<'_>) -> String {
        let s = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP gatehouse_http_requests_total Requests proxied, by gateway service, route and status code.\n");
        out.push_str("# TYPE gatehouse_http_requests_total counter\n");
        for ((service, route, code), n) in &s.requests {
            let _ = writeln!(
                out,
                "gatehouse_http_requests_total{{service=\"{}\",route=\"{}\",code=\"{code}\"}} {n}",
                label(*service),
                label(*route)
            );
        }
        out.push_str("# HELP gatehouse_request_latency_ms Total request latency in milliseconds, by gateway service and route.\n");
        out.push_str("# TYPE gatehouse_request_latency_ms histogram\n");
        for ((service, route), h) in &s.latency {
            let labels = format!(
                "service=\"{}\",route=\"{}\"",
                label(*service),
                label(*route)
            );
            let mut cumulative = 0;
            for (le, n) in BUCKETS_MS.iter().zip(h.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "gatehouse_request_latency_ms_bucket{{{labels},le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "gatehouse_request_latency_ms_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "gatehouse_request_latency_ms_sum{{{labels}}} {}",
                h.sum_ms
            );
            let _ = writeln!(
                out,
                "gatehouse_request_latency_ms_count{{{labels}}} {}",
                h.count
            );
        }
        let _ = write!(
            out,
            "# HELP gatehouse_config_version Version of the configuration the proxy serves.\n\
             # TYPE gatehouse_config_version gauge\ngatehouse_config_version {}\n\
             # HELP gatehouse_config_info The configuration hash the proxy serves.\n\
             # TYPE gatehouse_config_info gauge\ngatehouse_config_info{{hash=\"{}\"}} 1\n\
             # HELP gatehouse_telemetry_records_dropped_total Request records dropped because the telemetry queue was full.\n\
             # TYPE gatehouse_telemetry_records_dropped_total counter\ngatehouse_telemetry_records_dropped_total {}\n\
             # HELP gatehouse_connected_nodes Gateway nodes serving this control plane's configuration.\n\
             # TYPE gatehouse_connected_nodes gauge\ngatehouse_connected_nodes {}\n",
            g.config_version, g.config_hash, g.records_dropped, g.connected_nodes
        );
        out.push_str("# HELP gatehouse_upstream_target_health Target health as the proxy sees it: 1 for the current state.\n");
        out.push_str("# TYPE gatehouse_upstream_target_health gauge\n");
        for (upstream, target, state) in &g.target_health {
            for s in ["healthy", "unhealthy", "healthchecks_off"] {
                let _ = writeln!(
                    out,
                    "gatehouse_upstream_target_health{{upstream=\"{upstream}\",target=\"{}\",state=\"{s}\"}} {}",
                    target.replace(['"', '\\'], "_"),
                    u8::from(*state == s)
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_cumulative_buckets() {
        let m = Metrics::default();
        let route = Some(Uuid::nil());
        let rec = |status, latency_ms| RequestRecord {
            ts_ms: 0,
            runtime_group_id: Uuid::nil(),
            service_id: None,
            route_id: route,
            version_id: None,
            consumer_id: None,
            method: http::Method::GET,
            status,
            latency_ms,
            upstream_latency_ms: None,
            bytes_in: 0,
            bytes_out: 0,
        };
        m.observe(&[rec(200, 1), rec(200, 7), rec(404, 30_000)]);
        let text = m.render(&Gauges {
            config_version: 3,
            config_hash: "abc",
            records_dropped: 0,
            connected_nodes: 1,
            target_health: vec![(Uuid::nil(), "10.0.0.1:80".into(), "unhealthy")],
        });
        let r = Uuid::nil();
        assert!(text.contains(&format!(
            "gatehouse_http_requests_total{{service=\"none\",route=\"{r}\",code=\"200\"}} 2"
        )));
        assert!(text.contains(&format!(
            "gatehouse_http_requests_total{{service=\"none\",route=\"{r}\",code=\"404\"}} 1"
        )));
        assert!(text.contains(&format!(
            "gatehouse_request_latency_ms_bucket{{service=\"none\",route=\"{r}\",le=\"1\"}} 1"
        )));
        assert!(text.contains(&format!(
            "gatehouse_request_latency_ms_bucket{{service=\"none\",route=\"{r}\",le=\"10\"}} 2"
        )));
        assert!(text.contains(&format!(
            "gatehouse_request_latency_ms_bucket{{service=\"none\",route=\"{r}\",le=\"5000\"}} 2"
        )));
        assert!(text.contains(&format!(
            "gatehouse_request_latency_ms_bucket{{service=\"none\",route=\"{r}\",le=\"+Inf\"}} 3"
        )));
        assert!(text.contains("gatehouse_config_version 3\n"));
        let nil = Uuid::nil();
        assert!(text.contains(&format!(
            "gatehouse_upstream_target_health{{upstream=\"{nil}\",target=\"10.0.0.1:80\",state=\"unhealthy\"}} 1"
        )));
        assert!(text.contains(&format!(
            "gatehouse_upstream_target_health{{upstream=\"{nil}\",target=\"10.0.0.1:80\",state=\"healthy\"}} 0"
        )));
    }
}
