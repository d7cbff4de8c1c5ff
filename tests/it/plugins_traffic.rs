//! Kong's traffic plugins on the real proxy: ip-restriction (allow/deny, status, message) and
//! request-size-limiting (413/417/411).

use std::time::Duration;

use hyper::Response;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{create, eventually, full, hyper_upstream, service_with_route, TestApp};

/// An upstream that answers 200 "ok" to everything (reading the body first).
async fn ok_upstream() -> String {
    let addr = hyper_upstream(|req| async move {
        use http_body_util::BodyExt;
        let _ = req.into_body().collect().await;
        Response::new(full("ok"))
    })
    .await;
    format!("http://{addr}")
}

/// An app with one service and a route on `path`, proxying already.
async fn app_with_route(name: &str, path: &str) -> TestApp {
    let app = TestApp::spawn().await;
    let up = ok_upstream().await;
    service_with_route(
        &app,
        name,
        &up,
        json!({}),
        json!({ "name": name, "paths": [path] }),
    )
    .await;
    app.wait_for_proxy(path, 200).await;
    app
}

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", app.proxy))
        .send()
        .await
        .expect("proxy");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Polls until `path` answers `status` (a plugin change reaches the proxy within seconds).
async fn until(app: &TestApp, path: &str, status: u16) -> Value {
    eventually(
        Duration::from_secs(3),
        "the proxy applies the plugin",
        || async {
            let (s, body) = get(app, path).await;
            (s == status).then_some(body)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_restriction_allows_and_denies_like_kong() {
    let app = app_with_route("ipr", "/ipr").await;
    let (status, body) = app
        .admin_json(
            Method::POST,
            "/routes/ipr/plugins",
            json!({ "name": "ip-restriction", "config": { "allow": ["10.0.0.1", "nope"] } }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["fields"]["config"]["allow"],
        "invalid ip or cidr range: 'nope'"
    );
    let (status, body) = app
        .admin_json(
            Method::POST,
            "/routes/ipr/plugins",
            json!({ "name": "ip-restriction", "config": { "allow": [] } }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["fields"]["@entity"],
        json!(["at least one of these fields must be non-empty: 'config.allow', 'config.deny'"])
    );

    // Only another address allowed: 127.0.0.1 is refused with Kong's default message.
    let plugin = create(
        &app,
        "/routes/ipr/plugins",
        json!({ "name": "ip-restriction", "config": { "allow": ["10.0.0.1", "::2"] } }),
    )
    .await;
    assert_eq!(plugin["config"]["status"], Value::Null);
    let body = until(&app, "/ipr", 403).await;
    assert_eq!(
        body,
        json!({ "message": "IP address not allowed: 127.0.0.1" })
    );
    let id = plugin["id"].as_str().expect("id").to_string();

    // A range holding the client lets it through...
    let (status, body) = app
        .admin_json(
            Method::PATCH,
            &format!("/plugins/{id}"),
            json!({ "config": { "allow": ["127.0.0.0/8"] } }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    until(&app, "/ipr", 200).await;

    // ...unless it is denied too: deny wins, with the configured status and message.
    let (status, body) = app
        .admin_json(
            Method::PATCH,
            &format!("/plugins/{id}"),
            json!({ "config": { "deny": ["127.0.0.1/32"], "status": 401, "message": "Forbidden" } }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let body = until(&app, "/ipr", 401).await;
    assert_eq!(body, json!({ "message": "Forbidden" }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_size_limiting_refuses_large_bodies_like_kong() {
    let app = app_with_route("rsl", "/rsl").await;
    create(
        &app,
        "/routes/rsl/plugins",
        json!({ "name": "request-size-limiting", "config": {
            "allowed_payload_size": 10, "size_unit": "bytes", "require_content_length": true
        } }),
    )
    .await;
    let client = reqwest::Client::new();
    let url = format!("{}/rsl", app.proxy);
    let post = |body: &'static str| client.post(&url).body(body).send();
    eventually(Duration::from_secs(3), "the limit applies", || async {
        let r = post("01234567890").await.ok()?;
        (r.status() == 413).then_some(())
    })
    .await;
    let r = post("01234567890").await.expect("proxy");
    assert_eq!(r.status(), 413);
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!({ "message": "Request size limit exceeded" })
    );
    assert_eq!(post("0123456789").await.expect("proxy").status(), 200);
    // A GET has no Content-Length: require_content_length refuses it.
    let r = client.get(&url).send().await.expect("proxy");
    assert_eq!(r.status(), 411);
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!({ "message": "A valid Content-Length header is required" })
    );
    // Asking to continue gets 417 instead, so the client never sends the body.
    let r = client
        .post(&url)
        .header("expect", "100-continue")
        .body("01234567890")
        .send()
        .await
        .expect("proxy");
    assert_eq!(r.status(), 417);
    // A chunked body is exempt from require_content_length (and not measured: see the plugin).
    let chunks: Vec<Result<&'static str, std::io::Error>> = vec![Ok("01234"), Ok("5")];
    let r = client
        .post(&url)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .expect("proxy");
    assert_eq!(r.status(), 200);
}
