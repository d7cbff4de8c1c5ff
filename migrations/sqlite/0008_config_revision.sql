-- One counter that every committed gateway-configuration change increases, so a process can
-- tell that another one (a second control plane, a CLI import) changed the configuration.
CREATE TABLE config_revision (
    id INTEGER PRIMARY KEY,
    revision BIGINT NOT NULL
);
INSERT INTO config_revision (id, revision) VALUES (1, 0);
