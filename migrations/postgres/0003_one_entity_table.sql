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
ALTER TABLE service_versions DROP CONSTRAINT service_versions_gateway_service_id_fkey;
ALTER TABLE service_versions ADD CONSTRAINT service_versions_gateway_service_id_fkey
    FOREIGN KEY (gateway_service_id) REFERENCES entities(id) ON DELETE SET NULL;
DROP TABLE routes;
DROP TABLE gateway_services;
