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
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_DATA_DIR",
        default_value = "./data"
    )]
    pub data_dir: PathBuf,
    /// Database URL: `sqlite://PATH` or `postgres://USER:PASSWORD@HOST:PORT/DB`. Defaults to
    /// DATA_DIR/gatehouse.db.
    #[arg(long, global = true, env = "GATEHOUSE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Proxy listener (API clients).
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_PROXY_LISTEN",
        default_value = "0.0.0.0:8000"
    )]
    pub proxy_listen: SocketAddr,
    /// Proxy TLS listener: HTTPS (and HTTP/2 by ALPN) with certificates chosen by SNI from the
    /// configured Certificate and SNI objects.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_PROXY_TLS_LISTEN",
        default_value = "0.0.0.0:8443"
    )]
    pub proxy_tls_listen: SocketAddr,
    /// Admin API listener (Kong-compatible JSON, token required).
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_ADMIN_LISTEN",
        default_value = "127.0.0.1:8001"
    )]
    pub admin_listen: SocketAddr,
    /// Web console listener.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_CONSOLE_LISTEN",
        default_value = "127.0.0.1:8002"
    )]
    pub console_listen: SocketAddr,
    /// Cluster listener: data-plane nodes follow the control plane here (TLS, cluster CA).
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_CLUSTER_LISTEN",
        default_value = "0.0.0.0:8005"
    )]
    pub cluster_listen: SocketAddr,
    /// Built-in echo upstream listener.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_ECHO_LISTEN",
        default_value = "127.0.0.1:8009"
    )]
    pub echo_listen: SocketAddr,
    /// Status listener serving /status and /metrics without a token (off unless set).
    #[arg(long, global = true, env = "GATEHOUSE_STATUS_LISTEN")]
    pub status_listen: Option<SocketAddr>,
    /// Public base URL of the proxy, shown in the console (default: http://localhost:PROXY_PORT).
    #[arg(long, global = true, env = "GATEHOUSE_PROXY_URL")]
    pub proxy_url: Option<String>,
    /// Email of an organization admin to create at start-up if no user exists.
    #[arg(long, global = true, env = "GATEHOUSE_ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    /// Password for GATEHOUSE_ADMIN_EMAIL.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_ADMIN_PASSWORD",
        hide_env_values = true
    )]
    pub admin_password: Option<String>,
    /// An Admin API token to register at start-up (stored hashed).
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_BOOTSTRAP_TOKEN",
        hide_env_values = true
    )]
    pub bootstrap_token: Option<String>,
    /// Console sessions end after this many seconds without a request (default 8 h).
    #[arg(long, global = true, env = "GATEHOUSE_SESSION_IDLE_TIMEOUT", default_value_t = 8 * 3600)]
    pub session_idle_timeout_secs: i64,
    /// Console sessions end this many seconds after sign-in, used or not (default 7 days).
    #[arg(long, global = true, env = "GATEHOUSE_SESSION_MAX_AGE", default_value_t = 7 * 86_400)]
    pub session_max_age_secs: i64,
    /// The address people open the console at (https://console.example.com): its host is
    /// accepted in the Host header besides loopback names.
    #[arg(long, global = true, env = "GATEHOUSE_CONSOLE_URL")]
    pub console_url: Option<String>,
    /// Mark the console's cookie `Secure` even when the console URL is not https (a
    /// TLS-terminating proxy in front of it).
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_SECURE_COOKIES",
        default_value_t = false
    )]
    pub secure_cookies: bool,
    /// More host names the console answers to, comma-separated (`*` for any).
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_CONSOLE_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub console_allowed_hosts: Vec<String>,
    /// Start even when the data dir is readable by other users (it holds secrets).
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_ALLOW_SHARED_DATA_DIR",
        default_value_t = false
    )]
    pub allow_shared_data_dir: bool,
    /// Worker threads for the proxy runtime (default: one per core).
    #[arg(long, global = true, env = "GATEHOUSE_PROXY_WORKERS")]
    pub proxy_workers: Option<usize>,
    /// Request analytics (records, rollups, per-route metrics): `on` or `off`.
    #[arg(long, global = true, env = "GATEHOUSE_ANALYTICS", default_value = "on")]
    pub analytics: OnOff,
    /// How long raw request records are kept, in hours (rollups outlive them).
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_ANALYTICS_RAW_RETENTION_HOURS",
        default_value_t = 24
    )]
    pub analytics_raw_retention_hours: u64,
    /// How long per-minute rollups and latency histograms are kept, in days.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_ANALYTICS_RETENTION_DAYS",
        default_value_t = 30
    )]
    pub analytics_retention_days: u64,
    /// Configuration versions kept per runtime group (the newest; at least one).
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_CONFIG_HISTORY_MAX_VERSIONS",
        default_value_t = 500
    )]
    pub config_history_max_versions: u64,
    /// Configuration versions older than this many days are pruned (a group's newest stays).
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_CONFIG_HISTORY_MAX_DAYS",
        default_value_t = 90
    )]
    pub config_history_max_days: u64,
    /// Access log of proxied requests on stdout: `off` or `json` (one object per line).
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_ACCESS_LOG",
        default_value = "off"
    )]
    pub access_log: AccessLog,
    /// `traditional` (everything in one process, the default) or `data_plane` (only the proxy,
    /// following a control plane; the same as the `data-plane` subcommand).
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_ROLE",
        default_value = "traditional"
    )]
    pub role: Role,
    /// Names and addresses the cluster certificate is valid for (comma-separated; default:
    /// localhost, 127.0.0.1 and this host's name).
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_CLUSTER_SERVER_NAMES",
        value_delimiter = ','
    )]
    pub cluster_server_names: Vec<String>,
    /// The control plane's cluster URL as nodes should dial it, shown in the console's node
    /// commands (default: https://HOSTNAME:CLUSTER_PORT).
    #[arg(long, global = true, env = "GATEHOUSE_CLUSTER_URL")]
    pub cluster_url: Option<String>,
    #[command(flatten)]
    pub node: NodeArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AccessLog {
    Off,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    Traditional,
    #[value(name = "data_plane", alias = "data-plane")]
    DataPlane,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Run only the proxy, following a control plane (`--control-plane`, `--token`, and the
    /// cluster CA's `--ca-fingerprint` or `--ca-file`).
    DataPlane,
    /// Declarative configuration (kong.yml): validate a file, export a runtime group's
    /// configuration, or import a file in place of it (same data dir or database as the server).
    Config {
        #[command(subcommand)]
        action: ConfigCommand,
    },
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum ConfigCommand {
    /// Check a file without applying it: exit 0, or 1 with one line per problem.
    Validate { file: PathBuf },
    /// Write a runtime group's configuration as kong.yml (stdout unless --output).
    Export {
        /// The runtime group (id or name); the default group when left out.
        #[arg(long)]
        runtime_group: Option<String>,
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Replace a runtime group's whole configuration with a file, in one transaction.
    Import {
        file: PathBuf,
        /// The runtime group (id or name); the default group when left out.
        #[arg(long)]
        runtime_group: Option<String>,
    },
}

/// A data-plane node's link to its control plane.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NodeArgs {
    /// The control plane's cluster URL, `https://HOST:8005`.
    #[arg(long, global = true, env = "GATEHOUSE_CLUSTER_CONTROL_PLANE")]
    pub control_plane: Option<String>,
    /// The node credential issued by the control plane for a runtime group.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_CLUSTER_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// SHA-256 fingerprint of the control plane's cluster CA (`sha256:HEX`).
    #[arg(long, global = true, env = "GATEHOUSE_CLUSTER_CA_FINGERPRINT")]
    pub ca_fingerprint: Option<String>,
    /// The control plane's cluster CA certificate (PEM file), instead of the fingerprint.
    #[arg(long, global = true, env = "GATEHOUSE_CLUSTER_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Serve this declarative configuration file (kong.yml) with no control plane, as Kong's
    /// DB-less mode does; SIGHUP reloads it.
    #[arg(long = "config", global = true, env = "GATEHOUSE_DECLARATIVE_CONFIG")]
    pub declarative_config: Option<PathBuf>,
    /// Largest configuration frame the node accepts.
    #[arg(long, global = true, env = "GATEHOUSE_CLUSTER_MAX_SNAPSHOT_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_snapshot_bytes: usize,
    /// Disk space for request records waiting to reach the control plane.
    #[arg(long, global = true, env = "GATEHOUSE_TELEMETRY_SPOOL_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub telemetry_spool_bytes: u64,
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
            allow_shared_data_dir: false,
            console_url: None,
            secure_cookies: false,
            console_allowed_hosts: Vec::new(),
            session_idle_timeout_secs: 8 * 3600,
            session_max_age_secs: 7 * 86_400,
            proxy_workers: Some(2),
            role: Role::Traditional,
            analytics: OnOff::On,
            analytics_raw_retention_hours: 24,
            analytics_retention_days: 30,
            config_history_max_versions: 500,
            config_history_max_days: 90,
            access_log: AccessLog::Off,
            cluster_server_names: Vec::new(),
            cluster_url: None,
            node: NodeArgs {
                max_snapshot_bytes: 64 * 1024 * 1024,
                telemetry_spool_bytes: 64 * 1024 * 1024,
                ..NodeArgs::default()
            },
            command: None,
        }
    }

    pub fn retention(&self) -> crate::telemetry::Retention {
        crate::telemetry::Retention {
            raw: std::time::Duration::from_secs(self.analytics_raw_retention_hours.max(1) * 3600),
            rollups: std::time::Duration::from_secs(self.analytics_retention_days.max(1) * 86_400),
        }
    }

    pub fn history_retention(&self) -> crate::domain::history::HistoryRetention {
        crate::domain::history::HistoryRetention {
            max_versions: self.config_history_max_versions.max(1),
            max_age_secs: (self.config_history_max_days.max(1) as i64).saturating_mul(86_400),
        }
    }

    pub fn is_data_plane(&self) -> bool {
        self.role == Role::DataPlane || matches!(self.command, Some(Command::DataPlane))
    }

    /// Host names the console answers to: loopback names, the console URL's host, and the
    /// allowed-hosts setting.
    pub fn console_hosts(&self) -> anyhow::Result<Vec<String>> {
        let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "[::1]", "::1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if let Some(u) = &self.console_url {
            let url = url::Url::parse(u)
                .map_err(|e| anyhow::anyhow!("GATEHOUSE_CONSOLE_URL '{u}' is not a URL: {e}"))?;
            if let Some(h) = url.host_str() {
                hosts.push(h.to_ascii_lowercase());
            }
        }
        hosts.extend(
            self.console_allowed_hosts
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty()),
        );
        Ok(hosts)
    }

    /// Whether the console's cookie must only travel over TLS: forced, or the console is
    /// opened at an https URL.
    pub fn cookies_secure(&self) -> bool {
        self.secure_cookies
            || self
                .console_url
                .as_deref()
                .is_some_and(|u| u.to_ascii_lowercase().starts_with("https://"))
    }

    /// A bootstrap token is a long-lived credential: short ones are refused.
    pub fn check_bootstrap_token(&self) -> anyhow::Result<()> {
        match &self.bootstrap_token {
            Some(t) if t.chars().count() < 32 => anyhow::bail!(
                "GATEHOUSE_BOOTSTRAP_TOKEN must be at least 32 characters (it has {})",
                t.chars().count()
            ),
            _ => Ok(()),
        }
    }

    /// Where the store lives. A URL the store cannot use is refused here, naming only its
    /// scheme: a PostgreSQL URL carries a password that must not reach a log.
    pub fn database_location(&self) -> anyhow::Result<crate::store::Location> {
        use crate::store::Location;
        let Some(url) = &self.database_url else {
            return Ok(Location::Sqlite(self.data_dir.join("gatehouse.db")));
        };
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            return Ok(Location::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let parsed = url::Url::parse(url).map_err(|e| {
                anyhow::anyhow!("GATEHOUSE_DATABASE_URL is not a valid postgres:// URL: {e}")
            })?;
            if parsed.host_str().unwrap_or("").is_empty() {
                anyhow::bail!(
                    "GATEHOUSE_DATABASE_URL names no host: postgres://USER:PASSWORD@HOST:PORT/DB"
                );
            }
            return Ok(Location::Postgres(url.clone()));
        }
        let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or("(none)");
        anyhow::bail!(
            "unsupported GATEHOUSE_DATABASE_URL scheme '{scheme}': use sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DB"
        )
    }
}
