//! The one place that holds SQL. A single SQLite connection (WAL) behind a mutex: the console and
//! Admin API are not the hot path, and the proxy never comes here. Callers on async runtimes go
//! through [`Store::run`], which moves the work to the blocking pool.

mod analytics;
mod catalog;
mod entities;
mod gateway;
mod identity;
mod runtime;
mod schema;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;
use tokio::sync::watch;

pub use analytics::{
    AnalyticsFilter, EntityTraffic, Percentiles, SeriesPoint, StatusCount, Totals, TrafficSummary,
};
pub use gateway::{GroupConfig, Page, TagFilter};
pub use identity::{AdminToken, User};
pub use runtime::{InstanceReport, NodeTraffic};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unique constraint violated on {table}.{column}")]
    Unique { table: String, column: String },
    #[error("a referenced entity does not exist or is still referenced")]
    ForeignKey,
    #[error("not found")]
    NotFound,
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("corrupt stored entity: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("storage task failed: {0}")]
    Task(String),
}

impl StoreError {
    fn classify(e: rusqlite::Error) -> StoreError {
        if let rusqlite::Error::SqliteFailure(f, Some(msg)) = &e {
            if f.code == rusqlite::ErrorCode::ConstraintViolation {
                if let Some(cols) = msg.strip_prefix("UNIQUE constraint failed: ") {
                    let last = cols.split(", ").last().unwrap_or(cols);
                    let (table, column) = last.split_once('.').unwrap_or(("", last));
                    return StoreError::Unique {
                        table: table.into(),
                        column: column.into(),
                    };
                }
                if msg.starts_with("FOREIGN KEY") {
                    return StoreError::ForeignKey;
                }
            }
        }
        StoreError::Db(e)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    changes: Arc<watch::Sender<u64>>,
}

impl Store {
    pub fn open(path: &Path) -> StoreResult<Store> {
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    fn init(mut conn: Connection) -> StoreResult<Store> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        schema::migrate(&mut conn)?;
        let (tx, _rx) = watch::channel(0u64);
        let store = Store {
            conn: Arc::new(Mutex::new(conn)),
            changes: Arc::new(tx),
        };
        store.ensure_default_group()?;
        Ok(store)
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back on
        // drop), so a poisoned mutex is safe to keep using.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the blocking pool so async callers never block their runtime on SQLite.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Store) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| E::from(StoreError::Task(e.to_string())))?
    }

    /// Subscribes to configuration changes; the value increases after every committed change
    /// that affects what the gateway serves.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn config_changed(&self) {
        self.changes.send_modify(|v| *v += 1);
    }
}

fn uuid_col(s: String) -> rusqlite::Result<uuid::Uuid> {
    uuid::Uuid::parse_str(&s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}
