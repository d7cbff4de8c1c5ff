-- Rollups and histograms get the consumer a request authenticated as ('' for none), so the
-- Analytics page can filter by consumer; the consumer joins the keys.
ALTER TABLE request_rollups ADD COLUMN consumer_id TEXT NOT NULL DEFAULT '';
ALTER TABLE request_rollups DROP CONSTRAINT request_rollups_pkey;
ALTER TABLE request_rollups ADD PRIMARY KEY (minute, runtime_group_id, route_id, version_id, consumer_id, status);
CREATE INDEX request_rollups_consumer ON request_rollups(consumer_id, minute);
ALTER TABLE latency_buckets ADD COLUMN consumer_id TEXT NOT NULL DEFAULT '';
ALTER TABLE latency_buckets DROP CONSTRAINT latency_buckets_pkey;
ALTER TABLE latency_buckets ADD PRIMARY KEY (minute, runtime_group_id, route_id, version_id, consumer_id, status_class, bucket);
