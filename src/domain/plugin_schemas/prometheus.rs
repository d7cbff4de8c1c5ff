use super::{Field, Group, Schema};

pub const SCHEMA: Schema = Schema {
    name: "prometheus",
    group: Group::Analytics,
    summary: "Expose Kong's request, latency and bandwidth metrics per service, route and consumer on /metrics.",
    fields: &[
        Field::boolean("per_consumer", false)
            .help("Fill the consumer label of request and bandwidth counters."),
        Field::boolean("status_code_metrics", false)
            .help("Count requests by status code (kong_http_requests_total)."),
        Field::boolean("ai_metrics", false),
        Field::boolean("latency_metrics", false)
            .help("Latency histograms: Kong, upstream and total."),
        Field::boolean("bandwidth_metrics", false).help("Bytes in and out (kong_bandwidth_bytes)."),
        Field::boolean("upstream_health_metrics", false),
        Field::boolean("wasm_metrics", false),
    ],
    consumer_allowed: false,
    checks: &[],
};
