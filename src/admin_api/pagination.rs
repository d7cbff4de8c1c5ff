//! Kong's list shape: `{"data": [...], "next": "/path?offset=…", "offset": "…"}`.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::store::{Page, TagFilter};
use crate::web_error::WebError;

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    pub size: Option<String>,
    pub offset: Option<String>,
    pub tags: Option<String>,
}

impl PageQuery {
    /// (offset, size) with Kong's bounds: size 1..=1000, default 100.
    pub fn bounds(&self) -> Result<(u64, u64), WebError> {
        let size = match &self.size {
            None => 100,
            Some(s) => match s.parse::<u64>() {
                Ok(n) if (1..=1000).contains(&n) => n,
                _ => {
                    return Err(WebError::BadRequest(
                        "size must be a number between 1 and 1000".into(),
                    ))
                }
            },
        };
        let offset = match &self.offset {
            None => 0,
            Some(o) => o
                .parse::<u64>()
                .map_err(|_| WebError::BadRequest(format!("'{o}' is not a valid offset")))?,
        };
        Ok((offset, size))
    }

    /// Kong's tag filter: `a,b` (every tag) or `a/b` (any tag), at most 5, not mixed.
    pub fn tag_filter(&self) -> Result<Option<TagFilter>, WebError> {
        let Some(raw) = self.tags.as_deref().filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        let invalid =
            || WebError::BadRequest("invalid option (tags: invalid filter syntax)".into());
        let (all, any) = (raw.contains(','), raw.contains('/'));
        if all && any {
            return Err(invalid());
        }
        let tags: Vec<String> = raw.split([',', '/']).map(str::to_string).collect();
        if tags.len() > 5 || tags.iter().any(|t| t.is_empty()) {
            return Err(invalid());
        }
        Ok(Some(if any {
            TagFilter::Any(tags)
        } else {
            TagFilter::All(tags)
        }))
    }

    /// Query parameters to carry into the `next` link.
    pub fn carried(&self) -> String {
        match &self.tags {
            Some(t) if !t.is_empty() => format!(
                "&tags={}",
                form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>()
            ),
            _ => String::new(),
        }
    }
}

pub fn list_body<T>(
    page: Page<T>,
    path: &str,
    q: &PageQuery,
    size: u64,
    to_json: impl Fn(&T) -> Value,
) -> Value {
    let data: Vec<Value> = page.items.iter().map(to_json).collect();
    match page.next_offset {
        Some(next) => {
            json!({ "data": data, "offset": next.to_string(), "next": format!("{path}?offset={next}&size={size}{}", q.carried()) })
        }
        None => json!({ "data": data, "next": null }),
    }
}
