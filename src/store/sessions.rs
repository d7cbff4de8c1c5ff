//! Console sessions on the server: a row per signed-in browser, found by the hash of the id its
//! cookie carries.

use uuid::Uuid;

use super::db::RowExt;
use super::{Store, StoreResult, User};

impl Store {
    pub async fn insert_session(&self, id_hash: &str, user: Uuid, now: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, user_id, created_at, last_seen) VALUES ($1, $2, $3, $3)",
        )
        .bind(id_hash)
        .bind(user.to_string())
        .bind(now)
        .execute(self.write_pool())
        .await?;
        Ok(())
    }

    /// The session's user when the session exists, was used after `idle_since` and created
    /// after `created_since`; its last use moves to `now` (at most once a minute, so browsing
    /// is not a write per page). An expired session is deleted.
    pub async fn touch_session(
        &self,
        id_hash: &str,
        now: i64,
        idle_since: i64,
        created_since: i64,
    ) -> StoreResult<Option<User>> {
        let row = sqlx::query(
            "SELECT u.id, u.email, u.password_hash, s.created_at, s.last_seen FROM console_sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(self.read())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let (created, last) = (row.int(3)?, row.int(4)?);
        if created < created_since || last < idle_since {
            self.delete_session(id_hash).await?;
            return Ok(None);
        }
        if now - last >= 60 {
            sqlx::query("UPDATE console_sessions SET last_seen = $1 WHERE id_hash = $2")
                .bind(now)
                .bind(id_hash)
                .execute(self.write_pool())
                .await?;
        }
        Ok(Some(User {
            id: row.uuid(0)?,
            email: row.text(1)?,
            password_hash: row.text(2)?,
        }))
    }

    pub async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(self.write_pool())
            .await?;
        Ok(())
    }

    /// Ends every session of `user`; returns how many there were.
    pub async fn delete_user_sessions(&self, user: Uuid) -> StoreResult<u64> {
        Ok(
            sqlx::query("DELETE FROM console_sessions WHERE user_id = $1")
                .bind(user.to_string())
                .execute(self.write_pool())
                .await?
                .rows_affected(),
        )
    }

    pub async fn update_password(&self, user: Uuid, password_hash: &str) -> StoreResult<()> {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(user.to_string())
            .execute(self.write_pool())
            .await?;
        Ok(())
    }
}
