//! Kong's Upstream and Target objects end to end: the Admin API shapes, and the proxy balancing
//! real loopback upstreams by weight, by hash and by health (passive, active and set by hand),
//! moving to the next target when one fails.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::Response;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{client, closed_port, create, eventually, full, hyper_upstream, TestApp};

/// An upstream answering every request with `name` (and `status`), counting its hits.
struct Tagged {
    addr: std::net::SocketAddr,
    hits: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

async fn tagged(name: &'static str) -> Tagged {
    let hits = Arc::new(AtomicUsize::new(0));
    let failing = Arc::new(AtomicBool::new(false));
    let (h, f) = (hits.clone(), failing.clone());
    let addr = hyper_upstream(move |_req| {
        let (h, f) = (h.clone(), f.clone());
        async move {
            h.fetch_add(1, Ordering::SeqCst);
            let mut r = Response::new(full(name));
            if f.load(Ordering::SeqCst) {
                *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            }
            r
        }
    })
    .await;
    Tagged {
        addr,
        hits,
        failing,
    }
}

/// An upstream object `name` with `targets` (address, weight), a service pointing at it and a
/// route on `path`.
async fn balanced(
    app: &TestApp,
    name: &str,
    upstream: Value,
    targets: &[(String, u32)],
    path: &str,
) {
    let mut u = upstream;
    u["name"] = json!(name);
    create(app, "/upstreams", u).await;
    for (t, w) in targets {
        create(
            app,
            &format!("/upstreams/{name}/targets"),
            json!({"target": t, "weight": w}),
        )
        .await;
    }
    create(
        app,
        "/services",
        json!({"name": format!("{name}-svc"), "host": name, "retries": 3}),
    )
    .await;
    create(
        app,
        "/routes",
        json!({"name": format!("{name}-route"), "paths": [path], "service": {"name": format!("{name}-svc")}}),
    )
    .await;
}

/// Sends `n` GETs to `path` and counts the bodies.
async fn tally(
    app: &TestApp,
    path: &str,
    n: usize,
    header: Option<(&str, String)>,
) -> HashMap<String, usize> {
    let c = client();
    let mut out = HashMap::new();
    for _ in 0..n {
        let mut req = c.get(format!("{}{path}", app.proxy));
        if let Some((k, v)) = &header {
            req = req.header(*k, v);
        }
        let r = req.send().await.expect("proxy request");
        let status = r.status().as_u16();
        let body = r.text().await.expect("body");
        *out.entry(if status == 200 {
            body
        } else {
            status.to_string()
        })
        .or_default() += 1;
    }
    out
}

async fn health(app: &TestApp, upstream: &str) -> HashMap<String, String> {
    let (status, body) = app
        .admin_json(
            Method::GET,
            &format!("/upstreams/{upstream}/health"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                t["target"].as_str().unwrap_or("").to_string(),
                t["health"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

async fn wait_health(app: &TestApp, upstream: &str, target: &str, want: &str) {
    eventually(
        Duration::from_secs(5),
        &format!("{target} to be {want}"),
        || async {
            (health(app, upstream).await.get(target).map(String::as_str) == Some(want))
                .then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_and_target_admin_api_follow_kong() {
    let app = TestApp::spawn().await;
    let (status, u) = app
        .admin_json(Method::POST, "/upstreams", json!({"name": "orders.v1"}))
        .await;
    assert_eq!(status, 201, "{u}");
    assert_eq!(u["algorithm"], "round-robin");
    assert_eq!(u["slots"], 10000);
    assert_eq!(u["hash_on"], "none");
    assert_eq!(u["healthchecks"]["active"]["http_path"], "/");
    assert_eq!(
        u["healthchecks"]["passive"]["unhealthy"]["http_statuses"],
        json!([429, 500, 503])
    );

    // Kong's form encoding, nested keys included.
    let r = app
        .admin(Method::POST, "/upstreams")
        .form(&[
            ("name", "billing"),
            ("algorithm", "least-connections"),
            ("healthchecks.active.healthy.interval", "5"),
            ("healthchecks.passive.unhealthy.tcp_failures", "2"),
            ("tags[]", "team-a"),
        ])
        .send()
        .await
        .expect("form post");
    assert_eq!(r.status().as_u16(), 201);
    let billing: Value = r.json().await.expect("json");
    assert_eq!(
        billing["healthchecks"]["active"]["healthy"]["interval"],
        5.0
    );
    assert_eq!(
        billing["healthchecks"]["passive"]["unhealthy"]["tcp_failures"],
        2
    );
    assert_eq!(billing["tags"], json!(["team-a"]));

    // PATCH merges nested healthchecks instead of replacing them.
    let (status, patched) = app
        .admin_json(
            Method::PATCH,
            "/upstreams/billing",
            json!({"healthchecks": {"active": {"timeout": 3}}}),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["healthchecks"]["active"]["timeout"], 3.0);
    assert_eq!(
        patched["healthchecks"]["active"]["healthy"]["interval"],
        5.0
    );

    let (status, dup) = app
        .admin_json(Method::POST, "/upstreams", json!({"name": "orders.v1"}))
        .await;
    assert_eq!(status, 409, "{dup}");
    assert_eq!(dup["name"], "unique constraint violation");
    let (status, bad) = app
        .admin_json(
            Method::POST,
            "/upstreams",
            json!({"name": "x", "algorithm": "fastest", "hash_on": "header"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(bad["fields"]["algorithm"].is_string(), "{bad}");
    assert!(bad["fields"]["hash_on_header"].is_string(), "{bad}");

    // Targets: Kong's default port, weight bounds, unique per upstream, nested lookups.
    let (status, t) = app
        .admin_json(
            Method::POST,
            "/upstreams/orders.v1/targets",
            json!({"target": "10.1.2.3"}),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    assert_eq!(t["target"], "10.1.2.3:8000");
    assert_eq!(t["weight"], 100);
    assert_eq!(t["upstream"]["id"], u["id"]);
    let (status, _) = app
        .admin_json(
            Method::POST,
            "/upstreams/orders.v1/targets",
            json!({"target": "10.1.2.3:8000"}),
        )
        .await;
    assert_eq!(status, 409, "the same target twice in one upstream");
    let (status, _) = app
        .admin_json(
            Method::POST,
            "/upstreams/billing/targets",
            json!({"target": "10.1.2.3:8000"}),
        )
        .await;
    assert_eq!(status, 201, "the same address in another upstream is fine");
    let (status, bad) = app
        .admin_json(
            Method::POST,
            "/upstreams/orders.v1/targets",
            json!({"target": "not a host", "weight": 70000}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        bad["fields"]["target"].is_string() && bad["fields"]["weight"].is_string(),
        "{bad}"
    );
    let (status, list) = app
        .admin_json(Method::GET, "/upstreams/orders.v1/targets", Value::Null)
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
    let (status, got) = app
        .admin_json(
            Method::GET,
            &format!(
                "/upstreams/{}/targets/10.1.2.3:8000",
                u["id"].as_str().unwrap_or("")
            ),
            Value::Null,
        )
        .await;
    assert_eq!((status, &got["id"]), (200, &t["id"]));
    let (status, _) = app
        .admin_json(
            Method::GET,
            "/upstreams/billing/targets/{id}"
                .replace("{id}", t["id"].as_str().unwrap_or(""))
                .as_str(),
            Value::Null,
        )
        .await;
    assert_eq!(status, 404, "a target is only found under its own upstream");

    // Deleting an upstream takes its targets with it.
    let r = app
        .admin(Method::DELETE, "/upstreams/orders.v1")
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status().as_u16(), 204);
    let (status, _) = app
        .admin_json(Method::GET, "/upstreams/orders.v1/targets", Value::Null)
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .admin_json(
            Method::GET,
            &format!("/upstreams/{}", u["id"].as_str().unwrap_or("")),
            Value::Null,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_round_robin_spreads_requests_by_weight() {
    let app = TestApp::spawn().await;
    let (a, b, c) = (tagged("a").await, tagged("b").await, tagged("c").await);
    balanced(
        &app,
        "rr",
        json!({}),
        &[
            (a.addr.to_string(), 100),
            (b.addr.to_string(), 50),
            (c.addr.to_string(), 50),
        ],
        "/rr",
    )
    .await;
    app.wait_for_proxy("/rr", 200).await;
    let before = [&a, &b, &c].map(|t| t.hits.load(Ordering::SeqCst));
    tally(&app, "/rr", 400, None).await;
    let got = [&a, &b, &c].map(|t| t.hits.load(Ordering::SeqCst));
    let delta: Vec<usize> = got.iter().zip(before).map(|(g, b)| g - b).collect();
    assert_eq!(delta, vec![200, 100, 100], "weights 100:50:50");

    // A weight of 0 takes a target out of rotation.
    let (status, _) = app
        .admin_json(
            Method::PATCH,
            &format!("/upstreams/rr/targets/{}", a.addr),
            json!({"weight": 0}),
        )
        .await;
    assert_eq!(status, 200);
    eventually(Duration::from_secs(5), "weight 0 to apply", || async {
        (!tally(&app, "/rr", 10, None).await.contains_key("a")).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_hashing_keeps_a_client_on_one_target() {
    let app = TestApp::spawn().await;
    let (a, b, c) = (tagged("a").await, tagged("b").await, tagged("c").await);
    balanced(
        &app,
        "sticky",
        json!({"algorithm": "consistent-hashing", "hash_on": "header", "hash_on_header": "x-user"}),
        &[
            (a.addr.to_string(), 100),
            (b.addr.to_string(), 100),
            (c.addr.to_string(), 100),
        ],
        "/sticky",
    )
    .await;
    app.wait_for_proxy("/sticky", 200).await;
    let mut used = HashMap::new();
    for user in 0..30 {
        let seen = tally(&app, "/sticky", 5, Some(("x-user", format!("user-{user}")))).await;
        assert_eq!(seen.len(), 1, "user-{user} was spread over {seen:?}");
        for k in seen.keys() {
            *used.entry(k.clone()).or_insert(0) += 1;
        }
    }
    assert_eq!(used.len(), 3, "30 users hash onto every target: {used:?}");

    // Cookie hashing hands out a cookie and then follows it.
    let (status, _) = app
        .admin_json(
            Method::PATCH,
            "/upstreams/sticky",
            json!({"hash_on": "cookie", "hash_on_cookie": "gh-sticky", "hash_on_header": null}),
        )
        .await;
    assert_eq!(status, 200);
    let c = client();
    let cookie = eventually(Duration::from_secs(5), "a sticky cookie", || async {
        let r = c.get(format!("{}/sticky", app.proxy)).send().await.ok()?;
        r.headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").to_string())
    })
    .await;
    assert!(cookie.starts_with("gh-sticky="), "{cookie}");
    let seen = tally(&app, "/sticky", 10, Some(("cookie", cookie))).await;
    assert_eq!(seen.len(), 1, "{seen:?}");

    // A named capture of the route's regex path (Kong's uri_capture).
    create(
        &app,
        "/routes",
        json!({"paths": ["~/users/(?<user>[a-z0-9-]+)"], "service": {"name": "sticky-svc"}}),
    )
    .await;
    let (status, body) = app
        .admin_json(
            Method::PATCH,
            "/upstreams/sticky",
            json!({"hash_on": "uri_capture", "hash_on_uri_capture": "user", "hash_on_cookie": null}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    app.wait_for_proxy("/users/u0/x", 200).await;
    let mut used = HashMap::new();
    for user in 0..30 {
        let seen = eventually(Duration::from_secs(5), "uri_capture hashing", || async {
            let seen = tally(&app, &format!("/users/u{user}/orders/{user}"), 5, None).await;
            (seen.len() == 1).then_some(seen)
        })
        .await;
        for k in seen.keys() {
            *used.entry(k.clone()).or_insert(0) += 1;
        }
    }
    assert_eq!(used.len(), 3, "{used:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_target_is_skipped_and_marked_unhealthy_by_passive_checks() {
    let app = TestApp::spawn().await;
    let live = tagged("live").await;
    let dead = format!("127.0.0.1:{}", closed_port());
    balanced(
        &app,
        "pass",
        json!({"healthchecks": {"passive": {"unhealthy": {"tcp_failures": 1, "http_failures": 2}}}}),
        &[(dead.clone(), 100), (live.addr.to_string(), 100)],
        "/pass",
    )
    .await;
    app.wait_for_proxy("/pass", 200).await;
    // Connect failures move the request to the next target: every request succeeds.
    let seen = tally(&app, "/pass", 20, None).await;
    assert_eq!(seen.get("live"), Some(&20), "{seen:?}");
    wait_health(&app, "pass", &dead, "UNHEALTHY").await;
    assert_eq!(
        health(&app, "pass")
            .await
            .get(&live.addr.to_string())
            .map(String::as_str),
        Some("HEALTHY")
    );

    // Passive HTTP failures: a target answering 500 is taken out after two of them.
    let flaky = tagged("flaky").await;
    create(
        &app,
        "/upstreams/pass/targets",
        json!({"target": flaky.addr.to_string()}),
    )
    .await;
    eventually(
        Duration::from_secs(5),
        "the new target to serve",
        || async { tally(&app, "/pass", 4, None).await.get("flaky").map(|_| ()) },
    )
    .await;
    flaky.failing.store(true, Ordering::SeqCst);
    wait_health_after_traffic(&app, "pass", &flaky.addr.to_string(), "/pass").await;
    let seen = tally(&app, "/pass", 10, None).await;
    assert_eq!(seen.get("live"), Some(&10), "{seen:?}");

    // Set by hand through the Admin API, as Kong allows.
    let r = app
        .admin(
            Method::POST,
            &format!("/upstreams/pass/targets/{}/healthy", flaky.addr),
        )
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 204);
    flaky.failing.store(false, Ordering::SeqCst);
    wait_health(&app, "pass", &flaky.addr.to_string(), "HEALTHY").await;
    let r = app
        .admin(
            Method::POST,
            &format!("/upstreams/pass/targets/{}/unhealthy", live.addr),
        )
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 204);
    let seen = tally(&app, "/pass", 6, None).await;
    assert_eq!(seen.get("flaky"), Some(&6), "{seen:?}");

    // Nothing healthy left: Kong's 503.
    for t in [flaky.addr.to_string(), dead.clone()] {
        app.admin(
            Method::POST,
            &format!("/upstreams/pass/targets/{t}/unhealthy"),
        )
        .send()
        .await
        .expect("post");
    }
    let r = client()
        .get(format!("{}/pass", app.proxy))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 503);
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        body["message"],
        "failure to get a peer from the ring-balancer"
    );
}

async fn wait_health_after_traffic(app: &TestApp, upstream: &str, target: &str, path: &str) {
    eventually(
        Duration::from_secs(5),
        &format!("{target} to turn unhealthy"),
        || async {
            tally(app, path, 3, None).await;
            (health(app, upstream).await.get(target).map(String::as_str) == Some("UNHEALTHY"))
                .then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_checks_take_a_target_out_and_bring_it_back() {
    let app = TestApp::spawn().await;
    let (a, b) = (tagged("a").await, tagged("b").await);
    balanced(
        &app,
        "act",
        json!({"healthchecks": {"active": {
            "http_path": "/status",
            "timeout": 1,
            "healthy": {"interval": 0.1, "successes": 1},
            "unhealthy": {"interval": 0.1, "http_failures": 1, "tcp_failures": 1}
        }}}),
        &[(a.addr.to_string(), 100), (b.addr.to_string(), 100)],
        "/act",
    )
    .await;
    app.wait_for_proxy("/act", 200).await;
    wait_health(&app, "act", &a.addr.to_string(), "HEALTHY").await;
    let probes_before = a.hits.load(Ordering::SeqCst);
    eventually(
        Duration::from_secs(5),
        "active probes to reach the target",
        || async { (a.hits.load(Ordering::SeqCst) > probes_before + 2).then_some(()) },
    )
    .await;

    a.failing.store(true, Ordering::SeqCst);
    wait_health(&app, "act", &a.addr.to_string(), "UNHEALTHY").await;
    let seen = tally(&app, "/act", 10, None).await;
    assert_eq!(seen.get("b"), Some(&10), "{seen:?}");

    a.failing.store(false, Ordering::SeqCst);
    wait_health(&app, "act", &a.addr.to_string(), "HEALTHY").await;
    let seen = tally(&app, "/act", 10, None).await;
    assert_eq!(
        (seen.get("a"), seen.get("b")),
        (Some(&5), Some(&5)),
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_idempotent_bodiless_requests_are_replayed_after_the_upstream_saw_them() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    // A target that reads the request head and hangs up without answering.
    let rude = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let rude_addr = rude.local_addr().expect("addr");
    let rude_seen = Arc::new(AtomicUsize::new(0));
    let seen = rude_seen.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = rude.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s.shutdown().await;
        }
    });
    let good = tagged("good").await;
    balanced(
        &app,
        "replay",
        json!({}),
        &[(rude_addr.to_string(), 100), (good.addr.to_string(), 100)],
        "/replay",
    )
    .await;
    app.wait_for_proxy("/replay", 200).await;
    let gets = tally(&app, "/replay", 10, None).await;
    assert_eq!(
        gets.get("good"),
        Some(&10),
        "GETs are replayed on the next target: {gets:?}"
    );
    assert!(
        rude_seen.load(Ordering::SeqCst) >= 5,
        "the rude target was tried"
    );

    let c = client();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = c
            .post(format!("{}/replay", app.proxy))
            .body("order=1")
            .send()
            .await
            .expect("post");
        statuses.push(r.status().as_u16());
    }
    statuses.sort();
    assert_eq!(
        statuses,
        vec![200, 200, 502, 502],
        "a POST the upstream may have seen is not sent twice"
    );
}
