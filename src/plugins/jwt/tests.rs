//! The jwt plugin's decisions, without the proxy: Kong's messages for each failure, HS*, RS256
//! and ES256 signatures, claims and where tokens are found.

use base64::Engine;
use serde_json::json;
use uuid::Uuid;

use super::token::tests::hs256;
use super::*;
use crate::domain::gateway_service::ForeignKey;
use crate::domain::{Consumer, JwtSecret};

const RSA_PRIVATE: &str = include_str!("../../../tests/fixtures/jwt/rsa.pem");
const RSA_PUBLIC: &str = include_str!("../../../tests/fixtures/jwt/rsa.pub");
const EC_PRIVATE: &str = include_str!("../../../tests/fixtures/jwt/ec.pem");
const EC_PUBLIC: &str = include_str!("../../../tests/fixtures/jwt/ec.pub");

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn signing_input(alg: &str, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64(json!({ "typ": "JWT", "alg": alg }).to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

fn rs256(claims: Value) -> String {
    use rsa::pkcs8::DecodePrivateKey;
    use sha2::Digest;
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(RSA_PRIVATE).expect("test key");
    let signed = signing_input("RS256", &claims);
    let hashed = sha2::Sha256::digest(signed.as_bytes());
    let scheme = rsa::Pkcs1v15Sign {
        hash_len: Some(32),
        prefix: vec![
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ]
        .into(),
    };
    let sig = key.sign(scheme, &hashed).expect("sign");
    format!("{signed}.{}", b64(&sig))
}

fn es256(claims: Value) -> String {
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::DecodePrivateKey;
    let key = p256::ecdsa::SigningKey::from_pkcs8_pem(EC_PRIVATE).expect("test key");
    let signed = signing_input("ES256", &claims);
    let sig: p256::ecdsa::Signature = key.sign(signed.as_bytes());
    format!("{signed}.{}", b64(&sig.to_bytes()))
}

fn secret(key: &str, algorithm: &str, secret: &str, public: Option<&str>) -> JwtSecret {
    JwtSecret {
        id: Uuid::new_v4(),
        created_at: 1,
        consumer: ForeignKey {
            id: Uuid::from_u128(1),
        },
        key: key.into(),
        secret: secret.into(),
        rsa_public_key: public.map(str::to_string),
        algorithm: algorithm.into(),
        tags: None,
    }
}

fn setup(config: Value) -> (Jwt, Shared) {
    let cfg = GatewayConfig {
        consumers: vec![Consumer {
            id: Uuid::from_u128(1),
            created_at: 1,
            updated_at: 1,
            username: Some("jwt_tests_consumer".into()),
            custom_id: None,
            tags: None,
        }],
        jwt_secrets: vec![
            secret("hs", "HS256", "secret", None),
            secret("b64", "HS256", &b64(b"raw secret"), None),
            secret("rsa", "RS256", "", Some(RSA_PUBLIC)),
            secret("ec", "ES256", "", Some(EC_PUBLIC)),
        ],
        ..GatewayConfig::default()
    };
    let shared = Shared::build(&cfg);
    let plugin = Jwt::compile(&config, &shared).expect("compile");
    (plugin, shared)
}

fn one(t: &str) -> BTreeSet<String> {
    BTreeSet::from([t.to_string()])
}

fn message(e: &Exit) -> String {
    match &e.body {
        ExitBody::Message(m) => m.clone(),
        ExitBody::Json(v) => v.to_string(),
        _ => String::new(),
    }
}

#[test]
fn kongs_messages_for_each_failure() {
    let (p, shared) = setup(json!({}));
    let s = &shared.jwts;
    let fail = |tokens: &BTreeSet<String>| {
        let e = p.check(tokens, s, 100).expect_err("refused");
        assert_eq!(e.status, 401);
        message(&e)
    };
    let none = p.check(&BTreeSet::new(), s, 100).expect_err("no token");
    assert_eq!(message(&none), "Unauthorized");
    assert_eq!(
        none.headers[0].1.to_str().expect("ascii"),
        "Bearer",
        "no error in the header for a missing token"
    );
    let two = BTreeSet::from(["a".to_string(), "b".to_string()]);
    assert_eq!(fail(&two), "Multiple tokens provided");
    assert_eq!(fail(&one("nope")), "Bad token; invalid JSON");
    assert_eq!(
        fail(&one(&hs256(json!({ "sub": "x" }), b"secret"))),
        "No mandatory 'iss' in claims"
    );
    assert_eq!(
        fail(&one(&hs256(json!({ "iss": "" }), b"secret"))),
        "Invalid 'iss' in claims"
    );
    assert_eq!(
        fail(&one(&hs256(json!({ "iss": "who" }), b"secret"))),
        "No credentials found for given 'iss'"
    );
    assert_eq!(
        fail(&one(&hs256(json!({ "iss": "rsa" }), b"secret"))),
        "Invalid algorithm"
    );
    let bad = p
        .check(&one(&hs256(json!({ "iss": "hs" }), b"wrong")), s, 100)
        .expect_err("bad signature");
    assert_eq!(message(&bad), "Invalid signature");
    assert_eq!(
        bad.headers[0].1.to_str().expect("ascii"),
        "Bearer error=\"invalid_token\""
    );
    let who = p
        .check(&one(&hs256(json!({ "iss": "hs" }), b"secret")), s, 100)
        .expect("valid");
    assert_eq!(who.credential.as_deref(), Some("hs"));
    assert_eq!(who.username.as_deref(), Some("jwt_tests_consumer"));
}

#[test]
fn asymmetric_and_base64_secrets() {
    let (p, shared) = setup(json!({}));
    let s = &shared.jwts;
    let who = p
        .check(&one(&rs256(json!({ "iss": "rsa" }))), s, 100)
        .expect("RS256");
    assert_eq!(who.credential.as_deref(), Some("rsa"));
    p.check(&one(&es256(json!({ "iss": "ec" }))), s, 100)
        .expect("ES256");
    let forged = rs256(json!({ "iss": "rsa" })).replace(".ey", ".eyJ4IjoxfQ.ey");
    assert!(p.check(&one(&forged), s, 100).is_err());
    let tampered = {
        let t = es256(json!({ "iss": "ec" }));
        let (head, _) = t.rsplit_once('.').expect("three parts");
        format!("{head}.{}", b64(&[0u8; 64]))
    };
    assert_eq!(
        message(&p.check(&one(&tampered), s, 100).expect_err("forged")),
        "Invalid signature"
    );

    let plain = hs256(json!({ "iss": "b64" }), b"raw secret");
    assert!(
        p.check(&one(&plain), s, 100).is_err(),
        "secret used as stored"
    );
    let (p64, shared) = setup(json!({ "secret_is_base64": true }));
    p64.check(&one(&plain), &shared.jwts, 100)
        .expect("secret decoded");
}

#[test]
fn claims_and_maximum_expiration() {
    let (p, shared) = setup(json!({ "claims_to_verify": ["exp", "nbf"], "realm": "kong" }));
    let s = &shared.jwts;
    let t = hs256(json!({ "iss": "hs", "exp": 50, "nbf": 200 }), b"secret");
    let e = p.check(&one(&t), s, 100).expect_err("expired");
    assert_eq!(
        e.body,
        ExitBody::Json(json!({ "exp": "token expired", "nbf": "token not valid yet" }))
    );
    assert_eq!(
        e.headers[0].1.to_str().expect("ascii"),
        "Bearer realm=\"kong\", error=\"invalid_token\""
    );
    let t = hs256(json!({ "iss": "hs", "exp": "soon" }), b"secret");
    let e = p.check(&one(&t), s, 100).expect_err("not a number");
    assert_eq!(
        e.body,
        ExitBody::Json(json!({ "exp": "must be a number", "nbf": "must be a number" }))
    );
    let (p, shared) = setup(json!({ "claims_to_verify": ["exp"], "maximum_expiration": 60 }));
    let t = hs256(json!({ "iss": "hs", "exp": 1000 }), b"secret");
    let e = p.check(&one(&t), &shared.jwts, 100).expect_err("too far");
    assert_eq!(
        e.body,
        ExitBody::Json(json!({ "exp": "exceeds maximum allowed expiration" }))
    );
    let t = hs256(json!({ "iss": "hs", "exp": 150 }), b"secret");
    p.check(&one(&t), &shared.jwts, 100)
        .expect("within the limit");
}

#[test]
fn bearer_values_like_kongs_pattern() {
    assert_eq!(bearer("Bearer abc"), Some("abc"));
    assert_eq!(bearer("  bearer   abc.def"), Some("abc.def"));
    assert_eq!(bearer("Bearerabc"), None);
    assert_eq!(bearer("Bearer "), None);
    assert_eq!(bearer("Basic abc"), None);
    assert_eq!(bearer("x Bearer y"), Some("y"));
}
