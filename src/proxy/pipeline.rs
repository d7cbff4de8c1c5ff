//! Runs a route's plugin chain through Kong's phases: access before the request goes
//! upstream, response on the head (and, when a plugin asks, the whole body), log once the
//! response is done. A plugin that fails or panics answers 500 for that request alone, logged
//! with its name; the worker carries on.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use futures_util::FutureExt;
use http::header::{self, HeaderValue};
use http::{Request, StatusCode};
use http_body_util::Either;

use super::pool::ClientBody;
use crate::plugins::{
    Access, BodyFilter, Chain, Ctx, Exit, Flow, LogEntry, RequestBodyFilter, ResponseHead,
};

/// What the log phase needs once the response has been sent.
pub struct LogTap {
    pub chain: Arc<Chain>,
    pub entry: LogEntry,
    pub https: bool,
}

fn failed(plugin: &str, why: &str) -> Exit {
    tracing::error!(
        plugin.name = plugin,
        error = why,
        "plugin failed; the request is answered 500"
    );
    Exit::message(500, "An unexpected error occurred")
}

/// The access phase, plugins in priority order; `Err` is the answer to send instead of
/// forwarding.
pub async fn access(chain: &Chain, req: &mut Access<'_>) -> Result<(), Exit> {
    for slot in &chain.slots {
        let consumer = req.ctx.consumer.as_ref().map(|c| c.consumer_id);
        let Some(h) = slot.pick(consumer.as_ref(), req.https) else {
            continue;
        };
        let flow = catch_unwind(AssertUnwindSafe(|| h.access(req)))
            .unwrap_or_else(|_| Flow::Fail("the plugin panicked".into()));
        match flow {
            Flow::Continue => {}
            Flow::Exit(e) => return Err(e),
            Flow::Fail(why) => return Err(failed(h.name(), &why)),
            Flow::Wait(work) => match AssertUnwindSafe(work).catch_unwind().await {
                Ok(Ok(headers)) => req.ctx.downstream.extend(headers),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(failed(h.name(), "the plugin panicked")),
            },
        }
    }
    Ok(())
}

/// The response phase on the head; returns the body filters plugins asked for, in order.
pub fn response(
    chain: &Chain,
    head: &mut ResponseHead<'_>,
    ctx: &mut Ctx,
    https: bool,
) -> Result<Vec<BodyFilter>, Exit> {
    let mut filters = Vec::new();
    for slot in &chain.slots {
        let consumer = ctx.consumer.as_ref().map(|c| c.consumer_id);
        let Some(h) = slot.pick(consumer.as_ref(), https) else {
            continue;
        };
        if !h.wants_response() {
            continue;
        }
        match catch_unwind(AssertUnwindSafe(|| h.response(head, ctx))) {
            Ok(Some(f)) => filters.push(f),
            Ok(None) => {}
            Err(_) => return Err(failed(h.name(), "the plugin panicked")),
        }
    }
    Ok(filters)
}

/// The body filters on the whole body; a panicking filter leaves the body as it was.
pub fn body(filters: Vec<BodyFilter>, mut body: bytes::Bytes) -> bytes::Bytes {
    for f in filters {
        let before = body.clone();
        body = catch_unwind(AssertUnwindSafe(|| f(body))).unwrap_or_else(|_| {
            tracing::error!("a plugin's body filter panicked; the body is sent unchanged");
            before
        });
    }
    body
}

/// The log phase.
pub fn log(tap: &LogTap) {
    let https = tap.https;
    let consumer = tap.entry.consumer.as_ref().map(|c| c.consumer_id);
    for slot in &tap.chain.slots {
        let Some(h) = slot.pick(consumer.as_ref(), https) else {
            continue;
        };
        if h.wants_log() && catch_unwind(AssertUnwindSafe(|| h.log(&tap.entry))).is_err() {
            tracing::error!(plugin.name = h.name(), "plugin's log phase panicked");
        }
    }
}

/// The largest request body a plugin may ask to rewrite (it is held in memory whole).
const MAX_REWRITTEN_BODY: usize = 16 * 1024 * 1024;

/// The whole client body through a plugin's body filter (request-transformer), sent on with
/// its new length. `Err`: the status to answer (too large, or the client's body failed).
pub async fn rewrite_body(
    req: Request<ClientBody>,
    filter: RequestBodyFilter,
    limit: Option<u64>,
    query: &mut Option<String>,
) -> Result<Request<ClientBody>, StatusCode> {
    use http_body_util::{BodyExt, Full, Limited};
    let (mut parts, body) = req.into_parts();
    let max = limit.map_or(MAX_REWRITTEN_BODY, |l| {
        usize::try_from(l)
            .unwrap_or(usize::MAX)
            .min(MAX_REWRITTEN_BODY)
    });
    let bytes = match body {
        Either::Left(incoming) => match Limited::new(incoming, max).collect().await {
            Ok(c) => c.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                return Err(StatusCode::PAYLOAD_TOO_LARGE)
            }
            Err(_) => return Err(StatusCode::BAD_REQUEST),
        },
        Either::Right(full) => full
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default(),
    };
    let bytes = filter(bytes.clone(), query).unwrap_or(bytes);
    parts.headers.remove(header::TRANSFER_ENCODING);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    Ok(Request::from_parts(parts, Either::Right(Full::new(bytes))))
}
