//! The configuration schemas of the plugins Gatehouse runs, as Kong defines them: field types,
//! defaults, rules and the checks across fields. A plugin's stored config always has every
//! field, defaults filled in (`null` where Kong has no default). The same description drives
//! validation, `/schemas/plugins/{name}` and the console's generated forms. One file per
//! plugin; `catalog.rs` lists them.

mod acl;
mod basic_auth;
mod catalog;
mod correlation_id;
mod cors;
mod fill;
mod ip_restriction;
mod jwt;
mod key_auth;
mod logs;
mod prometheus;
mod proxy_cache;
pub mod rate_limiting;
mod request_size_limiting;
mod transformers;

pub use catalog::{expand_shorthands, schema, Group, ALL};
pub use ip_restriction::parse_ip_or_cidr;

use serde_json::{Map, Value};

/// A value check beyond the type (a header name, a CIDR, a regex…): the error is Kong's text.
pub type Check = fn(&str) -> Result<(), String>;
/// A check across the config's fields (Kong's `entity_checks`): errors as (path, message),
/// path `@entity` for the whole config.
pub type EntityCheck = fn(&Map<String, Value>) -> Vec<(String, String)>;

#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Boolean,
    Integer {
        between: Option<(i64, i64)>,
    },
    Number {
        between: Option<(f64, f64)>,
    },
    String {
        one_of: &'static [&'static str],
        check: Option<Check>,
    },
    /// An array (`set`: Kong's set, duplicates removed) of one element type.
    Array {
        of: &'static Ty,
        set: bool,
    },
    /// String keys to values of one type.
    Map {
        values: &'static Ty,
    },
    Record(&'static [Field]),
}

#[derive(Debug, Clone, Copy)]
pub enum Default {
    None,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(&'static str),
    Strs(&'static [&'static str]),
    Ints(&'static [i64]),
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub default: Default,
    pub required: bool,
    /// One line for the console's form.
    pub help: &'static str,
}

#[derive(Debug)]
pub struct Schema {
    pub name: &'static str,
    pub group: Group,
    /// What the plugin does, for the console's catalogue.
    pub summary: &'static str,
    pub fields: &'static [Field],
    /// Whether the plugin may be scoped to a consumer (authentication plugins may not).
    pub consumer_allowed: bool,
    pub checks: &'static [EntityCheck],
}

pub const STRING: Ty = Ty::String {
    one_of: &[],
    check: None,
};
pub const STRINGS: Ty = Ty::Array {
    of: &STRING,
    set: false,
};
pub const INTEGER: Ty = Ty::Integer { between: None };
pub const NUMBER: Ty = Ty::Number { between: None };

impl Field {
    pub const fn new(name: &'static str, ty: Ty) -> Field {
        Field {
            name,
            ty,
            default: Default::None,
            required: false,
            help: "",
        }
    }
    pub const fn boolean(name: &'static str, default: bool) -> Field {
        Field::new(name, Ty::Boolean)
            .default(Default::Bool(default))
            .required()
    }
    pub const fn string(name: &'static str) -> Field {
        Field::new(name, STRING)
    }
    pub const fn strings(name: &'static str) -> Field {
        Field::new(name, STRINGS)
    }
    pub const fn one_of(
        name: &'static str,
        default: &'static str,
        options: &'static [&'static str],
    ) -> Field {
        Field::new(
            name,
            Ty::String {
                one_of: options,
                check: None,
            },
        )
        .default(Default::Str(default))
        .required()
    }
    pub const fn default(mut self, d: Default) -> Field {
        self.default = d;
        self
    }
    pub const fn required(mut self) -> Field {
        self.required = true;
        self
    }
    pub const fn help(mut self, text: &'static str) -> Field {
        self.help = text;
        self
    }
}

impl Ty {
    /// Kong's type name, as `/schemas` shows it.
    pub fn kong_name(&self) -> &'static str {
        match self {
            Ty::Boolean => "boolean",
            Ty::Integer { .. } => "integer",
            Ty::Number { .. } => "number",
            Ty::String { .. } => "string",
            Ty::Array { set: true, .. } => "set",
            Ty::Array { .. } => "array",
            Ty::Map { .. } => "map",
            Ty::Record(_) => "record",
        }
    }
}

impl Default {
    pub fn value(&self) -> Option<Value> {
        Some(match self {
            Default::None => return None,
            Default::Bool(b) => Value::Bool(*b),
            Default::Int(i) => Value::from(*i),
            Default::Num(n) => Value::from(*n),
            Default::Str(s) => Value::from(*s),
            Default::Strs(s) => Value::from(s.to_vec()),
            Default::Ints(s) => Value::from(s.to_vec()),
        })
    }
}

impl Schema {
    /// `given` checked against the schema, with every missing field at its default; errors
    /// are by dotted path below `config` (`redis.host`), `@entity` for cross-field checks.
    pub fn fill(
        &self,
        given: &Map<String, Value>,
    ) -> Result<Map<String, Value>, Vec<(String, String)>> {
        let mut errors = Vec::new();
        let out = fill::record(self.fields, given, "", &mut errors);
        if errors.is_empty() {
            for check in self.checks {
                errors.extend(check(&out));
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }
}

/// Kong's `typedefs.header_name`.
pub fn header_name(s: &str) -> Result<(), String> {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        Ok(())
    } else {
        Err(format!(
            "bad header name '{s}', allowed characters are A-Z, a-z, 0-9, '_', and '-'"
        ))
    }
}

/// At least one of `names` (top-level config fields) is set: Kong's `at_least_one_of`.
pub fn at_least_one_of(config: &Map<String, Value>, names: &[&str]) -> Vec<(String, String)> {
    let set = names.iter().any(|n| {
        config
            .get(*n)
            .is_some_and(|v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
    });
    if set {
        return Vec::new();
    }
    let list: Vec<String> = names.iter().map(|n| format!("'config.{n}'")).collect();
    vec![(
        "@entity".into(),
        format!(
            "at least one of these fields must be non-empty: {}",
            list.join(", ")
        ),
    )]
}
