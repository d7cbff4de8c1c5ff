//! Key-auth from the version page's Plugins section and a consumer's key issued on the
//! Consumers page, clicked through.

use std::time::Duration;

use anyhow::{ensure, Result};
use serde_json::json;

use super::kit::{eventually, Browser, UI_TIMEOUT};
use super::steps::{create_service, create_version, log_in, open_dialog, wait_for_heading};
use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_auth_added_and_a_consumer_key_issued_in_a_real_browser() {
    let app = TestApp::spawn().await;
    let browser = Browser::launch().await;
    let outcome = key_auth_walkthrough(&app, &browser).await;
    browser.finish(outcome).await;
}

/// The walkthrough's route gets key-auth from the version page's Plugins section (catalogue,
/// schema form); the proxy then answers 401 without a key and 200 with a consumer's key
/// issued on the Consumers page (shown once).
async fn key_auth_walkthrough(app: &TestApp, b: &Browser) -> Result<()> {
    log_in(app, b).await?;
    create_service(b, "Example Service").await?;
    create_version(b, "v.1").await?;
    // The actions menu closes on Escape.
    b.find("details.menu > summary").await?.click().await?;
    ensure!(
        b.script("return document.querySelector('details.menu').open")
            .await?
            == json!(true),
        "the actions menu opens"
    );
    b.find("details.menu > summary")
        .await?
        .send_keys("\u{E00C}")
        .await?;
    ensure!(
        b.script("return document.querySelector('details.menu').open")
            .await?
            == json!(false),
        "Escape closes the actions menu"
    );
    open_dialog(b).await?;
    let focused = eventually("focus inside the dialog", UI_TIMEOUT, || async move {
        let inside = b
            .script("return document.querySelector('#modal [role=dialog]').contains(document.activeElement)")
            .await?;
        Ok((inside == json!(true)).then_some(()))
    })
    .await;
    ensure!(focused.is_ok(), "the dialog takes the focus when it opens");
    b.find("#use-echo").await?.click().await?;
    b.find("#impl-next").await?.click().await?;
    b.wait_for("#impl-step2", UI_TIMEOUT).await?;
    ensure!(
        b.try_find("#impl-cancel2").await?.is_some(),
        "step 2 has Cancel"
    );
    b.find("#route_name").await?.send_keys("mockbin").await?;
    let paths = b.find_all("#route-paths input[name=route_paths]").await?;
    paths[0].clear().await?;
    paths[0].send_keys("/mock").await?;
    b.find("#impl-create").await?.click().await?;
    b.wait_for("#plugins", UI_TIMEOUT).await?;
    app.wait_for_proxy("/mock", 200).await;

    b.link("+ Add plugin").await?.click().await?;
    b.wait_for("a[data-plugin=\"key-auth\"]", UI_TIMEOUT)
        .await?
        .click()
        .await?;
    let names = b.wait_for("#config-key_names", UI_TIMEOUT).await?;
    ensure!(
        names.prop("value").await?.as_deref() == Some("apikey"),
        "the form shows key-auth's default key name"
    );
    b.button("Add plugin").await?.click().await?;
    let listed = eventually("key-auth in the Plugins list", UI_TIMEOUT, || async move {
        let Some(row) = b.try_find("#plugins tr[data-name=\"key-auth\"]").await? else {
            return Ok(None);
        };
        Ok(Some(row.text().await?))
    })
    .await?;
    ensure!(
        listed.contains("service"),
        "scoped to the gateway service: {listed}"
    );
    let client = reqwest::Client::new();
    let proxy = format!("http://{}/mock", app.proxy_addr);
    let status = eventually("the proxy asks for a key", Duration::from_secs(3), || {
        let (client, proxy) = (&client, &proxy);
        async move {
            let s = client.get(proxy).send().await?.status().as_u16();
            Ok((s == 401).then_some(s))
        }
    })
    .await?;
    ensure!(status == 401);

    b.link("Consumers").await?.click().await?;
    b.wait_for("#c-username", UI_TIMEOUT)
        .await?
        .send_keys("alice")
        .await?;
    b.button("Create consumer").await?.click().await?;
    wait_for_heading(b, "alice").await?;
    b.button("Create key").await?.click().await?;
    let key = b
        .wait_for("#new-key-value", UI_TIMEOUT)
        .await?
        .prop("value")
        .await?;
    let key = key.unwrap_or_default();
    ensure!(key.len() >= 16, "a generated key is shown once: {key:?}");
    let ok = eventually(
        "the proxy accepts alice's key",
        Duration::from_secs(3),
        || {
            let (client, proxy, key) = (&client, &proxy, &key);
            async move {
                let r = client.get(proxy).header("apikey", key).send().await?;
                Ok((r.status() == 200).then_some(()))
            }
        },
    )
    .await;
    ensure!(ok.is_ok(), "200 with the consumer's key");
    b.goto(&b.current_url().await?).await?;
    ensure!(
        b.try_find("#new-key-value").await?.is_none(),
        "the key is not shown again"
    );
    Ok(())
}
