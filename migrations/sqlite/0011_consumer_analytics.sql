-- Rollups and histograms get the consumer a request authenticated as ('' for none), so the
-- Analytics page can filter by consumer; the consumer joins the keys.
CREATE TABLE request_rollups_new (
    minute BIGINT NOT NULL,
    runtime_group_id TEXT NOT NULL,
    service_id TEXT NOT NULL,
    route_id TEXT NOT NULL,
    version_id TEXT NOT NULL,
    consumer_id TEXT NOT NULL DEFAULT '',
    status BIGINT NOT NULL,
    count BIGINT NOT NULL,
    latency_ms_sum BIGINT NOT NULL,
    upstream_latency_ms_sum BIGINT NOT NULL DEFAULT 0,
    bytes_in BIGINT NOT NULL DEFAULT 0,
    bytes_out BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, runtime_group_id, route_id, version_id, consumer_id, status)
);
INSERT INTO request_rollups_new (minute, runtime_group_id, service_id, route_id, version_id, status,
    count, latency_ms_sum, upstream_latency_ms_sum, bytes_in, bytes_out)
  SELECT minute, runtime_group_id, service_id, route_id, version_id, status,
    count, latency_ms_sum, upstream_latency_ms_sum, bytes_in, bytes_out FROM request_rollups;
DROP TABLE request_rollups;
ALTER TABLE request_rollups_new RENAME TO request_rollups;
CREATE INDEX request_rollups_version ON request_rollups(version_id, minute);
CREATE INDEX request_rollups_minute ON request_rollups(minute);
CREATE INDEX request_rollups_service ON request_rollups(service_id, minute);
CREATE INDEX request_rollups_group ON request_rollups(runtime_group_id, minute);
CREATE INDEX request_rollups_consumer ON request_rollups(consumer_id, minute);

CREATE TABLE latency_buckets_new (
    minute BIGINT NOT NULL,
    runtime_group_id TEXT NOT NULL,
    service_id TEXT NOT NULL,
    route_id TEXT NOT NULL,
    version_id TEXT NOT NULL,
    consumer_id TEXT NOT NULL DEFAULT '',
    status_class BIGINT NOT NULL,
    bucket BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (minute, runtime_group_id, route_id, version_id, consumer_id, status_class, bucket)
);
INSERT INTO latency_buckets_new (minute, runtime_group_id, service_id, route_id, version_id,
    status_class, bucket, count)
  SELECT minute, runtime_group_id, service_id, route_id, version_id, status_class, bucket, count
  FROM latency_buckets;
DROP TABLE latency_buckets;
ALTER TABLE latency_buckets_new RENAME TO latency_buckets;
CREATE INDEX latency_buckets_version ON latency_buckets(version_id, minute);
CREATE INDEX latency_buckets_service ON latency_buckets(service_id, minute);
CREATE INDEX latency_buckets_group ON latency_buckets(runtime_group_id, minute);
