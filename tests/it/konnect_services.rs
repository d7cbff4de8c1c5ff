//! Gateway services seen from the Service Hub: Konnect's `_KonnectService:<name>` tag puts an
//! Admin API (or decK / kong.yml) service in the catalog.

use reqwest::Method;
use serde_json::json;

use crate::declarative::post_raw;
use crate::helpers::{create, select_attr, select_text, TestApp};

/// The catalog's cards: (display name, versions pill) by name.
async fn catalog(app: &TestApp) -> Vec<(String, String)> {
    let (_, html) = app.get_html("/services").await;
    let names = select_text(&html, "a.service-card h2");
    let pills = select_text(&html, "a.service-card .pill:not(.label)");
    names.into_iter().zip(pills).collect()
}

/// The versions of the catalog service shown as `name`: (version, group, implementation).
async fn versions(app: &TestApp, name: &str) -> Vec<(String, String, String)> {
    let (_, html) = app.get_html(&format!("/services?q={name}")).await;
    let page = select_attr(&html, "a.service-card", "href");
    let (_, html) = app.get_html(&page[0]).await;
    let cells = select_text(&html, "#versions tbody tr td");
    cells
        .chunks(4)
        .filter(|c| c.len() == 4)
        .map(|c| (c[0].clone(), c[1].clone(), c[3].clone()))
        .collect()
}

#[tokio::test]
async fn tagged_gateway_services_appear_in_the_catalog_as_konnect_does() {
    let app = TestApp::spawn().await;
    app.login().await;
    let tag = "_KonnectService:orders";
    let v1 = create(
        &app,
        "/services",
        json!({"name": "orders-v1", "url": "http://127.0.0.1:9", "tags": ["team-a", tag]}),
    )
    .await;
    assert_eq!(
        catalog(&app).await,
        vec![("orders".into(), "1 Version".into())]
    );
    assert_eq!(
        versions(&app, "orders").await,
        vec![("orders-v1".into(), "default".into(), "Implemented".into())]
    );
    // The version page shows the gateway service as its implementation.
    let (_, html) = app.get_html("/services?q=orders").await;
    let page = select_attr(&html, "a.service-card", "href");
    let (_, html) = app.get_html(&page[0]).await;
    let version = select_attr(&html, "table a[href*='/versions/']", "href");
    let (_, html) = app.get_html(&version[0]).await;
    assert!(select_text(&html, "#implementation dd").contains(&"orders-v1".to_string()));

    // A second tagged service is a second version; saving the first again adds nothing.
    create(
        &app,
        "/services",
        json!({"name": "orders-v2", "url": "http://127.0.0.1:9", "tags": [tag]}),
    )
    .await;
    let id = v1["id"].as_str().expect("id");
    let (status, _) = app
        .admin_json(
            Method::PATCH,
            &format!("/services/{id}"),
            json!({"retries": 3}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        catalog(&app).await,
        vec![("orders".into(), "2 Versions".into())]
    );

    // A tag added later links too; so does a PUT creating the service.
    create(
        &app,
        "/services",
        json!({"name": "stock-main", "url": "http://127.0.0.1:9"}),
    )
    .await;
    assert_eq!(catalog(&app).await.len(), 1);
    let (status, _) = app
        .admin_json(
            Method::PATCH,
            "/services/stock-main",
            json!({"tags": ["_KonnectService:stock"]}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .admin_json(
            Method::PUT,
            "/services/audit-log",
            json!({"url": "http://127.0.0.1:9", "tags": ["_KonnectService:audit"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        catalog(&app).await,
        vec![
            ("audit".into(), "1 Version".into()),
            ("orders".into(), "2 Versions".into()),
            ("stock".into(), "1 Version".into())
        ]
    );

    // decK's way: a declarative file with a tagged service.
    let doc = "_format_version: \"3.0\"\nservices:\n- name: search-v1\n  url: http://127.0.0.1:9\n  tags: [\"_KonnectService:search\"]\n";
    let (status, body) = post_raw(&app, "/config", "application/yaml", doc).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        versions(&app, "search").await,
        vec![("search-v1".into(), "default".into(), "Implemented".into())]
    );
}
