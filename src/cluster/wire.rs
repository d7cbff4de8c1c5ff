//! What travels between the control plane and its nodes. The configuration stream is a sequence
//! of frames, each a 4-byte big-endian length and a JSON message; a snapshot message carries the
//! group's whole configuration and its hash, which the node recomputes before applying it.

use bytes::{Buf, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::GatewayConfig;
use crate::snapshot::ConfigSnapshot;
use crate::telemetry::RequestRecord;

/// Frames larger than this are refused by default (the node's `--max-snapshot-bytes`).
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024 * 1024;

pub const PATH_STREAM: &str = "/v1/stream";
pub const PATH_HEARTBEAT: &str = "/v1/heartbeat";
pub const PATH_TELEMETRY: &str = "/v1/telemetry";

pub const H_NODE_ID: &str = "x-gatehouse-node-id";
pub const H_HOSTNAME: &str = "x-gatehouse-hostname";
pub const H_VERSION: &str = "x-gatehouse-version";
pub const H_CONFIG_HASH: &str = "x-gatehouse-config-hash";
pub const H_BATCH_ID: &str = "x-gatehouse-batch-id";

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    Snapshot {
        runtime_group_id: Uuid,
        version: u64,
        hash: String,
        config: Box<GatewayConfig>,
    },
    /// Sent every few seconds while nothing changes, so both ends notice a dead connection.
    Ping,
}

impl Message {
    pub fn snapshot(snap: &ConfigSnapshot) -> Message {
        Message::Snapshot {
            runtime_group_id: snap.runtime_group_id,
            version: snap.version,
            hash: snap.hash.clone(),
            config: Box::new(snap.config.clone()),
        }
    }

    pub fn encode(&self) -> Result<Bytes, serde_json::Error> {
        let body = serde_json::to_vec(self)?;
        let mut out = BytesMut::with_capacity(4 + body.len());
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(&body);
        Ok(out.freeze())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame of {size} bytes exceeds the {max}-byte limit")]
    TooLarge { size: usize, max: usize },
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("snapshot hash mismatch: the message says {claimed}, its content hashes to {actual}")]
    HashMismatch { claimed: String, actual: String },
}

/// Splits a byte stream into frames, refusing oversized ones before buffering them.
pub struct FrameDecoder {
    buf: BytesMut,
    max: usize,
}

impl FrameDecoder {
    pub fn new(max: usize) -> FrameDecoder {
        FrameDecoder {
            buf: BytesMut::new(),
            max,
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    pub fn next_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let size =
            u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        if size > self.max {
            return Err(FrameError::TooLarge {
                size,
                max: self.max,
            });
        }
        if self.buf.len() < 4 + size {
            return Ok(None);
        }
        self.buf.advance(4);
        Ok(Some(self.buf.split_to(size).freeze()))
    }
}

/// Parses a frame and, for a snapshot, rebuilds it and checks its hash: a node applies nothing
/// it cannot verify.
pub fn decode(frame: &[u8]) -> Result<Option<ConfigSnapshot>, FrameError> {
    let msg: Message =
        serde_json::from_slice(frame).map_err(|e| FrameError::Malformed(e.to_string()))?;
    match msg {
        Message::Ping => Ok(None),
        Message::Snapshot {
            runtime_group_id,
            version,
            hash,
            config,
        } => {
            let snap = ConfigSnapshot::build(runtime_group_id, version, *config);
            if snap.hash != hash {
                return Err(FrameError::HashMismatch {
                    claimed: hash,
                    actual: snap.hash,
                });
            }
            Ok(Some(snap))
        }
    }
}

/// A node's report about itself, sent with every heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Heartbeat {
    pub node_id: Uuid,
    pub hostname: String,
    pub version: String,
    pub config_hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeartbeatReply {
    pub latest_hash: String,
}

/// A request record as nodes ship it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireRecord {
    pub ts_ms: i64,
    pub service_id: Option<Uuid>,
    pub route_id: Option<Uuid>,
    pub version_id: Option<Uuid>,
    /// Absent from nodes older than consumers.
    #[serde(default)]
    pub consumer_id: Option<Uuid>,
    pub method: String,
    pub status: u16,
    pub latency_ms: i64,
    pub upstream_latency_ms: Option<i64>,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl WireRecord {
    pub fn from_record(r: &RequestRecord) -> WireRecord {
        WireRecord {
            ts_ms: r.ts_ms,
            service_id: r.service_id,
            route_id: r.route_id,
            version_id: r.version_id,
            consumer_id: r.consumer_id,
            method: r.method.as_str().to_string(),
            status: r.status,
            latency_ms: r.latency_ms,
            upstream_latency_ms: r.upstream_latency_ms,
            bytes_in: r.bytes_in,
            bytes_out: r.bytes_out,
        }
    }

    /// The control plane files every record under the group of the credential that sent it,
    /// whatever the node claims.
    pub fn into_record(self, group: Uuid) -> Option<RequestRecord> {
        Some(RequestRecord {
            ts_ms: self.ts_ms,
            runtime_group_id: group,
            service_id: self.service_id,
            route_id: self.route_id,
            version_id: self.version_id,
            consumer_id: self.consumer_id,
            method: http::Method::from_bytes(self.method.as_bytes()).ok()?,
            status: self.status,
            latency_ms: self.latency_ms,
            upstream_latency_ms: self.upstream_latency_ms,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_across_reads_and_oversized_ones_are_refused() {
        let snap = ConfigSnapshot::empty(Uuid::nil());
        let frame = Message::snapshot(&snap).encode().unwrap();
        let mut d = FrameDecoder::new(1024);
        d.push(&frame[..3]);
        assert_eq!(d.next_frame().unwrap(), None);
        d.push(&frame[3..10]);
        assert_eq!(d.next_frame().unwrap(), None);
        d.push(&frame[10..]);
        let body = d.next_frame().unwrap().unwrap();
        let decoded = decode(&body).unwrap().unwrap();
        assert_eq!(decoded.hash, snap.hash);

        let mut small = FrameDecoder::new(8);
        small.push(&frame);
        assert!(matches!(
            small.next_frame(),
            Err(FrameError::TooLarge { max: 8, .. })
        ));
    }

    #[test]
    fn tampered_snapshots_and_garbage_are_refused() {
        let snap = ConfigSnapshot::empty(Uuid::nil());
        let mut msg = serde_json::to_value(Message::snapshot(&snap)).unwrap();
        msg["hash"] = "0000".into();
        let err = decode(&serde_json::to_vec(&msg).unwrap()).unwrap_err();
        assert!(matches!(err, FrameError::HashMismatch { .. }));
        assert!(matches!(
            decode(b"{not json"),
            Err(FrameError::Malformed(_))
        ));
        assert_eq!(decode(br#"{"type":"ping"}"#).unwrap().map(|s| s.hash), None);
    }
}
