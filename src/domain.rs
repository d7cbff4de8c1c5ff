//! Entities and Kong's rules for them: names, defaults, validation. No I/O and no HTTP here; the
//! console and the Admin API both convert their input into these types and get field errors back.

pub mod catalog;
pub mod certificate;
pub mod config_diff;
pub mod consumer;
pub mod credentials;
pub mod declarative;
pub mod entity;
pub mod errors;
pub mod fields;
pub mod gateway_service;
pub mod history;
pub mod jwt_secret;
pub mod kinds;
pub mod labels;
pub mod names;
pub mod plugin;
pub mod plugin_schemas;
pub mod route;
pub mod runtime;
pub mod target;
pub mod upstream;

pub use certificate::{CaCertificate, Certificate, Sni};
pub use consumer::{Consumer, KeyAuthCredential};
pub use credentials::{Acl, BasicAuthCredential};
pub use entity::Entity;
pub use errors::FieldErrors;
pub use gateway_service::GatewayService;
pub use jwt_secret::JwtSecret;
pub use kinds::GatewayConfig;
pub use plugin::Plugin;
pub use route::Route;
pub use target::Target;
pub use upstream::Upstream;

/// Seconds since the Unix epoch, UTC; Kong's `created_at` / `updated_at` unit.
pub fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
