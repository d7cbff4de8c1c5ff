//! Writing a JSON value as block-style YAML, the way kong.yml files look: two-space indents,
//! PEM blocks as literal `|` scalars, strings quoted only when YAML would read them as
//! something else. The top-level keys come in the order given.

use serde_json::Value;

/// The document: `top` keys in this order, each followed by its value.
pub fn document(top: &[(String, Value)]) -> String {
    let mut out = String::new();
    for (k, v) in top {
        entry(&mut out, 0, k, v);
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn entry(out: &mut String, level: usize, key: &str, v: &Value) {
    indent(out, level);
    out.push_str(&scalar_text(key));
    out.push(':');
    value_after(out, level, v);
}

/// A value after `key:` or `- `: scalars on the same line, collections below.
fn value_after(out: &mut String, level: usize, v: &Value) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            for (k, v) in m {
                entry(out, level + 2, k, v);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            for item in items {
                list_item(out, level + 2, item);
            }
        }
        other => {
            out.push(' ');
            inline(out, level, other);
            out.push('\n');
        }
    }
}

fn list_item(out: &mut String, level: usize, v: &Value) {
    indent(out, level);
    out.push('-');
    match v {
        Value::Object(m) if !m.is_empty() => {
            // The first key shares the dash's line; the others align under it.
            for (i, (k, v)) in m.iter().enumerate() {
                if i == 0 {
                    out.push(' ');
                    out.push_str(&scalar_text(k));
                    out.push(':');
                    value_after(out, level + 2, v);
                } else {
                    entry(out, level + 2, k, v);
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            for item in items {
                list_item(out, level + 2, item);
            }
        }
        other => {
            out.push(' ');
            inline(out, level, other);
            out.push('\n');
        }
    }
}

fn inline(out: &mut String, level: usize, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => match literal_block(s) {
            Some(chomp) => {
                out.push('|');
                out.push_str(chomp);
                for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
                    out.push('\n');
                    if !line.is_empty() {
                        indent(out, level + 2);
                        out.push_str(line);
                    }
                }
            }
            None => out.push_str(&scalar_text(s)),
        },
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

/// Multi-line text (a PEM block) reads best as a literal block: `|` when it ends with one line
/// break, `|-` with none. Text a literal block cannot hold exactly gets quotes instead.
fn literal_block(s: &str) -> Option<&'static str> {
    if !s.contains('\n') || s.ends_with("\n\n") || s.starts_with([' ', '\n']) {
        return None;
    }
    let printable = s
        .chars()
        .all(|c| c == '\n' || !(c.is_control() || c == '\u{feff}'));
    let clean_ends = s.split('\n').all(|l| !l.ends_with([' ', '\t']));
    if !printable || !clean_ends {
        return None;
    }
    Some(if s.ends_with('\n') { "" } else { "-" })
}

/// A key or string as YAML text: plain when it reads back as the same string, else quoted
/// with JSON's escapes (which YAML's double quotes share).
pub fn scalar_text(s: &str) -> String {
    if plain_is_safe(s) {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
    }
}

fn plain_is_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) || first.is_whitespace() {
        // `-` starts a plain scalar before a letter (`-y`); every other indicator gets quotes.
        return first == '-'
            && s[1..].starts_with(|c: char| c.is_ascii_alphabetic())
            && !s.contains(": ")
            && !s.contains(" #");
    }
    if s.ends_with([' ', '\t', ':']) || s.contains(": ") || s.contains(" #") {
        return false;
    }
    if s.chars().any(|c| c.is_control() || c == '\u{feff}') {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    let reserved = [
        "~", "null", "true", "false", "yes", "no", "on", "off", "y", "n", ".inf", ".nan", "<<",
    ];
    !reserved.contains(&lower.as_str()) && !looks_numeric(s)
}

fn looks_numeric(s: &str) -> bool {
    let t = s.trim_start_matches(['-', '+']);
    t.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && t.chars().all(|c| {
            c.is_ascii_hexdigit()
                || matches!(c, '.' | '_' | 'x' | 'o' | 'e' | 'E' | '+' | '-' | ':')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_it_writes_reads_back_the_same() {
        let v = json!({
            "services": [{"name": "a", "port": 80, "tags": ["x", "1", "true", "-y", "a: b", "#c", ""],
                          "routes": [{"paths": ["~/nginx$", "/"], "headers": {}, "hosts": []}],
                          "cert": "-----BEGIN X-----\nabc\n-----END X-----\n", "nested": [[1, 2], []],
                          "none": null, "f": 1.5, "k": "line one\nline two", "odd": "  lead\n"}]
        });
        let text = document(&[("services".into(), v["services"].clone())]);
        let back = super::super::yaml::parse(&text).expect("reads back");
        assert_eq!(back, v, "{text}");
        assert!(text.contains("cert: |\n"), "{text}");
    }

    /// Random strings built from YAML's troublesome characters read back unchanged, as values
    /// and as keys.
    #[test]
    fn random_strings_survive_a_round_trip() {
        use rand::{Rng, SeedableRng};
        let pieces = [
            "a",
            "Z",
            "0",
            "1.5",
            "-",
            "?",
            ":",
            ": ",
            " #",
            "#",
            "'",
            "\"",
            "\\",
            "\n",
            "\t",
            " ",
            "~",
            "null",
            "true",
            "0x1F",
            "[",
            "]",
            "{",
            "}",
            ",",
            "&",
            "*",
            "!",
            "|",
            ">",
            "%",
            "@",
            "`",
            "<<",
            "é",
            "\u{1F600}",
            "---",
            "...",
            "\r",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        for _ in 0..2000 {
            let len = rng.gen_range(0..6);
            let s: String = (0..len)
                .map(|_| pieces[rng.gen_range(0..pieces.len())])
                .collect();
            let mut obj = serde_json::Map::new();
            obj.insert(format!("k{s}"), json!(s));
            let v = json!({ "list": [s.clone(), {"x": s.clone()}], "map": obj });
            let text = document(&[("doc".into(), v.clone())]);
            let back = super::super::yaml::parse(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
            assert_eq!(back["doc"], v, "{text}");
        }
    }
}
