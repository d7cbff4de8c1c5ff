//! Embedded migrations, one set per backend, applied in order at start and recorded in
//! `schema_migrations`. On PostgreSQL the whole run holds an advisory lock, so control planes
//! starting together on one database take turns instead of racing; DDL there is transactional,
//! so a failed migration leaves nothing behind.

use sqlx::{Connection, Executor};

use super::db::{Backend, Pools};
use super::{StoreError, StoreResult};

const SQLITE: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_init.sql"),
    include_str!("../../migrations/sqlite/0002_entities.sql"),
    include_str!("../../migrations/sqlite/0003_record_blocks.sql"),
    include_str!("../../migrations/sqlite/0004_cluster.sql"),
    include_str!("../../migrations/sqlite/0005_analytics.sql"),
    include_str!("../../migrations/sqlite/0006_rollup_keys.sql"),
    include_str!("../../migrations/sqlite/0007_portable.sql"),
    include_str!("../../migrations/sqlite/0008_config_revision.sql"),
    include_str!("../../migrations/sqlite/0009_one_entity_table.sql"),
    include_str!("../../migrations/sqlite/0010_console_sessions.sql"),
    include_str!("../../migrations/sqlite/0011_consumer_analytics.sql"),
    include_str!("../../migrations/sqlite/0012_config_versions.sql"),
    include_str!("../../migrations/sqlite/0013_catalog_labels.sql"),
    include_str!("../../migrations/sqlite/0014_config_versions_packed.sql"),
];

const POSTGRES: &[&str] = &[
    include_str!("../../migrations/postgres/0001_init.sql"),
    include_str!("../../migrations/postgres/0002_config_revision.sql"),
    include_str!("../../migrations/postgres/0003_one_entity_table.sql"),
    include_str!("../../migrations/postgres/0004_console_sessions.sql"),
    include_str!("../../migrations/postgres/0005_consumer_analytics.sql"),
    include_str!("../../migrations/postgres/0006_config_versions.sql"),
    include_str!("../../migrations/postgres/0007_catalog_labels.sql"),
    include_str!("../../migrations/postgres/0008_config_versions_packed.sql"),
];

/// Any number: it only has to be the same in every Gatehouse process.
const PG_LOCK_KEY: i64 = 0x6761_7465_686f;

pub async fn run(pools: &Pools) -> StoreResult<()> {
    let mut conn = pools.write.acquire().await?;
    let set = match pools.backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    };
    if pools.backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(PG_LOCK_KEY)
            .execute(&mut *conn)
            .await?;
    }
    let result = apply(&mut conn, pools.backend, set).await;
    if pools.backend == Backend::Postgres {
        // Released with the session too; unlocking here lets a waiting process go on at once.
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(PG_LOCK_KEY)
            .execute(&mut *conn)
            .await;
    }
    result
}

async fn apply(conn: &mut sqlx::AnyConnection, backend: Backend, set: &[&str]) -> StoreResult<()> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .await?;
    let mut current: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM schema_migrations",
    )
    .fetch_one(&mut *conn)
    .await?;
    if current == 0 && backend == Backend::Sqlite {
        // Databases made before the move to sqlx counted their migrations in user_version.
        let legacy: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&mut *conn)
            .await?;
        for v in 1..=legacy {
            record(conn, v).await?;
        }
        current = legacy;
    }
    if current > set.len() as i64 {
        return Err(StoreError::Schema(format!(
            "the database is at schema version {current}, newer than this Gatehouse knows ({}); run a newer release",
            set.len()
        )));
    }
    for (i, sql) in set.iter().enumerate().skip(current.max(0) as usize) {
        let version = i as i64 + 1;
        let mut tx = conn.begin().await?;
        tx.execute(*sql)
            .await
            .map_err(|e| StoreError::Schema(format!("applying migration {version} failed: {e}")))?;
        record(&mut tx, version).await?;
        tx.commit().await?;
        tracing::info!(schema.version = version, "applied database migration");
    }
    Ok(())
}

async fn record(conn: &mut sqlx::AnyConnection, version: i64) -> StoreResult<()> {
    sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
        .bind(version)
        .bind(crate::domain::now_secs())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::db::{connect, Location};

    #[tokio::test]
    async fn rollups_survive_the_group_key_migration() -> StoreResult<()> {
        let dir = std::env::temp_dir().join(format!("gatehouse-mig-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let pools = connect(&Location::Sqlite(dir.join("m.db"))).await?;
        let mut conn = pools.write.acquire().await?;
        apply(&mut conn, Backend::Sqlite, &SQLITE[..5]).await?;
        conn.execute(
            "INSERT INTO request_rollups (minute, runtime_group_id, service_id, route_id, version_id, status, count, latency_ms_sum) VALUES (1, 'g', 's', 'r', 'v', 200, 3, 9)",
        )
        .await?;
        apply(&mut conn, Backend::Sqlite, SQLITE).await?;
        let (count, sum): (i64, i64) = sqlx::query_as(
            "SELECT count, latency_ms_sum FROM request_rollups WHERE runtime_group_id = 'g'",
        )
        .fetch_one(&mut *conn)
        .await?;
        assert_eq!((count, sum), (3, 9));
        let version: i64 = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
            .fetch_one(&mut *conn)
            .await?;
        assert_eq!(version, SQLITE.len() as i64);
        let _ = std::fs::remove_dir_all(dir);
        Ok(())
    }

    #[tokio::test]
    async fn services_and_routes_move_into_the_entity_table() -> StoreResult<()> {
        let dir = std::env::temp_dir().join(format!("gatehouse-mig-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let pools = connect(&Location::Sqlite(dir.join("m.db"))).await?;
        let mut conn = pools.write.acquire().await?;
        apply(&mut conn, Backend::Sqlite, &SQLITE[..8]).await?;
        conn.execute(
            "INSERT INTO runtime_groups (id, name, is_default, created_at, updated_at) VALUES ('g', 'default', 1, 1, 1);
             INSERT INTO gateway_services (id, runtime_group_id, name, created_at, body, seq, tags) VALUES ('s', 'g', 'svc', 1, '{}', 1, ',a,');
             INSERT INTO routes (id, runtime_group_id, name, service_id, created_at, body, seq, tags) VALUES ('r', 'g', 'rt', 's', 2, '{}', 2, '');
             INSERT INTO catalog_services (id, name, display_name, created_at, updated_at) VALUES ('c', 'cat', 'Cat', 1, 1);
             INSERT INTO service_versions (id, service_id, name, runtime_group_id, gateway_service_id, created_at, updated_at) VALUES ('v', 'c', 'v1', 'g', 's', 1, 1);",
        )
        .await?;
        apply(&mut conn, Backend::Sqlite, SQLITE).await?;
        let rows: Vec<(String, String, Option<String>, String)> =
            sqlx::query_as("SELECT id, kind, ref_id, tags FROM entities ORDER BY seq")
                .fetch_all(&mut *conn)
                .await?;
        assert_eq!(
            rows,
            vec![
                ("s".into(), "services".into(), None, ",a,".into()),
                ("r".into(), "routes".into(), Some("s".into()), String::new()),
            ]
        );
        // The route still holds its service, and the version still links to it.
        let refused = conn.execute("DELETE FROM entities WHERE id = 's'").await;
        assert!(refused.is_err(), "a service with routes cannot go");
        conn.execute("DELETE FROM entities WHERE id = 'r'; DELETE FROM entities WHERE id = 's'")
            .await?;
        let link: Option<String> =
            sqlx::query_scalar("SELECT gateway_service_id FROM service_versions WHERE id = 'v'")
                .fetch_one(&mut *conn)
                .await?;
        assert_eq!(link, None, "deleting the service unlinks the version");
        let _ = std::fs::remove_dir_all(dir);
        Ok(())
    }
}
