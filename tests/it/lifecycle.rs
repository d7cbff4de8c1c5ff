//! Process lifecycle: a graceful shutdown lets in-flight proxied requests finish.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_requests_finish() {
    let mut app = TestApp::spawn().await;
    let (status, _) = app
        .admin_json(
            Method::POST,
            "/services",
            json!({"name": "slow", "url": format!("http://{}", app.echo_addr)}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = app
        .admin_json(
            Method::POST,
            "/services/slow/routes",
            json!({"name": "slow", "paths": ["/slow"]}),
        )
        .await;
    assert_eq!(status, 201);
    app.wait_for_proxy("/slow/status/200", 200).await;

    let url = format!("{}/slow/delay/700", app.proxy);
    let in_flight =
        tokio::spawn(async move { reqwest::get(url).await.map(|r| r.status().as_u16()) });
    // Give the request time to reach the upstream before the shutdown starts.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = app.stop_in_background();

    let status = in_flight
        .await
        .expect("join")
        .expect("the in-flight request completes");
    assert_eq!(status, 200, "in-flight request finished during shutdown");
    stopping.join().expect("shutdown completes");
    assert!(
        reqwest::get(format!("{}/slow/status/200", app.proxy))
            .await
            .is_err(),
        "no new connections after shutdown"
    );
}
