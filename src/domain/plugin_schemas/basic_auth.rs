//! Kong's basic-auth configuration (brute-force protection is not part of Kong's open-source
//! schema, so it is not here either).

use super::{Default, Field, Group, Schema, STRING};

pub const SCHEMA: Schema = Schema {
    name: "basic-auth",
    group: Group::Authentication,
    summary: "Require a username and password (HTTP Basic) that belong to a consumer.",
    fields: &[
        Field::new("anonymous", STRING)
            .help("Consumer (id or username) to use when authentication fails."),
        Field::boolean("hide_credentials", false)
            .help("Remove the Authorization header before the request goes upstream."),
        Field::new("realm", STRING)
            .default(Default::Str("service"))
            .required()
            .help("Realm in the WWW-Authenticate header."),
    ],
    consumer_allowed: false,
    checks: &[],
};

#[cfg(test)]
mod tests {
    use serde_json::{json, Map, Value};

    #[test]
    fn basic_auth_defaults_match_kong() {
        let filled = super::SCHEMA.fill(&Map::new()).expect("defaults");
        assert_eq!(filled["realm"], json!("service"));
        assert_eq!(filled["hide_credentials"], false);
        assert_eq!(filled["anonymous"], Value::Null);
    }
}
