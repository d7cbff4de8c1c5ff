//! Reading a YAML (or JSON) document into a JSON value, with bounds: the document's size, how
//! deep it nests and how much aliases may add are limited before anything is built, so an alias
//! bomb or a deeply nested file is refused with a clear message instead of exhausting memory or
//! the stack. Built from parser events with an explicit stack (no recursion).

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value};

use super::SyntaxError;

/// Nesting deeper than this is refused: Kong documents need about ten levels.
pub const MAX_DEPTH: usize = 64;
/// Aliases may add at most this many nodes beyond the document's own (plus as many again as
/// the document has): enough for anchors reused as templates, far below any "billion laughs".
const ALIAS_ALLOWANCE: usize = 100_000;

enum Frame {
    Seq(Vec<Value>, Option<usize>),
    /// A mapping, its pending key, its anchor, and the keys a merge (`<<`) added, which the
    /// mapping's own keys may override.
    Map(
        Map<String, Value>,
        Option<String>,
        Option<usize>,
        Vec<String>,
    ),
}

struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Value, usize)>,
    /// Nodes built from the document's own text and nodes copied in by aliases.
    own_nodes: usize,
    alias_nodes: usize,
    /// The node count of each open collection, to remember an anchored one's size.
    open_counts: Vec<usize>,
    root: Option<Value>,
}

fn at(span: &Span, message: impl Into<String>) -> SyntaxError {
    SyntaxError {
        message: message.into(),
        line: Some(span.start.line()),
        column: Some(span.start.col() + 1),
    }
}

/// Parses YAML text (JSON included: it is YAML) into one JSON value.
pub fn parse(text: &str) -> Result<Value, SyntaxError> {
    let mut b = Builder {
        stack: Vec::new(),
        anchors: HashMap::new(),
        own_nodes: 0,
        alias_nodes: 0,
        open_counts: Vec::new(),
        root: None,
    };
    let mut documents = 0;
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| SyntaxError {
            message: e.info().to_string(),
            line: Some(e.marker().line()),
            column: Some(e.marker().col() + 1),
        })?;
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => {}
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(at(&span, "expected one YAML document, found more"));
                }
            }
            Event::Alias(id) => {
                let Some((value, count)) = b.anchors.get(&id) else {
                    return Err(at(&span, "unknown alias"));
                };
                let (value, count) = (value.clone(), *count);
                b.alias_nodes += count;
                if b.alias_nodes > ALIAS_ALLOWANCE + b.own_nodes {
                    return Err(at(
                        &span,
                        "aliases expand the document too much (an alias bomb?)",
                    ));
                }
                b.count(count);
                b.push(value, &span)?;
            }
            Event::Scalar(text, style, anchor, tag) => {
                b.own_nodes += 1;
                b.count(1);
                let tag = tag.map(|t| t.suffix.clone());
                let value = scalar(&text, style, tag.as_deref());
                if anchor > 0 {
                    b.anchors.insert(anchor, (value.clone(), 1));
                }
                b.push(value, &span)?;
            }
            Event::SequenceStart(anchor, _) => {
                b.open(&span)?;
                b.stack.push(Frame::Seq(Vec::new(), Some(anchor)));
            }
            Event::MappingStart(anchor, _) => {
                b.open(&span)?;
                b.stack
                    .push(Frame::Map(Map::new(), None, Some(anchor), Vec::new()));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let count = b.open_counts.pop().unwrap_or(1);
                let (value, anchor) = match b.stack.pop() {
                    Some(Frame::Seq(items, anchor)) => (Value::Array(items), anchor),
                    Some(Frame::Map(m, _, anchor, _)) => (Value::Object(m), anchor),
                    None => return Err(at(&span, "unbalanced collection")),
                };
                if let Some(a) = anchor.filter(|a| *a > 0) {
                    b.anchors.insert(a, (value.clone(), count));
                }
                b.count(count);
                b.push(value, &span)?;
            }
        }
    }
    Ok(b.root.unwrap_or(Value::Null))
}

impl Builder {
    fn open(&mut self, span: &Span) -> Result<(), SyntaxError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(at(
                span,
                format!("the document nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.own_nodes += 1;
        self.open_counts.push(1);
        Ok(())
    }

    /// Adds `n` nodes to the innermost open collection's size.
    fn count(&mut self, n: usize) {
        if let Some(c) = self.open_counts.last_mut() {
            *c += n;
        }
    }

    fn push(&mut self, value: Value, span: &Span) -> Result<(), SyntaxError> {
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Seq(items, _)) => items.push(value),
            Some(Frame::Map(m, key, _, merged)) => match key.take() {
                None => match value {
                    Value::String(k) => *key = Some(k),
                    Value::Number(n) => *key = Some(n.to_string()),
                    Value::Bool(b) => *key = Some(b.to_string()),
                    _ => return Err(at(span, "a mapping key must be a string")),
                },
                Some(k) if k == "<<" => merged.extend(merge(m, value, span)?),
                Some(k) => {
                    if let Some(i) = merged.iter().position(|x| *x == k) {
                        merged.swap_remove(i);
                    } else if m.contains_key(&k) {
                        return Err(at(span, format!("duplicate key '{k}'")));
                    }
                    m.insert(k, value);
                }
            },
        }
        Ok(())
    }
}

/// YAML's merge key: `<<: *defaults` (or a list of them) adds the keys the mapping lacks.
fn merge(
    into: &mut Map<String, Value>,
    value: Value,
    span: &Span,
) -> Result<Vec<String>, SyntaxError> {
    let sources = match value {
        Value::Object(m) => vec![m],
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::Object(m) => Ok(m),
                _ => Err(at(span, "a merge key takes mappings")),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(at(span, "a merge key takes mappings")),
    };
    let mut added = Vec::new();
    for source in sources {
        for (k, v) in source {
            if !into.contains_key(&k) {
                added.push(k.clone());
                into.insert(k, v);
            }
        }
    }
    Ok(added)
}

/// A scalar as YAML 1.2's core schema reads it: quoted ones are strings; plain ones may be
/// null, booleans or numbers.
fn scalar(text: &str, style: ScalarStyle, tag: Option<&str>) -> Value {
    if style != ScalarStyle::Plain || tag == Some("str") {
        return Value::String(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    number(text).unwrap_or_else(|| Value::String(text.to_string()))
}

fn number(text: &str) -> Option<Value> {
    let first = text.chars().next()?;
    if !(first.is_ascii_digit() || matches!(first, '-' | '+' | '.')) {
        return None;
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok().map(Value::from);
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok().map(Value::from);
    }
    let digits = text.trim_start_matches(['-', '+']);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        if let Ok(i) = text.parse::<i64>() {
            return Some(Value::from(i));
        }
    }
    let looks_float = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
        && text.chars().any(|c| c.is_ascii_digit());
    if looks_float {
        if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
            return Some(Value::Number(n));
        }
    }
    None
}

/// How deep a JSON value nests (iteratively: the value may be deep).
pub fn depth(v: &Value) -> usize {
    let mut deepest = 0;
    let mut todo = vec![(v, 0usize)];
    while let Some((v, d)) = todo.pop() {
        deepest = deepest.max(d);
        match v {
            Value::Array(items) => todo.extend(items.iter().map(|i| (i, d + 1))),
            Value::Object(m) => todo.extend(m.values().map(|i| (i, d + 1))),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_kong_yaml_with_core_schema_scalars() {
        let v = parse("a: 1\nb: '1'\nc: true\nd: ~\ne: [x, 2.5]\nf: |\n  line\n").expect("parses");
        assert_eq!(
            v,
            json!({"a": 1, "b": "1", "c": true, "d": null, "e": ["x", 2.5], "f": "line\n"})
        );
        let v = parse("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n").expect("merge");
        assert_eq!(v["use"], json!({"x": 1, "y": 3}));
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let e = parse("services:\n  - name: a\n   bad: [\n").expect_err("bad yaml");
        assert!(e.line.is_some() && e.column.is_some(), "{e:?}");
        let e = parse("a: 1\na: 2\n").expect_err("duplicate key");
        assert_eq!(e.line, Some(2));
    }

    #[test]
    fn alias_bombs_and_deep_nesting_are_refused() {
        let mut bomb = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for (i, prev) in ["b", "c", "d", "e", "f", "g", "h", "i"]
            .iter()
            .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
        {
            bomb.push_str(&format!(
                "{i}: &{i} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
            ));
        }
        let e = parse(&bomb).expect_err("bomb");
        assert!(e.message.contains("alias"), "{e:?}");
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        // The parser's own recursion limit or ours, whichever comes first.
        let e = parse(&deep).expect_err("deep");
        assert!(
            e.message.contains("deeper") || e.message.contains("recursion"),
            "{e:?}"
        );
        let nested = format!("{}1{}", "- ".repeat(80), "");
        let e = parse(&nested).expect_err("deep block");
        assert!(
            e.message.contains("deeper") || e.message.contains("recursion"),
            "{e:?}"
        );
    }
}
