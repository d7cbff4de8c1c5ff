//! Kong's acl: lets a request through by the ACL groups of the consumer an authentication
//! plugin found. No consumer is 401 "Unauthorized"; a consumer outside `allow` (or inside
//! `deny`) is 403 "You cannot consume this service"; the consumer's groups go upstream in
//! `X-Consumer-Groups` unless `hide_groups_header`. Kong's authenticated groups (set by
//! LDAP/OAuth plugins this build does not have) never exist here, so
//! `always_use_authenticated_groups` changes nothing.

use std::collections::HashMap;
use std::sync::Arc;

use http::HeaderValue;
use serde_json::Value;
use uuid::Uuid;

use super::{Access, Exit, Flow, Handler, Runtime, Shared};
use crate::domain::{GatewayConfig, Plugin};

/// Every consumer's ACL groups, in creation order.
#[derive(Default)]
pub struct Groups {
    by_consumer: HashMap<Uuid, Vec<String>>,
}

impl Groups {
    pub fn build(cfg: &GatewayConfig) -> Groups {
        let mut by_consumer: HashMap<Uuid, Vec<String>> = HashMap::new();
        for a in &cfg.acls {
            by_consumer
                .entry(a.consumer.id)
                .or_default()
                .push(a.group.clone());
        }
        Groups { by_consumer }
    }

    fn of(&self, consumer: &Uuid) -> &[String] {
        self.by_consumer.get(consumer).map_or(&[], Vec::as_slice)
    }
}

pub struct AclPlugin {
    deny: bool,
    groups: Vec<String>,
    hide_groups_header: bool,
}

pub fn build(p: &Plugin, _: &Shared, _: &Runtime) -> Result<Arc<dyn Handler>, String> {
    Ok(Arc::new(AclPlugin::compile(&p.config)?))
}

/// What the plugin decided for one request.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Unauthorized,
    Forbidden,
    /// Allowed, with the `X-Consumer-Groups` value to send (none when hidden).
    Allowed(Option<String>),
}

impl Handler for AclPlugin {
    fn name(&self) -> &'static str {
        "acl"
    }
    fn priority(&self) -> i32 {
        950
    }
    fn access(&self, req: &mut Access<'_>) -> Flow {
        let who = req
            .ctx
            .consumer
            .as_ref()
            .map(|c| (c.consumer_id, !req.ctx.anonymous));
        match self.decide(who, &req.shared.acls) {
            Verdict::Unauthorized => Flow::Exit(Exit::message(401, "Unauthorized")),
            Verdict::Forbidden => Flow::Exit(Exit::message(403, "You cannot consume this service")),
            Verdict::Allowed(header) => {
                if let Some(v) = header.and_then(|h| HeaderValue::from_str(&h).ok()) {
                    req.headers.insert("x-consumer-groups", v);
                }
                Flow::Continue
            }
        }
    }
}

impl AclPlugin {
    pub fn compile(config: &Value) -> Result<AclPlugin, String> {
        let list = |k: &str| -> Vec<String> {
            config
                .get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        // Kong's rule: a non-empty `deny` makes it a deny list, else `allow` is the list.
        let deny = list("deny");
        let (deny, groups) = if deny.is_empty() {
            (false, list("allow"))
        } else {
            (true, deny)
        };
        Ok(AclPlugin {
            deny,
            groups,
            hide_groups_header: config
                .get("hide_groups_header")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }

    /// `who`: the consumer and whether it came with a credential (not the anonymous one).
    fn decide(&self, who: Option<(Uuid, bool)>, all: &Groups) -> Verdict {
        let Some((consumer, credential)) = who else {
            return Verdict::Unauthorized;
        };
        let groups = all.of(&consumer);
        if groups.is_empty() && !self.deny {
            // Kong tells a consumer without groups apart from the anonymous one.
            return if credential {
                Verdict::Forbidden
            } else {
                Verdict::Unauthorized
            };
        }
        let listed = self.groups.iter().any(|g| groups.contains(g));
        if listed == self.deny {
            return Verdict::Forbidden;
        }
        Verdict::Allowed((!self.hide_groups_header).then(|| groups.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::gateway_service::ForeignKey;
    use crate::domain::Acl;
    use serde_json::json;

    fn groups() -> Groups {
        let acl = |c: u128, g: &str| Acl {
            id: Uuid::new_v4(),
            created_at: 1,
            consumer: ForeignKey {
                id: Uuid::from_u128(c),
            },
            group: g.into(),
            tags: None,
        };
        Groups::build(&GatewayConfig {
            acls: vec![acl(1, "admin"), acl(1, "pro"), acl(2, "free")],
            ..GatewayConfig::default()
        })
    }

    #[test]
    fn allow_and_deny_like_kong() {
        let g = groups();
        let (admin, free, nobody) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let allow =
            AclPlugin::compile(&json!({ "allow": ["admin"], "deny": null })).expect("compile");
        assert_eq!(allow.decide(None, &g), Verdict::Unauthorized);
        assert_eq!(
            allow.decide(Some((admin, true)), &g),
            Verdict::Allowed(Some("admin, pro".into()))
        );
        assert_eq!(allow.decide(Some((free, true)), &g), Verdict::Forbidden);
        assert_eq!(allow.decide(Some((nobody, true)), &g), Verdict::Forbidden);
        assert_eq!(
            allow.decide(Some((nobody, false)), &g),
            Verdict::Unauthorized
        );

        let deny = AclPlugin::compile(&json!({ "deny": ["admin"], "hide_groups_header": true }))
            .expect("compile");
        assert_eq!(deny.decide(Some((admin, true)), &g), Verdict::Forbidden);
        assert_eq!(deny.decide(Some((free, true)), &g), Verdict::Allowed(None));
        assert_eq!(
            deny.decide(Some((nobody, false)), &g),
            Verdict::Allowed(None)
        );
    }
}
