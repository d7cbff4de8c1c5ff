//! Bounded fuzzing with a fixed seed (so a failure replays): mutated raw requests, seeded from
//! the side-by-side cases, against the running proxy; random paths through `normalize` and
//! random requests through a compiled router. No panic, no hang, every answer well-formed.

use std::time::{Duration, Instant};

use gatehouse::domain::Route;
use gatehouse::proxy::paths::normalize;
use gatehouse::proxy::router::{RequestView, Router};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::wire::exchange;

const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b"\0",
    b" ",
    b"\t",
    b":",
    b";",
    b"%00",
    b"%2e",
    b"/..",
    b"//",
    b"Content-Length: 3\r\n",
    b"Content-Length: 0\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Host: y\r\n",
    b"Connection: close\r\n",
    b"Expect: 100-continue\r\n",
    b"0\r\n\r\n",
    b"ffffffffffffffffff",
    b"\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"HTTP/1.0",
];

fn mutate(rng: &mut StdRng, input: &mut Vec<u8>) {
    let at = rng.gen_range(0..=input.len());
    match rng.gen_range(0..6) {
        0 if !input.is_empty() => {
            let i = at.min(input.len() - 1);
            input[i] = rng.gen();
        }
        1 => input.insert(at, rng.gen()),
        2 if at < input.len() => {
            let end = (at + rng.gen_range(1..8)).min(input.len());
            input.drain(at..end);
        }
        3 | 4 => {
            let t = TOKENS[rng.gen_range(0..TOKENS.len())];
            input.splice(at..at, t.iter().copied());
        }
        _ => input.truncate(at),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_fuzz_the_proxy_answers_mutated_requests_with_well_formed_http() {
    let rig = super::rig().await;
    let seeds: Vec<Vec<u8>> = super::cases::all()
        .into_iter()
        .chain(super::cases::stricter().into_iter().map(|(c, _)| c))
        .map(|c| c.raw)
        .filter(|r| r.len() < 8 * 1024)
        .collect();
    let mut rng = StdRng::seed_from_u64(0x1_4);
    let started = Instant::now();
    let mut runs = 0;
    // A few thousand cases, bounded in time too so a slow machine stays under ~20 s.
    while runs < 2500 && started.elapsed() < Duration::from_secs(20) {
        let mut input = seeds[rng.gen_range(0..seeds.len())].clone();
        for _ in 0..rng.gen_range(1..5) {
            mutate(&mut rng, &mut input);
        }
        // The write side is shut once sent: whatever the proxy waits for, it must end.
        let sent = Instant::now();
        let answer = exchange(rig.app.proxy_addr, &input, usize::MAX, true).await;
        assert!(
            sent.elapsed() < Duration::from_secs(3),
            "the proxy hung on {:?}",
            String::from_utf8_lossy(&input)
        );
        assert!(
            !answer.garbage && answer.leftover == 0,
            "not a well-formed answer to {:?}: {answer:?}",
            String::from_utf8_lossy(&input)
        );
        for r in &answer.responses {
            assert!((200..600).contains(&r.status), "{r:?}");
        }
        runs += 1;
    }
    assert!(runs >= 500, "only {runs} runs in the time bound");
    // Still serving.
    let ok = exchange(
        rig.app.proxy_addr,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        1,
        false,
    )
    .await;
    assert_eq!(ok.status(), 200);
}

#[test]
fn strict_fuzz_normalize_and_the_router_take_any_path() {
    const PIECES: &[&str] = &[
        "/",
        "//",
        ".",
        "..",
        "/./",
        "/../",
        "%",
        "%2e",
        "%2E%2e",
        "%2f",
        "%00",
        "%zz",
        "%4",
        "a",
        "admin",
        "mock",
        "~",
        "\u{e9}",
        "\u{1f600}",
        "?",
        "#",
        " ",
        "\0",
        "%41",
        "%7e",
    ];
    let routes: Vec<Route> = [
        json!({ "name": "a", "paths": ["/admin"] }),
        json!({ "name": "m", "paths": ["/mock"], "methods": ["GET"] }),
        json!({ "name": "r", "paths": ["~/re/(?<id>\\d+)$"] }),
        json!({ "name": "h", "hosts": ["*.example.com"], "paths": ["/"] }),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, v)| {
        let serde_json::Value::Object(m) = v else {
            unreachable!("object literals")
        };
        Route::parse(uuid::Uuid::new_v4(), i as i64, None, &m, None).expect("valid route")
    })
    .collect();
    let (router, errors) = Router::compile(&routes);
    assert!(errors.is_empty(), "{errors:?}");
    let headers = http::HeaderMap::new();
    let mut rng = StdRng::seed_from_u64(14);
    for _ in 0..20_000 {
        let mut path = String::from("/");
        for _ in 0..rng.gen_range(0..8) {
            path.push_str(PIECES[rng.gen_range(0..PIECES.len())]);
        }
        if let Ok(n) = normalize(&path) {
            assert!(n.starts_with('/'), "{path:?} -> {n:?}");
            assert!(
                !n.contains("//") && !n.contains("/./") && !n.contains("/../"),
                "{path:?} -> {n:?}"
            );
            assert_eq!(
                normalize(&n).as_deref(),
                Ok(&*n),
                "normalizing {path:?} twice"
            );
        }
        let host = ["x", "a.example.com", "", "[::1]:80", "example.com."][rng.gen_range(0..5)];
        let method = ["GET", "POST", "get", ""][rng.gen_range(0..4)];
        let found = router.find(&RequestView {
            method,
            host: Some(host),
            path: &path,
            headers: &headers,
            local_port: 8000,
            sni: None,
        });
        if let Some(m) = found {
            let _ = router.captures(&m, &path);
        }
    }
}
