//! The first-run setup is not open to any origin: it needs the one-time code from the log, every
//! state-changing request from another site's page is refused, and so is a Host the console
//! does not answer to (DNS rebinding).

use crate::helpers::{location, TestApp};

async fn setup_app() -> TestApp {
    TestApp::spawn_with(|s| {
        s.admin_email = None;
        s.admin_password = None;
    })
    .await
}

fn fields<'a>(csrf: &'a str, code: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf_token", csrf),
        ("setup_code", code),
        ("email", "owner@example.com"),
        ("password", "longenough1"),
        ("password_confirm", "longenough1"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_needs_the_code_from_the_log() {
    let app = setup_app().await;
    let code = app.running().setup_code.clone();
    let csrf = app.csrf("/setup").await;
    for wrong in ["", "AAA-AAA-AAA-AAA"] {
        let r = app.post_form("/setup", &fields(&csrf, wrong)).await;
        assert_eq!(r.status().as_u16(), 422, "code {wrong:?}");
        let html = scraper::Html::parse_document(&r.text().await.expect("html"));
        assert!(crate::helpers::select_text(&html, "#setup_code-error")[0].contains("setup code"));
    }
    assert_eq!(app.running().store.count_users().await.expect("count"), 0);
    let lower = code.to_ascii_lowercase();
    let r = app.post_form("/setup", &fields(&csrf, &lower)).await;
    assert_eq!(
        (r.status().as_u16(), location(&r)),
        (303, "/services".to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_origin_setup_is_refused_and_saves_nothing() {
    let app = setup_app().await;
    let code = app.running().setup_code.clone();
    let csrf = app.csrf("/setup").await;
    let post = |origin: Option<&'static str>, site: Option<&'static str>| {
        let mut req = app
            .client
            .post(format!("{}/setup", app.console))
            .form(&fields(&csrf, &code));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(s) = site {
            req = req.header("sec-fetch-site", s);
        }
        req.send()
    };
    for (origin, site) in [
        (Some("http://evil.example"), None),
        (Some("null"), None),
        (None, Some("cross-site")),
    ] {
        let r = post(origin, site).await.expect("post");
        assert_eq!(r.status().as_u16(), 403, "{origin:?} {site:?}");
    }
    assert_eq!(
        app.running().store.count_users().await.expect("count"),
        0,
        "nothing saved"
    );
    let own = format!("http://{}", app.console.trim_start_matches("http://"));
    let r = app
        .client
        .post(format!("{}/setup", app.console))
        .header("origin", own)
        .header("sec-fetch-site", "same-origin")
        .form(&fields(&csrf, &code))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 303, "the console's own origin is fine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_host_is_refused_unless_configured() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .get(format!("{}/login", app.console))
        .header("host", "attacker.example:8002")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 421);
    let r = app
        .client
        .get(format!("{}/login", app.console))
        .header("host", "localhost:8002")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 200, "loopback names are accepted");

    let configured = TestApp::spawn_with(|s| {
        s.console_url = Some("https://console.example.com".into());
    })
    .await;
    let r = configured
        .client
        .get(format!("{}/login", configured.console))
        .header("host", "console.example.com")
        .send()
        .await
        .expect("get");
    assert_eq!(
        r.status().as_u16(),
        200,
        "the configured console URL's host"
    );
}
