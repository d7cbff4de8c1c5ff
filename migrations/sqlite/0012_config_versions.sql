-- Configuration history: every committed change to a runtime group's gateway configuration is
-- one row, numbered with the configuration revision it committed as, with who made it and how,
-- the group's whole configuration after it (JSON) and that configuration's hash. `summary`
-- counts what changed per kind against the row before; `touched` (`,id,id,`) and `kinds`
-- (`,routes,plugins,`) let the history be filtered by entity without reading configurations.
CREATE TABLE config_versions (
    runtime_group_id TEXT NOT NULL REFERENCES runtime_groups(id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT,
    actor_name TEXT NOT NULL,
    channel TEXT NOT NULL,
    detail TEXT NOT NULL,
    summary TEXT NOT NULL,
    touched TEXT NOT NULL,
    kinds TEXT NOT NULL,
    hash TEXT NOT NULL,
    config TEXT NOT NULL,
    PRIMARY KEY (runtime_group_id, version)
);
CREATE INDEX config_versions_created ON config_versions(created_at);
