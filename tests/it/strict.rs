//! HTTP/1 strictness, side by side with nginx: the same raw bytes go to a real nginx reverse
//! proxy and to Gatehouse, each in front of an upstream that records every byte. Wherever
//! nginx refuses, Gatehouse answers the same class of status with Kong's JSON body, closes the
//! connection, and its upstream receives nothing. Without nginx installed, Gatehouse is held
//! to the recorded nginx answers alone. Plus bounded fuzzing of the same path.

mod cases;
mod fuzz;
mod nginx;
mod wire;

use serde_json::{json, Value};

use crate::helpers::{service_with_route, TestApp};
use wire::{exchange, recording_upstream};

/// Gatehouse with one route (`/`) to a recording upstream, and nginx with its own.
struct Rig {
    app: TestApp,
    gatehouse: wire::Recorded,
    nginx: Option<(nginx::Nginx, wire::Recorded)>,
}

async fn rig() -> Rig {
    let app = TestApp::spawn().await;
    let (g_addr, gatehouse) = recording_upstream().await;
    service_with_route(
        &app,
        "strict",
        &format!("http://{g_addr}"),
        json!({}),
        json!({ "paths": ["/"], "strip_path": false }),
    )
    .await;
    app.wait_for_proxy("/", 200).await;
    let (n_addr, n_rec) = recording_upstream().await;
    let nginx = nginx::Nginx::start(n_addr).await.map(|n| (n, n_rec));
    if nginx.is_none() {
        eprintln!("nginx is not installed: comparing with its recorded answers only");
    }
    gatehouse.clear();
    Rig {
        app,
        gatehouse,
        nginx,
    }
}

fn class(status: u16) -> u16 {
    status / 100
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_as_nginx_on_every_case() {
    let rig = rig().await;
    let mut failures = Vec::new();
    for case in cases::all() {
        let refused = case.nginx >= 400;
        if let Some((nginx, rec)) = &rig.nginx {
            rec.clear();
            let n = exchange(nginx.addr, &case.raw, case.responses, false).await;
            if n.status() != case.nginx {
                failures.push(format!(
                    "{}: nginx now answers {}, the table says {}",
                    case.name,
                    n.status(),
                    case.nginx
                ));
            }
            if rec.lines().iter().any(|l| l.contains("/smuggled")) {
                failures.push(format!(
                    "{}: nginx let a smuggled request through",
                    case.name
                ));
            }
        }
        rig.gatehouse.clear();
        // A refusal must end the connection: wait for one response more than sent, which
        // only a close cuts short.
        let expect = case.responses + usize::from(refused);
        let g = exchange(rig.app.proxy_addr, &case.raw, expect, false).await;
        let upstream = rig.gatehouse.bytes();
        let line = format!(
            "{}: nginx {} / gatehouse {}",
            case.name,
            case.nginx,
            g.status()
        );
        if class(g.status()) != class(case.nginx) {
            failures.push(format!("{line}: different class"));
        }
        if rig
            .gatehouse
            .lines()
            .iter()
            .any(|l| l.contains("/smuggled"))
        {
            failures.push(format!("{line}: a smuggled request reached the upstream"));
        }
        if refused {
            if !upstream.is_empty() {
                failures.push(format!(
                    "{line}: upstream received {:?}",
                    String::from_utf8_lossy(&upstream)
                ));
            }
            if g.responses.len() != 1 {
                failures.push(format!(
                    "{line}: {} responses, the connection stayed open",
                    g.responses.len()
                ));
            }
            let body: Value = g
                .responses
                .first()
                .and_then(|r| serde_json::from_slice(&r.body).ok())
                .unwrap_or(Value::Null);
            if !body["message"].is_string() {
                failures.push(format!("{line}: body is not Kong's JSON: {body}"));
            }
        } else if g.responses.len() != case.responses || g.responses.iter().any(|r| r.status != 200)
        {
            let statuses: Vec<u16> = g.responses.iter().map(|r| r.status).collect();
            failures.push(format!("{line}: answered {statuses:?}"));
        }
        println!("{line}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Where Gatehouse refuses what nginx lets through, the refusal is still clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stricter_than_nginx_where_hyper_is() {
    let rig = rig().await;
    for (case, want) in cases::stricter() {
        if let Some((nginx, _)) = &rig.nginx {
            let n = exchange(nginx.addr, &case.raw, 1, false).await;
            assert_eq!(
                n.status(),
                case.nginx,
                "{}: nginx's answer changed",
                case.name
            );
        }
        rig.gatehouse.clear();
        let g = exchange(rig.app.proxy_addr, &case.raw, 2, false).await;
        assert_eq!(g.status(), want, "{}", case.name);
        assert_eq!(
            g.responses.len(),
            1,
            "{}: the connection is closed",
            case.name
        );
        assert!(
            rig.gatehouse.bytes().is_empty(),
            "{}: nothing goes upstream",
            case.name
        );
        println!(
            "{}: nginx {} / gatehouse {}",
            case.name,
            case.nginx,
            g.status()
        );
    }
}

/// A chunked body sent a byte at a time reaches the upstream whole, re-framed by hyper; and a
/// WebSocket-style upgrade that the upstream declines closes the connection (the scanner does
/// not check what follows an upgrade request).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_bodies_arrive_whole_however_sent_and_declined_upgrades_close() {
    let rig = rig().await;
    let raw = b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    // Sent a byte at a time, so the hold spans many reads.
    let mut s = tokio::net::TcpStream::connect(rig.app.proxy_addr)
        .await
        .expect("connect");
    for b in raw.iter() {
        tokio::io::AsyncWriteExt::write_all(&mut s, std::slice::from_ref(b))
            .await
            .expect("write");
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while wire::parse_responses(&got).responses.is_empty() {
        let n = tokio::io::AsyncReadExt::read(&mut s, &mut buf)
            .await
            .expect("read");
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(wire::parse_responses(&got).status(), 200);
    let upstream = String::from_utf8_lossy(&rig.gatehouse.bytes()).into_owned();
    assert!(upstream.starts_with("POST /c HTTP/1.1\r\n"), "{upstream}");
    let body: String = upstream
        .split("\r\n\r\n")
        .skip(1)
        .collect::<Vec<_>>()
        .join("\r\n\r\n");
    // However hyper re-framed it (one chunk when the hold kept it whole, several when a slow
    // machine made the client's pauses end the hold), the data is the client's, in order.
    assert_eq!(dechunk(&body), "hello world", "{upstream}");

    let upgrade = b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n";
    let g = exchange(rig.app.proxy_addr, upgrade, 2, false).await;
    assert_eq!(g.status(), 200);
    assert_eq!(
        g.responses.len(),
        1,
        "the declined upgrade closed the connection"
    );
    assert!(g.responses[0]
        .head
        .to_ascii_lowercase()
        .contains("connection: close"));
}

/// A chunked body still arriving streams on (the client paused); if its framing then breaks,
/// the gateway answers 400 and the upstream never gets a complete request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_chunked_body_that_breaks_is_a_400() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rig = rig().await;
    let mut s = tokio::net::TcpStream::connect(rig.app.proxy_addr)
        .await
        .expect("connect");
    s.write_all(b"POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        .await
        .expect("write");
    crate::helpers::eventually(
        std::time::Duration::from_secs(5),
        "the first chunk upstream",
        || {
            let seen = String::from_utf8_lossy(&rig.gatehouse.bytes()).contains("hello");
            async move { seen.then_some(()) }
        },
    )
    .await;
    s.write_all(b"3\r\nhello\r\n0\r\n\r\n")
        .await
        .expect("write");
    let mut got = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut got)).await;
    let answer = wire::parse_responses(&got);
    assert_eq!(answer.status(), 400, "{:?}", String::from_utf8_lossy(&got));
    assert!(
        rig.gatehouse.lines().is_empty(),
        "no complete request upstream"
    );
}

/// The data of a chunked body (chunk extensions and trailers ignored).
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((line, after)) = rest.split_once("\r\n") {
        let size =
            usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(after.get(..size).unwrap_or(after));
        rest = after.get(size + 2..).unwrap_or("");
    }
    out
}
