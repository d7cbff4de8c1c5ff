-- Gateway services and routes join every other Kong entity in `entities`. A route refers to its
-- service through `ref_id` (no cascade: deleting a service that routes still use is refused, as
-- Kong does); route names stay unique in the whole installation (Konnect's rule).
ALTER TABLE entities ADD COLUMN ref_id TEXT REFERENCES entities(id);
INSERT INTO entities (id, runtime_group_id, kind, scope, parent_id, name, created_at, body, seq, tags, ref_id)
    SELECT id, runtime_group_id, 'services', '', NULL, name, created_at, body, seq, tags, NULL
    FROM gateway_services;
INSERT INTO entities (id, runtime_group_id, kind, scope, parent_id, name, created_at, body, seq, tags, ref_id)
    SELECT id, runtime_group_id, 'routes', '', NULL, name, created_at, body, seq, tags, service_id
    FROM routes;
CREATE UNIQUE INDEX entities_route_names ON entities(name) WHERE kind = 'routes';
CREATE INDEX entities_ref ON entities(ref_id);

CREATE TABLE service_versions_new (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES catalog_services(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    runtime_group_id TEXT NOT NULL REFERENCES runtime_groups(id),
    gateway_service_id TEXT UNIQUE REFERENCES entities(id) ON DELETE SET NULL,
    status TEXT NOT NULL DEFAULT 'published',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (service_id, runtime_group_id, name)
);
INSERT INTO service_versions_new SELECT id, service_id, name, runtime_group_id, gateway_service_id,
    status, created_at, updated_at FROM service_versions;
DROP TABLE service_versions;
ALTER TABLE service_versions_new RENAME TO service_versions;
DROP TABLE routes;
DROP TABLE gateway_services;
