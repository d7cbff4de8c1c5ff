//! Console flows over real HTTP with a session cookie and CSRF tokens, exactly as a browser
//! posts them: setup, login, the onboarding walkthrough, validation and deletes.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{eventually, location, select_attr, select_text, TestApp, EMAIL};

/// Creates a service and its version v.1 through the console; returns their page paths.
pub(crate) async fn service_and_version(app: &TestApp, name: &str) -> (String, String) {
    let csrf = app.csrf("/services/new").await;
    let r = app
        .post_form(
            "/services",
            &[
                ("csrf_token", &csrf),
                ("display_name", name),
                ("description", "demo"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303, "service created");
    let service_path = location(&r);
    let (_, html) = app.get_html(&format!("{service_path}/versions/new")).await;
    let group = select_attr(
        &html,
        "select[name=runtime_group_id] option[selected]",
        "value",
    );
    assert_eq!(group.len(), 1, "the default group is preselected");
    let r = app
        .post_form(
            &format!("{service_path}/versions"),
            &[
                ("csrf_token", &csrf),
                ("name", "v.1"),
                ("runtime_group_id", &group[0]),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303, "version created");
    (service_path, location(&r))
}

pub(crate) fn step1_fields<'a>(
    csrf: &'a str,
    name: &'a str,
    url: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf_token", csrf),
        ("svc_name", name),
        ("svc_mode", "url"),
        ("svc_url", url),
        ("svc_retries", "5"),
        ("svc_connect_timeout", "60000"),
        ("svc_write_timeout", "60000"),
        ("svc_read_timeout", "60000"),
    ]
}

/// Form fields, the selector of the expected error, and a fragment of its message.
type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);

async fn admin_count(app: &TestApp, path: &str) -> usize {
    let (status, body) = app.admin_json(Method::GET, path, Value::Null).await;
    assert_eq!(status, 200);
    body["data"].as_array().map(Vec::len).expect("data array")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboarding_walkthrough_serves_mock_and_records_status() {
    let app = TestApp::spawn().await;
    app.login().await;
    let (_, version) = service_and_version(&app, "Example Service").await;

    // The dialog's first step, as htmx requests it.
    let r = app
        .client
        .get(format!("{}{version}/implementation/new", app.console))
        .header("HX-Request", "true")
        .send()
        .await
        .expect("dialog");
    let html = scraper::Html::parse_fragment(&r.text().await.expect("html"));
    assert_eq!(
        select_attr(&html, "#svc_name", "value"),
        vec!["example-service-v.1"]
    );
    let echo = format!("http://{}", app.echo_addr);
    assert!(
        select_attr(&html, "#svc_url", "placeholder").contains(&echo),
        "the echo upstream is suggested"
    );
    assert_eq!(
        select_attr(&html, "input[name=svc_mode][checked]", "value"),
        vec!["url"],
        "Add using URL is the default"
    );
    assert_eq!(select_attr(&html, "#svc_retries", "value"), vec!["5"]);
    assert_eq!(
        select_attr(&html, "#svc_read_timeout", "value"),
        vec!["60000"]
    );
    // The seeds' labels, and the counts in them are the fields the sections hold.
    assert_eq!(
        select_text(&html, "details.advanced:not(.tls) > summary"),
        vec!["View 6 Advanced Fields"]
    );
    assert_eq!(
        select_attr(&html, "details.advanced:not(.tls) label", "for").len(),
        6
    );

    let csrf = app.csrf(&version).await;
    let fields = step1_fields(&csrf, "example_service", &echo);
    let r = app
        .post_form(&format!("{version}/implementation/step1"), &fields)
        .await;
    assert_eq!(r.status().as_u16(), 200);
    let html = scraper::Html::parse_document(&r.text().await.expect("html"));
    assert_eq!(
        select_attr(&html, "#impl-step2 input[name=svc_url]", "value"),
        vec![echo.clone()],
        "step 1 is kept"
    );
    assert_eq!(
        select_attr(&html, "#route_strip_path option[selected]", "value"),
        vec!["true"]
    );
    assert_eq!(
        select_text(
            &html,
            "#impl-step2 details.advanced:not(.buffering) > summary"
        ),
        vec!["View 4 Advanced Fields"]
    );
    assert_eq!(
        select_attr(
            &html,
            "#impl-step2 details.advanced:not(.buffering) label",
            "for"
        )
        .len(),
        4
    );
    assert_eq!(
        select_attr(
            &html,
            "#route_https_redirect_status_code option[selected]",
            "value"
        ),
        vec!["426"]
    );
    assert_eq!(
        admin_count(&app, "/services").await,
        0,
        "Next saves nothing"
    );

    let mut create = fields.clone();
    create.extend([
        ("route_name", "mockbin"),
        ("route_methods", "GET"),
        ("route_paths", "/mock"),
        ("route_paths", ""),
    ]);
    let r = app
        .post_form(&format!("{version}/implementation"), &create)
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(location(&r), version, "lands on the version overview");

    let r = app.wait_for_proxy("/mock", 200).await;
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("Gatehouse echo upstream"),
        "the echo homepage is served"
    );

    // The same entities through the Admin API: one domain layer.
    let (_, route) = app
        .admin_json(Method::GET, "/routes/mockbin", Value::Null)
        .await;
    assert_eq!(route["paths"], serde_json::json!(["/mock"]));
    assert_eq!(route["methods"], serde_json::json!(["GET"]));
    let (_, svc) = app
        .admin_json(Method::GET, "/services/example_service", Value::Null)
        .await;
    assert_eq!(svc["port"], app.echo_addr.port());
    assert_eq!(
        svc["tags"],
        serde_json::json!(["_KonnectService:example-service"])
    );

    let (_, page) = app.get_html(&version).await;
    assert_eq!(
        select_text(&page, "#proxy-url"),
        vec![format!("http://localhost:{}/mock", app.proxy_addr.port())]
    );
    assert_eq!(select_text(&page, "#upstream-url"), vec![format!("{echo}")]);
    let count = eventually(
        Duration::from_secs(2),
        "the 200 record on the version page",
        || async {
            let (_, panel) = app
                .get_html(&format!("{version}/status-codes?frame=5m"))
                .await;
            let rows = select_text(&panel, "tr[data-status='200'] td:nth-child(2)");
            rows.first().cloned()
        },
    )
    .await;
    assert_eq!(count, "1 (100.00%)");
    let (_, page) = app.get_html(&version).await;
    assert_eq!(select_text(&page, "#status-total"), vec!["1"]);
    let csv_link = select_attr(&page, "#status-csv", "href").remove(0);
    let r = app
        .client
        .get(format!("{}{csv_link}", app.console))
        .send()
        .await
        .expect("csv");
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        r.text().await.expect("csv body"),
        "status_code,count,percent\n200,1,100.00\n"
    );
    let (_, month) = app
        .get_html(&format!("{version}/status-codes?frame=30d"))
        .await;
    assert_eq!(select_text(&month, "#status-total"), vec!["1"]);
    assert_eq!(
        select_attr(&month, "select[name=frame] option[selected]", "value"),
        vec!["30d"]
    );
    assert!(
        !select_attr(&page, "#status-codes", "hx-trigger").is_empty(),
        "the panel refreshes itself"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_visit_sets_up_the_admin() {
    let app = TestApp::spawn_with(|s| {
        s.admin_email = None;
        s.admin_password = None;
    })
    .await;
    let r = app
        .client
        .get(format!("{}/services", app.console))
        .send()
        .await
        .expect("get");
    assert_eq!(
        (r.status().as_u16(), location(&r)),
        (303, "/login".to_string())
    );
    let r = app
        .client
        .get(format!("{}/login", app.console))
        .send()
        .await
        .expect("get");
    assert_eq!(location(&r), "/setup");

    let csrf = app.csrf("/setup").await;
    let code = app.running().setup_code.clone();
    let r = app
        .post_form(
            "/setup",
            &[
                ("csrf_token", &csrf),
                ("setup_code", &code),
                ("email", "owner@example.com"),
                ("password", "longenough1"),
                ("password_confirm", "different1"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let html = scraper::Html::parse_document(&r.text().await.expect("html"));
    assert_eq!(
        select_text(&html, "#password_confirm-error"),
        vec!["Passwords do not match"]
    );
    assert_eq!(
        select_attr(&html, "#email", "value"),
        vec!["owner@example.com"],
        "input kept"
    );
    assert_eq!(
        app.running().store.count_users().await.expect("count"),
        0,
        "nothing saved"
    );

    let r = app
        .post_form(
            "/setup",
            &[
                ("csrf_token", &csrf),
                ("setup_code", &code),
                ("email", "owner@example.com"),
                ("password", "short"),
                ("password_confirm", "short"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let html = scraper::Html::parse_document(&r.text().await.expect("html"));
    assert_eq!(
        select_text(&html, "#password-error"),
        vec!["Password must be at least 8 characters"]
    );

    let r = app
        .post_form(
            "/setup",
            &[
                ("csrf_token", &csrf),
                ("setup_code", &code),
                ("email", "owner@example.com"),
                ("password", "longenough1"),
                ("password_confirm", "longenough1"),
            ],
        )
        .await;
    assert_eq!(
        (r.status().as_u16(), location(&r)),
        (303, "/services".to_string())
    );
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("session cookie")
        .to_ascii_lowercase();
    assert!(
        cookie.contains("httponly") && cookie.contains("samesite=lax"),
        "{cookie}"
    );
    let (status, _) = app.get_html("/services").await;
    assert_eq!(status, 200, "signed in after setup");
    let user = app
        .running()
        .store
        .get_user_by_email("owner@example.com")
        .await
        .expect("query")
        .expect("user");
    assert!(user.password_hash.starts_with("$argon2id$"));
    let r = app
        .client
        .get(format!("{}/setup", app.console))
        .send()
        .await
        .expect("get");
    assert_eq!(
        location(&r),
        "/login",
        "setup is closed once an admin exists"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_need_a_session_and_posts_need_csrf() {
    let app = TestApp::spawn().await;
    for (path, login) in [
        ("/services", "/login"),
        ("/services/new", "/login?next=%2Fservices%2Fnew"),
        ("/tokens", "/login?next=%2Ftokens"),
    ] {
        let r = app
            .client
            .get(format!("{}{path}", app.console))
            .send()
            .await
            .expect("get");
        assert_eq!(
            (r.status().as_u16(), location(&r)),
            (303, login.to_string()),
            "{path}"
        );
    }
    app.login().await;
    let r = app
        .post_form("/services", &[("display_name", "No Token")])
        .await;
    assert_eq!(r.status().as_u16(), 403);
    let r = app
        .post_form(
            "/services",
            &[("csrf_token", "forged"), ("display_name", "Forged")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 403);
    assert!(
        app.running()
            .store
            .list_catalog_services("")
            .await
            .expect("list")
            .is_empty(),
        "nothing saved without a valid token"
    );

    let csrf = app.csrf("/services").await;
    let r = app.post_form("/logout", &[("csrf_token", &csrf)]).await;
    assert_eq!(location(&r), "/login");
    let r = app
        .client
        .get(format!("{}/services", app.console))
        .send()
        .await
        .expect("get");
    assert_eq!(location(&r), "/login", "logged out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_is_throttled_by_account_with_backoff_and_by_address() {
    let app = TestApp::spawn().await;
    let csrf = app.csrf("/login").await;
    for _ in 0..5 {
        let r = app
            .post_form(
                "/login",
                &[
                    ("csrf_token", &csrf),
                    ("email", EMAIL),
                    ("password", "wrong-password"),
                ],
            )
            .await;
        assert_eq!(r.status().as_u16(), 401);
        let html = scraper::Html::parse_document(&r.text().await.expect("html"));
        assert_eq!(
            select_text(&html, "#login-error"),
            vec!["Incorrect email or password."]
        );
        assert_eq!(select_attr(&html, "#email", "value"), vec![EMAIL]);
    }
    let r = app
        .post_form(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("email", EMAIL),
                ("password", crate::helpers::PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        r.status().as_u16(),
        429,
        "after five failures, the next attempt must wait, right password or not"
    );
    // The wait is short and then the owner gets in: knowing an email cannot lock anyone out.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = app
        .post_form(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("email", EMAIL),
                ("password", crate::helpers::PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        r.status().as_u16(),
        303,
        "the right password after the wait"
    );

    // One address failing across many accounts is refused for a while, whatever the account.
    let other = TestApp::spawn().await;
    let csrf = other.csrf("/login").await;
    for i in 0..20 {
        let email = format!("guess{i}@example.com");
        let r = other
            .post_form(
                "/login",
                &[("csrf_token", &csrf), ("email", &email), ("password", "x")],
            )
            .await;
        assert_eq!(r.status().as_u16(), 401);
    }
    let r = other
        .post_form(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("email", EMAIL),
                ("password", crate::helpers::PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 429, "the address is throttled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_and_version_validation_keeps_input_and_saves_nothing() {
    let app = TestApp::spawn().await;
    app.login().await;
    let csrf = app.csrf("/services/new").await;

    let r = app
        .post_form(
            "/services",
            &[
                ("csrf_token", &csrf),
                ("display_name", "Bad/Name"),
                ("description", "keep me"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let html = scraper::Html::parse_document(&r.text().await.expect("html"));
    assert_eq!(
        select_text(&html, "#display_name-error"),
        vec!["Use letters, digits, spaces and . - _ ~ : only"]
    );
    assert_eq!(
        select_attr(&html, "#display_name", "value"),
        vec!["Bad/Name"]
    );
    assert_eq!(select_text(&html, "#description"), vec!["keep me"]);
    assert_eq!(
        select_attr(&html, "#display_name", "aria-describedby"),
        vec!["display_name-error"]
    );

    let r = app
        .post_form(
            "/services",
            &[("csrf_token", &csrf), ("display_name", "  ")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    assert!(app
        .running()
        .store
        .list_catalog_services("")
        .await
        .expect("list")
        .is_empty());

    let (service, _) = service_and_version(&app, "Example Service").await;
    let r = app
        .post_form(
            "/services",
            &[("csrf_token", &csrf), ("display_name", "Example-Service")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422, "a space equals a dash: same key");
    let html = scraper::Html::parse_document(&r.text().await.expect("html"));
    assert_eq!(select_text(&html, "#display_name-error").len(), 1);

    let (_, form) = app.get_html(&format!("{service}/versions/new")).await;
    let group = select_attr(
        &form,
        "select[name=runtime_group_id] option[selected]",
        "value",
    )
    .remove(0);
    let r = app
        .post_form(
            &format!("{service}/versions"),
            &[
                ("csrf_token", &csrf),
                ("name", "v.1"),
                ("runtime_group_id", &group),
            ],
        )
        .await;
    assert_eq!(
        r.status().as_u16(),
        422,
        "version names are unique per group"
    );
    let html = scraper::Html::parse_document(&r.text().await.expect("html"));
    assert_eq!(select_text(&html, "#name-error").len(), 1);
    let r = app
        .post_form(
            &format!("{service}/versions"),
            &[
                ("csrf_token", &csrf),
                ("name", ""),
                ("runtime_group_id", &group),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let r = app
        .post_form(
            &format!("{service}/versions"),
            &[
                ("csrf_token", &csrf),
                ("name", "v.2"),
                ("runtime_group_id", "nope"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let html = scraper::Html::parse_document(&r.text().await.expect("html"));
    assert_eq!(
        select_text(&html, "#runtime_group_id-error"),
        vec!["Choose a runtime group"]
    );
    assert_eq!(select_attr(&html, "#name", "value"), vec!["v.2"]);
    let sid = uuid::Uuid::parse_str(service.rsplit('/').next().expect("id")).expect("uuid");
    assert_eq!(
        app.running()
            .store
            .list_versions(sid)
            .await
            .expect("versions")
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implementation_validation_shows_errors_beside_fields_and_saves_nothing() {
    let app = TestApp::spawn().await;
    app.login().await;
    let (_, version) = service_and_version(&app, "Example Service").await;
    let csrf = app.csrf(&version).await;
    let echo = format!("http://{}", app.echo_addr);

    // Step 1: each rule answers beside its field and keeps what was typed.
    let cases: Vec<Case> = vec![
        (
            step1_fields(&csrf, "bad name", &echo),
            "#svc_name-error",
            "invalid value 'bad name'",
        ),
        (
            step1_fields(&csrf, "", &echo),
            "#svc_name-error",
            "Name is required",
        ),
        (
            step1_fields(&csrf, "ok", "ftp://x"),
            "#svc_url-error",
            "unsupported protocol",
        ),
        (
            step1_fields(&csrf, "ok", ""),
            "#svc_url-error",
            "URL is required",
        ),
        (
            step1_fields(&csrf, "ok", "http://127.0.0.1:99999"),
            "#svc_url-error",
            "invalid port number",
        ),
        (
            step1_fields(&csrf, "ok", "not a url"),
            "#svc_url-error",
            "missing host",
        ),
    ];
    for (fields, selector, message) in cases {
        let r = app
            .post_form(&format!("{version}/implementation/step1"), &fields)
            .await;
        assert_eq!(r.status().as_u16(), 422, "{selector}");
        let html = scraper::Html::parse_document(&r.text().await.expect("html"));
        let errors = select_text(&html, selector);
        assert!(
            errors.first().is_some_and(|e| e.contains(message)),
            "{selector}: {errors:?}"
        );
        assert_eq!(
            select_attr(&html, "#svc_url", "value"),
            vec![fields[3].1.to_string()],
            "URL kept"
        );
        assert_eq!(
            select_attr(&html, "#impl-step1", "id").len(),
            1,
            "still on step 1"
        );
    }
    let mut parts = step1_fields(&csrf, "ok", "");
    parts[2] = ("svc_mode", "parts");
    parts.extend([
        ("svc_protocol", "http"),
        ("svc_host", "bad host"),
        ("svc_port", "70000"),
        ("svc_path", "nope"),
    ]);
    let r = app
        .post_form(&format!("{version}/implementation/step1"), &parts)
        .await;
    let html = scraper::Html::parse_document(&r.text().await.expect("html"));
    assert_eq!(
        select_text(&html, "#svc_port-error"),
        vec!["value should be between 0 and 65535"]
    );
    assert_eq!(
        select_text(&html, "#svc_path-error"),
        vec!["should start with: /"]
    );
    assert!(select_text(&html, "#svc_host-error")[0].contains("invalid hostname"));
    let mut retries = step1_fields(&csrf, "ok", &echo);
    retries[4] = ("svc_retries", "-1");
    retries[7] = ("svc_read_timeout", "0");
    let r = app
        .post_form(&format!("{version}/implementation/step1"), &retries)
        .await;
    let html = scraper::Html::parse_document(&r.text().await.expect("html"));
    assert_eq!(
        select_attr(&html, "details.advanced[open]", "class").len(),
        1,
        "advanced section opens on its errors"
    );
    assert!(html
        .root_element()
        .html()
        .contains("value should be between 1 and 2147483646"));

    // Step 2: route rules; nothing of step 1 is saved when step 2 fails.
    let base = step1_fields(&csrf, "example_service", &echo);
    let route_cases: Vec<Case> = vec![
        (
            vec![("route_name", "r1"), ("route_paths", "mock")],
            "#route_paths-error",
            "should start with: /",
        ),
        (
            vec![("route_name", "r1"), ("route_paths", "~/(unclosed")],
            "#route_paths-error",
            "invalid regex",
        ),
        (
            vec![("route_name", "r1"), ("route_paths", "")],
            "#route_paths-error",
            "Add at least one path",
        ),
        (
            vec![("route_name", ""), ("route_paths", "/mock")],
            "#route_name-error",
            "Name is required",
        ),
        (
            vec![("route_name", "r 1"), ("route_paths", "/mock")],
            "#route_name-error",
            "invalid value",
        ),
        (
            vec![
                ("route_name", "r1"),
                ("route_paths", "/mock"),
                ("route_methods", "GET, B@D"),
            ],
            "#route_methods-error",
            "invalid value: B@D",
        ),
        (
            vec![
                ("route_name", "r1"),
                ("route_paths", "/mock"),
                ("route_regex_priority", "x"),
            ],
            "#route_name",
            "",
        ),
    ];
    for (extra, selector, message) in route_cases {
        let mut fields = base.clone();
        fields.extend(extra.iter().copied());
        let r = app
            .post_form(&format!("{version}/implementation"), &fields)
            .await;
        assert_eq!(r.status().as_u16(), 422, "{selector} {message}");
        let html = scraper::Html::parse_document(&r.text().await.expect("html"));
        assert_eq!(
            select_attr(&html, "#impl-step2", "id").len(),
            1,
            "stays on step 2"
        );
        if !message.is_empty() {
            let errors = select_text(&html, selector);
            assert!(
                errors.first().is_some_and(|e| e.contains(message)),
                "{selector}: {errors:?}"
            );
        }
        assert_eq!(
            select_attr(&html, "#route_name", "value"),
            vec![extra[0].1.to_string()],
            "route name kept"
        );
    }
    assert_eq!(
        admin_count(&app, "/services").await,
        0,
        "no half-saved implementation"
    );
    assert_eq!(admin_count(&app, "/routes").await, 0);

    // A route name taken anywhere in the install (case-sensitive) is refused, all or nothing.
    let (status, _) = app
        .admin_json(
            Method::POST,
            "/services",
            serde_json::json!({"name": "other", "url": echo}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = app
        .admin_json(
            Method::POST,
            "/services/other/routes",
            serde_json::json!({"name": "foo", "paths": ["/other"]}),
        )
        .await;
    assert_eq!(status, 201);
    let mut taken = base.clone();
    taken.extend([("route_name", "foo"), ("route_paths", "/mock")]);
    let r = app
        .post_form(&format!("{version}/implementation"), &taken)
        .await;
    assert_eq!(r.status().as_u16(), 409);
    let html = scraper::Html::parse_document(&r.text().await.expect("html"));
    assert!(select_text(&html, "#route_name-error")[0].contains("already exists"));
    assert_eq!(
        admin_count(&app, "/services").await,
        1,
        "the implementation's service was rolled back"
    );

    let mut same_name_other_case = base.clone();
    same_name_other_case.extend([("route_name", "Foo"), ("route_paths", "/mock")]);
    let r = app
        .post_form(&format!("{version}/implementation"), &same_name_other_case)
        .await;
    assert_eq!(r.status().as_u16(), 303, "Foo differs from foo");

    // Gateway service names are unique in the group, checked at step 1.
    let (_, v2) = service_and_version(&app, "Second").await;
    let r = app
        .post_form(
            &format!("{v2}/implementation/step1"),
            &step1_fields(&csrf, "example_service", &echo),
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let html = scraper::Html::parse_document(&r.text().await.expect("html"));
    assert!(select_text(&html, "#svc_name-error")[0]
        .contains("already exists in runtime group 'default'"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_edits_and_deletes_from_the_version_page() {
    let app = TestApp::spawn().await;
    app.login().await;
    let (service, version) = service_and_version(&app, "Example Service").await;
    let csrf = app.csrf(&version).await;
    let echo = format!("http://{}", app.echo_addr);
    let mut fields = step1_fields(&csrf, "example_service", &echo);
    fields.extend([("route_name", "mockbin"), ("route_paths", "/mock")]);
    assert_eq!(
        app.post_form(&format!("{version}/implementation"), &fields)
            .await
            .status()
            .as_u16(),
        303
    );
    app.wait_for_proxy("/mock", 200).await;

    // "+ Add route"
    let r = app
        .post_form(
            &format!("{version}/routes"),
            &[
                ("csrf_token", &csrf),
                ("route_name", "second"),
                ("route_paths", "/second"),
                ("route_paths", "/third"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    app.wait_for_proxy("/third/request", 200).await;
    let r = app
        .post_form(
            &format!("{version}/routes"),
            &[
                ("csrf_token", &csrf),
                ("route_name", "mockbin"),
                ("route_paths", "/x"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422, "duplicate route name");
    let (_, page) = app.get_html(&version).await;
    assert_eq!(
        select_text(&page, "#routes tbody tr td:first-child"),
        vec!["mockbin", "second"]
    );

    // Edit a route: the form comes prefilled, a bad value is refused and changes nothing, a good
    // one is served without a restart.
    let edit_link = select_attr(&page, "#routes a[href$='/edit']", "href").remove(1);
    let (status, form) = app.get_html(&edit_link).await;
    assert_eq!(status, 200);
    assert_eq!(select_attr(&form, "#route_name", "value"), vec!["second"]);
    assert_eq!(
        select_attr(&form, "input[name=route_paths]", "value"),
        vec!["/second", "/third"]
    );
    let r = app
        .post_form(
            &edit_link,
            &[
                ("csrf_token", &csrf),
                ("route_name", "second"),
                ("route_paths", "fourth"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let html = scraper::Html::parse_document(&r.text().await.expect("html"));
    assert_eq!(
        select_text(&html, "#route_paths-error"),
        vec!["should start with: / (fixed path) or ~/ (regex path)"]
    );
    assert_eq!(
        select_attr(&html, "input[name=route_paths]", "value"),
        vec!["fourth"],
        "input kept"
    );
    let r = app
        .post_form(
            &edit_link,
            &[
                ("csrf_token", &csrf),
                ("route_name", "mockbin"),
                ("route_paths", "/fourth"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422, "a taken name is refused");
    let (_, unchanged) = app
        .admin_json(Method::GET, "/routes/second", Value::Null)
        .await;
    assert_eq!(unchanged["paths"], serde_json::json!(["/second", "/third"]));
    let r = app
        .post_form(
            &edit_link,
            &[
                ("csrf_token", &csrf),
                ("route_name", "second"),
                ("route_paths", "/fourth"),
                ("route_methods", "get"),
            ],
        )
        .await;
    assert_eq!((r.status().as_u16(), location(&r)), (303, version.clone()));
    app.wait_for_proxy("/fourth/request", 200).await;
    app.wait_for_proxy("/third/request", 404).await;
    let (_, edited) = app
        .admin_json(Method::GET, "/routes/second", Value::Null)
        .await;
    assert_eq!(
        (edited["methods"].clone(), edited["id"].clone()),
        (serde_json::json!(["GET"]), unchanged["id"].clone())
    );

    // Edit the implementation: a new path on the service is served without a restart.
    let mut edit = vec![
        ("csrf_token", csrf.as_str()),
        ("svc_name", "example_service"),
        ("svc_mode", "parts"),
        ("svc_protocol", "http"),
    ];
    let host = app.echo_addr.ip().to_string();
    let port = app.echo_addr.port().to_string();
    edit.extend([
        ("svc_host", host.as_str()),
        ("svc_port", port.as_str()),
        ("svc_path", "/request"),
        ("svc_retries", "3"),
    ]);
    let r = app
        .post_form(&format!("{version}/implementation/edit"), &edit)
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let r = app.wait_for_proxy("/mock/extra", 200).await;
    let body: Value = r.json().await.expect("echo json");
    assert_eq!(body["path"], "/request/extra");
    let (_, svc) = app
        .admin_json(Method::GET, "/services/example_service", Value::Null)
        .await;
    assert_eq!(
        (svc["retries"].as_i64(), svc["path"].as_str()),
        (Some(3), Some("/request"))
    );

    // Delete the version: a wrong typed name keeps it, the right one removes everything.
    let r = app
        .post_form(
            &format!("{version}/delete"),
            &[("csrf_token", &csrf), ("confirm_name", "v.2")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let html = scraper::Html::parse_document(&r.text().await.expect("html"));
    assert_eq!(
        select_text(&html, "#confirm_version-error"),
        vec!["Type \"v.1\" exactly to confirm"]
    );
    assert_eq!(admin_count(&app, "/routes").await, 2);
    let r = app
        .post_form(
            &format!("{version}/delete"),
            &[("csrf_token", &csrf), ("confirm_name", "v.1")],
        )
        .await;
    assert_eq!((r.status().as_u16(), location(&r)), (303, service.clone()));
    app.wait_for_proxy("/mock", 404).await;
    assert_eq!(admin_count(&app, "/routes").await, 0);
    assert_eq!(admin_count(&app, "/services").await, 0);

    // Delete the service (typed confirmation too).
    let r = app
        .post_form(
            &format!("{service}/delete"),
            &[("csrf_token", &csrf), ("confirm_name", "nope")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let r = app
        .post_form(
            &format!("{service}/delete"),
            &[("csrf_token", &csrf), ("confirm_name", "Example Service")],
        )
        .await;
    assert_eq!(
        (r.status().as_u16(), location(&r)),
        (303, "/services".to_string())
    );
    let (status, _) = app.get_html(&service).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_filter_and_tokens_page() {
    let app = TestApp::spawn().await;
    app.login().await;
    service_and_version(&app, "Payments API").await;
    service_and_version(&app, "Orders").await;
    let (_, html) = app.get_html("/services?q=pay").await;
    assert_eq!(select_text(&html, ".service-card h2"), vec!["Payments API"]);
    let (_, html) = app.get_html("/services").await;
    assert_eq!(
        select_text(&html, ".service-card h2"),
        vec!["Orders", "Payments API"]
    );

    let csrf = app.csrf("/tokens").await;
    let r = app
        .post_form("/tokens", &[("csrf_token", &csrf), ("name", "ci")])
        .await;
    let html = scraper::Html::parse_document(&r.text().await.expect("html"));
    let token = select_text(&html, "#new-token").remove(0);
    assert!(token.starts_with("ghp_"));
    let r = app
        .client
        .get(format!("{}/services", app.admin))
        .bearer_auth(&token)
        .send()
        .await
        .expect("admin");
    assert_eq!(
        r.status().as_u16(),
        200,
        "a console token opens the Admin API"
    );
    let (_, html) = app.get_html("/tokens").await;
    assert!(
        select_text(&html, "#new-token").is_empty(),
        "shown only once"
    );
    assert!(!html.root_element().html().contains(&token));
}
