//! The consumer credentials of Kong's basic-auth and acl plugins: a username and password
//! (`basicauth_credentials`; the password kept only as an argon2id hash) and the groups a
//! consumer belongs to (`acls`). Both are owned by a consumer and deleted with it.

use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::entity::merged;
use super::fields::{check_known, none_if_empty, Reader};
use super::gateway_service::{check_tags, ForeignKey};
use super::{Entity, FieldErrors};

const BASIC_AUTH_FIELDS: &[&str] = &["username", "password", "consumer", "tags"];
const ACL_FIELDS: &[&str] = &["group", "consumer", "tags"];

/// The consumer a credential belongs to: the path's consumer, else `{"consumer": {"id"}}` in
/// the body, else the stored one (PATCH). Removes `consumer` from `input`.
pub(super) fn owner(
    parent: Option<Uuid>,
    input: &mut Map<String, Value>,
    base: Option<Uuid>,
    errors: &mut FieldErrors,
) -> ForeignKey {
    let given = match input.remove("consumer") {
        Some(Value::Object(c)) => c
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok()),
        _ => None,
    };
    match parent.or(given).or(base) {
        Some(id) => ForeignKey { id },
        None => {
            errors.add("consumer", "required field missing");
            ForeignKey { id: Uuid::nil() }
        }
    }
}

/// A required, non-empty string field, with Kong's messages.
pub(super) fn required_string(r: &mut Reader<'_>, name: &str) -> Option<String> {
    match r.opt_string(name) {
        Some(s) if s.is_empty() => {
            r.errors.add(name, "length must be at least 1");
            None
        }
        Some(s) => Some(s),
        None => {
            // `add` keeps a first error ("expected a string") over this one.
            r.errors.add(name, "required field missing");
            None
        }
    }
}

/// argon2id with a random salt, in the PHC string format. The domain cannot reach
/// `crate::security` (its modules stay free of the rest of the crate), so this mirrors
/// `security::hash_password`; the plugin verifies with `security::verify_password`.
fn hash_password(password: &str) -> Option<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .ok()
        .map(|h| h.to_string())
}

/// A basic-auth credential. Kong's collection is `basicauth_credentials`, at `/basic-auths`
/// and `/consumers/{c}/basic-auth`; the username is unique in the group. `password` holds the
/// hash: a plaintext password never reaches storage, the snapshot or an Admin API answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasicAuthCredential {
    pub id: Uuid,
    pub created_at: i64,
    pub consumer: ForeignKey,
    pub username: String,
    pub password: String,
    pub tags: Option<Vec<String>>,
}

impl Entity for BasicAuthCredential {
    const KIND: &'static str = "basicauth_credentials";
    const PATH: &'static str = "basic-auths";
    const NESTED_PATH: &'static str = "basic-auth";
    const NAME_FIELD: Option<&'static str> = Some("username");

    fn id(&self) -> Uuid {
        self.id
    }
    fn created_at(&self) -> i64 {
        self.created_at
    }
    fn unique_name(&self) -> Option<String> {
        Some(self.username.clone())
    }
    fn parent(&self) -> Option<Uuid> {
        Some(self.consumer.id)
    }

    fn from_input(
        id: Uuid,
        now: i64,
        parent: Option<Uuid>,
        base: Option<&BasicAuthCredential>,
        input: &Map<String, Value>,
    ) -> Result<BasicAuthCredential, FieldErrors> {
        let mut errors = FieldErrors::new();
        check_known(input, BASIC_AUTH_FIELDS, &mut errors);
        let mut input = input.clone();
        let consumer = owner(parent, &mut input, base.map(|b| b.consumer.id), &mut errors);
        // Only a password given now is hashed; a PATCH without one keeps the stored hash.
        let given_password = input.contains_key("password");
        let m = merged(base, &input);
        let mut r = Reader::new(&m);
        let username = required_string(&mut r, "username");
        let password = required_string(&mut r, "password");
        let tags = none_if_empty(r.opt_string_array("tags"));
        for (k, v) in r.finish().0 {
            errors.add(k, v);
        }
        let password = match password {
            Some(p) if given_password => hash_password(&p).unwrap_or_else(|| {
                errors.add("password", "could not be hashed");
                String::new()
            }),
            Some(stored) => stored,
            None => String::new(),
        };
        check_tags(&tags, &mut errors);
        errors.into_result(BasicAuthCredential {
            id,
            created_at: base.map(|b| b.created_at).unwrap_or(now),
            consumer,
            username: username.unwrap_or_default(),
            password,
            tags,
        })
    }
}

/// A consumer's membership of an ACL group. Kong's collection is `acls`, at `/acls` and
/// `/consumers/{c}/acls`; a group is named once per consumer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    pub id: Uuid,
    pub created_at: i64,
    pub consumer: ForeignKey,
    pub group: String,
    pub tags: Option<Vec<String>>,
}

impl Entity for Acl {
    const KIND: &'static str = "acls";
    const NAME_FIELD: Option<&'static str> = Some("group");
    // Kong's cache key is (consumer, group): the same group for two consumers is fine.
    const SCOPED_BY_PARENT: bool = true;

    fn id(&self) -> Uuid {
        self.id
    }
    fn created_at(&self) -> i64 {
        self.created_at
    }
    fn unique_name(&self) -> Option<String> {
        Some(self.group.clone())
    }
    fn parent(&self) -> Option<Uuid> {
        Some(self.consumer.id)
    }

    fn from_input(
        id: Uuid,
        now: i64,
        parent: Option<Uuid>,
        base: Option<&Acl>,
        input: &Map<String, Value>,
    ) -> Result<Acl, FieldErrors> {
        let mut errors = FieldErrors::new();
        check_known(input, ACL_FIELDS, &mut errors);
        let mut input = input.clone();
        let consumer = owner(parent, &mut input, base.map(|b| b.consumer.id), &mut errors);
        let m = merged(base, &input);
        let mut r = Reader::new(&m);
        let group = required_string(&mut r, "group");
        let tags = none_if_empty(r.opt_string_array("tags"));
        for (k, v) in r.finish().0 {
            errors.add(k, v);
        }
        check_tags(&tags, &mut errors);
        errors.into_result(Acl {
            id,
            created_at: base.map(|b| b.created_at).unwrap_or(now),
            consumer,
            group: group.unwrap_or_default(),
            tags,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn basic_auth_passwords_are_stored_hashed_and_kept_on_patch() {
        let c = Uuid::from_u128(7);
        let cred = BasicAuthCredential::from_input(
            Uuid::from_u128(1),
            5,
            Some(c),
            None,
            &map(json!({ "username": "bob", "password": "kong" })),
        )
        .expect("valid");
        assert!(cred.password.starts_with("$argon2id$"), "{}", cred.password);
        assert_eq!(cred.consumer.id, c);
        let patched = BasicAuthCredential::from_input(
            cred.id,
            6,
            None,
            Some(&cred),
            &map(json!({ "username": "bobby" })),
        )
        .expect("valid");
        assert_eq!(patched.password, cred.password);
        assert_eq!(patched.created_at, 5);
        let rehashed = BasicAuthCredential::from_input(
            cred.id,
            6,
            None,
            Some(&cred),
            &map(json!({ "password": "kong" })),
        )
        .expect("valid");
        assert_ne!(rehashed.password, cred.password, "a fresh salt");
    }

    #[test]
    fn basic_auth_and_acl_errors_match_kong() {
        let e = BasicAuthCredential::from_input(
            Uuid::nil(),
            1,
            Some(Uuid::from_u128(7)),
            None,
            &map(json!({ "password": "x", "nope": 1 })),
        )
        .expect_err("invalid");
        assert_eq!(e.get("username"), Some("required field missing"));
        assert_eq!(e.get("nope"), Some("unknown field"));
        let e = Acl::from_input(Uuid::nil(), 1, None, None, &map(json!({ "group": "" })))
            .expect_err("invalid");
        assert_eq!(e.get("group"), Some("length must be at least 1"));
        assert_eq!(e.get("consumer"), Some("required field missing"));
    }
}
