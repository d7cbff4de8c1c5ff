-- Rollups and histograms are keyed by runtime group too: requests that matched no route (route
-- and version '') from different groups no longer share a row.
CREATE TABLE request_rollups_new (
    minute INTEGER NOT NULL,
    runtime_group_id TEXT NOT NULL,
    service_id TEXT NOT NULL,
    route_id TEXT NOT NULL,
    version_id TEXT NOT NULL,
    status INTEGER NOT NULL,
    count INTEGER NOT NULL,
    latency_ms_sum INTEGER NOT NULL,
    upstream_latency_ms_sum INTEGER NOT NULL DEFAULT 0,
    bytes_in INTEGER NOT NULL DEFAULT 0,
    bytes_out INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, runtime_group_id, route_id, version_id, status)
);
INSERT INTO request_rollups_new SELECT minute, runtime_group_id, service_id, route_id, version_id, status,
    count, latency_ms_sum, upstream_latency_ms_sum, bytes_in, bytes_out FROM request_rollups;
DROP TABLE request_rollups;
ALTER TABLE request_rollups_new RENAME TO request_rollups;
CREATE INDEX request_rollups_version ON request_rollups(version_id, minute);
CREATE INDEX request_rollups_minute ON request_rollups(minute);
CREATE INDEX request_rollups_service ON request_rollups(service_id, minute);
CREATE INDEX request_rollups_group ON request_rollups(runtime_group_id, minute);

CREATE TABLE latency_buckets_new (
    minute INTEGER NOT NULL,
    runtime_group_id TEXT NOT NULL,
    service_id TEXT NOT NULL,
    route_id TEXT NOT NULL,
    version_id TEXT NOT NULL,
    status_class INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (minute, runtime_group_id, route_id, version_id, status_class, bucket)
);
INSERT INTO latency_buckets_new SELECT minute, runtime_group_id, service_id, route_id, version_id,
    status_class, bucket, count FROM latency_buckets;
DROP TABLE latency_buckets;
ALTER TABLE latency_buckets_new RENAME TO latency_buckets;
CREATE INDEX latency_buckets_version ON latency_buckets(version_id, minute);
CREATE INDEX latency_buckets_service ON latency_buckets(service_id, minute);
CREATE INDEX latency_buckets_group ON latency_buckets(runtime_group_id, minute);
