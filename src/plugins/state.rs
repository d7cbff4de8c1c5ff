//! State a plugin keeps across configuration changes (rate-limit counters, the response
//! cache, log queues): one value per key for the life of the proxy, so a new snapshot does
//! not reset a limit or drop a queue.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct Runtime {
    items: Mutex<HashMap<String, Arc<dyn Any + Send + Sync>>>,
}

impl Runtime {
    /// The value kept under `key`, made on first use. Called when a snapshot compiles,
    /// never per request.
    pub fn get<T: Any + Send + Sync>(&self, key: &str, make: impl FnOnce() -> T) -> Arc<T> {
        let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = items.get(key).and_then(|v| v.clone().downcast::<T>().ok()) {
            return v;
        }
        let v = Arc::new(make());
        items.insert(key.to_string(), v.clone());
        v
    }
}
