//! Logs cannot be forged: a newline or an escape sequence typed into a form is written escaped
//! (text format) or inside a JSON string (`GATEHOUSE_LOG_FORMAT=json`), never as a line of its own.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::closed_port;

const FORGED: &str =
    "mallory@example.com\nFORGED 2026-01-01T00:00:00Z  INFO organization admin created\u{1b}[2J";

/// Starts the binary with `format`, fails one login with the forged email, and returns its log.
async fn log_of_a_forged_login(format: &str) -> String {
    let root = tempfile::tempdir().expect("temp dir");
    let log = root.path().join("out.log");
    let out = std::fs::File::create(&log).expect("log");
    let console = closed_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .env_clear()
        .env("GATEHOUSE_DATA_DIR", root.path().join("data"))
        .env("GATEHOUSE_LOG_FORMAT", format)
        .env("GATEHOUSE_ADMIN_EMAIL", "admin@example.com")
        .env("GATEHOUSE_ADMIN_PASSWORD", "correct-horse-battery")
        .env("GATEHOUSE_CONSOLE_LISTEN", format!("127.0.0.1:{console}"))
        .env("GATEHOUSE_PROXY_LISTEN", "127.0.0.1:0")
        .env("GATEHOUSE_PROXY_TLS_LISTEN", "127.0.0.1:0")
        .env("GATEHOUSE_ADMIN_LISTEN", "127.0.0.1:0")
        .env("GATEHOUSE_CLUSTER_LISTEN", "127.0.0.1:0")
        .env("GATEHOUSE_ECHO_LISTEN", "127.0.0.1:0")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log"))
        .stderr(out)
        .spawn()
        .expect("spawn");
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    let base = format!("http://127.0.0.1:{console}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let page = loop {
        if let Ok(r) = client.get(format!("{base}/login")).send().await {
            break r.text().await.unwrap_or_default();
        }
        assert!(Instant::now() < deadline, "console never came up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let csrf = page
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or("")
        .to_string();
    let r = client
        .post(format!("{base}/login"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", FORGED),
            ("password", "wrong"),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status().as_u16(), 401);
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("failed console login") || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newline_in_an_email_never_starts_a_log_line() {
    let text = log_of_a_forged_login("text").await;
    assert!(text.contains("failed console login"), "{text}");
    for line in text.lines() {
        assert!(
            !line.starts_with("FORGED"),
            "a forged line: {line:?}\n{text}"
        );
        assert!(!line.contains('\u{1b}'), "a raw escape sequence: {line:?}");
    }
    assert!(
        text.contains("mallory@example.com\\nFORGED"),
        "written escaped: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_format_writes_every_line_as_json() {
    let text = log_of_a_forged_login("json").await;
    let mut failed = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
        if v["message"] == "failed console login" {
            failed += 1;
            assert!(
                v["user.email"].as_str().unwrap_or("").contains("FORGED"),
                "{v}"
            );
        }
    }
    assert_eq!(failed, 1, "{text}");
}
