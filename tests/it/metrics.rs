//! Prometheus metrics: exact counts for a known mix of traffic, on the Admin API (token) and
//! on the status listener (no token).

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{eventually, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_every_request_by_route_and_status() {
    let app = TestApp::spawn().await;
    let (_, svc) = app
        .admin_json(
            Method::POST,
            "/services",
            json!({"name": "e", "url": format!("http://{}", app.echo_addr)}),
        )
        .await;
    let (_, route) = app
        .admin_json(
            Method::POST,
            "/services/e/routes",
            json!({"name": "e", "paths": ["/e"]}),
        )
        .await;
    let client = reqwest::Client::new();
    let status = app.running().status_addr.expect("status listener");
    // Wait on the status listener, not the proxy, so only the requests below are counted.
    eventually(Duration::from_secs(3), "the route to be served", || async {
        let st: Value = client
            .get(format!("http://{status}/status"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (st["server"]["routes"] == 1).then_some(())
    })
    .await;
    for path in [
        "/e/status/204",
        "/e/status/200",
        "/e/status/200",
        "/e/status/200",
        "/e/status/503",
        "/e/status/503",
        "/nowhere",
    ] {
        client
            .get(format!("{}{path}", app.proxy))
            .send()
            .await
            .expect("proxy request");
    }
    let (sid, rid) = (
        svc["id"].as_str().expect("id"),
        route["id"].as_str().expect("id"),
    );
    let want = [
        format!(
            "gatehouse_http_requests_total{{service=\"{sid}\",route=\"{rid}\",code=\"200\"}} 3"
        ),
        format!(
            "gatehouse_http_requests_total{{service=\"{sid}\",route=\"{rid}\",code=\"503\"}} 2"
        ),
        format!(
            "gatehouse_http_requests_total{{service=\"{sid}\",route=\"{rid}\",code=\"204\"}} 1"
        ),
        "gatehouse_http_requests_total{service=\"none\",route=\"none\",code=\"404\"} 1".to_string(),
        format!("gatehouse_request_latency_ms_count{{service=\"{sid}\",route=\"{rid}\"}} 6"),
    ];
    let text = eventually(
        Duration::from_secs(3),
        "metrics to count the requests",
        || async {
            let r = app.admin(Method::GET, "/metrics").send().await.ok()?;
            let text = r.text().await.ok()?;
            want.iter()
                .all(|w| text.contains(w.as_str()))
                .then_some(text)
        },
    )
    .await;
    assert!(text.contains("# TYPE gatehouse_request_latency_ms histogram"));
    assert!(text.contains(&format!(
        "gatehouse_config_info{{hash=\"{}\"}} 1",
        app.running().proxy.current().hash
    )));

    let r = client
        .get(format!("{}/metrics", app.admin))
        .send()
        .await
        .expect("admin");
    assert_eq!(
        r.status().as_u16(),
        401,
        "the Admin API's /metrics needs a token"
    );
    let open = client
        .get(format!("http://{status}/metrics"))
        .send()
        .await
        .expect("status listener")
        .text()
        .await
        .expect("text");
    assert!(want.iter().all(|w| open.contains(w.as_str())), "{open}");
    let st: Value = client
        .get(format!("http://{status}/status"))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json");
    assert_eq!(st["server"]["routes"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_target_health() {
    let app = TestApp::spawn().await;
    let (_, up) = app
        .admin_json(Method::POST, "/upstreams", json!({"name": "pool"}))
        .await;
    let echo = app.echo_addr.to_string();
    let (s, _) = app
        .admin_json(
            Method::POST,
            "/upstreams/pool/targets",
            json!({"target": echo}),
        )
        .await;
    assert_eq!(s, 201);
    let uid = up["id"].as_str().expect("id").to_string();
    let want = format!(
        "gatehouse_upstream_target_health{{upstream=\"{uid}\",target=\"{echo}\",state=\"healthchecks_off\"}} 1"
    );
    eventually(
        Duration::from_secs(3),
        "target health in /metrics",
        || async {
            let text = app
                .admin(Method::GET, "/metrics")
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            text.contains(&want).then_some(())
        },
    )
    .await;
    // Marked unhealthy by hand, the gauge follows.
    let r = app
        .admin(
            Method::POST,
            &format!("/upstreams/pool/targets/{echo}/unhealthy"),
        )
        .send()
        .await
        .expect("mark");
    assert!(r.status().is_success());
    let unhealthy = want.replace("healthchecks_off\"} 1", "unhealthy\"} 1");
    eventually(Duration::from_secs(3), "unhealthy in /metrics", || async {
        let text = app
            .admin(Method::GET, "/metrics")
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains(&unhealthy).then_some(())
    })
    .await;
}

/// The binary with `GATEHOUSE_ACCESS_LOG=json` writes one JSON object per proxied request on
/// stdout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_access_log_has_a_line_per_request() {
    let dir = tempfile::tempdir().expect("dir");
    let (admin, proxy) = (crate::helpers::closed_port(), crate::helpers::closed_port());
    let out = std::fs::File::create(dir.path().join("stdout")).expect("file");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .env("GATEHOUSE_DATA_DIR", dir.path().join("data"))
        .env("GATEHOUSE_ACCESS_LOG", "json")
        .env(
            "GATEHOUSE_BOOTSTRAP_TOKEN",
            "ghp_access_log_test_0123456789abcdef",
        )
        .env("GATEHOUSE_ADMIN_LISTEN", format!("127.0.0.1:{admin}"))
        .env("GATEHOUSE_PROXY_LISTEN", format!("127.0.0.1:{proxy}"))
        .env("GATEHOUSE_PROXY_TLS_LISTEN", "127.0.0.1:0")
        .env("GATEHOUSE_CONSOLE_LISTEN", "127.0.0.1:0")
        .env("GATEHOUSE_CLUSTER_LISTEN", "127.0.0.1:0")
        .env("GATEHOUSE_ECHO_LISTEN", "127.0.0.1:0")
        .stdout(out)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let client = reqwest::Client::new();
    eventually(Duration::from_secs(20), "the process to start", || async {
        let r = client
            .get(format!("http://127.0.0.1:{proxy}/missing"))
            .send()
            .await
            .ok()?;
        (r.status() == 404).then_some(())
    })
    .await;
    let line = eventually(Duration::from_secs(5), "an access log line", || async {
        let text = std::fs::read_to_string(dir.path().join("stdout")).ok()?;
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["status"] == 404)
    })
    .await;
    assert_eq!(line["method"], "GET");
    assert!(line["ts_ms"].as_i64().unwrap_or(0) > 0 && line["latency_ms"].is_i64());
    let _ = child.kill();
    let _ = child.wait();
}

/// Kong's prometheus plugin, global with every metric on: request counts by code, source and
/// consumer, latency histograms and bandwidth, under Kong's names, counted exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prometheus_plugin_counts_like_kong() {
    let app = TestApp::spawn().await;
    let (_, _) = app
        .admin_json(
            Method::POST,
            "/services",
            json!({"name": "e", "url": format!("http://{}", app.echo_addr)}),
        )
        .await;
    let (_, _) = app
        .admin_json(
            Method::POST,
            "/services/e/routes",
            json!({"name": "er", "paths": ["/e"]}),
        )
        .await;
    let (status, c) = app
        .admin_json(Method::POST, "/consumers", json!({"username": "ann"}))
        .await;
    assert_eq!(status, 201, "{c}");
    app.admin_json(
        Method::POST,
        "/consumers/ann/key-auth",
        json!({"key": "ann-key"}),
    )
    .await;
    let (status, p) = app
        .admin_json(
            Method::POST,
            "/plugins",
            json!({"name": "prometheus", "config": {"per_consumer": true, "status_code_metrics": true, "latency_metrics": true, "bandwidth_metrics": true}}),
        )
        .await;
    assert_eq!(status, 201, "{p}");
    assert_eq!(p["config"]["upstream_health_metrics"], false);
    let (status, _) = app
        .admin_json(
            Method::POST,
            "/routes/er/plugins",
            json!({"name": "key-auth", "config": {"anonymous": null}}),
        )
        .await;
    assert_eq!(status, 201);
    let client = reqwest::Client::new();
    let status_addr = app.running().status_addr.expect("status listener");
    // The plugins are live once a keyless request is refused; that refusal is counted too.
    eventually(Duration::from_secs(3), "plugins live", || async {
        let r = client
            .get(format!("{}/e/status/200", app.proxy))
            .send()
            .await
            .ok()?;
        (r.status() == 401).then_some(())
    })
    .await;
    let scrape = || async {
        client
            .get(format!("http://{status_addr}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    };
    fn value(text: &str, prefix: &str) -> Option<u64> {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    }
    const REFUSED: &str = "kong_http_requests_total{service=\"e\",route=\"er\",code=\"401\",source=\"kong\",workspace=\"default\",consumer=\"\"}";
    const UPSTREAM: &str =
        "kong_upstream_latency_ms_count{service=\"e\",route=\"er\",workspace=\"default\"}";
    const TOTAL: &str =
        "kong_request_latency_ms_count{service=\"e\",route=\"er\",workspace=\"default\"}";
    // Requests sent while the plugins were going live are counted too: measure from here.
    let text = scrape().await;
    let before = |p: &str| value(&text, p).unwrap_or(0);
    let (refused0, upstream0, total0) = (before(REFUSED), before(UPSTREAM), before(TOTAL));
    for path in ["/e/status/200", "/e/status/200", "/e/status/503"] {
        let r = client
            .get(format!("{}{path}", app.proxy))
            .header("apikey", "ann-key")
            .send()
            .await
            .expect("proxy");
        assert!(r.status() == 200 || r.status() == 503);
    }
    client
        .get(format!("{}/e/status/200", app.proxy))
        .send()
        .await
        .expect("proxy");
    let text = scrape().await;
    let line = |p: &str| value(&text, p);
    assert_eq!(
        line("kong_http_requests_total{service=\"e\",route=\"er\",code=\"200\",source=\"service\",workspace=\"default\",consumer=\"ann\"}"),
        Some(2),
        "{text}"
    );
    assert_eq!(
        line("kong_http_requests_total{service=\"e\",route=\"er\",code=\"503\",source=\"service\",workspace=\"default\",consumer=\"ann\"}"),
        Some(1)
    );
    assert_eq!(line(REFUSED), Some(refused0 + 1));
    assert_eq!(line(UPSTREAM), Some(upstream0 + 3));
    assert_eq!(line(TOTAL), Some(total0 + 4));
    assert!(
        line("kong_bandwidth_bytes{service=\"e\",route=\"er\",direction=\"egress\",workspace=\"default\",consumer=\"ann\"}")
            .is_some_and(|n| n > 0),
        "{text}"
    );
}
