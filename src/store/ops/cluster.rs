//! The node list, for the API (`GET /cronhook/v1/cluster`): who is up on
//! this database and who leads. SQLite has one node and no list.

use crate::store::cluster::{NodeRow, NODES_SQL};
use crate::store::db::Dialect;
use crate::store::{Store, StoreError};

impl Store {
    /// Every node that took part in the election, oldest first, with
    /// whether it holds the lease now; empty on SQLite.
    pub async fn cluster_nodes(&self) -> Result<Vec<NodeRow>, StoreError> {
        self.read_api(|conn| {
            if conn.dialect() == Dialect::Sqlite {
                return Ok(Vec::new());
            }
            let rows = conn
                .prepare_cached(NODES_SQL)?
                .query_map([], |r| {
                    Ok(NodeRow {
                        node: r.get(0)?,
                        url: r.get(1)?,
                        started_at: r.get(2)?,
                        seen_at: r.get(3)?,
                        leader: r.get(4)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }
}
