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
