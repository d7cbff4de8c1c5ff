use super::*;
use serde_json::json;
use uuid::Uuid;

fn route(v: serde_json::Value, created_at: i64) -> Route {
    let serde_json::Value::Object(m) = v else {
        panic!()
    };
    Route::parse(Uuid::new_v4(), created_at, None, &m, None).expect("valid route")
}

fn find(router: &Router, method: &str, host: Option<&str>, path: &str) -> Option<RouteMatch> {
    let headers = HeaderMap::new();
    router.find(&RequestView {
        method,
        host,
        path,
        headers: &headers,
        local_port: 8000,
        sni: None,
    })
}

#[test]
fn longest_prefix_and_regex_first() {
    let routes = vec![
        route(json!({"paths": ["/foo"]}), 1),
        route(json!({"paths": ["/foo/bar"]}), 2),
        route(json!({"paths": ["~/foo/\\d+"]}), 3),
    ];
    let (r, errs) = Router::compile(&routes);
    assert!(errs.is_empty());
    assert_eq!(
        find(&r, "GET", None, "/foo/bar/x").map(|m| m.route),
        Some(1)
    );
    assert_eq!(find(&r, "GET", None, "/foo/x").map(|m| m.route), Some(0));
    let m = find(&r, "GET", None, "/foo/12/x").expect("regex route");
    assert_eq!((m.route, m.matched_len), (2, 7));
    assert_eq!(find(&r, "GET", None, "/other"), None);
}

#[test]
fn hosts_ports_and_wildcards() {
    let routes = vec![
        route(json!({"hosts": ["*.example.com"]}), 1),
        route(json!({"hosts": ["api.example.com"]}), 2),
        route(json!({"hosts": ["example.*:8080"]}), 3),
    ];
    let (r, _) = Router::compile(&routes);
    assert_eq!(
        find(&r, "GET", Some("API.example.com:8000"), "/").map(|m| m.route),
        Some(1)
    );
    assert_eq!(
        find(&r, "GET", Some("x.example.com"), "/").map(|m| m.route),
        Some(0)
    );
    assert_eq!(find(&r, "GET", Some("example.com"), "/"), None);
    assert_eq!(
        find(&r, "GET", Some("example.org:8080"), "/").map(|m| m.route),
        Some(2)
    );
    assert_eq!(find(&r, "GET", Some("example.org"), "/"), None);
}

#[test]
fn regex_paths_expose_named_captures() {
    let routes = vec![
        route(
            json!({"paths": ["~/users/(?<user>\\d+)/orders/(?<order>[a-z]+)"]}),
            1,
        ),
        route(json!({"paths": ["/plain"]}), 2),
    ];
    let (r, errs) = Router::compile(&routes);
    assert!(errs.is_empty(), "{errs:?}");
    let m = find(&r, "GET", None, "/users/42/orders/abc/x").expect("match");
    assert_eq!(
        r.captures(&m, "/users/42/orders/abc/x"),
        vec![("user", "42"), ("order", "abc")]
    );
    let m = find(&r, "GET", None, "/plain/1").expect("match");
    assert!(r.captures(&m, "/plain/1").is_empty());
}

#[test]
fn more_attributes_win_and_methods_filter() {
    let routes = vec![
        route(json!({"paths": ["/x"]}), 1),
        route(json!({"paths": ["/x"], "methods": ["POST"]}), 2),
    ];
    let (r, _) = Router::compile(&routes);
    assert_eq!(find(&r, "POST", None, "/x").map(|m| m.route), Some(1));
    assert_eq!(find(&r, "GET", None, "/x").map(|m| m.route), Some(0));
}

#[test]
fn header_values_exact_case_insensitive_and_regex() {
    let routes = vec![route(
        json!({"paths": ["/h"], "headers": {"X-Version": ["v2", "~*^beta-\\d$"]}}),
        1,
    )];
    let (r, _) = Router::compile(&routes);
    let mut headers = HeaderMap::new();
    let view = |h: &HeaderMap| {
        r.find(&RequestView {
            method: "GET",
            host: None,
            path: "/h",
            headers: h,
            local_port: 80,
            sni: None,
        })
    };
    assert_eq!(view(&headers), None);
    headers.insert("x-version", http::HeaderValue::from_static("V2"));
    assert!(view(&headers).is_some());
    headers.insert("x-version", http::HeaderValue::from_static("BETA-7"));
    assert!(view(&headers).is_some());
    headers.insert("x-version", http::HeaderValue::from_static("v3"));
    assert_eq!(view(&headers), None);
}

/// The index must pick exactly what a full scan picks, on many random route sets.
#[test]
fn index_agrees_with_a_full_scan() {
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let segs = ["/a", "/ab", "/b", "/a/b", "/c", "/", "/a/"];
    let methods = ["GET", "POST"];
    let hosts = ["x.com", "*.x.com", "y.com"];
    for round in 0..200 {
        let mut routes = Vec::new();
        for i in 0..(1 + next(12)) {
            let mut r = serde_json::Map::new();
            let path = match next(5) {
                0 => format!("~{}\\d*", segs[next(segs.len())]),
                1 => String::new(),
                _ => format!(
                    "{}{}",
                    segs[next(segs.len())],
                    ["", "b", "/c", "1"][next(4)]
                )
                .replace("//", "/"),
            };
            if !path.is_empty() {
                r.insert("paths".into(), json!([path]));
            }
            if next(3) == 0 {
                r.insert("methods".into(), json!([methods[next(2)]]));
            }
            if next(3) == 0 || path.is_empty() {
                r.insert("hosts".into(), json!([hosts[next(3)]]));
            }
            r.insert("regex_priority".into(), json!(next(3)));
            routes.push(route(serde_json::Value::Object(r), (i % 3) as i64));
        }
        let (router, errors) = Router::compile(&routes);
        assert!(errors.is_empty(), "round {round}: {errors:?}");
        let headers = HeaderMap::new();
        for _ in 0..40 {
            let path = format!(
                "{}{}",
                segs[next(segs.len())],
                ["", "1", "/b", "b/c"][next(4)]
            );
            let host = ["x.com", "a.x.com", "y.com", "z.com"][next(4)];
            let view = RequestView {
                method: methods[next(2)],
                host: Some(host),
                path: &path,
                headers: &headers,
                local_port: 80,
                sni: None,
            };
            assert_eq!(
                router.find(&view),
                router.find_linear(&view),
                "round {round}: {path} {host}"
            );
        }
    }
}

#[test]
fn regex_priority_orders_regexes() {
    let routes = vec![
        route(json!({"paths": ["~/a"], "regex_priority": 0}), 1),
        route(json!({"paths": ["~/a/b"], "regex_priority": 5}), 2),
    ];
    let (r, _) = Router::compile(&routes);
    assert_eq!(find(&r, "GET", None, "/a/b").map(|m| m.route), Some(1));
    assert_eq!(find(&r, "GET", None, "/a/c").map(|m| m.route), Some(0));
}
