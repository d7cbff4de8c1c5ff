//! Back in the browser does not silently lose what was typed in the Create Implementation
//! dialog: the typed fields come back when the dialog opens again, with a note; Cancel
//! forgets them.

use anyhow::{ensure, Result};

use super::kit::{eventually, Browser, UI_TIMEOUT};
use super::steps::{create_service, create_version, log_in, open_dialog, wait_for_heading};
use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_dialog_input_survives_back_in_a_real_browser() {
    let app = TestApp::spawn().await;
    let browser = Browser::launch().await;
    let outcome = back_and_return(&app, &browser).await;
    browser.finish(outcome).await;
}

async fn value(b: &Browser, css: &str) -> Result<String> {
    Ok(b.find(css).await?.prop("value").await?.unwrap_or_default())
}

async fn back_and_return(app: &TestApp, b: &Browser) -> Result<()> {
    log_in(app, b).await?;
    create_service(b, "Example Service").await?;
    let version = create_version(b, "v.1").await?;
    open_dialog(b).await?;
    let name = b.find("#svc_name").await?;
    name.clear().await?;
    name.send_keys("typed-name").await?;
    b.find("#svc_url")
        .await?
        .send_keys("http://typed.example:8080")
        .await?;

    // Back leaves the page (and the dialog) ...
    b.driver().back().await?;
    let v = version.as_str();
    eventually("another page after Back", UI_TIMEOUT, || async move {
        Ok((b.current_url().await? != v).then_some(()))
    })
    .await?;
    // ... and coming back to the version, the dialog opens with what was typed.
    b.goto(&version).await?;
    wait_for_heading(b, "v.1").await?;
    b.find("#new-implementation").await?.click().await?;
    b.wait_for("#modal #impl-step1", UI_TIMEOUT).await?;
    let restored = eventually("the typed name restored", UI_TIMEOUT, || async move {
        let n = value(b, "#svc_name").await?;
        Ok((n == "typed-name").then_some(()))
    })
    .await;
    ensure!(restored.is_ok(), "the typed name comes back");
    ensure!(
        value(b, "#svc_url").await? == "http://typed.example:8080",
        "the typed URL comes back"
    );
    ensure!(
        b.find("[data-draft-note]").await?.is_displayed().await?,
        "a note says the input was restored"
    );

    // Cancel forgets it: the next dialog starts from the suggestion again.
    b.find("#impl-cancel1").await?.click().await?;
    eventually("the dialog closed", UI_TIMEOUT, || async move {
        Ok(b.try_find("#modal #impl-step1")
            .await?
            .is_none()
            .then_some(()))
    })
    .await?;
    open_dialog(b).await?;
    ensure!(
        value(b, "#svc_url").await?.is_empty(),
        "nothing restored after Cancel"
    );
    ensure!(
        !b.find("[data-draft-note]").await?.is_displayed().await?,
        "no note after Cancel"
    );
    Ok(())
}
