//! What plugins see in each phase: the request on its way upstream, the per-request context
//! that carries the consumer across phases, the response head, the finished record, and what
//! every plugin of the group shares (consumers and their credentials).

use std::any::Any;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{acl, basic_auth, jwt, key_auth, Identity};
use crate::domain::GatewayConfig;

/// The request in the access phase: plugins may change its headers and query before it goes
/// upstream.
pub struct Access<'a> {
    pub method: &'a Method,
    /// The normalized path the route matched.
    pub path: &'a str,
    pub headers: &'a mut HeaderMap,
    /// The query string sent upstream (`None`: no query).
    pub query: &'a mut Option<String>,
    pub client_ip: IpAddr,
    pub https: bool,
    /// The request's Content-Length, when it sent one.
    pub content_length: Option<u64>,
    pub route_id: Uuid,
    pub service_id: Option<Uuid>,
    pub shared: &'a Shared,
    pub ctx: &'a mut Ctx,
}

impl Access<'_> {
    /// Records who the request runs as and sets Kong's consumer headers upstream (a client's
    /// own values under these names are replaced).
    pub fn authenticate(&mut self, who: Arc<Identity>, anonymous: bool) {
        set_consumer_headers(self.headers, &who, anonymous);
        self.ctx.consumer = Some(who);
        self.ctx.anonymous = anonymous;
    }

    /// Whether an earlier authentication plugin already found a real credential (Kong's
    /// "logical OR" of authentication plugins configured with `anonymous`).
    pub fn already_authenticated(&self) -> bool {
        self.ctx.consumer.is_some() && !self.ctx.anonymous
    }
}

/// Runs on the whole request body before it goes upstream and returns the body to send
/// (`None`: unchanged); it may change the query too (a form body moved into the query).
pub type RequestBodyFilter =
    Box<dyn FnOnce(Bytes, &mut Option<String>) -> Option<Bytes> + Send + Sync>;

/// What the access phase changes about the upstream request beyond its headers and query
/// (Kong's `kong.service.request.set_method/set_path/set_raw_body`, the Host header).
#[derive(Default)]
pub struct Rewrite {
    pub method: Option<Method>,
    /// The whole upstream path, in place of the route's and service's.
    pub path: Option<String>,
    /// The Host header upstream, over `preserve_host` and the service's host.
    pub host: Option<HeaderValue>,
    /// Asks for the whole request body (only then is it buffered).
    pub body: Option<RequestBodyFilter>,
    /// The most body bytes a plugin allows (request-size-limiting measuring a chunked body):
    /// more is answered 413 "Request size limit exceeded".
    pub body_limit: Option<u64>,
}

/// Per-request state across phases.
#[derive(Default)]
pub struct Ctx {
    pub consumer: Option<Arc<Identity>>,
    pub anonymous: bool,
    /// Headers to add to the response (rate-limit counters, CORS, correlation id).
    pub downstream: Vec<(HeaderName, HeaderValue)>,
    /// Extra top-level fields for the log record (Kong's `kong.log.set_serialize_value`:
    /// correlation-id's `correlation_id`).
    pub log_fields: Vec<(String, Value)>,
    /// Changes to the upstream request (request-transformer).
    pub rewrite: Rewrite,
    /// A plugin's own per-request state, by plugin name (rarely used: no allocation until then).
    notes: Vec<(&'static str, Box<dyn Any + Send + Sync>)>,
}

impl Ctx {
    pub fn put<T: Any + Send + Sync>(&mut self, plugin: &'static str, value: T) {
        self.notes.retain(|(p, _)| *p != plugin);
        self.notes.push((plugin, Box::new(value)));
    }
    pub fn get<T: Any + Send + Sync>(&self, plugin: &'static str) -> Option<&T> {
        self.notes
            .iter()
            .find(|(p, _)| *p == plugin)
            .and_then(|(_, v)| v.downcast_ref())
    }
    pub fn take<T: Any + Send + Sync>(&mut self, plugin: &'static str) -> Option<T> {
        let i = self.notes.iter().position(|(p, _)| *p == plugin)?;
        let (_, v) = self.notes.swap_remove(i);
        v.downcast().ok().map(|b| *b)
    }
}

/// The response on its way to the client.
pub struct ResponseHead<'a> {
    pub status: u16,
    pub headers: &'a mut HeaderMap,
    pub method: &'a Method,
    pub route_id: Uuid,
    pub service_id: Option<Uuid>,
}

/// Asked for by a plugin's response phase: runs on the whole body once it has arrived and
/// returns the body to send (the same bytes, or new ones).
pub type BodyFilter = Box<dyn FnOnce(Bytes) -> Bytes + Send>;

/// The finished request, as Kong's log serializer describes it.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub started_at_ms: i64,
    pub client_ip: IpAddr,
    pub method: Method,
    /// Path and query as the client sent them.
    pub uri: String,
    pub url: String,
    pub request_headers: HeaderMap,
    pub request_size: u64,
    pub upstream_uri: String,
    pub status: u16,
    pub response_headers: HeaderMap,
    pub response_size: u64,
    pub latency_ms: i64,
    pub upstream_latency_ms: Option<i64>,
    pub route_id: Option<Uuid>,
    pub service_id: Option<Uuid>,
    pub runtime_group_id: Uuid,
    pub consumer: Option<Arc<Identity>>,
    /// Fields plugins added in the access phase ([`Ctx::log_fields`]).
    pub extra: Vec<(String, Value)>,
}

fn headers_json(h: &HeaderMap) -> Value {
    let mut m = serde_json::Map::new();
    for name in h.keys() {
        let values: Vec<&str> = h
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let v = if values.len() == 1 {
            json!(values[0])
        } else {
            json!(values)
        };
        m.insert(name.as_str().to_string(), v);
    }
    Value::Object(m)
}

impl LogEntry {
    /// Kong's basic log serializer shape (what http-log and file-log write).
    pub fn to_json(&self) -> Value {
        let query: serde_json::Map<String, Value> = self
            .uri
            .split_once('?')
            .map(|(_, q)| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), json!(v)))
                    .collect()
            })
            .unwrap_or_default();
        let upstream = self.upstream_latency_ms.unwrap_or(-1);
        let kong = match self.upstream_latency_ms {
            Some(u) => (self.latency_ms - u).max(0),
            None => self.latency_ms,
        };
        let mut out = json!({
            "request": {
                "method": self.method.as_str(),
                "uri": self.uri,
                "url": self.url,
                "querystring": query,
                "headers": redacted(&self.request_headers),
                "size": self.request_size,
            },
            "upstream_uri": self.upstream_uri,
            "response": {
                "status": self.status,
                "headers": headers_json(&self.response_headers),
                "size": self.response_size,
            },
            "route": self.route_id.map(|id| json!({ "id": id })),
            "service": self.service_id.map(|id| json!({ "id": id })),
            "workspace": self.runtime_group_id,
            "consumer": self.consumer.as_ref().map(|c| json!({
                "id": c.consumer_id, "username": c.username, "custom_id": c.custom_id,
            })),
            "latencies": { "request": self.latency_ms, "proxy": upstream, "kong": kong },
            "client_ip": self.client_ip.to_string(),
            "started_at": self.started_at_ms,
        });
        if let Value::Object(m) = &mut out {
            for (k, v) in &self.extra {
                m.insert(k.clone(), v.clone());
            }
        }
        out
    }
}

/// Request headers for logs: credentials never leave as they came (Kong redacts
/// `authorization` the same way).
fn redacted(h: &HeaderMap) -> Value {
    let mut v = headers_json(h);
    if let Value::Object(m) = &mut v {
        for k in ["authorization", "proxy-authorization"] {
            if m.contains_key(k) {
                m.insert(k.into(), json!("REDACTED"));
            }
        }
    }
    v
}

/// What every plugin of the group shares: the consumers and their credentials.
#[derive(Default)]
pub struct Shared {
    pub consumers: HashMap<Uuid, Arc<Identity>>,
    by_username: HashMap<String, Uuid>,
    pub keys: key_auth::Keys,
    /// Gateway services (name, else host) and routes (name, else id) by id, for metric labels.
    names: Arc<Names>,
    pub basic: basic_auth::Credentials,
    pub acls: acl::Groups,
    pub jwts: jwt::Secrets,
}

/// What metrics call services and routes.
#[derive(Default)]
pub struct Names(HashMap<Uuid, String>);

impl Names {
    pub fn name_of(&self, id: Uuid) -> Option<String> {
        self.0.get(&id).cloned()
    }
}

impl Shared {
    pub fn build(cfg: &GatewayConfig) -> Shared {
        let consumers: HashMap<Uuid, Arc<Identity>> = cfg
            .consumers
            .iter()
            .map(|c| {
                (
                    c.id,
                    Arc::new(Identity::new(c.id, c.username.clone(), c.custom_id.clone())),
                )
            })
            .collect();
        let by_username = cfg
            .consumers
            .iter()
            .filter_map(|c| Some((c.username.clone()?, c.id)))
            .collect();
        let names = cfg
            .services
            .iter()
            .map(|s| (s.id, s.name.clone().unwrap_or_else(|| s.host.clone())))
            .chain(
                cfg.routes
                    .iter()
                    .map(|r| (r.id, r.name.clone().unwrap_or_else(|| r.id.to_string()))),
            )
            .collect();
        Shared {
            keys: key_auth::Keys::build(cfg, &consumers),
            basic: basic_auth::Credentials::build(cfg, &consumers),
            acls: acl::Groups::build(cfg),
            jwts: jwt::Secrets::build(cfg, &consumers),
            consumers,
            by_username,
            names: Arc::new(Names(names)),
        }
    }

    pub fn names(&self) -> Arc<Names> {
        self.names.clone()
    }

    /// The consumer an `anonymous` setting names (id or username).
    pub fn consumer(&self, who: &str) -> Option<Arc<Identity>> {
        let id = Uuid::parse_str(who)
            .ok()
            .filter(|id| self.consumers.contains_key(id))
            .or_else(|| self.by_username.get(who).copied())?;
        self.consumers.get(&id).cloned()
    }

    /// The anonymous consumer a plugin's config names, if any: an error when it names
    /// nobody (Kong answers 500 then, at request time; here the plugin is not applied).
    pub fn anonymous(&self, config: &Value) -> Result<Option<Arc<Identity>>, String> {
        match config.get("anonymous").and_then(Value::as_str) {
            None | Some("") => Ok(None),
            Some(who) => self
                .consumer(who)
                .map(Some)
                .ok_or_else(|| format!("anonymous consumer {who} is configured but doesn't exist")),
        }
    }
}

/// Kong's consumer headers upstream: who authenticated, with which credential, or that the
/// request runs as the anonymous consumer.
pub fn set_consumer_headers(h: &mut HeaderMap, who: &Identity, anonymous: bool) {
    let mut set = |name: HeaderName, value: Option<&HeaderValue>| match value {
        Some(v) => {
            h.insert(name, v.clone());
        }
        None => {
            h.remove(name);
        }
    };
    let values = &who.upstream;
    set(X_CONSUMER_ID, Some(&values.id));
    set(X_CONSUMER_CUSTOM_ID, values.custom_id.as_ref());
    set(X_CONSUMER_USERNAME, values.username.as_ref());
    set(X_CREDENTIAL_IDENTIFIER, values.credential.as_ref());
    set(X_ANONYMOUS_CONSUMER, anonymous.then_some(&TRUE));
}

const TRUE: HeaderValue = HeaderValue::from_static("true");
// Names as constants: a name given as `&str` is parsed on every request.
const X_CONSUMER_ID: HeaderName = HeaderName::from_static("x-consumer-id");
const X_CONSUMER_CUSTOM_ID: HeaderName = HeaderName::from_static("x-consumer-custom-id");
const X_CONSUMER_USERNAME: HeaderName = HeaderName::from_static("x-consumer-username");
const X_CREDENTIAL_IDENTIFIER: HeaderName = HeaderName::from_static("x-credential-identifier");
const X_ANONYMOUS_CONSUMER: HeaderName = HeaderName::from_static("x-anonymous-consumer");
