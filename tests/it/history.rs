//! Configuration history over real HTTP: every change through the Admin API or the console is
//! one numbered version with its author and how it came, the version's diff shows the changed
//! field, restoring an old version brings its routes and plugins back on the proxy and on a
//! data-plane node within a second, the number matches the snapshot the proxy reports, and
//! retention prunes.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{
    create, eventually, reflect_upstream, select_attr, select_text, TestApp, EMAIL,
};

const VERSIONS: &str = "/runtime-groups/default/config-versions";

async fn versions(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, body) = app
        .admin_json(Method::GET, &format!("{VERSIONS}{query}"), Value::Null)
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().cloned().unwrap_or_default()
}

async fn status(app: &TestApp) -> Value {
    let (code, body) = app.admin_json(Method::GET, "/status", Value::Null).await;
    assert_eq!(code, 200);
    body
}

/// Waits until the proxy runs the group's newest version and returns it.
async fn proxy_runs_newest(app: &TestApp) -> Value {
    let newest = versions(app, "?size=1").await[0].clone();
    eventually(
        Duration::from_secs(2),
        "the proxy runs the newest version",
        || {
            let newest = newest.clone();
            async move {
                let s = status(app).await;
                (s["configuration_version"] == newest["version"]
                    && s["configuration_hash"] == newest["hash"])
                    .then_some(newest)
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_admin_api_change_is_one_version_by_its_token() {
    let app = TestApp::spawn().await;
    let up = reflect_upstream().await;
    assert!(versions(&app, "").await.is_empty(), "nothing changed yet");

    create(
        &app,
        "/services",
        json!({ "name": "svc", "url": format!("http://{}", up.addr) }),
    )
    .await;
    let route = create(
        &app,
        "/services/svc/routes",
        json!({ "name": "r1", "paths": ["/one"] }),
    )
    .await;
    let list = versions(&app, "").await;
    assert_eq!(list.len(), 2, "{list:?}");
    let newest = &list[0];
    assert!(newest["version"].as_u64() > list[1]["version"].as_u64());
    assert_eq!(newest["actor"]["type"], "token");
    assert_eq!(newest["actor"]["name"], "bootstrap");
    assert_eq!(newest["how"]["channel"], "admin_api");
    assert_eq!(newest["how"]["detail"], "POST /services/svc/routes");
    assert_eq!(newest["summary_text"], "+1 route");

    // A PATCH is one more version whose diff names the changed field with both values.
    let (code, _) = app
        .admin_json(
            Method::PATCH,
            "/routes/r1",
            json!({ "paths": ["/one", "/uno"] }),
        )
        .await;
    assert_eq!(code, 200);
    let list = versions(&app, "").await;
    assert_eq!(list.len(), 3);
    let n = list[0]["version"].as_u64().expect("number");
    assert_eq!(list[0]["how"]["detail"], "PATCH /routes/r1");
    let (code, one) = app
        .admin_json(Method::GET, &format!("{VERSIONS}/{n}"), Value::Null)
        .await;
    assert_eq!(code, 200, "{one}");
    assert_eq!(one["base_version"], list[1]["version"]);
    let routes = &one["diff"]["kinds"][0];
    assert_eq!(routes["kind"], "routes");
    assert_eq!(routes["changed"][0]["id"], route["id"]);
    let paths = routes["changed"][0]["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["path"] == "paths"))
        .cloned()
        .expect("paths changed");
    assert_eq!(paths["old"], json!(["/one"]));
    assert_eq!(paths["new"], json!(["/one", "/uno"]));

    // Against the current configuration, the newest version has nothing to change.
    let (_, current) = app
        .admin_json(
            Method::GET,
            &format!("{VERSIONS}/{n}?against=current"),
            Value::Null,
        )
        .await;
    assert_eq!(current["diff"]["kinds"], json!([]));

    // The version number and hash are the snapshot's that the proxy reports.
    let runs = proxy_runs_newest(&app).await;
    assert_eq!(runs["version"].as_u64(), Some(n));
    let status_addr = app.running().status_addr.expect("status listener");
    let (_, s) = crate::helpers::get_json(
        &reqwest::Client::new(),
        &format!("http://{status_addr}/status"),
    )
    .await;
    assert_eq!(s["configuration_version"].as_u64(), Some(n));

    // Filters: by entity, kind, actor and time.
    let svc_versions = versions(
        &app,
        &format!("?entity_id={}", route["id"].as_str().unwrap_or("")),
    )
    .await;
    assert_eq!(svc_versions.len(), 2, "created and patched");
    assert_eq!(versions(&app, "?kind=services").await.len(), 1);
    assert_eq!(versions(&app, "?actor=bootstrap").await.len(), 3);
    assert_eq!(versions(&app, "?actor=someone-else").await.len(), 0);
    assert_eq!(versions(&app, "?since=4000000000").await.len(), 0);
    let (code, _) = app
        .admin_json(
            Method::GET,
            &format!("{VERSIONS}?since=yesterday"),
            Value::Null,
        )
        .await;
    assert_eq!(code, 400);
    // Paged as Kong pages.
    let (_, page) = app
        .admin_json(Method::GET, &format!("{VERSIONS}?size=2"), Value::Null)
        .await;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(2));
    let next = page["next"].as_str().expect("a next page").to_string();
    let (_, rest) = app.admin_json(Method::GET, &next, Value::Null).await;
    assert_eq!(rest["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest["next"], Value::Null);

    // A change that fails records nothing.
    let (code, _) = app
        .admin_json(
            Method::POST,
            "/routes",
            json!({ "name": "r1", "paths": ["/x"] }),
        )
        .await;
    assert_eq!(code, 409);
    assert_eq!(versions(&app, "").await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_change_is_one_version_by_the_signed_in_user() {
    let app = TestApp::spawn().await;
    app.login().await;
    let page = "/runtime-groups/default/consumers";
    let csrf = app.csrf(page).await;
    let r = app
        .post_form(page, &[("csrf_token", &csrf), ("username", "carol")])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let list = versions(&app, "").await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["actor"]["type"], "user");
    assert_eq!(list[0]["actor"]["name"], EMAIL);
    assert_eq!(list[0]["how"]["channel"], "console");
    assert_eq!(list[0]["how"]["detail"], format!("POST {page}"));
    assert_eq!(list[0]["summary_text"], "+1 consumer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restoring_a_version_brings_back_its_route_and_plugin_on_proxy_and_node() {
    use crate::procs::{ControlPlane, Node};
    let root = tempfile::tempdir().expect("temp dir");
    let up = reflect_upstream().await;
    let cp = ControlPlane::start(&root.path().join("cp")).await;
    let cred = cp.issue_credential("default").await;
    let mut node = Node::start(&root.path().join("node"), &cred, &[]);
    crate::procs::add_route(&cp, "hist", &format!("http://{}", up.addr), "/hist").await;
    let (code, b) = cp
        .admin(
            Method::POST,
            "/routes/hist-route/plugins",
            Some(json!({ "name": "key-auth" })),
        )
        .await;
    assert_eq!(code, 201, "{b}");
    node.wait_for("/hist", 401, Duration::from_secs(20)).await;
    let proxy = format!("http://127.0.0.1:{}/hist", cp.proxy_port);
    let client = reqwest::Client::new();
    let proxy_answers = |want: u16| {
        let (client, proxy) = (client.clone(), proxy.clone());
        async move {
            client
                .get(&proxy)
                .send()
                .await
                .ok()
                .filter(|r| r.status().as_u16() == want)
                .map(|_| ())
        }
    };
    eventually(Duration::from_secs(2), "the proxy asks for a key", || {
        proxy_answers(401)
    })
    .await;
    let (_, list) = cp.admin(Method::GET, VERSIONS, None).await;
    let guarded = list["data"][0]["version"].as_u64().expect("a version");

    // The route (and its plugin with it) goes away.
    let (code, _) = cp.admin(Method::DELETE, "/routes/hist-route", None).await;
    assert_eq!(code, 204);
    node.wait_for("/hist", 404, Duration::from_secs(2)).await;
    eventually(
        Duration::from_secs(2),
        "the proxy forgets the route",
        || proxy_answers(404),
    )
    .await;

    let (code, restored) = cp
        .admin(Method::POST, &format!("{VERSIONS}/{guarded}/restore"), None)
        .await;
    let asked = Instant::now();
    assert_eq!(code, 201, "{restored}");
    assert_eq!(restored["restored_from"].as_u64(), Some(guarded));
    assert_eq!(restored["how"]["channel"], "restore");
    assert_eq!(restored["how"]["detail"], format!("version {guarded}"));
    assert_eq!(restored["actor"]["type"], "token");
    assert_eq!(restored["summary_text"], "+1 route, +1 plugin");
    let (_, old) = cp
        .admin(Method::GET, &format!("{VERSIONS}/{guarded}"), None)
        .await;
    assert_eq!(
        restored["hash"], old["hash"],
        "the same configuration again"
    );
    eventually(
        Duration::from_secs(1),
        "the proxy serves the route again",
        || proxy_answers(401),
    )
    .await;
    let left = Duration::from_secs(1).saturating_sub(asked.elapsed());
    node.wait_for("/hist", 401, left.max(Duration::from_millis(1)))
        .await;
    assert!(
        asked.elapsed() < Duration::from_millis(1500),
        "live within a second"
    );

    // Restoring what already runs changes nothing and records nothing.
    let newest = restored["version"].as_u64().expect("new version");
    let (code, again) = cp
        .admin(Method::POST, &format!("{VERSIONS}/{newest}/restore"), None)
        .await;
    assert_eq!(code, 200, "{again}");
    assert_eq!(again["changed"], false);
    let (_, missing) = cp
        .admin(Method::POST, &format!("{VERSIONS}/999999/restore"), None)
        .await;
    assert_eq!(missing["message"], "Not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_the_newest_versions() {
    let app = TestApp::spawn_with(|s| s.config_history_max_versions = 3).await;
    for i in 0..5 {
        create(&app, "/consumers", json!({ "username": format!("c{i}") })).await;
    }
    let list = versions(&app, "").await;
    assert_eq!(list.len(), 3, "{list:?}");
    assert_eq!(list[0]["summary_text"], "+1 consumer");
    // Age: everything older than now goes, except the newest version (what the group runs).
    let pruned = app
        .running()
        .store
        .run(|s| async move { s.prune_config_versions(i64::MAX).await })
        .await
        .expect("prune");
    assert_eq!(pruned, 2);
    let left = versions(&app, "").await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["version"], list[0]["version"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_tab_shows_diffs_filters_and_restores_after_a_typed_confirmation() {
    let app = TestApp::spawn().await;
    app.login().await;
    let up = reflect_upstream().await;
    create(
        &app,
        "/services",
        json!({ "name": "svc", "url": format!("http://{}", up.addr) }),
    )
    .await;
    create(
        &app,
        "/services/svc/routes",
        json!({ "name": "shop", "paths": ["/shop"] }),
    )
    .await;
    let before = versions(&app, "").await[0]["version"]
        .as_u64()
        .expect("a version");
    let (code, _) = app
        .admin_json(
            Method::PATCH,
            "/routes/shop",
            json!({ "paths": ["/store"] }),
        )
        .await;
    assert_eq!(code, 200);
    app.wait_for_proxy("/store", 200).await;
    let patched = versions(&app, "").await[0]["version"]
        .as_u64()
        .expect("a version");

    let history = "/runtime-groups/default/history";
    let (code, html) = app.get_html(history).await;
    assert_eq!(code, 200);
    assert_eq!(
        select_attr(&html, "nav.tabs a[aria-current=page]", "href"),
        vec![history.to_string()]
    );
    let rows = select_attr(&html, "#versions tbody tr", "data-version");
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[0], patched.to_string());
    let summaries = select_text(&html, "#versions td.summary");
    assert_eq!(summaries, vec!["~1 route", "+1 route", "+1 service"]);
    assert!(select_text(&html, "#versions td.how")[0].contains("PATCH /routes/shop"));

    // Filters: by an entity's name, by kind, by author, by date.
    let (_, html) = app.get_html(&format!("{history}?entity=shop")).await;
    assert_eq!(select_text(&html, "#versions td.summary").len(), 2);
    let (_, html) = app.get_html(&format!("{history}?kind=services")).await;
    assert_eq!(
        select_text(&html, "#versions td.summary"),
        vec!["+1 service"]
    );
    let (_, html) = app.get_html(&format!("{history}?author=nobody")).await;
    assert_eq!(
        select_attr(&html, "#versions tbody tr", "data-version").len(),
        0
    );
    let (_, html) = app.get_html(&format!("{history}?to=2001-01-01")).await;
    assert_eq!(
        select_attr(&html, "#versions tbody tr", "data-version").len(),
        0
    );

    // The version page shows the changed field with both values.
    let (code, html) = app.get_html(&format!("{history}/{patched}")).await;
    assert_eq!(code, 200);
    assert_eq!(
        select_text(&html, "#diff tr[data-path=paths] td.old"),
        vec![r#"["/shop"]"#]
    );
    assert_eq!(
        select_text(&html, "#diff tr[data-path=paths] td.new"),
        vec![r#"["/store"]"#]
    );
    assert!(
        select_attr(&html, "#restore form", "action").is_empty(),
        "the current one"
    );

    // Against the current version, the older one shows what restoring it would change.
    let (_, html) = app
        .get_html(&format!("{history}/{before}?against=current"))
        .await;
    assert_eq!(
        select_text(&html, "#diff tr[data-path=paths] td.new"),
        vec![r#"["/shop"]"#]
    );
    let action = format!("{history}/{before}/restore");
    assert_eq!(
        select_attr(&html, "#restore form", "action"),
        vec![action.clone()]
    );

    // A wrong confirmation restores nothing.
    let csrf = app.csrf(&format!("{history}/{before}")).await;
    let r = app
        .post_form(&action, &[("csrf_token", &csrf), ("confirm_version", "1")])
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let html = scraper::Html::parse_document(&r.text().await.expect("page"));
    assert_eq!(
        select_text(&html, "#confirm_version-error"),
        vec![format!("Type {before} to restore this version")]
    );
    assert_eq!(versions(&app, "").await.len(), 3);
    // Without the form's token, nothing either.
    let r = app
        .post_form(&action, &[("confirm_version", &before.to_string())])
        .await;
    assert_eq!(r.status().as_u16(), 403);

    let r = app
        .post_form(
            &action,
            &[
                ("csrf_token", &csrf),
                ("confirm_version", &before.to_string()),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let to = crate::helpers::location(&r);
    assert!(to.starts_with(&format!("{history}?restored=")), "{to}");
    app.wait_for_proxy("/shop", 200).await;
    app.wait_for_proxy("/store", 404).await;
    let (_, html) = app.get_html(&to).await;
    let notice = select_text(&html, "#history-notice");
    assert_eq!(notice.len(), 1);
    assert!(
        notice[0].starts_with(&format!("Version {before} restored")),
        "{notice:?}"
    );
    let newest = &versions(&app, "").await[0];
    assert_eq!(newest["actor"]["name"], EMAIL);
    assert_eq!(newest["how"]["channel"], "restore");
    assert_eq!(newest["summary_text"], "~1 route");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_keep_large_configurations_packed_and_read_them_back() {
    let app = TestApp::spawn().await;
    let mut doc = String::from("_format_version: \"3.0\"\nservices:\n");
    for s in 0..20 {
        doc.push_str(&format!(
            "- name: svc{s}\n  url: http://127.0.0.1:9/s{s}\n  routes:\n"
        ));
        for r in 0..100 {
            doc.push_str(&format!("  - name: r{s}-{r}\n    paths: [/s{s}/r{r}]\n"));
        }
    }
    let r = app
        .admin(Method::POST, "/config")
        .header("content-type", "application/yaml")
        .body(doc)
        .send()
        .await
        .expect("POST /config");
    assert_eq!(r.status().as_u16(), 201);
    let (count, stored, json) = app
        .running()
        .store
        .run(|s| async move {
            let g = s.get_default_group().await?.id;
            let (count, bytes) = s.config_history_size(g).await?;
            let json = serde_json::to_string(&s.load_gateway_config(g).await?)
                .map_err(gatehouse::store::StoreError::from)?;
            Ok::<_, gatehouse::store::StoreError>((count, bytes, json.len() as u64))
        })
        .await
        .expect("sizes");
    assert_eq!(count, 1);
    assert!(
        stored * 8 < json,
        "a 2,000-route version takes {stored} bytes for {json} bytes of JSON"
    );
    // The packed version reads back as the configuration that runs.
    let n = versions(&app, "?size=1").await[0]["version"]
        .as_u64()
        .expect("a version");
    let (code, cmp) = app
        .admin_json(
            Method::GET,
            &format!("{VERSIONS}/{n}?against=current"),
            Value::Null,
        )
        .await;
    assert_eq!(code, 200, "{cmp}");
    assert_eq!(cmp["diff"]["kinds"], json!([]));
    let (_, one) = app
        .admin_json(Method::GET, &format!("{VERSIONS}/{n}"), Value::Null)
        .await;
    assert_eq!(one["summary_text"], "+20 services, +2000 routes");
}
