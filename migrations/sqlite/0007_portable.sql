-- Portable ordering and tag filters, so the same queries run on SQLite and PostgreSQL: `seq`
-- replaces SQLite's rowid as the insertion order, and `tags` holds an entity's tags as
-- ",a,b," (Kong's tags never hold a comma) instead of being read from the JSON body.
ALTER TABLE gateway_services ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE gateway_services ADD COLUMN tags TEXT NOT NULL DEFAULT '';
UPDATE gateway_services SET seq = rowid,
    tags = COALESCE((SELECT ',' || group_concat(value, ',') || ',' FROM json_each(body, '$.tags')), '');
ALTER TABLE routes ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE routes ADD COLUMN tags TEXT NOT NULL DEFAULT '';
UPDATE routes SET seq = rowid,
    tags = COALESCE((SELECT ',' || group_concat(value, ',') || ',' FROM json_each(body, '$.tags')), '');
ALTER TABLE entities ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE entities ADD COLUMN tags TEXT NOT NULL DEFAULT '';
UPDATE entities SET seq = rowid,
    tags = COALESCE((SELECT ',' || group_concat(value, ',') || ',' FROM json_each(body, '$.tags')), '');
ALTER TABLE request_record_blocks ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE request_record_blocks SET seq = rowid;
CREATE UNIQUE INDEX users_email_lower ON users(lower(email));
