//! The new-upstream and add-target forms: what the user typed (kept verbatim so an invalid form
//! re-renders unchanged) and its conversion to the Kong input the domain checks. Health-check
//! fields are named by Kong's dotted keys, so the domain's errors land beside them as they are.

use serde_json::{json, Map, Value};

use crate::console::forms::split_list;
use crate::console::session::FormData;
use crate::domain::upstream::{Healthchecks, ALGORITHMS, HASH_ON};
use crate::domain::{FieldErrors, Upstream};

/// The health-check settings the form offers, by Kong key, with their labels.
const CHECKS: &[(&str, &str)] = &[
    ("healthchecks.active.http_path", "HTTP path"),
    (
        "healthchecks.active.healthy.interval",
        "Healthy interval (s)",
    ),
    ("healthchecks.active.healthy.successes", "Healthy successes"),
    (
        "healthchecks.active.unhealthy.interval",
        "Unhealthy interval (s)",
    ),
    (
        "healthchecks.active.unhealthy.http_failures",
        "Unhealthy HTTP failures",
    ),
    (
        "healthchecks.active.unhealthy.tcp_failures",
        "Unhealthy TCP failures",
    ),
    (
        "healthchecks.active.unhealthy.timeouts",
        "Unhealthy timeouts",
    ),
    (
        "healthchecks.passive.unhealthy.http_failures",
        "Unhealthy HTTP failures",
    ),
    (
        "healthchecks.passive.unhealthy.tcp_failures",
        "Unhealthy TCP failures",
    ),
    (
        "healthchecks.passive.unhealthy.timeouts",
        "Unhealthy timeouts",
    ),
];

/// The upstream fields the form shows besides the health checks.
const FIELDS: &[&str] = &[
    "name",
    "algorithm",
    "hash_on",
    "hash_on_header",
    "hash_on_cookie",
    "hash_on_query_arg",
    "slots",
    "tags",
];

/// One health-check setting: its Kong key (also the form field's name), label and value.
#[derive(Debug, Clone)]
pub struct CheckField {
    pub key: &'static str,
    pub label: &'static str,
    pub value: String,
}

impl CheckField {
    /// The input's id: the key with dashes, so it needs no escaping in selectors.
    pub fn id(&self) -> String {
        self.key.replace('.', "-")
    }

    pub fn is_active(&self) -> bool {
        self.key.starts_with("healthchecks.active.")
    }

    fn is_number(&self) -> bool {
        !self.key.ends_with(".http_path")
    }
}

#[derive(Debug, Clone)]
pub struct UpstreamForm {
    pub name: String,
    pub algorithm: String,
    pub hash_on: String,
    pub hash_on_header: String,
    pub hash_on_cookie: String,
    pub hash_on_query_arg: String,
    pub slots: String,
    pub tags: String,
    pub checks: Vec<CheckField>,
}

impl Default for UpstreamForm {
    fn default() -> Self {
        UpstreamForm {
            name: String::new(),
            algorithm: "round-robin".into(),
            hash_on: "none".into(),
            hash_on_header: String::new(),
            hash_on_cookie: String::new(),
            hash_on_query_arg: String::new(),
            slots: "10000".into(),
            tags: String::new(),
            checks: checks_of(&Healthchecks::default()),
        }
    }
}

impl UpstreamForm {
    pub fn from_form(f: &FormData) -> UpstreamForm {
        let text = |k: &str| f.get(k).trim().to_string();
        UpstreamForm {
            name: text("name"),
            algorithm: text("algorithm"),
            hash_on: text("hash_on"),
            hash_on_header: text("hash_on_header"),
            hash_on_cookie: text("hash_on_cookie"),
            hash_on_query_arg: text("hash_on_query_arg"),
            slots: text("slots"),
            tags: f.get("tags").to_string(),
            checks: CHECKS
                .iter()
                .map(|&(key, label)| CheckField {
                    key,
                    label,
                    value: text(key),
                })
                .collect(),
        }
    }

    /// The stored health-check settings, as the form would show them.
    pub fn checks_of(u: &Upstream) -> Vec<CheckField> {
        checks_of(&u.healthchecks)
    }

    pub fn algorithm_options(&self) -> Vec<(&'static str, bool)> {
        options(ALGORITHMS, &self.algorithm)
    }

    pub fn hash_on_options(&self) -> Vec<(&'static str, bool)> {
        options(HASH_ON, &self.hash_on)
    }

    /// The Kong input for this form. Console-only rules (a name is required, numbers are
    /// numbers) come back as errors beside the domain's.
    pub fn to_input(&self) -> (Map<String, Value>, FieldErrors) {
        let mut errors = FieldErrors::new();
        let mut m = Map::new();
        if self.name.is_empty() {
            errors.add("name", "Name is required, for example billing.v1");
        } else {
            m.insert("name".into(), json!(self.name));
        }
        m.insert("algorithm".into(), json!(self.algorithm));
        m.insert("hash_on".into(), json!(self.hash_on));
        for (key, value) in [
            ("hash_on_header", &self.hash_on_header),
            ("hash_on_cookie", &self.hash_on_cookie),
            ("hash_on_query_arg", &self.hash_on_query_arg),
            ("slots", &self.slots),
        ] {
            if !value.is_empty() {
                m.insert(key.into(), json!(value));
            }
        }
        let tags = split_list(&self.tags);
        if !tags.is_empty() {
            m.insert("tags".into(), json!(tags));
        }
        let mut checks = Map::new();
        for c in &self.checks {
            if c.value.is_empty() {
                continue;
            }
            if c.is_number() && c.value.parse::<f64>().is_err() {
                errors.add(c.key, "Enter a number");
                continue;
            }
            let path = c.key.trim_start_matches("healthchecks.");
            insert_dotted(&mut checks, path, json!(c.value));
        }
        if !checks.is_empty() {
            m.insert("healthchecks".into(), Value::Object(checks));
        }
        (m, errors)
    }

    /// Errors on fields this form does not show.
    pub fn unplaced(&self, errors: &FieldErrors) -> Vec<String> {
        let mut shown: Vec<&str> = FIELDS.to_vec();
        shown.extend(CHECKS.iter().map(|(k, _)| *k));
        crate::console::entities::unplaced(errors, &shown)
    }
}

fn options(all: &'static [&'static str], current: &str) -> Vec<(&'static str, bool)> {
    all.iter().map(|o| (*o, *o == current)).collect()
}

fn checks_of(hc: &Healthchecks) -> Vec<CheckField> {
    let json = serde_json::to_value(hc).unwrap_or(Value::Null);
    CHECKS
        .iter()
        .map(|&(key, label)| {
            let pointer = format!("/{}", key.trim_start_matches("healthchecks.")).replace('.', "/");
            CheckField {
                key,
                label,
                value: json.pointer(&pointer).map(scalar).unwrap_or_default(),
            }
        })
        .collect()
}

/// A JSON scalar as a form shows it: `5` rather than `5.0`.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// Sets `a.b.c` in `m`, creating the objects on the way.
fn insert_dotted(m: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            m.insert(path.into(), value);
        }
        Some((head, rest)) => {
            let child = m
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(inner) = child {
                insert_dotted(inner, rest, value);
            }
        }
    }
}

/// The add-target form.
#[derive(Debug, Clone)]
pub struct TargetForm {
    pub target: String,
    pub weight: String,
}

impl Default for TargetForm {
    fn default() -> Self {
        TargetForm {
            target: String::new(),
            weight: "100".into(),
        }
    }
}

impl TargetForm {
    pub fn from_form(f: &FormData) -> TargetForm {
        TargetForm {
            target: f.get("target").trim().to_string(),
            weight: f.get("weight").trim().to_string(),
        }
    }

    pub fn to_input(&self) -> (Map<String, Value>, FieldErrors) {
        let mut errors = FieldErrors::new();
        let mut m = Map::new();
        if self.target.is_empty() {
            errors.add("target", "Target is required, for example 10.0.0.5:8080");
        } else {
            m.insert("target".into(), json!(self.target));
        }
        if !self.weight.is_empty() {
            m.insert("weight".into(), json!(self.weight));
        }
        (m, errors)
    }

    pub fn unplaced(&self, errors: &FieldErrors) -> Vec<String> {
        crate::console::entities::unplaced(errors, &["target", "weight"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    use crate::domain::Entity;

    fn form(fields: &[(&str, &str)]) -> UpstreamForm {
        let body = serde_urlencoded::to_string(fields).expect("encode");
        UpstreamForm::from_form(&FormData::parse(body.as_bytes()))
    }

    #[test]
    fn defaults_show_kongs_values() {
        let f = UpstreamForm::default();
        let value = |k: &str| {
            f.checks
                .iter()
                .find(|c| c.key == k)
                .map(|c| c.value.clone())
        };
        assert_eq!(value("healthchecks.active.http_path"), Some("/".into()));
        assert_eq!(
            value("healthchecks.active.healthy.interval"),
            Some("0".into())
        );
        assert_eq!(f.algorithm_options()[0], ("round-robin", true));
    }

    #[test]
    fn dotted_fields_become_nested_healthchecks() {
        let f = form(&[
            ("name", "billing"),
            ("algorithm", "round-robin"),
            ("hash_on", "none"),
            ("healthchecks.active.healthy.interval", "5"),
            ("healthchecks.passive.unhealthy.tcp_failures", "2"),
            ("tags", "a, b"),
        ]);
        let (input, errors) = f.to_input();
        assert!(errors.is_empty());
        let u = Upstream::from_input(Uuid::nil(), 1, None, None, &input).expect("valid");
        assert_eq!(u.healthchecks.active.healthy.interval, Some(5.0));
        assert_eq!(u.healthchecks.passive.unhealthy.tcp_failures, 2);
        assert_eq!(u.tags, Some(vec!["a".into(), "b".into()]));
        let shown = UpstreamForm::checks_of(&u);
        assert_eq!(shown[1].value, "5");
        assert_eq!(shown[1].id(), "healthchecks-active-healthy-interval");
    }

    #[test]
    fn console_rules_sit_beside_their_fields() {
        let f = form(&[("healthchecks.active.healthy.interval", "soon")]);
        let (_, errors) = f.to_input();
        assert!(errors.get("name").is_some());
        assert_eq!(
            errors.get("healthchecks.active.healthy.interval"),
            Some("Enter a number")
        );
        assert!(f
            .unplaced(&FieldErrors::single("hash_fallback", "x"))
            .contains(&"hash_fallback: x".to_string()));
    }
}
