//! The connection pools and the few things that differ between SQLite and PostgreSQL: how to
//! connect, which SQL spelling a function has, and how a driver reports a violated constraint.
//! Every query elsewhere in `store/` is written once, with `$N` placeholders both drivers take.

use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::error::ErrorKind;
use sqlx::{Any, AnyPool, Connection, Executor, Row};
use uuid::Uuid;

use super::{StoreError, StoreResult};

pub type Tx = sqlx::Transaction<'static, Any>;
pub type Conn = sqlx::AnyConnection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the store lives: an SQLite file (the embedded default) or a PostgreSQL URL.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl Location {
    /// The location as it may be logged: a PostgreSQL URL without user or password.
    pub fn redacted(&self) -> String {
        match self {
            Location::Sqlite(p) => p.display().to_string(),
            Location::Postgres(url) => match url::Url::parse(url) {
                Ok(u) => format!(
                    "postgres://{}:{}{}",
                    u.host_str().unwrap_or("localhost"),
                    u.port().unwrap_or(5432),
                    u.path()
                ),
                Err(_) => "postgres://(unparseable URL)".to_string(),
            },
        }
    }
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Two pools: on SQLite one connection writes (SQLite has one writer; queueing in the pool
/// beats "database is locked") while several read beside it (WAL); on PostgreSQL both are the
/// same pool.
#[derive(Clone)]
pub struct Pools {
    pub backend: Backend,
    pub read: AnyPool,
    pub write: AnyPool,
}

const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;";

pub async fn connect(location: &Location) -> StoreResult<Pools> {
    sqlx::any::install_default_drivers();
    match location {
        Location::Sqlite(path) => {
            let url = sqlite_url(path);
            let opts = AnyConnectOptions::from_str(&url)?;
            // One connection first: a pool would retry a corrupt or unreadable file until its
            // timeout and then report only that; this names the cause.
            let mut first = sqlx::AnyConnection::connect_with(&opts).await?;
            first.execute(SQLITE_PRAGMAS).await?;
            let _ = first.close().await;
            let pool = |max: u32| {
                AnyPoolOptions::new()
                    .max_connections(max)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(SQLITE_PRAGMAS).await?;
                            Ok(())
                        })
                    })
            };
            let write = pool(1).connect_with(opts.clone()).await?;
            let read = pool(4).connect_with(opts).await?;
            Ok(Pools {
                backend: Backend::Sqlite,
                read,
                write,
            })
        }
        Location::Postgres(url) => {
            let opts = AnyConnectOptions::from_str(url)?;
            // One connection first: the pool would only report a timeout, this names the cause.
            let first =
                tokio::time::timeout(ACQUIRE_TIMEOUT, sqlx::AnyConnection::connect_with(&opts))
                    .await
                    .map_err(|_| StoreError::Unavailable("no answer within 5 s".into()))??;
            let _ = first.close().await;
            // Reads get a pool of their own, as on SQLite. Writers wait for each other on the
            // revision row's lock while holding a connection, so with one shared pool a burst of
            // writes took every connection and console pages queued behind it (page p50 19 ms,
            // p99 42 ms with 8 writers in `bench/store.sh`).
            let pool = |max: u32| {
                AnyPoolOptions::new()
                    .max_connections(max)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
            };
            let write = pool(4).connect_with(opts.clone()).await?;
            let read = pool(8).connect_with(opts).await?;
            Ok(Pools {
                backend: Backend::Postgres,
                read,
                write,
            })
        }
    }
}

fn sqlite_url(path: &std::path::Path) -> String {
    let mut out = String::from("sqlite://");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3F"),
            '#' => out.push_str("%23"),
            ' ' => out.push_str("%20"),
            c => out.push(c),
        }
    }
    out.push_str("?mode=rwc");
    out
}

impl Backend {
    /// `col` contains `needle` (case-sensitive on both backends, unlike SQLite's LIKE).
    pub fn contains(self, col: &str, param: &str) -> String {
        match self {
            Backend::Sqlite => format!("instr({col}, {param}) > 0"),
            Backend::Postgres => format!("strpos({col}, {param}) > 0"),
        }
    }
}

/// One page of a Kong-style listing.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_offset: Option<u64>,
}

/// Kong's `?tags=` filter: `a,b` needs every tag, `a/b` any of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagFilter {
    All(Vec<String>),
    Any(Vec<String>),
}

/// Tags as the `tags` column keeps them: `,a,b,` (Kong's tags never hold a comma).
pub fn tags_column(tags: Option<&[String]>) -> String {
    match tags {
        Some(t) if !t.is_empty() => format!(",{},", t.join(",")),
        _ => String::new(),
    }
}

/// The SQL condition for a tag filter, numbering its placeholders from `args.len() + 1`.
pub fn tag_clause(backend: Backend, filter: Option<&TagFilter>, args: &mut Vec<Arg>) -> String {
    let (tags, joiner) = match filter {
        None => return String::new(),
        Some(TagFilter::All(t)) => (t, " AND "),
        Some(TagFilter::Any(t)) => (t, " OR "),
    };
    if tags.is_empty() {
        return String::new();
    }
    let conds: Vec<String> = tags
        .iter()
        .map(|t| {
            args.push(Arg::Text(format!(",{t},")));
            backend.contains("tags", &format!("${}", args.len()))
        })
        .collect();
    format!(" AND ({})", conds.join(joiner))
}

/// A bind value for queries assembled at run time.
#[derive(Debug, Clone)]
pub enum Arg {
    Text(String),
    Int(i64),
}

pub fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    args: &'q [Arg],
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    for a in args {
        q = match a {
            Arg::Text(s) => q.bind(s.as_str()),
            Arg::Int(i) => q.bind(*i),
        };
    }
    q
}

/// Insertion order across processes: microseconds since the epoch, strictly increasing within
/// this process. Replaces SQLite's rowid, which PostgreSQL has no equivalent of.
pub fn next_seq() -> i64 {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1000;
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

/// The column a violated unique constraint is about, from what the driver reports: a primary
/// key (SQLite's extended code 1555, PostgreSQL's `<table>_pkey`) is `id`; any other unique
/// key of `table` is its name column, as `name_column` says.
pub fn classify(e: sqlx::Error, table: &'static str) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        match db.kind() {
            ErrorKind::UniqueViolation => {
                let primary = db.code().as_deref() == Some("1555")
                    || db.constraint().is_some_and(|c| c.ends_with("_pkey"));
                let column = if primary {
                    "id"
                } else if db
                    .constraint()
                    .is_some_and(|c| c.contains("gateway_service_id"))
                {
                    "gateway_service_id"
                } else {
                    name_column(table)
                };
                return StoreError::Unique {
                    table: table.into(),
                    column: column.into(),
                };
            }
            ErrorKind::ForeignKeyViolation => return StoreError::ForeignKey,
            _ => {}
        }
    }
    StoreError::from(e)
}

fn name_column(table: &str) -> &'static str {
    match table {
        "users" => "email",
        "admin_tokens" | "dp_credentials" => "token_hash",
        _ => "name",
    }
}

/// Typed column reads that turn a bad stored value into [`StoreError`] instead of a panic.
pub trait RowExt {
    fn text(&self, i: usize) -> StoreResult<String>;
    fn opt_text(&self, i: usize) -> StoreResult<Option<String>>;
    fn int(&self, i: usize) -> StoreResult<i64>;
    fn opt_int(&self, i: usize) -> StoreResult<Option<i64>>;
    fn flag(&self, i: usize) -> StoreResult<bool> {
        Ok(self.int(i)? != 0)
    }
    fn uuid(&self, i: usize) -> StoreResult<Uuid> {
        parse_uuid(&self.text(i)?)
    }
    fn opt_uuid(&self, i: usize) -> StoreResult<Option<Uuid>> {
        self.opt_text(i)?.as_deref().map(parse_uuid).transpose()
    }
    fn json<T: serde::de::DeserializeOwned>(&self, i: usize) -> StoreResult<T> {
        Ok(serde_json::from_str(&self.text(i)?)?)
    }
}

impl RowExt for AnyRow {
    fn text(&self, i: usize) -> StoreResult<String> {
        Ok(self.try_get(i)?)
    }
    fn opt_text(&self, i: usize) -> StoreResult<Option<String>> {
        Ok(self.try_get(i)?)
    }
    fn int(&self, i: usize) -> StoreResult<i64> {
        Ok(self.try_get(i)?)
    }
    fn opt_int(&self, i: usize) -> StoreResult<Option<i64>> {
        Ok(self.try_get(i)?)
    }
}

fn parse_uuid(s: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(s)
        .map_err(|e| StoreError::Corrupt(serde::de::Error::custom(format!("bad id {s:?}: {e}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logged_location_has_no_password() {
        let l = Location::Postgres("postgres://gh:s3cret@db.example:6543/gatehouse".into());
        assert_eq!(l.redacted(), "postgres://db.example:6543/gatehouse");
        assert!(!format!("{l:?}").contains("s3cret"));
    }

    #[test]
    fn seq_increases_strictly() {
        let a = next_seq();
        let b = next_seq();
        assert!(b > a);
    }

    #[test]
    fn tag_filters_number_their_placeholders() {
        let mut args = vec![Arg::Text("g".into())];
        let sql = tag_clause(
            Backend::Postgres,
            Some(&TagFilter::Any(vec!["a".into(), "b".into()])),
            &mut args,
        );
        assert_eq!(sql, " AND (strpos(tags, $2) > 0 OR strpos(tags, $3) > 0)");
        assert_eq!(tags_column(Some(&["x".into(), "y".into()])), ",x,y,");
    }
}
