-- Kong entities beyond services and routes (upstreams, targets, certificates, SNIs, CA
-- certificates) share one table: the full JSON in `body`, and beside it what SQL must
-- constrain. `scope` is the parent's id where names are unique per parent (a target within its
-- upstream) and '' where they are unique in the whole runtime group (upstream names, SNIs).
CREATE TABLE entities (
    id TEXT PRIMARY KEY,
    runtime_group_id TEXT NOT NULL REFERENCES runtime_groups(id),
    kind TEXT NOT NULL,
    scope TEXT NOT NULL DEFAULT '',
    parent_id TEXT REFERENCES entities(id) ON DELETE CASCADE,
    name TEXT,
    created_at INTEGER NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (runtime_group_id, kind, scope, name)
);
CREATE INDEX entities_kind ON entities(runtime_group_id, kind, created_at);
CREATE INDEX entities_parent ON entities(parent_id);
