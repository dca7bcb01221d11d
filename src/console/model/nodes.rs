//! The broker's nodes and since when each is up or down, from the management API's node list:
//! a cluster's loss of a node, and its return, are shown with how long ago they happened.

use chrono::{DateTime, Utc};

use crate::console::event::NodeStat;
use crate::protocol::sanitize;

/// More nodes than any cluster has: a hostile or broken answer cannot grow the model.
pub const NODES_CAP: usize = 64;
const NAME_MAX: usize = 80;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeHealth {
    pub name: String,
    pub running: bool,
    /// When `running` last changed (or the node was first seen).
    pub since: DateTime<Utc>,
}

impl NodeHealth {
    /// The node's name without its host (`rabbit@mq1` → `rabbit`), for the header.
    pub fn short(&self) -> &str {
        self.name.split('@').next().unwrap_or(&self.name)
    }
}

/// The overview's node and cluster names, made inert and short enough for the header; `None`
/// when the node has no name.
pub fn named(node: &str, cluster: &str) -> Option<(String, String)> {
    let clean = |s: &str| sanitize::cap(&sanitize::line(s), NAME_MAX);
    let node = clean(node);
    (!node.is_empty()).then(|| (node, clean(cluster)))
}

/// Replace the list with `stats`, keeping each known node's `since` unless its state changed.
pub fn update(nodes: &mut Vec<NodeHealth>, stats: Vec<NodeStat>, received: DateTime<Utc>) {
    let next: Vec<NodeHealth> = stats
        .into_iter()
        .take(NODES_CAP)
        .map(|s| {
            let name = sanitize::cap(&sanitize::line(&s.name), NAME_MAX);
            let since = nodes
                .iter()
                .find(|n| n.name == name && n.running == s.running)
                .map_or(received, |n| n.since);
            NodeHealth {
                name,
                running: s.running,
                since,
            }
        })
        .collect();
    *nodes = next;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(name: &str, running: bool) -> NodeStat {
        NodeStat {
            name: name.into(),
            running,
        }
    }

    #[test]
    fn a_node_keeps_its_since_until_its_state_changes_and_the_list_is_capped() {
        let t0 = DateTime::<Utc>::from_timestamp(1_000, 0).unwrap_or_default();
        let t1 = DateTime::<Utc>::from_timestamp(1_010, 0).unwrap_or_default();
        let mut nodes = Vec::new();
        update(&mut nodes, vec![stat("a@h", true), stat("b@h", true)], t0);
        update(&mut nodes, vec![stat("a@h", true), stat("b@h", false)], t1);
        assert_eq!(nodes[0].since, t0);
        assert_eq!((nodes[1].running, nodes[1].since), (false, t1));
        assert_eq!(nodes[1].short(), "b");
        let flood: Vec<NodeStat> = (0..10_000)
            .map(|i| stat(&format!("n{i}\x1b[2J"), true))
            .collect();
        update(&mut nodes, flood, t1);
        assert_eq!(nodes.len(), NODES_CAP);
        assert!(!nodes[0].name.contains('\x1b'));
    }
}
