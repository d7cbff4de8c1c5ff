//! Kong's list shape: `{"data": [...], "next": "/path?offset=…", "offset": "…"}`.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::store::Page;
use crate::web_error::WebError;

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    pub size: Option<String>,
    pub offset: Option<String>,
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
}

pub fn list_body<T>(page: Page<T>, path: &str, size: u64, to_json: impl Fn(&T) -> Value) -> Value {
    let data: Vec<Value> = page.items.iter().map(to_json).collect();
    match page.next_offset {
        Some(next) => {
            json!({ "data": data, "offset": next.to_string(), "next": format!("{path}?offset={next}&size={size}") })
        }
        None => json!({ "data": data, "next": null }),
    }
}
