//! The console's Import and Export over real HTTP: an uploaded or pasted kong.yml is previewed
//! as a diff (added, removed, changed field by field) with nothing applied, then applied as
//! one version of the history; a preview that went stale is shown again instead of applied;
//! a bad file comes back with its errors; Export downloads what Import takes.

use std::time::Duration;

use reqwest::Method;
use scraper::Html;
use serde_json::{json, Value};

use crate::helpers::{
    create, eventually, location, reflect_upstream, select_attr, select_text, TestApp, EMAIL,
};

const BASE: &str = "/runtime-groups/default";

async fn version_count(app: &TestApp) -> usize {
    let (code, body) = app
        .admin_json(
            Method::GET,
            "/runtime-groups/default/config-versions?size=1000",
            Value::Null,
        )
        .await;
    assert_eq!(code, 200, "{body}");
    body["data"].as_array().map_or(0, Vec::len)
}

/// Posts `file` as an uploaded kong.yml, the way a browser sends a file input.
async fn upload(app: &TestApp, file: &str) -> (u16, Html) {
    let csrf = app.csrf(&format!("{BASE}/config/import")).await;
    let body = format!(
        "--B0undary\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{csrf}\r\n\
         --B0undary\r\nContent-Disposition: form-data; name=\"config_file\"; filename=\"kong.yml\"\r\nContent-Type: application/yaml\r\n\r\n{file}\r\n\
         --B0undary\r\nContent-Disposition: form-data; name=\"config\"\r\n\r\n\r\n\
         --B0undary--\r\n"
    );
    let r = app
        .client
        .post(format!("{}{BASE}/config/import", app.console))
        .header("content-type", "multipart/form-data; boundary=B0undary")
        .body(body)
        .send()
        .await
        .expect("upload");
    let status = r.status().as_u16();
    (status, Html::parse_document(&r.text().await.expect("html")))
}

/// Presses "Apply these changes" on a preview page.
async fn apply(app: &TestApp, preview: &Html) -> reqwest::Response {
    let csrf = select_attr(preview, "#apply-form input[name=csrf_token]", "value")[0].clone();
    let base = select_attr(preview, "#apply-form input[name=base_version]", "value")[0].clone();
    let text = select_text(preview, "#apply-form textarea[name=config]")
        .first()
        .cloned()
        .unwrap_or_default();
    app.post_form(
        &format!("{BASE}/config/import/apply"),
        &[
            ("csrf_token", &csrf),
            ("base_version", &base),
            ("config", &text),
            ("action", "apply"),
        ],
    )
    .await
}

fn file(upstream: &str) -> String {
    format!(
        r#"_format_version: "3.0"
services:
- name: svc
  url: http://{upstream}
  routes:
  - name: r1
    paths: [/one, /uno]
  - name: r2
    paths: [/two]
consumers:
- username: alice
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_file_is_previewed_as_a_diff_then_applied_as_one_version() {
    let app = TestApp::spawn().await;
    app.login().await;
    let up = reflect_upstream().await;
    let url = format!("http://{}", up.addr);
    create(&app, "/services", json!({ "name": "svc", "url": url })).await;
    let r1 = create(
        &app,
        "/services/svc/routes",
        json!({ "name": "r1", "paths": ["/one"] }),
    )
    .await;
    create(&app, "/consumers", json!({ "username": "bob" })).await;
    let before = version_count(&app).await;

    let (code, page) = upload(&app, &file(&up.addr.to_string())).await;
    assert_eq!(code, 200);
    // What would change, field by field, before anything is applied.
    let r1_id = r1["id"].as_str().expect("id");
    let changed = select_text(&page, ".diff-changed code");
    assert!(changed.iter().any(|c| c == r1_id), "{changed:?}");
    assert_eq!(
        select_text(&page, ".diff-changed tr[data-path=paths] td.old code"),
        vec![r#"["/one"]"#]
    );
    assert_eq!(
        select_text(&page, ".diff-changed tr[data-path=paths] td.new code"),
        vec![r#"["/one","/uno"]"#]
    );
    let added = select_text(&page, ".diff-added summary strong");
    assert_eq!(added, vec!["r2", "alice"], "{added:?}");
    assert_eq!(
        select_text(&page, ".diff-removed summary strong"),
        vec!["bob"]
    );
    let summary = select_text(&page, "#import-summary p").join(" ");
    assert!(summary.contains("+1 route"), "{summary}");
    // Nothing applied yet.
    assert_eq!(version_count(&app).await, before);
    let (code, _) = app.admin_json(Method::GET, "/routes/r2", Value::Null).await;
    assert_eq!(code, 404);

    let r = apply(&app, &page).await;
    assert_eq!(r.status().as_u16(), 303);
    let to = location(&r);
    assert!(to.starts_with(&format!("{BASE}/history?imported=")), "{to}");
    let (_, history) = app.get_html(&to).await;
    let notice = select_text(&history, "#history-notice p").join("");
    assert!(notice.contains("Configuration imported"), "{notice}");

    // One version, recorded as an import by the signed-in user, and the proxy serves it.
    assert_eq!(version_count(&app).await, before + 1);
    let (_, list) = app
        .admin_json(
            Method::GET,
            "/runtime-groups/default/config-versions?size=1",
            Value::Null,
        )
        .await;
    assert_eq!(list["data"][0]["how"]["channel"], "import");
    assert_eq!(list["data"][0]["actor"]["name"], EMAIL);
    let n = list["data"][0]["version"].as_u64().expect("number");
    // Runtime Instances names the version the group and its embedded node run.
    let instances = format!("{BASE}/instances");
    eventually(
        Duration::from_secs(10),
        "the embedded node reports the imported version",
        || async {
            let (_, page) = app.get_html(&instances).await;
            let latest = select_text(&page, "#latest-version");
            let rows = select_text(&page, "#instances .config-version");
            (latest == vec![format!("version {n}")] && rows == vec![format!("v{n}")]).then_some(())
        },
    )
    .await;
    app.wait_for_proxy("/two", 200).await;
    app.wait_for_proxy("/uno", 200).await;
    let (code, route) = app.admin_json(Method::GET, "/routes/r1", Value::Null).await;
    assert_eq!(code, 200);
    assert_eq!(route["id"], r1["id"], "the route keeps its id");
    let (code, _) = app
        .admin_json(Method::GET, "/consumers/bob", Value::Null)
        .await;
    assert_eq!(code, 404, "what the file does not list is removed");

    // Export downloads what the group runs, and importing it back changes nothing.
    let r = app
        .client
        .get(format!("{}{BASE}/config/export", app.console))
        .send()
        .await
        .expect("export");
    assert_eq!(r.status().as_u16(), 200);
    let disposition = r
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert_eq!(disposition, "attachment; filename=\"kong-default.yml\"");
    let exported = r.text().await.expect("yaml");
    assert!(
        exported.starts_with("_format_version: \"3.0\""),
        "{exported}"
    );
    let (code, page) = upload(&app, &exported).await;
    assert_eq!(code, 200);
    assert_eq!(select_text(&page, "#no-changes").len(), 1);
    assert!(select_attr(&page, "#apply-import", "value").is_empty());
    assert!(select_text(&page, ".diff-kind").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_preview_is_shown_again_and_a_bad_file_comes_back_with_its_errors() {
    let app = TestApp::spawn().await;
    app.login().await;
    let up = reflect_upstream().await;
    let url = format!("http://{}", up.addr);
    create(&app, "/services", json!({ "name": "svc", "url": url })).await;
    let (code, page) = upload(&app, &file(&up.addr.to_string())).await;
    assert_eq!(code, 200);

    // Someone changes the group while the preview is open: applying it changes nothing and
    // shows what the file would change now (the new route r9 would be removed).
    create(
        &app,
        "/services/svc/routes",
        json!({ "name": "r9", "paths": ["/nine"] }),
    )
    .await;
    let before = version_count(&app).await;
    let r = apply(&app, &page).await;
    assert_eq!(r.status().as_u16(), 200);
    let again = Html::parse_document(&r.text().await.expect("html"));
    let notice = select_text(&again, "#import-notice p").join("");
    assert!(notice.contains("changed after version"), "{notice}");
    assert!(select_text(&again, ".diff-removed summary strong").contains(&"r9".to_string()));
    assert_eq!(version_count(&app).await, before, "nothing applied");
    let (code, _) = app.admin_json(Method::GET, "/routes/r9", Value::Null).await;
    assert_eq!(code, 200);

    // A YAML syntax error and a reference to a missing entity: the file comes back in the
    // text box with each problem listed beside it; nothing changes.
    let bad = "_format_version: \"3.0\"\nservices:\n- name: svc\n  url: [unclosed\n";
    let (code, page) = upload(&app, bad).await;
    assert_eq!(code, 422);
    let errors = select_text(&page, "#config-error li").join("\n");
    assert!(errors.contains("line"), "{errors}");
    assert_eq!(
        select_text(&page, "textarea#config"),
        vec![bad.trim().to_string()]
    );
    let missing =
        "_format_version: \"3.0\"\nroutes:\n- name: lost\n  paths: [/lost]\n  service: nowhere\n";
    let (code, page) = upload(&app, missing).await;
    assert_eq!(code, 422);
    let errors = select_text(&page, "#config-error li").join("\n");
    assert!(errors.contains("nowhere"), "{errors}");
    let (code, page) = upload(&app, "").await;
    assert_eq!(code, 422);
    assert!(!select_text(&page, "#config-error li").is_empty());
    assert_eq!(version_count(&app).await, before);

    // A form without the session's CSRF token is refused.
    let r = app
        .post_form(
            &format!("{BASE}/config/import"),
            &[("csrf_token", "forged"), ("config", bad)],
        )
        .await;
    assert_eq!(r.status().as_u16(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_hash_answers_304_for_the_configuration_that_runs() {
    let app = TestApp::spawn().await;
    let up = reflect_upstream().await;
    let doc = file(&up.addr.to_string());
    let post = |q: &'static str, body: String| {
        let app = &app;
        async move {
            app.admin(Method::POST, &format!("/config{q}"))
                .header("content-type", "application/yaml")
                .body(body)
                .send()
                .await
                .expect("POST /config")
                .status()
                .as_u16()
        }
    };
    assert_eq!(post("?check_hash=1", doc.clone()).await, 201);
    let before = version_count(&app).await;
    assert_eq!(post("?check_hash=1", doc.clone()).await, 304);
    // Without the flag the same document is answered as Kong does, 201, and changes nothing.
    assert_eq!(post("", doc.clone()).await, 201);
    assert_eq!(version_count(&app).await, before);
    let changed = doc.replace("/two", "/deux");
    assert_eq!(post("?check_hash=1", changed).await, 201);
    assert_eq!(version_count(&app).await, before + 1);
    eventually(Duration::from_secs(5), "the proxy serves /deux", || async {
        let r = reqwest::get(format!("{}/deux", app.proxy)).await.ok()?;
        (r.status().as_u16() == 200).then_some(())
    })
    .await;
}
