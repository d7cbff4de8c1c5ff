//! Kong's Target object: one `host:port` an upstream balances over, with a weight.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::entity::{merged, Entity};
use super::fields::{check_known, none_if_empty, Reader};
use super::gateway_service::{check_host, check_tags, ForeignKey};
use super::FieldErrors;

const KNOWN: &[&str] = &[
    "id",
    "created_at",
    "updated_at",
    "upstream",
    "target",
    "weight",
    "tags",
];
/// Kong's default port for a target given without one.
const DEFAULT_PORT: u16 = 8000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub id: Uuid,
    pub created_at: i64,
    pub updated_at: i64,
    pub upstream: ForeignKey,
    pub target: String,
    pub weight: i64,
    pub tags: Option<Vec<String>>,
}

impl Target {
    /// Host (IPv6 without brackets) and port.
    pub fn host_port(&self) -> (String, u16) {
        split_target(&self.target).unwrap_or_else(|_| (self.target.clone(), DEFAULT_PORT))
    }
}

impl Entity for Target {
    const KIND: &'static str = "targets";
    const NAME_FIELD: Option<&'static str> = Some("target");
    const SCOPED_BY_PARENT: bool = true;

    fn id(&self) -> Uuid {
        self.id
    }
    fn created_at(&self) -> i64 {
        self.created_at
    }
    fn unique_name(&self) -> Option<String> {
        Some(self.target.clone())
    }
    fn parent(&self) -> Option<Uuid> {
        Some(self.upstream.id)
    }

    fn from_input(
        id: Uuid,
        now: i64,
        parent: Option<Uuid>,
        base: Option<&Target>,
        input: &Map<String, Value>,
    ) -> Result<Target, FieldErrors> {
        let mut errors = FieldErrors::new();
        check_known(input, KNOWN, &mut errors);
        let mut input = input.clone();
        input.remove("upstream");
        let m = merged(base, &input);
        let mut r = Reader::new(&m);
        let target = r.opt_string("target");
        let weight = r.int("weight", 100, 0, 65535);
        let tags = none_if_empty(r.opt_string_array("tags"));
        for (k, v) in r.finish().0 {
            errors.add(k, v);
        }
        let target = match target.as_deref().map(split_target) {
            None => {
                errors.add("target", "required field missing");
                String::new()
            }
            Some(Err(msg)) => {
                errors.add("target", msg);
                String::new()
            }
            Some(Ok((host, port))) => {
                if host.contains(':') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                }
            }
        };
        let upstream = match parent.or(base.map(|b| b.upstream.id)) {
            Some(id) => ForeignKey { id },
            None => {
                errors.add("upstream", "required field missing");
                ForeignKey { id: Uuid::nil() }
            }
        };
        check_tags(&tags, &mut errors);
        errors.into_result(Target {
            id,
            created_at: base.map(|b| b.created_at).unwrap_or(now),
            updated_at: now,
            upstream,
            target,
            weight,
            tags,
        })
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port` → (host, port), Kong's default port 8000.
pub fn split_target(raw: &str) -> Result<(String, u16), String> {
    let raw = raw.trim();
    let invalid = || format!("Invalid target ('{raw}'); not a valid hostname or ip address");
    let (host, port) = if let Some(rest) = raw.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(invalid)?;
        (h, after.strip_prefix(':'))
    } else if raw.matches(':').count() > 1 {
        (raw, None)
    } else {
        match raw.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (raw, None),
        }
    };
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(invalid)?,
    };
    if host.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok((host.to_string(), port));
    }
    check_host(host).map_err(|_| invalid())?;
    Ok((host.to_ascii_lowercase(), port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn targets_are_normalised_with_kongs_default_port() {
        assert_eq!(split_target("a.example"), Ok(("a.example".into(), 8000)));
        assert_eq!(split_target("10.0.0.1:81"), Ok(("10.0.0.1".into(), 81)));
        assert_eq!(split_target("[::1]:9"), Ok(("::1".into(), 9)));
        assert!(split_target("a b:1").is_err());
        assert!(split_target("a:99999").is_err());
        let Value::Object(m) = json!({"target": "[::1]", "weight": "5"}) else {
            panic!()
        };
        let t = Target::from_input(Uuid::nil(), 1, Some(Uuid::nil()), None, &m).expect("valid");
        assert_eq!((t.target.as_str(), t.weight), ("[::1]:8000", 5));
        assert_eq!(t.host_port(), ("::1".into(), 8000));
    }
}
