//! Kong's Plugin entity: a named policy with its configuration (every default filled in),
//! scoped to a route, a service, a consumer, a combination, or the whole runtime group. One
//! plugin of a name per scope. The configuration schemas live in `plugin_schemas.rs`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::entity::merged;
use super::fields::{check_known, none_if_empty, Reader};
use super::gateway_service::{check_tags, ForeignKey};
use super::plugin_schemas;
use super::{Entity, FieldErrors};

const FIELDS: &[&str] = &[
    "name",
    "instance_name",
    "config",
    "enabled",
    "protocols",
    "service",
    "route",
    "consumer",
    "tags",
];
const PROTOCOLS: &[&str] = &[
    "grpc", "grpcs", "http", "https", "tcp", "tls", "udp", "ws", "wss",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plugin {
    pub id: Uuid,
    pub created_at: i64,
    pub updated_at: i64,
    pub name: String,
    pub instance_name: Option<String>,
    pub config: Value,
    pub enabled: bool,
    pub protocols: Vec<String>,
    pub service: Option<ForeignKey>,
    pub route: Option<ForeignKey>,
    pub consumer: Option<ForeignKey>,
    pub tags: Option<Vec<String>>,
}

impl Plugin {
    /// Where the plugin applies, as a comparable key: one plugin of a name per scope.
    pub fn scope_key(&self) -> String {
        let id = |f: &Option<ForeignKey>| f.as_ref().map(|f| f.id.to_string()).unwrap_or_default();
        format!(
            "route:{}|service:{}|consumer:{}",
            id(&self.route),
            id(&self.service),
            id(&self.consumer)
        )
    }
}

fn foreign(m: &Map<String, Value>, field: &str, errors: &mut FieldErrors) -> Option<ForeignKey> {
    match m.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => match o.get("id").and_then(Value::as_str).map(Uuid::parse_str) {
            Some(Ok(id)) => Some(ForeignKey { id }),
            _ => {
                errors.add(field, "expected a record with a valid id");
                None
            }
        },
        Some(_) => {
            errors.add(field, "expected a record");
            None
        }
    }
}

impl Entity for Plugin {
    const KIND: &'static str = "plugins";
    const NAME_FIELD: Option<&'static str> = None;

    fn id(&self) -> Uuid {
        self.id
    }
    fn created_at(&self) -> i64 {
        self.created_at
    }
    fn unique_name(&self) -> Option<String> {
        Some(self.name.clone())
    }
    fn scope(&self) -> String {
        self.scope_key()
    }
    /// Deleting its route (or service, or consumer) deletes the plugin, as Kong does.
    fn parent(&self) -> Option<Uuid> {
        self.route
            .as_ref()
            .or(self.service.as_ref())
            .or(self.consumer.as_ref())
            .map(|f| f.id)
    }

    fn from_input(
        id: Uuid,
        now: i64,
        _parent: Option<Uuid>,
        base: Option<&Plugin>,
        input: &Map<String, Value>,
    ) -> Result<Plugin, FieldErrors> {
        let mut errors = FieldErrors::new();
        check_known(input, FIELDS, &mut errors);
        // A PATCH of `config` merges into the stored config field by field.
        let m = merged(base, input);
        let mut r = Reader::new(&m);
        let name = r.opt_string("name").unwrap_or_default();
        let instance_name = r.opt_string("instance_name").filter(|s| !s.is_empty());
        let enabled = r.bool("enabled", true);
        let protocols = r.opt_string_array("protocols");
        let tags = none_if_empty(r.opt_string_array("tags"));
        let mut finished = r.finish();
        finished.0.remove("config");
        finished.0.remove("service");
        finished.0.remove("route");
        finished.0.remove("consumer");
        for (k, v) in finished.0 {
            errors.add(k, v);
        }
        let service = foreign(&m, "service", &mut errors);
        let route = foreign(&m, "route", &mut errors);
        let consumer = foreign(&m, "consumer", &mut errors);
        let mut config = Value::Object(Map::new());
        if name.is_empty() {
            errors.add("name", "required field missing");
        } else {
            match plugin_schemas::schema(&name) {
                None => errors.add(
                    "name",
                    format!("plugin '{name}' not enabled; add it to the 'plugins' configuration property"),
                ),
                Some(schema) => {
                    let mut given = match m.get("config") {
                        None | Some(Value::Null) => Map::new(),
                        Some(Value::Object(c)) => c.clone(),
                        Some(_) => {
                            errors.add("config", "expected a record");
                            Map::new()
                        }
                    };
                    plugin_schemas::expand_shorthands(&name, &mut given);
                    match schema.fill(&given) {
                        Ok(c) => config = Value::Object(c),
                        Err(fields) => {
                            for (k, v) in fields {
                                // Kong reports entity checks beside the fields, and a config
                                // record's own validator on `config` itself.
                                let at = match k.as_str() {
                                    "@entity" => k,
                                    "" => "config".to_string(),
                                    _ => format!("config.{k}"),
                                };
                                errors.add(at, v);
                            }
                        }
                    }
                    if consumer.is_some() && !schema.consumer_allowed {
                        errors.add("consumer", "value must be null");
                    }
                }
            }
        }
        let protocols = protocols
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| vec!["grpc".into(), "grpcs".into(), "http".into(), "https".into()]);
        for p in &protocols {
            if !PROTOCOLS.contains(&p.as_str()) {
                errors.add(
                    "protocols",
                    format!("expected one of: {}", PROTOCOLS.join(", ")),
                );
            }
        }
        check_tags(&tags, &mut errors);
        errors.into_result(Plugin {
            id,
            created_at: base.map(|b| b.created_at).unwrap_or(now),
            updated_at: now,
            name,
            instance_name,
            config,
            enabled,
            protocols,
            service,
            route,
            consumer,
            tags,
        })
    }
}
