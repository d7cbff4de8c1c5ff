//! A plugin's configuration form, generated from its schema: one input per field (nested
//! records flattened to `config.redis.host`), typed as the schema says, prefilled with the
//! stored or typed values, and read back into the Kong config the domain checks. Empty inputs
//! are left out so the schema's defaults apply.

use serde_json::{Map, Value};

use crate::console::session::FormData;
use crate::domain::plugin_schemas::{Field, Ty};
use crate::domain::FieldErrors;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// true / false / (default), as a select so an explicit choice survives.
    Bool,
    Text,
    Number,
    Select(Vec<&'static str>),
    /// An array or set: one item per line.
    Lines,
    /// A map: `key: value` per line.
    Pairs,
}

#[derive(Debug, Clone)]
pub struct FormField {
    /// The input's name: `config.` and the field's dotted path.
    pub name: String,
    /// The dotted path below config, as the user reads it.
    pub label: String,
    pub kind: Kind,
    pub value: String,
    pub default: String,
    pub required: bool,
    pub help: &'static str,
    pub error: Option<String>,
}

impl FormField {
    pub fn id(&self) -> String {
        self.name.replace('.', "-")
    }
    pub fn is(&self, kind: &str) -> bool {
        matches!(
            (kind, &self.kind),
            ("bool", Kind::Bool)
                | ("text", Kind::Text)
                | ("number", Kind::Number)
                | ("select", Kind::Select(_))
                | ("lines", Kind::Lines)
                | ("pairs", Kind::Pairs)
        )
    }
    pub fn options(&self) -> Vec<(&'static str, bool)> {
        match &self.kind {
            Kind::Select(o) => o.iter().map(|x| (*x, *x == self.value)).collect(),
            _ => Vec::new(),
        }
    }
}

/// Text for a stored value in the field's input.
fn show(kind: &Kind, v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Some(Value::Object(m)) if *kind == Kind::Pairs => m
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.as_str().map_or(v.to_string(), str::to_string)))
            .collect::<Vec<_>>()
            .join("\n"),
        Some(other) => other.to_string(),
    }
}

fn kind_of(ty: &Ty) -> Kind {
    match ty {
        Ty::Boolean => Kind::Bool,
        Ty::Integer { .. } | Ty::Number { .. } => Kind::Number,
        Ty::String { one_of, .. } if !one_of.is_empty() => Kind::Select(one_of.to_vec()),
        Ty::String { .. } => Kind::Text,
        Ty::Array { .. } => Kind::Lines,
        Ty::Map { .. } | Ty::Record(_) => Kind::Pairs,
    }
}

/// The form's fields for a schema, valued from `config` (stored or defaults).
pub fn fields(schema: &[Field], config: &Map<String, Value>) -> Vec<FormField> {
    let mut out = Vec::new();
    walk(schema, Some(config), "", &mut out);
    out
}

fn walk(
    schema: &[Field],
    config: Option<&Map<String, Value>>,
    prefix: &str,
    out: &mut Vec<FormField>,
) {
    for f in schema {
        let path = if prefix.is_empty() {
            f.name.to_string()
        } else {
            format!("{prefix}.{}", f.name)
        };
        let value = config.and_then(|c| c.get(f.name));
        if let Ty::Record(inner) = f.ty {
            walk(inner, value.and_then(Value::as_object), &path, out);
            continue;
        }
        let kind = kind_of(&f.ty);
        out.push(FormField {
            name: format!("config.{path}"),
            label: path,
            value: show(&kind, value),
            default: show(&kind, f.default.value().as_ref()),
            kind,
            required: f.required && f.default.value().is_none(),
            help: f.help,
            error: None,
        });
    }
}

/// The fields as the user typed them (to re-render a refused form unchanged).
pub fn typed(schema: &[Field], form: &FormData) -> Vec<FormField> {
    let mut out = fields(schema, &Map::new());
    for f in &mut out {
        f.value = form.get(&f.name).to_string();
    }
    out
}

/// The posted form as a Kong `config` record; empty inputs are left out.
pub fn to_config(schema: &[Field], form: &FormData, prefix: &str) -> Map<String, Value> {
    let mut m = Map::new();
    for f in schema {
        let path = if prefix.is_empty() {
            f.name.to_string()
        } else {
            format!("{prefix}.{}", f.name)
        };
        if let Ty::Record(inner) = f.ty {
            let nested = to_config(inner, form, &path);
            if !nested.is_empty() {
                m.insert(f.name.to_string(), Value::Object(nested));
            }
            continue;
        }
        let raw = form.get(&format!("config.{path}")).trim();
        if raw.is_empty() {
            continue;
        }
        let v = match kind_of(&f.ty) {
            Kind::Lines => Value::Array(
                raw.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(|l| Value::String(l.to_string()))
                    .collect(),
            ),
            Kind::Pairs => Value::Object(
                raw.lines()
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_string(), Value::String(v.trim().to_string())))
                    .collect(),
            ),
            // Numbers and booleans stay strings: the schema reads them as their type, or
            // says "expected an integer" beside the field.
            _ => Value::String(raw.to_string()),
        };
        m.insert(f.name.to_string(), v);
    }
    m
}

/// Puts each `config.…` error beside its field; returns the rest for the top of the form.
pub fn place(fields: &mut [FormField], errors: &FieldErrors, shown: &[&str]) -> Vec<String> {
    let mut rest = Vec::new();
    for (k, v) in &errors.0 {
        if shown.contains(&k.as_str()) {
            continue;
        }
        match fields.iter_mut().find(|f| &f.name == k) {
            Some(f) => f.error = Some(v.clone()),
            None if k == "@entity" || k == "config.@entity" => rest.push(v.clone()),
            None => rest.push(format!("{k}: {v}")),
        }
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::plugin_schemas::schema;

    #[test]
    fn a_form_round_trips_through_the_schema() {
        let s = schema("key-auth").expect("key-auth");
        let filled = s.fill(&Map::new()).expect("defaults");
        let f = fields(s.fields, &filled);
        let names = f
            .iter()
            .find(|x| x.name == "config.key_names")
            .expect("field");
        assert_eq!(
            (names.value.as_str(), &names.kind),
            ("apikey", &Kind::Lines)
        );
        let form = FormData(vec![
            ("config.key_names".into(), "apikey\nx-key\n".into()),
            ("config.hide_credentials".into(), "true".into()),
            ("config.realm".into(), "".into()),
        ]);
        let config = to_config(s.fields, &form, "");
        let checked = s.fill(&config).expect("valid");
        assert_eq!(checked["key_names"], serde_json::json!(["apikey", "x-key"]));
        assert_eq!(checked["hide_credentials"], true);
        assert_eq!(checked["realm"], Value::Null);
    }
}
