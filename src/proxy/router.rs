//! Kong's route matching, pure and synchronous: routes in, a match out. Each (route, path) pair is
//! a candidate, ordered once at compile time by Kong's priority rules, so matching is a scan that
//! stops at the first candidate whose attributes all match.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;

use http::HeaderMap;
use regex::{Regex, RegexSet};

use crate::domain::Route;

/// What the router looks at in a request.
pub struct RequestView<'a> {
    pub method: &'a str,
    /// The Host header (or authority), possibly with a port.
    pub host: Option<&'a str>,
    pub path: &'a str,
    pub headers: &'a HeaderMap,
    /// The port the request arrived on, used when the Host header has none.
    pub local_port: u16,
    /// The server name the client sent in its TLS handshake (none over plain HTTP).
    pub sni: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// Index into the routes the router was compiled from.
    pub route: usize,
    /// Length in bytes of the path prefix the route matched (what strip_path removes).
    pub matched_len: usize,
    /// The candidate (route × path) that matched, for [`Router::captures`].
    pub candidate: u32,
}

#[derive(Debug)]
enum PathPattern {
    Prefix(String),
    Regex(Regex),
}

#[derive(Debug)]
enum HostPattern {
    Exact {
        host: String,
        port: Option<u16>,
    },
    /// `*.example.com`: the suffix `.example.com`.
    Suffix {
        suffix: String,
        port: Option<u16>,
    },
    /// `example.*`: the prefix `example.`.
    Prefix {
        prefix: String,
        port: Option<u16>,
    },
}

#[derive(Debug)]
enum ValuePattern {
    Exact(String),
    Regex(Regex),
}

#[derive(Debug)]
struct Candidate {
    route: usize,
    path: Option<PathPattern>,
    hosts: Vec<HostPattern>,
    methods: Vec<String>,
    headers: Vec<(String, Vec<ValuePattern>)>,
    /// Lower-cased SNIs; `*.x` matches any one label before `.x`.
    snis: Vec<String>,
    key: SortKey,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SortKey {
    match_weight: u32,
    category: u32,
    submatch: u32,
    headers: usize,
    regex_priority: i64,
    uri_len: usize,
    created_at: i64,
    order: usize,
}

// Kong's traditional router: categories by number of attributes, then attribute kind.
const CAT_HOST: u32 = 0x40;
const CAT_HEADER: u32 = 0x20;
const CAT_URI: u32 = 0x10;
const CAT_METHOD: u32 = 0x08;
const CAT_SNI: u32 = 0x04;
const SUB_REGEX_URI: u32 = 0x01;
const SUB_PLAIN_HOSTS_ONLY: u32 = 0x02;
const SUB_WILDCARD_HOST_PORT: u32 = 0x04;

impl Ord for SortKey {
    fn cmp(&self, o: &Self) -> Ordering {
        o.match_weight
            .cmp(&self.match_weight)
            .then(o.category.cmp(&self.category))
            .then(o.submatch.cmp(&self.submatch))
            .then(o.headers.cmp(&self.headers))
            .then_with(|| {
                if self.submatch & SUB_REGEX_URI != 0 {
                    o.regex_priority.cmp(&self.regex_priority)
                } else {
                    Ordering::Equal
                }
            })
            .then(o.uri_len.cmp(&self.uri_len))
            .then(self.created_at.cmp(&o.created_at))
            .then(self.order.cmp(&o.order))
    }
}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

#[derive(Debug, Default)]
pub struct Router {
    /// Every candidate, in Kong's priority order: the first that fully matches wins.
    candidates: Vec<Candidate>,
    /// Prefix-path candidates by their exact prefix, each list in priority order.
    by_prefix: HashMap<Box<str>, Vec<u32>>,
    /// The distinct prefix lengths, so a lookup only tries lengths that exist.
    prefix_lens: Vec<usize>,
    /// Candidates without a path, in priority order.
    pathless: Vec<u32>,
    /// Every regex path in one set (one pass over the path finds all that match); `regex_ids`
    /// maps a set index to its candidate, in priority order.
    regex_set: Option<RegexSet>,
    regex_ids: Vec<u32>,
    /// Whether any route matches on headers: when none does, a caller may route with an empty
    /// header map instead of building one.
    uses_headers: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub route: usize,
    pub message: String,
}

impl Router {
    /// Compiles `routes`. A route that cannot be compiled (an invalid regex that slipped past
    /// validation) is left out and reported; the others still serve.
    pub fn compile(routes: &[Route]) -> (Router, Vec<CompileError>) {
        let mut candidates = Vec::new();
        let mut errors = Vec::new();
        for (idx, route) in routes.iter().enumerate() {
            match compile_route(idx, route) {
                Ok(mut c) => candidates.append(&mut c),
                Err(message) => errors.push(CompileError {
                    route: idx,
                    message,
                }),
            }
        }
        candidates.sort_by(|a, b| a.key.cmp(&b.key));
        let mut by_prefix: HashMap<Box<str>, Vec<u32>> = HashMap::new();
        let mut pathless = Vec::new();
        let mut regex_ids = Vec::new();
        let mut regex_sources = Vec::new();
        for (i, c) in candidates.iter().enumerate() {
            match &c.path {
                Some(PathPattern::Prefix(p)) => by_prefix
                    .entry(p.as_str().into())
                    .or_default()
                    .push(i as u32),
                Some(PathPattern::Regex(re)) => {
                    regex_ids.push(i as u32);
                    regex_sources.push(re.as_str().to_string());
                }
                None => pathless.push(i as u32),
            }
        }
        let mut prefix_lens: Vec<usize> = by_prefix.keys().map(|k| k.len()).collect();
        prefix_lens.sort_unstable();
        prefix_lens.dedup();
        let regex_set = if regex_sources.is_empty() {
            None
        } else {
            match RegexSet::new(&regex_sources) {
                Ok(set) => Some(set),
                Err(e) => {
                    // Each pattern compiled alone, so this is a size limit; fall back to scanning.
                    tracing::warn!(error = %e, patterns = regex_sources.len(), "regex paths not combined");
                    pathless.append(&mut regex_ids);
                    pathless.sort_unstable();
                    None
                }
            }
        };
        let uses_headers = candidates.iter().any(|c| !c.headers.is_empty());
        (
            Router {
                uses_headers,
                candidates,
                by_prefix,
                prefix_lens,
                pathless,
                regex_set,
                regex_ids,
            },
            errors,
        )
    }

    pub fn len(&self) -> usize {
        self.candidates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.candidates.is_empty()
    }

    pub fn uses_headers(&self) -> bool {
        self.uses_headers
    }

    /// The highest-priority candidate that matches. Only candidates whose prefix is a prefix of
    /// the path (found by hash, one lookup per distinct prefix length) and the non-prefix ones
    /// are tried; each list is in priority order, so a list stops at the first candidate that
    /// cannot beat the best match so far.
    pub fn find(&self, req: &RequestView<'_>) -> Option<RouteMatch> {
        let (req_host, req_port) = split_host(req.host.unwrap_or(""), req.local_port);
        let mut best: Option<(u32, RouteMatch)> = None;
        let mut scan = |list: &[u32]| {
            for &i in list {
                if best.as_ref().is_some_and(|(b, _)| *b <= i) {
                    return;
                }
                if let Some(mut m) = self.candidates[i as usize].matches(req, &req_host, req_port) {
                    m.candidate = i;
                    best = Some((i, m));
                    return;
                }
            }
        };
        for &len in &self.prefix_lens {
            let Some(prefix) = req.path.get(..len) else {
                break;
            };
            if let Some(list) = self.by_prefix.get(prefix) {
                scan(list);
            }
        }
        scan(&self.pathless);
        if let Some(set) = &self.regex_set {
            if set.is_match(req.path) {
                let hits: Vec<u32> = set
                    .matches(req.path)
                    .iter()
                    .map(|k| self.regex_ids[k])
                    .collect();
                scan(&hits);
            }
        }
        best.map(|(_, m)| m)
    }

    /// The named captures of the regex path that matched (Kong's `uri_captures`), for hashing
    /// and plugins; empty for prefix paths.
    pub fn captures<'p>(&self, m: &RouteMatch, path: &'p str) -> Vec<(&str, &'p str)> {
        let Some(PathPattern::Regex(re)) = self
            .candidates
            .get(m.candidate as usize)
            .and_then(|c| c.path.as_ref())
        else {
            return Vec::new();
        };
        let Some(caps) = re.captures(path) else {
            return Vec::new();
        };
        re.capture_names()
            .flatten()
            .filter_map(|n| caps.name(n).map(|v| (n, v.as_str())))
            .collect()
    }

    /// The reference semantics the index must reproduce: try every candidate in order.
    #[cfg(test)]
    fn find_linear(&self, req: &RequestView<'_>) -> Option<RouteMatch> {
        let (req_host, req_port) = split_host(req.host.unwrap_or(""), req.local_port);
        self.candidates.iter().enumerate().find_map(|(i, c)| {
            let mut m = c.matches(req, &req_host, req_port)?;
            m.candidate = i as u32;
            Some(m)
        })
    }
}

impl Candidate {
    fn matches(&self, req: &RequestView<'_>, host: &str, port: u16) -> Option<RouteMatch> {
        if !self.methods.is_empty() && !self.methods.iter().any(|m| m == req.method) {
            return None;
        }
        if !self.hosts.is_empty() && !self.hosts.iter().any(|h| h.matches(host, port)) {
            return None;
        }
        if !self.snis.is_empty() {
            let sni = req.sni?;
            let hit = self.snis.iter().any(|p| match p.strip_prefix('*') {
                Some(suffix) => {
                    sni.len() > suffix.len()
                        && sni[sni.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
                        && !sni[..sni.len() - suffix.len()].contains('.')
                }
                None => p.eq_ignore_ascii_case(sni),
            });
            if !hit {
                return None;
            }
        }
        for (name, values) in &self.headers {
            let ok = req.headers.get_all(name.as_str()).iter().any(|v| {
                let v = v.to_str().unwrap_or("");
                values.iter().any(|p| match p {
                    ValuePattern::Exact(e) => e.eq_ignore_ascii_case(v),
                    ValuePattern::Regex(re) => re.is_match(v),
                })
            });
            if !ok {
                return None;
            }
        }
        let matched_len = match &self.path {
            None => 0,
            Some(PathPattern::Prefix(p)) => {
                if !req.path.starts_with(p.as_str()) {
                    return None;
                }
                p.len()
            }
            Some(PathPattern::Regex(re)) => re.find(req.path)?.end(),
        };
        Some(RouteMatch {
            route: self.route,
            matched_len,
            candidate: 0,
        })
    }
}

impl HostPattern {
    fn matches(&self, host: &str, port: u16) -> bool {
        let port_ok = |p: &Option<u16>| p.is_none_or(|p| p == port);
        match self {
            HostPattern::Exact { host: h, port: p } => port_ok(p) && h == host,
            HostPattern::Suffix { suffix, port: p } => {
                port_ok(p) && host.len() > suffix.len() && host.ends_with(suffix.as_str())
            }
            HostPattern::Prefix { prefix, port: p } => {
                port_ok(p) && host.len() > prefix.len() && host.starts_with(prefix.as_str())
            }
        }
    }
}

/// Splits `host[:port]` into a lower-cased host and a port (the listener's when absent).
fn split_host(raw: &str, default_port: u16) -> (Cow<'_, str>, u16) {
    let (h, p) = if raw.starts_with('[') {
        match raw.find(']') {
            Some(end) => (&raw[..=end], raw[end + 1..].strip_prefix(':')),
            None => (raw, None),
        }
    } else {
        match raw.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (raw, None),
        }
    };
    let port = p.and_then(|p| p.parse().ok()).unwrap_or(default_port);
    let host = if h.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(h.to_ascii_lowercase())
    } else {
        Cow::Borrowed(h)
    };
    (host, port)
}

fn parse_host_pattern(raw: &str) -> HostPattern {
    let (name, port) = match raw.rsplit_once(':') {
        Some((n, p)) if p.parse::<u16>().is_ok() => (n, p.parse().ok()),
        _ => (raw, None),
    };
    let name = name.to_ascii_lowercase();
    if let Some(rest) = name.strip_prefix('*') {
        HostPattern::Suffix {
            suffix: rest.to_string(),
            port,
        }
    } else if let Some(rest) = name.strip_suffix('*') {
        HostPattern::Prefix {
            prefix: rest.to_string(),
            port,
        }
    } else {
        HostPattern::Exact { host: name, port }
    }
}

fn compile_route(idx: usize, route: &Route) -> Result<Vec<Candidate>, String> {
    let hosts: Vec<HostPattern> = route
        .hosts
        .iter()
        .flatten()
        .map(|h| parse_host_pattern(h))
        .collect();
    let methods: Vec<String> = route.methods.clone().unwrap_or_default();
    let snis: Vec<String> = route
        .snis
        .iter()
        .flatten()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let mut headers = Vec::new();
    for (name, values) in route.headers.iter().flatten() {
        let mut pats = Vec::new();
        for v in values {
            match v.strip_prefix("~*") {
                Some(re) => pats.push(ValuePattern::Regex(
                    Regex::new(&format!("(?i){re}"))
                        .map_err(|e| format!("invalid header regex {re}: {e}"))?,
                )),
                None => pats.push(ValuePattern::Exact(v.clone())),
            }
        }
        headers.push((name.to_ascii_lowercase(), pats));
    }

    let mut category = 0;
    if !hosts.is_empty() {
        category |= CAT_HOST;
    }
    if !headers.is_empty() {
        category |= CAT_HEADER;
    }
    if route.paths.as_ref().is_some_and(|p| !p.is_empty()) {
        category |= CAT_URI;
    }
    if !methods.is_empty() {
        category |= CAT_METHOD;
    }
    if route.snis.as_ref().is_some_and(|s| !s.is_empty()) {
        category |= CAT_SNI;
    }
    let mut host_sub = 0;
    if !hosts.is_empty() {
        let wildcard_port = hosts
            .iter()
            .any(|h| !matches!(h, HostPattern::Exact { .. }) && h.port().is_some());
        let plain_only = hosts.iter().all(|h| matches!(h, HostPattern::Exact { .. }));
        if wildcard_port {
            host_sub |= SUB_WILDCARD_HOST_PORT;
        }
        if plain_only {
            host_sub |= SUB_PLAIN_HOSTS_ONLY;
        }
    }

    let make = |path: Option<PathPattern>, uri_len: usize, regex: bool, order: usize| Candidate {
        route: idx,
        path,
        hosts: hosts.iter().map(HostPattern::clone_pattern).collect(),
        methods: methods.clone(),
        headers: headers
            .iter()
            .map(|(n, v)| {
                (
                    n.clone(),
                    v.iter().map(ValuePattern::clone_pattern).collect(),
                )
            })
            .collect(),
        snis: snis.clone(),
        key: SortKey {
            match_weight: category.count_ones(),
            category,
            submatch: host_sub | if regex { SUB_REGEX_URI } else { 0 },
            headers: headers.len(),
            regex_priority: route.regex_priority,
            uri_len,
            created_at: route.created_at,
            order: idx * 1024 + order,
        },
    };

    let paths = route.paths.clone().unwrap_or_default();
    if paths.is_empty() {
        return Ok(vec![make(None, 0, false, 0)]);
    }
    let mut out = Vec::with_capacity(paths.len());
    for (i, p) in paths.iter().enumerate() {
        match p.strip_prefix('~') {
            Some(re) => {
                let compiled = Regex::new(&format!("^(?:{re})"))
                    .map_err(|e| format!("invalid path regex {re}: {e}"))?;
                out.push(make(Some(PathPattern::Regex(compiled)), re.len(), true, i));
            }
            None => out.push(make(
                Some(PathPattern::Prefix(p.clone())),
                p.len(),
                false,
                i,
            )),
        }
    }
    Ok(out)
}

impl HostPattern {
    fn port(&self) -> Option<u16> {
        match self {
            HostPattern::Exact { port, .. }
            | HostPattern::Suffix { port, .. }
            | HostPattern::Prefix { port, .. } => *port,
        }
    }

    fn clone_pattern(&self) -> HostPattern {
        match self {
            HostPattern::Exact { host, port } => HostPattern::Exact {
                host: host.clone(),
                port: *port,
            },
            HostPattern::Suffix { suffix, port } => HostPattern::Suffix {
                suffix: suffix.clone(),
                port: *port,
            },
            HostPattern::Prefix { prefix, port } => HostPattern::Prefix {
                prefix: prefix.clone(),
                port: *port,
            },
        }
    }
}

impl ValuePattern {
    fn clone_pattern(&self) -> ValuePattern {
        match self {
            ValuePattern::Exact(s) => ValuePattern::Exact(s.clone()),
            ValuePattern::Regex(r) => ValuePattern::Regex(r.clone()),
        }
    }
}

#[cfg(test)]
mod tests;
