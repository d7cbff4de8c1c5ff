//! A gateway service's protocol: every protocol Kong's Service accepts, offered by the console's
//! select and accepted by the Admin API with Kong's conditional rules; the proxy forwards the
//! HTTP ones and answers the others with a clear 502.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{client, create, get_json, select_attr, select_text, TestApp};

#[tokio::test]
async fn every_kong_protocol_is_offered_accepted_and_answered_clearly() {
    let app = TestApp::spawn().await;
    app.login().await;
    let all = [
        "grpc",
        "grpcs",
        "http",
        "https",
        "tcp",
        "tls",
        "tls_passthrough",
        "udp",
        "ws",
        "wss",
    ];
    let (_, html) = app.get_html("/runtime-groups/default/services/new").await;
    assert_eq!(select_attr(&html, "#svc_protocol option", "value"), all);

    for p in all {
        let (status, body) = app
            .admin_json(
                Method::POST,
                "/services",
                json!({"name": format!("svc-{p}"), "protocol": p, "host": "example.com"}),
            )
            .await;
        assert_eq!(status, 201, "{p}: {body}");
        assert_eq!(body["protocol"], p);
    }
    let (status, body) = app
        .admin_json(
            Method::POST,
            "/services",
            json!({"protocol": "grpc", "host": "example.com", "path": "/x"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["fields"]["path"], "value must be null");
    let (status, body) = app
        .admin_json(
            Method::POST,
            "/services",
            json!({"protocol": "quic", "host": "example.com"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["fields"]["protocol"],
        "expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp, ws, wss"
    );

    // The console form takes one too, and puts Kong's refusal beside the field.
    let csrf = app.csrf("/runtime-groups/default/services/new").await;
    let fields = |name: &'static str, protocol: &'static str, path: &'static str| {
        vec![
            ("csrf_token", csrf.clone()),
            ("svc_name", name.to_string()),
            ("svc_mode", "parts".to_string()),
            ("svc_protocol", protocol.to_string()),
            ("svc_host", "example.com".to_string()),
            ("svc_port", "".to_string()),
            ("svc_path", path.to_string()),
        ]
    };
    let r = app
        .client
        .post(format!("{}/runtime-groups/default/services", app.console))
        .form(&fields("tcp-form", "tcp", "/x"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 422);
    let html = scraper::Html::parse_document(&r.text().await.expect("body"));
    assert_eq!(
        select_text(&html, "#svc_path-error"),
        vec!["value must be null"]
    );
    assert_eq!(
        select_attr(&html, "#svc_protocol option[selected]", "value"),
        vec!["tcp"]
    );
    let r = app
        .client
        .post(format!("{}/runtime-groups/default/services", app.console))
        .form(&fields("tcp-form", "tcp", ""))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 303);
    let (_, body) = app
        .admin_json(Method::GET, "/services/tcp-form", json!({}))
        .await;
    assert_eq!(
        (body["protocol"].clone(), body["port"].clone()),
        (json!("tcp"), json!(80))
    );

    // The proxy forwards ws like http; a protocol it does not forward yet is a clear 502.
    create(
        &app,
        "/routes",
        json!({"name": "grpc-route", "paths": ["/grpc"], "service": {"name": "svc-grpc"}}),
    )
    .await;
    let echo = format!("http://{}", app.echo_addr);
    create(
        &app,
        "/services",
        json!({"name": "socket", "url": echo.replace("http://", "ws://")}),
    )
    .await;
    create(
        &app,
        "/routes",
        json!({"name": "socket-route", "paths": ["/socket"], "service": {"name": "socket"}}),
    )
    .await;
    app.wait_for_proxy("/socket", 200).await;
    app.wait_for_proxy("/grpc", 502).await;
    let (status, body) = get_json(&client(), &format!("{}/grpc", app.proxy)).await;
    assert_eq!(status, 502);
    assert_eq!(
        body["message"],
        "This gateway does not proxy to 'grpc' services yet"
    );
}
