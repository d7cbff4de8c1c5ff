//! Kong's `$(…)` values, the forms that need no Lua: `headers.name`, `headers["name"]`,
//! `query_params.name` (and `['name']`), each optionally `or 'default'`. Any other
//! expression (uri_captures, shared, Lua calls) is refused when the request runs, which
//! answers 500 as Kong does for a template that fails, rather than sending `$(…)` upstream.

use http::HeaderMap;

use crate::plugins::transform::Args;

/// What templates read: the client's headers and query arguments.
pub struct Env<'a> {
    pub headers: &'a HeaderMap,
    pub query: &'a Args,
}

pub fn has_template(s: &str) -> bool {
    s.contains("$(")
}

/// `s` with every `$(…)` replaced; a missing value without a default renders empty.
pub fn render(s: &str, env: &Env<'_>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("$(") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let mut depth = 1;
        let end = after
            .char_indices()
            .find(|(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(j, _)| j)
            .ok_or_else(|| format!("unclosed template in '{s}'"))?;
        out.push_str(&eval(after[..end].trim(), env)?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn quoted(s: &str) -> Option<&str> {
    let s = s.trim();
    s.strip_prefix('\'')
        .and_then(|x| x.strip_suffix('\''))
        .or_else(|| s.strip_prefix('"').and_then(|x| x.strip_suffix('"')))
}

fn eval(expr: &str, env: &Env<'_>) -> Result<String, String> {
    let unsupported =
        || format!("template '$({expr})' is not supported (only headers and query_params lookups)");
    let (lookup, default) = match expr.split_once(" or ") {
        Some((l, d)) => (l.trim(), Some(quoted(d).ok_or_else(unsupported)?)),
        None => (expr, None),
    };
    let (ns, key) = if let Some((ns, rest)) = lookup.split_once('[') {
        let key = rest
            .strip_suffix(']')
            .and_then(quoted)
            .ok_or_else(unsupported)?;
        (ns, key.to_string())
    } else {
        let (ns, key) = lookup.split_once('.').ok_or_else(unsupported)?;
        let simple = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !simple {
            return Err(unsupported());
        }
        (ns, key.to_string())
    };
    let found = match ns.trim() {
        // nginx's header table also finds `x_foo` as `x-foo`.
        "headers" => {
            let name = key.to_ascii_lowercase();
            env.headers
                .get(name.as_str())
                .or_else(|| env.headers.get(name.replace('_', "-").as_str()))
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        }
        "query_params" => env.query.get(&key).and_then(|v| v.first().cloned()),
        _ => return Err(unsupported()),
    };
    Ok(found.or(default.map(str::to_string)).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn lookups_defaults_and_refusals() {
        let mut h = HeaderMap::new();
        h.insert("x-foo", HeaderValue::from_static("bar"));
        h.insert("host", HeaderValue::from_static("example.test"));
        let q = Args::parse("q1=v1");
        let env = Env {
            headers: &h,
            query: &q,
        };
        let r = |s: &str| render(s, &env);
        assert_eq!(r("a-$(headers.host)-b").as_deref(), Ok("a-example.test-b"));
        assert_eq!(r("$(headers['x-foo'])").as_deref(), Ok("bar"));
        assert_eq!(r("$(headers.x_foo)").as_deref(), Ok("bar"));
        assert_eq!(
            r("$(query_params.q1)/$(query_params[\"q2\"] or 'd')").as_deref(),
            Ok("v1/d")
        );
        assert_eq!(r("$(headers.missing)").as_deref(), Ok(""));
        assert_eq!(r("plain").as_deref(), Ok("plain"));
        assert!(r("$(uri_captures.user1)").is_err());
        assert!(r("$(ERROR())").is_err());
        assert!(r("$(headers.x").is_err());
    }
}
