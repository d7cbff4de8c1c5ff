//! Writing a runtime group's whole configuration back: the group's entities become exactly the
//! given ones, with their ids, creation times and order (a restored version hashes as it did).

use uuid::Uuid;

use super::super::db::Conn;
use super::super::{StoreError, StoreResult};
use super::{insert_row, StoredRow};
use crate::domain::kinds::KindVisitor;
use crate::domain::{Entity, GatewayConfig};

/// Every entity of a configuration as the `entities` table keeps it, in the registry's order.
struct Rows(Result<Vec<StoredRow>, StoreError>);

impl KindVisitor for Rows {
    fn visit<T: Entity>(&mut self, items: &[T]) {
        let Ok(rows) = &mut self.0 else { return };
        for e in items {
            match StoredRow::of(e) {
                Ok(r) => rows.push(r),
                Err(err) => {
                    self.0 = Err(err);
                    return;
                }
            }
        }
    }
}

/// Replaces `group`'s gateway configuration with `cfg` inside the caller's transaction: every
/// entity of the group goes, `cfg`'s come back with their ids, and the catalog versions link
/// to the gateway services `cfg` links them to (versions deleted since stay deleted).
pub async fn replace_gateway_config(
    conn: &mut Conn,
    group: Uuid,
    cfg: &GatewayConfig,
) -> StoreResult<()> {
    let g = group.to_string();
    // Routes first (nothing may refer to a service being deleted), then owned entities, then
    // the rest; owners' children go with them by cascade.
    for sql in [
        "DELETE FROM entities WHERE runtime_group_id = $1 AND ref_id IS NOT NULL",
        "DELETE FROM entities WHERE runtime_group_id = $1 AND parent_id IS NOT NULL",
        "DELETE FROM entities WHERE runtime_group_id = $1",
    ] {
        sqlx::query(sql).bind(&g).execute(&mut *conn).await?;
    }
    // Rows take increasing `seq` in the configuration's order, so entities created in the
    // same second list (and hash) in the order they had.
    let mut rows = Rows(Ok(Vec::new()));
    cfg.visit(&mut rows);
    for row in rows.0? {
        insert_row(conn, group, &row).await?;
    }
    for (service, version) in &cfg.version_links {
        sqlx::query(
            "UPDATE service_versions SET gateway_service_id = $1 WHERE id = $2 AND runtime_group_id = $3",
        )
        .bind(service.to_string())
        .bind(version.to_string())
        .bind(&g)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
