-- Analytics: per-minute latency histograms beside the rollups (fixed buckets, see
-- src/telemetry/histogram.rs), so percentiles can be computed over any window without samples;
-- rollups also keep upstream latency and bytes, and get the indexes the console's queries use.
CREATE TABLE latency_buckets (
    minute INTEGER NOT NULL,
    runtime_group_id TEXT NOT NULL,
    service_id TEXT NOT NULL,
    route_id TEXT NOT NULL,
    version_id TEXT NOT NULL,
    status_class INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (minute, route_id, version_id, status_class, bucket)
);
CREATE INDEX latency_buckets_version ON latency_buckets(version_id, minute);
CREATE INDEX latency_buckets_service ON latency_buckets(service_id, minute);
CREATE INDEX latency_buckets_group ON latency_buckets(runtime_group_id, minute);

ALTER TABLE request_rollups ADD COLUMN upstream_latency_ms_sum INTEGER NOT NULL DEFAULT 0;
ALTER TABLE request_rollups ADD COLUMN bytes_in INTEGER NOT NULL DEFAULT 0;
ALTER TABLE request_rollups ADD COLUMN bytes_out INTEGER NOT NULL DEFAULT 0;
CREATE INDEX request_rollups_minute ON request_rollups(minute);
CREATE INDEX request_rollups_service ON request_rollups(service_id, minute);
CREATE INDEX request_rollups_group ON request_rollups(runtime_group_id, minute);
CREATE INDEX node_traffic_minute ON node_traffic(minute);
