use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

/// How version 1 wrote a block (kept to prove such blocks still read back).
fn encode_v1(records: &[RequestRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    let id = |u: Option<Uuid>| u.unwrap_or(Uuid::nil()).into_bytes();
    for r in records {
        out.extend_from_slice(&r.ts_ms.to_le_bytes());
        out.extend_from_slice(r.runtime_group_id.as_bytes());
        out.extend_from_slice(&id(r.service_id));
        out.extend_from_slice(&id(r.route_id));
        out.extend_from_slice(&id(r.version_id));
        out.extend_from_slice(&r.status.to_le_bytes());
        out.extend_from_slice(&r.latency_ms.to_le_bytes());
        out.extend_from_slice(&r.upstream_latency_ms.unwrap_or(-1).to_le_bytes());
        out.extend_from_slice(&r.bytes_in.to_le_bytes());
        out.extend_from_slice(&r.bytes_out.to_le_bytes());
        let m = r.method.as_str().as_bytes();
        let flag = if r.consumer_id.is_some() { 0x80 } else { 0 };
        out.push(m.len() as u8 | flag);
        out.extend_from_slice(m);
        if let Some(c) = r.consumer_id {
            out.extend_from_slice(c.as_bytes());
        }
    }
    out
}

/// A batch as the proxy sends one: a few routes, consumers and methods, times rising with
/// some out of order, and the odd extreme value.
fn batch(rng: &mut StdRng, n: usize) -> Vec<RequestRecord> {
    let ids: Vec<Uuid> = (0..6).map(|_| Uuid::from_u128(rng.gen())).collect();
    let pick = |rng: &mut StdRng| (rng.gen_bool(0.8)).then(|| ids[rng.gen_range(0..ids.len())]);
    let methods = [
        http::Method::GET,
        http::Method::POST,
        http::Method::from_bytes(b"PURGE").expect("method"),
    ];
    let mut ts = 1_764_000_000_000i64;
    (0..n)
        .map(|_| {
            ts += rng.gen_range(-5..50);
            RequestRecord {
                ts_ms: ts,
                runtime_group_id: if rng.gen_bool(0.9) {
                    ids[0]
                } else {
                    Uuid::nil()
                },
                service_id: pick(rng),
                route_id: pick(rng),
                version_id: pick(rng),
                consumer_id: pick(rng),
                method: methods[rng.gen_range(0..methods.len())].clone(),
                status: [200, 201, 404, 429, 502, u16::MAX][rng.gen_range(0..6)],
                latency_ms: if rng.gen_bool(0.01) {
                    i64::MAX
                } else {
                    rng.gen_range(0..3000)
                },
                upstream_latency_ms: match rng.gen_range(0..10) {
                    0 => None,
                    1 => Some(-1),
                    _ => Some(rng.gen_range(0..3000)),
                },
                bytes_in: if rng.gen_bool(0.01) {
                    u64::MAX
                } else {
                    rng.gen_range(0..10_000)
                },
                bytes_out: rng.gen_range(0..1_000_000),
            }
        })
        .collect()
}

#[test]
fn batches_round_trip_exactly() {
    let mut rng = StdRng::seed_from_u64(14);
    for n in [0, 1, 2, 17, 3000] {
        let records = batch(&mut rng, n);
        let block = encode_records(&records);
        assert_eq!(decode_records(&block), Some(records), "{n} records");
    }
}

#[test]
fn a_typical_batch_takes_a_tenth_of_version_1() {
    let mut rng = StdRng::seed_from_u64(1);
    let mut records = batch(&mut rng, 3000);
    for r in &mut records {
        // One route of one service, as under a benchmark: the rows table is one row.
        (r.service_id, r.route_id, r.version_id, r.consumer_id) = (None, None, None, None);
        r.method = http::Method::GET;
        r.runtime_group_id = Uuid::nil();
        r.status = 200;
        r.latency_ms %= 100;
        r.upstream_latency_ms = Some(1);
        r.bytes_in = 0;
        r.bytes_out = 20;
    }
    let v2 = encode_records(&records).len();
    let v1 = encode_v1(&records).len();
    assert!(v2 * 10 < v1, "{v2} bytes against {v1}");
    assert!(v2 < 3000 * 10, "{v2} bytes for 3000 records");
}

#[test]
fn version_1_blocks_still_read_back() {
    let mut rng = StdRng::seed_from_u64(7);
    let mut records = batch(&mut rng, 200);
    for r in &mut records {
        // Version 1 stored no nil ids, negative upstream latencies or a method over 127 bytes.
        r.runtime_group_id = Uuid::from_u128(9);
        r.upstream_latency_ms = r.upstream_latency_ms.filter(|u| *u >= 0);
        r.ts_ms = r.ts_ms.max(0);
    }
    assert_eq!(decode_records(&encode_v1(&records)), Some(records));
}

#[test]
fn damaged_blocks_are_refused_without_panicking() {
    let mut rng = StdRng::seed_from_u64(3);
    let records = batch(&mut rng, 50);
    let block = encode_records(&records);
    for cut in 0..block.len() {
        // Cut anywhere, a version 2 block is short of what its counts promise.
        if cut >= VERSION_2.len() {
            assert_eq!(decode_records(&block[..cut]), None, "cut at {cut}");
        }
    }
    let mut longer = block.clone();
    longer.push(0);
    assert_eq!(decode_records(&longer), None, "trailing bytes");
    for _ in 0..2000 {
        let mut b = block.clone();
        for _ in 0..rng.gen_range(1..4) {
            let i = rng.gen_range(0..b.len());
            b[i] = rng.gen();
        }
        let _ = decode_records(&b);
        let noise: Vec<u8> = (0..rng.gen_range(0..64)).map(|_| rng.gen()).collect();
        let _ = decode_records(&[VERSION_2.as_slice(), &noise].concat());
        let _ = decode_records(&noise);
    }
    // A count far beyond the bytes reserves nothing and fails.
    let mut huge = VERSION_2.to_vec();
    varint(&mut huge, 0);
    varint(&mut huge, u64::MAX);
    assert_eq!(decode_records(&huge), None);
}

#[test]
fn varints_and_zigzag_cover_the_extremes() {
    for v in [0i64, 1, -1, 63, -64, 64, i64::MAX, i64::MIN] {
        assert_eq!(unzigzag(zigzag(v)), v);
        let mut out = Vec::new();
        varint(&mut out, zigzag(v));
        assert_eq!(read_varint(&mut out.as_slice()), Some(zigzag(v)));
    }
    // Eleven continuation bytes: more than 64 bits.
    assert_eq!(read_varint(&mut [0xff; 11].as_slice()), None);
}
