//! The Kong-compatible Admin API: every endpoint, Kong's defaults and error shapes, JSON and
//! form-encoded bodies, tokens.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{TestApp, TOKEN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_needs_a_token() {
    let app = TestApp::spawn().await;
    for path in ["/", "/status", "/services", "/routes", "/services/x"] {
        let r = app
            .client
            .get(format!("{}{path}", app.admin))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status().as_u16(), 401, "{path}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(
            body["message"],
            "Invalid credentials. Token or User credentials required"
        );
    }
    let r = app
        .client
        .get(format!("{}/services", app.admin))
        .bearer_auth("wrong")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 401);
    let r = app
        .client
        .get(format!("{}/services", app.admin))
        .header("Kong-Admin-Token", TOKEN)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 200);
    let (status, body) = app.admin_json(Method::GET, "/status", Value::Null).await;
    assert_eq!(status, 200);
    assert_eq!(body["database"]["reachable"], true);
    let (status, body) = app.admin_json(Method::GET, "/", Value::Null).await;
    assert_eq!(status, 200);
    assert!(body["version"].is_string());
    let (status, body) = app.admin_json(Method::GET, "/nope", Value::Null).await;
    assert_eq!((status, body), (404, json!({"message": "Not found"})));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_crud_with_kong_defaults() {
    let app = TestApp::spawn().await;
    let (status, svc) = app
        .admin_json(
            Method::POST,
            "/services",
            json!({"name": "example", "url": "http://127.0.0.1:9/api"}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        (
            svc["protocol"].as_str(),
            svc["host"].as_str(),
            svc["port"].as_i64(),
            svc["path"].as_str()
        ),
        (Some("http"), Some("127.0.0.1"), Some(9), Some("/api"))
    );
    for (field, value) in [
        ("retries", json!(5)),
        ("connect_timeout", json!(60000)),
        ("write_timeout", json!(60000)),
        ("read_timeout", json!(60000)),
        ("enabled", json!(true)),
        ("tags", Value::Null),
        ("tls_verify", Value::Null),
    ] {
        assert_eq!(svc[field], value, "{field}");
    }
    let id = svc["id"].as_str().expect("id").to_string();
    assert!(svc["created_at"].is_i64());

    let (_, by_id) = app
        .admin_json(Method::GET, &format!("/services/{id}"), Value::Null)
        .await;
    let (_, by_name) = app
        .admin_json(Method::GET, "/services/example", Value::Null)
        .await;
    assert_eq!(by_id, svc);
    assert_eq!(by_name, svc);

    let (status, patched) = app
        .admin_json(
            Method::PATCH,
            "/services/example",
            json!({"retries": 2, "path": null}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            patched["retries"].as_i64(),
            patched["path"].clone(),
            patched["host"].as_str()
        ),
        (Some(2), Value::Null, Some("127.0.0.1"))
    );
    assert_eq!(patched["created_at"], svc["created_at"]);

    // Form-encoded, as in Kong's curl examples.
    let r = app
        .admin(Method::POST, "/services")
        .form(&[
            ("name", "form-svc"),
            ("host", "example.com"),
            ("port", "8080"),
            ("tags[]", "a"),
            ("tags[]", "b"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 201);
    let form_svc: Value = r.json().await.expect("json");
    assert_eq!(
        (form_svc["port"].as_i64(), form_svc["tags"].clone()),
        (Some(8080), json!(["a", "b"]))
    );

    // PUT creates by name, then replaces (fields not given return to defaults).
    let (status, put) = app
        .admin_json(
            Method::PUT,
            "/services/put-svc",
            json!({"host": "h1", "retries": 1}),
        )
        .await;
    assert_eq!(
        (status, put["name"].as_str(), put["retries"].as_i64()),
        (200, Some("put-svc"), Some(1))
    );
    let (status, put2) = app
        .admin_json(Method::PUT, "/services/put-svc", json!({"host": "h2"}))
        .await;
    assert_eq!(
        (
            status,
            put2["id"].clone(),
            put2["retries"].as_i64(),
            put2["host"].as_str()
        ),
        (200, put["id"].clone(), Some(5), Some("h2"))
    );
    let new_id = uuid::Uuid::new_v4().to_string();
    let (status, put3) = app
        .admin_json(
            Method::PUT,
            &format!("/services/{new_id}"),
            json!({"host": "h3"}),
        )
        .await;
    assert_eq!((status, put3["id"].as_str()), (200, Some(new_id.as_str())));

    // Pagination.
    let (_, page1) = app
        .admin_json(Method::GET, "/services?size=2", Value::Null)
        .await;
    assert_eq!(page1["data"].as_array().map(Vec::len), Some(2));
    let next = page1["next"].as_str().expect("next link").to_string();
    assert_eq!(page1["offset"], "2");
    let (_, page2) = app.admin_json(Method::GET, &next, Value::Null).await;
    assert_eq!(page2["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(page2["next"], Value::Null);
    let (status, _) = app
        .admin_json(Method::GET, "/services?size=0", Value::Null)
        .await;
    assert_eq!(status, 400);
    let (status, _) = app
        .admin_json(Method::GET, "/services?offset=zz", Value::Null)
        .await;
    assert_eq!(status, 400);

    let r = app
        .admin(Method::DELETE, "/services/example")
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status().as_u16(), 204);
    let (status, body) = app
        .admin_json(Method::GET, &format!("/services/{id}"), Value::Null)
        .await;
    assert_eq!((status, body), (404, json!({"message": "Not found"})));
    let r = app
        .admin(Method::DELETE, "/services/example")
        .send()
        .await
        .expect("delete again");
    assert_eq!(
        r.status().as_u16(),
        204,
        "Kong answers 204 for a missing entity"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_errors_have_kong_shapes() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .admin_json(Method::POST, "/services", json!({"name": "no-host"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"code": 2, "name": "schema violation", "message": "schema violation (host: required field missing)", "fields": {"host": "required field missing"}})
    );

    let (status, body) = app.admin_json(Method::POST, "/services", json!({"host": "h", "port": 65536, "protocol": "gopher", "path": "x", "connect_timeout": 0, "bogus": 1})).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["fields"]["port"],
        "value should be between 0 and 65535"
    );
    assert_eq!(body["fields"]["path"], "should start with: /");
    assert_eq!(body["fields"]["bogus"], "unknown field");
    assert_eq!(
        body["fields"]["connect_timeout"],
        "value should be between 1 and 2147483646"
    );
    assert!(body["fields"]["protocol"]
        .as_str()
        .expect("protocol error")
        .starts_with("expected one of"));
    assert!(body["message"]
        .as_str()
        .expect("message")
        .starts_with("5 schema violations ("));

    let (status, body) = app
        .admin_json(Method::POST, "/services", json!({"url": "not a url"}))
        .await;
    assert_eq!(status, 400);
    assert!(body["fields"]["url"].is_string());

    let (status, _) = app
        .admin_json(
            Method::POST,
            "/services",
            json!({"name": "dup", "host": "h"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, body) = app
        .admin_json(
            Method::POST,
            "/services",
            json!({"name": "dup", "host": "h"}),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(
        body,
        json!({"code": 5, "name": "unique constraint violation", "message": "UNIQUE violation detected on '{name=\"dup\"}'", "fields": {"name": "dup"}})
    );

    let r = app
        .admin(Method::POST, "/services")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 400);
    let r = app
        .admin(Method::POST, "/services")
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 400);
    let (status, _) = app
        .admin_json(Method::PATCH, "/services/missing", json!({"retries": 1}))
        .await;
    assert_eq!(status, 404);

    let (status, body) = app.admin_json(Method::GET, "/services", Value::Null).await;
    assert_eq!(
        (status, body["data"].as_array().map(Vec::len)),
        (200, Some(1)),
        "only the valid service was saved"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_crud_and_service_references() {
    let app = TestApp::spawn().await;
    let (_, svc) = app
        .admin_json(
            Method::POST,
            "/services",
            json!({"name": "s", "url": format!("http://{}", app.echo_addr)}),
        )
        .await;
    let sid = svc["id"].as_str().expect("id").to_string();

    let (status, by_id) = app
        .admin_json(
            Method::POST,
            "/routes",
            json!({"name": "by-id", "paths": ["/a"], "service": {"id": sid}}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(by_id["service"], json!({"id": sid}));
    for (field, value) in [
        ("strip_path", json!(true)),
        ("preserve_host", json!(false)),
        ("regex_priority", json!(0)),
        ("path_handling", json!("v0")),
        ("https_redirect_status_code", json!(426)),
        ("protocols", json!(["http", "https"])),
        ("request_buffering", json!(true)),
        ("response_buffering", json!(true)),
        ("methods", Value::Null),
        ("hosts", Value::Null),
    ] {
        assert_eq!(by_id[field], value, "{field}");
    }
    let (status, by_name) = app
        .admin_json(
            Method::POST,
            "/routes",
            json!({"name": "by-name", "paths": ["/b"], "service": {"name": "s"}}),
        )
        .await;
    assert_eq!(
        (status, by_name["service"].clone()),
        (201, json!({"id": sid}))
    );
    let r = app
        .admin(Method::POST, "/services/s/routes")
        .form(&[
            ("name", "nested"),
            ("paths[]", "/c"),
            ("methods", "GET"),
            ("hosts[]", "example.com"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 201);
    let nested: Value = r.json().await.expect("json");
    assert_eq!(
        (
            nested["methods"].clone(),
            nested["hosts"].clone(),
            nested["service"].clone()
        ),
        (json!(["GET"]), json!(["example.com"]), json!({"id": sid}))
    );
    let r = app
        .admin(Method::POST, "/routes")
        .form(&[
            ("name", "form-svc"),
            ("paths[]", "/d"),
            ("service.id", &sid),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 201);

    let (_, list) = app
        .admin_json(Method::GET, "/services/s/routes", Value::Null)
        .await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(4));
    let (status, route_service) = app
        .admin_json(Method::GET, "/routes/by-name/service", Value::Null)
        .await;
    assert_eq!(
        (status, route_service["id"].as_str()),
        (200, Some(sid.as_str()))
    );

    let (status, patched) = app
        .admin_json(
            Method::PATCH,
            "/routes/by-id",
            json!({"strip_path": false, "methods": ["GET", "POST"]}),
        )
        .await;
    assert_eq!(
        (
            status,
            patched["strip_path"].clone(),
            patched["paths"].clone()
        ),
        (200, json!(false), json!(["/a"]))
    );
    let (status, put) = app
        .admin_json(
            Method::PUT,
            "/routes/put-route",
            json!({"paths": ["/p"], "service": {"name": "s"}}),
        )
        .await;
    assert_eq!((status, put["name"].as_str()), (200, Some("put-route")));

    // Errors.
    let missing = uuid::Uuid::new_v4().to_string();
    let (status, body) = app
        .admin_json(
            Method::POST,
            "/routes",
            json!({"name": "x", "paths": ["/x"], "service": {"id": missing}}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["name"], "foreign key violation");
    assert_eq!(body["fields"], json!({"service": {"id": missing}}));
    let (status, body) = app
        .admin_json(
            Method::POST,
            "/routes",
            json!({"name": "x", "service": {"id": sid}}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["fields"]["@entity"][0]
        .as_str()
        .expect("entity error")
        .starts_with("must set one of 'methods', 'hosts', 'headers', 'paths'"));
    let (status, body) = app
        .admin_json(
            Method::POST,
            "/routes",
            json!({"name": "by-id", "paths": ["/z"]}),
        )
        .await;
    assert_eq!(
        (status, body["fields"].clone()),
        (409, json!({"name": "by-id"}))
    );
    let (status, _) = app
        .admin_json(
            Method::POST,
            "/routes",
            json!({"name": "BY-ID", "paths": ["/z"]}),
        )
        .await;
    assert_eq!(status, 201, "route names are case-sensitive");
    let (status, body) = app.admin_json(Method::POST, "/routes", json!({"paths": ["/ok", "bad"], "methods": ["get"], "https_redirect_status_code": 500, "path_handling": "v9"})).await;
    assert_eq!(status, 400);
    let fields = &body["fields"];
    assert_eq!(
        fields["paths"],
        "should start with: / (fixed path) or ~/ (regex path)"
    );
    assert_eq!(fields["methods"], "invalid value: get");
    assert_eq!(
        fields["https_redirect_status_code"],
        "expected one of: 426, 301, 302, 307, 308"
    );
    assert_eq!(fields["path_handling"], "expected one of: v0, v1");

    let (status, body) = app
        .admin_json(Method::DELETE, "/services/s", Value::Null)
        .await;
    assert_eq!(
        body,
        serde_json::json!({
            "code": 4,
            "name": "foreign key violation",
            "message": "an existing 'routes' entity references this 'services' entity",
            "fields": { "@referenced_by": "routes" }
        }),
        "a service with routes is not deleted, in Kong's words"
    );
    assert_eq!(status, 400);

    for r in ["by-id", "by-name", "nested", "form-svc", "put-route"] {
        let resp = app
            .admin(Method::DELETE, &format!("/routes/{r}"))
            .send()
            .await
            .expect("delete");
        assert_eq!(resp.status().as_u16(), 204);
    }
    let (status, _) = app
        .admin_json(Method::GET, "/routes/by-id", Value::Null)
        .await;
    assert_eq!(status, 404);
    let r = app
        .admin(Method::DELETE, "/services/s")
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status().as_u16(), 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_saved_through_the_api_is_served_within_100ms() {
    let app = TestApp::spawn().await;
    let (status, _) = app
        .admin_json(
            Method::POST,
            "/services",
            json!({"name": "echo", "url": format!("http://{}", app.echo_addr)}),
        )
        .await;
    assert_eq!(status, 201);
    let started = std::time::Instant::now();
    let (status, _) = app
        .admin_json(
            Method::POST,
            "/services/echo/routes",
            json!({"name": "r", "paths": ["/live"]}),
        )
        .await;
    assert_eq!(status, 201);
    app.wait_for_proxy("/live/request", 200).await;
    let elapsed = started.elapsed();
    println!("route live after {elapsed:?}");
    assert!(
        elapsed < std::time::Duration::from_secs(1),
        "took {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_filter_by_tags_like_kong() {
    let app = TestApp::spawn().await;
    for (name, tags) in [
        ("a", json!(["prod", "billing"])),
        ("b", json!(["prod"])),
        ("c", json!(["billing"])),
        ("d", Value::Null),
    ] {
        let (status, _) = app
            .admin_json(
                Method::POST,
                "/services",
                json!({"name": name, "host": "h", "tags": tags}),
            )
            .await;
        assert_eq!(status, 201);
        let (status, _) = app
            .admin_json(
                Method::POST,
                &format!("/services/{name}/routes"),
                json!({"name": format!("r-{name}"), "paths": [format!("/{name}")], "tags": tags}),
            )
            .await;
        assert_eq!(status, 201);
    }
    let names = |body: &Value| -> Vec<String> {
        body["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|e| e["name"].as_str().expect("name").to_string())
            .collect()
    };
    let (_, body) = app
        .admin_json(Method::GET, "/services?tags=prod,billing", Value::Null)
        .await;
    assert_eq!(names(&body), vec!["a"], "a,b means every tag");
    let (_, body) = app
        .admin_json(Method::GET, "/services?tags=prod/billing", Value::Null)
        .await;
    assert_eq!(names(&body), vec!["a", "b", "c"], "a/b means any tag");
    let (_, body) = app
        .admin_json(Method::GET, "/routes?tags=billing", Value::Null)
        .await;
    assert_eq!(names(&body), vec!["r-a", "r-c"]);
    let (_, body) = app
        .admin_json(Method::GET, "/services/b/routes?tags=prod", Value::Null)
        .await;
    assert_eq!(names(&body), vec!["r-b"]);
    let (_, body) = app
        .admin_json(Method::GET, "/services?tags=nothing", Value::Null)
        .await;
    assert_eq!(names(&body), Vec::<String>::new());

    let (_, page1) = app
        .admin_json(
            Method::GET,
            "/services?tags=prod/billing&size=2",
            Value::Null,
        )
        .await;
    assert_eq!(names(&page1), vec!["a", "b"]);
    let next = page1["next"].as_str().expect("next").to_string();
    assert!(next.contains("tags=prod%2Fbilling"), "{next}");
    let (_, page2) = app.admin_json(Method::GET, &next, Value::Null).await;
    assert_eq!(
        names(&page2),
        vec!["c"],
        "the filter carries into the next page"
    );

    for bad in [
        "/services?tags=a,b/c",
        "/services?tags=a,,b",
        "/services?tags=1,2,3,4,5,6",
    ] {
        let (status, body) = app.admin_json(Method::GET, bad, Value::Null).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(
            body["message"],
            "invalid option (tags: invalid filter syntax)"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_route_paths_check_the_service() {
    let app = TestApp::spawn().await;
    for name in ["s1", "s2"] {
        let (status, _) = app
            .admin_json(
                Method::POST,
                "/services",
                json!({"name": name, "host": "h"}),
            )
            .await;
        assert_eq!(status, 201);
    }
    let (_, route) = app
        .admin_json(
            Method::POST,
            "/services/s1/routes",
            json!({"name": "r1", "paths": ["/r1"]}),
        )
        .await;
    let (status, body) = app
        .admin_json(Method::GET, "/services/s1/routes/r1", Value::Null)
        .await;
    assert_eq!((status, body["id"].clone()), (200, route["id"].clone()));
    let (status, _) = app
        .admin_json(
            Method::GET,
            &format!("/services/s1/routes/{}", route["id"].as_str().expect("id")),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .admin_json(Method::GET, "/services/s2/routes/r1", Value::Null)
        .await;
    assert_eq!(status, 404, "r1 is not a route of s2");
    let (status, body) = app
        .admin_json(
            Method::PATCH,
            "/services/s1/routes/r1",
            json!({"strip_path": false}),
        )
        .await;
    assert_eq!((status, body["strip_path"].clone()), (200, json!(false)));
    let (status, _) = app
        .admin_json(
            Method::PATCH,
            "/services/s2/routes/r1",
            json!({"strip_path": true}),
        )
        .await;
    assert_eq!(status, 404);
    let r = app
        .admin(Method::DELETE, "/services/s2/routes/r1")
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status().as_u16(), 204);
    let (status, _) = app.admin_json(Method::GET, "/routes/r1", Value::Null).await;
    assert_eq!(
        status, 200,
        "deleting through the wrong service removes nothing"
    );
    let r = app
        .admin(Method::DELETE, "/services/s1/routes/r1")
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status().as_u16(), 204);
    let (status, _) = app.admin_json(Method::GET, "/routes/r1", Value::Null).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn group_scoped_listings_page_within_their_group() {
    let app = TestApp::spawn().await;
    let (s, g) = app
        .admin_json(Method::POST, "/runtime-groups", json!({ "name": "edge" }))
        .await;
    assert_eq!(s, 201, "{g}");
    let base = format!(
        "/runtime-groups/{}/core-entities",
        g["id"].as_str().expect("id")
    );
    for i in 0..3 {
        let (s, b) = app
            .admin_json(
                Method::POST,
                &format!("{base}/services"),
                json!({ "name": format!("s{i}"), "url": "http://127.0.0.1:9" }),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
    let (_, page1) = app
        .admin_json(Method::GET, &format!("{base}/services?size=2"), Value::Null)
        .await;
    let next = page1["next"].as_str().expect("next link").to_string();
    assert!(
        next.starts_with(&format!("{base}/services?offset=")),
        "{next}"
    );
    let (_, page2) = app.admin_json(Method::GET, &next, Value::Null).await;
    assert_eq!(page2["data"].as_array().map(Vec::len), Some(1));
    let (s, _) = app
        .admin_json(
            Method::GET,
            "/runtime-groups/nope/core-entities/services",
            Value::Null,
        )
        .await;
    assert_eq!(s, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_group_labels_follow_konnects_rules() {
    let app = TestApp::spawn().await;
    let six: serde_json::Map<String, Value> = (1..=6)
        .map(|i| (format!("k{i}"), Value::from(format!("v{i}"))))
        .collect();
    for (labels, expect) in [
        (Value::Object(six), "At most 5"),
        (serde_json::json!({ "kong-team": "x" }), "cannot start with"),
        (
            serde_json::json!({ "env": "-prod" }),
            "start and end with a letter or digit",
        ),
    ] {
        let (status, body) = app
            .admin_json(
                Method::POST,
                "/runtime-groups",
                serde_json::json!({ "name": "labelled", "labels": labels }),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["fields"]["labels"]
                .as_str()
                .unwrap_or("")
                .contains(expect),
            "{body}"
        );
    }
    let (status, body) = app
        .admin_json(
            Method::POST,
            "/runtime-groups",
            serde_json::json!({ "name": "labelled", "labels": { "env": "prod", "team": "payments" } }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}
