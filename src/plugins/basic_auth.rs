//! Kong's basic-auth: `Authorization: Basic base64(user:password)` (or `Proxy-Authorization`,
//! tried first) checked against the consumers' basic-auth credentials. Kong answers every
//! failure with 401 "Unauthorized" and `WWW-Authenticate: Basic realm="…"`; `anonymous` lets
//! failed requests through as that consumer; `hide_credentials` keeps the header from the
//! upstream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use http::header::{AUTHORIZATION, PROXY_AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderName};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Access, Exit, Flow, Handler, Identity, Runtime, Shared};
use crate::domain::{GatewayConfig, Plugin};

struct Credential {
    id: Uuid,
    /// The argon2id hash in PHC form.
    hash: String,
    identity: Arc<Identity>,
}

/// Every basic-auth credential of the group, by username.
#[derive(Default)]
pub struct Credentials {
    by_username: HashMap<String, Credential>,
    /// Passwords already verified in this snapshot: credential id to SHA-256(salt, password).
    /// argon2 is deliberately slow (tens of milliseconds), far too slow to run on every
    /// request a client sends with the same header, so a password that verified once is
    /// recognised by a fast digest afterwards. The salt is random per snapshot, so the
    /// digests say nothing outside this process; a new snapshot (the credential changed)
    /// starts empty. A password that does not match the digest still goes through argon2,
    /// so a wrong one is always checked against the stored hash. That check runs on the
    /// proxy's worker (authentication must finish before the request goes on, and a Wait
    /// future cannot set the consumer), so a flood of wrong passwords for a known username
    /// costs argon2 time each; Kong's own answer to that is its rate-limiting plugins.
    verified: Mutex<HashMap<Uuid, [u8; 32]>>,
    salt: [u8; 16],
}

impl Credentials {
    pub fn build(cfg: &GatewayConfig, consumers: &HashMap<Uuid, Arc<Identity>>) -> Credentials {
        let by_username = cfg
            .basicauth_credentials
            .iter()
            .filter_map(|c| {
                let consumer = consumers.get(&c.consumer.id)?;
                Some((
                    c.username.clone(),
                    Credential {
                        id: c.id,
                        hash: c.password.clone(),
                        identity: Arc::new(consumer.with_credential(c.username.clone())),
                    },
                ))
            })
            .collect();
        let mut salt = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
        Credentials {
            by_username,
            verified: Mutex::default(),
            salt,
        }
    }

    fn digest(&self, id: Uuid, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update(id.as_bytes());
        h.update(password.as_bytes());
        h.finalize().into()
    }

    /// Whether the credential exists (`Some`), and whether `password` is its password.
    fn verify(&self, username: &str, password: &str) -> Option<(bool, &Arc<Identity>)> {
        let cred = self.by_username.get(username)?;
        let digest = self.digest(cred.id, password);
        // A poisoned lock only means another request panicked mid-insert; the map is fine.
        let known = self
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&cred.id)
            .is_some_and(|d| crate::security::constant_time_eq(d, &digest));
        if known {
            return Some((true, &cred.identity));
        }
        let ok = crate::security::verify_password(password, &cred.hash);
        if ok {
            self.verified
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(cred.id, digest);
        }
        Some((ok, &cred.identity))
    }
}

pub struct BasicAuth {
    hide_credentials: bool,
    anonymous: Option<Arc<Identity>>,
    www_authenticate: String,
}

pub fn build(p: &Plugin, shared: &Shared, _: &Runtime) -> Result<Arc<dyn Handler>, String> {
    Ok(Arc::new(BasicAuth::compile(&p.config, shared)?))
}

impl Handler for BasicAuth {
    fn name(&self) -> &'static str {
        "basic-auth"
    }
    fn priority(&self) -> i32 {
        1100
    }
    fn access(&self, req: &mut Access<'_>) -> Flow {
        if self.anonymous.is_some() && req.already_authenticated() {
            return Flow::Continue;
        }
        match self.check(req.headers, &req.shared.basic) {
            Some(who) => req.authenticate(who, false),
            None => match &self.anonymous {
                Some(a) => req.authenticate(a.clone(), true),
                None => {
                    return Flow::Exit(
                        Exit::message(401, "Unauthorized")
                            .header(WWW_AUTHENTICATE, &self.www_authenticate),
                    )
                }
            },
        }
        Flow::Continue
    }
}

impl BasicAuth {
    pub fn compile(config: &Value, shared: &Shared) -> Result<BasicAuth, String> {
        let realm = config
            .get("realm")
            .and_then(Value::as_str)
            .unwrap_or("service");
        Ok(BasicAuth {
            hide_credentials: config
                .get("hide_credentials")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            anonymous: shared.anonymous(config)?,
            www_authenticate: format!("Basic realm=\"{realm}\""),
        })
    }

    /// Kong's order: Proxy-Authorization first, then Authorization unless the former named a
    /// known user; with `hide_credentials` each header looked at is removed, whatever the
    /// outcome. `None`: not authenticated.
    fn check(&self, headers: &mut HeaderMap, creds: &Credentials) -> Option<Arc<Identity>> {
        if !headers.contains_key(AUTHORIZATION) && !headers.contains_key(PROXY_AUTHORIZATION) {
            return None;
        }
        let mut found = self
            .take(headers, PROXY_AUTHORIZATION)
            .and_then(|(user, pass)| Some((creds.verify(&user, &pass)?, user)));
        if found.is_none() {
            let (user, pass) = self.take(headers, AUTHORIZATION)?;
            found = Some((creds.verify(&user, &pass)?, user));
        }
        match found {
            Some(((true, who), _)) => Some(who.clone()),
            _ => None,
        }
    }

    /// The username and password in header `name`, which `hide_credentials` removes.
    fn take(&self, headers: &mut HeaderMap, name: HeaderName) -> Option<(String, String)> {
        let parsed = headers
            .get(&name)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_basic);
        if self.hide_credentials {
            headers.remove(name);
        }
        parsed
    }
}

/// `Basic <base64(user:password)>` as Kong reads it: the scheme found anywhere in the value
/// (`[Bb]asic`), a non-empty username before the first colon, the rest (maybe empty) the
/// password.
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let at = header
        .find("Basic")
        .into_iter()
        .chain(header.find("basic"))
        .min()?;
    let token = header[at + 5..].trim_start();
    if token.is_empty() {
        return None;
    }
    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let decoded = String::from_utf8(lenient.decode(token.trim_end()).ok()?).ok()?;
    // Kong's unanchored `([^:]+):(.*)` skips leading colons.
    let (user, pass) = decoded.trim_start_matches(':').split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::gateway_service::ForeignKey;
    use crate::domain::{BasicAuthCredential, Consumer};

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn parses_like_kong() {
        let ok = |h: &str| parse_basic(h);
        assert_eq!(
            ok(&format!("Basic {}", b64("bob:kong"))),
            Some(("bob".into(), "kong".into()))
        );
        assert_eq!(
            ok(&format!("  basic {}", b64("bob:a:b"))),
            Some(("bob".into(), "a:b".into()))
        );
        assert_eq!(
            ok(&format!("Basic {}", b64("bob:"))),
            Some(("bob".into(), String::new()))
        );
        assert_eq!(ok(&format!("Basic {}", b64("bob"))), None);
        assert_eq!(ok("Basic !!!"), None);
        assert_eq!(ok("Bearer abc"), None);
        assert_eq!(ok("Basic "), None);
        assert_eq!(
            ok(&format!("Basic {}", b64("bob:kong")).replace('=', "")),
            ok(&format!("Basic {}", b64("bob:kong")))
        );
    }

    #[test]
    fn verifies_hashes_and_remembers_good_passwords_only() {
        let consumer = Consumer {
            id: Uuid::from_u128(1),
            created_at: 1,
            updated_at: 1,
            username: Some("bob".into()),
            custom_id: None,
            tags: None,
        };
        let cred = BasicAuthCredential {
            id: Uuid::from_u128(2),
            created_at: 1,
            consumer: ForeignKey { id: consumer.id },
            username: "user123".into(),
            password: crate::security::hash_password("kong").expect("hash"),
            tags: None,
        };
        let cfg = GatewayConfig {
            basicauth_credentials: vec![cred],
            consumers: vec![consumer],
            ..GatewayConfig::default()
        };
        let shared = Shared::build(&cfg);
        let creds = &shared.basic;
        assert!(creds.verify("nobody", "kong").is_none());
        let (ok, who) = creds.verify("user123", "wrong").expect("known user");
        assert!(!ok);
        assert_eq!(who.credential.as_deref(), Some("user123"));
        assert!(creds.verified.lock().expect("lock").is_empty());
        assert!(creds.verify("user123", "kong").expect("known").0);
        assert_eq!(creds.verified.lock().expect("lock").len(), 1);
        assert!(
            creds.verify("user123", "kong").expect("known").0,
            "from the cache"
        );
        assert!(!creds.verify("user123", "kong2").expect("known").0);

        let plugin = BasicAuth::compile(&serde_json::json!({ "hide_credentials": true }), &shared)
            .expect("compile");
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            format!("Basic {}", b64("user123:kong"))
                .parse()
                .expect("value"),
        );
        h.insert(
            PROXY_AUTHORIZATION,
            "Basic nonsense".parse().expect("value"),
        );
        let who = plugin.check(&mut h, creds).expect("authenticated");
        assert_eq!(who.username.as_deref(), Some("bob"));
        assert!(h.is_empty(), "both headers hidden: {h:?}");
        assert_eq!(plugin.www_authenticate, "Basic realm=\"service\"");
    }
}
