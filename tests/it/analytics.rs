//! Analytics end to end: a known mix of requests through the proxy, then the console's numbers
//! compared exactly; percentiles against a known latency distribution from a delaying upstream;
//! retention, CSV and empty states.

use std::time::Duration;

use scraper::Html;
use serde_json::json;

use crate::helpers::{create, eventually, location, select_attr, select_text, TestApp};

fn text(html: &Html, css: &str) -> String {
    select_text(html, css).join(" ").trim().to_string()
}

/// A catalog service with version v.1 implemented by a gateway service on the echo upstream
/// and a route on `path`; returns (service page, version page).
async fn implemented_version(app: &TestApp, name: &str, path: &str) -> (String, String) {
    let csrf = app.csrf("/services/new").await;
    let r = app
        .post_form(
            "/services",
            &[
                ("csrf_token", &csrf),
                ("display_name", name),
                ("description", ""),
            ],
        )
        .await;
    let service = location(&r);
    let (_, html) = app.get_html(&format!("{service}/versions/new")).await;
    let group = select_attr(
        &html,
        "select[name=runtime_group_id] option[selected]",
        "value",
    );
    let r = app
        .post_form(
            &format!("{service}/versions"),
            &[
                ("csrf_token", &csrf),
                ("name", "v.1"),
                ("runtime_group_id", &group[0]),
            ],
        )
        .await;
    let version = location(&r);
    let echo = format!("http://{}", app.echo_addr);
    let svc_name = format!("{}-svc", name.to_lowercase().replace(' ', "-"));
    let route_name = format!("{}-route", name.to_lowercase().replace(' ', "-"));
    let r = app
        .post_form(
            &format!("{version}/implementation"),
            &[
                ("csrf_token", &csrf),
                ("svc_name", &svc_name),
                ("svc_mode", "url"),
                ("svc_url", &echo),
                ("route_name", &route_name),
                ("route_paths", path),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303, "implemented");
    (service, version)
}

async fn send(app: &TestApp, path: &str, times: usize) {
    for _ in 0..times {
        let r = app
            .client
            .get(format!("{}{path}", app.proxy))
            .send()
            .await
            .expect("proxy");
        r.bytes().await.expect("body");
    }
}

#[tokio::test]
async fn console_counts_equal_the_requests_sent() {
    let app = TestApp::spawn().await;
    app.login().await;
    let (service, version) = implemented_version(&app, "Billing", "/billing").await;
    app.wait_for_proxy("/billing/status/200", 200).await; // one 200 counted below
    send(&app, "/billing/status/200", 6).await;
    send(&app, "/billing/status/201", 1).await;
    send(&app, "/billing/status/404", 3).await;
    send(&app, "/billing/status/503", 2).await;
    send(&app, "/unrouted", 1).await; // a 404 of no route, outside the service's numbers

    // The version's panel, once the writer has flushed (it batches every 200 ms).
    let panel = format!("{version}/status-codes?frame=15m&view=table");
    let html = eventually(
        Duration::from_secs(10),
        "13 requests in the panel",
        || async {
            let (_, html) = app.get_html(&panel).await;
            (text(&html, "#status-total") == "13").then_some(html)
        },
    )
    .await;
    assert_eq!(select_text(&html, "[data-class='2xx']"), vec!["8"]);
    assert_eq!(select_text(&html, "[data-class='4xx']"), vec!["3"]);
    assert_eq!(select_text(&html, "[data-class='5xx']"), vec!["2"]);
    let rows: i64 = select_text(&html, "#status-series tbody td:nth-child(4)")
        .iter()
        .map(|v| v.parse::<i64>().expect("number"))
        .sum();
    assert_eq!(rows, 3, "the table view's 4xx column adds up");
    let (_, chart) = app
        .get_html(&format!("{version}/status-codes?frame=15m&view=chart"))
        .await;
    assert!(chart.html().contains("<svg"), "chart view renders an SVG");
    assert_eq!(select_attr(&chart, "#status-codes", "data-tz"), vec!["utc"]);
    let (_, local) = app
        .get_html(&format!("{version}/status-codes?frame=15m&tz=local"))
        .await;
    assert_eq!(
        select_attr(&local, "#status-codes", "data-tz"),
        vec!["local"]
    );

    // CSV of the same frame.
    let csv = app
        .client
        .get(format!(
            "{}{version}/status-codes.csv?frame=15m",
            app.console
        ))
        .send()
        .await
        .expect("csv")
        .text()
        .await
        .expect("body");
    assert!(csv.starts_with("status_code,count,percent\n"), "{csv}");
    assert!(
        csv.contains("\n404,3,23.08\n") && csv.contains("\n503,2,15.38\n"),
        "{csv}"
    );

    // Service page tiles and traffic per version.
    let (_, html) = app.get_html(&service).await;
    assert_eq!(text(&html, "#tile-traffic"), "13");
    assert_eq!(text(&html, "#tile-success"), "8");
    assert_eq!(text(&html, "#tile-failure"), "5");
    assert_eq!(text(&html, "#tile-error-rate"), "38.5 %");
    assert!(text(&html, "#traffic-per-version").contains("v.1 (default)"));
    assert!(text(&html, "#traffic-tiles").contains("new vs previous period"));

    // Catalog card, last 7 days.
    let (_, html) = app.get_html("/services").await;
    assert_eq!(text(&html, ".stat-requests"), "13");
    assert_eq!(text(&html, ".stat-errors"), "38.5 %");

    // Analytics page: everything (unrouted 404s too: the one sent, and any readiness poll that
    // came before the route was live), then filters.
    let (_, html) = app.get_html("/analytics?frame=15m").await;
    let all: i64 = text(&html, "#tile-traffic").parse().expect("number");
    let not_found: i64 = text(&html, "#errors-by-code [data-status='404'] td:nth-child(2)")
        .parse()
        .expect("number");
    assert!(
        all >= 14 && all - not_found == 10,
        "{all} requests, {not_found} 404s"
    );
    assert!(text(&html, "#top-routes").contains("billing-route"));
    let (_, routes) = app
        .admin_json(reqwest::Method::GET, "/routes/billing-route", json!(null))
        .await;
    let route_id = routes["id"].as_str().expect("route id").to_string();
    let (_, html) = app
        .get_html(&format!("/analytics?frame=15m&route={route_id}"))
        .await;
    assert_eq!(text(&html, "#tile-traffic"), "13");
    let (_, html) = app
        .get_html(&format!("/analytics?frame=15m&route={route_id}&class=5xx"))
        .await;
    assert_eq!(text(&html, "#tile-traffic"), "2");
    let csv = app
        .client
        .get(format!(
            "{}/analytics.csv?frame=15m&route={route_id}",
            app.console
        ))
        .send()
        .await
        .expect("csv")
        .text()
        .await
        .expect("body");
    let total: i64 = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.rsplit(',').next()?.parse::<i64>().ok())
        .sum();
    assert!(csv.starts_with("start_utc,1xx,2xx,3xx,4xx,5xx,total\n"));
    assert_eq!(total, 13, "{csv}");
}

#[tokio::test]
async fn percentiles_match_a_known_latency_distribution() {
    let app = TestApp::spawn().await;
    app.login().await;
    let echo = format!("http://{}", app.echo_addr);
    create(&app, "/services", json!({ "name": "slow", "url": echo })).await;
    let route = create(
        &app,
        "/services/slow/routes",
        json!({ "name": "slow", "paths": ["/slow"] }),
    )
    .await;
    app.wait_for_proxy("/slow/status/200", 200).await;
    send(&app, "/slow/status/200", 17).await; // 18 fast requests in all
    send(&app, "/slow/delay/300", 2).await; // and 2 slow ones: p95 and p99 are slow, p50 fast
    let store = app.running().store.clone();
    let since = gatehouse::domain::now_secs() * 1000 - 600_000;
    // Only routed requests: polls answered 404 before the route was live do not count.
    let route_id = uuid::Uuid::parse_str(route["id"].as_str().expect("id")).expect("uuid");
    let filter = gatehouse::store::AnalyticsFilter {
        route: Some(route_id),
        ..gatehouse::store::AnalyticsFilter::since(since)
    };
    let p = eventually(Duration::from_secs(10), "20 requests rolled up", || {
        let (store, filter) = (store.clone(), filter.clone());
        async move {
            let t = store.analytics_totals(&filter).await.ok()?;
            if t.requests != 20 {
                return None;
            }
            store.analytics_percentiles(&filter).await.ok()
        }
    })
    .await;
    // The exact percentiles from the raw samples fall in the buckets the histogram reports.
    let mut samples: Vec<i64> = store
        .list_request_records(since)
        .await
        .expect("records")
        .iter()
        .filter(|r| r.route_id == Some(route_id))
        .map(|r| r.latency_ms)
        .collect();
    samples.sort_unstable();
    assert_eq!(samples.len(), 20);
    let exact = |q: f64| samples[((20.0 * q).ceil() as usize).max(1) - 1];
    use gatehouse::telemetry::histogram::{bucket_of, bucket_value};
    assert_eq!(p.p50, Some(bucket_value(bucket_of(exact(0.5)))));
    assert_eq!(p.p95, Some(bucket_value(bucket_of(exact(0.95)))));
    assert_eq!(p.p99, Some(bucket_value(bucket_of(exact(0.99)))));
    assert!(p.p50.unwrap_or(999) < 100, "{p:?}");
    assert!((300..=400).contains(&p.p95.unwrap_or(0)), "{p:?}");

    // The same numbers on the Analytics page.
    let (_, html) = app.get_html("/analytics?frame=15m").await;
    assert_eq!(
        text(&html, "#tile-p95"),
        format!("{} ms", p.p95.unwrap_or(0))
    );
    assert_eq!(
        text(&html, "#tile-p99"),
        format!("{} ms", p.p99.unwrap_or(0))
    );
}

#[tokio::test]
async fn retention_prunes_old_analytics_and_empty_states_say_so() {
    let app = TestApp::spawn().await;
    app.login().await;
    let (_, version) = implemented_version(&app, "Quiet", "/quiet").await;
    let (_, html) = app
        .get_html(&format!("{version}/status-codes?frame=5m"))
        .await;
    assert!(text(&html, ".empty").contains("No requests in this time frame yet"));
    let (_, html) = app.get_html("/analytics?frame=5m").await;
    assert!(text(&html, "#analytics-empty").contains("No requests"));
    assert_eq!(text(&html, "#tile-p99"), "–");

    // Old and recent records, then a prune at a 30-day retention.
    let store = app.running().store.clone();
    let now = gatehouse::domain::now_secs() * 1000;
    let record = |ts_ms: i64| gatehouse::telemetry::RequestRecord {
        ts_ms,
        runtime_group_id: uuid::Uuid::nil(),
        service_id: None,
        route_id: None,
        version_id: None,
        consumer_id: None,
        method: http::Method::GET,
        status: 200,
        latency_ms: 5,
        upstream_latency_ms: Some(4),
        bytes_in: 0,
        bytes_out: 10,
    };
    // Separate batches: raw records are pruned a whole batch at a time.
    for ts in [now - 40 * 86_400_000, now - 1000] {
        store
            .insert_request_records(uuid::Uuid::nil(), &[record(ts)])
            .await
            .expect("insert");
    }
    let all = gatehouse::store::AnalyticsFilter::since(0);
    assert_eq!(
        store.analytics_totals(&all).await.expect("totals").requests,
        2
    );
    let pruned = store
        .prune_analytics(now - 30 * 86_400_000, now - 7 * 86_400_000)
        .await
        .expect("prune");
    assert_eq!(pruned, 1);
    assert_eq!(
        store.analytics_totals(&all).await.expect("totals").requests,
        1
    );
    assert_eq!(
        store.analytics_percentiles(&all).await.expect("p").p50,
        Some(5)
    );
    assert_eq!(
        store
            .prune_request_records(now - 86_400_000)
            .await
            .expect("raw"),
        1
    );

    let settings = gatehouse::settings::Settings {
        analytics_retention_days: 7,
        analytics_raw_retention_hours: 2,
        ..gatehouse::settings::Settings::ephemeral(std::path::PathBuf::from("/tmp"))
    };
    let r = settings.retention();
    assert_eq!((r.rollups.as_secs(), r.raw.as_secs()), (7 * 86_400, 7200));
}

/// The writer's multi-row upserts, on both backends: a batch with more distinct rollup rows and
/// histogram buckets than one statement carries (600 consumers × 3 statuses × many latency
/// buckets, over three minutes), written in two transactions whose keys overlap, so both the
/// insert and the add-to-existing branch of every upsert run. Every read is compared exactly
/// with a count made record by record.
#[tokio::test]
async fn many_distinct_keys_are_counted_exactly() {
    use gatehouse::store::{AnalyticsFilter, Location, Store};
    use gatehouse::telemetry::{histogram, RequestRecord};
    use std::collections::BTreeMap;
    use uuid::Uuid;

    let dir = tempfile::tempdir().expect("temp dir");
    let location = match crate::backend::database_url().await {
        Some(url) => Location::Postgres(url),
        None => Location::Sqlite(dir.path().join("t.db")),
    };
    let store = Store::open(&location).await.expect("open");
    let group = Uuid::new_v4();
    let node = Uuid::new_v4();
    let base = 30_000 * 60_000;
    let records: Vec<RequestRecord> = (0..2400u32)
        .map(|i| RequestRecord {
            ts_ms: base + i64::from(i * 97 % 180_000),
            runtime_group_id: group,
            service_id: Some(Uuid::from_u128(1)),
            route_id: Some(Uuid::from_u128(2)),
            version_id: None,
            consumer_id: Some(Uuid::from_u128(1000 + u128::from(i % 600))),
            method: http::Method::GET,
            status: [200, 404, 503][(i / 600 % 3) as usize],
            latency_ms: i64::from(i % 211),
            upstream_latency_ms: Some(i64::from(i % 7)),
            bytes_in: 1,
            bytes_out: u64::from(i),
        })
        .collect();
    store
        .insert_request_records(node, &records[..1500])
        .await
        .expect("first batch");
    store
        .insert_request_records(node, &records[900..])
        .await
        .expect("second batch, overlapping the first's keys");
    let sent: Vec<&RequestRecord> = records[..1500].iter().chain(&records[900..]).collect();

    let all = AnalyticsFilter {
        group: Some(group),
        ..AnalyticsFilter::since(0)
    };
    let mut want: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for r in &sent {
        let e = want
            .entry(r.consumer_id.expect("consumer").to_string())
            .or_default();
        e.0 += 1;
        e.1 += i64::from(r.status >= 400);
    }
    let got: BTreeMap<String, (i64, i64)> = store
        .analytics_top(&all, "consumer_id", 10_000)
        .await
        .expect("per consumer")
        .into_iter()
        .map(|t| (t.id, (t.requests, t.errors)))
        .collect();
    assert_eq!(got.len(), 600);
    assert_eq!(got, want, "requests and errors per consumer");

    let totals = store.analytics_totals(&all).await.expect("totals");
    assert_eq!(totals.requests, sent.len() as i64);
    assert_eq!(
        totals.latency_ms_sum,
        sent.iter().map(|r| r.latency_ms).sum::<i64>()
    );
    assert_eq!(
        totals.upstream_latency_ms_sum,
        sent.iter()
            .filter_map(|r| r.upstream_latency_ms)
            .sum::<i64>()
    );
    for class in [2, 4, 5] {
        let mut buckets: Vec<(usize, i64)> = Vec::new();
        for r in sent.iter().filter(|r| r.status / 100 == class) {
            let b = histogram::bucket_of(r.latency_ms);
            match buckets.iter_mut().find(|(have, _)| *have == b) {
                Some((_, n)) => *n += 1,
                None => buckets.push((b, 1)),
            }
        }
        let f = AnalyticsFilter {
            status_class: Some(class),
            ..all.clone()
        };
        let got = store.analytics_percentiles(&f).await.expect("percentiles");
        for q in [0.5, 0.95, 0.99] {
            let p = match q {
                0.5 => got.p50,
                0.95 => got.p95,
                _ => got.p99,
            };
            assert_eq!(p, histogram::percentile(&buckets, q), "class {class} q {q}");
        }
    }
    let traffic = store.node_traffic_since(0).await.expect("node traffic");
    let mine = traffic.get(&node).expect("this node's traffic");
    assert_eq!(mine.requests, sent.len() as i64);
    assert_eq!(
        mine.errors,
        sent.iter().filter(|r| r.status >= 500).count() as i64
    );
}
