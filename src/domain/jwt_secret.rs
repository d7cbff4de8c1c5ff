//! The consumer credential of Kong's jwt plugin (`jwt_secrets`): a key that tokens name (in
//! their `iss` claim by default), the algorithm they must be signed with, and the HMAC secret
//! or the public key that checks them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::credentials::{owner, required_string};
use super::entity::merged;
use super::fields::{check_known, none_if_empty, Reader};
use super::gateway_service::{check_tags, ForeignKey};
use super::{Entity, FieldErrors};

const JWT_FIELDS: &[&str] = &[
    "key",
    "secret",
    "rsa_public_key",
    "algorithm",
    "consumer",
    "tags",
];

/// The algorithms this build verifies (Kong also lists PS*, ES384, ES512 and EdDSA; they are
/// refused here rather than stored and never verified).
pub const JWT_ALGORITHMS: &[&str] = &[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256",
];

/// Whether `pem` is a public key the algorithm can use: an RSA key (SPKI or PKCS#1) for RS*,
/// a P-256 key for ES256.
pub fn valid_public_key(algorithm: &str, pem: &str) -> bool {
    use p256::pkcs8::DecodePublicKey;
    if algorithm.starts_with("RS") {
        use rsa::pkcs1::DecodeRsaPublicKey;
        rsa::RsaPublicKey::from_public_key_pem(pem).is_ok()
            || rsa::RsaPublicKey::from_pkcs1_pem(pem).is_ok()
    } else {
        p256::PublicKey::from_public_key_pem(pem).is_ok()
    }
}

/// A jwt credential. Kong's collection is `jwt_secrets`, at `/jwts` and `/consumers/{c}/jwt`;
/// the key is unique in the group. Kong generates the key and the secret when they are not
/// given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtSecret {
    pub id: Uuid,
    pub created_at: i64,
    pub consumer: ForeignKey,
    pub key: String,
    pub secret: String,
    pub rsa_public_key: Option<String>,
    pub algorithm: String,
    pub tags: Option<Vec<String>>,
}

impl Entity for JwtSecret {
    const KIND: &'static str = "jwt_secrets";
    const PATH: &'static str = "jwts";
    const NESTED_PATH: &'static str = "jwt";
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
        base: Option<&JwtSecret>,
        input: &Map<String, Value>,
    ) -> Result<JwtSecret, FieldErrors> {
        let mut errors = FieldErrors::new();
        check_known(input, JWT_FIELDS, &mut errors);
        let mut input = input.clone();
        let consumer = owner(parent, &mut input, base.map(|b| b.consumer.id), &mut errors);
        let m = merged(base, &input);
        let mut r = Reader::new(&m);
        // Kong's `auto` strings: a random 32-character hex string when not given.
        let generated = || Uuid::new_v4().simple().to_string();
        let key = match m.get("key").filter(|v| !v.is_null()) {
            Some(_) => required_string(&mut r, "key").unwrap_or_default(),
            None => generated(),
        };
        let secret = match m.get("secret").filter(|v| !v.is_null()) {
            Some(_) => required_string(&mut r, "secret").unwrap_or_default(),
            None => generated(),
        };
        let rsa_public_key = r.opt_string("rsa_public_key");
        let algorithm = r
            .opt_string("algorithm")
            .unwrap_or_else(|| "HS256".to_string());
        let tags = none_if_empty(r.opt_string_array("tags"));
        for (k, v) in r.finish().0 {
            errors.add(k, v);
        }
        if !JWT_ALGORITHMS.contains(&algorithm.as_str()) {
            errors.add(
                "algorithm",
                format!("expected one of: {}", JWT_ALGORITHMS.join(", ")),
            );
        } else if !algorithm.starts_with("HS") {
            // Kong's conditional check: RS* need a public key; a key given for ES256 is
            // checked too, so a broken one is refused here rather than at request time.
            let problem = match &rsa_public_key {
                None if algorithm.starts_with("RS") => Some("required field missing"),
                Some(pem) if !valid_public_key(&algorithm, pem) => Some("invalid key"),
                _ => None,
            };
            if let Some(p) = problem {
                errors.add("rsa_public_key", p);
                errors.add(
                    "@entity",
                    "failed conditional validation given value of field 'algorithm'",
                );
            }
        }
        check_tags(&tags, &mut errors);
        errors.into_result(JwtSecret {
            id,
            created_at: base.map(|b| b.created_at).unwrap_or(now),
            consumer,
            key,
            secret,
            rsa_public_key,
            algorithm,
            tags,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn build(v: Value) -> Result<JwtSecret, FieldErrors> {
        let Value::Object(m) = v else {
            return Err(FieldErrors::new());
        };
        JwtSecret::from_input(Uuid::nil(), 1, Some(Uuid::from_u128(3)), None, &m)
    }

    #[test]
    fn defaults_and_generated_values_like_kong() {
        let s = build(json!({})).expect("valid");
        assert_eq!(s.algorithm, "HS256");
        assert_eq!(s.key.len(), 32);
        assert_eq!(s.secret.len(), 32);
        assert!(s.secret.chars().all(|c| c.is_ascii_alphanumeric()));
        let s = build(json!({ "key": "bob2", "secret": "tooshort" })).expect("valid");
        assert_eq!((s.key.as_str(), s.secret.as_str()), ("bob2", "tooshort"));
    }

    #[test]
    fn rsa_keys_are_required_and_checked() {
        let e = build(json!({ "key": "bob5", "algorithm": "RS256" })).expect_err("no key");
        assert_eq!(e.get("rsa_public_key"), Some("required field missing"));
        assert_eq!(
            e.get("@entity"),
            Some("failed conditional validation given value of field 'algorithm'")
        );
        let e =
            build(json!({ "algorithm": "RS256", "rsa_public_key": "test" })).expect_err("bad key");
        assert_eq!(e.get("rsa_public_key"), Some("invalid key"));
        let e = build(json!({ "algorithm": "PS256" })).expect_err("unsupported");
        assert!(e
            .get("algorithm")
            .is_some_and(|m| m.starts_with("expected one of")));
    }
}
