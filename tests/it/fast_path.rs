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

/// The upstream headers of one request on a route with plugins, sent raw; `chunked` sends its
/// body chunked, which hyper's path serves, and otherwise the fast path serves it.
async fn upstream_headers(
    app: &TestApp,
    chunked: bool,
) -> serde_json::Map<String, serde_json::Value> {
    let framing = if chunked {
        "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    } else {
        "Content-Length: 3\r\n\r\nabc"
    };
    let req = format!(
        "POST /fph/x HTTP/1.1\r\nHost: gw.example:8000\r\napikey: fph-key\r\nX-Forwarded-For: 10.0.0.1\r\n\
         X-Forwarded-Proto: https\r\nX-Real-IP: 1.2.3.4\r\nX-Consumer-Username: mallory\r\nVia: 1.0 edge\r\n\
         Keep-Alive: timeout=5\r\nX-Kept: yes\r\nConnection: close\r\n{framing}"
    );
    let mut s = tokio::net::TcpStream::connect(app.proxy_addr)
        .await
        .expect("connect");
    s.write_all(req.as_bytes()).await.expect("send");
    let mut got = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(20), s.read_to_end(&mut got))
        .await
        .expect("the connection ends after the answer")
        .expect("read");
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 200 OK"), "{got}");
    assert!(
        got.to_ascii_lowercase()
            .contains("x-ratelimit-limit-minute: 10"),
        "rate-limiting's headers go to the client: {got}"
    );
    let body = &got[got.find("\r\n\r\n").expect("a head") + 4..];
    let echoed: serde_json::Value = serde_json::from_str(body).expect("the upstream's JSON");
    assert_eq!(echoed["body"], "abc", "{echoed}");
    let mut headers = echoed["headers"].as_object().expect("headers").clone();
    for framing in ["content-length", "transfer-encoding"] {
        headers.remove(framing);
    }
    headers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_change_upstream_headers_the_same_on_both_paths() {
    let app = TestApp::spawn().await;
    let up = helpers::reflect_upstream().await;
    service_with_route(
        &app,
        "fph",
        &format!("http://{}", up.addr),
        json!({}),
        json!({"name": "fph", "paths": ["/fph"]}),
    )
    .await;
    helpers::create(&app, "/consumers", json!({"username": "fph-user"})).await;
    helpers::create(
        &app,
        "/consumers/fph-user/key-auth",
        json!({"key": "fph-key"}),
    )
    .await;
    helpers::create(&app, "/routes/fph/plugins", json!({"name": "key-auth"})).await;
    helpers::create(
        &app,
        "/routes/fph/plugins",
        json!({"name": "rate-limiting", "config": {"minute": 10, "policy": "local"}}),
    )
    .await;

    let fast = upstream_headers(&app, false).await;
    let hyper = upstream_headers(&app, true).await;
    let get = |h: &serde_json::Map<String, serde_json::Value>, n: &str| h.get(n).cloned();
    assert_eq!(
        get(&fast, "x-forwarded-for"),
        Some(json!("10.0.0.1, 127.0.0.1"))
    );
    assert_eq!(get(&fast, "x-real-ip"), Some(json!("127.0.0.1")));
    assert_eq!(get(&fast, "x-forwarded-proto"), Some(json!("http")));
    assert_eq!(get(&fast, "x-forwarded-host"), Some(json!("gw.example")));
    assert_eq!(get(&fast, "x-forwarded-path"), Some(json!("/fph/x")));
    assert_eq!(get(&fast, "x-forwarded-prefix"), Some(json!("/fph")));
    assert_eq!(get(&fast, "x-consumer-username"), Some(json!("fph-user")));
    assert_eq!(
        get(&fast, "via"),
        Some(json!(["1.0 edge", "1.1 gatehouse"]))
    );
    assert_eq!(get(&fast, "host"), Some(json!(up.addr.to_string())));
    assert_eq!(get(&fast, "x-kept"), Some(json!("yes")));
    for hop in ["connection", "keep-alive"] {
        assert_eq!(get(&fast, hop), None, "{hop} is hop-by-hop");
    }
    assert!(
        fast.get("x-consumer-id")
            .and_then(|v| v.as_str())
            .is_some_and(|v| v.len() == 36),
        "{fast:?}"
    );
    assert_eq!(
        fast, hyper,
        "the fast path and hyper's send the same headers"
    );
}
