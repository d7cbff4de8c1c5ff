//! Kong's request-transformer rules on headers, query arguments and bodies.

use bytes::Bytes;
use serde_json::{json, Value};

use super::*;

fn ops(config: Value, field: &str) -> Ops {
    Ops::read(&config, field)
}

#[test]
fn headers_go_through_remove_rename_replace_add_append() {
    let o = ops(
        json!({
            "remove": { "headers": ["x-gone"] },
            "rename": { "headers": ["x-old:x-new"] },
            "replace": { "headers": ["x-rep:new", "x-absent:no", "host:example.test"] },
            "add": { "headers": ["x-rep:ignored", "x-added:a1"] },
            "append": { "headers": ["x-rep:second", "x-app:1"] },
        }),
        "headers",
    );
    let mut h = HeaderMap::new();
    for (k, v) in [
        ("x-gone", "1"),
        ("x-old", "o"),
        ("x-new", "lost"),
        ("x-rep", "old"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    let host = transform_headers(&o, &mut h);
    assert_eq!(host, Some(HeaderValue::from_static("example.test")));
    assert!(h.get("x-gone").is_none() && h.get("x-old").is_none() && h.get("x-absent").is_none());
    assert_eq!(h.get("x-new").map(|v| v.as_bytes()), Some(&b"o"[..]));
    let rep: Vec<&[u8]> = h.get_all("x-rep").iter().map(|v| v.as_bytes()).collect();
    assert_eq!(rep, [&b"new"[..], &b"second"[..]]);
    assert_eq!(h.get("x-added").map(|v| v.as_bytes()), Some(&b"a1"[..]));
    assert_eq!(h.get("x-app").map(|v| v.as_bytes()), Some(&b"1"[..]));
}

#[test]
fn query_arguments_are_sorted_like_kongs_set_query() {
    let o = ops(
        json!({
            "remove": { "querystring": ["toremove"] },
            "rename": { "querystring": ["old:new"] },
            "replace": { "querystring": ["q:r"] },
            "add": { "querystring": ["q:no", "added:yes"] },
            "append": { "querystring": ["q:2"] },
        }),
        "querystring",
    );
    let mut args = Args::parse("toremove=1&old=o&q=1&z=z");
    transform_query(&o, &mut args);
    assert_eq!(
        args.encode_sorted().as_deref(),
        Some("added=yes&new=o&q=r&q=2&z=z")
    );
}

#[test]
fn json_and_form_bodies() {
    let o = ops(
        json!({
            "remove": { "body": ["gone"] },
            "rename": { "body": ["old:new"] },
            "replace": { "body": ["r:replaced"] },
            "add": { "body": ["a:added", "r:not"] },
            "append": { "body": ["list:x"] },
        }),
        "body",
    );
    let out = body::transform(
        body::Kind::Json,
        &o,
        &Bytes::from(r#"{"gone":1,"old":true,"r":2,"list":"first"}"#),
    )
    .expect("changed");
    let v: Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(
        v,
        json!({"new": true, "r": "replaced", "a": "added", "list": ["first", "x"]})
    );
    assert_eq!(
        body::transform(body::Kind::Json, &o, &Bytes::from("not json")),
        None
    );
    // An empty body only gets additions.
    let out = body::transform(body::Kind::Json, &o, &Bytes::new()).expect("changed");
    let v: Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(v, json!({"a": "added", "r": "not", "list": ["x"]}));
    let out =
        body::transform(body::Kind::Form, &o, &Bytes::from("gone=1&old=o&r=1")).expect("changed");
    assert_eq!(out, Bytes::from("r=replaced&new=o&a=added&list=x"));
    let mut q = Some("b=1".to_string());
    body::form_into_query(&Bytes::from("a=1&b=2"), &mut q);
    assert_eq!(q.as_deref(), Some("a=1&b=1&b=2"));
}
