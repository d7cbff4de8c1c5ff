//! Kong's declarative configuration format (kong.yml, `_format_version` 3.0, 2.1 and 1.1):
//! text in, a validated [`GatewayConfig`] out, and back. Pure: no I/O, no clock (the caller
//! passes the time), no storage; the service layer applies what this returns and the web and
//! CLI edges render its errors (Kong's code 14 body, or one line per problem).

mod build;
mod collect;
mod emit;
mod export;
mod ids;
mod problems;
mod yaml;

use serde_json::{json, Map, Value};

pub use collect::{natural_key, Existing};
pub use export::export;
pub use problems::{Problem, Seg};

use super::GatewayConfig;

/// Documents larger than this are refused before parsing (Kong's burst fixture, 286 routes,
/// is 0.4 MiB; 10,000 routes in Kong's style take about 6 MiB).
pub const MAX_BYTES: usize = 32 << 20;

const VERSIONS: &[&str] = &["1.1", "2.1", "3.0"];

/// How the text is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

impl Format {
    /// JSON for `.json` files and `application/json` bodies, YAML (which reads JSON too)
    /// otherwise.
    pub fn guess(name_or_type: &str) -> Format {
        let n = name_or_type.to_ascii_lowercase();
        if n.ends_with(".json") || n.contains("json") {
            Format::Json
        } else {
            Format::Yaml
        }
    }

    /// A document that came without a name or type (a form field, a pasted text): JSON when
    /// it opens an object, YAML otherwise.
    pub fn sniff(text: &str) -> Format {
        if text.trim_start().starts_with('{') {
            Format::Json
        } else {
            Format::Yaml
        }
    }
}

/// A syntax error, with its place when the parser knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{} at line {l}, column {c}", self.message),
            (Some(l), None) => write!(f, "{} at line {l}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

/// Why a document was refused. Nothing of it is applied.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DeclarativeError {
    #[error("the declarative configuration is {size} bytes; at most {limit} are accepted")]
    TooLarge { size: usize, limit: usize },
    #[error("failed parsing declarative configuration: {0}")]
    Syntax(SyntaxError),
    /// Problems with what the document says, and the document they refer to.
    #[error("{}", problems::message(&problems::tree(.problems)))]
    Invalid {
        problems: Vec<Problem>,
        document: Box<Value>,
    },
}

impl DeclarativeError {
    /// Kong's `fields`: the problems nested as the document is.
    pub fn fields(&self) -> Value {
        match self {
            DeclarativeError::Invalid { problems: p, .. } => problems::tree(p),
            other => json!({ "error": other.to_string() }),
        }
    }

    /// Kong's `message`.
    pub fn message(&self) -> String {
        match self {
            DeclarativeError::Invalid { .. } => self.to_string(),
            other => problems::message(&json!({ "error": other.to_string() })),
        }
    }

    /// Kong's `flattened_errors`.
    pub fn flattened(&self) -> Value {
        match self {
            DeclarativeError::Invalid {
                problems: p,
                document,
            } => problems::flattened(p, document),
            _ => json!([]),
        }
    }

    /// One line per problem, naming the entity and the field.
    pub fn lines(&self) -> Vec<String> {
        match self {
            DeclarativeError::Invalid {
                problems: p,
                document,
            } => problems::lines(p, document),
            other => vec![other.to_string()],
        }
    }
}

/// A document read and validated.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: GatewayConfig,
    pub format_version: String,
    /// What was skipped (collections Gatehouse does not serve).
    pub warnings: Vec<String>,
    /// The plain passwords of basic-auth credentials (by id) that were hashed on the way in:
    /// an import keeps a stored hash that already matches, so an unchanged file changes nothing.
    pub passwords: Passwords,
}

/// Plain passwords, never printed.
#[derive(Clone, Default)]
pub struct Passwords(pub std::collections::HashMap<uuid::Uuid, String>);

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Passwords({} redacted)", self.0.len())
    }
}

/// Parses text into a document, within [`MAX_BYTES`] and the nesting and alias bounds.
pub fn parse(text: &str, format: Format) -> Result<Value, DeclarativeError> {
    if text.len() > MAX_BYTES {
        return Err(DeclarativeError::TooLarge {
            size: text.len(),
            limit: MAX_BYTES,
        });
    }
    let doc = match format {
        Format::Json => serde_json::from_str::<Value>(text).map_err(|e| {
            DeclarativeError::Syntax(SyntaxError {
                message: strip_position(&e.to_string()),
                line: Some(e.line()),
                column: Some(e.column()),
            })
        })?,
        Format::Yaml => yaml::parse(text).map_err(DeclarativeError::Syntax)?,
    };
    if yaml::depth(&doc) > yaml::MAX_DEPTH {
        return Err(DeclarativeError::Syntax(SyntaxError {
            message: format!("the document nests deeper than {} levels", yaml::MAX_DEPTH),
            line: None,
            column: None,
        }));
    }
    Ok(doc)
}

/// serde_json appends "at line L column C"; the position is reported separately.
fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Validates a parsed document into a configuration. `now` stamps new entities; `existing`
/// maps stored entities' natural keys to their ids (see [`natural_key`]), so entities Kong
/// gives random ids keep theirs across imports.
pub fn load(doc: Value, now: i64, existing: &Existing) -> Result<Loaded, DeclarativeError> {
    let Value::Object(mut top) = doc else {
        return Err(DeclarativeError::Syntax(SyntaxError {
            message: "expected an object".into(),
            line: None,
            column: None,
        }));
    };
    let document = Box::new(Value::Object(top.clone()));
    let mut problems = Vec::new();
    let version = match top.remove("_format_version") {
        None | Some(Value::Null) => {
            problems.push(Problem::field(
                &[],
                "_format_version",
                "required field missing",
            ));
            String::new()
        }
        Some(Value::String(v)) if VERSIONS.contains(&v.as_str()) => v,
        Some(Value::String(_)) => {
            problems.push(Problem::field(
                &[],
                "_format_version",
                format!("expected one of: {}", VERSIONS.join(", ")),
            ));
            String::new()
        }
        Some(_) => {
            problems.push(Problem::field(&[], "_format_version", "expected a string"));
            String::new()
        }
    };
    let transform = match top.remove("_transform") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => b,
        Some(_) => {
            problems.push(Problem::field(&[], "_transform", "expected a boolean"));
            true
        }
    };
    if version == "1.1" || version == "2.1" {
        migrate_paths(&mut top);
    }
    let mut collector = collect::Collector::new(existing);
    // Kinds in name order whatever the map keeps (serde_json's `preserve_order`, which a
    // dependency may switch on, keeps the document's): ids and problems come out the same.
    let mut top: Vec<(String, Value)> = top.into_iter().collect();
    top.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, value) in top {
        match key.as_str() {
            "_comment" if !value.is_string() => {
                problems.push(Problem::field(&[], "_comment", "expected a string"))
            }
            "_ignore" if !value.is_array() => {
                problems.push(Problem::field(&[], "_ignore", "expected an array"))
            }
            // decK's and Kong's bookkeeping: read, not applied.
            "_comment" | "_ignore" | "_info" | "_workspace" | "_sync_version" => {}
            k if collect::UNSUPPORTED.contains(&k) => collector.warnings.push(format!(
                "'{k}' is not supported by Gatehouse and was skipped"
            )),
            k => match collect::TOP_LEVEL.iter().find(|kind| **kind == k) {
                Some(kind) => collector.list(kind, value, vec![Seg::Key(key.clone())], None),
                None => problems.push(Problem::field(&[], key.clone(), "unknown field")),
            },
        }
    }
    problems.append(&mut collector.problems);
    let opts = build::Options { now, transform };
    let mut passwords = Passwords::default();
    let config = build::build(collector.records, &opts, &mut problems, &mut passwords.0);
    if !problems.is_empty() {
        return Err(DeclarativeError::Invalid { problems, document });
    }
    Ok(Loaded {
        config,
        format_version: version,
        warnings: collector.warnings,
        passwords,
    })
}

/// Parses and validates in one step.
pub fn load_text(
    text: &str,
    format: Format,
    now: i64,
    existing: &Existing,
) -> Result<Loaded, DeclarativeError> {
    load(parse(text, format)?, now, existing)
}

/// Formats 1.1 and 2.1 wrote regex paths without Kong 3's `~` prefix: a path with characters
/// outside a plain path's gets it, as Kong's loader migrates them.
fn migrate_paths(top: &mut Map<String, Value>) {
    fn routes(list: Option<&mut Value>) {
        let Some(Value::Array(items)) = list else {
            return;
        };
        for r in items {
            if let Some(Value::Array(paths)) = r.get_mut("paths") {
                for p in paths.iter_mut() {
                    if let Value::String(s) = p {
                        let plain = s.chars().all(|c| {
                            c.is_ascii_alphanumeric()
                                || matches!(c, '.' | '-' | '_' | '~' | '/' | '%')
                        });
                        if !plain {
                            *s = format!("~{s}");
                        }
                    }
                }
            }
        }
    }
    routes(top.get_mut("routes"));
    if let Some(Value::Array(services)) = top.get_mut("services") {
        for s in services {
            routes(s.get_mut("routes"));
        }
    }
}

/// Whether two entities say the same thing, timestamps aside (an import that changes nothing
/// keeps the stored entity as it is).
pub fn same_content(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| match v {
        Value::Object(m) => {
            let mut m = m.clone();
            m.remove("created_at");
            m.remove("updated_at");
            Value::Object(m)
        }
        other => other.clone(),
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests;
