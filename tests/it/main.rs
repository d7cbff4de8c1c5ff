//! Integration tests: the real process pieces on ephemeral loopback ports with a fresh SQLite
//! file each, driven over real HTTP. Modules mirror the surfaces they test.

mod admin_api;
mod analytics;
mod architecture;
mod backend;
mod browser;
mod cluster;
mod conformance;
mod console;
mod console_http;
mod console_origin;
mod console_plugins;
mod console_runtime;
mod console_upstreams;
mod csp;
mod declarative;
mod helpers;
mod history;
mod lifecycle;
mod logs;
mod metrics;
mod paths;
mod plugins;
mod plugins_auth;
mod plugins_cache;
mod plugins_traffic;
mod plugins_transform;
mod procs;
mod protocols;
mod proxy;
mod scale_out;
mod secrets_at_rest;
mod sessions;
mod strict;
mod telemetry_stop;
mod upstreams;
