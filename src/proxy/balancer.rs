//! Load balancing over an upstream's targets (Kong's Upstream/Target model): weighted
//! round-robin, least-connections, latency (EWMA) and consistent hashing, with health state fed
//! by passive observations on the request path and by active probes. A plain service (host and
//! port, no upstream) is a balancer with one target, so forwarding has one code path.
//!
//! Health state lives in [`Health`] cells shared across configuration changes, so recompiling
//! the router does not forget which targets are down. Everything here is lock-free: atomics only.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use uuid::Uuid;

use super::pool::Upstream;
use crate::domain::upstream::{ActiveCheck, Healthchecks, PassiveCheck};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    RoundRobin,
    LeastConnections,
    Latency,
    ConsistentHashing,
}

impl Algorithm {
    pub fn parse(s: &str) -> Algorithm {
        match s {
            "least-connections" => Algorithm::LeastConnections,
            "latency" => Algorithm::Latency,
            "consistent-hashing" => Algorithm::ConsistentHashing,
            _ => Algorithm::RoundRobin,
        }
    }
}

/// What consistent hashing reads from a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashOn {
    None,
    Ip,
    Header(http::HeaderName),
    Cookie {
        name: String,
        path: String,
    },
    Path,
    QueryArg(String),
    /// A named capture of the route's regex path.
    UriCapture(String),
}

/// A target's health, shared between the request path, the active checker and the Admin API.
#[derive(Debug, Default)]
pub struct Health {
    unhealthy: AtomicBool,
    successes: AtomicU32,
    tcp_failures: AtomicU32,
    timeouts: AtomicU32,
    http_failures: AtomicU32,
    /// Requests in flight (least-connections).
    pub active: AtomicUsize,
    /// Exponentially weighted upstream latency in microseconds (latency algorithm); 0 = unknown.
    ewma_us: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    TcpFailure,
    Timeout,
    HttpFailure,
}

/// The thresholds that turn observations into a health change (Kong's healthy/unhealthy
/// counters); 0 means that kind of observation is not counted.
#[derive(Debug, Clone, Default)]
pub struct Thresholds {
    pub successes: u32,
    pub tcp_failures: u32,
    pub timeouts: u32,
    pub http_failures: u32,
    pub healthy_statuses: Vec<u16>,
    pub unhealthy_statuses: Vec<u16>,
}

impl Thresholds {
    fn from_parts(
        h: &crate::domain::upstream::Healthy,
        u: &crate::domain::upstream::Unhealthy,
    ) -> Thresholds {
        let n = |v: i64| u32::try_from(v).unwrap_or(0);
        Thresholds {
            successes: n(h.successes),
            tcp_failures: n(u.tcp_failures),
            timeouts: n(u.timeouts),
            http_failures: n(u.http_failures),
            healthy_statuses: h.http_statuses.clone(),
            unhealthy_statuses: u.http_statuses.clone(),
        }
    }

    pub fn passive(p: &PassiveCheck) -> Thresholds {
        Self::from_parts(&p.healthy, &p.unhealthy)
    }

    pub fn active(a: &ActiveCheck) -> Thresholds {
        Self::from_parts(&a.healthy, &a.unhealthy)
    }

    pub fn counts_anything(&self) -> bool {
        self.successes + self.tcp_failures + self.timeouts + self.http_failures > 0
    }

    /// Classifies a response status: `None` when it is in neither list.
    pub fn classify(&self, status: u16) -> Option<Outcome> {
        if self.unhealthy_statuses.contains(&status) {
            Some(Outcome::HttpFailure)
        } else if self.healthy_statuses.contains(&status) {
            Some(Outcome::Success)
        } else {
            None
        }
    }
}

impl Health {
    pub fn is_healthy(&self) -> bool {
        !self.unhealthy.load(Ordering::Relaxed)
    }

    /// Sets the health by hand (Admin API) and clears the counters.
    pub fn set(&self, healthy: bool) {
        self.unhealthy.store(!healthy, Ordering::Relaxed);
        for c in [
            &self.successes,
            &self.tcp_failures,
            &self.timeouts,
            &self.http_failures,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// Counts one observation against `t`; returns true when it changed the health.
    pub fn report(&self, outcome: Outcome, t: &Thresholds) -> bool {
        let bump =
            |c: &AtomicU32, limit: u32| limit > 0 && c.fetch_add(1, Ordering::Relaxed) + 1 >= limit;
        match outcome {
            Outcome::Success => {
                self.tcp_failures.store(0, Ordering::Relaxed);
                self.timeouts.store(0, Ordering::Relaxed);
                self.http_failures.store(0, Ordering::Relaxed);
                if !self.is_healthy() && bump(&self.successes, t.successes) {
                    self.set(true);
                    return true;
                }
                false
            }
            failure => {
                self.successes.store(0, Ordering::Relaxed);
                let tripped = match failure {
                    Outcome::TcpFailure => bump(&self.tcp_failures, t.tcp_failures),
                    Outcome::Timeout => bump(&self.timeouts, t.timeouts),
                    _ => bump(&self.http_failures, t.http_failures),
                };
                if tripped && self.is_healthy() {
                    self.set(false);
                    return true;
                }
                false
            }
        }
    }

    pub fn observe_latency(&self, micros: u64) {
        let old = self.ewma_us.load(Ordering::Relaxed);
        let new = if old == 0 {
            micros.max(1)
        } else {
            // Weight 1/8 for the newest sample: smooth, but follows a slow target within ~10 requests.
            (old * 7 + micros) / 8
        }
        .max(1);
        self.ewma_us.store(new, Ordering::Relaxed);
    }
}

pub struct Target {
    /// `host:port` as the Target object names it.
    pub name: String,
    pub pool: Arc<Upstream>,
    pub weight: u32,
    pub health: Arc<Health>,
}

pub struct Balancer {
    /// The Upstream object's id; nil for a plain service.
    pub upstream_id: Uuid,
    pub algorithm: Algorithm,
    pub hash_on: HashOn,
    pub hash_fallback: HashOn,
    pub targets: Vec<Target>,
    /// Weighted round-robin order: target indexes interleaved by weight.
    schedule: Vec<u16>,
    next: AtomicUsize,
    pub passive: Thresholds,
    pub active: Option<ActiveCheck>,
    pub active_thresholds: Thresholds,
}

/// The request attributes consistent hashing may use, computed only for hashing balancers.
pub struct HashKey(pub u64);

impl Balancer {
    /// A balancer for an Upstream object (`checks` from its healthchecks) or, with `None`, for a
    /// plain service's single target.
    pub fn new(
        upstream_id: Uuid,
        algorithm: Algorithm,
        hash_on: HashOn,
        hash_fallback: HashOn,
        targets: Vec<Target>,
        checks: Option<&Healthchecks>,
    ) -> Balancer {
        let schedule = schedule(&targets);
        let (passive, active, active_thresholds) = match checks {
            Some(hc) => (
                Thresholds::passive(&hc.passive),
                hc.active.enabled().then(|| hc.active.clone()),
                Thresholds::active(&hc.active),
            ),
            None => (Thresholds::default(), None, Thresholds::default()),
        };
        Balancer {
            upstream_id,
            algorithm,
            hash_on,
            hash_fallback,
            targets,
            schedule,
            next: AtomicUsize::new(0),
            passive,
            active,
            active_thresholds,
        }
    }

    /// Whether any health check (active or passive) is configured.
    pub fn checks_enabled(&self) -> bool {
        self.active.is_some() || self.passive.counts_anything()
    }

    /// Picks a healthy target not in `tried` (a bitmask of target indexes). `None` when every
    /// target is unhealthy or tried.
    pub fn pick(&self, key: Option<&HashKey>, tried: u64) -> Option<usize> {
        let n = self.targets.len();
        let usable = |i: usize| {
            (i >= 64 || tried & (1 << i) == 0)
                && self.targets[i].weight > 0
                && self.targets[i].health.is_healthy()
        };
        if n == 1 {
            return usable(0).then_some(0);
        }
        match (self.algorithm, key) {
            (Algorithm::ConsistentHashing, Some(k)) => {
                // Weighted rendezvous hashing: the same key keeps its target while that target is
                // usable, and only keys of a removed target move.
                let mut best: Option<(f64, usize)> = None;
                for i in (0..n).filter(|&i| usable(i)) {
                    let h = mix(k.0 ^ mix(i as u64 ^ fnv(self.targets[i].name.as_bytes())));
                    let unit = (h >> 11) as f64 / (1u64 << 53) as f64;
                    let score = -(self.targets[i].weight as f64) / unit.max(f64::MIN_POSITIVE).ln();
                    if best.is_none_or(|(b, _)| score > b) {
                        best = Some((score, i));
                    }
                }
                best.map(|(_, i)| i)
            }
            (Algorithm::LeastConnections, _) => self.pick_min(&usable, |t| {
                (t.health.active.load(Ordering::Relaxed) as u64 + 1) * 1_000_000
                    / t.weight.max(1) as u64
            }),
            (Algorithm::Latency, _) => self.pick_min(&usable, |t| {
                t.health.ewma_us.load(Ordering::Relaxed)
                    * (t.health.active.load(Ordering::Relaxed) as u64 + 1)
            }),
            _ => {
                // Each skipped turn consumes the counter too, so a down target's share is spread
                // over the others instead of all landing on its neighbour in the schedule.
                let len = self.schedule.len();
                (0..len)
                    .map(|_| {
                        self.schedule[self.next.fetch_add(1, Ordering::Relaxed) % len] as usize
                    })
                    .find(|&i| usable(i))
            }
        }
    }

    /// The usable target with the lowest cost; ties rotate so equal targets share the load.
    fn pick_min(
        &self,
        usable: &dyn Fn(usize) -> bool,
        cost: impl Fn(&Target) -> u64,
    ) -> Option<usize> {
        let n = self.targets.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|k| (start + k) % n)
            .filter(|&i| usable(i))
            .min_by_key(|&i| cost(&self.targets[i]))
    }
}

/// Smooth weighted round-robin (nginx's): spreads a heavy target's turns between the others
/// instead of sending it a burst. Weights are scaled down so the schedule stays short.
fn schedule(targets: &[Target]) -> Vec<u16> {
    let weights: Vec<u64> = targets.iter().map(|t| t.weight as u64).collect();
    let g = weights.iter().copied().filter(|w| *w > 0).fold(0, gcd);
    if g == 0 {
        return (0..targets.len() as u16).collect();
    }
    let mut scaled: Vec<i64> = weights.iter().map(|w| (w / g) as i64).collect();
    let total: i64 = scaled.iter().sum();
    if total > 4096 {
        let f = total as f64 / 4096.0;
        for w in &mut scaled {
            if *w > 0 {
                *w = ((*w as f64 / f).round() as i64).max(1);
            }
        }
    }
    let total: i64 = scaled.iter().sum();
    let mut current = vec![0i64; scaled.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0;
        for i in 0..scaled.len() {
            current[i] += scaled[i];
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        out.push(best as u16);
    }
    out
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

pub fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// A 64-bit finaliser (splitmix64) so nearby inputs land far apart.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d049bb133111eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balancer(algorithm: Algorithm, weights: &[u32]) -> Balancer {
        let targets = weights
            .iter()
            .enumerate()
            .map(|(i, w)| Target {
                name: format!("10.0.0.{i}:80"),
                pool: Upstream::new(&format!("10.0.0.{i}"), 80, None),
                weight: *w,
                health: Arc::new(Health::default()),
            })
            .collect();
        Balancer::new(
            Uuid::nil(),
            algorithm,
            HashOn::Ip,
            HashOn::None,
            targets,
            None,
        )
    }

    fn counts(b: &Balancer, n: usize, key: impl Fn(usize) -> Option<HashKey>) -> Vec<usize> {
        let mut c = vec![0; b.targets.len()];
        for i in 0..n {
            if let Some(t) = b.pick(key(i).as_ref(), 0) {
                c[t] += 1;
            }
        }
        c
    }

    #[test]
    fn round_robin_follows_weights_and_interleaves() {
        let b = balancer(Algorithm::RoundRobin, &[100, 50, 50]);
        assert_eq!(counts(&b, 400, |_| None), vec![200, 100, 100]);
        assert_eq!(
            b.schedule,
            vec![0, 1, 2, 0],
            "the heavy target's turns are spread"
        );
        let b = balancer(Algorithm::RoundRobin, &[0, 10]);
        assert_eq!(
            counts(&b, 10, |_| None),
            vec![0, 10],
            "weight 0 takes no traffic"
        );
    }

    #[test]
    fn unhealthy_and_tried_targets_are_skipped() {
        let b = balancer(Algorithm::RoundRobin, &[1, 1, 1]);
        b.targets[1].health.set(false);
        assert_eq!(counts(&b, 30, |_| None), vec![15, 0, 15]);
        assert_eq!(b.pick(None, 0b001), Some(2));
        assert_eq!(
            b.pick(None, 0b101),
            None,
            "every usable target already tried"
        );
    }

    #[test]
    fn least_connections_prefers_idle_targets() {
        let b = balancer(Algorithm::LeastConnections, &[1, 1]);
        b.targets[0].health.active.store(5, Ordering::Relaxed);
        assert_eq!(counts(&b, 10, |_| None), vec![0, 10]);
    }

    #[test]
    fn consistent_hashing_is_sticky_and_moves_only_a_removed_targets_keys() {
        let b = balancer(Algorithm::ConsistentHashing, &[100, 100, 100, 100]);
        let before: Vec<usize> = (0..1000u64)
            .map(|k| {
                b.pick(Some(&HashKey(fnv(&k.to_le_bytes()))), 0)
                    .unwrap_or(9)
            })
            .collect();
        let spread = counts(&b, 1000, |i| Some(HashKey(fnv(&(i as u64).to_le_bytes()))));
        assert!(spread.iter().all(|c| (150..350).contains(c)), "{spread:?}");
        b.targets[2].health.set(false);
        for (k, was) in before.iter().enumerate() {
            let now = b
                .pick(Some(&HashKey(fnv(&(k as u64).to_le_bytes()))), 0)
                .unwrap_or(9);
            if *was != 2 {
                assert_eq!(now, *was, "key {k} moved although its target is up");
            } else {
                assert_ne!(now, 2);
            }
        }
    }

    #[test]
    fn health_counters_trip_and_recover() {
        let h = Health::default();
        let t = Thresholds {
            successes: 2,
            tcp_failures: 0,
            timeouts: 0,
            http_failures: 3,
            healthy_statuses: vec![200],
            unhealthy_statuses: vec![500],
        };
        assert!(!h.report(Outcome::HttpFailure, &t));
        assert!(!h.report(Outcome::HttpFailure, &t));
        assert!(
            !h.report(Outcome::TcpFailure, &t),
            "tcp failures are not counted here"
        );
        assert!(h.report(Outcome::HttpFailure, &t));
        assert!(!h.is_healthy());
        assert!(!h.report(Outcome::Success, &t));
        assert!(h.report(Outcome::Success, &t));
        assert!(h.is_healthy());
        assert_eq!(t.classify(500), Some(Outcome::HttpFailure));
        assert_eq!(t.classify(404), None);
    }
}
