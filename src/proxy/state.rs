//! The proxy's shared state: the compiled configuration being served (swapped atomically, so a
//! request keeps the one it started with) and the request recorder.

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::config::CompiledConfig;
use crate::snapshot::ConfigSnapshot;
use crate::telemetry::Recorder;

/// Shared proxy state: the configuration being served (swapped atomically) and the recorder.
pub struct Proxy {
    config: ArcSwap<CompiledConfig>,
    pub recorder: Recorder,
}

impl Proxy {
    pub fn new(initial: &ConfigSnapshot, recorder: Recorder) -> Arc<Proxy> {
        Arc::new(Proxy {
            config: ArcSwap::from_pointee(CompiledConfig::compile(initial, None)),
            recorder,
        })
    }

    pub fn current(&self) -> Arc<CompiledConfig> {
        self.config.load_full()
    }

    /// Compiles and swaps in a new snapshot; requests already running keep the one they loaded.
    pub fn apply(&self, snap: &ConfigSnapshot) {
        let previous = self.config.load();
        if previous.hash == snap.hash && previous.version != 0 {
            return;
        }
        let next = CompiledConfig::compile(snap, Some(&previous));
        tracing::info!(config.version = snap.version, config.hash = %snap.hash, routes = snap.routes.len(), "proxy configuration applied");
        self.config.store(Arc::new(next));
        // Building `next` (and whatever write led to it) freed far more than it kept.
        crate::memory::release_soon();
    }
}
