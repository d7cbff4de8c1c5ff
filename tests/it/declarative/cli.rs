//! `gatehouse config validate|export|import` on real files, against the same data dir the
//! server uses: the built binary, run as a user would.

use std::path::Path;
use std::process::{Command, Output};

use super::{point_at, shared_file, DIR};
use crate::helpers::{reflect_upstream, TestApp};
use crate::procs::BIN;

fn gatehouse(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GATEHOUSE_DATA_DIR", data_dir)
        .env("GATEHOUSE_LOG", "warn")
        .output()
        .expect("run gatehouse")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn private_dir(root: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::DirBuilderExt;
    let d = root.join("data");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&d)
        .expect("data dir");
    d
}

#[test]
fn validate_accepts_the_ecosystems_files_and_names_each_problem() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = private_dir(tmp.path());
    for name in [
        "kong-burst.yml",
        "kong-config-init.yml",
        "deck-entities-with-tags.yaml",
        "deck-dump-select-tags.yaml",
        "kic-httproute-example.yaml",
    ] {
        let out = gatehouse(&data, &["config", "validate", &format!("{DIR}/{name}")]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("valid"), "{name}");
    }
    let bad = tmp.path().join("bad.yml");
    std::fs::write(
        &bad,
        "_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://h/\n  retries: lots\n  routes:\n  - name: r\n    paths: [nope]\n    colour: red\n",
    )
    .expect("write");
    let out = gatehouse(&data, &["config", "validate", &bad.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        err.contains("services[0] (s): retries: expected an integer"),
        "{err}"
    );
    assert!(
        err.contains("services[0] (s) > routes[0] (r): colour: unknown field"),
        "{err}"
    );

    let broken = tmp.path().join("broken.yml");
    std::fs::write(&broken, "_format_version: \"3.0\"\nservices: [\n").expect("write");
    let out = gatehouse(&data, &["config", "validate", &broken.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("line "), "{}", text(&out.stderr));

    // A 100 MB file is refused before it is read (a sparse file: nothing is written).
    let huge = tmp.path().join("huge.yml");
    std::fs::File::create(&huge)
        .and_then(|f| f.set_len(100 << 20))
        .expect("sparse file");
    let out = gatehouse(&data, &["config", "validate", &huge.to_string_lossy()]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("at most"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn import_then_export_round_trips_and_keeps_ids() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = private_dir(tmp.path());
    let kic = format!("{DIR}/kic-httproute-example.yaml");
    let out = gatehouse(&data, &["config", "import", &kic]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let first = gatehouse(&data, &["config", "export"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let first = text(&first.stdout);
    assert!(first.starts_with("_format_version: \"3.0\"\n"), "{first}");
    assert!(
        first.contains("efb4a7d7-791f-504e-b005-0bd38bf1435e"),
        "Kong's ids are kept"
    );

    let burst = tmp.path().join("burst.yml");
    std::fs::write(
        &burst,
        point_at(&shared_file("kong-burst.yml"), "127.0.0.1:9"),
    )
    .expect("write");
    let out = gatehouse(&data, &["config", "import", &burst.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let exported = tmp.path().join("export.yml");
    let out = gatehouse(
        &data,
        &["config", "export", "--output", &exported.to_string_lossy()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let once = std::fs::read_to_string(&exported).expect("export");
    assert!(
        !once.contains("efb4a7d7"),
        "the import replaced the whole configuration"
    );
    let out = gatehouse(&data, &["config", "import", &exported.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let twice = text(&gatehouse(&data, &["config", "export"]).stdout);
    assert_eq!(once, twice, "export → import → export is the same document");

    // A bad file changes nothing; an unknown group is an error.
    let bad = tmp.path().join("bad.yml");
    std::fs::write(
        &bad,
        "_format_version: \"3.0\"\nroutes:\n- name: r\n  service: ghost\n",
    )
    .expect("write");
    let out = gatehouse(&data, &["config", "import", &bad.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("routes[0] (r): service: invalid reference 'service: ghost'")
    );
    assert_eq!(text(&gatehouse(&data, &["config", "export"]).stdout), once);
    let out = gatehouse(&data, &["config", "export", "--runtime-group", "nope"]);
    assert_ne!(out.status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_reaches_a_running_server_on_the_same_data_dir() {
    if crate::backend::postgres_wanted() {
        return; // the CLI would need the test database's URL; SQLite shows the same path
    }
    let app = TestApp::spawn().await;
    let up = reflect_upstream().await;
    let file = app.data_dir().join("kong.yml");
    std::fs::write(
        &file,
        format!(
            "_format_version: \"3.0\"\nservices:\n- name: echo\n  url: http://{}\n  routes:\n  - name: from-cli\n    paths: [/cli]\n",
            up.addr
        ),
    )
    .expect("write");
    let data = app.data_dir();
    let f = file.to_string_lossy().into_owned();
    let out = tokio::task::spawn_blocking(move || gatehouse(&data, &["config", "import", &f]))
        .await
        .expect("cli");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    app.wait_for_proxy("/cli", 200).await;
}
