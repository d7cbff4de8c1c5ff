//! Console users and Admin API tokens.

use uuid::Uuid;

use super::{Result, ServiceError};
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

/// The token with this hash, if any; records when it was used.
pub async fn authenticate_token(store: &Store, token_hash: &str) -> Result<Option<Uuid>> {
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
