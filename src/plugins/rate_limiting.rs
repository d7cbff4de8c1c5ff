//! Kong's rate-limiting: requests counted per identifier (consumer, credential, ip, service,
//! header or path; the client IP when that is unknown) in fixed windows (second … year, starting
//! on the UTC clock as Kong's do), refused with `error_code`/`error_message` once a window is
//! used up, with Kong's X-RateLimit-* and RateLimit-* headers and Retry-After. Counters live
//! in this process (`local`, kept across config changes in [`Runtime`]) or in Redis (`redis`,
//! shared by every node; the request waits for the increment). A `sync_rate` above -1 (Kong's
//! batched Redis updates) is accepted and counted in real time, which is exact at the cost of
//! one Redis round trip per request.

mod local;
mod redis;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use serde_json::Value;
use uuid::Uuid;

use super::{Access, Exit, Flow, Handler, Headers, Runtime, Shared};
use crate::domain::Plugin;

pub use local::Counters;
pub use redis::{Redis, RedisConfig, RedisError};

/// A window, indexed as Kong orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period(usize);

const NAMES: [&str; 6] = ["second", "minute", "hour", "day", "month", "year"];
/// Kong's `expiration.lua`: a window's length in seconds (a month is 30 days, a year 365).
const EXPIRATION: [i64; 6] = [1, 60, 3600, 86400, 2_592_000, 31_536_000];
// Names as constants: `HeaderName::from_static` on a name known only at run time parses it
// on every request.
const X_LIMIT: [HeaderName; 6] = [
    HeaderName::from_static("x-ratelimit-limit-second"),
    HeaderName::from_static("x-ratelimit-limit-minute"),
    HeaderName::from_static("x-ratelimit-limit-hour"),
    HeaderName::from_static("x-ratelimit-limit-day"),
    HeaderName::from_static("x-ratelimit-limit-month"),
    HeaderName::from_static("x-ratelimit-limit-year"),
];
const X_REMAINING: [HeaderName; 6] = [
    HeaderName::from_static("x-ratelimit-remaining-second"),
    HeaderName::from_static("x-ratelimit-remaining-minute"),
    HeaderName::from_static("x-ratelimit-remaining-hour"),
    HeaderName::from_static("x-ratelimit-remaining-day"),
    HeaderName::from_static("x-ratelimit-remaining-month"),
    HeaderName::from_static("x-ratelimit-remaining-year"),
];
const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
/// Kong's route and service ids in a counter's key when the plugin has none.
const EMPTY_UUID: Uuid = Uuid::nil();

impl Period {
    pub fn name(self) -> &'static str {
        NAMES[self.0]
    }
    pub fn expiration(self) -> i64 {
        EXPIRATION[self.0]
    }
}

/// The start of each window holding `now` (seconds), as Kong's `get_timestamps`: the second,
/// minute, hour and day on the UTC clock, the first of the month and the first of January.
pub fn window_starts(now: i64) -> [i64; 6] {
    let day = now - now.rem_euclid(86400);
    let (month, year) = time::OffsetDateTime::from_unix_timestamp(day)
        .ok()
        .map(|t| {
            let d = t.date();
            let start = |d: time::Date| d.midnight().assume_utc().unix_timestamp();
            let month = d.replace_day(1).map_or(day, start);
            let year = time::Date::from_calendar_date(d.year(), time::Month::January, 1)
                .map_or(month, start);
            (month, year)
        })
        .unwrap_or((day, day));
    [
        now,
        now - now.rem_euclid(60),
        now - now.rem_euclid(3600),
        day,
        month,
        year,
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LimitBy {
    Consumer,
    Credential,
    Ip,
    Service,
    Header,
    Path,
}

enum Policy {
    Local(Arc<Counters>),
    Redis(Arc<Redis>),
}

/// The compiled plugin; the Redis policy's waiting work holds it too.
pub struct RateLimiting(Arc<Conf>);

pub struct Conf {
    /// The configured windows and their limits, smallest window first.
    limits: Vec<(Period, f64)>,
    limit_by: LimitBy,
    header_name: Option<HeaderName>,
    path: Option<String>,
    /// Kong's counter key prefix: the plugin's route and service (so a config change, which
    /// keeps them, keeps the counts).
    scope: Arc<str>,
    policy: Policy,
    fault_tolerant: bool,
    hide_client_headers: bool,
    error_code: u16,
    error_message: String,
}

pub fn build(p: &Plugin, _: &Shared, runtime: &Runtime) -> Result<Arc<dyn Handler>, String> {
    Ok(Arc::new(RateLimiting(Arc::new(Conf::compile(p, runtime)?))))
}

/// What the counters said for one request: each configured window's usage before it.
pub struct Usage {
    pub used: Vec<(Period, f64, f64)>,
}

impl Conf {
    pub fn compile(p: &Plugin, runtime: &Runtime) -> Result<Conf, String> {
        let c = &p.config;
        let limits: Vec<(Period, f64)> = (0..6)
            .filter_map(|i| {
                let limit = c.get(NAMES[i]).and_then(Value::as_f64)?;
                Some((Period(i), limit))
            })
            .collect();
        if limits.is_empty() {
            return Err("no limit configured".into());
        }
        let limit_by = match c.get("limit_by").and_then(Value::as_str) {
            Some("credential") => LimitBy::Credential,
            Some("ip") => LimitBy::Ip,
            Some("service") => LimitBy::Service,
            Some("header") => LimitBy::Header,
            Some("path") => LimitBy::Path,
            _ => LimitBy::Consumer,
        };
        let header_name = c
            .get("header_name")
            .and_then(Value::as_str)
            .map(|h| HeaderName::from_bytes(h.as_bytes()).map_err(|e| e.to_string()))
            .transpose()?;
        let scope: Arc<str> = format!(
            "{}:{}",
            p.route.as_ref().map_or(EMPTY_UUID, |r| r.id),
            p.service.as_ref().map_or(EMPTY_UUID, |s| s.id)
        )
        .into();
        let policy = match c.get("policy").and_then(Value::as_str) {
            Some("redis") => {
                let cfg = RedisConfig::from_config(c.get("redis").unwrap_or(&Value::Null))?;
                Policy::Redis(runtime.get(&cfg.runtime_key(), || Redis::new(cfg.clone())))
            }
            Some("local") | None => {
                Policy::Local(runtime.get("rate-limiting:local", Counters::default))
            }
            Some(other) => return Err(format!("policy '{other}' is not supported")),
        };
        let error_code = c.get("error_code").and_then(Value::as_f64).unwrap_or(429.0);
        Ok(Conf {
            limits,
            limit_by,
            header_name,
            path: c.get("path").and_then(Value::as_str).map(str::to_string),
            scope,
            policy,
            fault_tolerant: c
                .get("fault_tolerant")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            hide_client_headers: c
                .get("hide_client_headers")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            error_code: if (100.0..=599.0).contains(&error_code) {
                error_code as u16
            } else {
                return Err(format!("error_code {error_code} is not an HTTP status"));
            },
            error_message: c
                .get("error_message")
                .and_then(Value::as_str)
                .unwrap_or("API rate limit exceeded")
                .to_string(),
        })
    }

    /// Kong's `get_identifier`: what the request is counted by, the client IP as a fallback.
    fn identifier(&self, req: &Access<'_>) -> String {
        let mut id = String::new();
        self.write_identifier(req, &mut id);
        id
    }

    /// [`Conf::identifier`] appended to `out`, formatted without allocating.
    fn write_identifier(&self, req: &Access<'_>, out: &mut String) {
        let mut uuid = Uuid::encode_buffer();
        let found: Option<&str> = match self.limit_by {
            LimitBy::Consumer => req
                .ctx
                .consumer
                .as_ref()
                .map(|c| &*c.consumer_id.hyphenated().encode_lower(&mut uuid)),
            LimitBy::Credential => req
                .ctx
                .consumer
                .as_ref()
                .and_then(|c| c.credential.as_deref()),
            LimitBy::Ip => None,
            LimitBy::Service => req
                .service_id
                .map(|s| &*s.hyphenated().encode_lower(&mut uuid)),
            LimitBy::Header => self
                .header_name
                .as_ref()
                .and_then(|h| req.headers.get(h))
                .and_then(|v| v.to_str().ok()),
            LimitBy::Path => self.path.as_deref().filter(|p| *p == req.path),
        };
        match found {
            Some(f) => out.push_str(f),
            None => push_ip(out, req.client_ip),
        }
    }

    /// Kong's decision on the counts: the headers for each window and the most restrictive
    /// one, and the refusal when a window is used up. `now` is the request's time (seconds).
    pub fn decide(&self, usage: &Usage, now: i64) -> Result<Headers, Exit> {
        self.decide_at(usage, now, &window_starts(now))
    }

    /// [`Conf::decide`] with the windows' starts already computed for `now`.
    fn decide_at(&self, usage: &Usage, now: i64, starts: &[i64; 6]) -> Result<Headers, Exit> {
        let stop = usage
            .used
            .iter()
            .find(|(_, limit, used)| limit - used <= 0.0)
            .map(|(p, _, _)| *p);
        let mut headers = NumberHeaders::with_capacity(2 * usage.used.len() + 4);
        // The most restrictive window: least remaining, the longer window on a tie.
        let mut best: Option<(f64, f64, i64)> = None;
        let mut reset = 1;
        if !self.hide_client_headers {
            for (period, limit, used) in &usage.used {
                let mut remaining = limit - used;
                if stop.is_none() || stop == Some(*period) {
                    remaining -= 1.0;
                }
                let remaining = remaining.max(0.0);
                let window = period.expiration();
                let better = match best {
                    None => true,
                    Some((_, r, w)) => remaining < r || (remaining == r && window > w),
                };
                if better {
                    best = Some((*limit, remaining, window));
                    reset = (window - (now - starts[period.0])).max(1);
                }
                headers.push(&X_LIMIT[period.0], *limit);
                headers.push(&X_REMAINING[period.0], remaining);
            }
            if let Some((limit, remaining, _)) = best {
                headers.push(&RATELIMIT_LIMIT, limit);
                headers.push(&RATELIMIT_REMAINING, remaining);
                headers.push(&RATELIMIT_RESET, reset as f64);
            }
        }
        if stop.is_none() {
            return Ok(headers.finish());
        }
        let mut exit = Exit::message(self.error_code, self.error_message.clone());
        if !self.hide_client_headers {
            headers.push(&http::header::RETRY_AFTER, reset as f64);
        }
        exit.headers = headers.finish();
        Err(exit)
    }
}

/// An IPv4 client on a dual-stack socket counts as its IPv4 address.
fn push_ip(out: &mut String, ip: IpAddr) {
    use std::fmt::Write;
    let _ = match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => write!(out, "{v4}"),
            None => write!(out, "{v6}"),
        },
        v4 => write!(out, "{v4}"),
    };
}

/// The headers of one decision, their numbers written into one buffer that every value then
/// shares: a `HeaderValue` per number was an allocation each, five on every request.
struct NumberHeaders {
    headers: Headers,
    /// Each header's value followed by a space, in the headers' order.
    digits: Vec<u8>,
}

impl NumberHeaders {
    fn with_capacity(n: usize) -> NumberHeaders {
        NumberHeaders {
            headers: Vec::with_capacity(n),
            digits: Vec::with_capacity(8 * n),
        }
    }

    /// A header with a number as Lua prints it (`3`, `2.5`); its value is set by `finish`.
    fn push(&mut self, name: &HeaderName, n: f64) {
        use std::io::Write;
        if n.fract() == 0.0 && (0.0..9e15).contains(&n) {
            self.digits
                .extend_from_slice(itoa::Buffer::new().format(n as u64).as_bytes());
        } else {
            let _ = write!(self.digits, "{}", n + 0.0);
        }
        self.digits.push(b' ');
        self.headers
            .push((name.clone(), HeaderValue::from_static("")));
    }

    fn finish(self) -> Headers {
        let NumberHeaders {
            mut headers,
            digits,
        } = self;
        let all = Bytes::from(digits);
        let mut at = 0;
        for (_, v) in &mut headers {
            let len = all[at..].iter().position(|&b| b == b' ').unwrap_or(0);
            // A number as Rust prints it (digits, '.', '-', "inf", "NaN") is always a value.
            if let Ok(value) = HeaderValue::from_maybe_shared(all.slice(at..at + len)) {
                *v = value;
            }
            at += len + 1;
        }
        headers
    }
}

thread_local! {
    /// The local counters' key (`scope:identifier`), built here on every request instead of
    /// in a new string.
    static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Handler for RateLimiting {
    fn name(&self) -> &'static str {
        "rate-limiting"
    }
    fn priority(&self) -> i32 {
        910
    }
    fn access(&self, req: &mut Access<'_>) -> Flow {
        let conf = &self.0;
        let now = now_secs();
        let starts = window_starts(now);
        match &conf.policy {
            Policy::Local(counters) => {
                let usage = KEY.with_borrow_mut(|key| {
                    key.clear();
                    key.push_str(&conf.scope);
                    key.push(':');
                    conf.write_identifier(req, key);
                    counters.hit(key, &conf.limits, &starts, now)
                });
                match conf.decide_at(&usage, now, &starts) {
                    Ok(headers) if req.ctx.downstream.is_empty() => {
                        req.ctx.downstream = headers;
                        Flow::Continue
                    }
                    Ok(headers) => {
                        req.ctx.downstream.extend(headers);
                        Flow::Continue
                    }
                    Err(exit) => Flow::Exit(exit),
                }
            }
            Policy::Redis(redis) => {
                let identifier = conf.identifier(req);
                // Kong's Redis key for each window, so Kong nodes and these share counts.
                let keys: Vec<(String, i64)> = conf
                    .limits
                    .iter()
                    .map(|(p, _)| {
                        let key = format!(
                            "ratelimit:{}:{identifier}:{}:{}",
                            conf.scope,
                            starts[p.0] * 1000,
                            p.name()
                        );
                        (key, p.expiration())
                    })
                    .collect();
                let redis = redis.clone();
                let this = conf.clone();
                Flow::Wait(Box::pin(async move {
                    match redis.increment(&keys).await {
                        Ok(counts) => {
                            let used = this
                                .limits
                                .iter()
                                .zip(counts)
                                .map(|((p, l), c)| (*p, *l, c as f64))
                                .collect();
                            this.decide(&Usage { used }, now)
                        }
                        Err(_) if this.fault_tolerant => Ok(Vec::new()),
                        Err(_) => Err(Exit::message(500, "An unexpected error occurred")),
                    }
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(limits: &[(usize, f64)], hide: bool) -> Conf {
        Conf {
            limits: limits.iter().map(|(i, l)| (Period(*i), *l)).collect(),
            limit_by: LimitBy::Ip,
            header_name: None,
            path: None,
            scope: "r:s".into(),
            policy: Policy::Local(Arc::default()),
            fault_tolerant: true,
            hide_client_headers: hide,
            error_code: 429,
            error_message: "API rate limit exceeded".into(),
        }
    }

    fn get<'a>(h: &'a Headers, name: &str) -> Option<&'a str> {
        h.iter()
            .find(|(k, _)| k.as_str() == name)
            .and_then(|(_, v)| v.to_str().ok())
    }

    #[test]
    fn windows_start_on_the_utc_calendar() {
        // 2024-03-15T12:34:56Z
        let s = window_starts(1_710_506_096);
        assert_eq!(
            s,
            [
                1_710_506_096,
                1_710_506_040,
                1_710_504_000,
                1_710_460_800,
                1_709_251_200,
                1_704_067_200
            ]
        );
    }

    #[test]
    fn headers_and_refusal_as_kong_computes_them() {
        let now = 1_710_506_096; // 56 s into the minute
        let c = conf(&[(1, 3.0), (2, 10.0)], false);
        let h = c
            .decide(
                &Usage {
                    used: vec![(Period(1), 3.0, 1.0), (Period(2), 10.0, 1.0)],
                },
                now,
            )
            .expect("allowed");
        assert_eq!(get(&h, "x-ratelimit-limit-minute"), Some("3"));
        assert_eq!(get(&h, "x-ratelimit-remaining-minute"), Some("1"));
        assert_eq!(get(&h, "x-ratelimit-remaining-hour"), Some("8"));
        assert_eq!(get(&h, "ratelimit-limit"), Some("3"));
        assert_eq!(get(&h, "ratelimit-remaining"), Some("1"));
        assert_eq!(get(&h, "ratelimit-reset"), Some("4"));
        assert_eq!(get(&h, "retry-after"), None);

        let refused = c
            .decide(
                &Usage {
                    used: vec![(Period(1), 3.0, 3.0), (Period(2), 10.0, 3.0)],
                },
                now,
            )
            .expect_err("refused");
        assert_eq!(refused.status, 429);
        let h = &refused.headers;
        assert_eq!(get(h, "x-ratelimit-remaining-minute"), Some("0"));
        assert_eq!(
            get(h, "x-ratelimit-remaining-hour"),
            Some("7"),
            "a refused request is not taken off the other windows"
        );
        assert_eq!(get(h, "retry-after"), Some("4"));

        // On a tie the longer window is the one reported.
        let tie = conf(&[(0, 1.0), (1, 1.0)], false)
            .decide(
                &Usage {
                    used: vec![(Period(0), 1.0, 0.0), (Period(1), 1.0, 0.0)],
                },
                now,
            )
            .expect("allowed");
        assert_eq!(get(&tie, "ratelimit-reset"), Some("4"));

        let hidden = conf(&[(1, 1.0)], true)
            .decide(
                &Usage {
                    used: vec![(Period(1), 1.0, 1.0)],
                },
                now,
            )
            .expect_err("refused");
        assert!(hidden.headers.is_empty());
    }

    #[test]
    fn every_header_gets_its_own_number_from_the_shared_buffer() {
        let now = 1_710_506_096;
        let h = conf(&[(0, 2.5), (1, 120.0), (2, 1e9)], false)
            .decide(
                &Usage {
                    used: vec![
                        (Period(0), 2.5, 0.0),
                        (Period(1), 120.0, 19.0),
                        (Period(2), 1e9, 1.0),
                    ],
                },
                now,
            )
            .expect("allowed");
        let all: Vec<(&str, &str)> = h
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().expect("ascii")))
            .collect();
        assert_eq!(
            all,
            [
                ("x-ratelimit-limit-second", "2.5"),
                ("x-ratelimit-remaining-second", "1.5"),
                ("x-ratelimit-limit-minute", "120"),
                ("x-ratelimit-remaining-minute", "100"),
                ("x-ratelimit-limit-hour", "1000000000"),
                ("x-ratelimit-remaining-hour", "999999998"),
                ("ratelimit-limit", "2.5"),
                ("ratelimit-remaining", "1.5"),
                ("ratelimit-reset", "1"),
            ]
        );
    }
}
