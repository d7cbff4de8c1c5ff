//! What the generic storage, service layer and Admin API need to know about a Kong entity kind
//! (all kept as JSON in the shared `entities` table): its kind name, its unique name (if any)
//! and where that name is unique, its owner (a target's upstream, an SNI's certificate), what
//! it refers to (a route's service) and how to build it from input with Kong's defaults.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::FieldErrors;

pub trait Entity: Serialize + DeserializeOwned + Clone + PartialEq + Send + 'static {
    /// The kind as Kong names its collection: `upstreams`, `targets`, `certificates`, …
    const KIND: &'static str;
    /// Its top-level Admin API path segment (`key-auths` for `keyauth_credentials`).
    const PATH: &'static str = Self::KIND;
    /// Its path segment nested under its owner (`/consumers/{c}/key-auth`).
    const NESTED_PATH: &'static str = Self::PATH;
    /// The field that holds the unique name Kong looks entities up by (`name`, `target`), if any.
    const NAME_FIELD: Option<&'static str>;
    /// Whether names are unique per parent (targets in an upstream) rather than per group.
    const SCOPED_BY_PARENT: bool = false;
    /// Whether names are unique in the whole installation rather than per group (Konnect's
    /// route names).
    const NAME_UNIQUE_IN_INSTALL: bool = false;

    fn id(&self) -> Uuid;
    fn created_at(&self) -> i64;
    /// The value unique within the runtime group (or within the parent when there is one).
    fn unique_name(&self) -> Option<String>;
    /// Where its unique name is unique, besides the runtime group: the owner's id for kinds
    /// scoped by parent, a plugin's route/service/consumer, nothing otherwise.
    fn scope(&self) -> String {
        match (Self::SCOPED_BY_PARENT, self.parent()) {
            (true, Some(p)) => p.to_string(),
            _ => String::new(),
        }
    }
    /// The entity that owns this one: deleting the owner deletes it (an upstream's targets).
    fn parent(&self) -> Option<Uuid> {
        None
    }
    /// An entity this one refers to without being owned by it (a route's service): deleting
    /// that one is refused while this one exists.
    fn reference(&self) -> Option<Uuid> {
        None
    }

    /// Builds the entity from `input` laid over `base` (PATCH) or nothing (POST/PUT).
    fn from_input(
        id: Uuid,
        now: i64,
        parent: Option<Uuid>,
        base: Option<&Self>,
        input: &Map<String, Value>,
    ) -> Result<Self, FieldErrors>;

    fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// `base` as a JSON object with `input` laid over it; nested objects merge key by key, so a
/// PATCH of `healthchecks.active.timeout` keeps the rest of `healthchecks`.
pub fn merged<T: Serialize>(base: Option<&T>, input: &Map<String, Value>) -> Map<String, Value> {
    let mut out = match base.map(serde_json::to_value) {
        Some(Ok(Value::Object(m))) => m,
        _ => Map::new(),
    };
    deep_merge(&mut out, input);
    out
}

pub fn deep_merge(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
        match (into.get_mut(k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => deep_merge(a, b),
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}
