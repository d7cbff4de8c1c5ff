//! Console users and Admin API tokens.

use uuid::Uuid;

use super::{Result, ServiceError};
use crate::domain::now_secs;
use crate::security;
use crate::store::{AdminToken, Store, TokenSeed, User};

/// The organization's first admin (the setup page); `None` when someone was first already.
pub async fn create_first_admin(store: &Store, email: &str, hash: &str) -> Result<Option<User>> {
    Ok(store.insert_first_user(email, hash).await?)
}

/// A seeded user (GATEHOUSE_ADMIN_EMAIL), created when no user has that email yet.
pub async fn ensure_user(store: &Store, email: &str, hash: &str) -> Result<bool> {
    if store.get_user_by_email(email).await?.is_some() {
        return Ok(false);
    }
    store.insert_user(email, hash).await?;
    Ok(true)
}

/// The token with this hash (its id and name), if any; records when it was used.
pub async fn authenticate_token(store: &Store, token_hash: &str) -> Result<Option<(Uuid, String)>> {
    Ok(store.use_admin_token(token_hash).await?)
}

/// Registers a seeded token (GATEHOUSE_BOOTSTRAP_TOKEN) the first time it is seen, and never
/// again: a token revoked once stays revoked across restarts.
pub async fn seed_token_once(store: &Store, name: &str, token_hash: &str) -> Result<TokenSeed> {
    Ok(store.seed_token_once(name, token_hash).await?)
}

/// Registers a token by its hash; the token itself is never stored.
pub async fn create_token(
    store: &Store,
    name: &str,
    token_hash: &str,
    created_by: Option<Uuid>,
) -> Result<AdminToken> {
    Ok(store
        .insert_admin_token(name, token_hash, created_by)
        .await?)
}

pub async fn delete_token(store: &Store, id: Uuid) -> Result<()> {
    if store.delete_admin_token(id).await? {
        Ok(())
    } else {
        Err(ServiceError::NotFound)
    }
}

/// How long a console session lives: ended after `idle_secs` without a request, and after
/// `max_age_secs` whatever happens.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    pub idle_secs: i64,
    pub max_age_secs: i64,
}

/// Starts a console session for `user`; returns the id the browser keeps (the store keeps only
/// its hash).
pub async fn start_session(store: &Store, user: Uuid) -> Result<String> {
    let id = security::random_hex(32);
    store
        .insert_session(&security::hash_token(&id), user, now_secs())
        .await?;
    Ok(id)
}

/// The user of a live session, or `None` when it ended (logged out, revoked, timed out).
pub async fn check_session(store: &Store, id: &str, limits: SessionLimits) -> Result<Option<User>> {
    let now = now_secs();
    Ok(store
        .touch_session(
            &security::hash_token(id),
            now,
            now - limits.idle_secs,
            now - limits.max_age_secs,
        )
        .await?)
}

pub async fn end_session(store: &Store, id: &str) -> Result<()> {
    Ok(store.delete_session(&security::hash_token(id)).await?)
}

/// Ends every session of `user` (sign out everywhere); returns how many there were.
pub async fn end_all_sessions(store: &Store, user: Uuid) -> Result<u64> {
    Ok(store.delete_user_sessions(user).await?)
}

/// Stores a new password hash and ends every session of the user.
pub async fn change_password(store: &Store, user: Uuid, password_hash: &str) -> Result<()> {
    store.update_password(user, password_hash).await?;
    store.delete_user_sessions(user).await?;
    Ok(())
}
