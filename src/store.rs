//! The one place that holds SQL, on sqlx: an SQLite file by default, PostgreSQL when the
//! database URL says so. Queries are written once for both (see `db.rs`); reads use a pool of
//! their own so the console never waits behind the analytics writer. The proxy never comes here.

mod analytics;
pub mod catalog;
pub mod db;
pub mod entities;
pub mod history;
mod identity;
mod migrate;
mod runtime;
mod sessions;
mod watch_changes;

use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::watch;
use uuid::Uuid;

pub use analytics::{
    AnalyticsFilter, EntityTraffic, Percentiles, SeriesPoint, StatusCount, Totals, TrafficSummary,
};
pub use db::{Backend, Conn, Location, Page, TagFilter, Tx};
pub use entities::EntityFilter;
pub use history::VersionFilter;
pub use identity::{AdminToken, TokenSeed, User};
pub use runtime::{InstanceReport, NodeTraffic};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unique constraint violated on {table}.{column}")]
    Unique { table: String, column: String },
    #[error("a referenced entity does not exist or is still referenced")]
    ForeignKey,
    #[error("not found")]
    NotFound,
    /// The database cannot be reached (connection refused, pool exhausted, server gone).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Db(sqlx::Error),
    #[error("database schema: {0}")]
    Schema(String),
    #[error("corrupt stored entity: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("storage task failed: {0}")]
    Task(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                StoreError::Unavailable(e.to_string())
            }
            sqlx::Error::Io(io) => StoreError::Unavailable(io.to_string()),
            sqlx::Error::Tls(t) => StoreError::Unavailable(t.to_string()),
            other => StoreError::Db(other),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone)]
pub struct Store {
    pools: db::Pools,
    location: Location,
    changes: Arc<watch::Sender<u64>>,
    /// This process's mark on its change notifications, so it does not rebuild twice for its
    /// own commits.
    instance: uuid::Uuid,
    /// The highest configuration revision this process has seen committed.
    seen_revision: Arc<AtomicI64>,
    /// How many configuration versions each group keeps (applied as each one is recorded).
    history_keep: Arc<AtomicU64>,
    /// The runtime the pools were opened on: a PostgreSQL connection's socket belongs to that
    /// runtime's I/O driver, so [`Store::run`] carries work there from the web threads.
    home: tokio::runtime::Handle,
}

impl Store {
    /// Opens (creating when needed) the database and brings its schema up to date. Call it on
    /// the runtime that outlives every user of the store.
    pub async fn open(location: &Location) -> StoreResult<Store> {
        if let Location::Sqlite(path) = location {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::Unavailable(format!("{}: {e}", dir.display())))?;
            }
        }
        let pools = db::connect(location).await?;
        migrate::run(&pools).await?;
        let (tx, _rx) = watch::channel(0u64);
        let store = Store {
            pools,
            location: location.clone(),
            changes: Arc::new(tx),
            instance: uuid::Uuid::new_v4(),
            seen_revision: Arc::new(AtomicI64::new(0)),
            history_keep: Arc::new(AtomicU64::new(
                crate::domain::history::HistoryRetention::default().max_versions,
            )),
            home: tokio::runtime::Handle::current(),
        };
        store
            .seen_revision
            .store(store.config_revision().await?, Ordering::Relaxed);
        store.ensure_default_group().await?;
        store.start_history().await?;
        Ok(store)
    }

    /// Opens an SQLite file (tests and tools).
    pub async fn open_file(path: &std::path::Path) -> StoreResult<Store> {
        Store::open(&Location::Sqlite(path.to_path_buf())).await
    }

    pub fn backend(&self) -> Backend {
        self.pools.backend
    }

    /// Runs `f` for a caller on another runtime (the web threads). PostgreSQL connections
    /// belong to the runtime they were opened on, so the work moves to the store's home runtime;
    /// SQLite connections run on threads of their own, so the work stays where it is (a hop
    /// would only queue every console request behind the one background thread).
    pub async fn run<T, E, F, Fut>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(Store) -> Fut,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let fut = f(self.clone());
        if self.backend() == Backend::Sqlite {
            return fut.await;
        }
        // The request's change source goes along, so a commit there is attributed to it.
        self.home
            .spawn(history::carry(fut))
            .await
            .map_err(|e| E::from(StoreError::Task(e.to_string())))?
    }

    /// A write transaction. Commit it with [`Store::commit`] when it changed what the gateway
    /// serves, so followers rebuild their snapshots.
    pub async fn begin(&self) -> StoreResult<Tx> {
        // SQLite takes the write lock at `BEGIN IMMEDIATE`, where the busy timeout waits for
        // another process's writer. A deferred transaction that read first could not wait when
        // it came to write: a `gatehouse config import` beside a running server failed with
        // "database is locked" whenever the server had written in between.
        Ok(match self.backend() {
            Backend::Sqlite => self.pools.write.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pools.write.begin().await?,
        })
    }

    /// Commits a change to `group`'s gateway configuration: the configuration revision goes up
    /// in the same transaction, the group's new configuration is recorded as a version of its
    /// history (attributed to the current [`history::current_source`]), and, on PostgreSQL, a
    /// notification to the other control planes is sent when it commits; then this process's
    /// followers rebuild.
    pub async fn commit(&self, tx: Tx, group: Uuid) -> StoreResult<()> {
        self.commit_groups(tx, &[group]).await.map(|_| ())
    }

    /// [`Store::commit`] returning the version recorded (none when the group's configuration
    /// came out as it was).
    pub async fn commit_versioned(&self, tx: Tx, group: Uuid) -> StoreResult<Option<u64>> {
        Ok(self
            .commit_groups(tx, &[group])
            .await?
            .into_iter()
            .next()
            .flatten())
    }

    /// [`Store::commit`] for a change that touched several groups (or, with none, only
    /// configuration that is no group's: a deleted group).
    pub async fn commit_groups(
        &self,
        mut tx: Tx,
        groups: &[Uuid],
    ) -> StoreResult<Vec<Option<u64>>> {
        // The revision row's lock also orders concurrent commits, so each one below reads the
        // configuration as the commits before it left it.
        let revision: i64 = sqlx::query_scalar(
            "UPDATE config_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision",
        )
        .fetch_one(&mut *tx)
        .await?;
        let source = history::current_source();
        let keep = self.history_keep.load(Ordering::Relaxed);
        let mut recorded = Vec::with_capacity(groups.len());
        for g in groups {
            recorded.push(history::record(&mut tx, *g, revision, &source, keep).await?);
        }
        if self.backend() == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(watch_changes::CHANNEL)
                .bind(self.instance.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.seen_revision.fetch_max(revision, Ordering::Relaxed);
        self.config_changed();
        Ok(recorded)
    }

    /// How many configuration versions each group keeps from now on (at least one).
    pub fn set_history_max_versions(&self, keep: u64) {
        self.history_keep.store(keep.max(1), Ordering::Relaxed);
    }

    /// The configuration revision as committed in the database.
    pub async fn config_revision(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT revision FROM config_revision WHERE id = 1")
                .fetch_one(self.read())
                .await?,
        )
    }

    fn read(&self) -> &sqlx::AnyPool {
        &self.pools.read
    }

    fn write_pool(&self) -> &sqlx::AnyPool {
        &self.pools.write
    }

    /// Subscribes to configuration changes; the value increases after every committed change
    /// that affects what the gateway serves.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn config_changed(&self) {
        self.changes.send_modify(|v| *v += 1);
    }

    /// Closes the pools, waiting for connections in use to come back.
    pub async fn close(&self) {
        self.pools.write.close().await;
        self.pools.read.close().await;
    }
}
