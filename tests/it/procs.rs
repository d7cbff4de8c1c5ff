//! Real `gatehouse` processes for the multi-process tests: control planes and data-plane
//! nodes on loopback, each with its own data dir and log, killed and restarted like a real
//! outage would.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::eventually;

pub(crate) const TOKEN: &str = "ghp_cluster_test_token_0123456789abcdef";
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

pub(crate) fn free_port() -> u16 {
    crate::helpers::closed_port()
}

/// A `gatehouse` process whose output goes to a log file the test can read.
pub(crate) struct Proc {
    pub(crate) child: Option<Child>,
    pub(crate) log: PathBuf,
}

impl Proc {
    pub(crate) fn spawn(dir: &Path, name: &str, args: &[&str], env: &[(&str, String)]) -> Proc {
        // Private, as the process requires of a data dir that holds secrets.
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .expect("data dir");
        }
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GATEHOUSE_LOG", "info")
            .env("GATEHOUSE_DATA_DIR", dir)
            .env("GATEHOUSE_PROXY_WORKERS", "1")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn gatehouse");
        Proc {
            child: Some(child),
            log,
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then waits for the process to exit (a graceful stop, as a service manager does).
    pub(crate) fn terminate(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        c.wait().ok().and_then(|s| s.code())
    }

    /// SIGKILL: no graceful shutdown, as in a crash.
    pub(crate) fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(crate) struct ControlPlane {
    pub(crate) proc: Proc,
    pub(crate) dir: PathBuf,
    pub(crate) admin: String,
    pub(crate) cluster_port: u16,
    pub(crate) proxy_port: u16,
    pub(crate) console_port: u16,
    pub(crate) client: reqwest::Client,
    /// `None`: the control plane's own SQLite file in its data dir.
    pub(crate) database: Option<String>,
}

impl ControlPlane {
    pub(crate) async fn start(dir: &Path) -> ControlPlane {
        Self::start_on(dir, crate::backend::database_url().await).await
    }

    /// Starts on a given database (control planes sharing one PostgreSQL). Ports are picked
    /// free but another test may take one before the process binds it: then new ones are picked.
    pub(crate) async fn start_on(dir: &Path, database: Option<String>) -> ControlPlane {
        let mut attempt = 0;
        loop {
            let (admin_port, cluster_port, proxy_port, console_port) =
                (free_port(), free_port(), free_port(), free_port());
            let mut cp = ControlPlane {
                proc: Proc {
                    child: None,
                    log: dir.join("cp.log"),
                },
                dir: dir.to_path_buf(),
                admin: format!("http://127.0.0.1:{admin_port}"),
                cluster_port,
                proxy_port,
                console_port,
                client: reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .expect("client"),
                database: database.clone(),
            };
            match cp.try_start().await {
                Ok(()) => return cp,
                Err(log) if attempt < 3 && log.contains("gatehouse: binding the") => attempt += 1,
                Err(log) => panic!("control plane failed: {log}"),
            }
        }
    }

    /// The control plane's store, opened from the test (as a second process would).
    pub(crate) async fn open_store(&self) -> gatehouse::store::Store {
        let location = match &self.database {
            Some(url) => gatehouse::store::Location::Postgres(url.clone()),
            None => gatehouse::store::Location::Sqlite(self.dir.join("gatehouse.db")),
        };
        gatehouse::store::Store::open(&location)
            .await
            .expect("open the control plane's database")
    }

    /// Starts (again) on the same ports and data dir.
    pub(crate) async fn restart(&mut self) {
        if let Err(log) = self.try_start().await {
            panic!("control plane failed: {log}");
        }
    }

    /// Spawns the process and waits until its Admin API answers; `Err` with its log when it
    /// exits with a fatal error (the one `gatehouse: …` line) or does not come up in 20 s.
    async fn try_start(&mut self) -> Result<(), String> {
        let admin_port = self.admin.rsplit(':').next().unwrap_or("0").to_string();
        let any = |p: u16| format!("127.0.0.1:{p}");
        let mut env = vec![
            ("GATEHOUSE_ADMIN_LISTEN", format!("127.0.0.1:{admin_port}")),
            ("GATEHOUSE_CLUSTER_LISTEN", any(self.cluster_port)),
            ("GATEHOUSE_PROXY_LISTEN", any(self.proxy_port)),
            ("GATEHOUSE_PROXY_TLS_LISTEN", any(free_port())),
            ("GATEHOUSE_CONSOLE_LISTEN", any(self.console_port)),
            ("GATEHOUSE_ECHO_LISTEN", any(free_port())),
            ("GATEHOUSE_BOOTSTRAP_TOKEN", TOKEN.to_string()),
        ];
        if let Some(url) = &self.database {
            env.push(("GATEHOUSE_DATABASE_URL", url.clone()));
        }
        let before = std::fs::read_to_string(&self.proc.log).map_or(0, |t| t.len());
        self.proc = Proc::spawn(&self.dir, "cp", &[], &env);
        let url = format!("{}/status", self.admin);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // Up when the Admin API answers at all (401: a test revoked this token).
            if let Ok(r) = self.client.get(&url).bearer_auth(TOKEN).send().await {
                if r.status() == 200 || r.status() == 401 {
                    return Ok(());
                }
            }
            let log = std::fs::read_to_string(&self.proc.log).unwrap_or_default();
            let this_run = log.get(before..).unwrap_or("");
            if this_run.lines().any(|l| l.starts_with("gatehouse: ")) || Instant::now() > deadline {
                self.proc.kill();
                return Err(this_run.to_string());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.admin))
            .bearer_auth(TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("admin request");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub(crate) async fn issue_credential(&self, group: &str) -> Value {
        let (status, cred) = self
            .admin(
                Method::POST,
                &format!("/runtime-groups/{group}/dp-credentials"),
                Some(json!({ "name": "test node" })),
            )
            .await;
        assert_eq!(status, 201, "issuing a credential: {cred}");
        assert!(cred["token"].as_str().unwrap_or("").starts_with("ghdp_"));
        cred
    }

    pub(crate) async fn nodes(&self, group: &str) -> Vec<Value> {
        let (status, body) = self
            .admin(Method::GET, &format!("/runtime-groups/{group}/nodes"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"].as_array().cloned().unwrap_or_default()
    }
}

pub(crate) struct Node {
    pub(crate) proc: Proc,
    pub(crate) dir: PathBuf,
    pub(crate) proxy_port: u16,
    pub(crate) args: Vec<(&'static str, String)>,
    /// Requests this node answered (any status): what its analytics must add up to.
    pub(crate) answered: u64,
}

impl Node {
    pub(crate) fn start(dir: &Path, cred: &Value, extra: &[(&'static str, String)]) -> Node {
        let proxy_port = free_port();
        let mut args = vec![
            (
                "GATEHOUSE_CLUSTER_CONTROL_PLANE",
                cred["control_plane"].as_str().unwrap_or("").to_string(),
            ),
            (
                "GATEHOUSE_CLUSTER_TOKEN",
                cred["token"].as_str().unwrap_or("").to_string(),
            ),
            (
                "GATEHOUSE_CLUSTER_CA_FINGERPRINT",
                cred["ca_fingerprint"].as_str().unwrap_or("").to_string(),
            ),
            ("GATEHOUSE_PROXY_LISTEN", format!("127.0.0.1:{proxy_port}")),
        ];
        for (k, v) in extra {
            args.retain(|(key, _)| key != k);
            args.push((k, v.clone()));
        }
        let mut node = Node {
            proc: Proc {
                child: None,
                log: dir.join("node.log"),
            },
            dir: dir.to_path_buf(),
            proxy_port,
            args,
            answered: 0,
        };
        node.restart();
        node
    }

    pub(crate) fn restart(&mut self) {
        self.proc.kill();
        let mut env = self.args.clone();
        env.push((
            "GATEHOUSE_PROXY_TLS_LISTEN",
            format!("127.0.0.1:{}", free_port()),
        ));
        // GATEHOUSE_ROLE=data_plane is the subcommand's equivalent for containers.
        let args: &[&str] = if env.iter().any(|(k, _)| *k == "GATEHOUSE_ROLE") {
            &[]
        } else {
            &["data-plane"]
        };
        self.proc = Proc::spawn(&self.dir, "node", args, &env);
    }

    /// One GET through this node's proxy; counts it when the node answered at all.
    pub(crate) async fn get(&mut self, path: &str) -> Option<u16> {
        let url = format!("http://127.0.0.1:{}{path}", self.proxy_port);
        match reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
        {
            Ok(r) => {
                self.answered += 1;
                Some(r.status().as_u16())
            }
            Err(_) => None,
        }
    }

    /// Polls `path` until it answers `status`; returns how long that took.
    pub(crate) async fn wait_for(
        &mut self,
        path: &str,
        status: u16,
        timeout: Duration,
    ) -> Duration {
        let start = Instant::now();
        loop {
            if self.get(path).await == Some(status) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < timeout,
                "node never answered {status} on {path}; log:\n{}",
                self.proc.log()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub(crate) fn id(&self) -> String {
        std::fs::read_to_string(self.dir.join("node-id"))
            .unwrap_or_default()
            .trim()
            .to_string()
    }
}

pub(crate) fn node_row<'a>(nodes: &'a [Value], id: &str) -> Option<&'a Value> {
    nodes.iter().find(|n| n["id"] == id)
}

pub(crate) async fn wait_in_sync(cp: &ControlPlane, ids: &[String]) -> String {
    eventually(Duration::from_secs(15), "every node in sync", || async {
        let nodes = cp.nodes("default").await;
        let rows: Vec<&Value> = ids.iter().filter_map(|id| node_row(&nodes, id)).collect();
        let all = rows.len() == ids.len()
            && rows
                .iter()
                .all(|n| n["sync_status"] == "In sync" && n["connected"] == true);
        let hash = rows.first().map(|r| r["config_hash"].clone());
        (all && rows.iter().all(|r| Some(r["config_hash"].clone()) == hash)).then(|| {
            hash.and_then(|h| h.as_str().map(str::to_owned))
                .unwrap_or_default()
        })
    })
    .await
}

pub(crate) async fn add_route(cp: &ControlPlane, name: &str, upstream: &str, path: &str) {
    let (s, b) = cp
        .admin(
            Method::POST,
            "/services",
            Some(json!({ "name": name, "url": upstream })),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = cp
        .admin(
            Method::POST,
            &format!("/services/{name}/routes"),
            Some(json!({ "name": format!("{name}-route"), "paths": [path] })),
        )
        .await;
    assert_eq!(s, 201, "{b}");
}

pub(crate) async fn requests_counted(cp: &ControlPlane, id: &str) -> u64 {
    let nodes = cp.nodes("default").await;
    node_row(&nodes, id)
        .and_then(|n| n["requests_24h"].as_u64())
        .unwrap_or(0)
}

pub(crate) async fn wait_log(proc: &Proc, needle: &str, timeout: Duration) {
    let start = Instant::now();
    while !proc.log().contains(needle) {
        assert!(
            start.elapsed() < timeout,
            "log never said '{needle}':\n{}",
            proc.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
