//! The console without JavaScript, over plain HTTP as such a browser sends it: deletes ask on
//! a page of their own, the Create Implementation dialog's "Use it" and "+ Add Path" are form
//! posts, and the status panel's time frame and view are the version page's query parameters.

use reqwest::Method;
use serde_json::Value;

use crate::console::{service_and_version, step1_fields};
use crate::helpers::{location, select_attr, select_text, strip_notice, TestApp};

async fn admin_count(app: &TestApp, path: &str) -> usize {
    let (status, body) = app.admin_json(Method::GET, path, Value::Null).await;
    assert_eq!(status, 200);
    body["data"].as_array().map(Vec::len).expect("data array")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_asks_on_its_own_page_then_deletes() {
    let app = TestApp::spawn().await;
    app.login().await;
    let (_, version) = service_and_version(&app, "Example Service").await;
    let csrf = app.csrf(&version).await;
    let echo = format!("http://{}", app.echo_addr);
    let mut fields = step1_fields(&csrf, "example_service", &echo);
    fields.extend([("route_name", "mockbin"), ("route_paths", "/mock")]);
    let r = app
        .post_form(&format!("{version}/implementation"), &fields)
        .await;
    assert_eq!(r.status().as_u16(), 303);

    // The route's Delete is a GET form (htmx posts it after its own prompt, token in a header).
    let (_, html) = app.get_html(&version).await;
    let action = select_attr(&html, "#routes form[method=get]", "action");
    assert_eq!(action.len(), 1, "one delete form per route");
    let action = &action[0];
    assert!(action.ends_with("/delete"), "{action}");
    assert_eq!(
        select_attr(&html, "#routes form[method=get]", "hx-post"),
        vec![action.clone()]
    );
    assert!(
        select_attr(&html, "#routes form[method=get] input", "name").is_empty(),
        "no CSRF token travels in a URL"
    );
    for form in select_attr(&html, "form[hx-confirm]", "method") {
        assert_eq!(
            form, "get",
            "every prompted delete works without JavaScript"
        );
    }

    // The confirmation page: what happens, a POST form to the same URL, and a way back.
    let (status, page) = app.get_html(action).await;
    assert_eq!(status, 200);
    assert_eq!(select_text(&page, "main h1"), vec!["Delete route?"]);
    assert_eq!(
        select_attr(&page, "#confirm form[method=post]", "action"),
        vec![action.clone()]
    );
    assert_eq!(
        select_attr(&page, "#confirm-cancel", "href"),
        vec![version.clone()]
    );
    assert_eq!(
        admin_count(&app, "/routes").await,
        1,
        "asking deletes nothing"
    );
    let token = select_attr(&page, "#confirm input[name=csrf_token]", "value");
    let r = app.post_form(action, &[("csrf_token", &token[0])]).await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(strip_notice(&location(&r)), version);
    assert_eq!(
        admin_count(&app, "/routes").await,
        0,
        "deleted once confirmed"
    );

    // Only destructive actions have a confirmation page; it needs a session like they do.
    let (status, _) = app.get_html(&format!("{version}/routes")).await;
    assert_eq!(status, 404);
    let anonymous = crate::helpers::client();
    let r = anonymous
        .get(format!("{}{action}", app.console))
        .send()
        .await
        .expect("get");
    assert!(
        location(&r).starts_with("/login"),
        "{} {}",
        r.status(),
        location(&r)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_pages_deletes_ask_first_too() {
    let app = TestApp::spawn().await;
    app.login().await;
    let (_, html) = app.get_html("/tokens").await;
    let csrf = select_attr(&html, "input[name=csrf_token]", "value");
    let r = app
        .post_form("/tokens", &[("csrf_token", &csrf[0]), ("name", "ci")])
        .await;
    assert!(r.status().is_success() || r.status().is_redirection());
    let (_, html) = app.get_html("/tokens").await;
    let action = select_attr(&html, "form[hx-confirm]", "action");
    let action = action.last().expect("a token to revoke");
    let (status, page) = app.get_html(action).await;
    assert_eq!(status, 200);
    assert_eq!(select_text(&page, "main h1"), vec!["Revoke token?"]);
    assert_eq!(
        select_attr(&page, "#confirm-cancel", "href"),
        vec!["/tokens".to_string()]
    );

    // Under a runtime group's scope as well (node list: the embedded node has no Forget).
    let (status, page) = app
        .get_html("/runtime-groups/default/instances/00000000-0000-0000-0000-000000000000/forget")
        .await;
    assert_eq!(status, 200);
    assert_eq!(select_text(&page, "main h1"), vec!["Forget node?"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialog_use_it_and_add_path_are_form_posts() {
    let app = TestApp::spawn().await;
    app.login().await;
    let (_, version) = service_and_version(&app, "Example Service").await;
    let csrf = app.csrf(&version).await;
    let echo = format!("http://{}", app.echo_addr);

    // "Use it": step 1 again with the echo URL, no errors, nothing saved.
    let mut fields = step1_fields(&csrf, "example_service", "");
    fields.push(("op", "use-echo"));
    let r = app
        .post_form(&format!("{version}/implementation/step1"), &fields)
        .await;
    assert_eq!(r.status().as_u16(), 200);
    let html = scraper::Html::parse_document(&r.text().await.expect("body"));
    assert_eq!(select_attr(&html, "#svc_url", "value"), vec![echo.clone()]);
    assert_eq!(
        select_attr(&html, "#svc_name", "value"),
        vec!["example_service"]
    );
    assert!(select_text(&html, ".field-error").is_empty());
    assert_eq!(
        select_attr(&html, "#use-echo", "type"),
        vec!["submit"],
        "Use it is a submit button in the dialog"
    );
    assert_eq!(
        select_attr(&html, "#impl-cancel1", "href"),
        vec![version.clone()]
    );

    // "+ Add Path": step 2 again with one more path input, the typed one kept.
    let mut fields = step1_fields(&csrf, "example_service", &echo);
    fields.extend([
        ("route_name", "mockbin"),
        ("route_paths", "/mock"),
        ("op", "add-path"),
    ]);
    let r = app
        .post_form(&format!("{version}/implementation"), &fields)
        .await;
    assert_eq!(r.status().as_u16(), 200);
    let html = scraper::Html::parse_document(&r.text().await.expect("body"));
    assert_eq!(
        select_attr(&html, "#route-paths input[name=route_paths]", "value"),
        vec!["/mock".to_string(), String::new()]
    );
    assert_eq!(select_attr(&html, "#route_name", "value"), vec!["mockbin"]);
    assert_eq!(
        select_attr(&html, "#impl-cancel2", "href"),
        vec![version.clone()]
    );
    assert_eq!(admin_count(&app, "/services").await, 0, "nothing saved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_panel_time_frame_and_view_are_query_parameters() {
    let app = TestApp::spawn().await;
    app.login().await;
    let (_, version) = service_and_version(&app, "Example Service").await;
    let (status, html) = app
        .get_html(&format!("{version}?frame=1h&view=table&tz=local"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        select_attr(&html, "#status-codes", "data-tz"),
        vec!["local"]
    );
    assert_eq!(
        select_attr(
            &html,
            "#status-codes select[name=frame] option[selected]",
            "value"
        ),
        vec!["1h"]
    );
    assert_eq!(
        select_attr(&html, "#view-table", "aria-current"),
        vec!["true"]
    );
    // The toggles are links to the same page with the other state.
    assert_eq!(
        select_attr(&html, "#view-chart", "href"),
        vec![format!(
            "{version}?frame=1h&view=chart&tz=local#status-codes"
        )]
    );
    assert_eq!(
        select_attr(&html, "#tz-toggle", "href"),
        vec![format!("{version}?frame=1h&view=table&tz=utc#status-codes")]
    );
    // The time frame select is in a GET form to the page, carrying the other two.
    assert_eq!(
        select_attr(&html, "#status-codes form.frame-form", "action"),
        vec![format!("{version}#status-codes")]
    );
    let mut carried = select_attr(
        &html,
        "#status-codes form.frame-form input[type=hidden]",
        "value",
    );
    carried.sort();
    assert_eq!(carried, vec!["local", "table"]);

    // Defaults without a query.
    let (_, html) = app.get_html(&version).await;
    assert_eq!(
        select_attr(&html, "#view-chart", "aria-current"),
        vec!["true"]
    );
    assert_eq!(select_attr(&html, "#status-codes", "data-tz"), vec!["utc"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_path_and_use_it_are_form_posts_on_every_form_page() {
    let app = TestApp::spawn().await;
    app.login().await;
    let (_, version) = service_and_version(&app, "Example Service").await;
    let csrf = app.csrf(&version).await;
    let echo = format!("http://{}", app.echo_addr);
    let mut fields = step1_fields(&csrf, "example_service", &echo);
    fields.extend([("route_name", "mockbin"), ("route_paths", "/mock")]);
    let r = app
        .post_form(&format!("{version}/implementation"), &fields)
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let routes_before = admin_count(&app, "/routes").await;

    let add_path = [
        ("csrf_token", csrf.as_str()),
        ("route_name", "second"),
        ("route_paths", "/second"),
        ("op", "add-path"),
    ];
    for page in [
        format!("{version}/routes"),
        "/runtime-groups/default/routes".into(),
    ] {
        let r = app.post_form(&page, &add_path).await;
        assert_eq!(r.status().as_u16(), 200, "{page}");
        let html = scraper::Html::parse_document(&r.text().await.expect("body"));
        assert_eq!(
            select_attr(&html, "#route-paths input[name=route_paths]", "value"),
            vec!["/second".to_string(), String::new()],
            "{page}"
        );
        assert_eq!(select_attr(&html, "#route_name", "value"), vec!["second"]);
        // Enter in a field still means the form's own button, not "+ Add Path".
        let first = select_attr(&html, "main form[method=post] button[type=submit]", "class");
        assert_eq!(first.first().map(String::as_str), Some("visually-hidden"));
    }
    assert_eq!(
        admin_count(&app, "/routes").await,
        routes_before,
        "nothing saved"
    );

    let mut use_it = step1_fields(&csrf, "other", "");
    use_it.push(("op", "use-echo"));
    for page in [
        format!("{version}/implementation/edit"),
        "/runtime-groups/default/services".into(),
    ] {
        let r = app.post_form(&page, &use_it).await;
        assert_eq!(r.status().as_u16(), 200, "{page}");
        let html = scraper::Html::parse_document(&r.text().await.expect("body"));
        assert_eq!(select_attr(&html, "#svc_url", "value"), vec![echo.clone()]);
        assert!(select_text(&html, ".field-error").is_empty(), "{page}");
    }
    let (_, body) = app.admin_json(Method::GET, "/services", Value::Null).await;
    let names: Vec<&str> = body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, vec!["example_service"], "nothing saved or renamed");
}
