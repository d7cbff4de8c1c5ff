//! The console's Plugins and Consumers pages over real HTTP: a refused configuration re-renders
//! with the typed values and the message beside its field and saves nothing; a valid one is
//! listed, toggled and removed; gateway service and route pages link to their plugins.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{select_text, service_with_route, TestApp};

fn attr(html: &scraper::Html, css: &str, name: &str) -> Option<String> {
    let sel = scraper::Selector::parse(css).expect("selector");
    html.select(&sel)
        .next()
        .and_then(|e| e.value().attr(name))
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_forms_keep_input_show_errors_and_save_nothing() {
    let app = TestApp::spawn().await;
    app.login().await;
    service_with_route(
        &app,
        "svc",
        &format!("http://{}", app.echo_addr),
        json!({}),
        json!({ "name": "rt", "paths": ["/rt"] }),
    )
    .await;
    let (_, route) = app.admin_json(Method::GET, "/routes/rt", Value::Null).await;
    let route_id = route["id"].as_str().expect("route id").to_string();
    let base = "/runtime-groups/default/plugins";

    // The catalogue lists every plugin, grouped.
    let (status, html) = app.get_html(&format!("{base}/new?route={route_id}")).await;
    assert_eq!(status, 200);
    let catalogue = select_text(&html, ".catalogue h2").join("|");
    assert!(
        catalogue.contains("Authentication") && catalogue.contains("Traffic Control"),
        "{catalogue}"
    );
    assert!(attr(&html, "a[data-plugin=\"rate-limiting\"]", "href")
        .is_some_and(|h| h.ends_with(&format!("?route={route_id}"))));

    // A refused form: the message beside the field, the input kept, nothing saved.
    let form = format!("{base}/new/rate-limiting?route={route_id}");
    let (_, html) = app.get_html(&form).await;
    assert_eq!(
        attr(&html, "#scope-route option[selected]", "value").as_deref(),
        Some(route_id.as_str())
    );
    let csrf = app.csrf(&form).await;
    let r = app
        .post_form(
            &format!("{base}/new/rate-limiting"),
            &[
                ("csrf_token", &csrf),
                ("route", &route_id),
                ("config.second", "lots"),
                ("config.policy", "local"),
                ("enabled", "on"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let html = scraper::Html::parse_document(&r.text().await.expect("body"));
    assert_eq!(
        select_text(&html, "#config-second-error").join(""),
        "expected a number"
    );
    assert_eq!(
        attr(&html, "#config-second", "value").as_deref(),
        Some("lots")
    );
    assert_eq!(
        attr(&html, "#config-second", "aria-invalid").as_deref(),
        Some("true")
    );
    let (_, plugins) = app.admin_json(Method::GET, "/plugins", Value::Null).await;
    assert_eq!(plugins["data"], json!([]), "nothing saved");

    // No window at all: Kong's entity check, shown at the top of the form.
    let r = app
        .post_form(
            &format!("{base}/new/rate-limiting"),
            &[
                ("csrf_token", &csrf),
                ("route", &route_id),
                ("enabled", "on"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let html = scraper::Html::parse_document(&r.text().await.expect("body"));
    assert!(select_text(&html, "#plugin-errors")
        .join(" ")
        .contains("at least one of"));

    // Saved, listed with its scope, toggled off, removed.
    let r = app
        .post_form(
            &format!("{base}/new/rate-limiting"),
            &[
                ("csrf_token", &csrf),
                ("route", &route_id),
                ("config.minute", "5"),
                ("enabled", "on"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, plugins) = app.admin_json(Method::GET, "/plugins", Value::Null).await;
    let plugin = &plugins["data"][0];
    assert_eq!(
        (plugin["name"].as_str(), plugin["config"]["minute"].as_i64()),
        (Some("rate-limiting"), Some(5))
    );
    assert_eq!(plugin["route"]["id"], json!(route_id));
    let id = plugin["id"].as_str().expect("id").to_string();
    let (_, html) = app.get_html(base).await;
    let row = select_text(&html, "#plugins tr[data-name=\"rate-limiting\"]").join(" ");
    assert!(row.contains("route rt"), "{row}");
    let r = app
        .post_form(
            &format!("{base}/{id}/toggle"),
            &[("csrf_token", &csrf), ("enabled", "false")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, p) = app
        .admin_json(Method::GET, &format!("/plugins/{id}"), Value::Null)
        .await;
    assert_eq!(p["enabled"], false);

    // The route's page lists it and links to its plugins.
    let (_, html) = app
        .get_html(&format!("/runtime-groups/default/routes/{route_id}/edit"))
        .await;
    assert!(select_text(&html, "#scope-plugins")
        .join(" ")
        .contains("rate-limiting (disabled)"));

    let r = app
        .post_form(&format!("{base}/{id}/delete"), &[("csrf_token", &csrf)])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, plugins) = app.admin_json(Method::GET, "/plugins", Value::Null).await;
    assert_eq!(plugins["data"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_pages_create_and_show_a_key_once() {
    let app = TestApp::spawn().await;
    app.login().await;
    let page = "/runtime-groups/default/consumers";
    let csrf = app.csrf(page).await;
    // Neither username nor custom_id: Kong's rule, nothing saved.
    let r = app
        .post_form(page, &[("csrf_token", &csrf), ("tags", "a")])
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let html = scraper::Html::parse_document(&r.text().await.expect("body"));
    assert!(select_text(&html, "#consumer-errors")
        .join(" ")
        .contains("at least one of"));
    let r = app
        .post_form(page, &[("csrf_token", &csrf), ("username", "carol")])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        crate::helpers::location(&r),
        crate::helpers::strip_notice(r.headers()["location"].to_str().expect("location"))
    );
    let consumer = crate::helpers::location(&r);
    let (_, html) = app
        .get_html(r.headers()["location"].to_str().expect("location"))
        .await;
    assert_eq!(
        select_text(&html, "#flash").join(""),
        "Saved.",
        "a post is confirmed"
    );
    let r = app
        .post_form(
            &format!("{consumer}/key-auth"),
            &[("csrf_token", &csrf), ("key", "carols-key-123")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 200);
    let html = scraper::Html::parse_document(&r.text().await.expect("body"));
    assert_eq!(
        attr(&html, "#new-key-value", "value").as_deref(),
        Some("carols-key-123")
    );
    let (_, html) = app.get_html(&consumer).await;
    assert!(
        attr(&html, "#new-key-value", "value").is_none(),
        "shown once"
    );
    assert_eq!(select_text(&html, "#keys code").join(""), "caro…");
    // The same key twice: the message beside the field.
    let r = app
        .post_form(
            &format!("{consumer}/key-auth"),
            &[("csrf_token", &csrf), ("key", "carols-key-123")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let html = scraper::Html::parse_document(&r.text().await.expect("body"));
    assert_eq!(
        select_text(&html, "#key-value-error").join(""),
        "That key is already in use"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_credentials_are_managed_from_the_consumer_page() {
    let app = TestApp::spawn().await;
    app.login().await;
    let (_, c) = app
        .admin_json(Method::POST, "/consumers", json!({ "username": "dave" }))
        .await;
    let page = format!(
        "/runtime-groups/default/consumers/{}",
        c["id"].as_str().expect("id")
    );
    let csrf = app.csrf(&page).await;
    let post = |kind: &str, fields: Vec<(&'static str, &'static str)>| {
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", csrf.as_str())];
        form.extend(fields);
        let path = format!("{page}/credentials/{kind}");
        let app = &app;
        async move { app.post_form(&path, &form).await }
    };
    let r = post(
        "basic-auth",
        vec![("username", "dave"), ("password", "hunter22")],
    )
    .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, creds) = app
        .admin_json(Method::GET, "/consumers/dave/basic-auth", Value::Null)
        .await;
    let stored = creds["data"][0]["password"].as_str().expect("password");
    assert!(stored.starts_with("$argon2id$"), "stored hashed: {stored}");
    let (_, html) = app.get_html(&page).await;
    assert!(
        !html.html().contains("hunter22"),
        "the password is never shown"
    );
    let r = post("basic-auth", vec![("username", "dave"), ("password", "x")]).await;
    assert_eq!(r.status().as_u16(), 422);
    let html = scraper::Html::parse_document(&r.text().await.expect("body"));
    assert!(select_text(&html, "#basic-auth-error")
        .join("")
        .contains("already in use"));

    assert_eq!(
        post("acls", vec![("group", "admins")])
            .await
            .status()
            .as_u16(),
        303
    );
    let (_, html) = app.get_html(&page).await;
    assert!(select_text(&html, "#acls .pill")
        .join(" ")
        .contains("admins"));

    let r = post("jwt", vec![("algorithm", "HS256")]).await;
    assert_eq!(r.status().as_u16(), 200);
    let html = scraper::Html::parse_document(&r.text().await.expect("body"));
    let secret = attr(&html, "#new-jwt-secret", "value").expect("secret shown once");
    let (_, jwts) = app
        .admin_json(Method::GET, "/consumers/dave/jwt", Value::Null)
        .await;
    assert_eq!(jwts["data"][0]["secret"], json!(secret));
    let (_, html) = app.get_html(&page).await;
    assert!(attr(&html, "#new-jwt-secret", "value").is_none());
    let r = post("jwt", vec![("algorithm", "RS256")]).await;
    assert_eq!(r.status().as_u16(), 422, "RS256 needs a public key");
}

/// Logging in returns to the page that asked for it, and only to a page of this console.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_returns_to_the_page_that_asked_for_it() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .get(format!("{}/analytics?frame=1h", app.console))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 303);
    let to = crate::helpers::location(&r);
    assert_eq!(to, "/login?next=%2Fanalytics%3Fframe%3D1h");
    let (_, html) = app.get_html(&to).await;
    assert_eq!(
        attr(&html, "input[name=next]", "value").as_deref(),
        Some("/analytics?frame=1h")
    );
    // Each login in a browser of its own (a login rotates the session and its CSRF token).
    let login = |next: &'static str| {
        let app = &app;
        async move {
            let client = reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client");
            let page = client
                .get(format!("{}/login", app.console))
                .send()
                .await
                .expect("login page")
                .text()
                .await
                .expect("html");
            let html = scraper::Html::parse_document(&page);
            let csrf = attr(&html, "input[name=csrf_token]", "value").expect("csrf");
            client
                .post(format!("{}/login", app.console))
                .form(&[
                    ("csrf_token", csrf.as_str()),
                    ("email", crate::helpers::EMAIL),
                    ("password", crate::helpers::PASSWORD),
                    ("next", next),
                ])
                .send()
                .await
                .expect("login")
        }
    };
    let r = login("//evil.example/steal").await;
    assert_eq!(
        crate::helpers::location(&r),
        "/services",
        "never another origin"
    );
    let r = login("/analytics?frame=1h").await;
    assert_eq!(crate::helpers::location(&r), "/analytics?frame=1h");
}
