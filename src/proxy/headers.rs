//! Header rewriting between client and upstream: hop-by-hop removal, X-Forwarded-*, Via.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

// Names as constants: inserting or removing by `&str` would parse the name on every request.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const X_FORWARDED_PATH: HeaderName = HeaderName::from_static("x-forwarded-path");
const X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");

pub const VIA: HeaderValue = HeaderValue::from_static("1.1 gatehouse");

/// Removes hop-by-hop headers, including those the Connection header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
            .collect();
        for n in named {
            headers.remove(n);
        }
    }
    for h in &HOP_BY_HOP {
        headers.remove(h);
    }
}

pub struct Forwarded<'a> {
    /// The client's address, ready to send (computed once per connection).
    pub client_ip: &'a HeaderValue,
    pub proto: &'static str,
    pub host: &'a str,
    pub port: &'a HeaderValue,
    pub path: &'a str,
    pub prefix: Option<&'a str>,
}

/// Sets Kong's X-Forwarded-* and X-Real-IP headers. The client's own X-Forwarded-For is kept and
/// extended; the others are overwritten because no upstream hop is trusted by default.
pub fn set_forwarded(headers: &mut HeaderMap, f: &Forwarded<'_>) {
    match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prev) if !prev.is_empty() => {
            let ip = f.client_ip.to_str().unwrap_or("");
            let xff = format!("{prev}, {ip}");
            set(headers, &X_FORWARDED_FOR, &xff);
        }
        _ => {
            headers.insert(&X_FORWARDED_FOR, f.client_ip.clone());
        }
    }
    headers.insert(&X_REAL_IP, f.client_ip.clone());
    headers.insert(&X_FORWARDED_PROTO, HeaderValue::from_static(f.proto));
    let host = f
        .host
        .rsplit_once(':')
        .filter(|(_, p)| p.parse::<u16>().is_ok())
        .map(|(h, _)| h)
        .unwrap_or(f.host);
    set(headers, &X_FORWARDED_HOST, host);
    headers.insert(&X_FORWARDED_PORT, f.port.clone());
    set(headers, &X_FORWARDED_PATH, f.path);
    match f.prefix {
        Some(p) => set(headers, &X_FORWARDED_PREFIX, p),
        None => {
            headers.remove(&X_FORWARDED_PREFIX);
        }
    }
}

fn set(headers: &mut HeaderMap, name: &HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

pub fn add_via(headers: &mut HeaderMap) {
    headers.append(header::VIA, VIA);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_hop_by_hop_and_connection_named() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert!(
            h.get("x-secret").is_none()
                && h.get("connection").is_none()
                && h.get("keep-alive").is_none()
        );
        assert!(h.get("x-kept").is_some());
    }

    #[test]
    fn forwarded_headers_extend_xff() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        set_forwarded(
            &mut h,
            &Forwarded {
                client_ip: &HeaderValue::from_static("127.0.0.1"),
                proto: "http",
                host: "example.com:8000",
                port: &HeaderValue::from_static("8000"),
                path: "/a/b",
                prefix: Some("/a"),
            },
        );
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
        assert_eq!(h["x-forwarded-host"], "example.com");
        assert_eq!(h["x-forwarded-port"], "8000");
        assert_eq!(h["x-forwarded-prefix"], "/a");
    }
}
