-- Configuration versions keep the configuration deflated (`config_z`): a 10,000-route group's
-- JSON is megabytes and a history keeps hundreds of versions. Rows written before keep their
-- JSON in `config`; new rows leave it empty.
ALTER TABLE config_versions ADD COLUMN config_z BYTEA;
