//! Secrets at rest stay private: the data dir is 0700 and every file in it 0600, an existing
//! data dir open to other users is refused unless the operator allows it, and the bootstrap
//! token is long and seeded once (revoking it sticks across restarts).

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;

use crate::helpers::TestApp;
use crate::procs::ControlPlane;

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_dir_and_its_files_are_private() {
    let app = TestApp::spawn().await;
    let dir = app.data_dir();
    assert_eq!(mode(&dir), 0o700, "created private");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .expect("read dir")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .collect();
    assert!(
        !files.is_empty(),
        "the data dir holds the database or the node id"
    );
    for f in files {
        assert_eq!(mode(&f.path()), 0o600, "{}", f.path().display());
    }
}

/// Runs the binary until it logs `ready` or exits; returns (exit code, its output).
fn run_until(env: &[(&str, &str)], ready: &str) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.env_clear().env("NO_COLOR", "1").stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    for l in ["PROXY", "PROXY_TLS", "ADMIN", "CONSOLE", "CLUSTER", "ECHO"] {
        cmd.env(format!("GATEHOUSE_{l}_LISTEN"), "127.0.0.1:0");
    }
    let log = tempfile::NamedTempFile::new().expect("log file");
    cmd.stdout(log.reopen().expect("log handle"))
        .stderr(log.reopen().expect("log handle"));
    let mut child = cmd.spawn().expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(log.path()).unwrap_or_default();
        if let Ok(Some(status)) = child.try_wait() {
            return (status.code(), text);
        }
        if text.contains(ready) || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return (None, text);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_data_dir_open_to_others_is_refused_unless_allowed() {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("shared");
    std::fs::create_dir(&dir).expect("dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let d = dir.display().to_string();
    let (code, stderr) = run_until(&[("GATEHOUSE_DATA_DIR", &d)], "gatehouse is running");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("chmod 700"), "{stderr}");
    assert!(
        !dir.join("gatehouse.db").exists(),
        "nothing written before refusing"
    );

    let (code, stderr) = run_until(
        &[
            ("GATEHOUSE_DATA_DIR", &d),
            ("GATEHOUSE_ALLOW_SHARED_DATA_DIR", "true"),
        ],
        "gatehouse is running",
    );
    assert_eq!(code, None, "still running when allowed: {stderr}");
    assert!(stderr.contains("gatehouse is running"), "started: {stderr}");
    assert_eq!(mode(&dir.join("gatehouse.db")), 0o600, "files stay private");
}

#[test]
fn a_short_bootstrap_token_is_refused() {
    let root = tempfile::tempdir().expect("temp dir");
    let d = root.path().join("data").display().to_string();
    let (code, stderr) = run_until(
        &[
            ("GATEHOUSE_DATA_DIR", &d),
            ("GATEHOUSE_BOOTSTRAP_TOKEN", "short-token"),
        ],
        "gatehouse is running",
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("at least 32 characters"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_bootstrap_token_stays_revoked_after_a_restart() {
    let root = tempfile::tempdir().expect("temp dir");
    let mut cp = ControlPlane::start(&root.path().join("cp")).await;
    let (status, _) = cp.admin(Method::GET, "/services", None).await;
    assert_eq!(status, 200);

    let store = cp.open_store().await;
    let tokens = store.list_admin_tokens().await.expect("tokens");
    let bootstrap = tokens
        .iter()
        .find(|t| t.name == "bootstrap")
        .expect("seeded");
    gatehouse::service::identity::delete_token(&store, bootstrap.id)
        .await
        .expect("revoke");
    let (status, _) = cp.admin(Method::GET, "/services", None).await;
    assert_eq!(status, 401, "revoked at once");

    cp.proc.kill();
    cp.restart().await;
    let (status, _) = cp.admin(Method::GET, "/services", None).await;
    assert_eq!(
        status, 401,
        "a restart with the same variable does not bring it back"
    );
    assert!(
        cp.proc.log().contains("stays revoked"),
        "the ignored variable is logged: {}",
        cp.proc.log()
    );
}
