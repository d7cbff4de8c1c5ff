//! Gatehouse: a service hub and Kong-compatible API gateway in one binary.

pub mod admin_api;
pub mod app;
pub mod cluster;
pub mod console;
pub mod domain;
pub mod echo;
pub mod memory;
pub mod multipart;
pub mod plugins;
pub mod proxy;
pub mod security;
pub mod service;
pub mod settings;
pub mod snapshot;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod web_error;
