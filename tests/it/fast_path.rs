//! The proxy's HTTP/1 fast path (`src/proxy/fast`) and its hand-off to hyper on one client
//! connection: pipelined requests it serves and requests it leaves to hyper (a chunked body)
//! keep their order, their bodies and their framing.

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{self, service_with_route, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_on_both_paths_share_one_connection() {
    let app = TestApp::spawn().await;
    let up = helpers::reflect_upstream().await;
    service_with_route(
        &app,
        "fp",
        &format!("http://{}", up.addr),
        json!({}),
        json!({"paths": ["/fp"]}),
    )
    .await;
    app.wait_for_proxy("/fp", 200).await;

    let pipeline = concat!(
        "GET /fp/one HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /fp/two HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        // Chunked: hyper serves this one and everything after it.
        "POST /fp/three HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nworld\r\n0\r\n\r\n",
        "GET /fp/four HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let mut s = tokio::net::TcpStream::connect(app.proxy_addr)
        .await
        .expect("connect");
    s.write_all(pipeline.as_bytes()).await.expect("send");
    let mut got = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(20), s.read_to_end(&mut got))
        .await
        .expect("the connection ends after the last answer")
        .expect("read");
    let got = String::from_utf8_lossy(&got);
    assert_eq!(got.matches("HTTP/1.1 200 OK").count(), 4, "{got}");
    let order: Vec<usize> = ["/one", "/two", "/three", "/four"]
        .iter()
        .map(|p| got.find(&format!("\"path\":\"{p}\"")).unwrap_or(usize::MAX))
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "order {order:?}: {got}"
    );
    assert!(
        got.contains("\"body\":\"hello\"") && got.contains("\"body\":\"world\""),
        "{got}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_answer_with_the_body_at_hand_keeps_the_connection() {
    let app = TestApp::spawn().await;
    let up = helpers::reflect_upstream().await;
    service_with_route(
        &app,
        "fpk",
        &format!("http://{}", up.addr),
        json!({}),
        json!({"name": "fpk", "paths": ["/fpk"]}),
    )
    .await;
    let (status, _) = app
        .admin_json(
            reqwest::Method::POST,
            "/routes/fpk/plugins",
            json!({"name": "key-auth"}),
        )
        .await;
    assert_eq!(status, 201);
    app.wait_for_proxy("/fpk", 401).await;
    // key-auth answers 401 on the fast path; the body was read with the head, so the next
    // request on the connection is still found.
    let pipeline = concat!(
        "POST /fpk/a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        "GET /fpk/b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let mut s = tokio::net::TcpStream::connect(app.proxy_addr)
        .await
        .expect("connect");
    s.write_all(pipeline.as_bytes()).await.expect("send");
    let mut got = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(20), s.read_to_end(&mut got))
        .await
        .expect("the connection ends after the last answer")
        .expect("read");
    let got = String::from_utf8_lossy(&got);
    assert_eq!(got.matches("HTTP/1.1 401 Unauthorized").count(), 2, "{got}");
}
