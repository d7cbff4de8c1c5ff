//! Kong's request-size-limiting: a request whose Content-Length is over the allowed size is
//! refused with 413 (417 when it asked `Expect: 100-continue`, so the client never sends the
//! body); with `require_content_length`, a request with no valid Content-Length that is not
//! chunked is refused with 411. A chunked body without a Content-Length is read whole and
//! measured, as Kong buffers it, when the allowed size is at most `MEASURED_UP_TO`; above that
//! it streams unmeasured (holding that much per request in memory would be the bigger risk).

use std::sync::Arc;

use http::HeaderMap;
use serde_json::Value;

use super::{Access, Exit, Flow, Handler, Runtime, Shared};
use crate::domain::Plugin;

/// The largest allowed size for which a chunked body is buffered to be measured.
pub const MEASURED_UP_TO: u64 = 16 * 1024 * 1024;

pub struct RequestSizeLimiting {
    /// The allowed size in bytes.
    allowed: u64,
    require_content_length: bool,
}

pub fn build(p: &Plugin, _: &Shared, _: &Runtime) -> Result<Arc<dyn Handler>, String> {
    Ok(Arc::new(RequestSizeLimiting::compile(&p.config)?))
}

impl RequestSizeLimiting {
    pub fn compile(config: &Value) -> Result<RequestSizeLimiting, String> {
        let size = config
            .get("allowed_payload_size")
            .and_then(Value::as_i64)
            .unwrap_or(128);
        let unit: u64 = match config.get("size_unit").and_then(Value::as_str) {
            Some("bytes") => 1,
            Some("kilobytes") => 1024,
            _ => 1024 * 1024,
        };
        Ok(RequestSizeLimiting {
            // A negative size allows nothing at all, as Kong's comparison does.
            allowed: u64::try_from(size).unwrap_or(0).saturating_mul(unit),
            require_content_length: config
                .get("require_content_length")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }

    pub fn check(&self, headers: &HeaderMap, content_length: Option<u64>) -> Option<Exit> {
        match content_length {
            Some(n) if n > self.allowed => {
                let expect = headers
                    .get(http::header::EXPECT)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"));
                let status = if expect { 417 } else { 413 };
                Some(Exit::message(status, "Request size limit exceeded"))
            }
            Some(_) => None,
            None => {
                let chunked = headers
                    .get(http::header::TRANSFER_ENCODING)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
                (self.require_content_length && !chunked)
                    .then(|| Exit::message(411, "A valid Content-Length header is required"))
            }
        }
    }
}

impl Handler for RequestSizeLimiting {
    fn name(&self) -> &'static str {
        "request-size-limiting"
    }
    fn priority(&self) -> i32 {
        951
    }
    fn access(&self, req: &mut Access<'_>) -> Flow {
        if let Some(exit) = self.check(req.headers, req.content_length) {
            return Flow::Exit(exit);
        }
        let chunked = req.content_length.is_none()
            && req
                .headers
                .get(http::header::TRANSFER_ENCODING)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if chunked && self.allowed <= MEASURED_UP_TO {
            let rw = &mut req.ctx.rewrite;
            rw.body_limit = Some(rw.body_limit.map_or(self.allowed, |l| l.min(self.allowed)));
            if rw.body.is_none() {
                rw.body = Some(Box::new(|_, _| None));
            }
        }
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sizes_units_and_missing_lengths() {
        let r = RequestSizeLimiting::compile(&json!({
            "allowed_payload_size": 10, "size_unit": "bytes", "require_content_length": true
        }))
        .expect("compile");
        let mut h = HeaderMap::new();
        assert_eq!(r.check(&h, Some(10)), None);
        assert_eq!(
            r.check(&h, Some(11)),
            Some(Exit::message(413, "Request size limit exceeded"))
        );
        assert_eq!(
            r.check(&h, None),
            Some(Exit::message(
                411,
                "A valid Content-Length header is required"
            ))
        );
        h.insert(http::header::EXPECT, "100-Continue".parse().expect("value"));
        assert_eq!(r.check(&h, Some(11)).map(|e| e.status), Some(417));
        h.insert(
            http::header::TRANSFER_ENCODING,
            "chunked".parse().expect("value"),
        );
        assert_eq!(r.check(&h, None), None);
        let kb = RequestSizeLimiting::compile(
            &json!({ "allowed_payload_size": 1, "size_unit": "kilobytes" }),
        )
        .expect("compile");
        assert_eq!(kb.allowed, 1024);
        assert_eq!(kb.check(&HeaderMap::new(), None), None);
        let mb = RequestSizeLimiting::compile(&json!({})).expect("compile");
        assert_eq!(mb.allowed, 128 * 1024 * 1024);
    }
}
