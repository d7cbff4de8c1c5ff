-- Raw request records move into blocks: one row per telemetry batch with the records encoded in
-- `data` (layout in src/store/analytics.rs). A row per request cost the writer most of its CPU at
-- proxy speed. Rollups are unchanged.
DROP TABLE request_records;
CREATE TABLE request_record_blocks (
    first_ts_ms INTEGER NOT NULL,
    last_ts_ms INTEGER NOT NULL,
    count INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX request_record_blocks_last ON request_record_blocks(last_ts_ms);
