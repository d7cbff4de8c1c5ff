//! The console as plain HTTP: `HEAD` on every page and static file, an oversized form answered
//! with the console's own 413 page, and a `Secure` cookie when the console is served over TLS.

use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_works_on_pages_and_static_files() {
    let app = TestApp::spawn().await;
    app.login().await;
    for path in [
        "/login",
        "/services",
        "/runtime-groups",
        "/analytics",
        "/static/app.css",
        "/static/app.js",
    ] {
        let get = app
            .client
            .get(format!("{}{path}", app.console))
            .send()
            .await
            .expect("get");
        let get_status = get.status().as_u16();
        let get_type = get.headers().get("content-type").cloned();
        let head = app
            .client
            .head(format!("{}{path}", app.console))
            .send()
            .await
            .expect("head");
        assert_eq!(head.status().as_u16(), get_status, "{path}");
        assert_eq!(get_status, 200, "{path}");
        assert_eq!(
            head.headers().get("content-type").cloned(),
            get_type,
            "{path}"
        );
        assert!(
            head.bytes().await.expect("body").is_empty(),
            "{path}: HEAD has no body"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_form_gets_the_consoles_413_page() {
    let app = TestApp::spawn().await;
    app.login().await;
    let csrf = app.csrf("/services/new").await;
    let huge = "x".repeat(300 * 1024);
    let r = app
        .post_form(
            "/services",
            &[
                ("csrf_token", &csrf),
                ("display_name", "Big"),
                ("description", &huge),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 413);
    let html = scraper::Html::parse_document(&r.text().await.expect("html"));
    let h1 = crate::helpers::select_text(&html, "h1");
    assert_eq!(h1, vec!["Too large"], "the styled error page");
    assert!(
        html.html().contains("/static/app.css"),
        "with the console's styles"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cookie_is_secure_behind_an_https_console_url() {
    let cookie_of = |app: &TestApp| {
        let url = format!("{}/login", app.console);
        let client = app.client.clone();
        async move {
            let r = client.get(url).send().await.expect("login page");
            r.headers()
                .get("set-cookie")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase()
        }
    };
    let plain = TestApp::spawn().await;
    let c = cookie_of(&plain).await;
    assert!(c.contains("httponly") && !c.contains("secure"), "{c}");
    let https = TestApp::spawn_with(|s| {
        s.console_url = Some("https://console.example.com".into());
    })
    .await;
    let c = cookie_of(&https).await;
    assert!(c.contains("; secure"), "{c}");
    let forced = TestApp::spawn_with(|s| s.secure_cookies = true).await;
    let c = cookie_of(&forced).await;
    assert!(c.contains("; secure"), "{c}");
}
