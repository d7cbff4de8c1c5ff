//! `POST /config` and `GET /config`, as Kong's DB-less Admin API answers them, for the default
//! group and a named one.

use reqwest::Method;
use serde_json::{json, Value};

use super::{current, point_at, post_raw, shared_file};
use crate::helpers::{reflect_upstream, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ecosystems_files_load_with_kongs_ids_and_are_served() {
    let app = TestApp::spawn().await;
    let up = reflect_upstream().await;
    let addr = up.addr.to_string();

    // The Kong Ingress Controller's output keeps the ids Kong derived for it.
    let kic = shared_file("kic-httproute-example.yaml");
    let (status, body) = post_raw(&app, "/config", "application/yaml", kic.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert!(
        body["services"]["efb4a7d7-791f-504e-b005-0bd38bf1435e"].is_object(),
        "{body}"
    );
    assert!(body["routes"]["80ab997f-3534-58af-a969-300888c6058a"].is_object());
    assert_eq!(body["upstreams"].as_object().map(|m| m.len()), Some(3));

    // Kong's own large fixture (format 1.1), its targets pointed at our upstream.
    let burst = point_at(&shared_file("kong-burst.yml"), &addr);
    let (status, body) = post_raw(&app, "/config", "application/yaml", burst).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["routes"].as_object().map(|m| m.len()), Some(286));
    assert_eq!(body["plugins"].as_object().map(|m| m.len()), Some(95));
    // The KIC services are gone: the document replaced the whole configuration.
    assert!(body["services"]["efb4a7d7-791f-504e-b005-0bd38bf1435e"].is_null());
    let listed = app
        .admin_json(Method::GET, "/services?size=1000", Value::Null)
        .await
        .1;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(236));

    // decK's files (certificates with SNIs, consumers with credentials; hmac-auth skipped).
    for name in ["deck-entities-with-tags.yaml", "deck-dump-select-tags.yaml"] {
        let text = point_at(&shared_file(name), &addr);
        let (status, body) = post_raw(&app, "/config", "application/x-yaml", text).await;
        assert_eq!(status, 201, "{name}: {body}");
        assert_eq!(body["snis"].as_object().map(|m| m.len()), Some(3), "{name}");
        assert_eq!(
            body["keyauth_credentials"].as_object().map(|m| m.len()),
            Some(1)
        );
    }
    let (status, _) = post_raw(
        &app,
        "/config",
        "application/yaml",
        shared_file("kong-config-init.yml"),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        current(&app, "").await,
        "_format_version: \"3.0\"\n_transform: false\n"
    );

    // A document of our own, served by the proxy as soon as it is loaded.
    let doc = format!(
        "_format_version: \"3.0\"\nservices:\n- name: echo\n  url: http://{addr}/up\n  routes:\n  - name: r1\n    paths: [/r1]\n"
    );
    let (status, body) = post_raw(&app, "/config", "application/yaml", doc).await;
    assert_eq!(status, 201, "{body}");
    let r = app.wait_for_proxy("/r1/x", 200).await;
    let seen: Value = r.json().await.expect("reflected");
    assert_eq!(seen["path"], "/up/x", "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_body_form_is_accepted_and_ids_survive_a_second_import() {
    let app = TestApp::spawn().await;
    let yaml = "_format_version: \"3.0\"\nservices:\n- name: s1\n  url: http://127.0.0.1:9/\n  routes:\n  - name: r1\n    paths: [/a]\nconsumers:\n- username: u1\n  keyauth_credentials:\n  - key: k1\n";
    let as_json = json!({
        "_format_version": "3.0",
        "services": [{"name": "s1", "url": "http://127.0.0.1:9/", "routes": [{"name": "r1", "paths": ["/a"]}]}],
        "consumers": [{"username": "u1", "keyauth_credentials": [{"key": "k1"}]}],
    });
    let (status, first) = post_raw(&app, "/config", "application/yaml", yaml).await;
    assert_eq!(status, 201, "{first}");
    let ids = |v: &Value| {
        let mut ids: Vec<String> = ["services", "routes", "consumers", "keyauth_credentials"]
            .iter()
            .flat_map(|k| {
                v[k].as_object()
                    .map(|m| m.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
            })
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&first).len(), 4);

    let (status, body) = post_raw(&app, "/config", "application/json", as_json.to_string()).await;
    assert_eq!(status, 201, "raw JSON: {body}");
    assert_eq!(ids(&body), ids(&first), "same ids on a second import");

    let wrapped = json!({ "config": yaml }).to_string();
    let (status, body) = post_raw(&app, "/config", "application/json", wrapped).await;
    assert_eq!(status, 201, "config field in JSON: {body}");
    assert_eq!(ids(&body), ids(&first));

    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("config", yaml)
        .finish();
    let (status, body) = post_raw(&app, "/config", "application/x-www-form-urlencoded", form).await;
    assert_eq!(status, 201, "form: {body}");
    assert_eq!(ids(&body), ids(&first));

    let multipart = format!(
        "--XBOUNDARY\r\nContent-Disposition: form-data; name=\"config\"; filename=\"kong.yml\"\r\nContent-Type: application/octet-stream\r\n\r\n{yaml}\r\n--XBOUNDARY--\r\n"
    );
    let (status, body) = post_raw(
        &app,
        "/config",
        "multipart/form-data; boundary=XBOUNDARY",
        multipart,
    )
    .await;
    assert_eq!(status, 201, "multipart: {body}");
    assert_eq!(ids(&body), ids(&first));

    // Export, import the export, export again: the same document.
    let exported = current(&app, "").await;
    let (status, body) = post_raw(&app, "/config", "application/yaml", exported.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(ids(&body), ids(&first));
    assert_eq!(current(&app, "").await, exported);

    let (status, body) = post_raw(&app, "/config", "application/json", "{}").await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("expected a declarative configuration"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_documents_are_refused_with_kongs_errors_and_change_nothing() {
    let app = TestApp::spawn().await;
    let good = "_format_version: \"3.0\"\nservices:\n- name: keep\n  url: http://127.0.0.1:9/\n  routes:\n  - name: kept\n    paths: [/k]\n";
    assert_eq!(
        post_raw(&app, "/config", "application/yaml", good).await.0,
        201
    );
    let before = current(&app, "").await;

    let bomb = {
        let mut b = String::from("_format_version: \"3.0\"\na: &a [x,x,x,x,x,x,x,x,x,x]\n");
        for (n, p) in ["b", "c", "d", "e", "f", "g", "h", "i"]
            .iter()
            .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
        {
            b.push_str(&format!(
                "{n}: &{n} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
            ));
        }
        b
    };
    let cases: Vec<(&str, String, Value)> = vec![
        ("syntax", "_format_version: \"3.0\"\nservices:\n  - name: [oops\n".into(), Value::Null),
        ("unknown field", "_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://h/\n  colour: red\n".into(),
            json!({"services": [{"colour": "unknown field"}]})),
        ("wrong type", "_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://h/\n  retries: lots\n".into(),
            json!({"services": [{"retries": "expected an integer"}]})),
        ("nested", "_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://h/\n  routes:\n  - name: r\n    paths: [nope]\n".into(),
            Value::Null),
        ("duplicate", "_format_version: \"3.0\"\nservices:\n- {name: s, url: 'http://h/'}\n- {name: s, url: 'http://h/'}\n".into(),
            json!({"services": [null, "uniqueness violation: 'services' entity with name set to 's' already declared"]})),
        ("missing reference", "_format_version: \"3.0\"\nroutes:\n- name: r\n  paths: [/r]\n  service: ghost\n".into(),
            json!({"routes": [{"service": "invalid reference 'service: ghost' (no such entry in 'services')"}]})),
        ("alias bomb", bomb, Value::Null),
    ];
    for (what, doc, fields) in cases {
        let (status, body) = post_raw(&app, "/config", "application/yaml", doc).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(body["code"], 14, "{what}: {body}");
        assert_eq!(body["name"], "invalid declarative configuration");
        assert!(body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("declarative config is invalid")));
        if !fields.is_null() {
            assert_eq!(body["fields"], fields, "{what}");
        }
        if what == "syntax" {
            let e = body["fields"]["error"].as_str().unwrap_or_default();
            assert!(e.contains("at line 4, column 1"), "{e}");
        }
        if what == "nested" {
            assert!(
                body["fields"]["services"][0]["routes"][0]["paths"].is_string(),
                "{body}"
            );
        }
    }
    // Flattened errors when asked, as Kong adds them.
    let (status, body) = post_raw(
        &app,
        "/config?flatten_errors=1",
        "application/yaml",
        "_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://h/\n  retries: lots\n",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["flattened_errors"][0]["entity_type"], "service");
    assert_eq!(body["flattened_errors"][0]["entity_name"], "s");
    assert_eq!(body["flattened_errors"][0]["errors"][0]["field"], "retries");

    // A document over the size limit is refused before it is parsed.
    let huge = format!("_format_version: \"3.0\"\n#{}\n", "x".repeat(33 << 20));
    let (status, body) = post_raw(&app, "/config", "application/yaml", huge).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["fields"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("at most")),
        "{body}"
    );

    assert_eq!(current(&app, "").await, before, "nothing was applied");
    app.wait_for_proxy("/k", 502).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_group_is_replaced_and_the_others_are_not_touched() {
    let app = TestApp::spawn().await;
    let (status, _) = app
        .admin_json(
            Method::POST,
            "/runtime-groups",
            json!({ "name": "staging" }),
        )
        .await;
    assert_eq!(status, 201);
    let default_doc =
        "_format_version: \"3.0\"\nservices:\n- name: prod\n  url: http://127.0.0.1:9/\n";
    assert_eq!(
        post_raw(&app, "/config", "application/yaml", default_doc)
            .await
            .0,
        201
    );
    let before = current(&app, "").await;

    let staging = "_format_version: \"3.0\"\nservices:\n- name: stage\n  url: http://127.0.0.1:9/\n  routes:\n  - name: stage-route\n    paths: [/s]\n";
    let (status, body) = post_raw(
        &app,
        "/runtime-groups/staging/config",
        "application/yaml",
        staging,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let listed = app
        .admin_json(
            Method::GET,
            "/runtime-groups/staging/core-entities/services",
            Value::Null,
        )
        .await
        .1;
    assert_eq!(listed["data"][0]["name"], "stage");
    assert!(current(&app, "/runtime-groups/staging")
        .await
        .contains("stage-route"));
    assert_eq!(
        current(&app, "").await,
        before,
        "the default group is untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entities_that_stay_may_move_to_new_owners() {
    let app = TestApp::spawn().await;
    let route_id = "6f0a5d0c-3f5e-4c9a-9d7e-1a2b3c4d5e6f";
    let target_id = "7f0a5d0c-3f5e-4c9a-9d7e-1a2b3c4d5e6f";
    let first = format!(
        "_format_version: \"3.0\"\nservices:\n- name: old\n  url: http://127.0.0.1:9/\n  routes:\n  - id: {route_id}\n    name: r\n    paths: [/r]\nupstreams:\n- name: u1\n  targets:\n  - id: {target_id}\n    target: 127.0.0.1:9\n"
    );
    assert_eq!(
        post_raw(&app, "/config", "application/yaml", first).await.0,
        201
    );
    // The route stays (same id) but its service is a new one; the old service goes. The
    // target moves to a new upstream.
    let second = format!(
        "_format_version: \"3.0\"\nservices:\n- name: new\n  url: http://127.0.0.1:9/\n  routes:\n  - id: {route_id}\n    name: r\n    paths: [/r]\nupstreams:\n- name: u2\n  targets:\n  - id: {target_id}\n    target: 127.0.0.1:9\n"
    );
    let (status, body) = post_raw(&app, "/config", "application/yaml", second).await;
    assert_eq!(status, 201, "{body}");
    let route = app
        .admin_json(Method::GET, &format!("/routes/{route_id}"), Value::Null)
        .await
        .1;
    let service = app
        .admin_json(Method::GET, "/services/new", Value::Null)
        .await
        .1;
    assert_eq!(route["service"]["id"], service["id"]);
    assert_eq!(
        app.admin_json(Method::GET, "/services/old", Value::Null)
            .await
            .0,
        404
    );
    let targets = app
        .admin_json(Method::GET, "/upstreams/u2/targets", Value::Null)
        .await
        .1;
    assert_eq!(targets["data"][0]["id"], target_id);

    // A route name another group holds (route names are unique in the installation): refused
    // as Kong's unique violation, and nothing of the document is applied.
    let before = current(&app, "").await;
    assert_eq!(
        app.admin_json(Method::POST, "/runtime-groups", json!({ "name": "other" }))
            .await
            .0,
        201
    );
    let clash = "_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://127.0.0.1:9/\n  routes:\n  - name: r\n    paths: [/x]\n";
    let (status, body) = post_raw(
        &app,
        "/runtime-groups/other/config",
        "application/yaml",
        clash,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["fields"]["name"], "r", "{body}");
    assert!(current(&app, "/runtime-groups/other")
        .await
        .ends_with("_transform: false\n"));
    assert_eq!(current(&app, "").await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_file_changes_nothing_even_with_plain_passwords() {
    let app = TestApp::spawn().await;
    let doc = "_format_version: \"3.0\"\nconsumers:\n- username: bob\n  basicauth_credentials:\n  - username: bob\n    password: s3cret\n";
    assert_eq!(
        post_raw(&app, "/config", "application/yaml", doc).await.0,
        201
    );
    let once = current(&app, "").await;
    assert!(!once.contains("s3cret"), "only the hash is stored: {once}");
    let store = app.running().store.clone();
    let revision = store.config_revision().await.expect("revision");
    assert_eq!(
        post_raw(&app, "/config", "application/yaml", doc).await.0,
        201
    );
    assert_eq!(
        current(&app, "").await,
        once,
        "the stored hash still matches: kept"
    );
    assert_eq!(
        store.config_revision().await.expect("revision"),
        revision,
        "an import that changes nothing is no new revision"
    );
    let changed = doc.replace("s3cret", "other");
    assert_eq!(
        post_raw(&app, "/config", "application/yaml", changed)
            .await
            .0,
        201
    );
    assert_ne!(current(&app, "").await, once);
    // The export (hashes, `_transform: false`) imports back as it is.
    let exported = current(&app, "").await;
    assert_eq!(
        post_raw(&app, "/config", "application/yaml", exported.clone())
            .await
            .0,
        201
    );
    assert_eq!(current(&app, "").await, exported);
}
