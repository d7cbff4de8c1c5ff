//! Console users, Admin API tokens (stored as SHA-256 hashes) and installation secrets.

use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use super::{uuid_col, Store, StoreError, StoreResult};
use crate::domain::now_secs;

#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub password_hash: String,
}

#[derive(Debug, Clone)]
pub struct AdminToken {
    pub id: Uuid,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl Store {
    pub fn count_users(&self) -> StoreResult<i64> {
        Ok(self
            .lock()
            .query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?)
    }

    pub fn insert_user(&self, email: &str, password_hash: &str) -> StoreResult<User> {
        let user = User {
            id: Uuid::new_v4(),
            email: email.to_string(),
            password_hash: password_hash.to_string(),
        };
        self.lock()
            .execute(
                "INSERT INTO users (id, email, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![
                    user.id.to_string(),
                    user.email,
                    user.password_hash,
                    now_secs()
                ],
            )
            .map_err(StoreError::classify)?;
        Ok(user)
    }

    pub fn get_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        Ok(self
            .lock()
            .query_row(
                "SELECT id, email, password_hash FROM users WHERE email = ?1",
                [email],
                |r| {
                    Ok(User {
                        id: uuid_col(r.get(0)?)?,
                        email: r.get(1)?,
                        password_hash: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn get_user(&self, id: Uuid) -> StoreResult<Option<User>> {
        Ok(self
            .lock()
            .query_row(
                "SELECT id, email, password_hash FROM users WHERE id = ?1",
                [id.to_string()],
                |r| {
                    Ok(User {
                        id: uuid_col(r.get(0)?)?,
                        email: r.get(1)?,
                        password_hash: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn insert_admin_token(
        &self,
        name: &str,
        token_hash: &str,
        created_by: Option<Uuid>,
    ) -> StoreResult<AdminToken> {
        let t = AdminToken {
            id: Uuid::new_v4(),
            name: name.to_string(),
            created_at: now_secs(),
            last_used_at: None,
        };
        self.lock()
            .execute(
                "INSERT INTO admin_tokens (id, name, token_hash, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![t.id.to_string(), t.name, token_hash, created_by.map(|u| u.to_string()), t.created_at],
            )
            .map_err(StoreError::classify)?;
        Ok(t)
    }

    /// Finds the token with this hash and records its use.
    pub fn use_admin_token(&self, token_hash: &str) -> StoreResult<Option<Uuid>> {
        let conn = self.lock();
        let id: Option<String> = conn
            .query_row(
                "SELECT id FROM admin_tokens WHERE token_hash = ?1",
                [token_hash],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = &id {
            conn.execute(
                "UPDATE admin_tokens SET last_used_at = ?1 WHERE id = ?2",
                params![now_secs(), id],
            )?;
        }
        id.map(uuid_col).transpose().map_err(StoreError::from)
    }

    pub fn list_admin_tokens(&self) -> StoreResult<Vec<AdminToken>> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT id, name, created_at, last_used_at FROM admin_tokens ORDER BY created_at DESC",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(AdminToken {
                    id: uuid_col(r.get(0)?)?,
                    name: r.get(1)?,
                    created_at: r.get(2)?,
                    last_used_at: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn delete_admin_token(&self, id: Uuid) -> StoreResult<bool> {
        Ok(self
            .lock()
            .execute("DELETE FROM admin_tokens WHERE id = ?1", [id.to_string()])?
            > 0)
    }

    /// Returns the secret stored under `key`, creating it with `make` on first use.
    pub fn get_or_create_secret(
        &self,
        key: &str,
        make: impl FnOnce() -> String,
    ) -> StoreResult<String> {
        let conn = self.lock();
        if let Some(v) = conn
            .query_row("SELECT value FROM secrets WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?
        {
            return Ok(v);
        }
        let value = make();
        conn.execute(
            "INSERT INTO secrets (key, value) VALUES (?1, ?2)",
            params![key, value],
        )?;
        Ok(value)
    }
}
