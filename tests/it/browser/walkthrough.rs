//! The onboarding walkthrough (service, version, Create Implementation dialog, a call through
//! the gateway, the live status panel) and the dialog's validation, clicked through.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use reqwest::Method;
use serde_json::Value;

use super::kit::{eventually, Browser, UI_TIMEOUT};
use super::steps::{create_service, create_version, log_in, open_dialog};
use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboarding_walkthrough_in_a_real_browser() {
    let app = TestApp::spawn().await;
    let browser = Browser::launch().await;
    let outcome = onboarding(&app, &browser).await;
    browser.finish(outcome).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implementation_dialog_rejects_a_bad_url_in_a_real_browser() {
    let app = TestApp::spawn().await;
    let browser = Browser::launch().await;
    let outcome = bad_url(&app, &browser).await;
    browser.finish(outcome).await;
}

async fn onboarding(app: &TestApp, b: &Browser) -> Result<()> {
    log_in(app, b).await?;
    create_service(b, "Example Service").await?;
    let version_url = create_version(b, "v.1").await?;
    let version = version_url.as_str();
    open_dialog(b).await?;

    // Step 1: the gateway service.
    let echo = format!("http://{}", app.echo_addr);
    let url = b.find("#svc_url").await?;
    url.clear().await?;
    // "Use it" fills the echo upstream's URL: static/app.js at work under the console's CSP.
    b.find("#use-echo").await?.click().await?;
    let filled = url.prop("value").await?;
    ensure!(
        filled.as_deref() == Some(echo.as_str()),
        "Use it fills the echo URL, found {filled:?}"
    );
    b.find("#impl-next").await?.click().await?;
    b.wait_for("#impl-step2", UI_TIMEOUT).await?;
    let summary = b.find("#impl-step2 .summary").await?.text().await?;
    ensure!(
        summary.contains(&echo),
        "step 2 summarises the upstream {echo}: {summary:?}"
    );

    // Step 2: the route.
    let name = b.find("#route_name").await?;
    name.clear().await?;
    name.send_keys("mockbin").await?;
    let methods = b.find("#route_methods").await?;
    methods.clear().await?;
    methods.send_keys("GET").await?;
    let paths = b.find_all("#route-paths input[name=route_paths]").await?;
    ensure!(
        paths.len() == 1,
        "one path input to start with, found {}",
        paths.len()
    );
    paths[0].clear().await?;
    paths[0].send_keys("/mock").await?;
    b.find("#add-path").await?.click().await?;
    let paths = b.find_all("#route-paths input[name=route_paths]").await?;
    ensure!(
        paths.len() == 2,
        "+ Add Path adds a second path input, found {}",
        paths.len()
    );
    ensure!(
        paths[1].prop("value").await?.as_deref() == Some(""),
        "the new path input is empty"
    );
    b.find("#impl-create").await?.click().await?;

    // Back on the version overview, now implemented.
    let proxy_url = eventually(
        "the version page with its proxy URL",
        UI_TIMEOUT,
        || async move {
            if b.current_url().await? != version {
                return Ok(None);
            }
            let Some(el) = b.try_find("#proxy-url").await? else {
                return Ok(None);
            };
            let text = el.text().await?;
            Ok(text.ends_with("/mock").then_some(text))
        },
    )
    .await?;
    ensure!(
        proxy_url == format!("http://localhost:{}/mock", app.proxy_addr.port()),
        "proxy URL {proxy_url:?}"
    );
    let routes = b.find("#routes tbody").await?.text().await?;
    ensure!(
        routes.contains("mockbin") && routes.contains("/mock"),
        "the route is listed: {routes:?}"
    );

    // A call through the gateway, from outside the browser.
    let r = app.wait_for_proxy("/mock", 200).await;
    let body = r.text().await.context("proxy body")?;
    ensure!(
        body.contains("Gatehouse echo upstream"),
        "the echo upstream's homepage comes through the gateway: {body:.300}"
    );

    // The status panel refreshes itself (htmx, every second): no reload here.
    eventually(
        "a 200 row and a total of 1 in the status panel",
        Duration::from_secs(5),
        || async move {
            if b.try_find("#status-codes tr[data-status=\"200\"]")
                .await?
                .is_none()
            {
                return Ok(None);
            }
            let total = b.find("#status-total").await?.text().await?;
            Ok((total.trim() == "1").then_some(()))
        },
    )
    .await?;
    ensure!(
        b.current_url().await? == version,
        "the page was not navigated away from"
    );
    Ok(())
}

async fn bad_url(app: &TestApp, b: &Browser) -> Result<()> {
    log_in(app, b).await?;
    create_service(b, "Example Service").await?;
    create_version(b, "v.1").await?;
    open_dialog(b).await?;

    let url = b.find("#svc_url").await?;
    url.clear().await?;
    url.send_keys("not a url").await?;
    b.find("#impl-next").await?.click().await?;
    let error = eventually("the field error under the URL", UI_TIMEOUT, || async move {
        let Some(e) = b.try_find("#svc_url-error").await? else {
            return Ok(None);
        };
        Ok(Some(e.text().await?))
    })
    .await?;
    ensure!(!error.trim().is_empty(), "the URL error has a message");
    let input = b.find("#svc_url").await?;
    ensure!(
        input.attr("aria-describedby").await?.as_deref() == Some("svc_url-error"),
        "the URL input points at its error"
    );
    ensure!(
        input.prop("value").await?.as_deref() == Some("not a url"),
        "the typed URL is kept"
    );
    ensure!(
        b.try_find("#impl-step2").await?.is_none(),
        "the dialog stays on step 1"
    );

    let (status, body) = app.admin_json(Method::GET, "/services", Value::Null).await;
    ensure!(status == 200, "Admin API GET /services: {status}");
    ensure!(
        body["data"].as_array().is_some_and(Vec::is_empty),
        "nothing was saved: {body}"
    );
    Ok(())
}
