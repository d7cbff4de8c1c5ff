//! Kong's jwt configuration.

use serde_json::{Map, Value};

use super::{Default, Field, Group, Schema, Ty, STRING};

const STRING_SET: Ty = Ty::Array {
    of: &STRING,
    set: true,
};

pub const SCHEMA: Schema = Schema {
    name: "jwt",
    group: Group::Authentication,
    summary: "Require a JSON Web Token signed with a consumer's jwt credential.",
    fields: &[
        Field::new("uri_param_names", STRING_SET)
            .default(Default::Strs(&["jwt"]))
            .help("Query arguments a token may arrive in."),
        Field::new("cookie_names", STRING_SET)
            .default(Default::Strs(&[]))
            .help("Cookies a token may arrive in."),
        Field::new("key_claim_name", STRING)
            .default(Default::Str("iss"))
            .help("The claim (or header field) naming the credential's key."),
        Field::boolean("secret_is_base64", false)
            .help("The credentials' HMAC secrets are base64url-encoded."),
        Field::new(
            "claims_to_verify",
            Ty::Array {
                of: &Ty::String {
                    one_of: &["exp", "nbf"],
                    check: None,
                },
                set: true,
            },
        )
        .help("Registered claims to check: exp, nbf."),
        Field::new("anonymous", STRING)
            .help("Consumer (id or username) to use when authentication fails."),
        Field::boolean("run_on_preflight", true),
        Field::new(
            "maximum_expiration",
            Ty::Number {
                between: Some((0.0, 31_536_000.0)),
            },
        )
        .default(Default::Num(0.0))
        .help("Refuse tokens whose exp is further away than this many seconds (0: no limit)."),
        Field::new("header_names", STRING_SET)
            .default(Default::Strs(&["authorization"]))
            .help("Headers a token may arrive in (as `Bearer <token>`)."),
        Field::new("realm", STRING).help("Realm in the WWW-Authenticate header."),
    ],
    consumer_allowed: false,
    checks: &[maximum_expiration_needs_exp],
};

/// Kong's conditional check: a maximum expiration is only enforced on tokens whose `exp` is
/// verified.
fn maximum_expiration_needs_exp(config: &Map<String, Value>) -> Vec<(String, String)> {
    let limited = config
        .get("maximum_expiration")
        .and_then(Value::as_f64)
        .is_some_and(|m| m > 0.0);
    let verifies_exp = config
        .get("claims_to_verify")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|c| c == "exp"));
    if !limited || verifies_exp {
        return Vec::new();
    }
    vec![
        ("claims_to_verify".into(), "expected to contain: exp".into()),
        (
            "@entity".into(),
            "failed conditional validation given value of field 'config.maximum_expiration'".into(),
        ),
    ]
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
    fn jwt_defaults_and_checks_match_kong() {
        let d = fill(json!({})).expect("defaults");
        assert_eq!(d["uri_param_names"], json!(["jwt"]));
        assert_eq!(d["cookie_names"], json!([]));
        assert_eq!(d["header_names"], json!(["authorization"]));
        assert_eq!(d["key_claim_name"], "iss");
        assert_eq!(d["claims_to_verify"], Value::Null);
        assert_eq!(d["run_on_preflight"], true);
        fill(json!({ "maximum_expiration": 60, "claims_to_verify": ["exp"] })).expect("valid");
        let e = fill(json!({ "maximum_expiration": -1 })).expect_err("negative");
        assert_eq!(
            e[0],
            (
                "maximum_expiration".into(),
                "value should be between 0 and 31536000".into()
            )
        );
        let e = fill(json!({ "maximum_expiration": 60 })).expect_err("no exp");
        assert_eq!(
            e[0],
            ("claims_to_verify".into(), "expected to contain: exp".into())
        );
        let e = fill(json!({ "claims_to_verify": ["iat"] })).expect_err("one_of");
        assert!(e[0].0.starts_with("claims_to_verify"), "{e:?}");
    }
}
