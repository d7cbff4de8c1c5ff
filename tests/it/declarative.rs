//! Declarative configuration (kong.yml): the ecosystem's real files (read from
//! `../shared/conformance/declarative/`, never copied) and files of our own, through the Admin
//! API's `/config` (every body form), the `gatehouse config` CLI and a DB-less node; bad
//! documents are refused with nothing applied; what is imported is served by the proxy.

mod admin;
mod cli;
mod console;
mod dbless;
mod scale;

use reqwest::Method;
use serde_json::Value;

use crate::helpers::TestApp;

pub(crate) const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/conformance/declarative"
);

/// A file from the shared conformance folder.
pub(crate) fn shared_file(name: &str) -> String {
    std::fs::read_to_string(format!("{DIR}/{name}")).expect("shared conformance file")
}

/// Points every service at `addr` (the files' hosts lead nowhere reachable), keeping the
/// rest verbatim; upstream targets stay as they are (nothing routes through them then).
pub(crate) fn point_at(text: &str, addr: &str) -> String {
    let host = addr.split(':').next().unwrap_or("127.0.0.1");
    let port = addr.rsplit(':').next().unwrap_or("80");
    text.lines()
        .map(|l| {
            let t = l.trim_start();
            let indent = &l[..l.len() - t.len()];
            if t.starts_with("host: ") {
                format!("{indent}host: {host}\n{indent}port: {port}")
            } else if t.starts_with("port: ") {
                String::new()
            } else {
                l.to_string()
            }
        })
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `GET /config`'s document (default group unless `prefix` names one).
pub(crate) async fn current(app: &TestApp, prefix: &str) -> String {
    let r = app
        .admin(Method::GET, &format!("{prefix}/config"))
        .send()
        .await
        .expect("GET /config");
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.expect("json");
    v["config"].as_str().expect("config string").to_string()
}

/// `POST /config` with a raw body of `content_type`.
pub(crate) async fn post_raw(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let r = app
        .admin(Method::POST, path)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("POST /config");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}
