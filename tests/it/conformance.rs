//! Kong routing conformance: every case of the shared `router-cases.json`, run against the real
//! proxy. One app serves all cases; between cases every route and service is deleted through the
//! Admin API and the proxy is confirmed to serve none. Each service gets its own loopback echo
//! upstream, so the upstream that answers tells which service the router chose.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::helpers::{self, TestApp, Upstream};

const CASES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/conformance/router-cases.json"
);

const EXPECT_KEYS: &[&str] = &[
    "status",
    "service",
    "upstream_path",
    "upstream_query",
    "upstream_host",
    "upstream_headers",
    "body_json",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_router_case_behaves_like_kong() {
    let raw = std::fs::read_to_string(CASES).expect("read router-cases.json");
    let doc: Value = serde_json::from_str(&raw).expect("router-cases.json is JSON");
    assert_eq!(doc["format"], "gatehouse-conformance/1", "cases format");
    let cases = doc["cases"].as_array().expect("a cases array");
    assert!(!cases.is_empty(), "no cases");

    let app = TestApp::spawn().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");

    let mut ids = HashSet::new();
    let mut failures = Vec::new();
    for case in cases {
        let id = case["id"].as_str().expect("every case has an id");
        assert!(ids.insert(id), "duplicate case id {id}");
        reset(&app).await;
        let problems = run_case(&app, &client, case).await;
        if !problems.is_empty() {
            failures.push(format!("  {id}: {}", problems.join("; ")));
        }
    }
    println!(
        "router conformance: {} of {} cases passed",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} router cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Runs one case from an empty configuration; returns every mismatch found.
async fn run_case(app: &TestApp, client: &reqwest::Client, case: &Value) -> Vec<String> {
    let mut problems = Vec::new();

    // Services, each pointed at its own upstream.
    let mut upstreams: HashMap<String, Upstream> = HashMap::new();
    for svc in case["services"].as_array().into_iter().flatten() {
        let Some(name) = svc["name"].as_str() else {
            problems.push(format!("service without a name: {svc}"));
            continue;
        };
        let upstream = helpers::reflect_upstream().await;
        let mut body: Map<String, Value> = svc.as_object().cloned().unwrap_or_default();
        // `url` replaces host, port and path, so a case's path goes into the url.
        let path = match body.remove("path") {
            Some(Value::String(p)) => p,
            _ => String::new(),
        };
        body.insert(
            "url".into(),
            Value::String(format!("http://{}{path}", upstream.addr)),
        );
        let (status, resp) = app
            .admin_json(Method::POST, "/services", Value::Object(body))
            .await;
        if status != 201 {
            problems.push(format!("creating service {name}: {status} {resp}"));
        }
        upstreams.insert(name.to_string(), upstream);
    }

    // Routes, with `service` given by name.
    let routes = case["routes"].as_array().cloned().unwrap_or_default();
    for route in &routes {
        let mut body: Map<String, Value> = route.as_object().cloned().unwrap_or_default();
        if let Some(Value::String(svc)) = body.get("service").cloned() {
            body.insert("service".into(), json!({ "name": svc }));
        }
        let (status, resp) = app
            .admin_json(Method::POST, "/routes", Value::Object(body))
            .await;
        if status != 201 {
            problems.push(format!("creating route {}: {status} {resp}", route["name"]));
        }
    }
    if !problems.is_empty() {
        return problems;
    }
    wait_for_routes(app, routes.len()).await;

    // The request.
    let req = &case["request"];
    let method = req["method"].as_str().unwrap_or("GET");
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return vec![format!("invalid method {method}")];
    };
    let path = req["path"].as_str().unwrap_or("/");
    let mut builder = client.request(method, format!("{}{path}", app.proxy));
    for (name, value) in req["headers"].as_object().into_iter().flatten() {
        let (Ok(n), Some(Ok(v))) = (
            HeaderName::from_bytes(name.as_bytes()),
            value.as_str().map(HeaderValue::from_str),
        ) else {
            return vec![format!("invalid request header {name}: {value}")];
        };
        // A `Host` given here replaces the one reqwest would derive from the URL.
        builder = builder.header(n, v);
    }
    let resp = match builder.send().await {
        Ok(r) => r,
        Err(e) => return vec![format!("request failed: {e}")],
    };
    let status = resp.status().as_u16();
    let text = match resp.text().await {
        Ok(t) => t,
        Err(e) => return vec![format!("reading the response failed: {e}")],
    };
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);

    // The expectations.
    let expect = &case["expect"];
    let Some(expect_obj) = expect.as_object() else {
        return vec!["case has no expect object".into()];
    };
    for key in expect_obj.keys() {
        if !EXPECT_KEYS.contains(&key.as_str()) {
            problems.push(format!("unknown expectation {key}"));
        }
    }
    if let Some(want) = expect["status"].as_u64() {
        if u64::from(status) != want {
            problems.push(format!("status {status}, expected {want} (body {text})"));
        }
    }
    let answered_by = body["server"].as_str().map(|server| {
        upstreams
            .iter()
            .find(|(_, u)| u.addr.to_string() == server)
            .map(|(n, _)| n.clone())
            .unwrap_or_else(|| format!("unknown upstream {server}"))
    });
    if let Some(want) = expect["service"].as_str() {
        match &answered_by {
            Some(got) if got == want => {}
            Some(got) => problems.push(format!("answered by service {got}, expected {want}")),
            None => problems.push(format!("no upstream answered, expected service {want}")),
        }
    }
    for (key, field) in [("upstream_path", "path"), ("upstream_query", "query")] {
        if let Some(want) = expect[key].as_str() {
            if body[field].as_str() != Some(want) {
                problems.push(format!("{key} {}, expected {want:?}", body[field]));
            }
        }
    }
    if let Some(want) = expect["upstream_host"].as_str() {
        // The expected service, or the case's only one.
        let service = match expect["service"].as_str() {
            Some(s) => Some(s),
            None if upstreams.len() == 1 => upstreams.keys().next().map(String::as_str),
            None => None,
        };
        let want = match service.and_then(|s| upstreams.get(s)) {
            Some(u) => want.replace("{service_host}", &u.addr.to_string()),
            None => want.to_string(),
        };
        let got = &body["headers"]["host"];
        if got.as_str() != Some(want.as_str()) {
            problems.push(format!("upstream Host {got}, expected {want:?}"));
        }
    }
    for (name, want) in expect["upstream_headers"].as_object().into_iter().flatten() {
        let got = &body["headers"][name.to_ascii_lowercase()];
        let present = match got {
            Value::String(_) => got == want,
            Value::Array(values) => values.contains(want),
            _ => false,
        };
        if !present {
            problems.push(format!("upstream header {name} {got}, expected {want}"));
        }
    }
    if let Some(want) = expect.get("body_json") {
        if &body != want {
            problems.push(format!("body {text}, expected {want}"));
        }
    }
    problems
}

/// Deletes every route and service, then waits until the proxy serves no route.
async fn reset(app: &TestApp) {
    for (collection, what) in [("/routes", "route"), ("/services", "service")] {
        let (status, list) = app
            .admin_json(Method::GET, &format!("{collection}?size=1000"), Value::Null)
            .await;
        assert_eq!(status, 200, "listing {collection}: {list}");
        for item in list["data"].as_array().into_iter().flatten() {
            let id = item["id"].as_str().expect("entity id");
            let r = app
                .admin(Method::DELETE, &format!("{collection}/{id}"))
                .send()
                .await
                .expect("delete request");
            assert_eq!(r.status().as_u16(), 204, "deleting {what} {id}");
        }
    }
    wait_for_routes(app, 0).await;
}

/// Waits until the configuration the proxy serves has exactly `n` routes. Routes are created
/// after their services and the snapshot is built from the store after each write, so once the
/// count is reached the proxy serves the whole case.
async fn wait_for_routes(app: &TestApp, n: usize) {
    helpers::eventually(
        Duration::from_secs(5),
        &format!("the proxy to serve {n} routes"),
        || async {
            let (status, body) = app.admin_json(Method::GET, "/status", Value::Null).await;
            (status == 200 && body["server"]["routes"].as_u64() == Some(n as u64)).then_some(())
        },
    )
    .await;
}
