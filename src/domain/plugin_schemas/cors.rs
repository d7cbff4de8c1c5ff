//! Kong's cors schema: origins are `*` or regexes (a flat domain is a regex too), methods from
//! Kong's list, and the flags the handler reads.

use super::{Default, Field, Group, Schema, Ty, NUMBER, STRINGS};

const METHODS: &[&str] = &[
    "GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT",
];

/// Kong's `validate_asterisk_or_regex`.
fn origin(s: &str) -> Result<(), String> {
    if s == "*" || regex::Regex::new(s).is_ok() {
        Ok(())
    } else {
        Err(format!("'{s}' is not a valid regex"))
    }
}

pub const SCHEMA: Schema = Schema {
    name: "cors",
    group: Group::Security,
    summary: "Let browsers call the API from other origins (Cross-Origin Resource Sharing).",
    fields: &[
        Field::new(
            "origins",
            Ty::Array {
                of: &Ty::String {
                    one_of: &[],
                    check: Some(origin),
                },
                set: false,
            },
        )
        .help("Allowed origins: `*`, a domain, or a regex. None set: every origin."),
        Field::new("headers", STRINGS).help("Access-Control-Allow-Headers."),
        Field::new("exposed_headers", STRINGS).help("Access-Control-Expose-Headers."),
        Field::new(
            "methods",
            Ty::Array {
                of: &Ty::String {
                    one_of: METHODS,
                    check: None,
                },
                set: false,
            },
        )
        .default(Default::Strs(METHODS))
        .help("Access-Control-Allow-Methods."),
        Field::new("max_age", NUMBER).help("How long (seconds) a preflight may be cached."),
        Field::boolean("credentials", false).help("Send Access-Control-Allow-Credentials: true."),
        Field::boolean("private_network", false)
            .help("Answer Access-Control-Request-Private-Network preflights."),
        Field::boolean("preflight_continue", false)
            .help("Send preflight requests on to the upstream instead of answering them."),
        Field::boolean("allow_origin_absent", true)
            .help("Add CORS headers to responses to requests without an Origin."),
    ],
    consumer_allowed: false,
    checks: &[],
};

#[cfg(test)]
mod tests {
    use serde_json::{json, Map};

    #[test]
    fn cors_defaults_and_origin_errors_match_kong() {
        let filled = super::SCHEMA.fill(&Map::new()).expect("defaults");
        assert_eq!(filled["methods"].as_array().map(Vec::len), Some(9));
        assert_eq!(filled["allow_origin_absent"], true);
        let mut bad = Map::new();
        bad.insert("origins".into(), json!(["*", "(invalid"]));
        bad.insert("methods".into(), json!(["GET", "FETCH"]));
        let errors = super::SCHEMA.fill(&bad).expect_err("invalid");
        assert!(
            errors
                .iter()
                .any(|(k, m)| k == "origins" && m == "'(invalid' is not a valid regex"),
            "{errors:?}"
        );
        assert!(errors.iter().any(|(k, _)| k == "methods"), "{errors:?}");
    }
}
