//! Kong's correlation-id: a request without the header (or with an empty one) gets a fresh
//! id upstream; a client's own id is kept. The id goes into the log record and, with
//! `echo_downstream`, back to the client (errors and plugin answers included).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use serde_json::Value;
use uuid::Uuid;

use super::{Access, Flow, Handler, Runtime, Shared};
use crate::domain::Plugin;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Generator {
    Uuid,
    UuidCounter,
    Tracker,
}

/// Kong keeps one uuid and counter per nginx worker; here one per process, kept across
/// snapshots so ids never repeat after a configuration change.
pub struct Counter {
    prefix: Uuid,
    n: AtomicU64,
}

pub struct CorrelationId {
    header: HeaderName,
    generator: Generator,
    echo: bool,
    counter: Arc<Counter>,
}

pub fn build(p: &Plugin, _: &Shared, runtime: &Runtime) -> Result<Arc<dyn Handler>, String> {
    let c = &p.config;
    let name = c
        .get("header_name")
        .and_then(Value::as_str)
        .unwrap_or("Kong-Request-ID");
    let header =
        HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("bad header name '{name}'"))?;
    let generator = match c.get("generator").and_then(Value::as_str) {
        Some("uuid") => Generator::Uuid,
        Some("tracker") => Generator::Tracker,
        _ => Generator::UuidCounter,
    };
    let counter = runtime.get("correlation-id:counter", || Counter {
        prefix: Uuid::new_v4(),
        n: AtomicU64::new(0),
    });
    Ok(Arc::new(CorrelationId {
        header,
        generator,
        echo: c.get("echo_downstream").and_then(Value::as_bool) == Some(true),
        counter,
    }))
}

impl CorrelationId {
    fn generate(&self) -> String {
        match self.generator {
            Generator::Uuid => Uuid::new_v4().to_string(),
            Generator::UuidCounter => {
                let n = self.counter.n.fetch_add(1, Ordering::Relaxed) + 1;
                format!("{}#{n}", self.counter.prefix)
            }
            // Kong's tracker is made of nginx connection serials Gatehouse does not have:
            // the process, a request counter and the time keep it unique just the same.
            Generator::Tracker => {
                let n = self.counter.n.fetch_add(1, Ordering::Relaxed) + 1;
                let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
                format!(
                    "{}-{n}-{}.{:03}",
                    std::process::id(),
                    now / 1000,
                    now % 1000
                )
            }
        }
    }
}

impl Handler for CorrelationId {
    fn name(&self) -> &'static str {
        "correlation-id"
    }
    fn priority(&self) -> i32 {
        100001
    }
    fn access(&self, req: &mut Access<'_>) -> Flow {
        let given = req
            .headers
            .get(&self.header)
            .filter(|v| !v.as_bytes().iter().all(u8::is_ascii_whitespace))
            .cloned();
        let id = match given {
            Some(v) => v,
            None => match HeaderValue::from_str(&self.generate()) {
                Ok(v) => {
                    req.headers.insert(self.header.clone(), v.clone());
                    v
                }
                Err(_) => return Flow::Fail("generated an invalid header value".into()),
            },
        };
        req.ctx.log_fields.push((
            "correlation_id".into(),
            Value::from(String::from_utf8_lossy(id.as_bytes()).into_owned()),
        ));
        if self.echo {
            req.ctx.downstream.push((self.header.clone(), id));
        }
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(generator: Generator) -> CorrelationId {
        CorrelationId {
            header: HeaderName::from_static("kong-request-id"),
            generator,
            echo: false,
            counter: Arc::new(Counter {
                prefix: Uuid::new_v4(),
                n: AtomicU64::new(0),
            }),
        }
    }

    #[test]
    fn generators_make_kong_shaped_ids() {
        let p = plugin(Generator::UuidCounter);
        let (a, b) = (p.generate(), p.generate());
        let (pa, na) = a.split_once('#').expect("uuid#counter");
        let (pb, nb) = b.split_once('#').expect("uuid#counter");
        assert_eq!(pa, pb);
        assert!(Uuid::parse_str(pa).is_ok());
        assert_eq!((na, nb), ("1", "2"));
        assert!(Uuid::parse_str(&plugin(Generator::Uuid).generate()).is_ok());
        let t = plugin(Generator::Tracker).generate();
        assert_ne!(t, plugin(Generator::Tracker).generate().replace('-', "+"));
        assert_eq!(t.split('-').count(), 3, "{t}");
    }
}
