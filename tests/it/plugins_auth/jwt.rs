//! Kong's jwt plugin and `/consumers/{c}/jwt` credentials, ported from Kong's
//! spec/03-plugins/16-jwt (api and access specs): HS256, RS256 and ES256 tokens signed here
//! with test-only keys, from the query, the Authorization header and cookies.

use base64::Engine;
use hmac::Mac;
use reqwest::Method;
use serde_json::{json, Value};

use super::{call, created, header_echo, until};
use crate::helpers::{service_with_route, TestApp};

const RSA_PRIVATE: &str = include_str!("../../fixtures/jwt/rsa.pem");
const RSA_PUBLIC: &str = include_str!("../../fixtures/jwt/rsa.pub");
const EC_PRIVATE: &str = include_str!("../../fixtures/jwt/ec.pem");
const EC_PUBLIC: &str = include_str!("../../fixtures/jwt/ec.pub");

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

fn hs256(claims: Value, secret: &str) -> String {
    let signed = signing_input("HS256", &claims);
    let mut mac =
        <hmac::Hmac<sha2::Sha256> as hmac::digest::KeyInit>::new_from_slice(secret.as_bytes())
            .expect("any key length");
    mac.update(signed.as_bytes());
    format!("{signed}.{}", b64(&mac.finalize().into_bytes()))
}

fn rs256(claims: Value) -> String {
    use rsa::pkcs8::DecodePrivateKey;
    use sha2::Digest;
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(RSA_PRIVATE).expect("test key");
    let signed = signing_input("RS256", &claims);
    // PKCS#1 v1.5 DigestInfo prefix for SHA-256 (RFC 8017, section 9.2).
    let scheme = rsa::Pkcs1v15Sign {
        hash_len: Some(32),
        prefix: vec![
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ]
        .into(),
    };
    let sig = key
        .sign(scheme, &sha2::Sha256::digest(signed.as_bytes()))
        .expect("sign");
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

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_credentials_and_tokens_like_kong() {
    let app = TestApp::spawn().await;
    let up = header_echo().await;
    service_with_route(
        &app,
        "echo",
        &up,
        json!({}),
        json!({ "name": "jwt", "paths": ["/jwt"] }),
    )
    .await;
    app.wait_for_proxy("/jwt", 200).await;

    // Credentials (02-api_spec): generated key and secret, RS256 needs a valid public key.
    let consumer = created(&app, "/consumers", json!({ "username": "bob" })).await;
    let generated = created(&app, "/consumers/bob/jwt", json!({})).await;
    assert_eq!(generated["consumer"]["id"], consumer["id"]);
    assert_eq!(generated["algorithm"], "HS256");
    assert_eq!(generated["key"].as_str().map(str::len), Some(32));
    assert_eq!(generated["secret"].as_str().map(str::len), Some(32));
    let hs = created(
        &app,
        "/consumers/bob/jwt",
        json!({ "key": "bob2", "secret": "tooshort" }),
    )
    .await;
    assert_eq!(
        (&hs["key"], &hs["secret"]),
        (&json!("bob2"), &json!("tooshort"))
    );
    let (status, dup) = app
        .admin_json(Method::POST, "/consumers/bob/jwt", json!({ "key": "bob2" }))
        .await;
    assert_eq!(status, 409, "{dup}");
    for (body, field) in [
        (
            json!({ "key": "bob5", "algorithm": "RS256" }),
            "required field missing",
        ),
        (
            json!({ "key": "bob5", "algorithm": "RS256", "rsa_public_key": "test" }),
            "invalid key",
        ),
    ] {
        let (status, e) = app
            .admin_json(Method::POST, "/consumers/bob/jwt", body)
            .await;
        assert_eq!(status, 400);
        assert_eq!(
            e["fields"],
            json!({
                "rsa_public_key": field,
                "@entity": ["failed conditional validation given value of field 'algorithm'"],
            })
        );
    }
    created(
        &app,
        "/consumers/bob/jwt",
        json!({ "key": "rsa-key", "algorithm": "RS256", "rsa_public_key": RSA_PUBLIC }),
    )
    .await;
    created(
        &app,
        "/consumers/bob/jwt",
        json!({ "key": "ec-key", "algorithm": "ES256", "rsa_public_key": EC_PUBLIC }),
    )
    .await;
    let (status, list) = app.admin_json(Method::GET, "/jwts", Value::Null).await;
    assert_eq!(
        (status, list["data"].as_array().map(Vec::len)),
        (200, Some(4))
    );
    let (status, patched) = app
        .admin_json(
            Method::PATCH,
            "/consumers/bob/jwt/bob2",
            json!({ "secret": "newsecret" }),
        )
        .await;
    assert_eq!((status, &patched["secret"]), (200, &json!("newsecret")));

    // The plugin: config errors and defaults.
    let (status, e) = app
        .admin_json(
            Method::POST,
            "/plugins",
            json!({ "name": "jwt", "config": { "maximum_expiration": 60 } }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        e["fields"]["config"]["claims_to_verify"],
        "expected to contain: exp"
    );
    let plugin = created(&app, "/routes/jwt/plugins", json!({ "name": "jwt" })).await;
    assert_eq!(plugin["config"]["uri_param_names"], json!(["jwt"]));
    assert_eq!(plugin["config"]["key_claim_name"], "iss");
    let pid = plugin["id"].as_str().expect("id").to_string();

    // 03-access_spec: refusals.
    let none = until(&app, "/jwt", &[], 401).await;
    assert_eq!(none.body, json!({ "message": "Unauthorized" }));
    assert_eq!(none.www.as_deref(), Some("Bearer"));
    let good = hs256(json!({ "iss": "bob2" }), "newsecret");
    let refusals = [
        (
            hs256(json!({ "sub": "x" }), "newsecret"),
            "No mandatory 'iss' in claims",
        ),
        (
            hs256(json!({ "iss": "" }), "newsecret"),
            "Invalid 'iss' in claims",
        ),
        (
            hs256(json!({ "iss": "nobody" }), "x"),
            "No credentials found for given 'iss'",
        ),
        (
            hs256(json!({ "iss": "bob2" }), "tooshort"),
            "Invalid signature",
        ),
        (hs256(json!({ "iss": "rsa-key" }), "x"), "Invalid algorithm"),
        ("not.a.token".to_string(), "Bad token; invalid JSON"),
    ];
    for (token, message) in &refusals {
        let s = call(&app, &format!("/jwt?jwt={token}"), &[]).await;
        assert_eq!(
            (s.status, &s.body, s.www.as_deref()),
            (
                401,
                &json!({ "message": message }),
                Some("Bearer error=\"invalid_token\"")
            ),
            "{message}"
        );
    }
    let bearer = format!(
        "Bearer {}",
        hs256(json!({ "iss": "bob2", "x": 1 }), "newsecret")
    );
    let multiple = call(
        &app,
        &format!("/jwt?jwt={good}"),
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(
        multiple.body,
        json!({ "message": "Multiple tokens provided" })
    );

    // Accepted: query, header (the same token twice is one token), RS256, ES256.
    let ok = call(
        &app,
        &format!("/jwt?jwt={good}"),
        &[("authorization", &format!("Bearer {good}"))],
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let h = &ok.body["headers"];
    assert_eq!(h["x-consumer-id"], consumer["id"]);
    assert_eq!(h["x-consumer-username"], "bob");
    assert_eq!(h["x-credential-identifier"], "bob2");
    assert!(h.get("x-anonymous-consumer").is_none());
    for (token, key) in [
        (rs256(json!({ "iss": "rsa-key" })), "rsa-key"),
        (es256(json!({ "iss": "ec-key" })), "ec-key"),
    ] {
        let s = call(
            &app,
            "/jwt",
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
        assert_eq!(s.status, 200, "{key}: {}", s.body);
        assert_eq!(s.body["headers"]["x-credential-identifier"], key);
    }

    // Claims, cookies, preflight and anonymous, each live within two seconds.
    let (status, _) = app
        .admin_json(
            Method::PATCH,
            &format!("/plugins/{pid}"),
            json!({ "config": {
                "claims_to_verify": ["exp", "nbf"], "cookie_names": ["crumble"],
                "run_on_preflight": false
            } }),
        )
        .await;
    assert_eq!(status, 200);
    let untimed = until(&app, &format!("/jwt?jwt={good}"), &[], 401).await;
    assert_eq!(
        untimed.body,
        json!({ "exp": "must be a number", "nbf": "must be a number" })
    );
    let expired = hs256(
        json!({ "iss": "bob2", "exp": now() - 10, "nbf": now() - 20 }),
        "newsecret",
    );
    let s = call(&app, &format!("/jwt?jwt={expired}"), &[]).await;
    assert_eq!((s.status, s.body), (401, json!({ "exp": "token expired" })));
    let timely = hs256(
        json!({ "iss": "bob2", "exp": now() + 600, "nbf": now() - 20 }),
        "newsecret",
    );
    let cookie = call(
        &app,
        "/jwt",
        &[("cookie", &format!("a=1; crumble={timely}"))],
    )
    .await;
    assert_eq!(cookie.status, 200, "{}", cookie.body);
    let preflight = reqwest::Client::new()
        .request(Method::OPTIONS, format!("{}/jwt", app.proxy))
        .send()
        .await
        .expect("proxy");
    assert_eq!(preflight.status().as_u16(), 200, "run_on_preflight off");

    let guest = created(&app, "/consumers", json!({ "username": "guest" })).await;
    let (status, _) = app
        .admin_json(
            Method::PATCH,
            &format!("/plugins/{pid}"),
            json!({ "config": { "anonymous": guest["id"] } }),
        )
        .await;
    assert_eq!(status, 200);
    let anon = until(&app, "/jwt?jwt=garbage", &[], 200).await;
    assert_eq!(anon.body["headers"]["x-anonymous-consumer"], "true");
    assert_eq!(anon.body["headers"]["x-consumer-username"], "guest");
    let real = call(&app, &format!("/jwt?jwt={timely}"), &[]).await;
    assert_eq!(real.body["headers"]["x-consumer-username"], "bob");

    // Deleting the credential refuses its tokens.
    let (status, _) = app
        .admin_json(Method::DELETE, "/consumers/bob/jwt/bob2", Value::Null)
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .admin_json(
            Method::PATCH,
            &format!("/plugins/{pid}"),
            json!({ "config": { "anonymous": null } }),
        )
        .await;
    assert_eq!(status, 200);
    let gone = until(&app, &format!("/jwt?jwt={timely}"), &[], 401).await;
    assert_eq!(
        gone.body,
        json!({ "message": "No credentials found for given 'iss'" })
    );
}
