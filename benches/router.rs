//! Router micro-benchmark: compile time for 10,000 routes and median match time.
//! `cargo bench --bench router` prints both against the targets (100 ms, 2 µs). Under
//! `cargo test` (no `--bench` flag) it runs a small smoke version so the suite stays fast.

use std::time::{Duration, Instant};

use gatehouse::domain::Route;
use gatehouse::proxy::router::{RequestView, Router};
use http::HeaderMap;
use serde_json::json;
use uuid::Uuid;

fn routes(n: usize) -> Vec<Route> {
    (0..n)
        .map(|i| {
            let mut body =
                json!({ "name": format!("r{i}"), "paths": [format!("/svc{i}/v{}", i % 7)] });
            if i % 2 == 1 {
                body["methods"] = json!(["GET"]);
            }
            if i % 10 == 3 {
                body["hosts"] = json!([format!("h{i}.example.com")]);
            }
            if i % 50 == 7 {
                body["paths"] = json!([format!("~/re{i}/\\d+$")]);
            }
            let serde_json::Value::Object(m) = body else {
                unreachable!("object literal")
            };
            Route::parse(Uuid::new_v4(), i as i64, None, &m, None).expect("valid route")
        })
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (n, compiles, lookups) = if full {
        (10_000, 7, 200_000)
    } else {
        (200, 2, 2_000)
    };
    let rs = routes(n);

    let mut compile_times = Vec::new();
    let mut router = Router::default();
    for _ in 0..compiles {
        let started = Instant::now();
        let (r, errors) = Router::compile(&rs);
        compile_times.push(started.elapsed());
        assert!(errors.is_empty(), "{errors:?}");
        router = r;
    }

    let headers = HeaderMap::new();
    let paths: Vec<String> = (0..1024)
        .map(|k| match k % 4 {
            0 => format!("/svc{}/v{}/items", (k * 37) % n, ((k * 37) % n) % 7),
            1 => format!("/svc{}/v{}", (k * 11) % n, ((k * 11) % n) % 7),
            2 => format!("/re{}/123", (k * 50 + 7) % n),
            _ => format!("/missing/{k}"),
        })
        .collect();
    let mut samples = Vec::with_capacity(lookups / 64);
    let mut hits = 0usize;
    for chunk in 0..lookups / 64 {
        let started = Instant::now();
        for j in 0..64 {
            let path = &paths[(chunk * 64 + j) % paths.len()];
            let view = RequestView {
                method: "GET",
                host: Some("localhost"),
                path,
                headers: &headers,
                local_port: 8000,
                sni: None,
            };
            if std::hint::black_box(router.find(&view)).is_some() {
                hits += 1;
            }
        }
        samples.push(started.elapsed() / 64);
    }
    assert!(hits > 0, "the benchmark must exercise matches");
    let compile = median(compile_times);
    let matching = median(samples);
    if !full {
        // Under `cargo test` this is a smoke run: it must work, and stays quiet so the test
        // runner's summary remains the last thing printed.
        return;
    }
    println!("router: {n} routes ({} candidates)", router.len());
    println!(
        "compile: median {:.1} ms (target < 100 ms) {}",
        compile.as_secs_f64() * 1e3,
        verdict(compile < Duration::from_millis(100))
    );
    println!(
        "match:   median {:.0} ns (target < 2000 ns) {}, {hits} of {} lookups matched",
        matching.as_nanos(),
        verdict(matching < Duration::from_micros(2)),
        (lookups / 64) * 64
    );
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "MISSED"
    }
}
