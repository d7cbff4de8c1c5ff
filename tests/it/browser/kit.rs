//! The browser the tests drive: a `chromedriver` child process and one headless Chromium
//! session through the `thirtyfour` WebDriver client, plus the polling helpers the steps use
//! (the client answers one command at a time; waiting for a page is ours to do).

use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use serde_json::Value;
use thirtyfour::error::WebDriverErrorInner;
use thirtyfour::prelude::*;
use thirtyfour::ChromeCapabilities;

/// How long a page or dialog may take to show up.
pub const UI_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);

/// How the browser starts.
#[derive(Clone, Copy)]
pub struct Launch {
    pub javascript: bool,
    pub width: u32,
    pub height: u32,
}

impl Default for Launch {
    fn default() -> Self {
        Launch {
            javascript: true,
            width: 1280,
            height: 1000,
        }
    }
}

/// A `chromedriver` child process; killed when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One WebDriver session in headless Chromium.
pub struct Browser {
    // Field order is drop order: the session is quit (thirtyfour does it on drop when `finish`
    // did not), then chromedriver is killed, then the profile directory is removed.
    driver: Option<WebDriver>,
    _chromedriver: Driver,
    _profile: tempfile::TempDir,
}

fn is_no_such_element(e: &WebDriverError) -> bool {
    matches!(e.as_inner(), WebDriverErrorInner::NoSuchElement(_))
}

/// `target/<name>`, created if needed.
pub fn target_path(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(name);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    path
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session with JavaScript on.
    pub async fn launch() -> Browser {
        Browser::launch_with(Launch::default()).await
    }

    /// Starts chromedriver and a headless Chromium session; panics with a clear message if
    /// either is missing.
    pub async fn launch_with(launch: Launch) -> Browser {
        let chromedriver = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let chrome = std::env::var("CHROME_BIN").unwrap_or_else(|_| "/usr/bin/chromium".into());
        assert!(
            std::path::Path::new(&chrome).exists(),
            "Chromium not found at {chrome} (set CHROME_BIN, or apt-get install chromium)"
        );
        let port = crate::helpers::closed_port();
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
        let chromedriver = Driver(child);
        let server = format!("http://127.0.0.1:{port}");
        wait_until_ready(&server).await;

        let profile = tempfile::tempdir().expect("chromium profile dir");
        let caps = capabilities(&chrome, &profile, launch).expect("chromium capabilities");
        let driver = WebDriver::new(&server, caps)
            .await
            .unwrap_or_else(|e| panic!("creating a headless Chromium session failed: {e}"));
        Browser {
            driver: Some(driver),
            _chromedriver: chromedriver,
            _profile: profile,
        }
    }

    pub fn driver(&self) -> &WebDriver {
        self.driver
            .as_ref()
            .expect("the session is open until finish")
    }

    pub async fn goto(&self, url: &str) -> Result<()> {
        self.driver()
            .goto(url)
            .await
            .with_context(|| format!("navigating to {url}"))
    }

    /// Runs `js` in the page and returns its result.
    pub async fn script(&self, js: &str) -> Result<Value> {
        let ret = self.driver().execute(js, Vec::new()).await?;
        Ok(ret.json().clone())
    }

    pub async fn current_url(&self) -> Result<String> {
        Ok(self.driver().current_url().await?.to_string())
    }

    pub async fn find(&self, css: &str) -> Result<WebElement> {
        self.driver()
            .find(By::Css(css))
            .await
            .with_context(|| format!("finding {css:?}"))
    }

    pub async fn try_find(&self, css: &str) -> Result<Option<WebElement>> {
        match self.driver().find(By::Css(css)).await {
            Ok(e) => Ok(Some(e)),
            Err(e) if is_no_such_element(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn find_all(&self, css: &str) -> Result<Vec<WebElement>> {
        self.driver()
            .find_all(By::Css(css))
            .await
            .with_context(|| format!("finding all {css:?}"))
    }

    /// Polls until `css` matches, never longer than `timeout`.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Result<WebElement> {
        eventually(css, timeout, || self.try_find(css)).await
    }

    /// A link by its exact visible text, waiting for the page to show it.
    pub async fn link(&self, text: &str) -> Result<WebElement> {
        eventually(&format!("a link {text:?}"), UI_TIMEOUT, || async move {
            match self.driver().find(By::LinkText(text)).await {
                Ok(e) => Ok(Some(e)),
                Err(e) if is_no_such_element(&e) => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// A displayed button by its visible text, waiting for the page to show it.
    pub async fn button(&self, text: &str) -> Result<WebElement> {
        let xpath = format!("//main//button[normalize-space()='{text}']");
        let xpath = xpath.as_str();
        eventually(&format!("a button {text:?}"), UI_TIMEOUT, || async move {
            for e in self.driver().find_all(By::XPath(xpath)).await? {
                if e.is_displayed().await? {
                    return Ok(Some(e));
                }
            }
            Ok(None)
        })
        .await
    }

    /// Resizes the window so the page's viewport is `width` CSS pixels wide.
    pub async fn set_viewport_width(&self, width: u32, height: u32) -> Result<()> {
        self.driver().set_window_rect(0, 0, width, height).await?;
        // The window includes no chrome in headless mode, but check rather than assume.
        let inner = self.script("return window.innerWidth").await?;
        let inner = inner.as_u64().unwrap_or_default() as u32;
        if inner != width {
            let outer = width + (width - inner.min(width));
            self.driver().set_window_rect(0, 0, outer, height).await?;
        }
        Ok(())
    }

    pub async fn screenshot(&self, path: &std::path::Path) -> Result<()> {
        let png = self.driver().screenshot_as_png().await?;
        std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))
    }

    /// Ends the session; on a failed walkthrough saves a screenshot first and panics.
    pub async fn finish(mut self, outcome: Result<()>) {
        if let Err(e) = outcome {
            let url = self.current_url().await.unwrap_or_default();
            let path = target_path("browser-failure.png");
            let shot = match self.screenshot(&path).await {
                Ok(()) => format!("screenshot: {}", path.display()),
                Err(se) => format!("no screenshot: {se:#}"),
            };
            if let Some(d) = self.driver.take() {
                let _ = d.quit().await;
            }
            panic!("browser walkthrough failed at {url}: {e:#}\n({shot})");
        }
        if let Some(d) = self.driver.take() {
            let _ = d.quit().await;
        }
    }
}

fn capabilities(
    chrome: &str,
    profile: &tempfile::TempDir,
    l: Launch,
) -> Result<ChromeCapabilities> {
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary(chrome)?;
    for arg in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ] {
        caps.add_arg(arg)?;
    }
    caps.add_arg(&format!("--window-size={},{}", l.width, l.height))?;
    caps.add_arg(&format!("--user-data-dir={}", profile.path().display()))?;
    if !l.javascript {
        // What a user's "block JavaScript" setting does: no script runs, <noscript> shows.
        caps.add_experimental_option(
            "prefs",
            serde_json::json!({ "profile.managed_default_content_settings.javascript": 2 }),
        )?;
    }
    Ok(caps)
}

async fn wait_until_ready(server: &str) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = match http.get(format!("{server}/status")).send().await {
            Ok(r) => r
                .json::<Value>()
                .await
                .is_ok_and(|v| v["value"]["ready"] == Value::Bool(true)),
            Err(_) => false,
        };
        if ready {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver at {server} did not become ready within 20s"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Retries `check` until it yields `Some`; errors count as "not yet" (stale elements while a
/// page loads or htmx swaps) and the last one is reported on timeout.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
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
