//! Kong's cors. A preflight (OPTIONS with Origin and Access-Control-Request-Method) is
//! answered 200 here with the Allow-* headers, unless `preflight_continue` sends it upstream
//! untouched. Other requests get Allow-Origin (+ Vary: Origin when it depends on the origin),
//! Allow-Credentials and Expose-Headers; they are decided in the access phase and carried as
//! downstream headers, so errors and other plugins' answers (a 401, a 502) carry them too, as
//! Kong's header_filter does.
//!
//! Origins follow Kong exactly: one flat entry (only `A-Za-z0-9.:/-`) is sent as it is
//! whatever the client's origin; otherwise flat entries compare with the normalized origin
//! (scheme://host[:port], default ports dropped) and anything else is a regex anchored at both
//! ends, matched on the host alone unless the entry has a `:`.

use std::sync::Arc;

use http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use regex::Regex;
use serde_json::Value;

use super::{Access, Exit, ExitBody, Flow, Handler, Runtime, Shared};
use crate::domain::Plugin;

const DEFAULT_METHODS: &str = "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT";

enum Entry {
    Domain(String),
    Regex { re: Regex, by_host: bool },
}

enum Origins {
    /// No origins, or just `*`.
    All,
    /// One flat entry: always sent as configured.
    Fixed(String),
    List {
        entries: Vec<Entry>,
        /// A `*` among several entries: every origin is allowed once one is sent.
        star: bool,
    },
}

pub struct Cors {
    origins: Origins,
    headers: Option<String>,
    exposed: Option<String>,
    methods: String,
    max_age: Option<String>,
    credentials: bool,
    private_network: bool,
    preflight_continue: bool,
    allow_origin_absent: bool,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn joined(v: Option<&Value>) -> Option<String> {
    let s = strings(v);
    (!s.is_empty()).then(|| s.join(","))
}

fn is_flat(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"./:-".contains(&b))
}

pub fn build(p: &Plugin, _: &Shared, _: &Runtime) -> Result<Arc<dyn Handler>, String> {
    Ok(Arc::new(Cors::compile(&p.config)?))
}

impl Cors {
    pub fn compile(c: &Value) -> Result<Cors, String> {
        let list = strings(c.get("origins"));
        let origins = if list.is_empty() || (list.len() == 1 && list[0] == "*") {
            Origins::All
        } else if list.len() == 1 && is_flat(&list[0]) {
            Origins::Fixed(list[0].clone())
        } else {
            let mut entries = Vec::new();
            for e in list.iter().filter(|e| *e != "*") {
                let by_host = !e.contains(':');
                entries.push(if is_flat(e) {
                    Entry::Domain(normalize(e).0)
                } else {
                    // Kong 0.x did not anchor regexes: anchor both ends unless the user did.
                    let body = e.strip_prefix('^').unwrap_or(e);
                    let dollar = if body.ends_with('$') { "" } else { "$" };
                    let re = Regex::new(&format!(r"\A(?:{body}{dollar})"))
                        .map_err(|err| format!("origin '{e}': {err}"))?;
                    Entry::Regex { re, by_host }
                });
            }
            Origins::List {
                entries,
                star: list.iter().any(|e| e == "*"),
            }
        };
        let flag = |k: &str, d: bool| c.get(k).and_then(Value::as_bool).unwrap_or(d);
        Ok(Cors {
            origins,
            headers: joined(c.get("headers")),
            exposed: joined(c.get("exposed_headers")),
            methods: joined(c.get("methods")).unwrap_or_else(|| DEFAULT_METHODS.into()),
            max_age: c
                .get("max_age")
                .filter(|v| v.is_number())
                .map(Value::to_string),
            credentials: flag("credentials", false),
            private_network: flag("private_network", false),
            preflight_continue: flag("preflight_continue", false),
            allow_origin_absent: flag("allow_origin_absent", true),
        })
    }

    /// Allow-Origin and Vary for this origin: (the origin header to send, whether every
    /// origin is allowed, whether to add Vary: Origin).
    fn origin(&self, req_origin: Option<&str>) -> (Option<String>, bool, bool) {
        match &self.origins {
            Origins::All => (Some("*".into()), true, false),
            Origins::Fixed(o) => (Some(o.clone()), false, true),
            Origins::List { entries, star } => {
                let Some(given) = req_origin else {
                    return (None, false, true);
                };
                if *star {
                    return (Some("*".into()), true, true);
                }
                let (domain, host) = normalize(given);
                let found = entries.iter().any(|e| match e {
                    Entry::Domain(d) => *d == domain,
                    Entry::Regex { re, by_host } => {
                        re.is_match(if *by_host { &host } else { &domain })
                    }
                });
                (found.then_some(domain), false, true)
            }
        }
    }

    /// The CORS headers of a response (preflight or not), in Kong's order.
    fn headers(&self, req_origin: Option<&str>, out: &mut Vec<(HeaderName, HeaderValue)>) {
        let (acao, allow_all, mut vary) = self.origin(req_origin);
        let mut acao = acao;
        let mut acac = false;
        if self.credentials {
            if !allow_all {
                acac = true;
            } else if let Some(o) = req_origin {
                // Allow-Credentials cannot go with Allow-Origin: *.
                vary = true;
                acao = Some(o.to_string());
                acac = true;
            }
        }
        let mut push = |name: HeaderName, v: &str| {
            if let Ok(v) = HeaderValue::from_str(v) {
                out.push((name, v));
            }
        };
        if vary {
            push(header::VARY, "Origin");
        }
        if let Some(o) = acao {
            push(header::ACCESS_CONTROL_ALLOW_ORIGIN, &o);
        }
        if acac {
            push(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
        }
    }

    fn preflight(&self, h: &HeaderMap, origin: &str) -> Exit {
        let mut headers = Vec::new();
        self.headers(Some(origin), &mut headers);
        let mut push = |name: HeaderName, v: &str| {
            if let Ok(v) = HeaderValue::from_str(v) {
                headers.push((name, v));
            }
        };
        match (&self.headers, h.get(header::ACCESS_CONTROL_REQUEST_HEADERS)) {
            (Some(allowed), _) => push(header::ACCESS_CONTROL_ALLOW_HEADERS, allowed),
            (None, Some(asked)) => push(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                asked.to_str().unwrap_or_default(),
            ),
            (None, None) => {}
        }
        push(header::ACCESS_CONTROL_ALLOW_METHODS, &self.methods);
        if let Some(age) = &self.max_age {
            push(header::ACCESS_CONTROL_MAX_AGE, age);
        }
        let pna = h
            .get("access-control-request-private-network")
            .is_some_and(|v| v == "true");
        if self.private_network && pna {
            push(
                HeaderName::from_static("access-control-allow-private-network"),
                "true",
            );
        }
        Exit {
            status: 200,
            body: ExitBody::Empty,
            headers,
        }
    }
}

/// Kong's `normalize_origin`: (scheme://host[:port] without default ports, host). A value
/// without `//` has no host: it is both.
fn normalize(origin: &str) -> (String, String) {
    let (scheme, rest) = match origin.split_once("//") {
        Some((s, rest)) if s.is_empty() || s.ends_with(':') => (s.strip_suffix(':'), rest),
        _ => return (origin.to_string(), origin.to_string()),
    };
    let authority = rest
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("")
        .rsplit('@')
        .next()
        .unwrap_or("");
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            (h, Some(p))
        }
        _ => (authority, None),
    };
    if host.is_empty() {
        return (origin.to_string(), origin.to_string());
    }
    let port = match (scheme, port) {
        (Some("http"), Some("80")) | (Some("https"), Some("443")) => None,
        (_, p) => p,
    };
    let mut domain = String::new();
    if let Some(s) = scheme {
        domain.push_str(s);
        domain.push_str("://");
    }
    domain.push_str(host);
    if let Some(p) = port {
        domain.push(':');
        domain.push_str(p);
    }
    (domain, host.to_string())
}

fn given(h: &HeaderMap, name: HeaderName) -> Option<&str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

impl Handler for Cors {
    fn name(&self) -> &'static str {
        "cors"
    }
    fn priority(&self) -> i32 {
        2000
    }
    fn access(&self, req: &mut Access<'_>) -> Flow {
        let origin = given(req.headers, header::ORIGIN);
        let preflight = *req.method == Method::OPTIONS
            && origin.is_some()
            && req
                .headers
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if preflight {
            if self.preflight_continue {
                return Flow::Continue;
            }
            let origin = origin.unwrap_or_default().to_string();
            return Flow::Exit(self.preflight(req.headers, &origin));
        }
        if origin.is_none() && !self.allow_origin_absent {
            return Flow::Continue;
        }
        let origin = origin.map(str::to_string);
        self.headers(origin.as_deref(), &mut req.ctx.downstream);
        if let Some(e) = &self.exposed {
            if let Ok(v) = HeaderValue::from_str(e) {
                req.ctx
                    .downstream
                    .push((header::ACCESS_CONTROL_EXPOSE_HEADERS, v));
            }
        }
        Flow::Continue
    }
}

#[cfg(test)]
mod tests;
