//! Runtime groups and node credentials, for the console and the Admin API alike.

use uuid::Uuid;

use super::Result;
use crate::domain::now_secs;
use crate::domain::runtime::{DpCredential, RuntimeGroup, RuntimeGroupInput};
use crate::security;
use crate::store::{Store, StoreError};
use crate::web_error::WebError;

/// Konnect's limit on data-plane certificates per group.
pub const MAX_CREDENTIALS_PER_GROUP: usize = 16;

fn name_conflict(e: StoreError, name: &str) -> WebError {
    match e {
        StoreError::Unique { column, .. } if column == "name" => WebError::Unique {
            field: "name".into(),
            value: name.into(),
        },
        other => other.into(),
    }
}

pub async fn create_group(store: &Store, input: &RuntimeGroupInput) -> Result<RuntimeGroup> {
    store
        .insert_runtime_group(input)
        .await
        .map_err(|e| name_conflict(e, &input.name))
}

pub async fn update_group(
    store: &Store,
    id: Uuid,
    input: &RuntimeGroupInput,
) -> Result<RuntimeGroup> {
    store
        .update_runtime_group(id, input)
        .await
        .map_err(|e| name_conflict(e, &input.name))
}

pub async fn delete_group(store: &Store, id: Uuid) -> Result<()> {
    match store.delete_runtime_group(id).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(WebError::NotFound),
        Err(StoreError::ForeignKey) => Err(WebError::BadRequest(
            "the default runtime group cannot be deleted".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Issues a credential for `group`, valid for `days`; the token is returned once and only its
/// hash is kept.
pub async fn issue_credential(
    store: &Store,
    group: Uuid,
    name: &str,
    days: i64,
) -> Result<(DpCredential, String)> {
    let active = store
        .list_dp_credentials(group)
        .await?
        .iter()
        .filter(|c| c.revoked_at.is_none())
        .count();
    if active >= MAX_CREDENTIALS_PER_GROUP {
        return Err(WebError::BadRequest(format!(
            "a runtime group holds at most {MAX_CREDENTIALS_PER_GROUP} unrevoked node credentials; revoke or delete one first"
        )));
    }
    let token = format!("ghdp_{}", security::random_hex(24));
    let cred = store
        .insert_dp_credential(
            group,
            name,
            &security::hash_token(&token),
            now_secs() + days * 86_400,
        )
        .await?;
    Ok((cred, token))
}

/// Extends a credential to `days` from now; a revoked credential stays revoked.
pub async fn renew_credential(
    store: &Store,
    group: Uuid,
    id: Uuid,
    days: i64,
) -> Result<DpCredential> {
    store
        .update_dp_credential(group, id, Some(now_secs() + days * 86_400), false)
        .await?
        .ok_or(WebError::NotFound)
}

pub async fn revoke_credential(store: &Store, group: Uuid, id: Uuid) -> Result<DpCredential> {
    store
        .update_dp_credential(group, id, None, true)
        .await?
        .ok_or(WebError::NotFound)
}
