-- Gatehouse schema for PostgreSQL: the same tables as SQLite's migrations 0001-0007 end with.
-- Integers are BIGINT (the store reads every integer as i64), flags are 0/1 BIGINTs as on
-- SQLite, so one set of queries serves both backends. Kong entities keep their full JSON in
-- `body`; the columns beside it are what SQL must index or constrain.
CREATE TABLE runtime_groups (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    is_default BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE gateway_services (
    id TEXT PRIMARY KEY,
    runtime_group_id TEXT NOT NULL REFERENCES runtime_groups(id),
    name TEXT,
    created_at BIGINT NOT NULL,
    body TEXT NOT NULL,
    seq BIGINT NOT NULL DEFAULT 0,
    tags TEXT NOT NULL DEFAULT '',
    UNIQUE (runtime_group_id, name)
);

CREATE TABLE routes (
    id TEXT PRIMARY KEY,
    runtime_group_id TEXT NOT NULL REFERENCES runtime_groups(id),
    name TEXT UNIQUE,
    service_id TEXT REFERENCES gateway_services(id),
    created_at BIGINT NOT NULL,
    body TEXT NOT NULL,
    seq BIGINT NOT NULL DEFAULT 0,
    tags TEXT NOT NULL DEFAULT ''
);
CREATE INDEX routes_service ON routes(service_id);

CREATE TABLE entities (
    id TEXT PRIMARY KEY,
    runtime_group_id TEXT NOT NULL REFERENCES runtime_groups(id),
    kind TEXT NOT NULL,
    scope TEXT NOT NULL DEFAULT '',
    parent_id TEXT REFERENCES entities(id) ON DELETE CASCADE,
    name TEXT,
    created_at BIGINT NOT NULL,
    body TEXT NOT NULL,
    seq BIGINT NOT NULL DEFAULT 0,
    tags TEXT NOT NULL DEFAULT '',
    UNIQUE (runtime_group_id, kind, scope, name)
);
CREATE INDEX entities_kind ON entities(runtime_group_id, kind, created_at);
CREATE INDEX entities_parent ON entities(parent_id);

CREATE TABLE catalog_services (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE service_versions (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES catalog_services(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    runtime_group_id TEXT NOT NULL REFERENCES runtime_groups(id),
    gateway_service_id TEXT UNIQUE REFERENCES gateway_services(id) ON DELETE SET NULL,
    status TEXT NOT NULL DEFAULT 'published',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (service_id, runtime_group_id, name)
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_email_lower ON users(lower(email));

CREATE TABLE admin_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);

CREATE TABLE secrets (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE request_rollups (
    minute BIGINT NOT NULL,
    runtime_group_id TEXT NOT NULL,
    service_id TEXT NOT NULL,
    route_id TEXT NOT NULL,
    version_id TEXT NOT NULL,
    status BIGINT NOT NULL,
    count BIGINT NOT NULL,
    latency_ms_sum BIGINT NOT NULL,
    upstream_latency_ms_sum BIGINT NOT NULL DEFAULT 0,
    bytes_in BIGINT NOT NULL DEFAULT 0,
    bytes_out BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, runtime_group_id, route_id, version_id, status)
);
CREATE INDEX request_rollups_version ON request_rollups(version_id, minute);
CREATE INDEX request_rollups_minute ON request_rollups(minute);
CREATE INDEX request_rollups_service ON request_rollups(service_id, minute);
CREATE INDEX request_rollups_group ON request_rollups(runtime_group_id, minute);

CREATE TABLE latency_buckets (
    minute BIGINT NOT NULL,
    runtime_group_id TEXT NOT NULL,
    service_id TEXT NOT NULL,
    route_id TEXT NOT NULL,
    version_id TEXT NOT NULL,
    status_class BIGINT NOT NULL,
    bucket BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (minute, runtime_group_id, route_id, version_id, status_class, bucket)
);
CREATE INDEX latency_buckets_version ON latency_buckets(version_id, minute);
CREATE INDEX latency_buckets_service ON latency_buckets(service_id, minute);
CREATE INDEX latency_buckets_group ON latency_buckets(runtime_group_id, minute);

CREATE TABLE request_record_blocks (
    first_ts_ms BIGINT NOT NULL,
    last_ts_ms BIGINT NOT NULL,
    count BIGINT NOT NULL,
    data BYTEA NOT NULL,
    seq BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX request_record_blocks_last ON request_record_blocks(last_ts_ms);

CREATE TABLE dp_credentials (
    id TEXT PRIMARY KEY,
    runtime_group_id TEXT NOT NULL REFERENCES runtime_groups(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX dp_credentials_group ON dp_credentials(runtime_group_id);

-- runtime_group_id has no foreign key: deleting a group orphans its nodes, it does not forget them.
CREATE TABLE runtime_instances (
    id TEXT PRIMARY KEY,
    runtime_group_id TEXT NOT NULL,
    hostname TEXT NOT NULL,
    ip TEXT NOT NULL DEFAULT '',
    version TEXT NOT NULL DEFAULT '',
    config_hash TEXT NOT NULL DEFAULT '',
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    connected BIGINT NOT NULL DEFAULT 0,
    embedded BIGINT NOT NULL DEFAULT 0,
    problem TEXT NOT NULL DEFAULT ''
);
CREATE INDEX runtime_instances_group ON runtime_instances(runtime_group_id);

CREATE TABLE node_traffic (
    minute BIGINT NOT NULL,
    node_id TEXT NOT NULL,
    count BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    PRIMARY KEY (minute, node_id)
);
CREATE INDEX node_traffic_minute ON node_traffic(minute);

CREATE TABLE telemetry_batches (
    id TEXT PRIMARY KEY,
    node_id TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX telemetry_batches_received ON telemetry_batches(received_at);
