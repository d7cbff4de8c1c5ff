//! Kong's request-size-limiting schema: the allowed payload size in a unit, and whether a
//! Content-Length is required.

use super::{Default, Field, Group, Schema, INTEGER};

pub const SCHEMA: Schema = Schema {
    name: "request-size-limiting",
    group: Group::TrafficControl,
    summary: "Refuse requests whose body is larger than a configured size.",
    fields: &[
        Field::new("allowed_payload_size", INTEGER)
            .default(Default::Int(128))
            .help("Allowed request payload size, in size_unit."),
        Field::one_of(
            "size_unit",
            "megabytes",
            &["megabytes", "kilobytes", "bytes"],
        ),
        Field::boolean("require_content_length", false)
            .help("Refuse requests without a valid Content-Length (chunked bodies excepted)."),
    ],
    consumer_allowed: true,
    checks: &[],
};

#[cfg(test)]
mod tests {
    use serde_json::{json, Map};

    #[test]
    fn defaults_like_kong() {
        let filled = super::SCHEMA.fill(&Map::new()).expect("defaults");
        assert_eq!(filled["allowed_payload_size"], 128);
        assert_eq!(filled["size_unit"], "megabytes");
        assert_eq!(filled["require_content_length"], false);
        let mut bad = Map::new();
        bad.insert("size_unit".into(), json!("gigabytes"));
        let errors = super::SCHEMA.fill(&bad).expect_err("invalid");
        assert_eq!(errors[0].1, "expected one of: megabytes, kilobytes, bytes");
    }
}
