//! The proxy against real loopback upstreams: forwarded and hop-by-hop headers, Host rewriting,
//! Kong's error responses (404, 502, 504), methods and regex routes, bodies streamed both ways
//! without buffering, and configuration changes under load.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};

use crate::helpers::{
    self, client, closed_port, create, full, get_json, hyper_upstream, poll_status,
    service_with_route, TestApp,
};

const NO_ROUTE: &str = r#"{"message":"no Route matched with those values"}"#;
const BAD_GATEWAY: &str = "An invalid response was received from the upstream server";
const TIMED_OUT: &str = "The upstream server is timed out";

const CHUNK: usize = 64 * 1024;
const TOTAL: u64 = 100 * 1024 * 1024;
const CHUNKS: u64 = TOTAL / CHUNK as u64;

// ---------------------------------------------------------------------------------------------
// helpers

fn header<'a>(echo: &'a Value, name: &str) -> &'a Value {
    &echo["headers"][name]
}

// ---------------------------------------------------------------------------------------------
// headers

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_via_hop_by_hop_and_host_headers() {
    let app = TestApp::spawn().await;
    let up = helpers::reflect_upstream().await;
    let url = format!("http://{}", up.addr);
    service_with_route(
        &app,
        "fwd",
        &url,
        json!({}),
        json!({"name": "fwd", "paths": ["/fwd"]}),
    )
    .await;
    create(
        &app,
        "/routes",
        json!({"name": "keep", "paths": ["/keep"], "preserve_host": true, "strip_path": false,
               "service": {"name": "fwd"}}),
    )
    .await;
    app.wait_for_proxy("/fwd", 200).await;
    app.wait_for_proxy("/keep", 200).await;
    let client = client();

    // Control: sent straight to the upstream, the hop-by-hop headers do arrive.
    let direct: Value = client
        .get(format!("{url}/direct"))
        .header("Connection", "x-secret")
        .header("X-Secret", "1")
        .header("Keep-Alive", "timeout=5")
        .send()
        .await
        .expect("direct request")
        .json()
        .await
        .expect("echo json");
    assert_eq!(header(&direct, "x-secret"), "1", "{direct}");
    assert_eq!(header(&direct, "keep-alive"), "timeout=5", "{direct}");

    // Client-sent forwarding headers: X-Forwarded-For is extended, the others overwritten.
    let r = client
        .get(format!("{}/fwd/a/b?x=1", app.proxy))
        .header("Host", "client.example:1234")
        .header("X-Forwarded-For", "203.0.113.7")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "evil.example")
        .header("X-Forwarded-Port", "1")
        .header("X-Real-IP", "198.51.100.1")
        .header("Connection", "x-secret")
        .header("X-Secret", "1")
        .header("Keep-Alive", "timeout=5")
        .header("X-Kept", "yes")
        .send()
        .await
        .expect("proxy request");
    assert_eq!(r.status().as_u16(), 200);
    let via: Vec<String> = r
        .headers()
        .get_all("via")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    assert!(
        via.iter().any(|v| v.contains("1.1 gatehouse")),
        "response Via: {via:?}"
    );
    let echo: Value = r.json().await.expect("echo json");
    assert_eq!(echo["server"], up.addr.to_string());
    assert_eq!(echo["path"], "/a/b");
    assert_eq!(echo["query"], "x=1");
    assert_eq!(header(&echo, "x-forwarded-for"), "203.0.113.7, 127.0.0.1");
    assert_eq!(header(&echo, "x-real-ip"), "127.0.0.1");
    assert_eq!(header(&echo, "x-forwarded-proto"), "http");
    assert_eq!(header(&echo, "x-forwarded-host"), "client.example");
    assert_eq!(
        header(&echo, "x-forwarded-port"),
        app.proxy_addr.port().to_string().as_str()
    );
    assert_eq!(header(&echo, "x-forwarded-path"), "/fwd/a/b");
    assert_eq!(header(&echo, "x-forwarded-prefix"), "/fwd");
    assert_eq!(header(&echo, "via"), "1.1 gatehouse");
    assert_eq!(header(&echo, "x-kept"), "yes");
    // preserve_host false: the upstream sees its own host:port.
    assert_eq!(header(&echo, "host"), up.addr.to_string().as_str());
    // Hop-by-hop headers, and those Connection names, do not travel.
    assert!(header(&echo, "x-secret").is_null(), "{echo}");
    assert!(header(&echo, "keep-alive").is_null(), "{echo}");
    assert!(
        !header(&echo, "connection")
            .to_string()
            .to_ascii_lowercase()
            .contains("x-secret"),
        "{echo}"
    );

    // No client X-Forwarded-For: just the peer. preserve_host true: the client's Host.
    let r = client
        .get(format!("{}/keep/c", app.proxy))
        .header("Host", "client.example:1234")
        .send()
        .await
        .expect("proxy request");
    assert_eq!(r.status().as_u16(), 200);
    let echo: Value = r.json().await.expect("echo json");
    assert_eq!(echo["path"], "/keep/c");
    assert_eq!(header(&echo, "host"), "client.example:1234");
    assert_eq!(header(&echo, "x-forwarded-for"), "127.0.0.1");
    assert_eq!(header(&echo, "x-forwarded-host"), "client.example");
    assert!(
        header(&echo, "x-forwarded-prefix").is_null(),
        "nothing stripped, no prefix: {echo}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_response_headers_are_removed() {
    let app = TestApp::spawn().await;
    let addr = hyper_upstream(|_req| async {
        Response::builder()
            .header("Connection", "x-up-secret")
            .header("X-Up-Secret", "1")
            .header("Keep-Alive", "timeout=5")
            .header("X-Up-Kept", "1")
            .body(full("ok"))
            .expect("response")
    })
    .await;
    service_with_route(
        &app,
        "hop",
        &format!("http://{addr}"),
        json!({}),
        json!({"paths": ["/hop"]}),
    )
    .await;
    // Control: straight from the upstream, the hop-by-hop headers are there.
    let direct = client()
        .get(format!("http://{addr}/"))
        .send()
        .await
        .expect("direct request");
    assert!(direct.headers().get("x-up-secret").is_some());
    assert!(direct.headers().get("keep-alive").is_some());
    let r = app.wait_for_proxy("/hop", 200).await;
    let h = r.headers();
    assert_eq!(h.get("x-up-kept").map(|v| v.as_bytes()), Some(&b"1"[..]));
    assert!(h.get("x-up-secret").is_none(), "{h:?}");
    assert!(h.get("keep-alive").is_none(), "{h:?}");
    assert!(
        h.get_all("via")
            .iter()
            .any(|v| v.as_bytes() == b"1.1 gatehouse"),
        "{h:?}"
    );
    assert_eq!(r.text().await.expect("body"), "ok");
}

// ---------------------------------------------------------------------------------------------
// errors

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmatched_requests_get_kongs_404() {
    let app = TestApp::spawn().await;
    let client = client();
    // With no configuration at all.
    let r = client
        .get(format!("{}/anything", app.proxy))
        .send()
        .await
        .expect("proxy request");
    assert_eq!(r.status().as_u16(), 404);
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(ct.starts_with("application/json"), "content-type {ct}");
    assert_eq!(r.text().await.expect("body"), NO_ROUTE);

    // With a route that does not match.
    let up = helpers::reflect_upstream().await;
    service_with_route(
        &app,
        "a",
        &format!("http://{}", up.addr),
        json!({}),
        json!({"paths": ["/a"]}),
    )
    .await;
    app.wait_for_proxy("/a", 200).await;
    let r = client
        .get(format!("{}/b", app.proxy))
        .send()
        .await
        .expect("proxy request");
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(r.text().await.expect("body"), NO_ROUTE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_upstream_port_is_502_with_and_without_retries() {
    let app = TestApp::spawn().await;
    for (name, retries) in [("dead", 0), ("dead-retried", 3)] {
        let url = format!("http://127.0.0.1:{}", closed_port());
        service_with_route(
            &app,
            name,
            &url,
            json!({ "retries": retries }),
            json!({ "paths": [format!("/{name}")] }),
        )
        .await;
        let r = app.wait_for_proxy(&format!("/{name}"), 502).await;
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        assert!(ct.starts_with("application/json"), "content-type {ct}");
        let body: Value = r.json().await.expect("json error body");
        assert_eq!(body, json!({ "message": BAD_GATEWAY }), "{name}");
    }
    // The proxy keeps serving: a live route next to the dead ones.
    let up = helpers::reflect_upstream().await;
    service_with_route(
        &app,
        "alive",
        &format!("http://{}", up.addr),
        json!({}),
        json!({"paths": ["/alive"]}),
    )
    .await;
    app.wait_for_proxy("/alive", 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_slower_than_read_timeout_is_504() {
    let app = TestApp::spawn().await;
    service_with_route(
        &app,
        "slow",
        &format!("http://{}", app.echo_addr),
        json!({"read_timeout": 200}),
        json!({"paths": ["/slow"]}),
    )
    .await;
    app.wait_for_proxy("/slow/delay/0", 200).await;
    let client = client();
    let started = Instant::now();
    let (status, body) = get_json(&client, &format!("{}/slow/delay/2000", app.proxy)).await;
    let took = started.elapsed();
    assert_eq!(status, 504, "{body}");
    assert_eq!(body, json!({ "message": TIMED_OUT }));
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_millis(1500),
        "504 after {took:?}, read_timeout is 200 ms"
    );
    // A fast request on the same service still works afterwards.
    let (status, body) = get_json(&client, &format!("{}/slow/delay/10", app.proxy)).await;
    assert_eq!((status, body), (200, json!({"delay": 10})));
}

// ---------------------------------------------------------------------------------------------
// matching

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_filter_and_regex_paths_strip() {
    let app = TestApp::spawn().await;
    let up = helpers::reflect_upstream().await;
    service_with_route(
        &app,
        "m",
        &format!("http://{}", up.addr),
        json!({}),
        json!({"name": "get-only", "paths": ["/get-only"], "methods": ["GET"]}),
    )
    .await;
    create(
        &app,
        "/routes",
        json!({"name": "items", "paths": ["~/items/\\d+"], "strip_path": true,
               "service": {"name": "m"}}),
    )
    .await;
    app.wait_for_proxy("/get-only", 200).await;
    app.wait_for_proxy("/items/1", 200).await;
    let client = client();

    let r = client
        .post(format!("{}/get-only", app.proxy))
        .body("x")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(r.text().await.expect("body"), NO_ROUTE);
    let (status, echo) = get_json(&client, &format!("{}/get-only/z", app.proxy)).await;
    assert_eq!(status, 200);
    assert_eq!(
        (echo["method"].as_str(), echo["path"].as_str()),
        (Some("GET"), Some("/z"))
    );

    // The regex's whole match is stripped; the rest and the query go upstream.
    let (status, echo) = get_json(&client, &format!("{}/items/42/detail?x=1", app.proxy)).await;
    assert_eq!(status, 200);
    assert_eq!(echo["path"], "/detail");
    assert_eq!(echo["query"], "x=1");
    assert_eq!(header(&echo, "x-forwarded-prefix"), "/items/42");
    assert_eq!(header(&echo, "x-forwarded-path"), "/items/42/detail");
    let (status, echo) = get_json(&client, &format!("{}/items/7", app.proxy)).await;
    assert_eq!((status, echo["path"].as_str()), (200, Some("/")));
    let (status, _) = get_json(&client, &format!("{}/items/abc", app.proxy)).await;
    assert_eq!(status, 404);
}

// ---------------------------------------------------------------------------------------------
// streaming

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100mb_request_body_streams_through() {
    let app = TestApp::spawn().await;
    // The upstream counts the bytes it reads and says when the first ones arrive.
    let first_bytes = Arc::new(Notify::new());
    let notify = first_bytes.clone();
    let addr = hyper_upstream(move |req: Request<Incoming>| {
        let notify = notify.clone();
        async move {
            let mut body = req.into_body();
            let mut n: u64 = 0;
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(f) => {
                        if let Some(d) = f.data_ref() {
                            if n == 0 && !d.is_empty() {
                                notify.notify_one();
                            }
                            n += d.len() as u64;
                        }
                    }
                    Err(e) => {
                        return Response::builder()
                            .status(500)
                            .body(full(format!("body error after {n} bytes: {e}")))
                            .expect("response")
                    }
                }
            }
            Response::new(full(n.to_string()))
        }
    })
    .await;
    service_with_route(
        &app,
        "sink",
        &format!("http://{addr}"),
        json!({}),
        json!({"paths": ["/sink"]}),
    )
    .await;
    app.wait_for_proxy("/sink", 200).await;

    // The client's body comes from a channel the test feeds by hand.
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let request = client()
        .post(format!("{}/sink", app.proxy))
        .body(reqwest::Body::wrap_stream(stream))
        .send();
    let response = tokio::spawn(async move {
        let r = request.await?;
        let status = r.status().as_u16();
        Ok::<_, reqwest::Error>((status, r.text().await?))
    });

    let chunk = Bytes::from(vec![b'r'; CHUNK]);
    tx.send(Ok(chunk.clone())).await.expect("first chunk");
    tokio::time::timeout(Duration::from_secs(10), first_bytes.notified())
        .await
        .expect(
            "the upstream received nothing while the client held back the rest of the body: \
             the proxy buffers request bodies",
        );
    let started = Instant::now();
    for _ in 1..CHUNKS {
        tx.send(Ok(chunk.clone())).await.expect("next chunk");
    }
    drop(tx);
    let (status, text) = tokio::time::timeout(Duration::from_secs(60), response)
        .await
        .expect("the response never came")
        .expect("request task")
        .expect("request");
    println!("100 MB request body streamed in {:?}", started.elapsed());
    assert_eq!(status, 200, "{text}");
    assert_eq!(text, TOTAL.to_string(), "bytes the upstream received");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100mb_response_body_streams_through() {
    let app = TestApp::spawn().await;
    // The upstream sends one chunk, then waits until the client has read it.
    let client_read = Arc::new(Notify::new());
    let gate = client_read.clone();
    let addr = hyper_upstream(move |req: Request<Incoming>| {
        let gate = gate.clone();
        async move {
            if req.method() != hyper::Method::GET {
                return Response::builder()
                    .status(204)
                    .body(full(""))
                    .expect("response");
            }
            let (tx, mut rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
            tokio::spawn(async move {
                let chunk = Bytes::from(vec![b's'; CHUNK]);
                if tx.send(Ok(Frame::data(chunk.clone()))).await.is_err() {
                    return;
                }
                if tokio::time::timeout(Duration::from_secs(30), gate.notified())
                    .await
                    .is_err()
                {
                    return; // ends the body short; the client's count will fail
                }
                for _ in 1..CHUNKS {
                    if tx.send(Ok(Frame::data(chunk.clone()))).await.is_err() {
                        return;
                    }
                }
            });
            let body = StreamBody::new(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
            Response::builder()
                .header("content-length", TOTAL)
                .body(UnsyncBoxBody::new(body))
                .expect("response")
        }
    })
    .await;
    service_with_route(
        &app,
        "source",
        &format!("http://{addr}"),
        json!({}),
        json!({"paths": ["/source"]}),
    )
    .await;
    // Wait for the route with a request the upstream answers without streaming.
    let client = client();
    let probe = format!("{}/source", app.proxy);
    helpers::eventually(Duration::from_secs(5), "the /source route", || async {
        let r = client.request(Method::OPTIONS, &probe).send().await.ok()?;
        (r.status().as_u16() == 204).then_some(())
    })
    .await;

    let mut r = tokio::time::timeout(
        Duration::from_secs(10),
        client.get(format!("{}/source", app.proxy)).send(),
    )
    .await
    .expect("no response head within 10 s")
    .expect("proxy request");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.content_length(), Some(TOTAL));
    let first = tokio::time::timeout(Duration::from_secs(10), r.chunk())
        .await
        .expect(
            "the client got nothing while the upstream held back the rest of the body: \
             the proxy buffers response bodies",
        )
        .expect("first chunk")
        .expect("a first chunk, not the end");
    let started = Instant::now();
    let mut n = first.len() as u64;
    client_read.notify_one();
    while let Some(c) = tokio::time::timeout(Duration::from_secs(30), r.chunk())
        .await
        .expect("the response body stalled")
        .expect("response chunk")
    {
        n += c.len() as u64;
    }
    println!("100 MB response body streamed in {:?}", started.elapsed());
    assert_eq!(n, TOTAL, "bytes the client received");
}

// ---------------------------------------------------------------------------------------------
// live reconfiguration

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_reconfiguration_under_load_fails_no_request() {
    const CLIENTS: usize = 4;
    let app = TestApp::spawn().await;
    let up = helpers::reflect_upstream().await;
    service_with_route(
        &app,
        "live",
        &format!("http://{}", up.addr),
        json!({}),
        json!({"name": "live", "paths": ["/live"]}),
    )
    .await;
    app.wait_for_proxy("/live/x", 200).await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..CLIENTS {
        let url = format!("{}/live/x", app.proxy);
        let stop = stop.clone();
        let upstream = up.addr.to_string();
        workers.push(tokio::spawn(async move {
            let client = client();
            let mut ok = 0u64;
            let mut failed = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match client.get(&url).send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        match r.json::<Value>().await {
                            Ok(echo) if status == 200 && echo["server"] == upstream.as_str() => {
                                ok += 1
                            }
                            Ok(echo) => failed.push(format!("status {status}: {echo}")),
                            Err(e) => failed.push(format!("status {status}, body: {e}")),
                        }
                    }
                    Err(e) => failed.push(format!("request: {e}")),
                }
            }
            (ok, failed)
        }));
    }

    let client = client();
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut round = 0u32;
    while started.elapsed() < Duration::from_secs(2) || round < 3 {
        // A new route: measure how long until the proxy serves it.
        let path = format!("/extra-{round}");
        create(
            &app,
            "/routes",
            json!({"name": format!("extra-{round}"), "paths": [path],
                   "service": {"name": "live"}}),
        )
        .await;
        let written = Instant::now();
        poll_status(&client, &format!("{}{path}", app.proxy), 200).await;
        latencies.push(written.elapsed());

        // A new service path: the hammered route follows it.
        let base = format!("/v{round}");
        let (status, body) = app
            .admin_json(Method::PATCH, "/services/live", json!({ "path": base }))
            .await;
        assert_eq!(status, 200, "PATCH service: {body}");
        let want = format!("{base}/probe");
        let probe = format!("{}/live/probe", app.proxy);
        helpers::eventually(Duration::from_secs(5), "the new service path", || async {
            let (status, echo) = get_json(&client, &probe).await;
            (status == 200 && echo["path"] == want.as_str()).then_some(())
        })
        .await;

        // The previous extra route goes away.
        if round > 0 {
            let r = app
                .admin(Method::DELETE, &format!("/routes/extra-{}", round - 1))
                .send()
                .await
                .expect("delete route");
            assert_eq!(r.status().as_u16(), 204);
            poll_status(&client, &format!("{}/extra-{}", app.proxy, round - 1), 404).await;
        }
        round += 1;
    }
    stop.store(true, Ordering::Relaxed);

    let mut ok = 0;
    let mut failed = Vec::new();
    for w in workers {
        let (n, f) = w.await.expect("client task");
        ok += n;
        failed.extend(f);
    }
    latencies.sort();
    let max = latencies.last().copied().unwrap_or_default();
    println!(
        "{round} reconfiguration rounds in {:?}; {ok} requests served, {} failed; \
         new route served after: median {:?}, max {max:?}",
        started.elapsed(),
        failed.len(),
        latencies[latencies.len() / 2],
    );
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during reconfiguration, first: {:?}",
        failed.len(),
        ok as usize + failed.len(),
        &failed[..failed.len().min(10)]
    );
    assert!(ok >= 100, "only {ok} requests were made under load");
    assert!(
        max < Duration::from_secs(1),
        "a new route took {max:?} to be served"
    );
}
