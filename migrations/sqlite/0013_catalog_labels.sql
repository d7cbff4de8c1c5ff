-- Service Hub: catalog services carry Konnect's labels (at most 5 key:value pairs, JSON object).
ALTER TABLE catalog_services ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
