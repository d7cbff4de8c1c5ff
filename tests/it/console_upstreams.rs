//! Console pages for Kong Upstreams, Targets and Certificates of the default runtime group,
//! driven over real HTTP with a session and CSRF tokens; results checked in the parsed pages
//! and through the Admin API (one domain layer behind both).

use std::time::Duration;

use reqwest::Method;
use scraper::Html;
use serde_json::Value;

use crate::helpers::{eventually, location, select_attr, select_text, TestApp};

const UPSTREAMS: &str = "/runtime-groups/default/upstreams";

async fn admin_list(app: &TestApp, path: &str) -> Vec<Value> {
    let (status, body) = app.admin_json(Method::GET, path, Value::Null).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body["data"].as_array().cloned().expect("data array")
}

async fn page(r: reqwest::Response) -> (u16, Html) {
    let status = r.status().as_u16();
    (status, Html::parse_document(&r.text().await.expect("html")))
}

/// The error beside the field `id`: its text, after checking the field points at it.
fn error_beside(html: &Html, id: &str) -> String {
    assert_eq!(
        select_attr(html, &format!("#{id}"), "aria-describedby"),
        vec![format!("{id}-error")],
        "#{id} is described by its error"
    );
    select_text(html, &format!("#{id}-error")).join(" ")
}

/// Creates an upstream through the console form; returns its page's path.
async fn new_upstream(app: &TestApp, csrf: &str, name: &str) -> String {
    let r = app
        .post_form(
            UPSTREAMS,
            &[
                ("csrf_token", csrf),
                ("name", name),
                ("algorithm", "round-robin"),
                ("hash_on", "none"),
                ("slots", "10000"),
                ("healthchecks.active.http_path", "/status"),
                ("healthchecks.active.healthy.interval", "0"),
                ("healthchecks.passive.unhealthy.tcp_failures", "2"),
                ("tags", "billing, eu"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303, "upstream created");
    let path = location(&r);
    assert!(path.starts_with(&format!("{UPSTREAMS}/")), "{path}");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_created_through_the_form_is_listed() {
    let app = TestApp::spawn().await;
    app.login().await;
    let (status, html) = app.get_html(UPSTREAMS).await;
    assert_eq!(status, 200);
    assert_eq!(select_text(&html, "#upstreams td.empty").len(), 1);
    assert_eq!(
        select_attr(&html, "#up-algorithm option[selected]", "value"),
        vec!["round-robin"]
    );
    assert_eq!(
        select_attr(&html, "#healthchecks-active-http_path", "value"),
        vec!["/"],
        "Kong's defaults are prefilled"
    );

    let csrf = app.csrf(UPSTREAMS).await;
    let path = new_upstream(&app, &csrf, "billing.v1").await;

    let (_, html) = app.get_html(UPSTREAMS).await;
    assert_eq!(
        select_text(&html, "#upstreams tr[data-name='billing.v1'] td"),
        vec!["billing.v1", "round-robin", "0", "0/0", "billing eu"]
    );
    let (_, u) = app
        .admin_json(Method::GET, "/upstreams/billing.v1", Value::Null)
        .await;
    assert_eq!(u["healthchecks"]["active"]["http_path"], "/status");
    assert_eq!(u["healthchecks"]["passive"]["unhealthy"]["tcp_failures"], 2);
    assert_eq!(u["tags"], serde_json::json!(["billing", "eu"]));

    let (status, html) = app.get_html(&path).await;
    assert_eq!(status, 200);
    assert_eq!(select_text(&html, "h1"), vec!["billing.v1"]);
    assert_eq!(select_text(&html, "#algorithm"), vec!["round-robin"]);
    assert_eq!(select_text(&html, "#active-checks"), vec!["off"]);
    assert_eq!(
        select_text(
            &html,
            "dd[data-key='healthchecks.passive.unhealthy.tcp_failures']"
        ),
        vec!["2"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_upstream_form_keeps_the_input_and_saves_nothing() {
    let app = TestApp::spawn().await;
    app.login().await;
    let csrf = app.csrf(UPSTREAMS).await;

    let r = app
        .post_form(
            UPSTREAMS,
            &[
                ("csrf_token", &csrf),
                ("name", ""),
                ("algorithm", "consistent-hashing"),
                ("hash_on", "none"),
                ("slots", "10000"),
                ("healthchecks.active.healthy.interval", "soon"),
                ("tags", "kept, too"),
            ],
        )
        .await;
    let (status, html) = page(r).await;
    assert_eq!(status, 422);
    assert!(error_beside(&html, "up-name").contains("Name is required"));
    assert!(error_beside(&html, "up-hash_on").contains("consistent-hashing"));
    assert_eq!(
        error_beside(&html, "healthchecks-active-healthy-interval"),
        "Enter a number"
    );
    assert_eq!(
        select_attr(&html, "#up-algorithm option[selected]", "value"),
        vec!["consistent-hashing"],
        "the choice is kept"
    );
    assert_eq!(
        select_attr(&html, "#healthchecks-active-healthy-interval", "value"),
        vec!["soon"]
    );
    assert_eq!(select_attr(&html, "#up-tags", "value"), vec!["kept, too"]);

    // Hashing on a header needs the header's name.
    let r = app
        .post_form(
            UPSTREAMS,
            &[
                ("csrf_token", &csrf),
                ("name", "hashed"),
                ("algorithm", "consistent-hashing"),
                ("hash_on", "header"),
            ],
        )
        .await;
    let (status, html) = page(r).await;
    assert_eq!(status, 422);
    assert!(error_beside(&html, "up-hash_on_header").contains("required"));
    assert_eq!(select_attr(&html, "#up-name", "value"), vec!["hashed"]);
    assert!(
        admin_list(&app, "/upstreams").await.is_empty(),
        "nothing saved"
    );

    // A taken name is reported beside the name.
    new_upstream(&app, &csrf, "taken").await;
    let r = app
        .post_form(
            UPSTREAMS,
            &[
                ("csrf_token", &csrf),
                ("name", "taken"),
                ("algorithm", "round-robin"),
                ("hash_on", "none"),
            ],
        )
        .await;
    let (status, html) = page(r).await;
    assert_eq!(status, 422);
    assert!(error_beside(&html, "up-name").contains("already exists"));

    // Without the session's CSRF token nothing happens.
    let r = app
        .post_form(UPSTREAMS, &[("csrf_token", "forged"), ("name", "x")])
        .await;
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(admin_list(&app, "/upstreams").await.len(), 1);
}

/// The health badge of `target` on the upstream page.
async fn badge(app: &TestApp, path: &str, target: &str) -> String {
    let (_, html) = app.get_html(path).await;
    select_text(&html, &format!("tr[data-target='{target}'] .badge")).join("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_are_added_marked_unhealthy_and_deleted() {
    let app = TestApp::spawn().await;
    app.login().await;
    let csrf = app.csrf(UPSTREAMS).await;
    let path = new_upstream(&app, &csrf, "orders").await;

    let r = app
        .post_form(
            &format!("{path}/targets"),
            &[("csrf_token", &csrf), ("target", "a b"), ("weight", "25")],
        )
        .await;
    let (status, html) = page(r).await;
    assert_eq!(status, 422);
    assert!(error_beside(&html, "target-target").contains("Invalid target"));
    assert_eq!(select_attr(&html, "#target-target", "value"), vec!["a b"]);
    assert_eq!(select_attr(&html, "#target-weight", "value"), vec!["25"]);
    assert!(admin_list(&app, "/upstreams/orders/targets")
        .await
        .is_empty());

    let r = app
        .post_form(
            &format!("{path}/targets"),
            &[
                ("csrf_token", &csrf),
                ("target", "127.0.0.1:9001"),
                ("weight", "25"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(location(&r), path);
    let (_, html) = app.get_html(&path).await;
    let row = "tr[data-target='127.0.0.1:9001']";
    assert_eq!(select_text(&html, &format!("{row} .weight")), vec!["25"]);
    assert_eq!(select_text(&html, &format!("{row} .badge.health")).len(), 1);
    assert_eq!(
        select_attr(&html, "#target-weight", "value"),
        vec!["100"],
        "the form is reset"
    );

    // Once the proxy has loaded the target (passive checks on: HEALTHY), it can be marked
    // unhealthy from the console.
    eventually(
        Duration::from_secs(5),
        "the proxy to load the target",
        || {
            let (app, path) = (&app, &path);
            async move { (badge(app, path, "127.0.0.1:9001").await == "HEALTHY").then_some(()) }
        },
    )
    .await;
    let tid = admin_list(&app, "/upstreams/orders/targets").await[0]["id"]
        .as_str()
        .expect("target id")
        .to_string();
    let r = app
        .post_form(
            &format!("{path}/targets/{tid}/unhealthy"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let health = eventually(Duration::from_secs(5), "the Admin API to agree", || {
        let app = &app;
        async move {
            let (_, body) = app
                .admin_json(Method::GET, "/upstreams/orders/health", Value::Null)
                .await;
            let h = body["data"][0]["health"].as_str().unwrap_or("").to_string();
            (h == "UNHEALTHY").then_some(h)
        }
    })
    .await;
    assert_eq!(health, "UNHEALTHY");
    assert_eq!(badge(&app, &path, "127.0.0.1:9001").await, "UNHEALTHY");
    let (_, list) = app.get_html(UPSTREAMS).await;
    assert_eq!(
        select_text(&list, "tr[data-name='orders'] .healthy"),
        vec!["0/1"]
    );

    let r = app
        .post_form(
            &format!("{path}/targets/{tid}/delete"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert!(admin_list(&app, "/upstreams/orders/targets")
        .await
        .is_empty());

    // Deleting the upstream wants its name typed.
    let r = app
        .post_form(
            &format!("{path}/delete"),
            &[("csrf_token", &csrf), ("confirm_name", "order")],
        )
        .await;
    let (status, html) = page(r).await;
    assert_eq!(status, 422);
    assert!(error_beside(&html, "confirm_upstream").contains("orders"));
    let r = app
        .post_form(
            &format!("{path}/delete"),
            &[("csrf_token", &csrf), ("confirm_name", "orders")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(location(&r), UPSTREAMS);
    assert!(admin_list(&app, "/upstreams").await.is_empty());
    assert_eq!(app.get_html(&path).await.0, 404);
}

const CERTIFICATES: &str = "/runtime-groups/default/certificates";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_with_snis_are_created_listed_and_deleted() {
    let app = TestApp::spawn().await;
    app.login().await;
    let (status, html) = app.get_html(CERTIFICATES).await;
    assert_eq!(status, 200);
    assert_eq!(select_text(&html, "#certificates td.empty").len(), 1);
    let issued = rcgen::generate_simple_self_signed(vec!["a.example".into()]).expect("cert");
    let (cert, key) = (issued.cert.pem(), issued.signing_key.serialize_pem());
    let csrf = app.csrf(CERTIFICATES).await;

    // A bad key: everything typed comes back, the message sits beside the key.
    let r = app
        .post_form(
            CERTIFICATES,
            &[
                ("csrf_token", &csrf),
                ("cert", &cert),
                ("key", "not a key"),
                ("snis", "a.example"),
                ("tags", "edge"),
            ],
        )
        .await;
    let (status, html) = page(r).await;
    assert_eq!(status, 422);
    assert!(error_beside(&html, "cert-key").contains("invalid key"));
    assert_eq!(select_text(&html, "#cert-cert"), vec![cert.trim()]);
    assert_eq!(select_text(&html, "#cert-key"), vec!["not a key"]);
    assert_eq!(select_attr(&html, "#cert-snis", "value"), vec!["a.example"]);
    assert!(admin_list(&app, "/certificates").await.is_empty());

    let r = app
        .post_form(
            CERTIFICATES,
            &[
                ("csrf_token", &csrf),
                ("cert", &cert),
                ("key", &key),
                ("snis", "a.example"),
                ("tags", "edge"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(location(&r), CERTIFICATES);
    let stored = admin_list(&app, "/certificates").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["snis"], serde_json::json!(["a.example"]));
    let id = stored[0]["id"].as_str().expect("id").to_string();
    let (_, html) = app.get_html(CERTIFICATES).await;
    let row = format!("#certificates tr[data-id='{id}']");
    assert_eq!(
        select_text(&html, &format!("{row} .snis .pill")),
        vec!["a.example"]
    );
    assert_eq!(select_text(&html, &format!("{row} code")), vec![&id[..8]]);

    // An SNI belongs to one certificate only.
    let r = app
        .post_form(
            CERTIFICATES,
            &[
                ("csrf_token", &csrf),
                ("cert", &cert),
                ("key", &key),
                ("snis", "a.example"),
            ],
        )
        .await;
    let (status, html) = page(r).await;
    assert_eq!(status, 422);
    assert!(error_beside(&html, "cert-snis").contains("already used"));
    assert_eq!(admin_list(&app, "/certificates").await.len(), 1);

    let r = app
        .post_form(
            &format!("{CERTIFICATES}/{id}/delete"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert!(admin_list(&app, "/certificates").await.is_empty());
    assert!(
        admin_list(&app, "/snis").await.is_empty(),
        "its SNIs go too"
    );
    let (_, html) = app.get_html(CERTIFICATES).await;
    assert_eq!(select_text(&html, "#certificates td.empty").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_certificates_are_added_listed_and_deleted() {
    let app = TestApp::spawn().await;
    app.login().await;
    let ca = rcgen::generate_simple_self_signed(vec!["ca.example".into()]).expect("cert");
    let pem = ca.cert.pem();
    let csrf = app.csrf(CERTIFICATES).await;
    let add = "/runtime-groups/default/ca-certificates";

    let r = app
        .post_form(add, &[("csrf_token", &csrf), ("cert", "garbage")])
        .await;
    let (status, html) = page(r).await;
    assert_eq!(status, 422);
    assert!(error_beside(&html, "ca-cert").contains("invalid certificate"));
    assert_eq!(select_text(&html, "#ca-cert"), vec!["garbage"]);

    let r = app
        .post_form(add, &[("csrf_token", &csrf), ("cert", &pem)])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let stored = admin_list(&app, "/ca_certificates").await;
    assert_eq!(stored.len(), 1);
    let (id, digest) = (
        stored[0]["id"].as_str().expect("id"),
        stored[0]["cert_digest"].as_str().expect("digest"),
    );
    let (_, html) = app.get_html(CERTIFICATES).await;
    assert_eq!(
        select_text(&html, &format!("#ca-list tr[data-id='{id}'] .digest")),
        vec![digest]
    );

    let r = app
        .post_form(add, &[("csrf_token", &csrf), ("cert", &pem)])
        .await;
    let (status, html) = page(r).await;
    assert_eq!(status, 422);
    assert!(error_beside(&html, "ca-cert").contains("already stored"));

    let r = app
        .post_form(&format!("{add}/{id}/delete"), &[("csrf_token", &csrf)])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert!(admin_list(&app, "/ca_certificates").await.is_empty());
}
