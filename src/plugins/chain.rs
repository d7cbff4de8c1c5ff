//! Each route's plugins, resolved by Kong's precedence when a snapshot compiles: for every
//! plugin name the most specific configuration wins (consumer+route+service, consumer+route,
//! consumer+service, route+service, consumer, route, service, global, in that order). The
//! consumer is known only after authentication, so a slot keeps the consumer-specific choices
//! beside the default; a route with no plugins has no chain at all.

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

use super::{builder, Access, Flow, Handler, Runtime, Shared};
use crate::domain::{Entity, GatewayConfig, Plugin};

/// A built plugin and the protocols it runs on.
#[derive(Clone)]
pub struct Built {
    pub handler: Arc<dyn Handler>,
    http: bool,
    https: bool,
}

/// One plugin name in a route's chain.
pub struct Slot {
    default: Option<Built>,
    /// Consumers whose best match differs from the default (a route+service plugin still
    /// beats a consumer-only one, so not every consumer-scoped plugin lands here).
    by_consumer: HashMap<Uuid, Built>,
}

impl Slot {
    /// Every handler this slot may run (the default and the consumer-specific ones).
    pub fn handlers(&self) -> impl Iterator<Item = &Arc<dyn Handler>> {
        self.default
            .iter()
            .chain(self.by_consumer.values())
            .map(|b| &b.handler)
    }

    /// The handler for this request, if the plugin runs on it.
    pub fn pick(&self, consumer: Option<&Uuid>, https: bool) -> Option<&Arc<dyn Handler>> {
        let built = consumer
            .filter(|_| !self.by_consumer.is_empty())
            .and_then(|c| self.by_consumer.get(c))
            .or(self.default.as_ref())?;
        let runs = if https { built.https } else { built.http };
        runs.then_some(&built.handler)
    }
}

/// A route's plugins in Kong's order (priority, highest first).
pub struct Chain {
    pub slots: Vec<Slot>,
    /// Whether any plugin has a response or log phase (skipped entirely otherwise).
    pub response: bool,
    pub log: bool,
}

pub struct Compiled {
    pub chains: HashMap<Uuid, Arc<Chain>>,
    pub shared: Arc<Shared>,
}

/// A plugin that could not be built answers 500 to every request it guards rather than
/// letting them through unguarded.
struct Broken {
    name: &'static str,
    priority: i32,
    why: String,
}

impl Handler for Broken {
    fn name(&self) -> &'static str {
        self.name
    }
    fn priority(&self) -> i32 {
        self.priority
    }
    fn access(&self, _req: &mut Access<'_>) -> Flow {
        Flow::Fail(self.why.clone())
    }
}

/// Where a plugin applies relative to a request (route, service, consumer); lower is more
/// specific, `None` when it does not apply.
fn rank(p: &Plugin, route: Uuid, service: Option<Uuid>, consumer: Option<Uuid>) -> Option<u8> {
    let r = p.route.as_ref().map(|f| f.id);
    let s = p.service.as_ref().map(|f| f.id);
    let c = p.consumer.as_ref().map(|f| f.id);
    if r.is_some_and(|r| r != route)
        || s.is_some_and(|s| Some(s) != service)
        || c.is_some_and(|c| Some(c) != consumer)
    {
        return None;
    }
    Some(match (c.is_some(), r.is_some(), s.is_some()) {
        (true, true, true) => 1,
        (true, true, false) => 2,
        (true, false, true) => 3,
        (false, true, true) => 4,
        (true, false, false) => 5,
        (false, true, false) => 6,
        (false, false, true) => 7,
        (false, false, false) => 8,
    })
}

pub fn compile(cfg: &GatewayConfig, runtime: &Runtime) -> Compiled {
    let shared = Arc::new(Shared::build(cfg));
    let enabled: Vec<&Plugin> = cfg.plugins.iter().filter(|p| p.enabled).collect();
    let mut built: HashMap<Uuid, Built> = HashMap::new();
    for p in &enabled {
        let handler = match builder(&p.name) {
            Some(build) => build(p, &shared, runtime),
            None => Err(format!(
                "plugin '{}' is not available in this build",
                p.name
            )),
        };
        let handler = handler.unwrap_or_else(|why| {
            tracing::error!(plugin.id = %p.id(), plugin.name = %p.name, error = %why, "plugin cannot run; the requests it guards are answered 500");
            Arc::new(Broken {
                name: crate::domain::plugin_schemas::schema(&p.name).map_or("unknown", |s| s.name),
                priority: i32::MAX,
                why,
            })
        });
        let has = |proto: &str| p.protocols.iter().any(|x| x == proto);
        built.insert(
            p.id,
            Built {
                handler,
                http: has("http"),
                https: has("https"),
            },
        );
    }
    let mut by_name: HashMap<&str, Vec<&Plugin>> = HashMap::new();
    for p in &enabled {
        by_name.entry(p.name.as_str()).or_default().push(p);
    }
    let mut chains = HashMap::new();
    for route in &cfg.routes {
        let service = route.service.as_ref().map(|s| s.id);
        let mut slots: Vec<(i32, Slot)> = Vec::new();
        for plugins in by_name.values() {
            let best = |consumer: Option<Uuid>| {
                plugins
                    .iter()
                    .filter_map(|p| rank(p, route.id, service, consumer).map(|r| (r, p.id)))
                    .min_by_key(|(r, _)| *r)
                    .map(|(_, id)| id)
            };
            let default = best(None);
            let mut by_consumer = HashMap::new();
            for c in plugins
                .iter()
                .filter_map(|p| p.consumer.as_ref().map(|f| f.id))
            {
                let chosen = best(Some(c));
                if chosen != default {
                    if let Some(b) = chosen.and_then(|id| built.get(&id)) {
                        by_consumer.insert(c, b.clone());
                    }
                }
            }
            if default.is_none() && by_consumer.is_empty() {
                continue;
            }
            let default = default.and_then(|id| built.get(&id)).cloned();
            let priority = default
                .as_ref()
                .or(by_consumer.values().next())
                .map_or(0, |b| b.handler.priority());
            slots.push((
                priority,
                Slot {
                    default,
                    by_consumer,
                },
            ));
        }
        if slots.is_empty() {
            continue;
        }
        slots.sort_by_key(|(p, _)| std::cmp::Reverse(*p));
        let all = || {
            slots
                .iter()
                .flat_map(|(_, s)| s.default.iter().chain(s.by_consumer.values()))
        };
        let response = all().any(|b| b.handler.wants_response());
        let log = all().any(|b| b.handler.wants_log());
        chains.insert(
            route.id,
            Arc::new(Chain {
                slots: slots.into_iter().map(|(_, s)| s).collect(),
                response,
                log,
            }),
        );
    }
    Compiled { chains, shared }
}
