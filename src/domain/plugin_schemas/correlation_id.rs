//! Kong's correlation-id schema.

use super::{Default, Field, Group, Schema, STRING};

pub const SCHEMA: Schema = Schema {
    name: "correlation-id",
    group: Group::Transformations,
    summary: "Tag every request with a unique id in a header, upstream and (optionally) back.",
    fields: &[
        Field::new("header_name", STRING)
            .default(Default::Str("Kong-Request-ID"))
            .help("The header carrying the id."),
        Field::one_of(
            "generator",
            "uuid#counter",
            &["uuid", "uuid#counter", "tracker"],
        )
        .help("How ids are made."),
        Field::boolean("echo_downstream", false).help("Send the id back to the client too."),
    ],
    consumer_allowed: true,
    checks: &[],
};

#[cfg(test)]
mod tests {
    use serde_json::{json, Map};

    #[test]
    fn correlation_id_defaults_match_kong() {
        let filled = super::SCHEMA.fill(&Map::new()).expect("defaults");
        assert_eq!(filled["header_name"], "Kong-Request-ID");
        assert_eq!(filled["generator"], "uuid#counter");
        assert_eq!(filled["echo_downstream"], false);
        let mut bad = Map::new();
        bad.insert("generator".into(), json!("random"));
        assert!(super::SCHEMA.fill(&bad).is_err());
    }
}
