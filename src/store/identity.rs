//! Console users, Admin API tokens (stored as SHA-256 hashes) and installation secrets.

use sqlx::any::AnyRow;
use uuid::Uuid;

use super::db::{classify, RowExt};
use super::{Store, StoreResult};
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

fn user_row(r: &AnyRow) -> StoreResult<User> {
    Ok(User {
        id: r.uuid(0)?,
        email: r.text(1)?,
        password_hash: r.text(2)?,
    })
}

/// What seeding a token found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSeed {
    /// Registered now.
    Created,
    /// Already registered and not revoked.
    Active,
    /// Registered once and revoked since: left revoked.
    Retired,
}

impl Store {
    /// Registers a seeded token the first time its hash is seen, remembering that it was, in
    /// one transaction.
    pub async fn seed_token_once(&self, name: &str, token_hash: &str) -> StoreResult<TokenSeed> {
        let mut tx = self.begin().await?;
        let active: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM admin_tokens WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_one(&mut *tx)
                .await?;
        if active > 0 {
            return Ok(TokenSeed::Active);
        }
        let marker = format!("seeded_token:{token_hash}");
        let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM secrets WHERE key = $1")
            .bind(&marker)
            .fetch_one(&mut *tx)
            .await?;
        if seen > 0 {
            return Ok(TokenSeed::Retired);
        }
        sqlx::query(
            "INSERT INTO admin_tokens (id, name, token_hash, created_by, created_at) VALUES ($1, $2, $3, NULL, $4)",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(name)
        .bind(token_hash)
        .bind(now_secs())
        .execute(&mut *tx)
        .await
        .map_err(|e| classify(e, "admin_tokens"))?;
        sqlx::query("INSERT INTO secrets (key, value) VALUES ($1, $2)")
            .bind(&marker)
            .bind(now_secs().to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(TokenSeed::Created)
    }

    pub async fn count_users(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(self.read())
            .await?)
    }

    pub async fn insert_user(&self, email: &str, password_hash: &str) -> StoreResult<User> {
        let user = User {
            id: Uuid::new_v4(),
            email: email.to_string(),
            password_hash: password_hash.to_string(),
        };
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(user.id.to_string())
        .bind(&user.email)
        .bind(&user.password_hash)
        .bind(now_secs())
        .execute(self.write_pool())
        .await
        .map_err(|e| classify(e, "users"))?;
        Ok(user)
    }

    /// Creates the first user, in one transaction that first checks there is none: two first
    /// visitors cannot both become the admin. `None` when a user already exists.
    pub async fn insert_first_user(
        &self,
        email: &str,
        password_hash: &str,
    ) -> StoreResult<Option<User>> {
        let mut tx = self.begin().await?;
        if self.backend() == super::Backend::Postgres {
            sqlx::query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await?;
        }
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&mut *tx)
            .await?;
        if n > 0 {
            return Ok(None);
        }
        let user = User {
            id: Uuid::new_v4(),
            email: email.to_string(),
            password_hash: password_hash.to_string(),
        };
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(user.id.to_string())
        .bind(&user.email)
        .bind(&user.password_hash)
        .bind(now_secs())
        .execute(&mut *tx)
        .await
        .map_err(|e| classify(e, "users"))?;
        tx.commit().await?;
        Ok(Some(user))
    }

    /// Emails match case-insensitively, as they were unique.
    pub async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        sqlx::query("SELECT id, email, password_hash FROM users WHERE lower(email) = lower($1)")
            .bind(email)
            .fetch_optional(self.read())
            .await?
            .as_ref()
            .map(user_row)
            .transpose()
    }

    pub async fn get_user(&self, id: Uuid) -> StoreResult<Option<User>> {
        sqlx::query("SELECT id, email, password_hash FROM users WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.read())
            .await?
            .as_ref()
            .map(user_row)
            .transpose()
    }

    pub async fn insert_admin_token(
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
        sqlx::query(
            "INSERT INTO admin_tokens (id, name, token_hash, created_by, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(t.id.to_string())
        .bind(&t.name)
        .bind(token_hash)
        .bind(created_by.map(|u| u.to_string()))
        .bind(t.created_at)
        .execute(self.write_pool())
        .await
        .map_err(|e| classify(e, "admin_tokens"))?;
        Ok(t)
    }

    /// Finds the token with this hash (its id and name) and records its use.
    pub async fn use_admin_token(&self, token_hash: &str) -> StoreResult<Option<(Uuid, String)>> {
        let id =
            sqlx::query("SELECT id, last_used_at, name FROM admin_tokens WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(self.read())
                .await?;
        let Some(row) = id else {
            return Ok(None);
        };
        let id = row.uuid(0)?;
        let now = now_secs();
        // Recorded at most once a second: a busy script must not turn every request into a write.
        if row.opt_int(1)? != Some(now) {
            sqlx::query("UPDATE admin_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id.to_string())
                .execute(self.write_pool())
                .await?;
        }
        Ok(Some((id, row.text(2)?)))
    }

    pub async fn list_admin_tokens(&self) -> StoreResult<Vec<AdminToken>> {
        let rows = sqlx::query(
            "SELECT id, name, created_at, last_used_at FROM admin_tokens ORDER BY created_at DESC, id",
        )
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AdminToken {
                    id: r.uuid(0)?,
                    name: r.text(1)?,
                    created_at: r.int(2)?,
                    last_used_at: r.opt_int(3)?,
                })
            })
            .collect()
    }

    pub async fn delete_admin_token(&self, id: Uuid) -> StoreResult<bool> {
        Ok(sqlx::query("DELETE FROM admin_tokens WHERE id = $1")
            .bind(id.to_string())
            .execute(self.write_pool())
            .await?
            .rows_affected()
            > 0)
    }

    /// Returns the secret stored under `key`, creating it with `make` on first use. Two control
    /// planes starting together on one database agree on the value: the first insert wins and
    /// the other reads it back.
    pub async fn get_or_create_secret(
        &self,
        key: &str,
        make: impl FnOnce() -> String,
    ) -> StoreResult<String> {
        const GET: &str = "SELECT value FROM secrets WHERE key = $1";
        if let Some(v) = sqlx::query_scalar::<_, String>(GET)
            .bind(key)
            .fetch_optional(self.read())
            .await?
        {
            return Ok(v);
        }
        sqlx::query(
            "INSERT INTO secrets (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(make())
        .execute(self.write_pool())
        .await?;
        sqlx::query_scalar::<_, String>(GET)
            .bind(key)
            .fetch_optional(self.write_pool())
            .await?
            .ok_or(super::StoreError::NotFound)
    }
}
