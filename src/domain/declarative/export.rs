//! Writes a configuration back as kong.yml (`_format_version: "3.0"`): services with their
//! routes and plugins nested, then upstreams with targets, certificates with SNIs, CA
//! certificates, consumers with credentials and plugins, and the plugins that belong to no
//! single entity. Every field Kong prints is kept (defaults included), timestamps and empty
//! values are left out, ids are kept so an export imports back to the same entities.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::emit;
use crate::domain::gateway_service::ForeignKey;
use crate::domain::{Entity, GatewayConfig, Plugin};

/// An entity's fields as the file shows them: no timestamps, no nulls, and without `drop`
/// (the reference its nesting already says). Other references become plain ids.
fn fields<T: Entity>(e: &T, drop: &[&str]) -> Map<String, Value> {
    let Value::Object(mut m) = e.to_json() else {
        return Map::new();
    };
    m.retain(|k, v| {
        !v.is_null() && !drop.contains(&k.as_str()) && k != "created_at" && k != "updated_at"
    });
    for reference in ["service", "route", "consumer", "upstream", "certificate"] {
        if let Some(id) = m.get(reference).and_then(|r| r.get("id")).cloned() {
            m.insert(reference.to_string(), id);
        }
    }
    m
}

fn id_of(fk: &Option<ForeignKey>) -> Option<Uuid> {
    fk.as_ref().map(|f| f.id)
}

/// Where a plugin goes: under the one entity it applies to, or at the top level.
enum PluginHome {
    Service(Uuid),
    Route(Uuid),
    Consumer(Uuid),
    Top,
}

fn home(p: &Plugin) -> PluginHome {
    match (id_of(&p.service), id_of(&p.route), id_of(&p.consumer)) {
        (Some(s), None, None) => PluginHome::Service(s),
        (None, Some(r), None) => PluginHome::Route(r),
        (None, None, Some(c)) => PluginHome::Consumer(c),
        _ => PluginHome::Top,
    }
}

fn plugins_where(
    cfg: &GatewayConfig,
    want: impl Fn(&PluginHome) -> bool,
    drop: &[&str],
) -> Vec<Value> {
    cfg.plugins
        .iter()
        .filter(|p| want(&home(p)))
        .map(|p| Value::Object(fields(p, drop)))
        .collect()
}

fn nest(m: &mut Map<String, Value>, key: &str, items: Vec<Value>) {
    if !items.is_empty() {
        m.insert(key.to_string(), Value::Array(items));
    }
}

fn route_value(cfg: &GatewayConfig, r: &crate::domain::Route, drop: &[&str]) -> Value {
    let mut m = fields(r, drop);
    let plugins = plugins_where(
        cfg,
        |h| matches!(h, PluginHome::Route(id) if *id == r.id),
        &["route", "service", "consumer"],
    );
    nest(&mut m, "plugins", plugins);
    Value::Object(m)
}

/// The whole configuration as a kong.yml document.
pub fn export(cfg: &GatewayConfig) -> String {
    let services: Vec<Value> = cfg
        .services
        .iter()
        .map(|s| {
            let mut m = fields(s, &[]);
            let routes = cfg
                .routes
                .iter()
                .filter(|r| id_of(&r.service) == Some(s.id))
                .map(|r| route_value(cfg, r, &["service"]))
                .collect();
            nest(&mut m, "routes", routes);
            let plugins = plugins_where(
                cfg,
                |h| matches!(h, PluginHome::Service(id) if *id == s.id),
                &["route", "service", "consumer"],
            );
            nest(&mut m, "plugins", plugins);
            Value::Object(m)
        })
        .collect();
    let routes: Vec<Value> = cfg
        .routes
        .iter()
        .filter(|r| r.service.is_none())
        .map(|r| route_value(cfg, r, &[]))
        .collect();
    let upstreams: Vec<Value> = cfg
        .upstreams
        .iter()
        .map(|u| {
            let mut m = fields(u, &[]);
            let targets = cfg
                .targets
                .iter()
                .filter(|t| t.upstream.id == u.id)
                .map(|t| Value::Object(fields(t, &["upstream"])))
                .collect();
            nest(&mut m, "targets", targets);
            Value::Object(m)
        })
        .collect();
    let certificates: Vec<Value> = cfg
        .certificates
        .iter()
        .map(|c| {
            let mut m = fields(c, &[]);
            let snis = cfg
                .snis
                .iter()
                .filter(|s| s.certificate.id == c.id)
                .map(|s| Value::Object(fields(s, &["certificate"])))
                .collect();
            nest(&mut m, "snis", snis);
            Value::Object(m)
        })
        .collect();
    let ca_certificates: Vec<Value> = cfg
        .ca_certificates
        .iter()
        .map(|c| Value::Object(fields(c, &["cert_digest"])))
        .collect();
    let consumers: Vec<Value> = cfg
        .consumers
        .iter()
        .map(|c| {
            let mut m = fields(c, &[]);
            let owned = |items: Vec<(Uuid, Map<String, Value>)>| -> Vec<Value> {
                items
                    .into_iter()
                    .filter(|(owner, _)| *owner == c.id)
                    .map(|(_, m)| Value::Object(m))
                    .collect()
            };
            let drop = &["consumer"];
            nest(
                &mut m,
                "keyauth_credentials",
                owned(
                    cfg.keyauth_credentials
                        .iter()
                        .map(|k| (k.consumer.id, fields(k, drop)))
                        .collect(),
                ),
            );
            nest(
                &mut m,
                "basicauth_credentials",
                owned(
                    cfg.basicauth_credentials
                        .iter()
                        .map(|k| (k.consumer.id, fields(k, drop)))
                        .collect(),
                ),
            );
            nest(
                &mut m,
                "acls",
                owned(
                    cfg.acls
                        .iter()
                        .map(|k| (k.consumer.id, fields(k, drop)))
                        .collect(),
                ),
            );
            nest(
                &mut m,
                "jwt_secrets",
                owned(
                    cfg.jwt_secrets
                        .iter()
                        .map(|k| (k.consumer.id, fields(k, drop)))
                        .collect(),
                ),
            );
            let plugins = plugins_where(
                cfg,
                |h| matches!(h, PluginHome::Consumer(id) if *id == c.id),
                &["route", "service", "consumer"],
            );
            nest(&mut m, "plugins", plugins);
            Value::Object(m)
        })
        .collect();
    let plugins = plugins_where(cfg, |h| matches!(h, PluginHome::Top), &[]);

    // Passwords are stored hashed: `_transform: false` tells a loader not to hash them again.
    let mut top: Vec<(String, Value)> = vec![
        ("_format_version".into(), Value::String("3.0".into())),
        ("_transform".into(), Value::Bool(false)),
    ];
    for (key, items) in [
        ("services", services),
        ("routes", routes),
        ("upstreams", upstreams),
        ("certificates", certificates),
        ("ca_certificates", ca_certificates),
        ("consumers", consumers),
        ("plugins", plugins),
    ] {
        if !items.is_empty() {
            top.push((key.into(), Value::Array(items)));
        }
    }
    emit::document(&top)
}
