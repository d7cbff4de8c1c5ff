//! The gateway: a hyper server that matches requests against the current compiled configuration
//! and forwards them upstream. It must not import the store, the console, the Admin API, sqlx or
//! actix: configuration arrives as snapshots, and records leave through the telemetry channel.

mod answers;
pub mod balancer;
mod body;
mod buf;
mod config;
mod dispatch;
mod fast;
mod forward;
mod headers;
mod health;
pub mod paths;
mod pipeline;
mod pool;
pub mod router;
mod server;
mod service;
mod spread;
mod state;
mod strict;
mod timeout_io;
pub mod tls;

pub use config::{CompiledConfig, HealthState, TargetHealthView};
pub use health::run_active_checks;
pub use server::{serve, spawn_worker, spawn_workers};
pub use state::Proxy;
