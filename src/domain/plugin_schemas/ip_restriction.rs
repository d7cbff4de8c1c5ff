//! Kong's ip-restriction schema: `allow` and `deny` lists of IPs or CIDR ranges (v4 or v6, at
//! least one list non-empty), and the optional status and message of a refusal.

use std::net::IpAddr;

use super::{at_least_one_of, Field, Group, Map, Schema, Ty, Value, NUMBER, STRING};

/// An address or a CIDR range, as Kong's `typedefs.ip_or_cidr` accepts it.
pub fn ip_or_cidr(s: &str) -> Result<(), String> {
    parse_ip_or_cidr(s)
        .map(|_| ())
        .ok_or_else(|| format!("invalid ip or cidr range: '{s}'"))
}

/// `s` as a network address and prefix length: a bare address is its own /32 or /128. The
/// prefix must be plain digits within the family's width (`/-1`, `/a`, `/33` are refused).
pub fn parse_ip_or_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let width = if ip.is_ipv4() { 32 } else { 128 };
    let bits = match prefix {
        None => width,
        Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
            p.parse::<u8>().ok().filter(|b| *b <= width)?
        }
        Some(_) => return None,
    };
    Some((ip, bits))
}

const IP_OR_CIDR: Ty = Ty::String {
    one_of: &[],
    check: Some(ip_or_cidr),
};

fn allow_or_deny(config: &Map<String, Value>) -> Vec<(String, String)> {
    at_least_one_of(config, &["allow", "deny"])
}

pub const SCHEMA: Schema = Schema {
    name: "ip-restriction",
    group: Group::Security,
    summary: "Allow or deny requests by the client's IP address or CIDR range.",
    fields: &[
        Field::new(
            "allow",
            Ty::Array {
                of: &IP_OR_CIDR,
                set: false,
            },
        )
        .help("IPs or CIDR ranges allowed; every other client is refused."),
        Field::new(
            "deny",
            Ty::Array {
                of: &IP_OR_CIDR,
                set: false,
            },
        )
        .help("IPs or CIDR ranges refused (wins over allow)."),
        Field::new("status", NUMBER).help("Status of a refusal (403 when unset)."),
        Field::new("message", STRING)
            .help("Message of a refusal (\"IP address not allowed: <ip>\" when unset)."),
    ],
    consumer_allowed: true,
    checks: &[allow_or_deny],
};

#[cfg(test)]
mod tests {
    use serde_json::{json, Map};

    use super::parse_ip_or_cidr;

    #[test]
    fn addresses_and_ranges_of_both_families() {
        assert_eq!(
            parse_ip_or_cidr("127.0.0.1").map(|(_, b)| b),
            Some(32),
            "a bare v4 address"
        );
        assert_eq!(parse_ip_or_cidr("10.0.0.0/8").map(|(_, b)| b), Some(8));
        assert_eq!(parse_ip_or_cidr("::1").map(|(_, b)| b), Some(128));
        assert_eq!(parse_ip_or_cidr("2001:db8::/32").map(|(_, b)| b), Some(32));
        assert_eq!(parse_ip_or_cidr("::/0").map(|(_, b)| b), Some(0));
        for bad in [
            "hello",
            "0.0.0.0/a",
            "0.0.0.0/-1",
            "0.0.0.0/33",
            "::/a",
            "::/-1",
            "::/129",
            "::1/129",
            "1.2.3.4/",
            "1.2.3/24",
        ] {
            assert_eq!(parse_ip_or_cidr(bad), None, "{bad}");
        }
    }

    #[test]
    fn kong_messages() {
        let mut bad = Map::new();
        bad.insert("allow".into(), json!(["127.0.0.1/32", "hello"]));
        let errors = super::SCHEMA.fill(&bad).expect_err("invalid");
        assert_eq!(
            errors,
            vec![(
                "allow".to_string(),
                "invalid ip or cidr range: 'hello'".to_string()
            )]
        );
        let mut empty = Map::new();
        empty.insert("allow".into(), json!([]));
        empty.insert("deny".into(), json!([]));
        let errors = super::SCHEMA.fill(&empty).expect_err("empty");
        assert_eq!(
            errors[0].1,
            "at least one of these fields must be non-empty: 'config.allow', 'config.deny'"
        );
        let mut ok = Map::new();
        ok.insert("deny".into(), json!(["::1", "10.0.0.0/8"]));
        let filled = super::SCHEMA.fill(&ok).expect("valid");
        assert_eq!(filled["status"], serde_json::Value::Null);
        assert_eq!(filled["allow"], serde_json::Value::Null);
    }
}
