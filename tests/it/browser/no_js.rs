//! The walkthrough's key steps with JavaScript switched off in Chromium: the Create
//! Implementation dialog as a page ("Use it", Cancel, "+ Add Path" as form posts), the status
//! panel's toggles as links, and a delete confirmed on a page of its own.

use anyhow::{ensure, Result};

use super::kit::{eventually, Browser, Launch, UI_TIMEOUT};
use super::steps::{create_service, create_version, log_in, wait_for_heading};
use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walkthrough_without_javascript_in_a_real_browser() {
    let app = TestApp::spawn().await;
    let browser = Browser::launch_with(Launch {
        javascript: false,
        ..Launch::default()
    })
    .await;
    let outcome = without_javascript(&app, &browser).await;
    browser.finish(outcome).await;
}

async fn wait_for_url(b: &Browser, what: &str, ok: impl Fn(&str) -> bool) -> Result<String> {
    let ok = &ok;
    eventually(what, UI_TIMEOUT, || async move {
        let url = b.current_url().await?;
        Ok(ok(&url).then_some(url))
    })
    .await
}

async fn without_javascript(app: &TestApp, b: &Browser) -> Result<()> {
    log_in(app, b).await?;
    create_service(b, "Example Service").await?;
    let version = create_version(b, "v.1").await?;
    // Without JavaScript the confirmation stays in the address bar (`?notice=saved`).
    let version = version.split('?').next().unwrap_or_default();
    let echo = format!("http://{}", app.echo_addr);

    // No htmx: New Implementation is a link to the dialog's own page.
    b.find("#new-implementation").await?.click().await?;
    wait_for_url(b, "the dialog's page", |u| {
        u.ends_with("/implementation/new")
    })
    .await?;
    ensure!(
        b.find_all("#modal *").await?.is_empty(),
        "nothing was loaded into the modal: JavaScript is off"
    );
    // Cancel leads back to the version.
    b.find("#impl-cancel1").await?.click().await?;
    wait_for_url(b, "the version page after Cancel", |u| u == version).await?;
    b.find("#new-implementation").await?.click().await?;
    b.wait_for("#impl-step1", UI_TIMEOUT).await?;

    // "Use it" posts the form and comes back with the echo URL filled in.
    b.find("#use-echo").await?.click().await?;
    let filled = eventually("the echo URL filled in", UI_TIMEOUT, || async move {
        let v = b.find("#svc_url").await?.prop("value").await?;
        Ok(v.filter(|v| !v.is_empty()))
    })
    .await?;
    ensure!(filled == echo, "Use it fills {echo}, found {filled:?}");
    b.find("#impl-next").await?.click().await?;
    b.wait_for("#impl-step2", UI_TIMEOUT).await?;

    // "+ Add Path" posts step 2 and comes back with a second path input.
    b.find("#route_name").await?.send_keys("mockbin").await?;
    let paths = b.find_all("#route-paths input[name=route_paths]").await?;
    paths[0].send_keys("/mock").await?;
    b.find("#add-path").await?.click().await?;
    let paths = eventually("a second path input", UI_TIMEOUT, || async move {
        let p = b.find_all("#route-paths input[name=route_paths]").await?;
        Ok((p.len() == 2).then_some(p))
    })
    .await?;
    ensure!(
        paths[0].prop("value").await?.as_deref() == Some("/mock"),
        "the typed path is kept"
    );
    ensure!(
        b.find("#route_name").await?.prop("value").await?.as_deref() == Some("mockbin"),
        "the typed name is kept"
    );
    paths[1].send_keys("/mock2").await?;
    b.find("#impl-create").await?.click().await?;
    wait_for_url(b, "the version page", |u| u.starts_with(version)).await?;
    b.wait_for("#proxy-url", UI_TIMEOUT).await?;
    app.wait_for_proxy("/mock2", 200).await;

    // The status panel's toggles are links; the time frame has its own button.
    b.find("#view-table").await?.click().await?;
    wait_for_url(b, "view=table in the URL", |u| u.contains("view=table")).await?;
    ensure!(
        b.find("#view-table")
            .await?
            .attr("aria-current")
            .await?
            .as_deref()
            == Some("true"),
        "the table view is current"
    );
    b.find("#tz-toggle").await?.click().await?;
    wait_for_url(b, "tz=local in the URL", |u| u.contains("tz=local")).await?;
    b.find("#status-codes select[name=frame] option[value=\"1h\"]")
        .await?
        .click()
        .await?;
    b.find("#frame-apply").await?.click().await?;
    let url = wait_for_url(b, "frame=1h in the URL", |u| u.contains("frame=1h")).await?;
    ensure!(
        url.contains("view=table") && url.contains("tz=local"),
        "the other two are kept: {url}"
    );

    // A delete asks on its own page; Cancel keeps the route, confirming deletes it.
    let delete = "#routes form[method=get] button";
    b.find(delete).await?.click().await?;
    wait_for_heading(b, "Delete route?").await?;
    b.find("#confirm-cancel").await?.click().await?;
    wait_for_url(b, "the version page after Cancel", |u| {
        u.starts_with(version)
    })
    .await?;
    ensure!(
        b.find("#routes tbody")
            .await?
            .text()
            .await?
            .contains("mockbin"),
        "Cancel deleted nothing"
    );
    b.find(delete).await?.click().await?;
    wait_for_heading(b, "Delete route?").await?;
    b.find("#confirm-yes").await?.click().await?;
    wait_for_url(b, "the version page after deleting", |u| {
        u.starts_with(version)
    })
    .await?;
    let routes = b
        .wait_for("#routes tbody", UI_TIMEOUT)
        .await?
        .text()
        .await?;
    ensure!(!routes.contains("mockbin"), "the route is gone: {routes}");
    Ok(())
}
