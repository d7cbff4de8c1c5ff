//! Runtime Manager pages: runtime groups (create, validate, rename, delete with a typed name),
//! a group's Gateway Services and Routes, and a node joining through New Runtime Instance.

use std::time::Duration;

use scraper::Html;

use crate::helpers::{eventually, location, select_attr, select_text, TestApp};

async fn page(r: reqwest::Response) -> (u16, Html) {
    let status = r.status().as_u16();
    (status, Html::parse_document(&r.text().await.expect("html")))
}

fn text(html: &Html, css: &str) -> String {
    select_text(html, css).join(" ")
}

async fn create_group(app: &TestApp, csrf: &str, name: &str, labels: &str) -> reqwest::Response {
    app.post_form(
        "/runtime-groups",
        &[
            ("csrf_token", csrf),
            ("name", name),
            ("description", "for tests"),
            ("labels", labels),
        ],
    )
    .await
}

#[tokio::test]
async fn runtime_groups_are_created_validated_renamed_and_deleted() {
    let app = TestApp::spawn().await;
    app.login().await;
    let (status, html) = app.get_html("/runtime-groups").await;
    assert_eq!(status, 200);
    assert!(text(&html, "#runtime-groups").contains("default"));
    let csrf = app.csrf("/runtime-groups").await;

    // Bad input comes back with the input kept and messages beside the fields.
    let (status, html) = page(create_group(&app, &csrf, "  ", "env").await).await;
    assert_eq!(status, 422);
    assert!(text(&html, "#rg-name-error").contains("required"));
    assert!(text(&html, "#rg-labels-error").contains("key:value"));
    assert_eq!(select_attr(&html, "#rg-labels", "value"), vec!["env"]);

    let r = create_group(&app, &csrf, "staging", "env:staging").await;
    assert_eq!(r.status().as_u16(), 303);
    let group_url = location(&r);
    assert!(group_url.starts_with("/runtime-groups/"));
    let (_, html) = app.get_html(&group_url).await;
    assert!(text(&html, "#group-info").contains("env:staging"));
    assert_eq!(text(&html, "#tile-requests"), "0");

    // Names are unique in the organization.
    let (status, html) = page(create_group(&app, &csrf, "staging", "").await).await;
    assert_eq!(status, 422);
    assert!(text(&html, "#rg-name-error").contains("already exists"));

    // Rename, then delete: the typed name must match.
    let r = app
        .post_form(
            &format!("{group_url}/edit"),
            &[
                ("csrf_token", &csrf),
                ("name", "stage"),
                ("description", ""),
                ("labels", ""),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (status, html) = page(
        app.post_form(
            &format!("{group_url}/delete"),
            &[("csrf_token", &csrf), ("confirm_name", "staging")],
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert!(text(&html, "#confirm-error").contains("exactly"));
    let r = app
        .post_form(
            &format!("{group_url}/delete"),
            &[("csrf_token", &csrf), ("confirm_name", "stage")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, html) = app.get_html("/runtime-groups").await;
    assert!(!text(&html, "#runtime-groups").contains("stage"));

    // The default group can be renamed but not deleted.
    let (status, html) = page(
        app.post_form(
            "/runtime-groups/default/delete",
            &[("csrf_token", &csrf), ("confirm_name", "default")],
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert!(text(&html, "#confirm-error").contains("cannot be deleted"));
}

#[tokio::test]
async fn a_groups_gateway_services_and_routes_are_managed_from_its_pages() {
    let app = TestApp::spawn().await;
    app.login().await;
    let csrf = app.csrf("/runtime-groups").await;
    let group_url = location(&create_group(&app, &csrf, "payments", "").await);
    let echo = format!("http://{}", app.echo_addr);

    let r = app
        .post_form(
            &format!("{group_url}/services"),
            &[
                ("csrf_token", &csrf),
                ("svc_name", "billing"),
                ("svc_mode", "url"),
                ("svc_url", "not a url"),
            ],
        )
        .await;
    let (status, html) = page(r).await;
    assert_eq!(status, 422, "a bad URL is refused");
    assert!(!text(&html, "#svc_url-error").is_empty());
    assert_eq!(select_attr(&html, "#svc_name", "value"), vec!["billing"]);

    for name in ["billing", "ledger"] {
        let r = app
            .post_form(
                &format!("{group_url}/services"),
                &[
                    ("csrf_token", &csrf),
                    ("svc_name", name),
                    ("svc_mode", "url"),
                    ("svc_url", &echo),
                    ("svc_tags", "team-a"),
                ],
            )
            .await;
        assert_eq!(r.status().as_u16(), 303, "{name} saved");
    }
    let (_, html) = app.get_html(&format!("{group_url}/services?q=bill")).await;
    assert_eq!(
        select_attr(&html, "#gateway-services tbody tr", "data-name"),
        vec!["billing"]
    );
    let (_, html) = app
        .get_html(&format!("{group_url}/services?q=tag:team-a"))
        .await;
    assert_eq!(
        select_attr(&html, "#gateway-services tbody tr", "data-name").len(),
        2
    );
    // The default group does not see them.
    let (_, html) = app.get_html("/runtime-groups/default/services").await;
    assert!(
        select_attr(&html, "#gateway-services tbody tr", "data-name")
            .iter()
            .all(|n| n.is_empty())
    );

    // A route needs a service; with one it is saved and listed.
    let (_, html) = app.get_html(&format!("{group_url}/routes/new")).await;
    let billing_id = select_attr(&html, "#service_id option", "value")
        .into_iter()
        .zip(select_text(&html, "#service_id option"))
        .find(|(_, name)| name == "billing")
        .map(|(id, _)| id)
        .expect("billing offered");
    let r = app
        .post_form(
            &format!("{group_url}/routes"),
            &[
                ("csrf_token", &csrf),
                ("route_name", "pay"),
                ("route_paths", "/pay"),
            ],
        )
        .await;
    let (status, html) = page(r).await;
    assert_eq!(status, 422);
    assert!(text(&html, "#service_id-error").contains("Choose"));
    let r = app
        .post_form(
            &format!("{group_url}/routes"),
            &[
                ("csrf_token", &csrf),
                ("service_id", &billing_id),
                ("route_name", "pay"),
                ("route_paths", "/pay"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, html) = app.get_html(&format!("{group_url}/routes")).await;
    assert_eq!(
        select_attr(&html, "#rg-routes tbody tr", "data-name"),
        vec!["pay"]
    );
    assert!(text(&html, "#rg-routes").contains("billing"));

    // A service with routes is not deleted; said so on the page.
    let (status, html) = page(
        app.post_form(
            &format!("{group_url}/services/{billing_id}/delete"),
            &[("csrf_token", &csrf)],
        )
        .await,
    )
    .await;
    assert_eq!(status, 409);
    assert!(text(&html, "#services-error").contains("still has routes"));

    // Edit the route, then delete it and the service.
    let (_, html) = app.get_html(&format!("{group_url}/routes")).await;
    let edit = select_attr(&html, "#rg-routes tbody tr td a[href$='/edit']", "href")[0].clone();
    let r = app
        .post_form(
            &edit,
            &[
                ("csrf_token", &csrf),
                ("service_id", &billing_id),
                ("route_name", "pay"),
                ("route_paths", "/payments"),
                ("route_methods", "GET"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, html) = app.get_html(&format!("{group_url}/routes")).await;
    assert!(text(&html, "#rg-routes").contains("/payments"));
    let route_delete = edit.replace("/edit", "/delete");
    assert_eq!(
        app.post_form(&route_delete, &[("csrf_token", &csrf)])
            .await
            .status()
            .as_u16(),
        303
    );
    let r = app
        .post_form(
            &format!("{group_url}/services/{billing_id}/delete"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, html) = app.get_html(&format!("{group_url}/services")).await;
    assert_eq!(
        select_attr(&html, "#gateway-services tbody tr", "data-name"),
        vec!["ledger"]
    );
}

#[tokio::test]
async fn a_node_started_with_the_new_instance_command_is_listed_in_sync() {
    let app = TestApp::spawn().await;
    app.login().await;
    let base = "/runtime-groups/default";
    let csrf = app.csrf(&format!("{base}/instances/new")).await;

    let (status, html) = page(
        app.post_form(
            &format!("{base}/instances/new"),
            &[("csrf_token", &csrf), ("name", "edge"), ("days", "0")],
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert!(text(&html, "#cred-days-error").contains("1 to"));

    let (status, html) = page(
        app.post_form(
            &format!("{base}/instances/new"),
            &[("csrf_token", &csrf), ("name", "edge"), ("days", "30")],
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    let token = text(&html, "#new-credential");
    assert!(token.starts_with("ghdp_"), "{token}");
    let linux = text(&html, "#linux-command");
    let fingerprint = text(&html, "#ca-fingerprint");
    let cluster = app.running().cluster.url.clone();
    assert!(
        linux.contains(&token) && linux.contains(&fingerprint) && linux.contains(&cluster),
        "{linux}"
    );
    assert!(text(&html, "#docker-command").contains("GATEHOUSE_ROLE=data_plane"));

    // The credential is listed (not its token) and the embedded proxy is an instance already.
    let (_, html) = app.get_html(&format!("{base}/dp-certificates")).await;
    assert!(text(&html, "#credentials").contains("edge"));
    assert!(
        !html.html().contains(&token),
        "the token is shown once only"
    );

    // Start a node in-process with exactly the command's settings.
    let dir = tempfile::tempdir().expect("dir");
    let mut settings = gatehouse::settings::Settings::ephemeral(dir.path().join("node"));
    settings.node.control_plane = Some(cluster);
    settings.node.token = Some(token);
    settings.node.ca_fingerprint = Some(fingerprint);
    settings.role = gatehouse::settings::Role::DataPlane;
    let node = std::thread::spawn(move || gatehouse::app::start_node(settings))
        .join()
        .expect("thread")
        .expect("node starts");
    let node_id = node.node_id.to_string();
    let rows = eventually(
        Duration::from_secs(15),
        "the node listed in sync",
        || async {
            let (_, html) = app.get_html(&format!("{base}/instances")).await;
            let ids = select_attr(&html, "#instances tbody tr", "data-id");
            let syncs = select_text(&html, "#instances tbody tr .sync .badge");
            (ids.len() == 2 && ids.contains(&node_id) && syncs.iter().all(|s| s == "In sync"))
                .then_some(ids)
        },
    )
    .await;
    assert_eq!(rows.len(), 2, "the embedded proxy and the node");
    let (_, html) = app
        .get_html(&format!("{base}/instances?connected=disconnected"))
        .await;
    assert!(text(&html, "#instances").contains("No instances match"));
    std::thread::spawn(move || node.shutdown())
        .join()
        .expect("stop node");
}

#[tokio::test]
async fn each_group_has_its_own_upstreams_page() {
    let app = TestApp::spawn().await;
    app.login().await;
    let csrf = app.csrf("/runtime-groups").await;
    let group_url = location(&create_group(&app, &csrf, "edge", "").await);
    let r = app
        .post_form(
            &format!("{group_url}/upstreams"),
            &[
                ("csrf_token", &csrf),
                ("name", "edge-pool"),
                ("algorithm", "round-robin"),
                ("hash_on", "none"),
                ("slots", "10000"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303, "created in the group");
    let upstream_page = location(&r);
    assert!(
        upstream_page.starts_with(&format!("{group_url}/upstreams/")),
        "{upstream_page}"
    );
    let (status, html) = app.get_html(&upstream_page).await;
    assert_eq!(status, 200);
    assert!(text(&html, ".crumbs").contains("edge"));

    let gid = group_url.rsplit('/').next().unwrap_or_default().to_string();
    let (_, scoped) = app
        .admin_json(
            reqwest::Method::GET,
            &format!("/runtime-groups/{gid}/core-entities/upstreams"),
            serde_json::Value::Null,
        )
        .await;
    assert_eq!(scoped["data"][0]["name"], "edge-pool");
    let (_, default) = app
        .admin_json(reqwest::Method::GET, "/upstreams", serde_json::Value::Null)
        .await;
    assert_eq!(
        default["data"].as_array().map(Vec::len),
        Some(0),
        "not in the default group"
    );
    let (_, html) = app.get_html(&format!("{group_url}/certificates")).await;
    assert!(text(&html, ".crumbs").contains("edge"));

    let (status, _) = app
        .get_html("/runtime-groups/no-such-group/upstreams")
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_default_group_edit_page_offers_no_delete() {
    let app = TestApp::spawn().await;
    app.login().await;
    let (status, html) = app.get_html("/runtime-groups/default/edit").await;
    assert_eq!(status, 200);
    assert!(select_attr(&html, "form", "action")
        .iter()
        .all(|a| !a.ends_with("/delete")));
    assert!(select_text(&html, "button")
        .iter()
        .all(|b| !b.to_lowercase().contains("delete")));
    assert!(select_text(&html, "h2")
        .iter()
        .all(|h| !h.to_lowercase().contains("delete")));
    assert_eq!(select_text(&html, "#default-group-note").len(), 1);

    let (status, created) = app
        .admin_json(
            reqwest::Method::POST,
            "/runtime-groups",
            serde_json::json!({"name": "staging"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id");
    let (_, html) = app.get_html(&format!("/runtime-groups/{id}/edit")).await;
    assert_eq!(
        select_attr(&html, "#delete-group form", "action"),
        vec![format!("/runtime-groups/{id}/delete")]
    );
}
