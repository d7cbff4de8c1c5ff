//! Kong's ip-restriction: a client whose address is in `deny` is refused, and so is one not in
//! `allow` when `allow` is set (deny is checked first, so it wins). The ranges are compiled
//! when the snapshot is built; a request only compares bits.

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::Value;

use super::{Access, Exit, Flow, Handler, Runtime, Shared};
use crate::domain::plugin_schemas::parse_ip_or_cidr;
use crate::domain::Plugin;

/// One network, as the address's bits and a mask, per family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Net {
    V4 { bits: u32, mask: u32 },
    V6 { bits: u128, mask: u128 },
}

impl Net {
    fn parse(s: &str) -> Option<Net> {
        let (ip, prefix) = parse_ip_or_cidr(s)?;
        Some(match ip {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                Net::V4 {
                    bits: u32::from(a) & mask,
                    mask,
                }
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                Net::V6 {
                    bits: u128::from(a) & mask,
                    mask,
                }
            }
        })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d; v4 ranges match it.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self, ip) {
            (Net::V4 { bits, mask }, IpAddr::V4(a)) => u32::from(a) & mask == *bits,
            (Net::V6 { bits, mask }, IpAddr::V6(a)) => u128::from(a) & mask == *bits,
            _ => false,
        }
    }
}

fn nets(config: &Value, key: &str) -> Result<Vec<Net>, String> {
    config
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|v| {
            let s = v.as_str().unwrap_or("");
            Net::parse(s).ok_or_else(|| format!("invalid ip or cidr range: '{s}'"))
        })
        .collect()
}

pub struct IpRestriction {
    allow: Vec<Net>,
    deny: Vec<Net>,
    status: u16,
    message: Option<String>,
}

pub fn build(p: &Plugin, _: &Shared, _: &Runtime) -> Result<Arc<dyn Handler>, String> {
    Ok(Arc::new(IpRestriction::compile(&p.config)?))
}

impl IpRestriction {
    pub fn compile(config: &Value) -> Result<IpRestriction, String> {
        let status = match config.get("status").and_then(Value::as_f64) {
            None => 403,
            Some(s) if (100.0..=599.0).contains(&s) => s as u16,
            Some(s) => return Err(format!("status {s} is not an HTTP status")),
        };
        Ok(IpRestriction {
            allow: nets(config, "allow")?,
            deny: nets(config, "deny")?,
            status,
            message: config
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// The refusal for this client, if any.
    pub fn check(&self, ip: IpAddr) -> Option<Exit> {
        let denied = self.deny.iter().any(|n| n.contains(ip))
            || (!self.allow.is_empty() && !self.allow.iter().any(|n| n.contains(ip)));
        denied.then(|| {
            let message = match &self.message {
                Some(m) => m.clone(),
                None => format!("IP address not allowed: {ip}"),
            };
            Exit::message(self.status, message)
        })
    }
}

impl Handler for IpRestriction {
    fn name(&self) -> &'static str {
        "ip-restriction"
    }
    fn priority(&self) -> i32 {
        990
    }
    fn access(&self, req: &mut Access<'_>) -> Flow {
        match self.check(req.client_ip) {
            Some(exit) => {
                tracing::warn!(client.ip = %req.client_ip, "ip-restriction refused the client");
                Flow::Exit(exit)
            }
            None => Flow::Continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn deny_wins_and_allow_limits() {
        let r = IpRestriction::compile(&json!({
            "allow": ["10.0.0.0/8", "2001:db8::/32"], "deny": ["10.1.0.0/16"]
        }))
        .expect("compile");
        assert!(r.check(ip("10.2.3.4")).is_none());
        assert!(r.check(ip("2001:db8:1::5")).is_none());
        assert!(r.check(ip("::ffff:10.2.3.4")).is_none(), "v4-mapped v6");
        let refused = r.check(ip("10.1.2.3")).expect("denied");
        assert_eq!(
            refused,
            Exit::message(403, "IP address not allowed: 10.1.2.3")
        );
        assert!(r.check(ip("192.168.0.1")).is_some());
        assert!(r.check(ip("2001:db9::1")).is_some());
    }

    #[test]
    fn status_message_and_edges() {
        let r = IpRestriction::compile(&json!({
            "deny": ["127.0.0.1", "::1", "0.0.0.0/0"], "status": 401, "message": "Forbidden"
        }))
        .expect("compile");
        assert_eq!(
            r.check(ip("8.8.8.8")),
            Some(Exit::message(401, "Forbidden"))
        );
        assert!(r.check(ip("::1")).is_some());
        assert!(r.check(ip("::2")).is_none(), "0.0.0.0/0 is v4 only");
        let all6 = Net::parse("::/0").expect("net");
        assert!(all6.contains(ip("fe80::1")));
        assert!(!all6.contains(ip("1.2.3.4")));
        let host = Net::parse("fe80::1/128").expect("net");
        assert!(host.contains(ip("fe80::1")) && !host.contains(ip("fe80::2")));
        let odd = Net::parse("fe80::1:2:3/100").expect("net");
        assert!(odd.contains(ip("fe80::1:2:fff")));
        assert!(IpRestriction::compile(&json!({ "deny": ["nope"] })).is_err());
    }
}
