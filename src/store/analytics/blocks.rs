//! The binary layout of a block of raw request records.

use uuid::Uuid;

use crate::telemetry::RequestRecord;

// Raw records are stored in blocks, one row per telemetry batch: a row per request cost the
// writer most of its CPU at proxy speed (two B-tree inserts each), a block costs one. Layout per
// record, little-endian: ts_ms i64, group id, service id, route id, version id (16 bytes each,
// nil = none), status u16, latency_ms i64, upstream_latency_ms i64 (-1 = none), bytes_in u64,
// bytes_out u64, method length u8 (the high bit set: a consumer id follows the method),
// method bytes, consumer id (16 bytes, when flagged). Blocks written before consumers decode
// unchanged.
const FIXED: usize = 8 + 16 * 4 + 2 + 8 * 4 + 1;

pub(super) fn encode_records(records: &[RequestRecord]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * (FIXED + 6));
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
        let m = &m[..m.len().min(127)];
        let flag = if r.consumer_id.is_some() { 0x80 } else { 0 };
        out.push(m.len() as u8 | flag);
        out.extend_from_slice(m);
        if let Some(c) = r.consumer_id {
            out.extend_from_slice(c.as_bytes());
        }
    }
    out
}

pub(super) fn decode_records(mut b: &[u8]) -> Option<Vec<RequestRecord>> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, rest) = b.split_at_checked(n)?;
        *b = rest;
        Some(head)
    }
    fn i64_(b: &mut &[u8]) -> Option<i64> {
        Some(i64::from_le_bytes(take(b, 8)?.try_into().ok()?))
    }
    fn id(b: &mut &[u8]) -> Option<Option<Uuid>> {
        let u = Uuid::from_slice(take(b, 16)?).ok()?;
        Some((!u.is_nil()).then_some(u))
    }
    let mut out = Vec::with_capacity(b.len() / FIXED);
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
