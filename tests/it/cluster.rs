//! Control plane and data planes as real processes on loopback: the `gatehouse` binary started
//! as a control plane and as nodes, each with its own data dir, killed and restarted like a real
//! outage would. The process harness is in `procs.rs`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{eventually, reflect_upstream};
use crate::procs::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_follow_the_control_plane_and_survive_its_outage() {
    let root = tempfile::tempdir().expect("temp dir");
    let upstream = reflect_upstream().await;
    let mut cp = ControlPlane::start(&root.path().join("cp")).await;
    let cred = cp.issue_credential("default").await;
    assert!(cred["ca_fingerprint"]
        .as_str()
        .unwrap_or("")
        .starts_with("sha256:"));

    let mut a = Node::start(&root.path().join("a"), &cred, &[]);
    let mut b = Node::start(&root.path().join("b"), &cred, &[]);
    // With no configuration yet, a node answers 404 rather than refusing connections.
    a.wait_for("/hello", 404, Duration::from_secs(20)).await;
    b.wait_for("/hello", 404, Duration::from_secs(20)).await;
    let ids = [a.id(), b.id()];
    wait_in_sync(&cp, &ids).await;

    // A saved route is served by both nodes within a second.
    add_route(&cp, "hello", &format!("http://{}", upstream.addr), "/hello").await;
    let ta = a.wait_for("/hello", 200, Duration::from_secs(5)).await;
    let tb = b.wait_for("/hello", 200, Duration::from_secs(5)).await;
    assert!(
        ta + tb < Duration::from_secs(1),
        "push took {ta:?} and {tb:?}"
    );
    let hash = wait_in_sync(&cp, &ids).await;
    let nodes = cp.nodes("default").await;
    assert!(
        nodes
            .iter()
            .any(|n| n["embedded"] == true && n["config_hash"] == hash.as_str()),
        "the embedded proxy is listed, on the same configuration: {nodes:?}"
    );
    for n in ids.iter().filter_map(|id| node_row(&nodes, id)) {
        assert_eq!(n["ip"], "127.0.0.1");
        assert_eq!(n["version"], env!("CARGO_PKG_VERSION"));
    }

    for _ in 0..5 {
        assert_eq!(a.get("/hello").await, Some(200));
    }
    assert_eq!(b.get("/hello").await, Some(200));

    // The control plane goes away: both nodes keep serving.
    cp.proc.kill();
    for _ in 0..4 {
        assert_eq!(a.get("/hello").await, Some(200));
    }
    assert_eq!(b.get("/hello").await, Some(200));
    // Records made during the outage are spooled on disk; a restarted node serves from its
    // cache and still delivers what it spooled before the restart.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    b.restart();
    b.wait_for("/hello", 200, Duration::from_secs(20)).await;
    assert!(
        b.proc.log().contains("serving the cached configuration"),
        "{}",
        b.proc.log()
    );

    // The control plane returns: nodes reconnect, converge on a change made after it.
    cp.restart().await;
    add_route(
        &cp,
        "second",
        &format!("http://{}", upstream.addr),
        "/second",
    )
    .await;
    a.wait_for("/second", 200, Duration::from_secs(30)).await;
    b.wait_for("/second", 200, Duration::from_secs(30)).await;
    let converged = wait_in_sync(&cp, &ids).await;
    assert_ne!(converged, hash);

    // Every answered request is counted exactly once, including the spooled ones.
    for node in [&a, &b] {
        let id = node.id();
        let want = node.answered;
        eventually(Duration::from_secs(15), "all records delivered", || {
            let (cp, id) = (&cp, id.clone());
            async move { (requests_counted(cp, &id).await == want).then_some(()) }
        })
        .await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        a.answered > 10 && b.answered > 3,
        "{} {}",
        a.answered,
        b.answered
    );
    assert_eq!(
        requests_counted(&cp, &a.id()).await,
        a.answered,
        "nothing counted twice"
    );
    assert_eq!(
        requests_counted(&cp, &b.id()).await,
        b.answered,
        "nothing counted twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_expired_and_unknown_credentials_are_refused() {
    let root = tempfile::tempdir().expect("temp dir");
    let upstream = reflect_upstream().await;
    let cp = ControlPlane::start(&root.path().join("cp")).await;
    add_route(&cp, "hello", &format!("http://{}", upstream.addr), "/hello").await;

    let cred = cp.issue_credential("default").await;
    let mut a = Node::start(&root.path().join("a"), &cred, &[]);
    a.wait_for("/hello", 200, Duration::from_secs(20)).await;
    wait_in_sync(&cp, &[a.id()]).await;

    // Revoking cuts the node off: its stream closes, reconnecting is refused, it says why in
    // its log, the table says why, and it keeps serving what it had.
    let (status, revoked) = cp
        .admin(
            Method::PATCH,
            &format!(
                "/runtime-groups/default/dp-credentials/{}",
                cred["id"].as_str().unwrap_or("")
            ),
            Some(json!({ "revoked": true })),
        )
        .await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["status"], "Revoked");
    wait_log(&a.proc, "node credential revoked", Duration::from_secs(30)).await;
    let id = a.id();
    let row = eventually(
        Duration::from_secs(10),
        "the table to show the refusal",
        || async {
            let nodes = cp.nodes("default").await;
            node_row(&nodes, &id)
                .filter(|n| n["sync_reason"].as_str().unwrap_or("").contains("revoked"))
                .cloned()
        },
    )
    .await;
    assert_eq!(row["sync_status"], "Out of sync");
    assert_eq!(a.get("/hello").await, Some(200));

    // An expired credential (expiry moved into the past in the control plane's own database).
    let expiring = cp.issue_credential("default").await;
    {
        let store = cp.open_store().await;
        let group = store.get_default_group().await.expect("group").id;
        let cred_id = uuid::Uuid::parse_str(expiring["id"].as_str().unwrap_or("")).expect("id");
        store
            .update_dp_credential(
                group,
                cred_id,
                Some(gatehouse::domain::now_secs() - 1),
                false,
            )
            .await
            .expect("expire")
            .expect("credential exists");
    }
    let b = Node::start(&root.path().join("b"), &expiring, &[]);
    wait_log(&b.proc, "node credential expired", Duration::from_secs(20)).await;
    let id = b.id();
    eventually(
        Duration::from_secs(10),
        "the expired node in the table",
        || async {
            let nodes = cp.nodes("default").await;
            node_row(&nodes, &id)
                .filter(|n| n["sync_reason"].as_str().unwrap_or("").contains("expired"))
                .cloned()
        },
    )
    .await;

    // A token the control plane never issued.
    let mut bogus = cred.clone();
    bogus["token"] = json!("ghdp_not_a_real_token");
    let c = Node::start(
        &root.path().join("c"),
        &bogus,
        &[("GATEHOUSE_ROLE", "data_plane".to_string())],
    );
    wait_log(&c.proc, "unknown node credential", Duration::from_secs(20)).await;
}

/// A fake control plane with a CA of its own, answering every stream request with `body`.
async fn fake_control_plane(dir: &Path, body: &'static [u8]) -> (u16, String) {
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    let store = gatehouse::store::Store::open_file(&dir.join("fake.db"))
        .await
        .expect("store");
    let ca = gatehouse::cluster::ClusterCa::load_or_create(&store)
        .await
        .expect("ca");
    let (chain, key) = ca
        .issue_server_cert(&["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("cert");
    let tls = gatehouse::cluster::control::server_tls(&chain, &key).expect("tls");
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(
                        http_body_util::Full::new(bytes::Bytes::from_static(body)),
                    ))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    (port, ca.fingerprint())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_and_wrong_control_planes_leave_the_node_on_its_config() {
    let root = tempfile::tempdir().expect("temp dir");
    let upstream = reflect_upstream().await;
    let cp = ControlPlane::start(&root.path().join("cp")).await;
    add_route(&cp, "hello", &format!("http://{}", upstream.addr), "/hello").await;
    let cred = cp.issue_credential("default").await;
    let mut node = Node::start(&root.path().join("n"), &cred, &[]);
    node.wait_for("/hello", 200, Duration::from_secs(20)).await;
    add_route(&cp, "later", &format!("http://{}", upstream.addr), "/later").await;

    // A control plane presenting another CA than the pinned one.
    node.args
        .retain(|(k, _)| *k != "GATEHOUSE_CLUSTER_CA_FINGERPRINT");
    node.args.push((
        "GATEHOUSE_CLUSTER_CA_FINGERPRINT",
        format!("sha256:{}", "ab".repeat(32)),
    ));
    node.restart();
    wait_log(
        &node.proc,
        "does not match the pinned fingerprint",
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(
        node.get("/hello").await,
        Some(200),
        "cached configuration still served"
    );

    // The right control plane, but its snapshot frame is larger than this node accepts.
    node.args
        .retain(|(k, _)| *k != "GATEHOUSE_CLUSTER_CA_FINGERPRINT");
    node.args.push((
        "GATEHOUSE_CLUSTER_CA_FINGERPRINT",
        cred["ca_fingerprint"].as_str().unwrap_or("").to_string(),
    ));
    node.args
        .push(("GATEHOUSE_CLUSTER_MAX_SNAPSHOT_BYTES", "256".to_string()));
    node.restart();
    wait_log(
        &node.proc,
        "exceeds the 256-byte limit",
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(node.get("/hello").await, Some(200));
    assert_eq!(
        node.get("/later").await,
        Some(404),
        "the refused snapshot was not applied"
    );

    // A control plane that sends garbage in a well-formed frame.
    let (port, fingerprint) = fake_control_plane(root.path(), b"\x00\x00\x00\x09not json!").await;
    node.args
        .retain(|(k, _)| !k.starts_with("GATEHOUSE_CLUSTER_"));
    node.args.push((
        "GATEHOUSE_CLUSTER_CONTROL_PLANE",
        format!("https://localhost:{port}"),
    ));
    node.args
        .push(("GATEHOUSE_CLUSTER_TOKEN", "ghdp_any".to_string()));
    node.args
        .push(("GATEHOUSE_CLUSTER_CA_FINGERPRINT", fingerprint));
    node.restart();
    wait_log(&node.proc, "malformed frame", Duration::from_secs(20)).await;
    assert_eq!(node.get("/hello").await, Some(200));
}

#[test]
fn a_node_without_a_pinned_ca_or_token_refuses_to_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(BIN)
        .args([
            "data-plane",
            "--control-plane",
            "https://localhost:1",
            "--token",
            "t",
        ])
        .env("GATEHOUSE_DATA_DIR", dir.path().join("node"))
        .env_remove("GATEHOUSE_CLUSTER_CA_FINGERPRINT")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--ca-fingerprint"), "{err}");
    let out = Command::new(BIN)
        .args([
            "data-plane",
            "--control-plane",
            "http://localhost:1",
            "--token",
            "t",
        ])
        .env("GATEHOUSE_DATA_DIR", dir.path().join("node"))
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("https://"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_are_isolated_and_a_deleted_groups_nodes_keep_serving() {
    let root = tempfile::tempdir().expect("temp dir");
    let upstream = reflect_upstream().await;
    let cp = ControlPlane::start(&root.path().join("cp")).await;
    let (s, group) = cp
        .admin(
            Method::POST,
            "/runtime-groups",
            Some(json!({ "name": "edge", "labels": { "env": "prod" } })),
        )
        .await;
    assert_eq!(s, 201, "{group}");
    let (s, dup) = cp
        .admin(
            Method::POST,
            "/runtime-groups",
            Some(json!({ "name": "edge" })),
        )
        .await;
    assert_eq!(s, 409, "{dup}");
    let scoped = "/runtime-groups/edge/core-entities";
    let (s, b) = cp
        .admin(
            Method::POST,
            &format!("{scoped}/services"),
            Some(json!({ "name": "edge-svc", "url": format!("http://{}", upstream.addr) })),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = cp
        .admin(
            Method::POST,
            &format!("{scoped}/services/edge-svc/routes"),
            Some(json!({ "name": "edge-route", "paths": ["/edge"] })),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (_, listed) = cp
        .admin(Method::GET, &format!("{scoped}/routes"), None)
        .await;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1));
    let (_, default_routes) = cp.admin(Method::GET, "/routes", None).await;
    assert_eq!(
        default_routes["data"].as_array().map(Vec::len),
        Some(0),
        "the default group does not see it"
    );

    let cred = cp.issue_credential("edge").await;
    let mut node = Node::start(&root.path().join("n"), &cred, &[]);
    node.wait_for("/edge", 200, Duration::from_secs(20)).await;
    // The control plane's own proxy serves the default group only.
    let own = reqwest::get(format!("http://127.0.0.1:{}/edge", cp.proxy_port))
        .await
        .expect("cp proxy");
    assert_eq!(own.status().as_u16(), 404);

    let (s, _) = cp.admin(Method::DELETE, "/runtime-groups/edge", None).await;
    assert_eq!(s, 204);
    let (s, _) = cp
        .admin(Method::DELETE, "/runtime-groups/default", None)
        .await;
    assert_eq!(s, 400, "the default group is never deleted");
    wait_log(
        &node.proc,
        "unknown node credential",
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(node.get("/edge").await, Some(200), "orphaned, not emptied");
    assert!(
        !node.proc.log().contains("routes=0"),
        "never pushed an empty configuration: {}",
        node.proc.log()
    );
}
