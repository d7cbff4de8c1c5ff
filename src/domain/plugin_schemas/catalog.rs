//! Every plugin this build runs, grouped as Konnect's catalogue groups them.

use serde_json::{Map, Value};

use super::Schema;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Authentication,
    Security,
    TrafficControl,
    Transformations,
    Logging,
    Analytics,
}

impl Group {
    pub const ALL: [Group; 6] = [
        Group::Authentication,
        Group::Security,
        Group::TrafficControl,
        Group::Transformations,
        Group::Logging,
        Group::Analytics,
    ];
    pub fn label(self) -> &'static str {
        match self {
            Group::Authentication => "Authentication",
            Group::Security => "Security",
            Group::TrafficControl => "Traffic Control",
            Group::Transformations => "Transformations",
            Group::Logging => "Logging",
            Group::Analytics => "Analytics & Monitoring",
        }
    }
}

pub const ALL: &[&Schema] = &[
    &super::key_auth::SCHEMA,
    &super::prometheus::SCHEMA,
    &super::proxy_cache::SCHEMA,
    &super::basic_auth::SCHEMA,
    &super::acl::SCHEMA,
    &super::jwt::SCHEMA,
    &super::ip_restriction::SCHEMA,
    &super::request_size_limiting::SCHEMA,
    &super::rate_limiting::SCHEMA,
    &super::correlation_id::SCHEMA,
    &super::cors::SCHEMA,
    &super::transformers::REQUEST,
    &super::transformers::RESPONSE,
    &super::logs::FILE_LOG,
    &super::logs::HTTP_LOG,
];

/// Rewrites a plugin's deprecated config spellings (Kong's `shorthand_fields`) into the
/// fields they stand for, before the config is checked.
pub fn expand_shorthands(name: &str, given: &mut Map<String, Value>) {
    if name == "rate-limiting" {
        super::rate_limiting::expand_shorthands(given);
    }
}

pub fn schema(name: &str) -> Option<&'static Schema> {
    ALL.iter().copied().find(|s| s.name == name)
}
