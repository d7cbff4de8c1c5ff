//! Control plane and data planes: the cluster listener that pushes each runtime group's snapshot
//! to the nodes following it, and the client a node follows it with. Starting either process
//! is `app`'s business.

pub mod control;
pub mod hub;
pub mod node;
pub mod pki;
pub mod spool;
pub mod wire;

pub use control::ControlPlane;
pub use hub::SnapshotHub;
pub use node::NodeOptions;
pub use pki::{CaPin, ClusterCa};

/// What the console shows people who add a node: where to dial and which CA to trust.
#[derive(Debug, Clone)]
pub struct ClusterInfo {
    pub url: String,
    pub ca_fingerprint: String,
    pub ca_pem: String,
}
