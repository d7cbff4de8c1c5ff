//! Konnect's labels (`key:value` pairs on runtime groups and catalog services): the rules and
//! the console's text form. Shared by every resource that carries labels, so the console and
//! the Admin API refuse the same things.

use std::collections::BTreeMap;

/// Konnect's limit per resource.
pub const MAX_LABELS: usize = 5;
/// Key prefixes Konnect reserves for itself.
pub const RESERVED_PREFIXES: &[&str] = &["kong", "konnect", "insomnia", "mesh", "kic", "_"];

/// Konnect's label rules: keys and values 1-63 characters, starting and ending with a letter
/// or digit, `-`, `_` and `.` inside; keys not starting with a reserved prefix.
pub fn check_label(key: &str, value: &str) -> Result<(), String> {
    let lower = key.to_ascii_lowercase();
    if let Some(p) = RESERVED_PREFIXES.iter().find(|p| lower.starts_with(**p)) {
        return Err(format!(
            "Label '{key}': keys cannot start with '{p}' (reserved: {})",
            RESERVED_PREFIXES.join(", ")
        ));
    }
    let ok = |s: &str| {
        let edges = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        !s.is_empty()
            && s.len() <= 63
            && edges(s.chars().next())
            && edges(s.chars().last())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    };
    if !ok(key) || !ok(value) {
        return Err(format!(
            "Label '{key}:{value}': keys and values are 1-63 characters, start and end with a letter or digit, and may contain '-', '_' or '.' inside"
        ));
    }
    Ok(())
}

/// Every label of a map (a JSON body's) against the rules, then the count.
pub fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in labels {
        check_label(k, v)?;
    }
    if labels.len() > MAX_LABELS {
        return Err(format!("At most {MAX_LABELS} labels"));
    }
    Ok(())
}

/// The console's text form: `key:value` pairs separated by commas or new lines.
pub fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    for pair in text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let Some((k, v)) = pair.split_once(':') else {
            return Err(format!("Label '{pair}' must be written key:value"));
        };
        let (k, v) = (k.trim(), v.trim());
        check_label(k, v)?;
        labels.insert(k.to_string(), v.to_string());
    }
    if labels.len() > MAX_LABELS {
        return Err(format!("At most {MAX_LABELS} labels"));
    }
    Ok(labels)
}

pub fn format_labels(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(", ")
}
