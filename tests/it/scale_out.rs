//! What a team relies on when it runs Gatehouse on PostgreSQL: control planes sharing one
//! database, a database outage that the gateway rides out, and concurrent writers losing
//! nothing. Real processes and real PostgreSQL servers started by the tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::backend;
use crate::helpers::{client, eventually, reflect_upstream, TestApp};
use crate::procs::{add_route, ControlPlane, Node};

/// Polls `url` until it answers `status`; panics after `within`.
async fn answers_within(url: &str, status: u16, within: Duration, what: &str) -> Duration {
    let c = reqwest::Client::new();
    let start = Instant::now();
    loop {
        if let Ok(r) = c.get(url).timeout(Duration::from_secs(2)).send().await {
            if r.status().as_u16() == status {
                return start.elapsed();
            }
        }
        assert!(
            start.elapsed() < within,
            "{what}: {url} did not answer {status} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_control_planes_on_one_postgres_serve_every_change() {
    let root = tempfile::tempdir().expect("temp dir");
    let db = backend::shared().create_database().await;
    let upstream = reflect_upstream().await;
    let up = format!("http://{}", upstream.addr);
    let mut cp1 = ControlPlane::start_on(&root.path().join("cp1"), Some(db.clone())).await;
    let cp2 = ControlPlane::start_on(&root.path().join("cp2"), Some(db.clone())).await;

    // One cluster CA and one set of node credentials, kept in the shared database: a
    // credential issued by CP1 lets a node follow CP2.
    let cred = cp1.issue_credential("default").await;
    let (_, groups2) = cp2.admin(Method::GET, "/runtime-groups", None).await;
    assert_eq!(
        groups2["data"].as_array().map(Vec::len),
        Some(1),
        "one default group: {groups2}"
    );
    let mut via_cp2 = cred.clone();
    via_cp2["control_plane"] = json!(format!("https://localhost:{}", cp2.cluster_port));
    let mut node = Node::start(&root.path().join("node"), &via_cp2, &[]);
    node.wait_for("/nothing-yet", 404, Duration::from_secs(20))
        .await;

    // A route saved on CP1 is served by CP2's embedded proxy and by CP2's node within 1 s.
    add_route(&cp1, "ha", &up, "/ha").await;
    let saved = Instant::now();
    let cp2_proxy = format!("http://127.0.0.1:{}/ha", cp2.proxy_port);
    answers_within(&cp2_proxy, 200, Duration::from_secs(1), "CP2's proxy").await;
    node.wait_for(
        "/ha",
        200,
        Duration::from_secs(1).saturating_sub(saved.elapsed()),
    )
    .await;
    let cp1_proxy = format!("http://127.0.0.1:{}/ha", cp1.proxy_port);
    answers_within(&cp1_proxy, 200, Duration::from_secs(1), "CP1's proxy").await;

    // CP1 dies: CP2 keeps the console, the Admin API and the node.
    cp1.proc.kill();
    add_route(&cp2, "after", &up, "/after").await;
    node.wait_for("/after", 200, Duration::from_secs(1)).await;
    assert_eq!(node.get("/ha").await, Some(200));
    let console = client()
        .get(format!("http://127.0.0.1:{}/setup", cp2.console_port))
        .send()
        .await
        .expect("CP2 console");
    assert_eq!(console.status().as_u16(), 200);
    let nodes = cp2.nodes("default").await;
    assert!(
        nodes
            .iter()
            .any(|n| n["id"] == node.id() && n["connected"] == true),
        "CP2 lists the node it serves: {nodes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_keeps_the_proxy_serving_and_the_admin_api_answers_503() {
    let pg = backend::PgServer::start();
    let db = pg.create_database().await;
    let db2 = db.clone();
    let app = TestApp::spawn_with(move |s| s.database_url = Some(db2)).await;
    let upstream = reflect_upstream().await;
    crate::helpers::service_with_route(
        &app,
        "before",
        &format!("http://{}", upstream.addr),
        json!({}),
        json!({ "paths": ["/before"] }),
    )
    .await;
    app.wait_for_proxy("/before", 200).await;

    pg.stop();
    // The proxy never reads the database: every request during the outage is served.
    let proxy = reqwest::Client::new();
    for _ in 0..50 {
        let r = proxy
            .get(format!("{}/before", app.proxy))
            .send()
            .await
            .expect("proxy answers");
        assert_eq!(r.status().as_u16(), 200);
    }
    // The Admin API answers 503 with a clear message instead of hanging, and saves nothing.
    let asked = Instant::now();
    let r = app
        .admin(Method::POST, "/services")
        .json(&json!({ "name": "during", "url": "http://127.0.0.1:1" }))
        .send()
        .await
        .expect("admin answers");
    assert_eq!(r.status().as_u16(), 503);
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "answered in {:?}",
        asked.elapsed()
    );
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("database is unavailable"),
        "{body}"
    );
    let r = app
        .admin(Method::GET, "/services")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 503);

    // The database comes back: everything recovers by itself.
    pg.start_again();
    let services = eventually(
        Duration::from_secs(20),
        "the Admin API to recover",
        || async {
            let r = app.admin(Method::GET, "/services").send().await.ok()?;
            if r.status() != 200 {
                return None;
            }
            r.json::<Value>().await.ok()
        },
    )
    .await;
    let names: Vec<&str> = services["data"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        names,
        vec!["before"],
        "nothing half-saved during the outage"
    );
    crate::helpers::service_with_route(
        &app,
        "after",
        &format!("http://{}", upstream.addr),
        json!({}),
        json!({ "paths": ["/after"] }),
    )
    .await;
    app.wait_for_proxy("/after", 200).await;
}

/// 20 Admin API writers and console readers at once for 10 s, on the backend under test: no
/// 500, no "database is locked", and every acknowledged write is there at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_and_readers_lose_nothing() {
    let app = Arc::new(TestApp::spawn().await);
    app.login().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let acked = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let reads = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..20 {
        let (app, acked) = (app.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while Instant::now() < deadline {
                let name = format!("w{w}-{i}");
                i += 1;
                let r = app
                    .admin(Method::POST, "/services")
                    .json(&json!({ "name": name, "url": "http://127.0.0.1:9/x" }))
                    .send()
                    .await
                    .expect("write answered");
                let status = r.status().as_u16();
                let text = r.text().await.unwrap_or_default();
                assert_eq!(status, 201, "writer {w}: {text}");
                acked.lock().unwrap_or_else(|p| p.into_inner()).push(name);
            }
        }));
    }
    for _ in 0..4 {
        let (app, reads) = (app.clone(), reads.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                for path in ["/services", "/runtime-groups", "/analytics"] {
                    let r = app
                        .client
                        .get(format!("{}{path}", app.console))
                        .send()
                        .await
                        .expect("read answered");
                    let status = r.status().as_u16();
                    let text = r.text().await.unwrap_or_default();
                    assert_eq!(status, 200, "{path}: {text}");
                    assert!(!text.contains("database is locked"));
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let acked = acked.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert!(acked.len() > 20, "writers made progress: {}", acked.len());
    assert!(reads.load(Ordering::Relaxed) > 4, "readers made progress");
    let mut stored = Vec::new();
    let mut next = Some("/services?size=1000".to_string());
    while let Some(path) = next {
        let r = app.admin(Method::GET, &path).send().await.expect("list");
        assert_eq!(r.status().as_u16(), 200);
        let page: Value = r.json().await.expect("json");
        for s in page["data"].as_array().cloned().unwrap_or_default() {
            stored.push(s["name"].as_str().unwrap_or("").to_string());
        }
        next = page["next"].as_str().map(str::to_string);
    }
    stored.sort();
    let mut expected = acked;
    expected.sort();
    assert_eq!(
        stored, expected,
        "every acknowledged write is stored, nothing else"
    );
}
