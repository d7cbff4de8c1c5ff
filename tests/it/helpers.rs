//! `TestApp`: a running Gatehouse on port 0 with a temp data dir, a seeded admin and token, and
//! a cookie-keeping client; plus loopback upstreams and polling helpers (no fixed sleeps).

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use reqwest::Method;
use serde_json::json;
use tokio::net::TcpListener;

use gatehouse::app::RunningApp;
use gatehouse::echo;
use gatehouse::settings::Settings;
use scraper::{Html, Selector};
use serde_json::Value;
use tokio::sync::watch;

pub const EMAIL: &str = "admin@example.com";
pub const PASSWORD: &str = "correct-horse-battery";
pub const TOKEN: &str = "ghp_test_bootstrap_token_0123456789abcdef";

pub struct TestApp {
    app: Option<RunningApp>,
    _dir: tempfile::TempDir,
    pub client: reqwest::Client,
    pub console: String,
    pub admin: String,
    pub proxy: String,
    pub proxy_addr: SocketAddr,
    pub proxy_tls_addr: SocketAddr,
    pub echo_addr: SocketAddr,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(tweak: impl FnOnce(&mut Settings) + Send + 'static) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        // A data dir the app creates itself (private), as on a fresh install.
        let mut settings = Settings::ephemeral(dir.path().join("data"));
        settings.admin_email = Some(EMAIL.into());
        settings.admin_password = Some(PASSWORD.into());
        settings.bootstrap_token = Some(TOKEN.into());
        settings.database_url = crate::backend::database_url().await;
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
            proxy_tls_addr: app.proxy_tls_addr,
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

    /// The app's data dir (a private temp dir).
    pub fn data_dir(&self) -> std::path::PathBuf {
        self._dir.path().join("data")
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
    /// Waits until the embedded proxy serves what the store holds now. The proxy applies a
    /// commit shortly after the write answers (as Kong's eventual worker consistency does), so
    /// a test that sends traffic right after several writes waits for this first.
    pub async fn settled(&self) {
        let app = self.app.as_ref().expect("app running");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let serving = app.proxy.current();
            let stored = gatehouse::service::config::load(&app.store, serving.runtime_group_id)
                .await
                .expect("load the stored configuration");
            if serving.hash == stored.hash {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the proxy still serves version {} ({}), the store holds {} ({})",
                serving.version,
                serving.hash,
                stored.version,
                stored.hash
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

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

/// Where a response redirects, without the console's `notice` confirmation parameter.
pub fn location(r: &reqwest::Response) -> String {
    let raw = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    strip_notice(raw)
}

pub fn strip_notice(url: &str) -> String {
    let (path, fragment) = match url.split_once('#') {
        Some((p, f)) => (p, Some(f)),
        None => (url, None),
    };
    let mut out = match path.split_once('?') {
        Some((p, q)) => {
            let kept: Vec<&str> = q
                .split('&')
                .filter(|kv| !kv.starts_with("notice="))
                .collect();
            if kept.is_empty() {
                p.to_string()
            } else {
                format!("{p}?{}", kept.join("&"))
            }
        }
        None => path.to_string(),
    };
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
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

// ---------------------------------------------------------------------------------------------
// proxy helpers: Admin API shortcuts and loopback upstreams

pub type UpBody = UnsyncBoxBody<Bytes, Infallible>;

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// Creates an entity through the Admin API and insists it was created.
pub async fn create(app: &TestApp, path: &str, body: Value) -> Value {
    let (status, created) = app.admin_json(Method::POST, path, body.clone()).await;
    assert_eq!(status, 201, "POST {path} {body} answered {created}");
    app.settled().await;
    created
}

/// A service named `name` at `url` (plus `extra` fields) with one route (`route` fields).
pub async fn service_with_route(app: &TestApp, name: &str, url: &str, extra: Value, route: Value) {
    let mut svc = json!({ "name": name, "url": url });
    if let (Some(s), Some(e)) = (svc.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    create(app, "/services", svc).await;
    let mut r = route;
    r["service"] = json!({ "name": name });
    create(app, "/routes", r).await;
}

pub async fn get_json(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let r = client.get(url).send().await.expect("proxy request");
    let status = r.status().as_u16();
    let text = r.text().await.expect("response body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A loopback port nothing listens on: bound, read, released.
/// A port nothing listens on right now, for a process the test starts later. Taken below the
/// kernel's ephemeral range (32768 and up), where outgoing connections of other tests never
/// land, and handed out once per test process, so two tests never get the same one.
pub fn closed_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Start at a per-process offset so test processes running side by side spread out.
    let _ = NEXT.compare_exchange(
        0,
        20_000 + (std::process::id() % 600) as u16 * 20,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    loop {
        let p = NEXT.fetch_add(1, Ordering::Relaxed);
        let p = if p >= 32_000 { 20_000 + p % 12_000 } else { p };
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

/// Polls `url` with a tight loop until it answers `status`; panics after 5 s.
pub async fn poll_status(client: &reqwest::Client, url: &str, status: u16) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let last = match client.get(url).send().await {
            Ok(r) if r.status().as_u16() == status => return,
            Ok(r) => format!("status {}", r.status()),
            Err(e) => e.to_string(),
        };
        assert!(
            Instant::now() < deadline,
            "{url} never answered {status} (last: {last})"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A hyper upstream on a loopback port answering every request with `handler`.
pub async fn hyper_upstream<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<UpBody>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("upstream addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = handler.clone();
            let svc = service_fn(move |req| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handler(req).await) }
            });
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

pub fn full(body: impl Into<Bytes>) -> UpBody {
    UnsyncBoxBody::new(Full::new(body.into()))
}
