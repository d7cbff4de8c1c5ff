-- Console sessions kept on the server: the browser's cookie carries a random id, the table its
-- SHA-256 hash. Logout, a password change and "sign out everywhere" delete rows, so a copied
-- cookie stops working at once; idle and absolute timeouts are checked on every request.
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions(user_id);
