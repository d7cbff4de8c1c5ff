-- Runtime Manager: group labels, data-plane credentials, runtime instances (nodes), per-node
-- traffic, and the telemetry batches already ingested (so a batch a node resends after a lost
-- acknowledgement is not counted twice).
ALTER TABLE runtime_groups ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';

CREATE TABLE dp_credentials (
    id TEXT PRIMARY KEY,
    runtime_group_id TEXT NOT NULL REFERENCES runtime_groups(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
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
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    connected INTEGER NOT NULL DEFAULT 0,
    embedded INTEGER NOT NULL DEFAULT 0,
    problem TEXT NOT NULL DEFAULT ''
);
CREATE INDEX runtime_instances_group ON runtime_instances(runtime_group_id);

CREATE TABLE node_traffic (
    minute INTEGER NOT NULL,
    node_id TEXT NOT NULL,
    count INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    PRIMARY KEY (minute, node_id)
);

CREATE TABLE telemetry_batches (
    id TEXT PRIMARY KEY,
    node_id TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX telemetry_batches_received ON telemetry_batches(received_at);
