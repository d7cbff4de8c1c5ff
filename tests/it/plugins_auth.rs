//! Kong's basic-auth, acl and jwt plugins through the real proxy to a real upstream, and their
//! consumer credentials through the Admin API: cases ported from Kong's spec/03-plugins
//! (10-basic-auth, 18-acl, 16-jwt), asserting Kong's statuses, bodies and headers.

use std::time::Duration;

use base64::Engine;
use hyper::Response;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{eventually, full, hyper_upstream, service_with_route, TestApp};

mod jwt;

/// An upstream answering with the request's headers as JSON.
pub(super) async fn header_echo() -> String {
    let addr = hyper_upstream(|req| async move {
        let headers: serde_json::Map<String, Value> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(v.to_str().unwrap_or(""))))
            .collect();
        let body = json!({ "uri": req.uri().to_string(), "headers": headers }).to_string();
        Response::new(full(body))
    })
    .await;
    format!("http://{addr}")
}

/// What the client saw: status, WWW-Authenticate, body.
pub(super) struct Seen {
    pub status: u16,
    pub www: Option<String>,
    pub body: Value,
}

pub(super) async fn call(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Seen {
    let mut req = reqwest::Client::new().get(format!("{}{path}", app.proxy));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.expect("proxy");
    let status = r.status().as_u16();
    let www = r
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Seen {
        status,
        www,
        body: r.json().await.unwrap_or(Value::Null),
    }
}

fn basic(user_pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_pass)
    )
}

pub(super) async fn created(app: &TestApp, path: &str, body: Value) -> Value {
    let (status, v) = app.admin_json(Method::POST, path, body).await;
    assert_eq!(status, 201, "{path}: {v}");
    v
}

/// Waits until `path` with `headers` answers `status`, and returns what it answered.
pub(super) async fn until(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
    status: u16,
) -> Seen {
    eventually(
        Duration::from_secs(2),
        &format!("{path} answers {status}"),
        || async {
            let s = call(app, path, headers).await;
            (s.status == status).then_some(s)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_credentials_and_requests_like_kong() {
    let app = TestApp::spawn().await;
    let up = header_echo().await;
    service_with_route(
        &app,
        "echo",
        &up,
        json!({}),
        json!({ "name": "ba", "paths": ["/ba"] }),
    )
    .await;
    app.wait_for_proxy("/ba", 200).await;

    // Credentials: the password is stored as an argon2id hash and never shown as given.
    let bob = created(&app, "/consumers", json!({ "username": "bob" })).await;
    let cred = created(
        &app,
        "/consumers/bob/basic-auth",
        json!({ "username": "user123", "password": "kong" }),
    )
    .await;
    assert_eq!(cred["consumer"]["id"], bob["id"]);
    let hash = cred["password"].as_str().expect("password").to_string();
    assert!(hash.starts_with("$argon2id$"), "{cred}");
    assert!(!hash.contains("kong"));
    let (status, dup) = app
        .admin_json(
            Method::POST,
            "/consumers/bob/basic-auth",
            json!({ "username": "user123", "password": "other" }),
        )
        .await;
    assert_eq!(status, 409, "usernames are unique: {dup}");
    let (status, missing) = app
        .admin_json(
            Method::POST,
            "/consumers/bob/basic-auth",
            json!({ "username": "x" }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(missing["fields"]["password"], "required field missing");
    let (status, one) = app
        .admin_json(
            Method::GET,
            "/consumers/bob/basic-auth/user123",
            Value::Null,
        )
        .await;
    assert_eq!((status, &one["id"]), (200, &cred["id"]));
    let (status, list) = app
        .admin_json(Method::GET, "/basic-auths", Value::Null)
        .await;
    assert_eq!(
        (status, list["data"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    let (status, scoped) = app
        .admin_json(
            Method::GET,
            "/runtime-groups/default/core-entities/consumers/bob/basic-auth",
            Value::Null,
        )
        .await;
    assert_eq!(
        (status, scoped["data"][0]["username"].as_str()),
        (200, Some("user123")),
        "{scoped}"
    );
    let (status, patched) = app
        .admin_json(
            Method::PATCH,
            "/basic-auths/user123",
            json!({ "tags": ["t1"] }),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        patched["password"],
        hash.as_str(),
        "kept without a new password"
    );

    // The plugin, with Kong's defaults.
    let plugin = created(&app, "/routes/ba/plugins", json!({ "name": "basic-auth" })).await;
    assert_eq!(plugin["config"]["realm"], "service");
    assert_eq!(plugin["config"]["hide_credentials"], false);
    let pid = plugin["id"].as_str().expect("id").to_string();

    let none = until(&app, "/ba", &[], 401).await;
    assert_eq!(none.body, json!({ "message": "Unauthorized" }));
    assert_eq!(none.www.as_deref(), Some("Basic realm=\"service\""));
    let good = basic("user123:kong");
    for bad in [
        "Basic a".to_string(),
        "Bearer abc".to_string(),
        basic("user123"),
        basic("user123:wrong"),
        basic("nobody:kong"),
    ] {
        let s = call(&app, "/ba", &[("authorization", &bad)]).await;
        assert_eq!(
            (s.status, &s.body, s.www.as_deref()),
            (
                401,
                &json!({ "message": "Unauthorized" }),
                Some("Basic realm=\"service\"")
            ),
            "{bad}"
        );
    }
    let ok = until(&app, "/ba", &[("authorization", &good)], 200).await;
    let h = &ok.body["headers"];
    assert_eq!(h["x-consumer-id"], bob["id"]);
    assert_eq!(h["x-consumer-username"], "bob");
    assert_eq!(h["x-credential-identifier"], "user123");
    assert_eq!(h["authorization"], good.as_str(), "not hidden by default");
    assert!(h.get("x-anonymous-consumer").is_none());
    // Verified again from the in-memory record of good passwords; a wrong one still fails.
    assert_eq!(
        call(&app, "/ba", &[("authorization", &good)]).await.status,
        200
    );
    let wrong = basic("user123:kong2");
    assert_eq!(
        call(&app, "/ba", &[("authorization", &wrong)]).await.status,
        401
    );
    // Proxy-Authorization is read too, and first.
    let via_proxy = call(&app, "/ba", &[("proxy-authorization", &good)]).await;
    assert_eq!(via_proxy.status, 200);
    assert_eq!(
        via_proxy.body["headers"]["x-credential-identifier"],
        "user123"
    );
    let both = call(
        &app,
        "/ba",
        &[("proxy-authorization", &wrong), ("authorization", &good)],
    )
    .await;
    assert_eq!(
        both.status, 401,
        "a known user's wrong proxy password decides"
    );

    // A new password and hide_credentials, live within two seconds.
    let (status, _) = app
        .admin_json(
            Method::PATCH,
            "/consumers/bob/basic-auth/user123",
            json!({ "password": "new-pass" }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .admin_json(
            Method::PATCH,
            &format!("/plugins/{pid}"),
            json!({ "config": { "hide_credentials": true, "realm": "gh" } }),
        )
        .await;
    assert_eq!(status, 200);
    let renewed = basic("user123:new-pass");
    let hidden = eventually(Duration::from_secs(2), "credentials hidden", || async {
        let s = call(&app, "/ba", &[("authorization", &renewed)]).await;
        (s.status == 200 && s.body["headers"].get("authorization").is_none()).then_some(s)
    })
    .await;
    assert_eq!(hidden.body["headers"]["x-consumer-username"], "bob");
    let old = call(&app, "/ba", &[("authorization", &good)]).await;
    assert_eq!(
        (old.status, old.www.as_deref()),
        (401, Some("Basic realm=\"gh\""))
    );

    // anonymous: failures pass as the anonymous consumer.
    let guest = created(&app, "/consumers", json!({ "username": "guest" })).await;
    let (status, _) = app
        .admin_json(
            Method::PATCH,
            &format!("/plugins/{pid}"),
            json!({ "config": { "anonymous": "guest" } }),
        )
        .await;
    assert_eq!(status, 200);
    let anon = until(&app, "/ba", &[], 200).await;
    assert_eq!(anon.body["headers"]["x-anonymous-consumer"], "true");
    assert_eq!(anon.body["headers"]["x-consumer-id"], guest["id"]);
    assert!(anon.body["headers"]
        .get("x-credential-identifier")
        .is_none());

    // Deleting the consumer deletes its credential.
    let (status, _) = app
        .admin_json(Method::DELETE, "/consumers/bob", Value::Null)
        .await;
    assert_eq!(status, 204);
    let (_, list) = app
        .admin_json(Method::GET, "/basic-auths", Value::Null)
        .await;
    assert_eq!(list["data"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_allows_and_denies_by_group_like_kong() {
    let app = TestApp::spawn().await;
    let up = header_echo().await;
    for (name, path) in [("allow", "/allow"), ("deny", "/deny"), ("bare", "/bare")] {
        service_with_route(
            &app,
            name,
            &up,
            json!({}),
            json!({ "name": name, "paths": [path] }),
        )
        .await;
    }
    app.wait_for_proxy("/bare", 200).await;

    let admin = created(&app, "/consumers", json!({ "username": "admin" })).await;
    created(&app, "/consumers", json!({ "username": "plain" })).await;
    created(&app, "/consumers", json!({ "username": "guest" })).await;
    for (who, key) in [("admin", "admin-key"), ("plain", "plain-key")] {
        created(
            &app,
            &format!("/consumers/{who}/key-auth"),
            json!({ "key": key }),
        )
        .await;
    }
    let acl = created(&app, "/consumers/admin/acls", json!({ "group": "admin" })).await;
    assert_eq!(acl["consumer"]["id"], admin["id"]);
    created(&app, "/consumers/admin/acls", json!({ "group": "pro" })).await;
    let (status, _) = app
        .admin_json(
            Method::POST,
            "/consumers/admin/acls",
            json!({ "group": "admin" }),
        )
        .await;
    assert_eq!(status, 409, "a group once per consumer");
    created(&app, "/consumers/plain/acls", json!({ "group": "admin2" })).await;
    let (status, one) = app
        .admin_json(Method::GET, "/consumers/admin/acls/pro", Value::Null)
        .await;
    assert_eq!((status, one["group"].as_str()), (200, Some("pro")));
    let (status, all) = app.admin_json(Method::GET, "/acls", Value::Null).await;
    assert_eq!(
        (status, all["data"].as_array().map(Vec::len)),
        (200, Some(3))
    );
    let (status, bad) = app
        .admin_json(Method::POST, "/consumers/admin/acls", json!({}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(bad["fields"]["group"], "required field missing");

    // Config: exactly one of allow and deny.
    let (status, both) = app
        .admin_json(
            Method::POST,
            "/plugins",
            json!({ "name": "acl", "config": { "allow": ["a"], "deny": ["b"] } }),
        )
        .await;
    assert_eq!(status, 400, "{both}");
    assert_eq!(
        both["fields"]["@entity"][0],
        "exactly one of these fields must be non-empty: 'config.allow', 'config.deny'"
    );

    // acl without an authentication plugin: nobody is known.
    created(
        &app,
        "/routes/bare/plugins",
        json!({ "name": "acl", "config": { "allow": ["admin"] } }),
    )
    .await;
    let bare = until(&app, "/bare", &[], 401).await;
    assert_eq!(bare.body, json!({ "message": "Unauthorized" }));

    for (route, config) in [
        ("allow", json!({ "allow": ["admin"] })),
        (
            "deny",
            json!({ "deny": ["admin"], "hide_groups_header": true }),
        ),
    ] {
        created(
            &app,
            &format!("/routes/{route}/plugins"),
            json!({ "name": "acl", "config": config }),
        )
        .await;
        created(
            &app,
            &format!("/routes/{route}/plugins"),
            json!({ "name": "key-auth", "config": { "anonymous": "guest" } }),
        )
        .await;
    }
    let allowed = until(&app, "/allow", &[("apikey", "admin-key")], 200).await;
    assert_eq!(allowed.body["headers"]["x-consumer-groups"], "admin, pro");
    assert_eq!(allowed.body["headers"]["x-consumer-username"], "admin");
    let refused = until(&app, "/allow", &[("apikey", "plain-key")], 403).await;
    assert_eq!(
        refused.body,
        json!({ "message": "You cannot consume this service" })
    );
    // The anonymous consumer has no groups (and no credential): 401, as Kong.
    let anon = call(&app, "/allow", &[]).await;
    assert_eq!(
        (anon.status, anon.body),
        (401, json!({ "message": "Unauthorized" }))
    );

    let denied = until(&app, "/deny", &[("apikey", "admin-key")], 403).await;
    assert_eq!(
        denied.body,
        json!({ "message": "You cannot consume this service" })
    );
    let through = until(&app, "/deny", &[("apikey", "plain-key")], 200).await;
    assert!(
        through.body["headers"].get("x-consumer-groups").is_none(),
        "hide_groups_header"
    );
    assert_eq!(
        call(&app, "/deny", &[]).await.status,
        200,
        "guest is not denied"
    );

    // Group changes are live within two seconds.
    let (status, _) = app
        .admin_json(
            Method::POST,
            "/consumers/plain/acls",
            json!({ "group": "admin" }),
        )
        .await;
    assert_eq!(status, 201);
    let now = until(&app, "/allow", &[("apikey", "plain-key")], 200).await;
    assert_eq!(now.body["headers"]["x-consumer-groups"], "admin2, admin");
    let (status, _) = app
        .admin_json(Method::DELETE, "/consumers/admin/acls/admin", Value::Null)
        .await;
    assert_eq!(status, 204);
    until(&app, "/allow", &[("apikey", "admin-key")], 403).await;
}
