//! Where a plugin applies: the scope a plugins page is filtered by (`?service=…`), and the
//! names of the services, routes and consumers a plugin can be scoped to.

use serde::Deserialize;

use crate::domain::Plugin;

/// A scope given in the query string (`?service=…`), preselected in the forms.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Scope {
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub route: String,
    #[serde(default)]
    pub consumer: String,
}

impl Scope {
    pub(super) fn query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("service", &self.service),
            ("route", &self.route),
            ("consumer", &self.consumer),
        ] {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        let q = q.finish();
        if q.is_empty() {
            q
        } else {
            format!("?{q}")
        }
    }
    pub(super) fn of(p: &Plugin) -> Scope {
        let id = |f: &Option<crate::domain::gateway_service::ForeignKey>| {
            f.as_ref().map(|f| f.id.to_string()).unwrap_or_default()
        };
        Scope {
            service: id(&p.service),
            route: id(&p.route),
            consumer: id(&p.consumer),
        }
    }
    pub(super) fn matches(&self, p: &Plugin) -> bool {
        let s = Scope::of(p);
        (self.service.is_empty() || self.service == s.service)
            && (self.route.is_empty() || self.route == s.route)
            && (self.consumer.is_empty() || self.consumer == s.consumer)
    }
}

/// Names of what plugins can be scoped to, for selects and the list.
#[derive(Default)]
pub struct Targets {
    pub services: Vec<(String, String)>,
    pub routes: Vec<(String, String)>,
    pub consumers: Vec<(String, String)>,
}

impl Targets {
    fn name(list: &[(String, String)], id: &str) -> String {
        list.iter()
            .find(|(i, _)| i == id)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| id.to_string())
    }
    pub fn describe(&self, p: &Plugin) -> String {
        let s = Scope::of(p);
        let mut parts = Vec::new();
        if !s.route.is_empty() {
            parts.push(format!("route {}", Targets::name(&self.routes, &s.route)));
        }
        if !s.service.is_empty() {
            parts.push(format!(
                "service {}",
                Targets::name(&self.services, &s.service)
            ));
        }
        if !s.consumer.is_empty() {
            parts.push(format!(
                "consumer {}",
                Targets::name(&self.consumers, &s.consumer)
            ));
        }
        if parts.is_empty() {
            "Global".into()
        } else {
            parts.join(", ")
        }
    }
}
