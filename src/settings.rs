//! Runtime settings from flags and `GATEHOUSE_*` environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Service hub and Kong-compatible API gateway in one binary"
)]
pub struct Settings {
    /// Directory for the SQLite database and other state.
    #[arg(long, env = "GATEHOUSE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Database URL; only `sqlite://PATH` is supported. Defaults to DATA_DIR/gatehouse.db.
    #[arg(long, env = "GATEHOUSE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Proxy listener (API clients).
    #[arg(long, env = "GATEHOUSE_PROXY_LISTEN", default_value = "0.0.0.0:8000")]
    pub proxy_listen: SocketAddr,
    /// Proxy TLS listener: HTTPS (and HTTP/2 by ALPN) with certificates chosen by SNI from the
    /// configured Certificate and SNI objects.
    #[arg(
        long,
        env = "GATEHOUSE_PROXY_TLS_LISTEN",
        default_value = "0.0.0.0:8443"
    )]
    pub proxy_tls_listen: SocketAddr,
    /// Admin API listener (Kong-compatible JSON, token required).
    #[arg(long, env = "GATEHOUSE_ADMIN_LISTEN", default_value = "127.0.0.1:8001")]
    pub admin_listen: SocketAddr,
    /// Web console listener.
    #[arg(
        long,
        env = "GATEHOUSE_CONSOLE_LISTEN",
        default_value = "127.0.0.1:8002"
    )]
    pub console_listen: SocketAddr,
    /// Cluster listener, reserved for data-plane nodes.
    #[arg(long, env = "GATEHOUSE_CLUSTER_LISTEN", default_value = "0.0.0.0:8005")]
    pub cluster_listen: SocketAddr,
    /// Built-in echo upstream listener.
    #[arg(long, env = "GATEHOUSE_ECHO_LISTEN", default_value = "127.0.0.1:8009")]
    pub echo_listen: SocketAddr,
    /// Status listener serving /status and /metrics without a token (off unless set).
    #[arg(long, env = "GATEHOUSE_STATUS_LISTEN")]
    pub status_listen: Option<SocketAddr>,
    /// Public base URL of the proxy, shown in the console (default: http://localhost:PROXY_PORT).
    #[arg(long, env = "GATEHOUSE_PROXY_URL")]
    pub proxy_url: Option<String>,
    /// Email of an organization admin to create at start-up if no user exists.
    #[arg(long, env = "GATEHOUSE_ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    /// Password for GATEHOUSE_ADMIN_EMAIL.
    #[arg(long, env = "GATEHOUSE_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// An Admin API token to register at start-up (stored hashed).
    #[arg(long, env = "GATEHOUSE_BOOTSTRAP_TOKEN", hide_env_values = true)]
    pub bootstrap_token: Option<String>,
    /// Worker threads for the proxy runtime (default: one per core).
    #[arg(long, env = "GATEHOUSE_PROXY_WORKERS")]
    pub proxy_workers: Option<usize>,
}

impl Settings {
    /// Settings for tests and embedding: every listener on an ephemeral loopback port.
    pub fn ephemeral(data_dir: PathBuf) -> Settings {
        let any: SocketAddr = ([127, 0, 0, 1], 0).into();
        Settings {
            data_dir,
            database_url: None,
            proxy_listen: any,
            proxy_tls_listen: any,
            admin_listen: any,
            console_listen: any,
            cluster_listen: any,
            echo_listen: any,
            status_listen: Some(any),
            proxy_url: None,
            admin_email: None,
            admin_password: None,
            bootstrap_token: None,
            proxy_workers: Some(2),
        }
    }

    pub fn database_path(&self) -> anyhow::Result<PathBuf> {
        match &self.database_url {
            None => Ok(self.data_dir.join("gatehouse.db")),
            Some(url) => match url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
            {
                Some(path) => Ok(PathBuf::from(path)),
                None => anyhow::bail!(
                    "unsupported GATEHOUSE_DATABASE_URL '{url}': only sqlite://PATH is supported"
                ),
            },
        }
    }
}
