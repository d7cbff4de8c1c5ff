-- Gatehouse schema v1. Kong entities keep their full JSON in `body`; the columns beside it are the
-- ones SQL must index or constrain (names, foreign keys, ordering).
CREATE TABLE runtime_groups (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    is_default INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE gateway_services (
    id TEXT PRIMARY KEY,
    runtime_group_id TEXT NOT NULL REFERENCES runtime_groups(id),
    name TEXT,
    created_at INTEGER NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (runtime_group_id, name)
);

CREATE TABLE routes (
    id TEXT PRIMARY KEY,
    runtime_group_id TEXT NOT NULL REFERENCES runtime_groups(id),
    name TEXT UNIQUE,
    service_id TEXT REFERENCES gateway_services(id),
    created_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX routes_service ON routes(service_id);

CREATE TABLE catalog_services (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE service_versions (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES catalog_services(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    runtime_group_id TEXT NOT NULL REFERENCES runtime_groups(id),
    gateway_service_id TEXT UNIQUE REFERENCES gateway_services(id) ON DELETE SET NULL,
    status TEXT NOT NULL DEFAULT 'published',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (service_id, runtime_group_id, name)
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE admin_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_by TEXT,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER
);

CREATE TABLE secrets (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE request_rollups (
    minute INTEGER NOT NULL,
    runtime_group_id TEXT NOT NULL,
    service_id TEXT NOT NULL,
    route_id TEXT NOT NULL,
    version_id TEXT NOT NULL,
    status INTEGER NOT NULL,
    count INTEGER NOT NULL,
    latency_ms_sum INTEGER NOT NULL,
    PRIMARY KEY (minute, route_id, version_id, status)
);
CREATE INDEX request_rollups_version ON request_rollups(version_id, minute);

CREATE TABLE request_records (
    ts_ms INTEGER NOT NULL,
    runtime_group_id TEXT NOT NULL,
    service_id TEXT,
    route_id TEXT,
    version_id TEXT,
    method TEXT NOT NULL,
    status INTEGER NOT NULL,
    latency_ms INTEGER NOT NULL,
    upstream_latency_ms INTEGER,
    bytes_in INTEGER NOT NULL,
    bytes_out INTEGER NOT NULL
);
CREATE INDEX request_records_ts ON request_records(ts_ms);
