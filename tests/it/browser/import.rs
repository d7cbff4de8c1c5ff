//! A kong.yml imported from the console, clicked through: History's Import, a real file
//! upload, the diff shown before anything changes, Apply, and the proxy serving the result.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use serde_json::json;

use super::kit::{eventually, Browser, UI_TIMEOUT};
use super::steps::{log_in, wait_for_heading};
use crate::helpers::{create, reflect_upstream, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kong_yml_is_imported_with_its_diff_shown_first_in_a_real_browser() {
    let app = TestApp::spawn().await;
    let browser = Browser::launch().await;
    let outcome = import_walkthrough(&app, &browser).await;
    browser.finish(outcome).await;
}

async fn import_walkthrough(app: &TestApp, b: &Browser) -> Result<()> {
    let up = reflect_upstream().await;
    let url = format!("http://{}", up.addr);
    create(app, "/services", json!({ "name": "svc", "url": url })).await;
    create(
        app,
        "/services/svc/routes",
        json!({ "name": "r1", "paths": ["/one"] }),
    )
    .await;
    let dir = tempfile::tempdir().context("temp dir")?;
    let file = dir.path().join("kong.yml");
    std::fs::write(
        &file,
        format!(
            "_format_version: \"3.0\"\nservices:\n- name: svc\n  url: {url}\n  routes:\n  - name: r1\n    paths: [/one, /uno]\n  - name: r2\n    paths: [/two]\n"
        ),
    )?;

    log_in(app, b).await?;
    b.goto(&format!("{}/runtime-groups/default/history", app.console))
        .await?;
    wait_for_heading(b, "History").await?;
    b.link("Import kong.yml").await?.click().await?;
    b.wait_for("#config_file", UI_TIMEOUT)
        .await?
        .send_keys(file.to_string_lossy().as_ref())
        .await?;
    b.button("Preview changes").await?.click().await?;
    b.wait_for("#diff", UI_TIMEOUT).await?;
    let summary = b.find("#import-summary").await?.text().await?;
    ensure!(summary.contains("+1 route"), "the summary: {summary}");
    let paths = b
        .find(".diff-changed tr[data-path=paths] td.new")
        .await?
        .text()
        .await?;
    ensure!(paths.contains("/uno"), "the changed paths: {paths}");
    let added = b.find(".diff-added summary").await?.text().await?;
    ensure!(added.contains("r2"), "the added route: {added}");
    // Nothing is served before Apply.
    let before = reqwest::get(format!("{}/two", app.proxy)).await?;
    ensure!(before.status().as_u16() == 404, "/two before Apply");

    b.button("Apply these changes").await?.click().await?;
    let notice = b
        .wait_for("#history-notice", UI_TIMEOUT)
        .await?
        .text()
        .await?;
    ensure!(
        notice.contains("Configuration imported"),
        "the notice: {notice}"
    );
    let newest = b.find("#versions tbody tr").await?.text().await?;
    ensure!(
        newest.contains("Import · kong.yml"),
        "the newest version: {newest}"
    );
    eventually("the proxy serves /two", Duration::from_secs(5), || async {
        let r = reqwest::get(format!("{}/two", app.proxy)).await?;
        Ok((r.status().as_u16() == 200).then_some(()))
    })
    .await
}
