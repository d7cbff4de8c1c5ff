use super::{header_name, Default, Field, Group, Schema, Ty, STRING};

pub const SCHEMA: Schema = Schema {
    name: "key-auth",
    group: Group::Authentication,
    summary: "Require an API key, sent in a header or query argument, that belongs to a consumer.",
    fields: &[
        Field::new(
            "key_names",
            Ty::Array {
                of: &Ty::String {
                    one_of: &[],
                    check: Some(header_name),
                },
                set: false,
            },
        )
        .default(Default::Strs(&["apikey"]))
        .required()
        .help("Header or query argument names the key may arrive in."),
        Field::boolean("hide_credentials", false)
            .help("Remove the key from the request before it goes upstream."),
        Field::new("anonymous", STRING)
            .help("Consumer (id or username) to use when authentication fails."),
        Field::boolean("key_in_header", true),
        Field::boolean("key_in_query", true),
        Field::boolean("key_in_body", false),
        Field::boolean("run_on_preflight", true),
        Field::new("realm", STRING).help("Realm in the WWW-Authenticate header."),
    ],
    consumer_allowed: false,
    checks: &[],
};

#[cfg(test)]
mod tests {
    use serde_json::{json, Map, Value};

    #[test]
    fn key_auth_defaults_and_errors_match_kong() {
        let filled = super::SCHEMA.fill(&Map::new()).expect("defaults");
        assert_eq!(filled["key_names"], json!(["apikey"]));
        assert_eq!(filled["hide_credentials"], false);
        assert_eq!(filled["run_on_preflight"], true);
        assert_eq!(filled["anonymous"], Value::Null);
        let mut bad = Map::new();
        bad.insert("key_names".into(), json!(["api key"]));
        bad.insert("hide_credentials".into(), json!("yes"));
        bad.insert("nope".into(), json!(1));
        let errors = super::SCHEMA.fill(&bad).expect_err("invalid");
        let names: Vec<&str> = errors.iter().map(|(k, _)| k.as_str()).collect();
        assert!(
            names.contains(&"key_names")
                && names.contains(&"hide_credentials")
                && names.contains(&"nope"),
            "{errors:?}"
        );
    }
}
