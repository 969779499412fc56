//! Who this node is among several, and who leads (`GET /cronhook/v1/cluster`).

use super::{Service, ServiceResult};
use crate::store::cluster::NodeRow;

/// This node's place in the cluster.
#[derive(Debug, Clone)]
pub struct ClusterView {
    /// This node's id; `None` on SQLite (one node, no election).
    pub node: Option<String>,
    /// Whether this node runs the engine now (always on SQLite).
    pub leader: bool,
    /// Every node of the election, oldest first; empty on SQLite.
    pub nodes: Vec<NodeRow>,
}

impl Service {
    /// This node, whether it leads, and the node list as stored.
    pub async fn cluster(&self) -> ServiceResult<ClusterView> {
        let nodes = self.store.cluster_nodes().await?;
        Ok(ClusterView {
            node: self.settings.node.clone(),
            leader: self.engine.running(),
            nodes,
        })
    }
}
