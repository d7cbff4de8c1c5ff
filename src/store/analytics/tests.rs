use super::*;
use crate::telemetry::RequestRecord;

fn record(ts_ms: i64, version: Uuid, status: u16) -> RequestRecord {
    RequestRecord {
        ts_ms,
        runtime_group_id: Uuid::nil(),
        service_id: Some(Uuid::from_u128(1)),
        route_id: Some(Uuid::from_u128(2)),
        version_id: Some(version),
        consumer_id: None,
        method: http::Method::GET,
        status,
        latency_ms: 3,
        upstream_latency_ms: Some(1),
        bytes_in: 0,
        bytes_out: 10,
    }
}

#[tokio::test]
async fn unrouted_requests_of_two_groups_are_kept_apart() {
    let dir = tempfile_dir();
    let store = Store::open_file(&dir.join("t.db")).await.expect("open");
    let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let unrouted = |group: Uuid| RequestRecord {
        runtime_group_id: group,
        service_id: None,
        route_id: None,
        version_id: None,
        consumer_id: None,
        ..record(now, Uuid::nil(), 404)
    };
    store
        .insert_request_records(Uuid::nil(), &[unrouted(a), unrouted(b), unrouted(b)])
        .await
        .expect("insert");
    assert_eq!(
        store
            .group_summary(a, now - 60_000)
            .await
            .expect("a")
            .requests,
        1
    );
    assert_eq!(
        store
            .group_summary(b, now - 60_000)
            .await
            .expect("b")
            .requests,
        2
    );
}

#[tokio::test]
async fn a_resent_node_batch_is_counted_once() {
    let dir = tempfile_dir();
    let store = Store::open_file(&dir.join("t.db")).await.expect("open");
    let (v, node) = (Uuid::new_v4(), Uuid::new_v4());
    let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let batch = vec![record(now, v, 200), record(now, v, 502)];
    assert!(store
        .ingest_node_batch("b1", node, &batch)
        .await
        .expect("first"));
    assert!(!store
        .ingest_node_batch("b1", node, &batch)
        .await
        .expect("resent"));
    assert!(store
        .ingest_node_batch("b2", node, &batch[..1])
        .await
        .expect("second"));
    let traffic = store
        .node_traffic_since(now - 60_000)
        .await
        .expect("traffic");
    let t = traffic.get(&node).copied().unwrap_or_default();
    assert_eq!((t.requests, t.errors), (3, 1));
    assert_eq!(
        store
            .status_counts_for_version(v, 0)
            .await
            .expect("counts")
            .iter()
            .map(|c| c.count)
            .sum::<i64>(),
        3
    );
}

#[tokio::test]
async fn rollups_count_per_status_and_survive_pruning() {
    let dir = tempfile_dir();
    let store = Store::open_file(&dir.join("t.db")).await.expect("open");
    let v = Uuid::new_v4();
    let now = 100 * 60_000;
    let batch = vec![
        record(now, v, 200),
        record(now + 1, v, 200),
        record(now + 2, v, 404),
    ];
    store
        .insert_request_records(Uuid::nil(), &[record(now - 10 * 60_000, v, 500)])
        .await
        .expect("insert old");
    store
        .insert_request_records(Uuid::nil(), &batch)
        .await
        .expect("insert");
    assert_eq!(
        store.list_request_records(now).await.expect("list"),
        batch,
        "raw records read back as written"
    );
    let counts = store
        .status_counts_for_version(v, now - 5 * 60_000)
        .await
        .expect("counts");
    assert_eq!(
        counts,
        vec![
            StatusCount {
                status: 200,
                count: 2
            },
            StatusCount {
                status: 404,
                count: 1
            }
        ]
    );
    assert_eq!(store.prune_request_records(now).await.expect("prune"), 1);
    let counts = store.status_counts_for_version(v, 0).await.expect("counts");
    assert_eq!(
        counts.iter().map(|c| c.count).sum::<i64>(),
        4,
        "rollups are not pruned with raw records"
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gatehouse-test-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn record_blocks_round_trip_with_and_without_a_consumer() {
    let plain = record(1, Uuid::new_v4(), 200);
    let mut with = record(2, Uuid::new_v4(), 401);
    with.consumer_id = Some(Uuid::new_v4());
    with.method = http::Method::POST;
    let block = super::blocks::encode_records(&[plain.clone(), with.clone()]);
    assert_eq!(
        super::decode_records(&block),
        Some(vec![plain.clone(), with])
    );
    // A block of one record (`blocks_tests.rs` covers the layout itself).
    assert_eq!(
        super::decode_records(&super::blocks::encode_records(std::slice::from_ref(&plain))),
        Some(vec![plain])
    );
}

#[tokio::test]
async fn interleaved_batches_aggregate_as_record_by_record() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile_dir();
    let store = Store::open_file(&dir.join("t.db")).await.expect("open");
    let versions = [Uuid::new_v4(), Uuid::new_v4()];
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    // Runs of a key and single records mixed, across a minute boundary.
    let mut records = Vec::new();
    let mut ts = 200 * 60_000 - 400;
    while records.len() < 2000 {
        let v = versions[rng.gen_range(0..2)];
        let status = [200, 201, 404, 500][rng.gen_range(0..4)];
        for _ in 0..rng.gen_range(1..6) {
            ts += rng.gen_range(0..2);
            let mut r = record(ts, v, status);
            r.latency_ms = rng.gen_range(0..40);
            records.push(r);
        }
    }
    for chunk in records.chunks(700) {
        store
            .insert_request_records(Uuid::nil(), chunk)
            .await
            .expect("insert");
    }
    for v in versions {
        let mine: Vec<&RequestRecord> =
            records.iter().filter(|r| r.version_id == Some(v)).collect();
        let mut want: Vec<StatusCount> = Vec::new();
        for status in [200, 201, 404, 500] {
            let count = mine.iter().filter(|r| r.status == status).count() as i64;
            if count > 0 {
                want.push(StatusCount { status, count });
            }
        }
        let got = store.status_counts_for_version(v, 0).await.expect("counts");
        assert_eq!(got, want);
        for class in [2, 4, 5] {
            let mut buckets: Vec<(usize, i64)> = Vec::new();
            for r in mine.iter().filter(|r| r.status / 100 == class) {
                let b = histogram::bucket_of(r.latency_ms);
                match buckets.iter_mut().find(|(have, _)| *have == b) {
                    Some((_, n)) => *n += 1,
                    None => buckets.push((b, 1)),
                }
            }
            let f = AnalyticsFilter {
                version: Some(v),
                status_class: Some(class),
                ..AnalyticsFilter::since(0)
            };
            let got = store.analytics_percentiles(&f).await.expect("percentiles");
            assert_eq!(
                got.p50,
                histogram::percentile(&buckets, 0.5),
                "class {class}"
            );
            assert_eq!(
                got.p99,
                histogram::percentile(&buckets, 0.99),
                "class {class}"
            );
        }
    }
    let stored = store.list_request_records(0).await.expect("raw");
    assert_eq!(stored, records, "raw records read back exactly, in order");
    let _ = std::fs::remove_dir_all(dir);
}
