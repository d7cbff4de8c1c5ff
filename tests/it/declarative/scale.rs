//! Declarative imports at size and under load: 10,000 routes through `/config` (timed, for
//! the record), and replacing the configuration while requests flow drops none of the
//! requests to a route present before and after.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::post_raw;
use crate::helpers::{client, reflect_upstream, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_routes_import_through_the_admin_api() {
    let app = TestApp::spawn().await;
    let mut doc = String::from("_format_version: \"3.0\"\nservices:\n");
    for s in 0..100 {
        doc.push_str(&format!(
            "- name: svc{s}\n  url: http://127.0.0.1:9/s{s}\n  routes:\n"
        ));
        for r in 0..100 {
            doc.push_str(&format!("  - name: r{s}-{r}\n    paths: [/s{s}/r{r}]\n"));
        }
    }
    let start = Instant::now();
    let (status, body) = post_raw(&app, "/config", "application/yaml", doc.clone()).await;
    let first = start.elapsed();
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["routes"].as_object().map(|m| m.len()), Some(10_000));
    let start = Instant::now();
    let (status, _) = post_raw(&app, "/config", "application/yaml", doc).await;
    println!(
        "10,000 routes: first import {first:?}, the same file again {:?}",
        start.elapsed()
    );
    assert_eq!(status, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacing_the_configuration_under_load_drops_no_request() {
    let app = TestApp::spawn().await;
    let up = reflect_upstream().await;
    let doc = |extra: &str| {
        format!(
            "_format_version: \"3.0\"\nservices:\n- name: echo\n  url: http://{}\n  routes:\n  - name: stay\n    paths: [/stay]\n  - name: {extra}\n    paths: [/{extra}]\n",
            up.addr
        )
    };
    assert_eq!(
        post_raw(&app, "/config", "application/yaml", doc("a"))
            .await
            .0,
        201
    );
    app.wait_for_proxy("/stay", 200).await;

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, bad) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let url = format!("{}/stay", app.proxy);
    let load = {
        let (stop, ok, bad) = (stop.clone(), ok.clone(), bad.clone());
        tokio::spawn(async move {
            let c = client();
            while !stop.load(Ordering::Relaxed) {
                match c.get(&url).send().await {
                    Ok(r) if r.status().as_u16() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                    _ => bad.fetch_add(1, Ordering::Relaxed),
                };
            }
        })
    };
    for i in 0..10 {
        let extra = if i % 2 == 0 { "b" } else { "a" };
        assert_eq!(
            post_raw(&app, "/config", "application/yaml", doc(extra))
                .await
                .0,
            201
        );
    }
    app.wait_for_proxy("/a", 200).await;
    stop.store(true, Ordering::Relaxed);
    load.await.expect("load task");
    assert!(ok.load(Ordering::Relaxed) > 0);
    assert_eq!(
        bad.load(Ordering::Relaxed),
        0,
        "requests to /stay failed during imports"
    );
}
