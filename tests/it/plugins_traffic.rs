//! Kong's traffic plugins on the real proxy: ip-restriction (allow/deny, status, message),
//! request-size-limiting (413/417/411) and rate-limiting (exact counts, Kong's headers, limit_by,
//! counters kept across config changes, and the redis policy shared by two nodes).

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
    // A chunked body is exempt from require_content_length, and measured as Kong buffers it.
    let chunked = |parts: Vec<&'static str>| {
        let chunks: Vec<Result<&'static str, std::io::Error>> = parts.into_iter().map(Ok).collect();
        client
            .post(&url)
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            )))
            .send()
    };
    let r = chunked(vec!["01234", "5"]).await.expect("proxy");
    assert_eq!(r.status(), 200);
    let r = chunked(vec!["01234", "567890"]).await.expect("proxy");
    assert_eq!(r.status(), 413);
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!({ "message": "Request size limit exceeded" })
    );
}

/// One proxied GET: status, the response's headers, and its JSON body.
async fn call(
    base: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .timeout(Duration::from_secs(5));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.expect("proxy");
    let status = r.status().as_u16();
    let h = r.headers().clone();
    (status, h, r.json().await.unwrap_or(Value::Null))
}

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Waits, when the current window of `len` seconds ends within `margin` seconds, for the next
/// one: counts that must add up exactly cannot straddle a window's end.
async fn fresh_window(len: u64, margin: u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let left = len - now % len;
    if left <= margin {
        tokio::time::sleep(Duration::from_secs(left) + Duration::from_millis(100)).await;
    }
}

/// Sends until the plugin's headers appear (the first counted request) and returns it.
async fn first_limited(
    base: &str,
    path: &str,
    headers: &[(&str, &str)],
    name: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    eventually(Duration::from_secs(3), "rate-limiting applies", || async {
        let r = call(base, path, headers).await;
        header(&r.1, name).is_some().then_some(r)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limiting_local_counts_exactly_with_kong_headers() {
    let app = app_with_route("rl", "/rl").await;
    fresh_window(60, 15).await;
    let (status, body) = app
        .admin_json(
            Method::POST,
            "/routes/rl/plugins",
            json!({ "name": "rate-limiting", "config": {} }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["fields"]["@entity"][0],
        "at least one of these fields must be non-empty: 'config.second', 'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year'"
    );
    let (status, body) = app
        .admin_json(
            Method::POST,
            "/routes/rl/plugins",
            json!({ "name": "rate-limiting", "config": { "minute": 10, "hour": 5 } }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["fields"]["config"],
        "The limit for hour(5.0) cannot be lower than the limit for minute(10.0)"
    );
    let plugin = create(
        &app,
        "/routes/rl/plugins",
        json!({ "name": "rate-limiting", "config": { "minute": 3, "hour": 100 } }),
    )
    .await;
    assert_eq!(plugin["config"]["policy"], "local");
    let id = plugin["id"].as_str().expect("id").to_string();

    let base = app.proxy.clone();
    let mut remaining = Vec::new();
    let first = first_limited(&base, "/rl", &[], "x-ratelimit-limit-minute").await;
    let mut responses = vec![first];
    for _ in 0..2 {
        responses.push(call(&base, "/rl", &[]).await);
    }
    for (status, h, _) in &responses {
        assert_eq!(*status, 200);
        assert_eq!(header(h, "x-ratelimit-limit-minute"), Some("3"));
        assert_eq!(header(h, "x-ratelimit-limit-hour"), Some("100"));
        assert_eq!(
            header(h, "ratelimit-limit"),
            Some("3"),
            "the minute is the tightest"
        );
        let reset: u64 = header(h, "ratelimit-reset")
            .and_then(|v| v.parse().ok())
            .expect("reset");
        assert!((1..=60).contains(&reset), "{reset}");
        assert!(h.get("retry-after").is_none());
        remaining.push(header(h, "x-ratelimit-remaining-minute").map(str::to_string));
    }
    assert_eq!(
        remaining,
        vec![Some("2".into()), Some("1".into()), Some("0".into())]
    );
    assert_eq!(
        header(&responses[2].1, "x-ratelimit-remaining-hour"),
        Some("97")
    );

    let (status, h, body) = call(&base, "/rl", &[]).await;
    assert_eq!(status, 429);
    assert_eq!(body, json!({ "message": "API rate limit exceeded" }));
    assert_eq!(header(&h, "x-ratelimit-remaining-minute"), Some("0"));
    assert_eq!(header(&h, "ratelimit-remaining"), Some("0"));
    assert_eq!(
        header(&h, "x-ratelimit-remaining-hour"),
        Some("97"),
        "refusals do not count"
    );
    let retry: u64 = header(&h, "retry-after")
        .and_then(|v| v.parse().ok())
        .expect("retry-after");
    assert_eq!(
        Some(retry.to_string().as_str()),
        header(&h, "ratelimit-reset")
    );

    // A config change keeps the count: still refused, now with the new message and no headers.
    let (status, body) = app
        .admin_json(
            Method::PATCH,
            &format!("/plugins/{id}"),
            json!({ "config": { "error_message": "slow down", "error_code": 403, "hide_client_headers": true } }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (h, body) = eventually(Duration::from_secs(3), "the new config applies", || async {
        let (s, h, body) = call(&base, "/rl", &[]).await;
        (s == 403).then_some((h, body))
    })
    .await;
    assert_eq!(body, json!({ "message": "slow down" }));
    assert!(h.get("x-ratelimit-limit-minute").is_none() && h.get("retry-after").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limiting_by_consumer_and_by_header() {
    let app = app_with_route("rlc", "/rlc").await;
    let up = ok_upstream().await;
    service_with_route(
        &app,
        "rlh",
        &up,
        json!({}),
        json!({ "name": "rlh", "paths": ["/rlh"] }),
    )
    .await;
    app.wait_for_proxy("/rlh", 200).await;
    fresh_window(3600, 20).await;
    create(&app, "/routes/rlc/plugins", json!({ "name": "key-auth" })).await;
    for who in ["ann", "bob"] {
        create(&app, "/consumers", json!({ "username": who })).await;
        create(
            &app,
            &format!("/consumers/{who}/key-auth"),
            json!({ "key": format!("{who}-key") }),
        )
        .await;
    }
    create(
        &app,
        "/routes/rlc/plugins",
        json!({ "name": "rate-limiting", "config": { "hour": 2, "limit_by": "consumer" } }),
    )
    .await;
    create(
        &app,
        "/routes/rlh/plugins",
        json!({ "name": "rate-limiting", "config": { "hour": 1, "limit_by": "header", "header_name": "x-app" } }),
    )
    .await;
    let base = app.proxy.clone();

    // ann uses up her two; bob (same IP) still has his.
    let ann = [("apikey", "ann-key")];
    let (s, h, _) = first_limited(&base, "/rlc", &ann, "x-ratelimit-limit-hour").await;
    assert_eq!(
        (s, header(&h, "x-ratelimit-remaining-hour")),
        (200, Some("1"))
    );
    assert_eq!(call(&base, "/rlc", &ann).await.0, 200);
    assert_eq!(call(&base, "/rlc", &ann).await.0, 429);
    let (s, h, _) = call(&base, "/rlc", &[("apikey", "bob-key")]).await;
    assert_eq!(
        (s, header(&h, "x-ratelimit-remaining-hour")),
        (200, Some("1"))
    );

    // By header: each value has its own count; without the header, the IP is counted.
    let (s, _, _) = first_limited(&base, "/rlh", &[("x-app", "a")], "x-ratelimit-limit-hour").await;
    assert_eq!(s, 200);
    assert_eq!(call(&base, "/rlh", &[("x-app", "a")]).await.0, 429);
    assert_eq!(call(&base, "/rlh", &[("x-app", "b")]).await.0, 200);
    assert_eq!(call(&base, "/rlh", &[]).await.0, 200);
    assert_eq!(call(&base, "/rlh", &[]).await.0, 429);
}

/// A throwaway `redis-server` on a free loopback port in a temp dir, killed when dropped.
struct RedisServer {
    child: Option<std::process::Child>,
    port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    async fn start() -> RedisServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = crate::procs::free_port();
        let log = std::fs::File::create(dir.path().join("redis.log")).expect("log");
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("redis-server (scripts/install-test-deps.sh installs it)");
        let server = RedisServer {
            child: Some(child),
            port,
            _dir: dir,
        };
        eventually(Duration::from_secs(10), "redis-server listens", || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(|_| ())
        })
        .await;
        server
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limiting_redis_is_shared_by_nodes_and_fault_tolerant() {
    use crate::procs::{add_route, ControlPlane, Node};
    const LIMIT: usize = 6;
    let mut redis = RedisServer::start().await;
    let root = tempfile::tempdir().expect("temp dir");
    let up = ok_upstream().await;
    let cp = ControlPlane::start(&root.path().join("cp")).await;
    let cred = cp.issue_credential("default").await;
    let mut nodes = [
        Node::start(&root.path().join("node-a"), &cred, &[]),
        Node::start(&root.path().join("node-b"), &cred, &[]),
    ];
    add_route(&cp, "shared", &up, "/shared").await;
    for n in nodes.iter_mut() {
        n.wait_for("/shared", 200, Duration::from_secs(20)).await;
    }
    fresh_window(3600, 30).await;
    let (status, plugin) = cp
        .admin(
            Method::POST,
            "/routes/shared-route/plugins",
            Some(json!({ "name": "rate-limiting", "config": {
                "hour": LIMIT, "policy": "redis",
                "redis": { "host": "127.0.0.1", "port": redis.port, "timeout": 500 },
            } })),
        )
        .await;
    assert_eq!(status, 201, "{plugin}");
    let id = plugin["id"].as_str().expect("id").to_string();
    let bases: Vec<String> = nodes
        .iter()
        .map(|n| format!("http://127.0.0.1:{}", n.proxy_port))
        .collect();

    // Both nodes enforce the plugin (their first counted requests), then alternate until refused.
    let mut allowed = 0;
    for base in &bases {
        let (s, _, _) = eventually(
            Duration::from_secs(20),
            "the node enforces the plugin",
            || async {
                let r = call(base, "/shared", &[]).await;
                header(&r.1, "x-ratelimit-limit-hour")
                    .is_some()
                    .then_some(r)
            },
        )
        .await;
        assert_eq!(s, 200);
        allowed += 1;
    }
    let mut refused = [0, 0];
    for i in 0..LIMIT * 2 {
        let (s, h, body) = call(&bases[i % 2], "/shared", &[]).await;
        match s {
            200 => {
                assert_eq!(refused, [0, 0], "a request passed after a refusal");
                allowed += 1;
            }
            429 => {
                assert_eq!(body, json!({ "message": "API rate limit exceeded" }));
                assert_eq!(header(&h, "x-ratelimit-remaining-hour"), Some("0"));
                refused[i % 2] += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(allowed, LIMIT, "exactly the limit passes across both nodes");
    assert_eq!(
        refused,
        [(LIMIT + 2) / 2, (LIMIT + 2) / 2],
        "every later request is refused, on either node"
    );

    // Redis gone: fault tolerant nodes let traffic through (without counting or headers)...
    redis.stop();
    for base in &bases {
        let (s, h, _) = call(base, "/shared", &[]).await;
        assert_eq!(s, 200);
        assert!(h.get("x-ratelimit-limit-hour").is_none());
    }
    // ...and without fault tolerance they answer Kong's 500.
    let (status, body) = cp
        .admin(
            Method::PATCH,
            &format!("/plugins/{id}"),
            Some(json!({ "config": { "fault_tolerant": false } })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for base in &bases {
        let body = eventually(
            Duration::from_secs(20),
            "the node refuses without Redis",
            || async {
                let (s, _, body) = call(base, "/shared", &[]).await;
                (s == 500).then_some(body)
            },
        )
        .await;
        assert_eq!(body, json!({ "message": "An unexpected error occurred" }));
    }
    let log = nodes[0].proc.log();
    assert_eq!(
        log.matches("Redis is unreachable").count(),
        1,
        "logged once, not per request:\n{log}"
    );
}
