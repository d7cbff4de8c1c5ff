//! Embedded migrations, applied in order and tracked with `PRAGMA user_version`.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_init.sql"),
    include_str!("../../migrations/0002_entities.sql"),
    include_str!("../../migrations/0003_record_blocks.sql"),
    include_str!("../../migrations/0004_cluster.sql"),
    include_str!("../../migrations/0005_analytics.sql"),
    include_str!("../../migrations/0006_rollup_keys.sql"),
];

pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollups_survive_the_group_key_migration() -> rusqlite::Result<()> {
        let mut conn = Connection::open_in_memory()?;
        for (i, sql) in MIGRATIONS.iter().enumerate().take(5) {
            conn.execute_batch(sql)?;
            conn.pragma_update(None, "user_version", (i + 1) as i64)?;
        }
        conn.execute(
            "INSERT INTO request_rollups (minute, runtime_group_id, service_id, route_id, version_id, status, count, latency_ms_sum) VALUES (1, 'g', 's', 'r', 'v', 200, 3, 9)",
            [],
        )?;
        migrate(&mut conn)?;
        let (count, sum): (i64, i64) = conn.query_row(
            "SELECT count, latency_ms_sum FROM request_rollups WHERE runtime_group_id = 'g'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        assert_eq!((count, sum), (3, 9));
        Ok(())
    }
}
