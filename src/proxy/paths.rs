//! Kong's upstream path joining: the service path plus what is left of the request path, for
//! path_handling v0 and v1, with and without strip_path (Kong's documented table).

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
