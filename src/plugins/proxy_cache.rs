//! Kong's proxy-cache with the memory strategy: cacheable requests (method, and with
//! `cache_control` the request's Cache-Control) are looked up by Kong's cache key — sha256 of
//! consumer:route, method, path, the query (all arguments, or `vary_query_params`) and
//! `vary_headers` — and answered from memory (`X-Cache-Status: Hit`, `Age`); a miss stores a
//! cacheable response (status, content type, Cache-Control) once its body has arrived. The
//! store is shared by every plugin instance of a dictionary, bounded in bytes, and survives
//! configuration changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::HeaderMap;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{
    Access, BodyFilter, Ctx, Exit, ExitBody, Flow, Handler, ResponseHead, Runtime, Shared,
};
use crate::domain::Plugin;

/// What one dictionary may hold before the oldest entries go.
const BUDGET_BYTES: usize = 64 * 1024 * 1024;
const X_CACHE_STATUS: HeaderName = HeaderName::from_static("x-cache-status");
const X_CACHE_KEY: HeaderName = HeaderName::from_static("x-cache-key");

struct Entry {
    status: u16,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    stored_at: u64,
    /// Seconds the entry is fresh.
    ttl: u64,
    /// When it is dropped from memory.
    expires_at: u64,
}

impl Entry {
    fn size(&self) -> usize {
        self.body.len()
            + self
                .headers
                .iter()
                .map(|(n, v)| n.as_str().len() + v.len())
                .sum::<usize>()
            + 64
    }
}

#[derive(Default)]
pub struct Store {
    inner: Mutex<(HashMap<String, Arc<Entry>>, usize)>,
}

impl Store {
    fn get(&self, key: &str, now: u64) -> Option<Arc<Entry>> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.0.get(key).filter(|e| e.expires_at > now).cloned()
    }

    fn put(&self, key: String, e: Entry, now: u64) {
        let size = e.size();
        if size > BUDGET_BYTES / 4 {
            return;
        }
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (map, used) = &mut *g;
        if let Some(old) = map.remove(&key) {
            *used -= old.size();
        }
        if *used + size > BUDGET_BYTES {
            map.retain(|_, e| e.expires_at > now);
            *used = map.values().map(|e| e.size()).sum();
            let mut by_age: Vec<(u64, String)> =
                map.iter().map(|(k, e)| (e.stored_at, k.clone())).collect();
            by_age.sort();
            for (_, k) in by_age {
                if *used + size <= BUDGET_BYTES {
                    break;
                }
                if let Some(old) = map.remove(&k) {
                    *used -= old.size();
                }
            }
        }
        *used += size;
        map.insert(key, Arc::new(e));
    }
}

pub struct ProxyCache {
    store: Arc<Store>,
    response_code: Vec<u16>,
    request_method: Vec<String>,
    content_type: Vec<String>,
    cache_ttl: u64,
    storage_ttl: Option<u64>,
    cache_control: bool,
    ignore_uri_case: bool,
    vary_query_params: Vec<String>,
    vary_headers: Vec<String>,
    show_age: bool,
    show_status: bool,
    show_key: bool,
}

fn strings(v: &Value, k: &str) -> Vec<String> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn build(p: &Plugin, _: &Shared, runtime: &Runtime) -> Result<Arc<dyn Handler>, String> {
    let c = &p.config;
    let dict = c
        .pointer("/memory/dictionary_name")
        .and_then(Value::as_str)
        .unwrap_or("kong_db_cache");
    let shown = |h: &str| {
        c.get("response_headers")
            .and_then(|r| r.get(h))
            .and_then(Value::as_bool)
            .unwrap_or(true)
    };
    Ok(Arc::new(ProxyCache {
        store: runtime.get(&format!("proxy-cache:{dict}"), Store::default),
        response_code: c
            .get("response_code")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_u64().map(|n| n as u16))
                    .collect()
            })
            .unwrap_or_default(),
        request_method: strings(c, "request_method"),
        content_type: strings(c, "content_type"),
        cache_ttl: c.get("cache_ttl").and_then(Value::as_u64).unwrap_or(300),
        storage_ttl: c.get("storage_ttl").and_then(Value::as_u64),
        cache_control: c
            .get("cache_control")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        ignore_uri_case: c
            .get("ignore_uri_case")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        vary_query_params: strings(c, "vary_query_params"),
        vary_headers: strings(c, "vary_headers"),
        show_age: shown("age"),
        show_status: shown("X-Cache-Status"),
        show_key: shown("X-Cache-Key"),
    }))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Cache-Control directives, lowercased, with their values.
fn directives(h: &HeaderMap) -> HashMap<String, Option<String>> {
    h.get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|d| {
            let d = d.trim();
            if d.is_empty() {
                return None;
            }
            Some(match d.split_once('=') {
                Some((k, v)) => (
                    k.trim().to_ascii_lowercase(),
                    Some(v.trim().trim_matches('"').to_string()),
                ),
                None => (d.to_ascii_lowercase(), None),
            })
        })
        .collect()
}

fn number(cc: &HashMap<String, Option<String>>, k: &str) -> Option<i64> {
    cc.get(k)?.as_deref()?.parse().ok()
}

/// Kong's `generate_key_from`: `field=value` (sorted values joined by commas) for each field
/// present, joined by colons.
fn vary_key(args: &[(String, Option<String>)], fields: &[String]) -> String {
    let mut parts = Vec::new();
    for f in fields {
        let mut values: Vec<&str> = args
            .iter()
            .filter(|(k, _)| k == f)
            .filter_map(|(_, v)| v.as_deref())
            .collect();
        let flag_only = args.iter().any(|(k, v)| k == f && v.is_none());
        if values.is_empty() {
            if flag_only {
                parts.push(f.clone());
            }
            continue;
        }
        values.sort_unstable();
        parts.push(format!("{f}={}", values.join(",")));
    }
    parts.join(":")
}

impl ProxyCache {
    fn cache_key(&self, req: &Access<'_>) -> String {
        let prefix = match (&req.ctx.consumer, req.route_id) {
            (Some(c), r) => format!("{}:{r}", c.consumer_id),
            (None, r) => r.to_string(),
        };
        let path = if self.ignore_uri_case {
            req.path.to_lowercase()
        } else {
            req.path.to_string()
        };
        let args: Vec<(String, Option<String>)> = req
            .query
            .as_deref()
            .map(|q| {
                q.split('&')
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = match p.split_once('=') {
                            Some((k, v)) => (k, Some(v)),
                            None => (p, None),
                        };
                        let dec = |s: &str| {
                            form_urlencoded::parse(format!("x={s}").as_bytes())
                                .next()
                                .map(|(_, v)| v.into_owned())
                                .unwrap_or_default()
                        };
                        (dec(k), v.map(dec))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let params = if self.vary_query_params.is_empty() {
            let mut keys: Vec<String> = args.iter().map(|(k, _)| k.clone()).collect();
            keys.sort();
            keys.dedup();
            vary_key(&args, &keys)
        } else {
            vary_key(&args, &self.vary_query_params)
        };
        let headers = if self.vary_headers.is_empty() {
            String::new()
        } else {
            let hs: Vec<(String, Option<String>)> = req
                .headers
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().ok().map(str::to_string)))
                .collect();
            let wanted: Vec<String> = self
                .vary_headers
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect();
            vary_key(&hs, &wanted)
        };
        let raw = format!("{prefix}|{}|{path}|{params}|{headers}", req.method.as_str());
        hex::encode(Sha256::digest(raw.as_bytes()))
    }

    fn note(&self, ctx: &mut Ctx, status: &str, key: Option<&str>) {
        if self.show_status {
            ctx.downstream.push((
                X_CACHE_STATUS,
                HeaderValue::from_static(match status {
                    "Hit" => "Hit",
                    "Miss" => "Miss",
                    "Refresh" => "Refresh",
                    _ => "Bypass",
                }),
            ));
        }
        if let (true, Some(k)) = (self.show_key, key) {
            if let Ok(v) = HeaderValue::from_str(k) {
                ctx.downstream.push((X_CACHE_KEY, v));
            }
        }
    }

    fn content_type_matches(&self, ct: &str) -> bool {
        let (t, params) = match ct.split_once(';') {
            Some((t, p)) => (t.trim(), Some(p.trim())),
            None => (ct.trim(), None),
        };
        let (ty, sub) = t.split_once('/').unwrap_or((t, ""));
        self.content_type.iter().any(|want| {
            let (wt, wparams) = match want.split_once(';') {
                Some((t, p)) => (t.trim(), Some(p.trim())),
                None => (want.trim(), None),
            };
            let (wty, wsub) = wt.split_once('/').unwrap_or((wt, ""));
            (wty == "*" || wty.eq_ignore_ascii_case(ty))
                && (wsub == "*" || wsub.eq_ignore_ascii_case(sub))
                && wparams.map(str::to_ascii_lowercase) == params.map(str::to_ascii_lowercase)
        })
    }
}

/// Pending store of a miss, carried from access to the response phase.
struct Pending {
    key: String,
}

impl Handler for ProxyCache {
    fn name(&self) -> &'static str {
        "proxy-cache"
    }
    fn priority(&self) -> i32 {
        100
    }

    fn access(&self, req: &mut Access<'_>) -> Flow {
        let cc = directives(req.headers);
        let method_ok = self.request_method.iter().any(|m| m == req.method.as_str());
        let cc_refuses = self.cache_control
            && (cc.contains_key("no-store")
                || cc.contains_key("no-cache")
                || req.headers.contains_key(header::AUTHORIZATION));
        if !method_ok || cc_refuses {
            self.note(req.ctx, "Bypass", None);
            return Flow::Continue;
        }
        let key = self.cache_key(req);
        let now = now();
        let Some(e) = self.store.get(&key, now) else {
            if self.cache_control && cc.contains_key("only-if-cached") {
                return Flow::Exit(Exit::message(504, "Gateway Timeout"));
            }
            self.note(req.ctx, "Miss", Some(&key));
            req.ctx.put("proxy-cache", Pending { key });
            return Flow::Continue;
        };
        let age = now.saturating_sub(e.stored_at);
        let stale = if self.cache_control {
            number(&cc, "max-age").is_some_and(|m| age as i64 > m)
                || number(&cc, "max-stale").is_some_and(|m| age as i64 - e.ttl as i64 > m)
                || number(&cc, "min-fresh").is_some_and(|m| (e.ttl as i64 - age as i64) < m)
        } else {
            age > self.cache_ttl
        };
        if stale {
            self.note(req.ctx, "Refresh", Some(&key));
            req.ctx.put("proxy-cache", Pending { key });
            return Flow::Continue;
        }
        let mut exit = Exit {
            status: e.status,
            body: ExitBody::Raw(e.body.clone()),
            headers: e.headers.clone(),
        };
        if self.show_age {
            exit.headers.push((header::AGE, HeaderValue::from(age)));
        }
        if self.show_status {
            exit.headers
                .push((X_CACHE_STATUS, HeaderValue::from_static("Hit")));
        }
        if self.show_key {
            if let Ok(v) = HeaderValue::from_str(&key) {
                exit.headers.push((X_CACHE_KEY, v));
            }
        }
        Flow::Exit(exit)
    }

    fn wants_response(&self) -> bool {
        true
    }

    fn response(&self, head: &mut ResponseHead<'_>, ctx: &mut Ctx) -> Option<BodyFilter> {
        let pending: Pending = ctx.take("proxy-cache")?;
        let cc = directives(head.headers);
        let ct = head
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let resource_ttl = number(&cc, "s-maxage").or_else(|| number(&cc, "max-age"));
        let cacheable = self.response_code.contains(&head.status)
            && !ct.is_empty()
            && self.content_type_matches(ct)
            && !(self.cache_control
                && (cc.contains_key("private")
                    || cc.contains_key("no-store")
                    || cc.contains_key("no-cache")
                    || resource_ttl.is_some_and(|t| t <= 0)));
        if !cacheable {
            if self.show_status {
                head.headers
                    .insert(X_CACHE_STATUS, HeaderValue::from_static("Bypass"));
            }
            return None;
        }
        let ttl = if self.cache_control {
            resource_ttl.map_or(self.cache_ttl, |t| t.max(0) as u64)
        } else {
            self.cache_ttl
        };
        let keep = self.storage_ttl.unwrap_or(ttl);
        let headers: Vec<(HeaderName, HeaderValue)> = head
            .headers
            .iter()
            .filter(|(n, _)| {
                !matches!(
                    n.as_str(),
                    "age" | "x-cache-status" | "x-cache-key" | "content-length"
                ) && !n.as_str().contains("ratelimit-remaining")
            })
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        let status = head.status;
        let store = self.store.clone();
        Some(Box::new(move |body: Bytes| {
            let now = now();
            store.put(
                pending.key,
                Entry {
                    status,
                    headers,
                    body: body.clone(),
                    stored_at: now,
                    ttl,
                    expires_at: now + keep.max(1),
                },
                now,
            );
            body
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::vary_key;

    #[test]
    fn vary_keys_follow_kong() {
        let args = vec![
            ("b".to_string(), Some("2".to_string())),
            ("a".to_string(), Some("z".to_string())),
            ("a".to_string(), Some("y".to_string())),
            ("flag".to_string(), None),
        ];
        let fields = vec![
            "a".to_string(),
            "b".to_string(),
            "flag".to_string(),
            "none".to_string(),
        ];
        assert_eq!(vary_key(&args, &fields), "a=y,z:b=2:flag");
    }
}
