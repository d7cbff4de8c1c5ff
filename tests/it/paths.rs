//! The proxy routes and forwards the normalized path, as Kong does: `.`/`..` segments, repeated
//! slashes and percent-encoded unreserved characters cannot walk around a route (and the plugins
//! on it), and a path that climbs above the root is refused.

use hyper::Response;
use serde_json::json;

use crate::helpers::{full, hyper_upstream, service_with_route, TestApp};

/// An upstream that answers `NAME PATH` with the path it was sent.
async fn named(name: &'static str) -> String {
    let addr =
        hyper_upstream(
            move |req| async move { Response::new(full(format!("{name} {}", req.uri()))) },
        )
        .await;
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_match_the_normalized_path() {
    let app = TestApp::spawn().await;
    let admin_up = named("admin").await;
    let mock_up = named("mock").await;
    service_with_route(
        &app,
        "admin",
        &admin_up,
        json!({}),
        json!({ "paths": ["/admin"], "strip_path": false }),
    )
    .await;
    service_with_route(
        &app,
        "mock",
        &mock_up,
        json!({}),
        json!({ "paths": ["/mock"], "strip_path": false }),
    )
    .await;
    app.wait_for_proxy("/admin", 200).await;

    // reqwest would normalize dot segments itself: send the request line as written.
    let raw = |path: &str| {
        let addr = app.proxy_addr;
        let path = path.to_string();
        async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            s.write_all(
                format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            )
            .await
            .expect("write");
            let mut out = String::new();
            s.read_to_string(&mut out).await.expect("read");
            let status = out.split(' ').nth(1).unwrap_or("").to_string();
            let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
            (status, body)
        }
    };
    for (path, want) in [
        ("/mock/../admin", "admin /admin"),
        ("/mock/%2e%2e/admin", "admin /admin"),
        ("/mock/./../admin/x", "admin /admin/x"),
        ("//admin//x", "admin /admin/x"),
        ("/%61dmin?q=1", "admin /admin?q=1"),
        ("/mock/a/../b", "mock /mock/b"),
    ] {
        let (status, body) = raw(path).await;
        assert_eq!(status, "200", "{path}: {body}");
        assert!(
            body.ends_with(want),
            "{path} reached `{body}`, expected `{want}`"
        );
    }
    for path in ["/../admin", "/mock/../../admin", "/admin%00x", "/admin%zz"] {
        let (status, body) = raw(path).await;
        assert_eq!(status, "400", "{path}: {body}");
    }
}
