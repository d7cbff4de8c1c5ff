//! The onboarding walkthrough in a real headless Chromium, driven over the W3C WebDriver protocol
//! by a `chromedriver` child process. The WebDriver client is a minimal one on top of reqwest.
//!
//! `chromedriver` (from `$CHROMEDRIVER`, else `PATH`) and Chromium (`$CHROME_BIN`, else
//! `/usr/bin/chromium`) must be installed: the tests fail, not skip, without them. On a failure
//! a screenshot is written to `target/browser-failure.png`.

use std::future::Future;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{TestApp, EMAIL, PASSWORD};

/// The key under which W3C WebDriver returns an element reference (the "web element identifier").
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long a page or dialog may take to show up.
const UI_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_manager_and_analytics_in_a_real_browser() {
    let app = TestApp::spawn().await;
    let browser = Browser::launch().await;
    let outcome = runtime_manager(&app, &browser).await;
    browser.finish(outcome).await;
}

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
        .type_text("\u{E00C}")
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
    b.find("#route_name").await?.type_text("mockbin").await?;
    let paths = b.find_all("#route-paths input[name=route_paths]").await?;
    paths[0].clear().await?;
    paths[0].type_text("/mock").await?;
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
        names.property("value").await?.as_str() == Some("apikey"),
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
        .type_text("alice")
        .await?;
    b.button("Create consumer").await?.click().await?;
    wait_for_heading(b, "alice").await?;
    b.button("Create key").await?.click().await?;
    let key = b
        .wait_for("#new-key-value", UI_TIMEOUT)
        .await?
        .property("value")
        .await?;
    let key = key.as_str().unwrap_or_default().to_string();
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

/// Creates a runtime group, issues a node credential from New Runtime Instance and reads the
/// command, then opens Analytics.
async fn runtime_manager(app: &TestApp, b: &Browser) -> Result<()> {
    log_in(app, b).await?;
    b.link("Runtime Manager").await?.click().await?;
    b.wait_for("#rg-name", UI_TIMEOUT)
        .await?
        .type_text("staging")
        .await?;
    b.find("#rg-labels").await?.type_text("env:staging").await?;
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
    let filled = url.property("value").await?;
    ensure!(
        filled.as_str() == Some(echo.as_str()),
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
    name.type_text("mockbin").await?;
    let methods = b.find("#route_methods").await?;
    methods.clear().await?;
    methods.type_text("GET").await?;
    let paths = b.find_all("#route-paths input[name=route_paths]").await?;
    ensure!(
        paths.len() == 1,
        "one path input to start with, found {}",
        paths.len()
    );
    paths[0].clear().await?;
    paths[0].type_text("/mock").await?;
    b.find("#add-path").await?.click().await?;
    let paths = b.find_all("#route-paths input[name=route_paths]").await?;
    ensure!(
        paths.len() == 2,
        "+ Add Path adds a second path input, found {}",
        paths.len()
    );
    ensure!(
        paths[1].property("value").await?.as_str() == Some(""),
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
    url.type_text("not a url").await?;
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
        input.attribute("aria-describedby").await?.as_deref() == Some("svc_url-error"),
        "the URL input points at its error"
    );
    ensure!(
        input.property("value").await?.as_str() == Some("not a url"),
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

// ---------------------------------------------------------------------------------------------
// Walkthrough steps shared by the tests
// ---------------------------------------------------------------------------------------------

async fn log_in(app: &TestApp, b: &Browser) -> Result<()> {
    b.goto(&format!("{}/login", app.console)).await?;
    b.wait_for("#email", UI_TIMEOUT)
        .await?
        .type_text(EMAIL)
        .await?;
    b.find("#password").await?.type_text(PASSWORD).await?;
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
async fn create_service(b: &Browser, display_name: &str) -> Result<()> {
    b.link("+ New service").await?.click().await?;
    b.wait_for("#display_name", UI_TIMEOUT)
        .await?
        .type_text(display_name)
        .await?;
    b.find("#description")
        .await?
        .type_text("Created by the browser walkthrough")
        .await?;
    b.button("Create").await?.click().await?;
    wait_for_heading(b, display_name).await
}

/// From a service's page, creates a version in the preselected runtime group; ends on the
/// version's page and returns its URL.
async fn create_version(b: &Browser, name: &str) -> Result<String> {
    b.link("+ New version").await?.click().await?;
    b.wait_for("#name", UI_TIMEOUT)
        .await?
        .type_text(name)
        .await?;
    let group = b.find("#runtime_group_id").await?.property("value").await?;
    ensure!(
        group.as_str().is_some_and(|g| !g.is_empty()),
        "a runtime group is preselected: {group}"
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
async fn open_dialog(b: &Browser) -> Result<()> {
    b.find("#new-implementation").await?.click().await?;
    b.wait_for("#modal #impl-step1", UI_TIMEOUT).await?;
    let name = b.find("#svc_name").await?.property("value").await?;
    ensure!(
        name.as_str() == Some("example-service-v.1"),
        "the gateway service name is suggested: {name}"
    );
    Ok(())
}

async fn wait_for_heading(b: &Browser, text: &str) -> Result<()> {
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

/// Retries `check` until it yields `Some`; errors count as "not yet" (stale elements while a
/// page loads or htmx swaps) and the last one is reported on timeout.
async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    loop {
        match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
        if Instant::now() >= deadline {
            return Err(match last_error {
                Some(e) => e.context(format!("timed out after {timeout:?} waiting for {what}")),
                None => anyhow!("timed out after {timeout:?} waiting for {what}"),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

// ---------------------------------------------------------------------------------------------
// A minimal W3C WebDriver client
// ---------------------------------------------------------------------------------------------

/// A `chromedriver` child process; killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One WebDriver session in headless Chromium.
struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`
    session: String,
    session_id: String,
    closed: std::sync::atomic::AtomicBool,
    // Field order is drop order: the session is closed (in `Drop`), then chromedriver is
    // killed, then the profile directory is removed.
    driver: Driver,
    _profile: tempfile::TempDir,
}

#[derive(Debug)]
struct WebDriverError {
    status: u16,
    error: String,
    message: String,
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "WebDriver {}: {}: {}",
            self.status, self.error, self.message
        )
    }
}

impl std::error::Error for WebDriverError {}

fn is_no_such_element(e: &anyhow::Error) -> bool {
    e.downcast_ref::<WebDriverError>()
        .is_some_and(|w| w.error == "no such element")
}

fn free_port() -> u16 {
    crate::helpers::closed_port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session; panics with a clear message if
    /// either is missing.
    async fn launch() -> Browser {
        let chromedriver = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let chrome = std::env::var("CHROME_BIN").unwrap_or_else(|_| "/usr/bin/chromium".into());
        assert!(
            std::path::Path::new(&chrome).exists(),
            "Chromium not found at {chrome} (set CHROME_BIN, or apt-get install chromium)"
        );
        let port = free_port();
        let child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {chromedriver} ({e}): the browser tests need chromedriver \
                     (set CHROMEDRIVER, or apt-get install chromium-driver)"
                )
            });
        let driver = Driver { child, port };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("webdriver http client");
        let base = format!("http://127.0.0.1:{}", driver.port);

        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = match http.get(format!("{base}/status")).send().await {
                Ok(r) => r
                    .json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == json!(true)),
                Err(_) => false,
            };
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver on port {port} did not become ready within 20s"
            );
            tokio::time::sleep(POLL).await;
        }

        let profile = tempfile::tempdir().expect("chromium profile dir");
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "goog:chromeOptions": {
                        "binary": chrome,
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--disable-quic",
                            "--no-first-run",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--window-size=1280,1000",
                            format!("--user-data-dir={}", profile.path().display()),
                        ]
                    }
                }
            }
        });
        let created = command(&http, Method::POST, &format!("{base}/session"), Some(caps))
            .await
            .unwrap_or_else(|e| panic!("creating a headless Chromium session failed: {e:#}"));
        let session_id = created["sessionId"]
            .as_str()
            .expect("the new session has an id")
            .to_string();
        Browser {
            http,
            session: format!("{base}/session/{session_id}"),
            session_id,
            closed: std::sync::atomic::AtomicBool::new(false),
            driver,
            _profile: profile,
        }
    }

    async fn cmd(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        command(&self.http, method, &format!("{}{path}", self.session), body).await
    }

    async fn goto(&self, url: &str) -> Result<()> {
        self.cmd(Method::POST, "/url", Some(json!({ "url": url })))
            .await
            .with_context(|| format!("navigating to {url}"))?;
        Ok(())
    }

    /// Runs `js` in the page and returns its result.
    async fn script(&self, js: &str) -> Result<Value> {
        self.cmd(
            Method::POST,
            "/execute/sync",
            Some(json!({ "script": js, "args": [] })),
        )
        .await
    }

    async fn current_url(&self) -> Result<String> {
        let v = self.cmd(Method::GET, "/url", None).await?;
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("current URL is not a string: {v}"))
    }

    async fn find_by(&self, using: &str, value: &str) -> Result<Element<'_>> {
        let v = self
            .cmd(
                Method::POST,
                "/element",
                Some(json!({ "using": using, "value": value })),
            )
            .await
            .with_context(|| format!("finding {using} {value:?}"))?;
        self.element(&v)
    }

    fn element(&self, v: &Value) -> Result<Element<'_>> {
        let id = v[ELEMENT_KEY]
            .as_str()
            .ok_or_else(|| anyhow!("not an element reference: {v}"))?;
        Ok(Element {
            b: self,
            id: id.to_string(),
        })
    }

    async fn find(&self, css: &str) -> Result<Element<'_>> {
        self.find_by("css selector", css).await
    }

    async fn try_find(&self, css: &str) -> Result<Option<Element<'_>>> {
        match self.find(css).await {
            Ok(e) => Ok(Some(e)),
            Err(e) if is_no_such_element(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn find_all(&self, css: &str) -> Result<Vec<Element<'_>>> {
        let v = self
            .cmd(
                Method::POST,
                "/elements",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await
            .with_context(|| format!("finding all {css:?}"))?;
        v.as_array()
            .ok_or_else(|| anyhow!("elements are not an array: {v}"))?
            .iter()
            .map(|e| self.element(e))
            .collect()
    }

    /// Polls until `css` matches, never longer than `timeout`.
    async fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element<'_>> {
        eventually(css, timeout, || self.try_find(css)).await
    }

    /// A link by its exact visible text, waiting for the page to show it.
    async fn link(&self, text: &str) -> Result<Element<'_>> {
        eventually(&format!("a link {text:?}"), UI_TIMEOUT, || async move {
            match self.find_by("link text", text).await {
                Ok(e) => Ok(Some(e)),
                Err(e) if is_no_such_element(&e) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// A displayed button by its visible text, waiting for the page to show it.
    async fn button(&self, text: &str) -> Result<Element<'_>> {
        let xpath = format!("//main//button[normalize-space()='{text}']");
        let xpath = xpath.as_str();
        eventually(&format!("a button {text:?}"), UI_TIMEOUT, || async move {
            let v = self
                .cmd(
                    Method::POST,
                    "/elements",
                    Some(json!({ "using": "xpath", "value": xpath })),
                )
                .await?;
            for e in v.as_array().into_iter().flatten() {
                let e = self.element(e)?;
                if e.displayed().await? {
                    return Ok(Some(e));
                }
            }
            Ok(None)
        })
        .await
    }

    async fn screenshot(&self, path: &std::path::Path) -> Result<()> {
        let v = self.cmd(Method::GET, "/screenshot", None).await?;
        let png = base64_decode(v.as_str().ok_or_else(|| anyhow!("screenshot: {v}"))?)?;
        std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))
    }

    async fn quit(&self) {
        if !self.closed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            let _ = self.cmd(Method::DELETE, "", None).await;
        }
    }

    /// Ends the session; on a failed walkthrough saves a screenshot first and panics.
    async fn finish(self, outcome: Result<()>) {
        if let Err(e) = outcome {
            let url = self.current_url().await.unwrap_or_default();
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target")
                .join("browser-failure.png");
            let shot = match self.screenshot(&path).await {
                Ok(()) => format!("screenshot: {}", path.display()),
                Err(se) => format!("no screenshot: {se:#}"),
            };
            self.quit().await;
            panic!("browser walkthrough failed at {url}: {e:#}\n({shot})");
        }
        self.quit().await;
    }
}

impl Drop for Browser {
    /// If the test panicked before `finish`, closes the session (and so Chromium) with a plain
    /// blocking request: no runtime is needed in `drop`.
    fn drop(&mut self) {
        if self.closed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.driver.port));
        if let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let req = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n",
                self.session_id, self.driver.port
            );
            if s.write_all(req.as_bytes()).is_ok() {
                let _ = s.read_to_end(&mut Vec::new());
            }
        }
    }
}

/// A WebDriver command; unwraps `value` and turns WebDriver errors into `WebDriverError`.
async fn command(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    body: Option<Value>,
) -> Result<Value> {
    let mut req = http.request(method.clone(), url);
    if method == Method::POST {
        req = req.json(&body.unwrap_or_else(|| json!({})));
    }
    let r = req
        .send()
        .await
        .with_context(|| format!("{method} {url}"))?;
    let status = r.status().as_u16();
    let text = r.text().await.context("webdriver response body")?;
    let v: Value = serde_json::from_str(&text)
        .with_context(|| format!("{method} {url}: not JSON ({status}): {text:.300}"))?;
    let value = v.get("value").cloned().unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        return Ok(value);
    }
    Err(WebDriverError {
        status,
        error: value["error"]
            .as_str()
            .unwrap_or("unknown error")
            .to_string(),
        message: value["message"]
            .as_str()
            .unwrap_or_default()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
    }
    .into())
}

struct Element<'a> {
    b: &'a Browser,
    id: String,
}

impl Element<'_> {
    async fn cmd(&self, method: Method, what: &str, body: Option<Value>) -> Result<Value> {
        self.b
            .cmd(method, &format!("/element/{}{what}", self.id), body)
            .await
    }

    async fn click(&self) -> Result<()> {
        self.cmd(Method::POST, "/click", None).await?;
        Ok(())
    }

    async fn clear(&self) -> Result<()> {
        self.cmd(Method::POST, "/clear", None).await?;
        Ok(())
    }

    async fn type_text(&self, text: &str) -> Result<()> {
        self.cmd(Method::POST, "/value", Some(json!({ "text": text })))
            .await?;
        Ok(())
    }

    async fn text(&self) -> Result<String> {
        let v = self.cmd(Method::GET, "/text", None).await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    async fn attribute(&self, name: &str) -> Result<Option<String>> {
        let v = self
            .cmd(Method::GET, &format!("/attribute/{name}"), None)
            .await?;
        Ok(v.as_str().map(str::to_string))
    }

    async fn property(&self, name: &str) -> Result<Value> {
        self.cmd(Method::GET, &format!("/property/{name}"), None)
            .await
    }

    async fn displayed(&self) -> Result<bool> {
        let v = self.cmd(Method::GET, "/displayed", None).await?;
        Ok(v.as_bool().unwrap_or(false))
    }
}

/// Standard base64 (the screenshot PNG); whitespace is skipped.
fn base64_decode(s: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let d = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            c if c.is_ascii_whitespace() => continue,
            other => bail!("invalid base64 byte {other:#x}"),
        };
        acc = (acc << 6) | u32::from(d);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

#[test]
fn base64_decodes() {
    assert_eq!(
        base64_decode("R2F0ZWhvdXNl\nZWNobw==").expect("valid"),
        b"Gatehouseecho"
    );
}
