//! A real nginx (Debian's package) as a reverse proxy in a temp dir, for side-by-side
//! answers: its defaults, one process, stopped when dropped.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Nginx {
    child: Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

const BINARY: &str = "/usr/sbin/nginx";

impl Nginx {
    /// nginx proxying everything to `upstream`, or `None` when nginx is not installed.
    pub async fn start(upstream: SocketAddr) -> Option<Nginx> {
        if !std::path::Path::new(BINARY).exists() {
            return None;
        }
        let dir = tempfile::tempdir().expect("nginx dir");
        let port = crate::helpers::closed_port();
        let d = dir.path().display();
        // Only what running unprivileged in a temp dir needs; every HTTP limit is nginx's
        // default (header buffers, body buffering, timeouts).
        let conf = format!(
            "master_process off;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
               server {{\n    listen 127.0.0.1:{port};\n\
                 location / {{ proxy_pass http://{upstream}; proxy_http_version 1.1; }}\n  }}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).expect("write nginx.conf");
        let child = Command::new(BINARY)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let nginx = Nginx {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(Instant::now() < deadline, "nginx did not start on {addr}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Some(nginx)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
