//! The binary layout of a block of raw request records.
//!
//! Raw records are stored in blocks, one row per telemetry batch: a row per request cost the
//! writer most of its CPU at proxy speed (two B-tree inserts each), a block costs one.
//!
//! Blocks are written compact (version 2): the ids a record carries (group, service, route,
//! version, consumer) and its method are the same for most records of a batch, so they are
//! written once in a table at the head of the block and each record names its row; the
//! numbers are LEB128 varints, the time a difference from the record before. About 9 bytes a
//! record instead of 110: the full layout made the database's WAL writes (checksums, page
//! copies) the writer's largest cost, in bursts that took a core from the proxy workers every
//! 100 ms and showed in their p99.
//!
//! Version 2, after the marker `VERSION_2` (8 bytes): varint row count, then per row a flags
//! byte (bit 0 service, 1 route, 2 version, 3 consumer), the group id (16 bytes), each flagged
//! id (16 bytes), the method's length (one byte) and bytes; then varint record count, then per
//! record: row index, time (zigzag, from the previous record's; the first from 0), status,
//! latency (zigzag), upstream latency (0 = none, else zigzag + 1), bytes in, bytes out.
//!
//! Version 1 blocks (written before) still decode: per record, little-endian, ts_ms i64 (never
//! negative, so never the marker), group, service, route and version ids (16 bytes each, nil =
//! none), status u16, latency_ms i64, upstream_latency_ms i64 (-1 = none), bytes_in u64,
//! bytes_out u64, method length u8 (high bit: a consumer id follows the method), method bytes,
//! consumer id.

use std::collections::HashMap;

use uuid::Uuid;

use crate::telemetry::RequestRecord;

/// Starts a version 2 block: a version 1 block starts with a record's time, never negative.
const VERSION_2: [u8; 8] = (-2i64).to_le_bytes();

/// What records of a batch mostly share, written once per block.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Row {
    group: Uuid,
    service: Option<Uuid>,
    route: Option<Uuid>,
    version: Option<Uuid>,
    consumer: Option<Uuid>,
    method: http::Method,
}

impl Row {
    fn of(r: &RequestRecord) -> Row {
        Row {
            group: r.runtime_group_id,
            service: r.service_id,
            route: r.route_id,
            version: r.version_id,
            consumer: r.consumer_id,
            method: r.method.clone(),
        }
    }

    fn matches(&self, r: &RequestRecord) -> bool {
        self.group == r.runtime_group_id
            && self.service == r.service_id
            && self.route == r.route_id
            && self.version == r.version_id
            && self.consumer == r.consumer_id
            && self.method == r.method
    }
}

pub(super) fn encode_records<'a>(records: impl IntoIterator<Item = &'a RequestRecord>) -> Vec<u8> {
    let mut rows: Vec<Row> = Vec::new();
    let mut index: HashMap<Row, usize, foldhash::fast::RandomState> = HashMap::default();
    let mut body = Vec::new();
    let mut count = 0u64;
    let mut last_row = usize::MAX;
    let mut last_ts = 0i64;
    for r in records {
        count += 1;
        // Consecutive records mostly share a row: compare before hashing.
        if last_row == usize::MAX || !rows[last_row].matches(r) {
            let row = Row::of(r);
            last_row = *index.entry(row.clone()).or_insert_with(|| {
                rows.push(row);
                rows.len() - 1
            });
        }
        varint(&mut body, last_row as u64);
        varint(&mut body, zigzag(r.ts_ms.wrapping_sub(last_ts)));
        last_ts = r.ts_ms;
        varint(&mut body, u64::from(r.status));
        varint(&mut body, zigzag(r.latency_ms));
        varint(
            &mut body,
            r.upstream_latency_ms
                .map_or(0, |u| zigzag(u).wrapping_add(1)),
        );
        varint(&mut body, r.bytes_in);
        varint(&mut body, r.bytes_out);
    }
    let mut out = Vec::with_capacity(16 + rows.len() * 90 + body.len());
    out.extend_from_slice(&VERSION_2);
    varint(&mut out, rows.len() as u64);
    for row in &rows {
        let ids = [row.service, row.route, row.version, row.consumer];
        let flags = ids
            .iter()
            .enumerate()
            .fold(0u8, |f, (i, id)| f | (u8::from(id.is_some()) << i));
        out.push(flags);
        out.extend_from_slice(row.group.as_bytes());
        for id in ids.into_iter().flatten() {
            out.extend_from_slice(id.as_bytes());
        }
        let m = row.method.as_str().as_bytes();
        let m = &m[..m.len().min(255)];
        out.push(m.len() as u8);
        out.extend_from_slice(m);
    }
    varint(&mut out, count);
    out.extend_from_slice(&body);
    out
}

/// The records of a block of either version; `None` when it is malformed.
pub(super) fn decode_records(b: &[u8]) -> Option<Vec<RequestRecord>> {
    match b.strip_prefix(&VERSION_2) {
        Some(rest) => decode_v2(rest),
        None => decode_v1(b),
    }
}

fn decode_v2(mut b: &[u8]) -> Option<Vec<RequestRecord>> {
    let row_count = read_varint(&mut b)?;
    let mut rows = Vec::new();
    for _ in 0..row_count {
        let flags = *take(&mut b, 1)?.first()?;
        let group = Uuid::from_slice(take(&mut b, 16)?).ok()?;
        let mut ids = [None; 4];
        for (i, id) in ids.iter_mut().enumerate() {
            if flags & (1 << i) != 0 {
                *id = Some(Uuid::from_slice(take(&mut b, 16)?).ok()?);
            }
        }
        let len = *take(&mut b, 1)?.first()?;
        let method = http::Method::from_bytes(take(&mut b, usize::from(len))?).ok()?;
        let [service, route, version, consumer] = ids;
        rows.push(Row {
            group,
            service,
            route,
            version,
            consumer,
            method,
        });
    }
    let count = read_varint(&mut b)?;
    // Each record takes at least 7 bytes: a count the block cannot hold is corruption, not
    // a reason to reserve memory.
    let mut out = Vec::with_capacity(usize::try_from(count).ok()?.min(b.len() / 7));
    let mut ts_ms = 0i64;
    for _ in 0..count {
        let row = rows.get(usize::try_from(read_varint(&mut b)?).ok()?)?;
        ts_ms = ts_ms.wrapping_add(unzigzag(read_varint(&mut b)?));
        let status = u16::try_from(read_varint(&mut b)?).ok()?;
        let latency_ms = unzigzag(read_varint(&mut b)?);
        let upstream = read_varint(&mut b)?;
        let bytes_in = read_varint(&mut b)?;
        let bytes_out = read_varint(&mut b)?;
        out.push(RequestRecord {
            ts_ms,
            runtime_group_id: row.group,
            service_id: row.service,
            route_id: row.route,
            version_id: row.version,
            consumer_id: row.consumer,
            method: row.method.clone(),
            status,
            latency_ms,
            upstream_latency_ms: (upstream > 0).then(|| unzigzag(upstream - 1)),
            bytes_in,
            bytes_out,
        });
    }
    b.is_empty().then_some(out)
}

fn decode_v1(mut b: &[u8]) -> Option<Vec<RequestRecord>> {
    fn i64_(b: &mut &[u8]) -> Option<i64> {
        Some(i64::from_le_bytes(take(b, 8)?.try_into().ok()?))
    }
    fn id(b: &mut &[u8]) -> Option<Option<Uuid>> {
        let u = Uuid::from_slice(take(b, 16)?).ok()?;
        Some((!u.is_nil()).then_some(u))
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let ts_ms = i64_(&mut b)?;
        let runtime_group_id = id(&mut b)?.unwrap_or(Uuid::nil());
        let service_id = id(&mut b)?;
        let route_id = id(&mut b)?;
        let version_id = id(&mut b)?;
        let status = u16::from_le_bytes(take(&mut b, 2)?.try_into().ok()?);
        let latency_ms = i64_(&mut b)?;
        let upstream = i64_(&mut b)?;
        let bytes_in = i64_(&mut b)? as u64;
        let bytes_out = i64_(&mut b)? as u64;
        let len = *take(&mut b, 1)?.first()?;
        let method = http::Method::from_bytes(take(&mut b, usize::from(len & 0x7f))?).ok()?;
        let consumer_id = if len & 0x80 != 0 { id(&mut b)? } else { None };
        out.push(RequestRecord {
            ts_ms,
            runtime_group_id,
            service_id,
            route_id,
            version_id,
            consumer_id,
            method,
            status,
            latency_ms,
            upstream_latency_ms: (upstream >= 0).then_some(upstream),
            bytes_in,
            bytes_out,
        });
    }
    Some(out)
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (head, rest) = b.split_at_checked(n)?;
    *b = rest;
    Some(head)
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn read_varint(b: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *take(b, 1)?.first()?;
        v |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
#[path = "blocks_tests.rs"]
mod tests;
