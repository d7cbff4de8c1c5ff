//! Kong's acl configuration: exactly one of `allow` and `deny`.

use serde_json::{Map, Value};

use super::{at_least_one_of, Field, Group, Schema};

pub const SCHEMA: Schema = Schema {
    name: "acl",
    group: Group::Security,
    summary: "Allow or deny consumers by the ACL groups they belong to.",
    fields: &[
        Field::strings("allow").help("Groups allowed to use the route or service."),
        Field::strings("deny").help("Groups refused."),
        Field::boolean("hide_groups_header", false).help("Do not send X-Consumer-Groups upstream."),
        Field::boolean("always_use_authenticated_groups", false),
    ],
    consumer_allowed: false,
    checks: &[only_one_of_allow_deny, at_least_one_of_allow_deny],
};

fn nonempty(config: &Map<String, Value>, name: &str) -> bool {
    config
        .get(name)
        .is_some_and(|v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
}

/// Kong's `only_one_of`: fails when both are set and, like Kong's, when neither is.
fn only_one_of_allow_deny(config: &Map<String, Value>) -> Vec<(String, String)> {
    if nonempty(config, "allow") != nonempty(config, "deny") {
        return Vec::new();
    }
    vec![(
        "@entity".into(),
        "exactly one of these fields must be non-empty: 'config.allow', 'config.deny'".into(),
    )]
}

fn at_least_one_of_allow_deny(config: &Map<String, Value>) -> Vec<(String, String)> {
    at_least_one_of(config, &["allow", "deny"])
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map, Value};

    fn fill(v: Value) -> Result<Map<String, Value>, Vec<(String, String)>> {
        let Value::Object(m) = v else {
            return Err(Vec::new());
        };
        super::SCHEMA.fill(&m)
    }

    #[test]
    fn exactly_one_of_allow_and_deny() {
        let ok = fill(json!({ "allow": ["admin"] })).expect("allow only");
        assert_eq!(ok["deny"], Value::Null);
        assert_eq!(ok["hide_groups_header"], false);
        fill(json!({ "deny": ["bad"] })).expect("deny only");
        let both = fill(json!({ "allow": ["a"], "deny": ["b"] })).expect_err("both");
        assert_eq!(
            both[0].1,
            "exactly one of these fields must be non-empty: 'config.allow', 'config.deny'"
        );
        let neither = fill(json!({ "allow": [] })).expect_err("neither");
        assert!(neither
            .iter()
            .any(|(_, m)| m.starts_with("at least one of these fields")));
    }
}
