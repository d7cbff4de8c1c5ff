//! file-log and http-log: every request's record written or delivered exactly once.

use std::time::Duration;

use http_body_util::BodyExt;
use hyper::Response;
use reqwest::Method;
use serde_json::{json, Value};

use super::{echo, route_with_plugin};
use crate::helpers::{eventually, full, hyper_upstream, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_log_writes_one_line_per_request() {
    let app = TestApp::spawn().await;
    let up = echo().await;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("requests.log");
    let (status, bad) = app
        .admin_json(
            Method::POST,
            "/plugins",
            json!({ "name": "file-log", "config": { "path": "/tmp/a*b" } }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(bad["fields"]["config"]["path"], "not a valid filename");
    let (status, bad) = app
        .admin_json(
            Method::POST,
            "/plugins",
            json!({ "name": "file-log", "config": { "path": "/tmp/x.log", "custom_fields_by_lua": { "a": "return 1" } } }),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        bad["fields"]["config"]["custom_fields_by_lua"]
            .as_str()
            .is_some_and(|m| m.contains("not supported")),
        "{bad}"
    );
    route_with_plugin(
        &app,
        &up,
        "fl",
        json!({ "name": "file-log", "config": { "path": path.to_string_lossy() } }),
    )
    .await;
    // The first logged request tells the plugin is live; it is counted too.
    eventually(Duration::from_secs(3), "file-log live", || async {
        let _ = reqwest::get(format!("{}/fl?warmup=1", app.proxy)).await;
        std::fs::metadata(&path).is_ok().then_some(())
    })
    .await;
    let read = || -> Vec<Value> {
        std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    };
    const N: usize = 40;
    let client = reqwest::Client::new();
    for i in 0..N {
        let status = if i % 4 == 0 { 404 } else { 200 };
        let r = client
            .get(format!("{}/fl?status={status}&i={i}", app.proxy))
            .header("authorization", "secret")
            .send()
            .await
            .expect("proxy");
        assert_eq!(r.status().as_u16(), status);
        r.bytes().await.expect("body");
    }
    // Warm-up lines may still be arriving: the numbered ones are counted.
    let numbered = |lines: Vec<Value>| -> Vec<Value> {
        lines
            .into_iter()
            .filter(|l| l["request"]["querystring"].get("i").is_some())
            .collect()
    };
    let ours = eventually(Duration::from_secs(5), "every line written", || async {
        let ours = numbered(read());
        (ours.len() >= N).then_some(ours)
    })
    .await;
    assert_eq!(ours.len(), N, "exactly one line per request");
    for (i, line) in ours.iter().enumerate() {
        let want = if i % 4 == 0 { 404 } else { 200 };
        assert_eq!(line["response"]["status"], want, "{line}");
        assert_eq!(line["request"]["querystring"]["i"], i.to_string());
        assert_eq!(line["request"]["method"], "GET");
        assert_eq!(line["request"]["headers"]["authorization"], "REDACTED");
        assert!(line["route"]["id"].is_string() && line["latencies"]["request"].is_number());
    }
}

/// What an http-log collector received: each request body, parsed.
type Received = std::sync::Arc<std::sync::Mutex<Vec<Value>>>;

/// A collector that records every body it accepts; with `fail_first`, the first body that
/// carries one of the test's entries (`?n=`) is answered 500 and not recorded.
async fn collector(
    fail_first: bool,
) -> (
    String,
    Received,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let got: Received = Default::default();
    let failed = std::sync::Arc::new(AtomicBool::new(false));
    let (g, f) = (got.clone(), failed.clone());
    let addr = hyper_upstream(move |req| {
        let (got, failed) = (g.clone(), f.clone());
        async move {
            let ct = req.headers().get("content-type").cloned();
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let ours = body.windows(4).any(|w| w == b"\"n\":");
            if fail_first && ours && !failed.swap(true, Ordering::SeqCst) {
                return Response::builder()
                    .status(500)
                    .body(full("try again"))
                    .expect("500");
            }
            assert_eq!(
                ct.as_ref().map(|v| v.as_bytes()),
                Some(&b"application/json"[..])
            );
            got.lock().expect("lock").push(v);
            Response::new(full("ok"))
        }
    })
    .await;
    (format!("http://{addr}/logs"), got, failed)
}

/// Every entry received with its `n` query argument, in arrival order.
fn entries_with_n(got: &Received) -> Vec<String> {
    got.lock()
        .expect("lock")
        .iter()
        .flat_map(|b| match b {
            Value::Array(a) => a.clone(),
            v => vec![v.clone()],
        })
        .filter_map(|e| {
            e["request"]["querystring"]["n"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

async fn send_numbered(app: &TestApp, got: &Received, path: &str, n: usize) {
    let client = reqwest::Client::new();
    // Until the plugin is live nothing is logged: warm up with unnumbered requests until
    // one of them reaches the collector.
    eventually(Duration::from_secs(5), "http-log live", || async {
        let _ = reqwest::get(format!("{}{path}?warm=1", app.proxy)).await;
        let warm = got
            .lock()
            .expect("lock")
            .iter()
            .any(|b| b.to_string().contains("\"warm\":"));
        warm.then_some(())
    })
    .await;
    for i in 0..n {
        let r = client
            .get(format!("{}{path}?n={i}", app.proxy))
            .send()
            .await
            .expect("proxy");
        assert_eq!(r.status(), 200);
        r.bytes().await.expect("body");
    }
    let r = client
        .get(format!("{}{path}?n=last", app.proxy))
        .send()
        .await
        .expect("proxy");
    r.bytes().await.expect("body");
}

/// Waits for the `last` marker: the queue sends in order, so everything before it was
/// delivered (or retried) by then; each numbered entry must be there exactly once.
async fn assert_exactly_once(got: &Received, n: usize) {
    let seen = eventually(Duration::from_secs(10), "the last entry", || async {
        let seen = entries_with_n(got);
        seen.iter().any(|s| s == "last").then_some(seen)
    })
    .await;
    let mut numbers: Vec<usize> = seen.iter().filter_map(|s| s.parse().ok()).collect();
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (0..n).collect::<Vec<_>>(),
        "each entry exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_log_delivers_every_entry_once_with_retries_and_batches() {
    let app = TestApp::spawn().await;
    let up = echo().await;
    let (status, bad) = app
        .admin_json(
            Method::POST,
            "/plugins",
            json!({ "name": "http-log", "config": { "http_endpoint": "http://h/", "headers": { "Content-Type": "x" } } }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        bad["fields"]["config"]["headers"],
        "cannot contain 'Content-Type' header"
    );
    for name in [
        "http-log",
        "file-log",
        "request-transformer",
        "response-transformer",
        "cors",
    ] {
        let (status, schema) = app
            .admin_json(
                Method::GET,
                &format!("/schemas/plugins/{name}"),
                Value::Null,
            )
            .await;
        assert_eq!(status, 200, "{name}: {schema}");
    }

    // One entry per request, the first delivery refused once and retried.
    let (url, got, failed) = collector(true).await;
    let plugin = route_with_plugin(
        &app,
        &up,
        "hl",
        json!({ "name": "http-log", "config": { "http_endpoint": url, "headers": { "x-token": "t" } } }),
    )
    .await;
    assert_eq!(plugin["config"]["queue"]["max_batch_size"], 1);
    assert_eq!(plugin["config"]["method"], "POST");
    const N: usize = 30;
    send_numbered(&app, &got, "/hl", N).await;
    assert_exactly_once(&got, N).await;
    assert!(
        failed.load(std::sync::atomic::Ordering::SeqCst),
        "a delivery was retried"
    );
    assert!(
        got.lock().expect("lock").iter().all(Value::is_object),
        "one entry per body when max_batch_size is 1"
    );

    // Batches: JSON arrays of up to five entries.
    let (url, got, _) = collector(false).await;
    route_with_plugin(
        &app,
        &up,
        "hb",
        json!({ "name": "http-log", "config": { "http_endpoint": url,
            "queue": { "max_batch_size": 5, "max_coalescing_delay": 0.2 } } }),
    )
    .await;
    send_numbered(&app, &got, "/hb", 12).await;
    assert_exactly_once(&got, 12).await;
    let bodies = got.lock().expect("lock").clone();
    assert!(bodies
        .iter()
        .all(|b| b.as_array().is_some_and(|a| (1..=5).contains(&a.len()))));
    assert!(
        bodies
            .iter()
            .any(|b| b.as_array().is_some_and(|a| a.len() > 1)),
        "entries were batched"
    );
}
