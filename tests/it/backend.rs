//! The database the integration tests run against: a fresh SQLite file per app (the default),
//! or, with `GATEHOUSE_TEST_BACKEND=postgres`, a fresh database per app on a throwaway
//! PostgreSQL server the tests start themselves (initdb into a temp dir, a free port, as the
//! `postgres` user when running as root) and that stops when the test process ends.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sqlx::Connection;

pub fn postgres_wanted() -> bool {
    std::env::var("GATEHOUSE_TEST_BACKEND").is_ok_and(|v| v == "postgres")
}

/// A database URL for one app: `None` means the app's own SQLite file in its data dir.
pub async fn database_url() -> Option<String> {
    if !postgres_wanted() {
        return None;
    }
    Some(shared().create_database().await)
}

/// The server the whole test process shares (each app gets a database of its own on it).
pub fn shared() -> &'static PgServer {
    static SERVER: OnceLock<PgServer> = OnceLock::new();
    SERVER.get_or_init(PgServer::start)
}

pub struct PgServer {
    pub port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
    child: std::sync::Mutex<Option<Child>>,
}

fn as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A PostgreSQL command, as the `postgres` user when we are root (PostgreSQL refuses root).
fn pg_command(bin: &Path, tool: &str) -> Command {
    if as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

fn pg_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed (apt-get install postgresql)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("postgres").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("no PostgreSQL server binaries under /usr/lib/postgresql")
}

fn free_port() -> u16 {
    crate::helpers::closed_port()
}

impl PgServer {
    /// initdb into a fresh temp dir and start the server on a free port.
    pub fn start() -> PgServer {
        let bin = pg_bin();
        let dir = tempfile::Builder::new()
            .prefix("gatehouse-pg-")
            .tempdir()
            .expect("temp dir");
        if as_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown of the PostgreSQL temp dir failed");
        }
        let out = pg_command(&bin, "initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(dir.path().join("data"))
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let server = PgServer {
            port: free_port(),
            dir,
            bin,
            child: std::sync::Mutex::new(None),
        };
        server.start_again();
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again, after [`PgServer::stop`]) and waits until it accepts logins.
    /// A watchdog beside it stops it when this test process is gone, however it ended.
    pub fn start_again(&self) {
        let script = format!(
            "{postgres} -D {data} -p {port} -k {data} -c listen_addresses=127.0.0.1 \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
             -c max_connections=400 -c shared_buffers=32MB >{data}/server.log 2>&1 & pg=$!; \
             while [ -d /proc/{parent} ] && kill -0 $pg 2>/dev/null; do sleep 0.5; done; \
             kill -INT $pg 2>/dev/null; wait $pg; [ -d /proc/{parent} ] || rm -rf {root}",
            postgres = self.bin.join("postgres").display(),
            data = self.data().display(),
            port = self.port,
            parent = std::process::id(),
            root = self.dir.path().display(),
        );
        let child = if as_root() {
            Command::new("runuser")
                .args(["-u", "postgres", "--", "sh", "-c", &script])
                .stdin(Stdio::null())
                .spawn()
        } else {
            Command::new("sh")
                .args(["-c", &script])
                .stdin(Stdio::null())
                .spawn()
        }
        .expect("start postgres");
        *self.child.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let up = TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && pg_command(&self.bin, "pg_isready")
                    .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                    .status()
                    .is_ok_and(|s| s.success());
            if up {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not start on port {}: {}",
                self.port,
                std::fs::read_to_string(self.data().join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server (fast shutdown: open connections are cut), as an outage would.
    pub fn stop(&self) {
        let _ = pg_command(&self.bin, "pg_ctl")
            .args(["stop", "-m", "fast", "-w", "-D"])
            .arg(self.data())
            .stdout(Stdio::null())
            .status();
        if let Some(mut c) = self.child.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = c.wait();
        }
    }

    /// A new, empty database; returns its URL.
    pub async fn create_database(&self) -> String {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&self.admin_url())
            .await
            .expect("connect to the test PostgreSQL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create database");
        let _ = conn.close().await;
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}
