//! Runtime groups, node credentials and runtime instances, for the console and the Admin API
//! alike.

use uuid::Uuid;

use super::{Result, ServiceError};
use crate::domain::now_secs;
use crate::domain::runtime::{DpCredential, RuntimeGroup, RuntimeGroupInput};
use crate::security;
use crate::store::{Store, StoreError};

/// Konnect's limit on data-plane certificates per group.
pub const MAX_CREDENTIALS_PER_GROUP: usize = 16;

fn name_conflict(e: StoreError, name: &str) -> ServiceError {
    match e {
        StoreError::Unique { column, .. } if column == "name" => ServiceError::Unique {
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
        Ok(false) => Err(ServiceError::NotFound),
        Err(StoreError::ForeignKey) => Err(ServiceError::Refused(
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
        return Err(ServiceError::Refused(format!(
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
        .ok_or(ServiceError::NotFound)
}

pub async fn revoke_credential(store: &Store, group: Uuid, id: Uuid) -> Result<DpCredential> {
    store
        .update_dp_credential(group, id, None, true)
        .await?
        .ok_or(ServiceError::NotFound)
}

pub async fn delete_credential(store: &Store, group: Uuid, id: Uuid) -> Result<()> {
    if store.delete_dp_credential(group, id).await? {
        Ok(())
    } else {
        Err(ServiceError::NotFound)
    }
}

/// Removes a node from the Runtime Instances table (it reappears if it connects again).
pub async fn forget_instance(store: &Store, group: Uuid, id: Uuid) -> Result<bool> {
    Ok(store.forget_instance(group, id).await?)
}
