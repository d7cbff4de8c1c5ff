//! Walkthrough steps the browser tests share: log in, create a service and a version, open
//! the Create Implementation dialog, wait for a heading.

use anyhow::{ensure, Result};

use super::kit::{eventually, Browser, UI_TIMEOUT};
use crate::helpers::{TestApp, EMAIL, PASSWORD};

pub async fn log_in(app: &TestApp, b: &Browser) -> Result<()> {
    b.goto(&format!("{}/login", app.console)).await?;
    b.wait_for("#email", UI_TIMEOUT)
        .await?
        .send_keys(EMAIL)
        .await?;
    b.find("#password").await?.send_keys(PASSWORD).await?;
    b.button("Log in").await?.click().await?;
    let want = format!("{}/services", app.console);
    let want = want.as_str();
    eventually(
        "the Service Hub after logging in",
        UI_TIMEOUT,
        || async move { Ok((b.current_url().await? == want).then_some(())) },
    )
    .await
}

/// From the Service Hub, creates a service; ends on its page.
pub async fn create_service(b: &Browser, display_name: &str) -> Result<()> {
    b.link("+ New service").await?.click().await?;
    b.wait_for("#display_name", UI_TIMEOUT)
        .await?
        .send_keys(display_name)
        .await?;
    b.find("#description")
        .await?
        .send_keys("Created by the browser walkthrough")
        .await?;
    b.button("Create").await?.click().await?;
    wait_for_heading(b, display_name).await
}

/// From a service's page, creates a version in the preselected runtime group; ends on the
/// version's page and returns its URL.
pub async fn create_version(b: &Browser, name: &str) -> Result<String> {
    b.link("+ New version").await?.click().await?;
    b.wait_for("#name", UI_TIMEOUT)
        .await?
        .send_keys(name)
        .await?;
    let group = b.find("#runtime_group_id").await?.prop("value").await?;
    ensure!(
        group.as_deref().is_some_and(|g| !g.is_empty()),
        "a runtime group is preselected: {group:?}"
    );
    b.button("Create").await?.click().await?;
    wait_for_heading(b, name).await?;
    let url = b.current_url().await?;
    ensure!(
        url.contains("/versions/") && !url.ends_with("/versions/new"),
        "on the version page: {url}"
    );
    Ok(url)
}

/// On a version page, opens the Create Implementation dialog (loaded into `#modal` by htmx).
pub async fn open_dialog(b: &Browser) -> Result<()> {
    b.find("#new-implementation").await?.click().await?;
    b.wait_for("#modal #impl-step1", UI_TIMEOUT).await?;
    let name = b.find("#svc_name").await?.prop("value").await?;
    ensure!(
        name.as_deref() == Some("example-service-v.1"),
        "the gateway service name is suggested: {name:?}"
    );
    Ok(())
}

pub async fn wait_for_heading(b: &Browser, text: &str) -> Result<()> {
    eventually(
        &format!("the heading {text:?}"),
        UI_TIMEOUT,
        || async move {
            let Some(h) = b.try_find("main h1").await? else {
                return Ok(None);
            };
            Ok((h.text().await?.trim() == text).then_some(()))
        },
    )
    .await
}
