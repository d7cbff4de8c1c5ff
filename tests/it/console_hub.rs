//! Service Hub parity over real HTTP: a route's own page, a version's status, a service's name,
//! description and labels edited in place.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{create, location, select_attr, select_text, TestApp};

/// A catalog service `name` with a version implemented by gateway service `gs` (created through
/// the Admin API with Konnect's tag); returns (service page, version page, gateway service id).
async fn tagged_version(app: &TestApp, name: &str, gs: &str) -> (String, String, String) {
    let svc = create(
        app,
        "/services",
        json!({"name": gs, "url": "http://127.0.0.1:9/up", "tags": [format!("_KonnectService:{name}")]}),
    )
    .await;
    let (_, catalog) = app.get_html(&format!("/services?q={name}")).await;
    let service_page = select_attr(&catalog, "a.service-card", "href")
        .into_iter()
        .next()
        .expect("the tagged service is in the catalog");
    let (_, page) = app.get_html(&service_page).await;
    let version_page = select_attr(&page, "table a[href*='/versions/']", "href")
        .into_iter()
        .next()
        .expect("a version row");
    let id = svc["id"].as_str().expect("id").to_string();
    (service_page, version_page, id)
}

#[tokio::test]
async fn a_route_has_its_own_page_with_fields_service_plugins_edit_and_delete() {
    let app = TestApp::spawn().await;
    app.login().await;
    let (_, version_page, gs) = tagged_version(&app, "billing", "billing-v1").await;
    let route = create(
        &app,
        "/routes",
        json!({"name": "invoices", "paths": ["/invoices"], "methods": ["GET"], "service": {"id": gs}, "tags": ["team-a"]}),
    )
    .await;
    let rid = route["id"].as_str().expect("route id");
    create(
        &app,
        "/plugins",
        json!({"name": "cors", "route": {"id": rid}}),
    )
    .await;
    create(
        &app,
        "/plugins",
        json!({"name": "key-auth", "service": {"id": gs}}),
    )
    .await;

    // The version page's Routes table links to the route's page.
    let (_, version) = app.get_html(&version_page).await;
    let detail = format!("{version_page}/routes/{rid}");
    assert_eq!(
        select_attr(&version, "#routes td a", "href")
            .iter()
            .filter(|h| **h == detail)
            .count(),
        1,
        "the route name links to its page"
    );
    let (status, html) = app.get_html(&detail).await;
    assert_eq!(status, 200);
    assert_eq!(select_text(&html, "#route-title"), vec!["invoices"]);
    let field = |name: &str| select_text(&html, &format!("#route-config dd[data-field={name}]"));
    assert_eq!(field("paths"), vec!["/invoices"]);
    assert_eq!(field("methods"), vec!["GET"]);
    assert_eq!(field("protocols"), vec!["http, https"]);
    assert_eq!(field("strip_path"), vec!["true"]);
    assert_eq!(field("https_redirect_status_code"), vec!["426"]);
    assert_eq!(field("path_handling"), vec!["v0"]);
    assert_eq!(field("tags"), vec!["team-a"]);
    assert_eq!(
        select_text(&html, "#route-service-link"),
        vec!["billing-v1"]
    );
    let mut plugins = select_text(&html, "#route-plugins tbody tr td:first-child");
    plugins.sort();
    assert_eq!(plugins, vec!["cors", "key-auth"]);
    assert_eq!(
        select_attr(&html, "#edit-route", "href"),
        vec![format!("{version_page}/routes/{rid}/edit")]
    );
    let delete = format!("{version_page}/routes/{rid}/delete");
    assert_eq!(
        select_attr(&html, "#route-actions form", "action"),
        vec![delete.clone()]
    );

    // The same route from its runtime group's Routes page.
    let (_, routes) = app.get_html("/runtime-groups/default/routes").await;
    let group_link = select_attr(&routes, "#rg-routes tr[data-name=invoices] td a", "href");
    assert_eq!(
        group_link.first().map(String::as_str),
        Some(&*format!(
            "/runtime-groups/{}/routes/{rid}",
            group_of(&routes)
        ))
    );
    let (status, html) = app.get_html(&group_link[0]).await;
    assert_eq!(status, 200);
    assert_eq!(select_text(&html, "#route-title"), vec!["invoices"]);
    assert!(select_attr(&html, "#route-actions form", "action")[0]
        .ends_with(&format!("/routes/{rid}/delete")));

    // Delete from the route's page: back to the version, and the page is gone.
    let csrf = app.csrf(&detail).await;
    let r = app.post_form(&delete, &[("csrf_token", &csrf)]).await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(location(&r), version_page);
    assert_eq!(app.get_html(&detail).await.0, 404);
    let (status, _) = app
        .admin_json(Method::GET, &format!("/routes/{rid}"), json!({}))
        .await;
    assert_eq!(status, 404);
}

/// The group id the Routes page links with (`/runtime-groups/{id}/routes/new`).
fn group_of(html: &scraper::Html) -> String {
    select_attr(html, "a.button.primary[href$='/routes/new']", "href")
        .first()
        .and_then(|h| h.split('/').nth(2).map(str::to_string))
        .expect("new route link")
}

#[tokio::test]
async fn a_version_status_is_edited_and_shown_on_the_service_page() {
    let app = TestApp::spawn().await;
    app.login().await;
    let (service_page, version_page, _) = tagged_version(&app, "ledger", "ledger-v1").await;
    let (_, version) = app.get_html(&version_page).await;
    assert_eq!(select_text(&version, "#version-status"), vec!["published"]);
    let status_page = format!("{version_page}/status");
    assert_eq!(
        select_attr(&version, "#edit-version-status", "href"),
        vec![status_page.clone()]
    );
    let (_, form) = app.get_html(&status_page).await;
    assert_eq!(
        select_attr(&form, "input[name=status]", "value"),
        vec!["published", "deprecated", "unpublished"]
    );
    assert_eq!(
        select_attr(&form, "input[name=status][checked]", "value"),
        vec!["published"]
    );
    let csrf = app.csrf(&status_page).await;

    let r = app
        .post_form(
            &status_page,
            &[("csrf_token", &csrf), ("status", "retired")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let html = scraper::Html::parse_document(&r.text().await.expect("body"));
    assert_eq!(select_text(&html, "#status-error").len(), 1);

    for status in ["deprecated", "unpublished"] {
        let r = app
            .post_form(&status_page, &[("csrf_token", &csrf), ("status", status)])
            .await;
        assert_eq!(r.status().as_u16(), 303);
        assert_eq!(location(&r), version_page);
        let (_, version) = app.get_html(&version_page).await;
        assert_eq!(select_text(&version, "#version-status"), vec![status]);
        let (_, service) = app.get_html(&service_page).await;
        assert_eq!(
            select_text(&service, "table .badge"),
            vec![status],
            "the service page's versions table shows the status"
        );
    }
}

/// Creates a catalog service through the console; returns its page.
async fn console_service(app: &TestApp, name: &str, description: &str) -> String {
    let csrf = app.csrf("/services/new").await;
    let r = app
        .post_form(
            "/services",
            &[
                ("csrf_token", &csrf),
                ("display_name", name),
                ("description", description),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    location(&r)
}

#[tokio::test]
async fn a_service_is_edited_in_place_all_or_nothing() {
    let app = TestApp::spawn().await;
    app.login().await;
    let page = console_service(&app, "Payments", "Takes money").await;
    console_service(&app, "Billing", "").await;
    let edit = format!("{page}/edit");

    let (_, html) = app.get_html(&page).await;
    assert_eq!(
        select_attr(&html, "#edit-service-link", "href"),
        vec![edit.clone()]
    );
    let (_, html) = app.get_html(&edit).await;
    assert_eq!(
        select_attr(&html, "#edit-service", "action"),
        vec![edit.clone()]
    );
    assert_eq!(
        select_attr(&html, "#display_name", "value"),
        vec!["Payments"]
    );
    assert_eq!(select_text(&html, "#description"), vec!["Takes money"]);
    let csrf = app.csrf(&edit).await;

    // Refused: each message beside its field, the input kept, nothing saved.
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "Payments/v2",
            "New text",
            "env:prod",
            &["#display_name-error"],
        ),
        ("Payments", "New text", "kong-owner:me", &["#labels-error"]),
        (
            "Payments",
            "New text",
            "a:1,b:2,c:3,d:4,e:5,f:6",
            &["#labels-error"],
        ),
        ("Payments", "New text", "env", &["#labels-error"]),
        (
            "",
            "New text",
            "_x:1",
            &["#display_name-error", "#labels-error"],
        ),
        ("billing", "New text", "env:prod", &["#display_name-error"]),
    ];
    for (name, description, labels, errors) in cases {
        let r = app
            .post_form(
                &edit,
                &[
                    ("csrf_token", &csrf),
                    ("display_name", name),
                    ("description", description),
                    ("labels", labels),
                ],
            )
            .await;
        assert_eq!(r.status().as_u16(), 422, "{name} / {labels}");
        let html = scraper::Html::parse_document(&r.text().await.expect("body"));
        for e in *errors {
            assert_eq!(select_text(&html, e).len(), 1, "{e} for {name} / {labels}");
        }
        assert_eq!(
            select_attr(&html, "#labels", "value"),
            vec![labels.to_string()]
        );
        assert_eq!(
            select_text(&html, "#description"),
            vec![description.to_string()]
        );
        let (_, shown) = app.get_html(&page).await;
        assert_eq!(
            select_text(&shown, "h1"),
            vec!["Payments"],
            "nothing half-saved"
        );
        assert_eq!(
            select_text(&shown, "#service-description"),
            vec!["Takes money"]
        );
    }

    let r = app
        .post_form(
            &edit,
            &[
                ("csrf_token", &csrf),
                ("display_name", "Payments API"),
                ("description", "Takes and returns money"),
                ("labels", "env:prod, team:payments"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(location(&r), page);
    let (_, html) = app.get_html(&page).await;
    assert_eq!(select_text(&html, "h1"), vec!["Payments API"]);
    assert_eq!(
        select_text(&html, "#service-description"),
        vec!["Takes and returns money"]
    );
    assert_eq!(
        select_text(&html, "#service-labels .label"),
        vec!["env:prod", "team:payments"]
    );
    assert_eq!(
        select_text(&html, "#service-key"),
        vec!["payments"],
        "the key stays"
    );
    let (_, catalog) = app.get_html("/services").await;
    assert_eq!(
        select_text(&catalog, "a.service-card h2"),
        vec!["Billing", "Payments API"]
    );
}
