//! `TestApp`: a running Gatehouse on port 0 with a temp data dir, a seeded admin and token, and
//! a cookie-keeping client; plus loopback upstreams and polling helpers (no fixed sleeps).

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gatehouse::app::RunningApp;
use gatehouse::echo;
use gatehouse::settings::Settings;
use scraper::{Html, Selector};
use serde_json::Value;
use tokio::sync::watch;

pub const EMAIL: &str = "admin@example.com";
pub const PASSWORD: &str = "correct-horse-battery";
pub const TOKEN: &str = "ghp_test_bootstrap_token";

pub struct TestApp {
    app: Option<RunningApp>,
    _dir: tempfile::TempDir,
    pub client: reqwest::Client,
    pub console: String,
    pub admin: String,
    pub proxy: String,
    pub proxy_addr: SocketAddr,
    pub echo_addr: SocketAddr,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(tweak: impl FnOnce(&mut Settings) + Send + 'static) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings::ephemeral(dir.path().to_path_buf());
        settings.admin_email = Some(EMAIL.into());
        settings.admin_password = Some(PASSWORD.into());
        settings.bootstrap_token = Some(TOKEN.into());
        tweak(&mut settings);
        // `start` owns runtimes of its own, so it must not run inside the test's runtime.
        let app = std::thread::spawn(move || gatehouse::app::start(settings))
            .join()
            .expect("start thread")
            .expect("app starts");
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        TestApp {
            console: format!("http://{}", app.console_addr),
            admin: format!("http://{}", app.admin_addr),
            proxy: format!("http://{}", app.proxy_addr),
            proxy_addr: app.proxy_addr,
            echo_addr: app.echo_addr,
            app: Some(app),
            _dir: dir,
            client,
        }
    }

    /// Starts a graceful shutdown on a plain thread; join the handle to wait for it.
    pub fn stop_in_background(&mut self) -> std::thread::JoinHandle<()> {
        let app = self.app.take().expect("running");
        std::thread::spawn(move || app.shutdown())
    }

    pub fn running(&self) -> &RunningApp {
        self.app.as_ref().expect("running")
    }

    /// An Admin API request with the bootstrap token.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.admin))
            .bearer_auth(TOKEN)
    }

    pub async fn admin_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> (u16, Value) {
        let r = self
            .admin(method, path)
            .json(&body)
            .send()
            .await
            .expect("admin request");
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get_html(&self, path: &str) -> (u16, Html) {
        let r = self
            .client
            .get(format!("{}{path}", self.console))
            .send()
            .await
            .expect("console get");
        let status = r.status().as_u16();
        (status, Html::parse_document(&r.text().await.expect("html")))
    }

    /// The CSRF token from the first form on `path`.
    pub async fn csrf(&self, path: &str) -> String {
        let (_, html) = self.get_html(path).await;
        let sel = Selector::parse("input[name=csrf_token]").expect("selector");
        html.select(&sel)
            .next()
            .and_then(|e| e.value().attr("value"))
            .expect("csrf field on page")
            .to_string()
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.console))
            .form(fields)
            .send()
            .await
            .expect("console post")
    }

    pub async fn login(&self) {
        let csrf = self.csrf("/login").await;
        let r = self
            .post_form(
                "/login",
                &[
                    ("csrf_token", &csrf),
                    ("email", EMAIL),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(r.status().as_u16(), 303, "login redirects");
        assert_eq!(location(&r), "/services");
    }

    /// Polls the proxy until `path` answers `status`.
    pub async fn wait_for_proxy(&self, path: &str, status: u16) -> reqwest::Response {
        let url = format!("{}{path}", self.proxy);
        let client = reqwest::Client::new();
        let mut last = 0;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(r) = client.get(&url).send().await {
                last = r.status().as_u16();
                if last == status {
                    return r;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{path} still answers {last}, expected {status}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(app) = self.app.take() {
            // Dropping runtimes inside the test's runtime would panic: stop on a plain thread.
            let _ = std::thread::spawn(move || app.shutdown()).join();
        }
    }
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

pub fn select_text(html: &Html, css: &str) -> Vec<String> {
    let sel = Selector::parse(css).expect("selector");
    html.select(&sel)
        .map(|e| e.text().collect::<String>().trim().to_string())
        .collect()
}

pub fn select_attr(html: &Html, css: &str, attr: &str) -> Vec<String> {
    let sel = Selector::parse(css).expect("selector");
    html.select(&sel)
        .filter_map(|e| e.value().attr(attr).map(str::to_string))
        .collect()
}

/// A loopback upstream that echoes every request as JSON; stops when the guard drops.
pub struct Upstream {
    pub addr: SocketAddr,
    _stop: watch::Sender<bool>,
}

pub async fn reflect_upstream() -> Upstream {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = watch::channel(false);
    tokio::spawn(echo::serve(listener, echo::Mode::Reflect, rx));
    Upstream { addr, _stop: tx }
}

/// Retries `check` until it returns `Some`, or fails after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
