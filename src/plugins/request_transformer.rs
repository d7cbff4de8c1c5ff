//! Kong's request-transformer: in Kong's order — the upstream path (`replace.uri`), the
//! method, then headers, the body (JSON and url-encoded forms) and query arguments, each
//! through remove, rename, replace, add and append. Multipart bodies are passed on
//! unchanged. The body is only buffered when a body change applies to the request.
//! Values may use Kong's `$(headers.x)` / `$(query_params.x)` templates (no Lua: see
//! `template.rs`).

mod body;
mod template;

use std::sync::Arc;

use http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::Value;

use super::transform::{pairs, strings, Args, Pair};
use super::{Access, Flow, Handler, Runtime, Shared};
use crate::domain::Plugin;

/// One kind of change (`remove`, `rename`…) for one part of the request.
#[derive(Default, Clone)]
pub struct Ops {
    pub remove: Vec<String>,
    pub rename: Vec<Pair>,
    pub replace: Vec<Pair>,
    pub add: Vec<Pair>,
    pub append: Vec<Pair>,
}

impl Ops {
    fn read(c: &Value, field: &str) -> Ops {
        Ops {
            remove: strings(c, "remove", field),
            rename: pairs(c, "rename", field),
            replace: pairs(c, "replace", field),
            add: pairs(c, "add", field),
            append: pairs(c, "append", field),
        }
    }
    fn has_templates(&self) -> bool {
        [&self.rename, &self.replace, &self.add, &self.append]
            .iter()
            .flat_map(|l| l.iter())
            .any(|p| p.value.as_deref().is_some_and(template::has_template))
    }
    /// The values with their templates rendered.
    fn render(&self, env: &template::Env<'_>) -> Result<Ops, String> {
        let each = |l: &[Pair]| -> Result<Vec<Pair>, String> {
            l.iter()
                .map(|p| {
                    Ok(Pair {
                        name: p.name.clone(),
                        value: match &p.value {
                            Some(v) if template::has_template(v) => Some(template::render(v, env)?),
                            v => v.clone(),
                        },
                    })
                })
                .collect()
        };
        Ok(Ops {
            remove: self.remove.clone(),
            rename: each(&self.rename)?,
            replace: each(&self.replace)?,
            add: each(&self.add)?,
            append: each(&self.append)?,
        })
    }
    fn is_empty(&self) -> bool {
        self.remove.is_empty()
            && self.rename.is_empty()
            && self.replace.is_empty()
            && self.add.is_empty()
            && self.append.is_empty()
    }
}

pub struct RequestTransformer {
    plan: Plan,
    /// Whether any value has a `$(…)` template (rendered per request, else used as is).
    templates: bool,
}

/// The changes to make.
struct Plan {
    method: Option<Method>,
    uri: Option<String>,
    headers: Ops,
    query: Ops,
    body: Arc<Ops>,
}

impl Plan {
    fn render(&self, env: &template::Env<'_>) -> Result<Plan, String> {
        Ok(Plan {
            method: self.method.clone(),
            uri: match &self.uri {
                Some(u) => Some(template::render(u, env)?),
                None => None,
            },
            headers: self.headers.render(env)?,
            query: self.query.render(env)?,
            body: Arc::new(self.body.render(env)?),
        })
    }
}

pub fn build(p: &Plugin, _: &Shared, _: &Runtime) -> Result<Arc<dyn Handler>, String> {
    let c = &p.config;
    let method = match c.get("http_method").and_then(Value::as_str) {
        Some(m) => Some(
            Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                .map_err(|_| format!("bad http_method '{m}'"))?,
        ),
        None => None,
    };
    let plan = Plan {
        method,
        uri: c
            .get("replace")
            .and_then(|r| r.get("uri"))
            .and_then(Value::as_str)
            .map(str::to_string),
        headers: Ops::read(c, "headers"),
        query: Ops::read(c, "querystring"),
        body: Arc::new(Ops::read(c, "body")),
    };
    let templates = plan.uri.as_deref().is_some_and(template::has_template)
        || plan.headers.has_templates()
        || plan.query.has_templates()
        || plan.body.has_templates();
    Ok(Arc::new(RequestTransformer { plan, templates }))
}

fn name(n: &str) -> Option<HeaderName> {
    HeaderName::from_bytes(n.as_bytes()).ok()
}

fn value(p: &Pair) -> Option<HeaderValue> {
    p.value
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
}

/// Headers through remove, rename, replace, add, append. A replaced Host is returned: it
/// goes upstream in place of the one the proxy would send.
pub fn transform_headers(ops: &Ops, h: &mut HeaderMap) -> Option<HeaderValue> {
    for n in ops.remove.iter().filter_map(|n| name(n)) {
        h.remove(n);
    }
    for p in &ops.rename {
        let (Some(old), Some(new)) = (name(&p.name), p.value.as_deref().and_then(name)) else {
            continue;
        };
        if old == new || !h.contains_key(&old) {
            continue;
        }
        let values: Vec<HeaderValue> = h.get_all(&old).iter().cloned().collect();
        h.remove(&old);
        h.remove(&new);
        for v in values {
            h.append(new.clone(), v);
        }
    }
    let mut host = None;
    for p in &ops.replace {
        let (Some(n), Some(v)) = (name(&p.name), value(p)) else {
            continue;
        };
        if n == header::HOST {
            host = Some(v);
        } else if h.contains_key(&n) {
            h.insert(n, v);
        }
    }
    for p in &ops.add {
        let (Some(n), Some(v)) = (name(&p.name), value(p)) else {
            continue;
        };
        if n != header::HOST && !h.contains_key(&n) {
            h.insert(n, v);
        }
    }
    for p in &ops.append {
        let (Some(n), Some(v)) = (name(&p.name), value(p)) else {
            continue;
        };
        if n != header::HOST {
            h.append(n, v);
        }
    }
    host
}

/// Query arguments through remove, rename, replace, add, append.
pub fn transform_query(ops: &Ops, args: &mut Args) {
    for n in &ops.remove {
        args.remove(n);
    }
    for p in &ops.rename {
        if let Some(new) = &p.value {
            args.rename(&p.name, new);
        }
    }
    for p in &ops.replace {
        if let (Some(v), true) = (&p.value, args.has(&p.name)) {
            args.set(&p.name, vec![v.clone()]);
        }
    }
    for p in &ops.add {
        if let (Some(v), false) = (&p.value, args.has(&p.name)) {
            args.set(&p.name, vec![v.clone()]);
        }
    }
    for p in &ops.append {
        if let Some(v) = &p.value {
            args.push(p.name.clone(), v.clone());
        }
    }
}

impl Handler for RequestTransformer {
    fn name(&self) -> &'static str {
        "request-transformer"
    }
    fn priority(&self) -> i32 {
        801
    }
    fn access(&self, req: &mut Access<'_>) -> Flow {
        if !self.templates {
            return self.plan.apply(req);
        }
        // Templates read the request as the client sent it, before any change here.
        let headers = req.headers.clone();
        let query = req.query.as_deref().map(Args::parse).unwrap_or_default();
        let env = template::Env {
            headers: &headers,
            query: &query,
        };
        match self.plan.render(&env) {
            Ok(plan) => plan.apply(req),
            Err(e) => Flow::Fail(e),
        }
    }
}

impl Plan {
    fn apply(&self, req: &mut Access<'_>) -> Flow {
        if let Some(uri) = &self.uri {
            req.ctx.rewrite.path = Some(uri.clone());
        }
        let mut form_to_query = false;
        let kind = body::Kind::of(req.headers);
        if let Some(m) = &self.method {
            req.ctx.rewrite.method = Some(m.clone());
            // A form sent as GET/HEAD/TRACE: Kong also moves its arguments into the query.
            form_to_query =
                matches!(m.as_str(), "GET" | "HEAD" | "TRACE") && kind == Some(body::Kind::Form);
        }
        if let Some(host) = transform_headers(&self.headers, req.headers) {
            req.ctx.rewrite.host = Some(host);
        }
        let body_changes =
            kind.is_some_and(|k| k != body::Kind::Multipart) && !self.body.is_empty();
        if body_changes || form_to_query {
            let ops = self.body.clone();
            let kind = kind.filter(|_| body_changes);
            req.ctx.rewrite.body = Some(Box::new(move |bytes, query| {
                if form_to_query {
                    body::form_into_query(&bytes, query);
                }
                kind.and_then(|k| body::transform(k, &ops, &bytes))
            }));
        }
        if !self.query.is_empty() {
            let mut args = req.query.as_deref().map(Args::parse).unwrap_or_default();
            transform_query(&self.query, &mut args);
            *req.query = args.encode_sorted();
        }
        Flow::Continue
    }
}

#[cfg(test)]
mod tests;
