//! Path extractors shared by the Admin API's handlers: which runtime group a request addresses
//! and the entity keys of its path.

use std::future::{ready, Ready};

use actix_web::{FromRequest, HttpRequest};
use uuid::Uuid;

use crate::store::{Store, StoreResult};

/// The runtime group a request addresses: the `{rg}` path segment (id or name) under
/// `/runtime-groups`, the default group everywhere else.
#[derive(Debug, Clone)]
pub struct GroupKey(Option<String>);

impl GroupKey {
    pub fn of(req: &HttpRequest) -> GroupKey {
        GroupKey(req.match_info().get("rg").map(str::to_string))
    }

    pub async fn id(&self, store: &Store) -> StoreResult<Uuid> {
        match &self.0 {
            None => Ok(store.get_default_group().await?.id),
            Some(key) => Ok(store.find_runtime_group(key).await?.id),
        }
    }
}

impl FromRequest for GroupKey {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(Ok(GroupKey::of(req)))
    }
}

/// The entity key of a one-key path (`/services/{service}`), also under a group scope where
/// `{rg}` comes first: the last path parameter other than `rg`.
pub struct Key(String);

impl Key {
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl FromRequest for Key {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let key = req
            .match_info()
            .iter()
            .filter(|(k, _)| *k != "rg")
            .last()
            .map(|(_, v)| v.to_string());
        ready(
            key.map(Key)
                .ok_or_else(|| actix_web::error::ErrorNotFound("missing path key")),
        )
    }
}

/// `/services/{service}/routes/{route}`: both keys, by name.
pub struct ServiceRoute(pub String, pub String);

impl ServiceRoute {
    pub fn into_inner(self) -> (String, String) {
        (self.0, self.1)
    }
}

impl FromRequest for ServiceRoute {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let m = req.match_info();
        ready(match (m.get("service"), m.get("route")) {
            (Some(s), Some(r)) => Ok(ServiceRoute(s.to_string(), r.to_string())),
            _ => Err(actix_web::error::ErrorNotFound("missing path keys")),
        })
    }
}
