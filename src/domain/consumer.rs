//! Kong's Consumer and the credentials that identify one: key-auth keys for now. A consumer has
//! a username or a custom_id (or both), each unique in its runtime group.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::entity::merged;
use super::fields::{check_known, none_if_empty, Reader};
use super::gateway_service::{check_tags, ForeignKey};
use super::{Entity, FieldErrors};

const CONSUMER_FIELDS: &[&str] = &["username", "custom_id", "tags"];
const KEY_AUTH_FIELDS: &[&str] = &["key", "consumer", "tags", "ttl"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consumer {
    pub id: Uuid,
    pub created_at: i64,
    pub updated_at: i64,
    pub username: Option<String>,
    pub custom_id: Option<String>,
    pub tags: Option<Vec<String>>,
}

impl Entity for Consumer {
    const KIND: &'static str = "consumers";
    const NAME_FIELD: Option<&'static str> = Some("username");

    fn id(&self) -> Uuid {
        self.id
    }
    fn created_at(&self) -> i64 {
        self.created_at
    }
    fn unique_name(&self) -> Option<String> {
        self.username.clone()
    }

    fn from_input(
        id: Uuid,
        now: i64,
        _parent: Option<Uuid>,
        base: Option<&Consumer>,
        input: &Map<String, Value>,
    ) -> Result<Consumer, FieldErrors> {
        let mut errors = FieldErrors::new();
        check_known(input, CONSUMER_FIELDS, &mut errors);
        let m = merged(base, input);
        let mut r = Reader::new(&m);
        let username = r.opt_string("username").filter(|s| !s.is_empty());
        let custom_id = r.opt_string("custom_id").filter(|s| !s.is_empty());
        let tags = none_if_empty(r.opt_string_array("tags"));
        for (k, v) in r.finish().0 {
            errors.add(k, v);
        }
        if username.is_none() && custom_id.is_none() {
            errors.add(
                "@entity",
                "at least one of these fields must be non-empty: 'custom_id', 'username'",
            );
        }
        check_tags(&tags, &mut errors);
        errors.into_result(Consumer {
            id,
            created_at: base.map(|b| b.created_at).unwrap_or(now),
            updated_at: now,
            username,
            custom_id,
            tags,
        })
    }
}

/// A key-auth credential: the key a client sends (generated when not given), owned by a
/// consumer. Kong's collection is `keyauth_credentials`, at `/key-auths` and
/// `/consumers/{c}/key-auth` in the Admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyAuthCredential {
    pub id: Uuid,
    pub created_at: i64,
    pub consumer: ForeignKey,
    pub key: String,
    pub ttl: Option<i64>,
    pub tags: Option<Vec<String>>,
}

impl Entity for KeyAuthCredential {
    const KIND: &'static str = "keyauth_credentials";
    const PATH: &'static str = "key-auths";
    const NESTED_PATH: &'static str = "key-auth";
    const NAME_FIELD: Option<&'static str> = Some("key");

    fn id(&self) -> Uuid {
        self.id
    }
    fn created_at(&self) -> i64 {
        self.created_at
    }
    fn unique_name(&self) -> Option<String> {
        Some(self.key.clone())
    }
    fn parent(&self) -> Option<Uuid> {
        Some(self.consumer.id)
    }

    fn from_input(
        id: Uuid,
        now: i64,
        parent: Option<Uuid>,
        base: Option<&KeyAuthCredential>,
        input: &Map<String, Value>,
    ) -> Result<KeyAuthCredential, FieldErrors> {
        let mut errors = FieldErrors::new();
        check_known(input, KEY_AUTH_FIELDS, &mut errors);
        let mut input = input.clone();
        let given_consumer = match input.remove("consumer") {
            Some(Value::Object(c)) => c
                .get("id")
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok()),
            _ => None,
        };
        let m = merged(base, &input);
        let mut r = Reader::new(&m);
        let key = r.opt_string("key").filter(|k| !k.is_empty());
        let ttl = m
            .get("ttl")
            .filter(|v| !v.is_null())
            .map(|_| r.int("ttl", 0, 0, 100_000_000));
        let tags = none_if_empty(r.opt_string_array("tags"));
        for (k, v) in r.finish().0 {
            errors.add(k, v);
        }
        // Kong generates a key when none is given.
        let key = key.unwrap_or_else(|| Uuid::new_v4().simple().to_string());
        if key.chars().any(|c| c.is_control()) {
            errors.add("key", "invalid value");
        }
        let consumer = match parent.or(given_consumer).or(base.map(|b| b.consumer.id)) {
            Some(id) => ForeignKey { id },
            None => {
                errors.add("consumer", "required field missing");
                ForeignKey { id: Uuid::nil() }
            }
        };
        check_tags(&tags, &mut errors);
        errors.into_result(KeyAuthCredential {
            id,
            created_at: base.map(|b| b.created_at).unwrap_or(now),
            consumer,
            key,
            ttl,
            tags,
        })
    }
}
