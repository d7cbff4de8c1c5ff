//! Console sessions live on the server: logout, a password change and "sign out everywhere"
//! end them for every copy of the cookie; idle and absolute timeouts end them by themselves; a
//! new session id is issued at every sign-in.

use std::time::Duration;

use crate::helpers::{TestApp, EMAIL, PASSWORD};

/// A browser that keeps its cookie in a string, so a test can copy it like an attacker would.
struct Browser {
    base: String,
    client: reqwest::Client,
    cookie: String,
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        Browser {
            base: app.console.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookie: String::new(),
        }
    }

    fn keep_cookie(&mut self, r: &reqwest::Response) {
        if let Some(c) = r
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
        {
            self.cookie = c.to_string();
        }
    }

    async fn get(&mut self, path: &str) -> (u16, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .expect("get");
        self.keep_cookie(&r);
        let status = r.status().as_u16();
        (status, r.text().await.unwrap_or_default())
    }

    /// The page's CSRF token (every console form carries one).
    async fn csrf(&mut self, path: &str) -> String {
        let (_, html) = self.get(path).await;
        html.split("name=\"csrf_token\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or("")
            .to_string()
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(fields)
            .send()
            .await
            .expect("post");
        self.keep_cookie(&r);
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (status, location)
    }

    async fn log_in(&mut self, password: &str) {
        let csrf = self.csrf("/login").await;
        let (status, location) = self
            .post(
                "/login",
                &[
                    ("csrf_token", &csrf),
                    ("email", EMAIL),
                    ("password", password),
                ],
            )
            .await;
        assert_eq!((status, location.as_str()), (303, "/services"), "signed in");
    }

    /// Whether the console lets this cookie in.
    async fn signed_in(&mut self) -> bool {
        let (status, _) = self.get("/services").await;
        assert!(status == 200 || status == 303, "unexpected {status}");
        status == 200
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_cookie_stops_working_at_logout() {
    let app = TestApp::spawn().await;
    let mut owner = Browser::new(&app);
    let before = {
        owner.get("/login").await;
        owner.cookie.clone()
    };
    owner.log_in(PASSWORD).await;
    assert_ne!(owner.cookie, before, "a new session at sign-in");
    assert!(owner.signed_in().await);

    let mut thief = Browser::new(&app);
    thief.cookie = owner.cookie.clone();
    assert!(
        thief.signed_in().await,
        "the copy works while the session lives"
    );
    let thief_csrf = thief.csrf("/services/new").await;

    let csrf = owner.csrf("/services").await;
    let (status, location) = owner.post("/logout", &[("csrf_token", &csrf)]).await;
    assert_eq!((status, location.as_str()), (303, "/login"));

    assert!(!thief.signed_in().await, "the copied cookie is dead");
    let (status, location) = thief
        .post(
            "/services",
            &[
                ("csrf_token", &thief_csrf),
                ("display_name", "Stolen"),
                ("description", ""),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/login"),
        "and cannot create services"
    );
    let count = app
        .running()
        .store
        .list_catalog_services("")
        .await
        .expect("list")
        .len();
    assert_eq!(count, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_absolute_timeouts_end_sessions() {
    let idle = TestApp::spawn_with(|s| s.session_idle_timeout_secs = 1).await;
    let mut b = Browser::new(&idle);
    b.log_in(PASSWORD).await;
    assert!(b.signed_in().await);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(
        !b.signed_in().await,
        "idle for longer than the idle timeout"
    );

    let absolute = TestApp::spawn_with(|s| s.session_max_age_secs = 2).await;
    let mut b = Browser::new(&absolute);
    b.log_in(PASSWORD).await;
    for _ in 0..3 {
        assert!(
            b.signed_in().await,
            "busy and younger than the absolute timeout"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert!(
        !b.signed_in().await,
        "past the absolute timeout, however busy"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_and_sign_out_everywhere_end_other_sessions() {
    let app = TestApp::spawn().await;
    let (mut laptop, mut phone) = (Browser::new(&app), Browser::new(&app));
    laptop.log_in(PASSWORD).await;
    phone.log_in(PASSWORD).await;

    let csrf = laptop.csrf("/account").await;
    let (status, _) = laptop
        .post(
            "/account/password",
            &[
                ("csrf_token", &csrf),
                ("current_password", "wrong-password"),
                ("password", "a-new-password-1"),
                ("password_confirm", "a-new-password-1"),
            ],
        )
        .await;
    assert_eq!(status, 422, "the current password is checked");
    assert!(phone.signed_in().await, "a refused change ends nothing");

    let csrf = laptop.csrf("/account").await;
    let (status, location) = laptop
        .post(
            "/account/password",
            &[
                ("csrf_token", &csrf),
                ("current_password", PASSWORD),
                ("password", "a-new-password-1"),
                ("password_confirm", "a-new-password-1"),
            ],
        )
        .await;
    assert_eq!((status, location.as_str()), (303, "/account?changed=1"));
    assert!(
        laptop.signed_in().await,
        "the browser that changed it carries on"
    );
    assert!(!phone.signed_in().await, "every other session ended");
    phone.log_in("a-new-password-1").await;

    let csrf = laptop.csrf("/account").await;
    let (status, location) = laptop
        .post("/account/sessions/revoke", &[("csrf_token", &csrf)])
        .await;
    assert_eq!((status, location.as_str()), (303, "/login"));
    assert!(!laptop.signed_in().await);
    assert!(!phone.signed_in().await, "signed out everywhere");
}
