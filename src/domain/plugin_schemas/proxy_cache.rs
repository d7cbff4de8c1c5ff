use super::{Default, Field, Group, Schema, Ty, STRING, STRINGS};

const METHOD: Ty = Ty::String {
    one_of: &["HEAD", "GET", "POST", "PATCH", "PUT"],
    check: None,
};
const STATUS: Ty = Ty::Integer {
    between: Some((100, 900)),
};

pub const SCHEMA: Schema = Schema {
    name: "proxy-cache",
    group: Group::TrafficControl,
    summary: "Cache upstream responses in memory, keyed as Kong keys them, with X-Cache-Status.",
    fields: &[
        Field::new(
            "response_code",
            Ty::Array {
                of: &STATUS,
                set: false,
            },
        )
        .default(Default::Ints(&[200, 301, 404]))
        .required()
        .help("Upstream status codes that are cached."),
        Field::new(
            "request_method",
            Ty::Array {
                of: &METHOD,
                set: false,
            },
        )
        .default(Default::Strs(&["GET", "HEAD"]))
        .required(),
        Field::new("content_type", STRINGS)
            .default(Default::Strs(&["text/plain", "application/json"]))
            .required()
            .help("Response content types that are cached."),
        Field::new(
            "cache_ttl",
            Ty::Integer {
                between: Some((1, i64::MAX)),
            },
        )
        .default(Default::Int(300))
        .help("Seconds a cached response is served."),
        Field::one_of("strategy", "memory", &["memory"]),
        Field::boolean("cache_control", false)
            .help("Follow Cache-Control in requests and responses (RFC 7234)."),
        Field::new("ignore_uri_case", Ty::Boolean).default(Default::Bool(false)),
        Field::new(
            "storage_ttl",
            Ty::Integer {
                between: Some((0, i64::MAX)),
            },
        )
        .help("Seconds an entry is kept (defaults to the cache TTL)."),
        Field::new(
            "memory",
            Ty::Record(&[Field::new("dictionary_name", STRING)
                .default(Default::Str("kong_db_cache"))
                .required()]),
        ),
        Field::new("vary_query_params", STRINGS),
        Field::new("vary_headers", STRINGS),
        Field::new(
            "response_headers",
            Ty::Record(&[
                Field::new("age", Ty::Boolean).default(Default::Bool(true)),
                Field::new("X-Cache-Status", Ty::Boolean).default(Default::Bool(true)),
                Field::new("X-Cache-Key", Ty::Boolean).default(Default::Bool(true)),
            ]),
        ),
    ],
    consumer_allowed: true,
    checks: &[],
};
