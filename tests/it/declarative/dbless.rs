//! `gatehouse data-plane --config kong.yml`: a node serving a declarative file with no control
//! plane and no database, reloading it on SIGHUP.

use std::process::Command;

use crate::helpers::{client, poll_status, reflect_upstream};
use crate::procs::{free_port, Proc};

fn doc(addr: &str, route: &str) -> String {
    format!(
        "_format_version: \"3.0\"\nservices:\n- name: echo\n  url: http://{addr}\n  routes:\n  - name: {route}\n    paths: [/{route}]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dbless_node_serves_the_file_and_reloads_it_on_sighup() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("node");
    let up = reflect_upstream().await;
    let addr = up.addr.to_string();
    let file = tmp.path().join("kong.yml");
    std::fs::write(&file, doc(&addr, "first")).expect("write");
    let port = free_port();
    let env = [
        ("GATEHOUSE_PROXY_LISTEN", format!("127.0.0.1:{port}")),
        (
            "GATEHOUSE_PROXY_TLS_LISTEN",
            format!("127.0.0.1:{}", free_port()),
        ),
    ];
    let file_arg = file.to_string_lossy().into_owned();
    let node = Proc::spawn(&dir, "dbless", &["data-plane", "--config", &file_arg], &env);
    let c = client();
    let proxy = format!("http://127.0.0.1:{port}");
    poll_status(&c, &format!("{proxy}/first"), 200).await;

    let pid = node.child.as_ref().map(|c| c.id()).expect("running");
    let hup = || {
        Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .expect("kill -HUP")
    };
    std::fs::write(&file, doc(&addr, "second")).expect("rewrite");
    hup();
    poll_status(&c, &format!("{proxy}/second"), 200).await;
    poll_status(&c, &format!("{proxy}/first"), 404).await;

    // A broken file is logged and the running configuration stays.
    std::fs::write(&file, "_format_version: \"3.0\"\nservices: [\n").expect("break");
    hup();
    crate::helpers::eventually(
        std::time::Duration::from_secs(5),
        "the reload error in the log",
        || {
            let log = node.log();
            async move { log.contains("was not reloaded").then_some(()) }
        },
    )
    .await;
    poll_status(&c, &format!("{proxy}/second"), 200).await;
}

#[test]
fn a_dbless_node_refuses_to_start_on_a_bad_file() {
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("kong.yml");
    std::fs::write(
        &file,
        "_format_version: \"3.0\"\nroutes:\n- name: r\n  service: ghost\n",
    )
    .expect("write");
    let out = Command::new(crate::procs::BIN)
        .args(["data-plane", "--config", &file.to_string_lossy()])
        .env_clear()
        .env("GATEHOUSE_DATA_DIR", tmp.path().join("data"))
        .env("GATEHOUSE_PROXY_LISTEN", "127.0.0.1:0")
        .env("GATEHOUSE_PROXY_TLS_LISTEN", "127.0.0.1:0")
        .output()
        .expect("run");
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("routes[0] (r): service: invalid reference"),
        "{err}"
    );
}
