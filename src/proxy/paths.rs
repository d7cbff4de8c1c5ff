//! Request paths: Kong's normalization before routing (percent-decoding of unreserved
//! characters, `.` and `..` segments, repeated slashes) and its upstream path joining (the
//! service path plus what is left of the request path, for path_handling v0 and v1, with and
//! without strip_path: Kong's documented table).

use std::borrow::Cow;

/// Why a request path is refused (nginx answers 400 to each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadPath {
    /// `%` not followed by two hex digits.
    BadEscape,
    /// A NUL byte, raw or `%00`.
    Nul,
    /// `..` segments climb above the root.
    AboveRoot,
    /// Not an origin-form path (`/…`).
    NotAbsolute,
}

/// The path routing and forwarding use, as Kong (on nginx) normalizes it: percent-encoded
/// unreserved characters decoded (`%41` is `A`), other escapes kept with upper-case hex, `.` and
/// `..` segments resolved, repeated slashes merged. `/mock/../admin` is `/admin`, so a plugin
/// on `/admin` cannot be walked around. Paths that need nothing are borrowed, not copied.
pub fn normalize(path: &str) -> Result<Cow<'_, str>, BadPath> {
    if !path.starts_with('/') {
        return Err(BadPath::NotAbsolute);
    }
    let b = path.as_bytes();
    let clean = !b.contains(&0)
        && !b.contains(&b'%')
        && !path.contains("//")
        && !path.contains("/./")
        && !path.contains("/../")
        && !path.ends_with("/.")
        && !path.ends_with("/..");
    if clean {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode_unreserved(path)?;
    let mut out: Vec<&str> = Vec::new();
    let trailing = decoded.ends_with('/') || decoded.ends_with("/.") || decoded.ends_with("/..");
    for seg in decoded.split('/').skip(1) {
        match seg {
            "" | "." => {}
            ".." => {
                if out.pop().is_none() {
                    return Err(BadPath::AboveRoot);
                }
            }
            s => out.push(s),
        }
    }
    let mut joined = String::with_capacity(decoded.len());
    for seg in &out {
        joined.push('/');
        joined.push_str(seg);
    }
    if joined.is_empty() || trailing {
        joined.push('/');
    }
    Ok(Cow::Owned(joined))
}

fn decode_unreserved(path: &str) -> Result<String, BadPath> {
    let b = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            0 => return Err(BadPath::Nul),
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                let (Some(h), Some(l)) = (
                    b.get(i + 1).copied().and_then(hex),
                    b.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(BadPath::BadEscape);
                };
                let byte = (h * 16 + l) as u8;
                if byte == 0 {
                    return Err(BadPath::Nul);
                }
                if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                    out.push(byte as char);
                } else {
                    out.push('%');
                    out.push_str(&format!("{byte:02X}"));
                }
                i += 3;
            }
            _ => {
                // Multi-byte UTF-8 is copied whole: a `str` boundary is never split.
                let ch_len = path[i..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&path[i..i + ch_len]);
                i += ch_len;
            }
        }
    }
    Ok(out)
}

/// `base` is the service path (`/` when unset), `req_path` the request path, and `stripped` the
/// length of the matched prefix when the route strips it.
pub fn upstream_path(base: &str, req_path: &str, stripped: Option<usize>, v1: bool) -> String {
    let base = if base.is_empty() { "/" } else { base };
    let postfix = stripped.map(|n| req_path.get(n..).unwrap_or(""));
    if v1 {
        let postfix = postfix.unwrap_or_else(|| req_path.get(1..).unwrap_or(""));
        return join_v1(base, req_path, postfix);
    }
    join_v0(base, req_path, postfix)
}

fn join_v0(base: &str, req: &str, postfix: Option<&str>) -> String {
    let base_slash = base.ends_with('/');
    match postfix {
        Some("") => {
            if base == "/" {
                "/".into()
            } else if base_slash {
                if req.ends_with('/') {
                    base.into()
                } else {
                    base[..base.len() - 1].into()
                }
            } else if req.len() > 1 && req.ends_with('/') {
                format!("{base}/")
            } else {
                base.into()
            }
        }
        Some(p) if p.starts_with('/') => {
            if base_slash {
                format!("{}{p}", &base[..base.len() - 1])
            } else {
                format!("{base}{p}")
            }
        }
        Some(p) => {
            if base_slash {
                format!("{base}{p}")
            } else {
                format!("{base}/{p}")
            }
        }
        None => {
            if base_slash {
                format!("{base}{}", req.get(1..).unwrap_or(""))
            } else if req == "/" {
                base.into()
            } else {
                format!("{base}{req}")
            }
        }
    }
}

fn join_v1(base: &str, req: &str, postfix: &str) -> String {
    if base.ends_with('/') {
        return format!("{base}{}", postfix.strip_prefix('/').unwrap_or(postfix));
    }
    if postfix.is_empty() {
        return if req.len() > 1 && req.ends_with('/') {
            format!("{base}/")
        } else {
            base.into()
        };
    }
    format!("{base}{postfix}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn normalization_matches_kong() {
        use super::{normalize, BadPath};
        let n = |p: &str| normalize(p).map(|c| c.into_owned());
        assert_eq!(n("/mock/../admin"), Ok("/admin".into()));
        assert_eq!(n("/a/./b//c"), Ok("/a/b/c".into()));
        assert_eq!(n("//admin"), Ok("/admin".into()));
        assert_eq!(n("/%61dmin/%7euser"), Ok("/admin/~user".into()));
        assert_eq!(n("/a%2fb/%e2%82%ac"), Ok("/a%2Fb/%E2%82%AC".into()));
        assert_eq!(n("/a/b/.."), Ok("/a/".into()));
        assert_eq!(n("/a/%2e%2e/b"), Ok("/b".into()), "encoded dots are dots");
        assert_eq!(n("/"), Ok("/".into()));
        assert_eq!(n("/plain/path"), Ok("/plain/path".into()));
        assert_eq!(n("/../etc/passwd"), Err(BadPath::AboveRoot));
        assert_eq!(n("/a/../../b"), Err(BadPath::AboveRoot));
        assert_eq!(n("/a%00b"), Err(BadPath::Nul));
        assert_eq!(n("/a%zz"), Err(BadPath::BadEscape));
        assert_eq!(n("/a%4"), Err(BadPath::BadEscape));
        assert_eq!(n("/caf\u{e9}/x"), Ok("/caf\u{e9}/x".into()));
        assert!(matches!(
            normalize("/plain"),
            Ok(std::borrow::Cow::Borrowed(_))
        ));
    }

    use super::upstream_path;

    /// Kong's path-handling table: (service path, route path, request, strip, v1, expected).
    const TABLE: &[(&str, &str, &str, bool, bool, &str)] = &[
        ("/s", "/fv0", "/fv0req", false, false, "/s/fv0req"),
        ("/s", "/fv1", "/fv1req", false, true, "/sfv1req"),
        ("/s", "/tv0", "/tv0req", true, false, "/s/req"),
        ("/s", "/tv1", "/tv1req", true, true, "/sreq"),
        ("/s", "/fv0/", "/fv0/req", false, false, "/s/fv0/req"),
        ("/s", "/fv1/", "/fv1/req", false, true, "/sfv1/req"),
        ("/s", "/tv0/", "/tv0/req", true, false, "/s/req"),
        ("/s", "/tv1/", "/tv1/req", true, true, "/sreq"),
        ("/s/", "/fv0", "/fv0req", false, false, "/s/fv0req"),
        ("/s/", "/fv1", "/fv1req", false, true, "/s/fv1req"),
        ("/s/", "/tv0", "/tv0req", true, false, "/s/req"),
        ("/s/", "/tv1", "/tv1req", true, true, "/s/req"),
        ("/s/", "/fv0/", "/fv0/req", false, false, "/s/fv0/req"),
        ("/s/", "/fv1/", "/fv1/req", false, true, "/s/fv1/req"),
        ("/s/", "/tv0/", "/tv0/req", true, false, "/s/req"),
        ("/s/", "/tv1/", "/tv1/req", true, true, "/s/req"),
        ("/s/", "/tv0", "/tv0/req", true, false, "/s/req"),
        ("/", "/foo", "/foo", true, false, "/"),
        ("/", "/foo", "/foo/bar", true, false, "/bar"),
        ("/", "/foo", "/foo/bar", false, false, "/foo/bar"),
        ("/", "/foo", "/foo/bar", false, true, "/foo/bar"),
        ("/", "/foo", "/foo/bar", true, true, "/bar"),
        ("/s", "/foo", "/foo", true, false, "/s"),
        ("/s", "/foo", "/foo/", true, false, "/s/"),
    ];

    #[test]
    fn kong_path_handling_table() {
        for (base, route, req, strip, v1, want) in TABLE {
            let stripped = strip.then_some(route.len());
            assert_eq!(
                &upstream_path(base, req, stripped, *v1),
                want,
                "{base} {route} {req} strip={strip} v1={v1}"
            );
        }
    }
}
