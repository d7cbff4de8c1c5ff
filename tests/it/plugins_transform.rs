//! Kong's cors, correlation-id, request- and response-transformer, file-log and http-log,
//! through the real proxy against loopback upstreams and collectors.

use std::time::Duration;

use http_body_util::BodyExt;
use hyper::Response;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{eventually, full, hyper_upstream, service_with_route, TestApp};

mod logs;

/// An upstream answering with the request (method, URI, headers, body) as JSON, with a
/// `Vary` and an `X-Upstream` header of its own.
pub(crate) async fn echo() -> String {
    let addr = hyper_upstream(|req| async move {
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let headers: serde_json::Map<String, Value> = parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(v.to_str().unwrap_or(""))))
            .collect();
        let out = json!({
            "method": parts.method.as_str(),
            "uri": parts.uri.to_string(),
            "headers": headers,
            "body": String::from_utf8_lossy(&body),
        });
        // `?status=404` answers with that status.
        let status = parts
            .uri
            .query()
            .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("status=")))
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(200);
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .header("vary", "Accept-Encoding")
            .header("x-upstream", "yes")
            .body(full(out.to_string()))
            .expect("response")
    })
    .await;
    format!("http://{addr}")
}

/// A route `/{name}` on its own service with one plugin, live on the proxy.
pub(crate) async fn route_with_plugin(app: &TestApp, up: &str, name: &str, plugin: Value) -> Value {
    service_with_route(
        app,
        name,
        up,
        json!({}),
        json!({ "name": name, "paths": [format!("/{name}")] }),
    )
    .await;
    let (status, created) = app
        .admin_json(Method::POST, &format!("/routes/{name}/plugins"), plugin)
        .await;
    assert_eq!(status, 201, "{created}");
    created
}

pub(crate) fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Waits until the plugins of `path` are live (the probe says when), then returns the answer.
async fn live<F>(app: &TestApp, path: &str, probe: F) -> reqwest::Response
where
    F: Fn(&reqwest::Response) -> bool,
{
    let url = format!("{}{path}", app.proxy);
    eventually(Duration::from_secs(3), path, || async {
        let r = reqwest::get(&url).await.ok()?;
        probe(&r).then_some(r)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correlation_id_and_cors_like_kong() {
    let app = TestApp::spawn().await;
    let up = echo().await;
    let (status, bad) = app
        .admin_json(
            Method::POST,
            "/plugins",
            json!({ "name": "cors", "config": { "origins": ["(bad"] } }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        bad["fields"]["config"]["origins"],
        "'(bad' is not a valid regex"
    );

    let plugin = route_with_plugin(
        &app,
        &up,
        "cid",
        json!({ "name": "correlation-id", "config": { "echo_downstream": true } }),
    )
    .await;
    assert_eq!(plugin["config"]["generator"], "uuid#counter");
    assert_eq!(plugin["config"]["header_name"], "Kong-Request-ID");
    let r = live(&app, "/cid", |r| header(r, "kong-request-id").is_some()).await;
    let echoed = header(&r, "kong-request-id").expect("id").to_string();
    let seen: Value = r.json().await.expect("json");
    assert_eq!(seen["headers"]["kong-request-id"], echoed.as_str());
    let (prefix, n) = echoed.split_once('#').expect("uuid#counter");
    assert!(uuid::Uuid::parse_str(prefix).is_ok() && n.parse::<u64>().is_ok());
    // A client's own id is kept; an empty one is replaced.
    let client = reqwest::Client::new();
    let url = format!("{}/cid", app.proxy);
    let r = client
        .get(&url)
        .header("kong-request-id", "foobar")
        .send()
        .await
        .expect("proxy");
    assert_eq!(header(&r, "kong-request-id"), Some("foobar"));
    let seen: Value = r.json().await.expect("json");
    assert_eq!(seen["headers"]["kong-request-id"], "foobar");
    let r = client
        .get(&url)
        .header("kong-request-id", "")
        .send()
        .await
        .expect("proxy");
    assert_ne!(header(&r, "kong-request-id"), Some(""));

    // cors with Kong's "accepts config options" settings, and a key-auth behind it.
    route_with_plugin(
        &app,
        &up,
        "cors",
        json!({ "name": "cors", "config": {
            "origins": ["example.test"], "methods": ["GET"],
            "headers": ["origin", "type", "accepts"], "exposed_headers": ["x-auth-token"],
            "max_age": 23, "credentials": true,
        } }),
    )
    .await;
    let url = format!("{}/cors", app.proxy);
    let r = live(&app, "/cors", |r| {
        header(r, "access-control-allow-origin").is_some()
    })
    .await;
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("example.test")
    );
    assert_eq!(
        header(&r, "access-control-expose-headers"),
        Some("x-auth-token")
    );
    assert_eq!(header(&r, "access-control-allow-credentials"), Some("true"));
    assert!(header(&r, "access-control-allow-methods").is_none());
    let vary: Vec<&str> = r
        .headers()
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(
        vary,
        ["Accept-Encoding", "Origin"],
        "the upstream's Vary is kept"
    );
    let pre = client
        .request(Method::OPTIONS, &url)
        .header("origin", "origin5.test")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .expect("preflight");
    assert_eq!(pre.status(), 200);
    assert_eq!(header(&pre, "content-length"), Some("0"));
    assert_eq!(header(&pre, "access-control-allow-methods"), Some("GET"));
    assert_eq!(
        header(&pre, "access-control-allow-origin"),
        Some("example.test")
    );
    assert_eq!(header(&pre, "access-control-max-age"), Some("23"));
    assert_eq!(
        header(&pre, "access-control-allow-headers"),
        Some("origin,type,accepts")
    );
    assert_eq!(header(&pre, "vary"), Some("Origin"));
    assert!(
        header(&pre, "x-upstream").is_none(),
        "answered by the gateway"
    );

    // Defaults with key-auth behind: the 401 carries the CORS headers; a non-preflight
    // OPTIONS goes upstream.
    let plugin = route_with_plugin(&app, &up, "open", json!({ "name": "cors" })).await;
    assert_eq!(
        plugin["config"]["methods"].as_array().map(Vec::len),
        Some(9)
    );
    let (status, _) = app
        .admin_json(
            Method::POST,
            "/routes/open/plugins",
            json!({ "name": "key-auth" }),
        )
        .await;
    assert_eq!(status, 201);
    let r = live(&app, "/open", |r| r.status() == 401).await;
    assert_eq!(header(&r, "access-control-allow-origin"), Some("*"));
    assert!(header(&r, "vary").is_none());
    let pre = client
        .request(Method::OPTIONS, format!("{}/open", app.proxy))
        .header("origin", "origin1.test")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "origin,accepts")
        .send()
        .await
        .expect("preflight");
    assert_eq!(
        pre.status(),
        200,
        "preflights are answered before key-auth runs"
    );
    assert_eq!(
        header(&pre, "access-control-allow-methods"),
        Some("GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT")
    );
    assert_eq!(
        header(&pre, "access-control-allow-headers"),
        Some("origin,accepts")
    );
    assert!(header(&pre, "access-control-allow-credentials").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_and_response_transformers_like_kong() {
    let app = TestApp::spawn().await;
    let up = echo().await;
    let (status, bad) = app
        .admin_json(
            Method::POST,
            "/plugins",
            json!({ "name": "request-transformer", "config": { "add": { "querystring": ["q1"] } } }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        bad["fields"]["config"]["add"]["querystring"], "key 'q1' has no value",
        "{bad}"
    );
    let plugin = route_with_plugin(
        &app,
        &up,
        "rt",
        json!({ "name": "request-transformer", "config": {
            "http_method": "PUT",
            "remove": { "headers": ["x-remove"], "querystring": ["drop"], "body": ["gone"] },
            "rename": { "headers": ["x-old:x-new"] },
            "replace": { "uri": "/replaced/path" },
            "add": { "headers": ["x-added:a", "x-tpl:$(headers.x_old)-$(query_params.q)"], "body": ["k:v"] },
            "append": { "querystring": ["q:2"] },
        } }),
    )
    .await;
    assert_eq!(plugin["config"]["add"]["querystring"], json!([]));
    let client = reqwest::Client::new();
    let send = || {
        client
            .post(format!("{}/rt?q=1&drop=1", app.proxy))
            .header("x-remove", "1")
            .header("x-old", "o")
            .json(&json!({ "a": 1, "gone": 2 }))
            .send()
    };
    let seen: Value = eventually(
        Duration::from_secs(3),
        "request-transformer live",
        || async {
            let seen: Value = send().await.ok()?.json().await.ok()?;
            (seen["method"] == "PUT").then_some(seen)
        },
    )
    .await;
    assert_eq!(seen["uri"], "/replaced/path?q=1&q=2");
    let h = &seen["headers"];
    assert!(
        h.get("x-remove").is_none() && h.get("x-old").is_none(),
        "{h}"
    );
    assert_eq!((&h["x-new"], &h["x-added"]), (&json!("o"), &json!("a")));
    assert_eq!(
        h["x-tpl"], "o-1",
        "templates read the request as the client sent it"
    );
    let body: Value = serde_json::from_str(seen["body"].as_str().expect("body")).expect("json");
    assert_eq!(body, json!({ "a": 1, "k": "v" }));
    assert_eq!(
        h["content-length"],
        seen["body"]
            .as_str()
            .map(|b| b.len().to_string())
            .expect("len")
            .as_str()
    );

    // A form sent as GET: its arguments join the query.
    route_with_plugin(
        &app,
        &up,
        "toget",
        json!({ "name": "request-transformer", "config": { "http_method": "GET" } }),
    )
    .await;
    let seen: Value = eventually(Duration::from_secs(3), "form to query", || async {
        let r = client
            .post(format!("{}/toget?z=0", app.proxy))
            .form(&[("a", "1 2"), ("b", "x")])
            .send()
            .await
            .ok()?;
        let seen: Value = r.json().await.ok()?;
        (seen["method"] == "GET").then_some(seen)
    })
    .await;
    assert_eq!(seen["uri"], "/?a=1%202&b=x&z=0");

    route_with_plugin(
        &app,
        &up,
        "rs",
        json!({ "name": "response-transformer", "config": {
            "remove": { "headers": ["x-upstream"], "json": ["headers"] },
            "add": { "headers": ["x-added:1"], "json": ["n:5", "b:true"], "json_types": ["number", "boolean"] },
            "append": { "headers": ["vary:Cookie"] },
            "rename": { "json": ["uri:path"] },
        } }),
    )
    .await;
    let r = live(&app, "/rs", |r| header(r, "x-added").is_some()).await;
    assert!(header(&r, "x-upstream").is_none());
    let vary: Vec<&str> = r
        .headers()
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(vary, ["Accept-Encoding", "Cookie"]);
    let length: usize = header(&r, "content-length")
        .and_then(|v| v.parse().ok())
        .expect("length");
    let text = r.text().await.expect("body");
    assert_eq!(length, text.len());
    let body: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(body["n"], 5);
    assert_eq!(body["b"], true);
    assert_eq!(body["path"], "/");
    assert!(
        body.get("headers").is_none() && body.get("uri").is_none(),
        "{body}"
    );
}
