//! The plugins the proxy runs, each in a file of its own, compiled from their stored
//! configuration when a snapshot is built (never per request). A plugin implements
//! [`Handler`]: Kong's phases after routing — access (may answer the request itself or change
//! what goes upstream), response (headers; the whole body when it asks for it) and log (the
//! final record). They see requests and consumers, never the store or the web layer.

pub mod acl;
pub mod basic_auth;
mod chain;
mod context;
pub mod correlation_id;
pub mod cors;
pub mod file_log;
pub mod http_log;
pub mod ip_restriction;
pub mod jwt;
pub mod key_auth;
pub mod prometheus;
mod proxy_cache;
pub mod rate_limiting;
pub mod request_size_limiting;
pub mod request_transformer;
pub mod response_transformer;
mod state;
mod transform;

pub use chain::{compile, Chain, Compiled, Slot};
pub use context::{
    Access, BodyFilter, Ctx, LogEntry, RequestBodyFilter, ResponseHead, Rewrite, Shared,
};
pub use state::Runtime;

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use serde_json::Value;
use uuid::Uuid;

use crate::domain::Plugin;

/// Who a request authenticated as (or the anonymous consumer it fell back to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub consumer_id: Uuid,
    pub username: Option<String>,
    pub custom_id: Option<String>,
    /// Kong's `X-Credential-Identifier`: the key-auth credential's id, the basic-auth username,
    /// the jwt key. `None` for the anonymous consumer.
    pub credential: Option<String>,
    /// The consumer headers' values, made when the configuration is compiled: building them
    /// per request was three allocations and a UUID's formatting on every authenticated one.
    upstream: UpstreamValues,
}

/// An identity's `X-Consumer-ID`, `-Custom-ID`, `-Username` and `X-Credential-Identifier`
/// values; `None` where the identity has none, or one that cannot be a header value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UpstreamValues {
    id: HeaderValue,
    custom_id: Option<HeaderValue>,
    username: Option<HeaderValue>,
    credential: Option<HeaderValue>,
}

fn header_value(v: Option<&str>) -> Option<HeaderValue> {
    v.and_then(|v| HeaderValue::from_str(v).ok())
}

impl Identity {
    pub fn new(consumer_id: Uuid, username: Option<String>, custom_id: Option<String>) -> Identity {
        let mut id = Uuid::encode_buffer();
        let id = consumer_id.hyphenated().encode_lower(&mut id);
        Identity {
            upstream: UpstreamValues {
                id: HeaderValue::from_str(id).expect("a hyphenated UUID is a header value"),
                custom_id: header_value(custom_id.as_deref()),
                username: header_value(username.as_deref()),
                credential: None,
            },
            consumer_id,
            username,
            custom_id,
            credential: None,
        }
    }

    /// The same consumer, authenticated with `credential`.
    pub fn with_credential(&self, credential: String) -> Identity {
        let mut who = self.clone();
        who.upstream.credential = HeaderValue::from_str(&credential).ok();
        who.credential = Some(credential);
        who
    }
}

/// A request a plugin answered itself (Kong's `kong.response.exit`): a status, Kong's JSON
/// body (or another body) and headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Exit {
    pub status: u16,
    pub body: ExitBody,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExitBody {
    /// `{"message": "…"}`.
    Message(String),
    Json(Value),
    /// Bytes sent as they are (a cached response); its content type is among the headers.
    Raw(Bytes),
    Empty,
}

impl Exit {
    pub fn message(status: u16, message: impl Into<String>) -> Exit {
        Exit {
            status,
            body: ExitBody::Message(message.into()),
            headers: Vec::new(),
        }
    }
    pub fn header(mut self, name: HeaderName, value: impl AsRef<str>) -> Exit {
        if let Ok(v) = HeaderValue::from_str(value.as_ref()) {
            self.headers.push((name, v));
        }
        self
    }
}

/// Response headers a waiting plugin adds once its work is done.
pub type Headers = Vec<(HeaderName, HeaderValue)>;

/// What a plugin's access phase decided.
pub enum Flow {
    Continue,
    /// Answer the client now; later plugins and the upstream never see the request.
    Exit(Exit),
    /// Work that needs I/O (a shared rate-limit counter): the request waits for it. The
    /// future owns what it needs.
    Wait(Pin<Box<dyn Future<Output = Result<Headers, Exit>> + Send>>),
    /// The plugin failed: logged with its name, answered 500, the worker carries on.
    Fail(String),
}

/// One configured plugin, ready to run. Phases a plugin does not override cost nothing.
pub trait Handler: Send + Sync + 'static {
    /// Kong's plugin name.
    fn name(&self) -> &'static str;
    /// Kong's `PRIORITY`: higher runs first.
    fn priority(&self) -> i32;
    fn access(&self, _req: &mut Access<'_>) -> Flow {
        Flow::Continue
    }
    /// Whether [`Handler::response`] has work to do.
    fn wants_response(&self) -> bool {
        false
    }
    /// The response head before it goes to the client (Kong's header_filter). Returning a
    /// [`BodyFilter`] asks for the whole body once it has arrived (Kong's body_filter).
    fn response(&self, _head: &mut ResponseHead<'_>, _ctx: &mut Ctx) -> Option<BodyFilter> {
        None
    }
    /// Whether [`Handler::log`] has work to do.
    fn wants_log(&self) -> bool {
        false
    }
    /// The finished request (Kong's log phase). Runs on the proxy's worker: hand slow work
    /// (files, HTTP) to a queue.
    fn log(&self, _entry: &LogEntry) {}
}

/// Builds a plugin's handler from its stored (validated, defaults filled) configuration.
pub type Build = fn(&Plugin, &Shared, &Runtime) -> Result<std::sync::Arc<dyn Handler>, String>;

/// The handler builders, by Kong's plugin name.
pub fn builder(name: &str) -> Option<Build> {
    Some(match name {
        "key-auth" => key_auth::build,
        "prometheus" => prometheus::build,
        "proxy-cache" => proxy_cache::build,
        "basic-auth" => basic_auth::build,
        "acl" => acl::build,
        "jwt" => jwt::build,
        "ip-restriction" => ip_restriction::build,
        "request-size-limiting" => request_size_limiting::build,
        "rate-limiting" => rate_limiting::build,
        "correlation-id" => correlation_id::build,
        "cors" => cors::build,
        "request-transformer" => request_transformer::build,
        "response-transformer" => response_transformer::build,
        "file-log" => file_log::build,
        "http-log" => http_log::build,
        _ => return None,
    })
}
