//! The Runtime Manager (a new group, a node credential and its command) and Analytics,
//! clicked through.

use anyhow::{ensure, Result};

use super::kit::{Browser, UI_TIMEOUT};
use super::steps::{log_in, wait_for_heading};
use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_manager_and_analytics_in_a_real_browser() {
    let app = TestApp::spawn().await;
    let browser = Browser::launch().await;
    let outcome = runtime_manager(&app, &browser).await;
    browser.finish(outcome).await;
}

/// Creates a runtime group, issues a node credential from New Runtime Instance and reads the
/// command, then opens Analytics.
async fn runtime_manager(app: &TestApp, b: &Browser) -> Result<()> {
    log_in(app, b).await?;
    b.link("Runtime Manager").await?.click().await?;
    b.wait_for("#rg-name", UI_TIMEOUT)
        .await?
        .send_keys("staging")
        .await?;
    b.find("#rg-labels").await?.send_keys("env:staging").await?;
    b.button("Create").await?.click().await?;
    wait_for_heading(b, "staging").await?;
    let info = b.find("#group-info").await?.text().await?;
    ensure!(
        info.contains("env:staging"),
        "labels on the info card: {info}"
    );
    b.link("Runtime Instances").await?.click().await?;
    b.wait_for("#instances", UI_TIMEOUT).await?;
    b.link("+ New Runtime Instance").await?.click().await?;
    b.button("Generate credential and command")
        .await?
        .click()
        .await?;
    let command = b
        .wait_for("#linux-command", UI_TIMEOUT)
        .await?
        .text()
        .await?;
    ensure!(
        command.contains("gatehouse data-plane")
            && command.contains("--token ghdp_")
            && command.contains("--ca-fingerprint sha256:"),
        "the node command: {command}"
    );
    b.link("Done").await?.click().await?;
    b.wait_for("#instances", UI_TIMEOUT).await?;
    b.link("Analytics").await?.click().await?;
    let tiles = b
        .wait_for("#traffic-tiles", UI_TIMEOUT)
        .await?
        .text()
        .await?;
    ensure!(tiles.contains("Traffic"), "analytics tiles: {tiles}");
    Ok(())
}
