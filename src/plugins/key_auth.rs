//! Kong's key-auth: the key comes from a header or query argument named in `key_names`; no key
//! is 401 "No API key found in request", an unknown one 401 "Unauthorized", both with
//! `WWW-Authenticate: Key` (with the realm when configured); `anonymous` lets failed requests
//! through as that consumer; `hide_credentials` keeps the key from the upstream.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use http::{header::WWW_AUTHENTICATE, HeaderMap, HeaderName, Method};
use serde_json::Value;
use uuid::Uuid;

use super::{Access, Exit, Flow, Handler, Identity, Runtime, Shared};
use crate::domain::{GatewayConfig, Plugin};

/// Every key-auth key of the group, to its consumer.
#[derive(Default)]
pub struct Keys {
    // Looked up on every authenticated request; the table is the admin's, so a fast hasher
    // cannot be flooded by what clients send.
    by_key: HashMap<String, Arc<Identity>, foldhash::fast::RandomState>,
}

impl Keys {
    pub fn build(cfg: &GatewayConfig, consumers: &HashMap<Uuid, Arc<Identity>>) -> Keys {
        let by_key = cfg
            .keyauth_credentials
            .iter()
            .filter_map(|k| {
                let c = consumers.get(&k.consumer.id)?;
                Some((k.key.clone(), Arc::new(c.with_credential(k.id.to_string()))))
            })
            .collect();
        Keys { by_key }
    }
}

pub struct KeyAuth {
    /// Each of `key_names` with its header name, parsed once (`None` for a name that cannot be
    /// a header).
    key_names: Vec<(String, Option<HeaderName>)>,
    hide_credentials: bool,
    anonymous: Option<Arc<Identity>>,
    key_in_header: bool,
    key_in_query: bool,
    run_on_preflight: bool,
    www_authenticate: String,
}

pub fn build(p: &Plugin, shared: &Shared, _: &Runtime) -> Result<Arc<dyn Handler>, String> {
    Ok(Arc::new(KeyAuth::compile(&p.config, shared)?))
}

/// What authentication found; the caller applies it to the upstream request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub identity: Arc<Identity>,
    pub anonymous: bool,
    /// A header to remove from the upstream request (`hide_credentials`).
    pub hide_header: Option<String>,
    /// A query argument to remove from the upstream request (`hide_credentials`).
    pub hide_query: Option<String>,
}

impl Handler for KeyAuth {
    fn name(&self) -> &'static str {
        "key-auth"
    }
    fn priority(&self) -> i32 {
        1250
    }
    fn access(&self, req: &mut Access<'_>) -> Flow {
        if self.anonymous.is_some() && req.already_authenticated() {
            return Flow::Continue;
        }
        match self.check(
            req.method,
            req.headers,
            req.query.as_deref(),
            &req.shared.keys,
        ) {
            Ok(Some(who)) => {
                if let Some(h) = &who.hide_header {
                    req.headers.remove(h.as_str());
                }
                if let (Some(arg), Some(q)) = (&who.hide_query, req.query.as_deref()) {
                    *req.query = without_query_arg(q, arg);
                }
                req.authenticate(who.identity, who.anonymous);
                Flow::Continue
            }
            Ok(None) => Flow::Continue,
            Err(exit) => Flow::Exit(exit),
        }
    }
}

impl KeyAuth {
    pub fn compile(config: &Value, shared: &Shared) -> Result<KeyAuth, String> {
        let flag = |k: &str, d: bool| config.get(k).and_then(Value::as_bool).unwrap_or(d);
        let key_names: Vec<String> = config
            .get("key_names")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .filter(|v: &Vec<String>| !v.is_empty())
            .ok_or("no key_names")?;
        let www_authenticate = match config.get("realm").and_then(Value::as_str) {
            Some(r) => format!("Key realm=\"{r}\""),
            None => "Key".to_string(),
        };
        let key_names = key_names
            .into_iter()
            .map(|n| {
                let header = HeaderName::from_bytes(n.as_bytes()).ok();
                (n, header)
            })
            .collect();
        Ok(KeyAuth {
            key_names,
            hide_credentials: flag("hide_credentials", false),
            anonymous: shared.anonymous(config)?,
            key_in_header: flag("key_in_header", true),
            key_in_query: flag("key_in_query", true),
            run_on_preflight: flag("run_on_preflight", true),
            www_authenticate,
        })
    }

    fn unauthorized(&self, message: &str) -> Exit {
        Exit::message(401, message).header(WWW_AUTHENTICATE, &self.www_authenticate)
    }

    /// `Ok(None)`: the plugin does not run for this request (a preflight with
    /// `run_on_preflight` off).
    pub fn check(
        &self,
        method: &Method,
        headers: &HeaderMap,
        query: Option<&str>,
        keys: &Keys,
    ) -> Result<Option<Authenticated>, Exit> {
        if method == Method::OPTIONS && !self.run_on_preflight {
            return Ok(None);
        }
        let mut found: Option<(Cow<'_, str>, Option<&String>, Option<&String>)> = None;
        for (name, header) in &self.key_names {
            if let (true, Some(header)) = (self.key_in_header, header) {
                let mut values = headers.get_all(header).iter();
                if let Some(v) = values.next() {
                    if values.next().is_some() {
                        return self.fail("Duplicate API key found");
                    }
                    found = Some((Cow::Borrowed(v.to_str().unwrap_or("")), Some(name), None));
                    break;
                }
            }
            if self.key_in_query {
                let mut matching = query
                    .into_iter()
                    .flat_map(|q| form_urlencoded::parse(q.as_bytes()))
                    .filter(|(k, _)| k == name.as_str());
                if let Some((_, v)) = matching.next() {
                    if matching.next().is_some() {
                        return self.fail("Duplicate API key found");
                    }
                    found = Some((v, None, Some(name)));
                    break;
                }
            }
        }
        let Some((key, header, query_arg)) = found.filter(|(k, _, _)| !k.is_empty()) else {
            return self.fail("No API key found in request");
        };
        let Some(identity) = keys.by_key.get(key.as_ref()) else {
            return self.fail("Unauthorized");
        };
        Ok(Some(Authenticated {
            identity: identity.clone(),
            anonymous: false,
            hide_header: header.filter(|_| self.hide_credentials).cloned(),
            hide_query: query_arg.filter(|_| self.hide_credentials).cloned(),
        }))
    }

    /// A failed authentication: the anonymous consumer when configured, else the 401.
    fn fail(&self, message: &str) -> Result<Option<Authenticated>, Exit> {
        match &self.anonymous {
            Some(a) => Ok(Some(Authenticated {
                identity: a.clone(),
                anonymous: true,
                hide_header: None,
                hide_query: None,
            })),
            None => Err(self.unauthorized(message)),
        }
    }
}

/// `query` without the argument `name`, or `None` when nothing is left.
pub fn without_query_arg(query: &str, name: &str) -> Option<String> {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let k = pair.split('=').next().unwrap_or("");
            form_urlencoded::parse(k.as_bytes())
                .next()
                .map(|(k, _)| k != name)
                .unwrap_or(true)
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Consumer, KeyAuthCredential};

    fn setup(config: Value) -> (KeyAuth, Keys) {
        let consumer = Consumer {
            id: Uuid::from_u128(1),
            created_at: 1,
            updated_at: 1,
            username: Some("bob".into()),
            custom_id: None,
            tags: None,
        };
        let cfg = GatewayConfig {
            keyauth_credentials: vec![KeyAuthCredential {
                id: Uuid::from_u128(2),
                created_at: 1,
                consumer: crate::domain::gateway_service::ForeignKey { id: consumer.id },
                key: "secret".into(),
                ttl: None,
                tags: None,
            }],
            consumers: vec![consumer],
            ..GatewayConfig::default()
        };
        let shared = Shared::build(&cfg);
        let k = KeyAuth::compile(&config, &shared).expect("compile");
        (k, shared.keys)
    }

    #[test]
    fn keys_in_headers_and_queries_like_kong() {
        let (k, keys) =
            setup(serde_json::json!({ "key_names": ["apikey"], "hide_credentials": true }));
        let mut h = HeaderMap::new();
        let none = k.check(&Method::GET, &h, None, &keys).expect_err("no key");
        assert_eq!(
            none,
            Exit::message(401, "No API key found in request").header(WWW_AUTHENTICATE, "Key")
        );
        let bad = k
            .check(&Method::GET, &h, Some("apikey=nope"), &keys)
            .expect_err("bad key");
        assert_eq!(
            bad.body,
            super::super::ExitBody::Message("Unauthorized".into())
        );
        let ok = k
            .check(&Method::GET, &h, Some("a=1&apikey=secret"), &keys)
            .expect("ok")
            .expect("ran");
        assert_eq!(ok.identity.username.as_deref(), Some("bob"));
        assert_eq!(ok.hide_query.as_deref(), Some("apikey"));
        h.insert("apikey", "secret".parse().expect("value"));
        let ok = k
            .check(&Method::GET, &h, None, &keys)
            .expect("ok")
            .expect("ran");
        assert_eq!(ok.hide_header.as_deref(), Some("apikey"));
        h.append("apikey", "other".parse().expect("value"));
        let dup = k
            .check(&Method::GET, &h, None, &keys)
            .expect_err("duplicate");
        assert_eq!(
            dup.body,
            super::super::ExitBody::Message("Duplicate API key found".into())
        );
        assert_eq!(
            without_query_arg("a=1&apikey=x&b=2", "apikey").as_deref(),
            Some("a=1&b=2")
        );
        assert_eq!(without_query_arg("apikey=x", "apikey"), None);
    }

    #[test]
    fn anonymous_and_preflight() {
        let (k, keys) = setup(serde_json::json!({
            "key_names": ["apikey"], "anonymous": "bob", "run_on_preflight": false, "realm": "gh"
        }));
        let h = HeaderMap::new();
        let anon = k
            .check(&Method::GET, &h, None, &keys)
            .expect("anonymous")
            .expect("ran");
        assert!(anon.anonymous);
        assert_eq!(anon.identity.credential, None);
        assert_eq!(k.check(&Method::OPTIONS, &h, None, &keys), Ok(None));
        assert_eq!(k.www_authenticate, "Key realm=\"gh\"");
    }
}
