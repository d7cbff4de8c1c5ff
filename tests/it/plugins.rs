//! Plugins and consumers as Kong's Admin API shapes them, and key-auth enforced by the proxy:
//! Kong's 401 bodies and headers, consumer headers upstream, hide_credentials, and changes live
//! within two seconds.

use std::time::Duration;

use hyper::Response;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{eventually, full, hyper_upstream, service_with_route, TestApp};

/// An upstream answering with the request's headers and URI as JSON.
async fn header_echo() -> String {
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

async fn call(app: &TestApp, path: &str, key_header: Option<&str>) -> (u16, Option<String>, Value) {
    let mut req = reqwest::Client::new().get(format!("{}{path}", app.proxy));
    if let Some(k) = key_header {
        req = req.header("apikey", k);
    }
    let r = req.send().await.expect("proxy");
    let status = r.status().as_u16();
    let www = r
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, www, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_auth_guards_a_route_like_kong() {
    let app = TestApp::spawn().await;
    let up = header_echo().await;
    service_with_route(
        &app,
        "echo",
        &up,
        json!({}),
        json!({ "name": "ka", "paths": ["/ka"] }),
    )
    .await;
    app.wait_for_proxy("/ka", 200).await;

    // The plugin, with every default filled in.
    let (status, plugin) = app
        .admin_json(
            Method::POST,
            "/routes/ka/plugins",
            json!({ "name": "key-auth" }),
        )
        .await;
    assert_eq!(status, 201, "{plugin}");
    assert_eq!(plugin["config"]["key_names"], json!(["apikey"]));
    assert_eq!(plugin["config"]["hide_credentials"], false);
    assert_eq!(plugin["config"]["key_in_query"], true);
    assert_eq!(plugin["enabled"], true);
    assert_eq!(plugin["service"], Value::Null);
    assert!(plugin["route"]["id"].is_string());
    let pid = plugin["id"].as_str().expect("id").to_string();
    let (status, _) = app
        .admin_json(
            Method::POST,
            "/routes/ka/plugins",
            json!({ "name": "key-auth" }),
        )
        .await;
    assert_eq!(status, 409, "the same plugin twice on one route");
    let (status, body) = app
        .admin_json(
            Method::POST,
            "/plugins",
            json!({ "name": "no-such-plugin" }),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["fields"]["name"]
            .as_str()
            .unwrap_or("")
            .contains("not enabled"),
        "{body}"
    );
    let (status, body) = app
        .admin_json(
            Method::POST,
            "/plugins",
            json!({ "name": "key-auth", "config": { "key_names": ["api key"], "nope": 1 } }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["name"], "schema violation");
    assert_eq!(
        body["fields"]["config"]["key_names"],
        "bad header name 'api key', allowed characters are A-Z, a-z, 0-9, '_', and '-'",
        "{body}"
    );
    assert_eq!(body["fields"]["config"]["nope"], "unknown field");

    let (status, www, body) = eventually(Duration::from_secs(2), "key-auth live", || async {
        let r = call(&app, "/ka", None).await;
        (r.0 == 401).then_some(r)
    })
    .await;
    assert_eq!((status, www.as_deref()), (401, Some("Key")));
    assert_eq!(body, json!({ "message": "No API key found in request" }));

    // A consumer and its keys.
    let (status, consumer) = app
        .admin_json(
            Method::POST,
            "/consumers",
            json!({ "username": "bob", "custom_id": "b-1" }),
        )
        .await;
    assert_eq!(status, 201, "{consumer}");
    let (status, cred) = app
        .admin_json(
            Method::POST,
            "/consumers/bob/key-auth",
            json!({ "key": "s3cret" }),
        )
        .await;
    assert_eq!(status, 201, "{cred}");
    assert_eq!(cred["consumer"]["id"], consumer["id"]);
    let (status, generated) = app
        .admin_json(Method::POST, "/consumers/bob/key-auth", json!({}))
        .await;
    assert_eq!(status, 201);
    assert!(
        generated["key"].as_str().unwrap_or("").len() >= 32,
        "{generated}"
    );
    let (status, _) = app
        .admin_json(
            Method::POST,
            "/consumers",
            json!({ "username": "eve", "custom_id": "b-1" }),
        )
        .await;
    assert_eq!(status, 409, "custom_id is unique");
    let (status, list) = app.admin_json(Method::GET, "/key-auths", Value::Null).await;
    assert_eq!(
        (status, list["data"].as_array().map(Vec::len)),
        (200, Some(2))
    );

    let (status, _, body) = eventually(Duration::from_secs(2), "the wrong key refused", || async {
        let r = call(&app, "/ka?apikey=wrong", None).await;
        (r.0 == 401 && r.2["message"] == "Unauthorized").then_some(r)
    })
    .await;
    assert_eq!((status, body), (401, json!({ "message": "Unauthorized" })));
    let (status, _, seen) = eventually(Duration::from_secs(2), "the key accepted", || async {
        let r = call(&app, "/ka", Some("s3cret")).await;
        (r.0 == 200).then_some(r)
    })
    .await;
    assert_eq!(status, 200);
    let h = &seen["headers"];
    assert_eq!(h["x-consumer-username"], "bob");
    assert_eq!(h["x-consumer-custom-id"], "b-1");
    assert_eq!(h["x-consumer-id"], consumer["id"]);
    assert_eq!(h["x-credential-identifier"], cred["id"]);
    assert_eq!(
        h["apikey"], "s3cret",
        "credentials are not hidden by default"
    );
    assert!(h.get("x-anonymous-consumer").is_none());

    // hide_credentials, then the plugin removed: both live within two seconds.
    let (status, _) = app
        .admin_json(
            Method::PATCH,
            &format!("/plugins/{pid}"),
            json!({ "config": { "hide_credentials": true } }),
        )
        .await;
    assert_eq!(status, 200);
    eventually(Duration::from_secs(2), "credentials hidden", || async {
        let (s, _, seen) = call(&app, "/ka?apikey=s3cret&x=1", None).await;
        (s == 200 && seen["uri"] == "/?x=1" && seen["headers"].get("apikey").is_none())
            .then_some(())
    })
    .await;
    let (status, _) = app
        .admin_json(Method::DELETE, &format!("/plugins/{pid}"), Value::Null)
        .await;
    assert_eq!(status, 204);
    eventually(Duration::from_secs(2), "the route open again", || async {
        (call(&app, "/ka", None).await.0 == 200).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_consumers_and_service_scoped_plugins() {
    let app = TestApp::spawn().await;
    let up = header_echo().await;
    service_with_route(
        &app,
        "svc",
        &up,
        json!({}),
        json!({ "name": "open", "paths": ["/open"] }),
    )
    .await;
    let (status, anon) = app
        .admin_json(Method::POST, "/consumers", json!({ "username": "guest" }))
        .await;
    assert_eq!(status, 201);
    let (status, plugin) = app
        .admin_json(
            Method::POST,
            "/services/svc/plugins",
            json!({ "name": "key-auth", "config": { "anonymous": "guest" } }),
        )
        .await;
    assert_eq!(status, 201, "{plugin}");
    assert!(plugin["service"]["id"].is_string());
    let (_, _, seen) = eventually(Duration::from_secs(2), "anonymous passes", || async {
        let r = call(&app, "/open", None).await;
        (r.0 == 200 && r.2["headers"].get("x-anonymous-consumer").is_some()).then_some(r)
    })
    .await;
    assert_eq!(seen["headers"]["x-anonymous-consumer"], "true");
    assert_eq!(seen["headers"]["x-consumer-id"], anon["id"]);
    let (status, list) = app
        .admin_json(Method::GET, "/services/svc/plugins", Value::Null)
        .await;
    assert_eq!(
        (status, list["data"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    let (status, enabled) = app
        .admin_json(Method::GET, "/plugins/enabled", Value::Null)
        .await;
    assert_eq!(status, 200);
    assert!(enabled["enabled_plugins"]
        .as_array()
        .is_some_and(|a| a.contains(&json!("key-auth"))));
    let (status, schema) = app
        .admin_json(Method::GET, "/schemas/plugins/key-auth", Value::Null)
        .await;
    assert_eq!(status, 200, "{schema}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_enforce_plugins_and_know_consumers() {
    use crate::procs::{add_route, ControlPlane, Node};
    let root = tempfile::tempdir().expect("temp dir");
    let up = header_echo().await;
    let cp = ControlPlane::start(&root.path().join("cp")).await;
    let cred = cp.issue_credential("default").await;
    let mut node = Node::start(&root.path().join("node"), &cred, &[]);
    add_route(&cp, "guarded", &up, "/guarded").await;
    node.wait_for("/guarded", 200, Duration::from_secs(20))
        .await;
    for (path, body) in [
        (
            "/routes/guarded-route/plugins",
            json!({ "name": "key-auth" }),
        ),
        ("/consumers", json!({ "username": "ann" })),
        ("/consumers/ann/key-auth", json!({ "key": "node-key" })),
    ] {
        let (status, b) = cp.admin(Method::POST, path, Some(body)).await;
        assert_eq!(status, 201, "{path}: {b}");
    }
    node.wait_for("/guarded", 401, Duration::from_secs(1)).await;
    // The plugin may arrive in an earlier snapshot than the key: wait for the one with both.
    let url = format!("http://127.0.0.1:{}/guarded", node.proxy_port);
    let seen = eventually(
        Duration::from_secs(2),
        "the node knows the consumer's key",
        || {
            let url = url.clone();
            async move {
                let r = reqwest::Client::new()
                    .get(&url)
                    .header("apikey", "node-key")
                    .send()
                    .await
                    .ok()?;
                if r.status() != 200 {
                    return None;
                }
                r.json::<Value>().await.ok()
            }
        },
    )
    .await;
    assert_eq!(seen["headers"]["x-consumer-username"], "ann");
}

/// Records carry the consumer a request authenticated as: the Analytics page filters by
/// consumer with exact counts and lists the top consumers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_counts_requests_by_consumer() {
    let app = TestApp::spawn().await;
    app.login().await;
    let up = header_echo().await;
    service_with_route(
        &app,
        "echo",
        &up,
        json!({}),
        json!({ "name": "ka", "paths": ["/ka"] }),
    )
    .await;
    let mut ids = Vec::new();
    for name in ["alice", "bob"] {
        let (status, c) = app
            .admin_json(Method::POST, "/consumers", json!({ "username": name }))
            .await;
        assert_eq!(status, 201, "{c}");
        let (status, _) = app
            .admin_json(
                Method::POST,
                &format!("/consumers/{name}/key-auth"),
                json!({ "key": format!("{name}-key") }),
            )
            .await;
        assert_eq!(status, 201);
        ids.push(c["id"].as_str().expect("id").to_string());
    }
    let (status, _) = app
        .admin_json(
            Method::POST,
            "/routes/ka/plugins",
            json!({ "name": "key-auth" }),
        )
        .await;
    assert_eq!(status, 201);
    eventually(Duration::from_secs(2), "key-auth live", || async {
        (call(&app, "/ka", None).await.0 == 401).then_some(())
    })
    .await;
    for _ in 0..3 {
        assert_eq!(call(&app, "/ka", Some("alice-key")).await.0, 200);
    }
    for _ in 0..2 {
        assert_eq!(call(&app, "/ka", Some("bob-key")).await.0, 200);
    }
    let count = |id: String| {
        let app = &app;
        async move {
            let (_, html) = app
                .get_html(&format!("/analytics?frame=15m&consumer={id}"))
                .await;
            crate::helpers::select_text(&html, "#tile-traffic")
                .join("")
                .trim()
                .to_string()
        }
    };
    // Each proxy worker sends its records on its own clock, so alice's may be written before
    // bob's last one: wait for both exact counts.
    eventually(Duration::from_secs(10), "alice's 3 requests", || async {
        (count(ids[0].clone()).await == "3").then_some(())
    })
    .await;
    eventually(Duration::from_secs(10), "bob's 2 requests", || async {
        (count(ids[1].clone()).await == "2").then_some(())
    })
    .await;
    let (_, html) = app.get_html("/analytics?frame=15m").await;
    let top = crate::helpers::select_text(&html, "#top-consumers").join(" ");
    assert!(top.contains("alice") && top.contains("bob"), "{top}");
}

/// Kong's precedence with consumers: a consumer's own rate-limiting (created through
/// `/consumers/{c}/plugins`) beats the route's for that consumer once key-auth has identified
/// it; other consumers keep the route's. Authentication plugins cannot be scoped to a consumer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumers_own_plugin_wins_after_authentication() {
    let app = TestApp::spawn().await;
    let up = header_echo().await;
    service_with_route(
        &app,
        "echo",
        &up,
        json!({}),
        json!({ "name": "cp", "paths": ["/cp"] }),
    )
    .await;
    for name in ["alice", "bob"] {
        app.admin_json(Method::POST, "/consumers", json!({ "username": name }))
            .await;
        app.admin_json(
            Method::POST,
            &format!("/consumers/{name}/key-auth"),
            json!({ "key": format!("{name}-key") }),
        )
        .await;
    }
    let (status, _) = app
        .admin_json(
            Method::POST,
            "/routes/cp/plugins",
            json!({ "name": "key-auth" }),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = app
        .admin_json(
            Method::POST,
            "/routes/cp/plugins",
            json!({ "name": "rate-limiting", "config": { "hour": 1000 } }),
        )
        .await;
    assert_eq!(status, 201);
    let (status, own) = app
        .admin_json(
            Method::POST,
            "/consumers/alice/plugins",
            json!({ "name": "rate-limiting", "config": { "hour": 2 } }),
        )
        .await;
    assert_eq!(status, 201, "{own}");
    assert!(own["consumer"]["id"].is_string(), "{own}");
    let (status, listed) = app
        .admin_json(Method::GET, "/consumers/alice/plugins", json!(null))
        .await;
    assert_eq!(
        (status, listed["data"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    let (status, refused) = app
        .admin_json(
            Method::POST,
            "/consumers/alice/plugins",
            json!({ "name": "key-auth" }),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["fields"]["consumer"], "value must be null");

    let limit = |key: &'static str| {
        let app = &app;
        async move {
            let r = reqwest::Client::new()
                .get(format!("{}/cp", app.proxy))
                .header("apikey", key)
                .send()
                .await
                .expect("proxy");
            let hour = r
                .headers()
                .get("x-ratelimit-limit-hour")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            (r.status().as_u16(), hour)
        }
    };
    eventually(Duration::from_secs(3), "alice's own limit", || async {
        (limit("alice-key").await.1.as_deref() == Some("2")).then_some(())
    })
    .await;
    assert_eq!(limit("bob-key").await, (200, Some("1000".to_string())));
    // Alice has used at least one of her two; the third request in the hour is refused.
    let mut statuses = Vec::new();
    for _ in 0..2 {
        statuses.push(limit("alice-key").await.0);
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert_eq!(limit("bob-key").await.0, 200);
}

/// Kong's docs send plugin configs form-encoded: `config.key_names[1]=…`, repeated keys,
/// numbers and booleans as strings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_encoded_plugin_configs_as_kongs_docs_send_them() {
    let app = TestApp::spawn().await;
    let r = app
        .admin(Method::POST, "/plugins")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=key-auth&config.key_names[1]=x-key&config.key_names[2]=apikey&config.hide_credentials=true")
        .send()
        .await
        .expect("admin");
    assert_eq!(r.status().as_u16(), 201);
    let p: Value = r.json().await.expect("json");
    assert_eq!(p["config"]["key_names"], json!(["x-key", "apikey"]));
    assert_eq!(p["config"]["hide_credentials"], true);
    let r = app
        .admin(Method::POST, "/plugins")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=rate-limiting&config.minute=20&config.policy=local&config.limit_by=header&config.header_name=x-user")
        .send()
        .await
        .expect("admin");
    assert_eq!(r.status().as_u16(), 201);
    let p: Value = r.json().await.expect("json");
    assert_eq!(
        (
            p["config"]["minute"].as_f64(),
            p["config"]["header_name"].as_str()
        ),
        (Some(20.0), Some("x-user"))
    );
}
