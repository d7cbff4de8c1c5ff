//! The gateway: a hyper server that matches requests against the current compiled configuration
//! and forwards them upstream. It must not import the store, the console, the Admin API, sqlx or
//! actix: configuration arrives as snapshots, and records leave through the telemetry channel.

mod body;
mod config;
mod forward;
mod headers;
pub mod paths;
mod pool;
pub mod router;
mod server;
mod timeout_io;

pub use config::CompiledConfig;
pub use server::{serve, spawn_worker, Proxy};
