//! Process lifecycle: a graceful shutdown lets in-flight proxied requests finish; a database
//! that cannot be opened stops the start with one clear line.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_requests_finish() {
    let mut app = TestApp::spawn().await;
    let (status, _) = app
        .admin_json(
            Method::POST,
            "/services",
            json!({"name": "slow", "url": format!("http://{}", app.echo_addr)}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = app
        .admin_json(
            Method::POST,
            "/services/slow/routes",
            json!({"name": "slow", "paths": ["/slow"]}),
        )
        .await;
    assert_eq!(status, 201);
    app.wait_for_proxy("/slow/status/200", 200).await;

    let url = format!("{}/slow/delay/700", app.proxy);
    let in_flight =
        tokio::spawn(async move { reqwest::get(url).await.map(|r| r.status().as_u16()) });
    // Give the request time to reach the upstream before the shutdown starts.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = app.stop_in_background();

    let status = in_flight
        .await
        .expect("join")
        .expect("the in-flight request completes");
    assert_eq!(status, 200, "in-flight request finished during shutdown");
    stopping.join().expect("shutdown completes");
    assert!(
        reqwest::get(format!("{}/slow/status/200", app.proxy))
            .await
            .is_err(),
        "no new connections after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_400_and_the_proxy_keeps_serving() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = TestApp::spawn().await;
    let (status, _) = app
        .admin_json(
            Method::POST,
            "/services",
            json!({"name": "e", "url": format!("http://{}", app.echo_addr)}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = app
        .admin_json(
            Method::POST,
            "/services/e/routes",
            json!({"name": "e", "paths": ["/e"]}),
        )
        .await;
    assert_eq!(status, 201);
    app.wait_for_proxy("/e/status/200", 200).await;

    let garbage: [&[u8]; 5] = [
        b"GARBAGE\r\n\r\n",
        b"GET /e HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        b"GET /e HTTP/1.1\r\nBad Header Without Colon\r\n\r\n",
        b"GET /e\x00\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    ];
    for bytes in garbage {
        let mut s = tokio::net::TcpStream::connect(app.proxy_addr)
            .await
            .expect("connect");
        s.write_all(bytes).await.expect("write");
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf))
            .await
            .expect("the proxy answers or closes");
        assert!(read.is_ok());
        let head = String::from_utf8_lossy(&buf);
        assert!(
            buf.is_empty() || head.starts_with("HTTP/1.1 400"),
            "{head:?}"
        );
    }
    let big_header = "x".repeat(200 * 1024);
    let r = reqwest::Client::new()
        .get(format!("{}/e/request", app.proxy))
        .header("x-big", big_header)
        .send()
        .await;
    assert!(
        r.map(|r| r.status().as_u16() == 431 || r.status().is_client_error())
            .unwrap_or(true),
        "oversized headers are refused"
    );
    app.wait_for_proxy("/e/status/200", 200).await;
}

/// Runs the real binary with `env` and returns (exit code, stderr) once it exits.
fn run_failing(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let root = tempfile::tempdir().expect("temp dir");
    // A private data dir, as the process requires of one that already exists.
    let dir = root.path().join("data");
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .expect("data dir");
    }
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.env_clear()
        .env("GATEHOUSE_DATA_DIR", &dir)
        .env("NO_COLOR", "1")
        .env("RUST_BACKTRACE", "1");
    for (k, v) in env {
        cmd.env(k, v.replace("{dir}", &dir.display().to_string()));
    }
    if let Some((_, path)) = env.iter().find(|(k, _)| *k == "CORRUPT") {
        std::fs::write(
            path.replace("{dir}", &dir.display().to_string()),
            "this is not an SQLite database, not even close; it is only text".repeat(20),
        )
        .expect("write corrupt file");
    }
    let out = cmd.output().expect("run gatehouse");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_unreachable_postgres_is_one_clear_line_without_the_password() {
    let port = crate::helpers::closed_port();
    let url = format!("postgres://gatehouse:hunter2-secret@127.0.0.1:{port}/gatehouse");
    let (code, stderr) = run_failing(&[("GATEHOUSE_DATABASE_URL", &url)]);
    assert_eq!(code, Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or("");
    assert!(
        last.starts_with("gatehouse: opening the database postgres://127.0.0.1:")
            && last.contains(&port.to_string())
            && last.contains("refused"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "password leaked: {stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");
}

#[test]
fn an_unsupported_database_url_names_only_its_scheme() {
    let (code, stderr) = run_failing(&[("GATEHOUSE_DATABASE_URL", "mysql://root:hunter2@db/x")]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("unsupported GATEHOUSE_DATABASE_URL scheme 'mysql'"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "password leaked: {stderr}");
}

#[test]
fn a_corrupt_sqlite_file_is_a_clear_error_not_a_panic() {
    let (code, stderr) = run_failing(&[("CORRUPT", "{dir}/gatehouse.db")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("file is not a database"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
