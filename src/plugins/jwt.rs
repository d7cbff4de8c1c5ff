//! Kong's jwt: a token from the query (`uri_param_names`), cookies (`cookie_names`) or a
//! `Bearer` header (`header_names`); its key claim (`iss`) names a consumer's jwt credential,
//! whose algorithm, secret or public key must check its signature; `exp`/`nbf` are checked
//! when configured. Failures are Kong's 401s with `WWW-Authenticate: Bearer …`; `anonymous`
//! lets failed requests through as that consumer.

mod token;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use http::header::{COOKIE, WWW_AUTHENTICATE};
use http::Method;
use serde_json::Value;

use super::{Access, Exit, ExitBody, Flow, Handler, Identity, Runtime, Shared};
use crate::domain::{GatewayConfig, Plugin};
use token::{Alg, Key};

/// One jwt credential, ready to check tokens.
struct Secret {
    /// `None`: an algorithm this build does not verify (no token can match it).
    alg: Option<Alg>,
    /// The HMAC secret as stored, and base64url-decoded (for `secret_is_base64`); or the
    /// parsed public key (`None` when it does not parse: "Invalid key/secret").
    plain: Option<Key>,
    decoded: Option<Key>,
    identity: Arc<Identity>,
}

/// Every jwt credential of the group, by key.
#[derive(Default)]
pub struct Secrets {
    by_key: HashMap<String, Secret>,
}

impl Secrets {
    pub fn build(cfg: &GatewayConfig, consumers: &HashMap<uuid::Uuid, Arc<Identity>>) -> Secrets {
        let by_key = cfg
            .jwt_secrets
            .iter()
            .filter_map(|s| {
                let consumer = consumers.get(&s.consumer.id)?;
                let alg = Alg::parse(&s.algorithm);
                let (plain, decoded) = match alg {
                    Some(a) if a.symmetric() => (
                        Some(Key::Hmac(s.secret.as_bytes().to_vec())),
                        token::b64url(&s.secret).map(Key::Hmac),
                    ),
                    Some(a) => (
                        s.rsa_public_key.as_deref().and_then(|p| Key::public(a, p)),
                        None,
                    ),
                    None => (None, None),
                };
                let identity = Arc::new(consumer.with_credential(s.key.clone()));
                Some((
                    s.key.clone(),
                    Secret {
                        alg,
                        plain,
                        decoded,
                        identity,
                    },
                ))
            })
            .collect();
        Secrets { by_key }
    }
}

pub struct Jwt {
    uri_param_names: Vec<String>,
    cookie_names: Vec<String>,
    header_names: Vec<String>,
    key_claim_name: String,
    secret_is_base64: bool,
    claims_to_verify: Vec<String>,
    anonymous: Option<Arc<Identity>>,
    run_on_preflight: bool,
    maximum_expiration: i64,
    www_authenticate: String,
    www_authenticate_error: String,
}

pub fn build(p: &Plugin, shared: &Shared, _: &Runtime) -> Result<Arc<dyn Handler>, String> {
    Ok(Arc::new(Jwt::compile(&p.config, shared)?))
}

impl Handler for Jwt {
    fn name(&self) -> &'static str {
        "jwt"
    }
    fn priority(&self) -> i32 {
        1450
    }
    fn access(&self, req: &mut Access<'_>) -> Flow {
        if req.method == Method::OPTIONS && !self.run_on_preflight {
            return Flow::Continue;
        }
        // With `anonymous` Kong runs a logical OR with the other authentication plugins.
        if self.anonymous.is_some() && req.already_authenticated() {
            return Flow::Continue;
        }
        let tokens = self.tokens(req);
        match self.check(&tokens, &req.shared.jwts, now_secs()) {
            Ok(who) => req.authenticate(who, false),
            Err(exit) => match &self.anonymous {
                Some(a) => req.authenticate(a.clone(), true),
                None => return Flow::Exit(exit),
            },
        }
        Flow::Continue
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The token in a `Bearer` header value as Kong's `\s*[Bb]earer\s+(.+)` finds it.
fn bearer(v: &str) -> Option<&str> {
    let mut from = 0;
    while let Some(i) = v[from..].find("earer") {
        let at = from + i;
        if at > 0 && matches!(v.as_bytes()[at - 1], b'B' | b'b') {
            let rest = &v[at + 5..];
            let token = rest.trim_start();
            if token.len() < rest.len() && !token.is_empty() {
                return Some(token);
            }
        }
        from = at + 5;
    }
    None
}

impl Jwt {
    pub fn compile(config: &Value, shared: &Shared) -> Result<Jwt, String> {
        let list = |k: &str| -> Vec<String> {
            config
                .get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let flag = |k: &str, d: bool| config.get(k).and_then(Value::as_bool).unwrap_or(d);
        let (www_authenticate, www_authenticate_error) =
            match config.get("realm").and_then(Value::as_str) {
                Some(r) => (
                    format!("Bearer realm=\"{r}\""),
                    format!("Bearer realm=\"{r}\", error=\"invalid_token\""),
                ),
                None => ("Bearer".into(), "Bearer error=\"invalid_token\"".into()),
            };
        Ok(Jwt {
            uri_param_names: list("uri_param_names"),
            cookie_names: list("cookie_names"),
            header_names: list("header_names"),
            key_claim_name: config
                .get("key_claim_name")
                .and_then(Value::as_str)
                .unwrap_or("iss")
                .to_string(),
            secret_is_base64: flag("secret_is_base64", false),
            claims_to_verify: list("claims_to_verify"),
            anonymous: shared.anonymous(config)?,
            run_on_preflight: flag("run_on_preflight", true),
            maximum_expiration: config
                .get("maximum_expiration")
                .and_then(Value::as_f64)
                .unwrap_or(0.0) as i64,
            www_authenticate,
            www_authenticate_error,
        })
    }

    /// Every distinct non-empty token the request carries, from the query, cookies and
    /// headers (Kong's `retrieve_tokens`).
    fn tokens(&self, req: &Access<'_>) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        if let Some(q) = req.query.as_deref() {
            for (k, v) in form_urlencoded::parse(q.as_bytes()) {
                if !v.is_empty() && self.uri_param_names.iter().any(|n| *n == k) {
                    found.insert(v.into_owned());
                }
            }
        }
        if !self.cookie_names.is_empty() {
            let cookies: Vec<(&str, &str)> = req
                .headers
                .get_all(COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .filter_map(|c| c.trim().split_once('='))
                .collect();
            for name in &self.cookie_names {
                // nginx's `$cookie_name`: the first cookie of that name.
                if let Some((_, v)) = cookies.iter().find(|(k, _)| k == name) {
                    if !v.is_empty() {
                        found.insert(v.to_string());
                    }
                }
            }
        }
        for name in &self.header_names {
            let value = req.headers.get(name.as_str()).and_then(|v| v.to_str().ok());
            if let Some(t) = value.and_then(bearer) {
                found.insert(t.to_string());
            }
        }
        found
    }

    fn fail(&self, message: &str) -> Exit {
        Exit::message(401, message).header(WWW_AUTHENTICATE, &self.www_authenticate_error)
    }

    /// Kong's `do_authentication`: who the token authenticates, or the 401 to answer.
    fn check(
        &self,
        tokens: &BTreeSet<String>,
        secrets: &Secrets,
        now: i64,
    ) -> Result<Arc<Identity>, Exit> {
        let mut each = tokens.iter();
        let (Some(raw), None) = (each.next(), each.next()) else {
            return Err(if tokens.is_empty() {
                Exit::message(401, "Unauthorized").header(WWW_AUTHENTICATE, &self.www_authenticate)
            } else {
                self.fail("Multiple tokens provided")
            });
        };
        let jwt = token::decode(raw).map_err(|e| self.fail(&format!("Bad token; {e}")))?;
        let claim = &self.key_claim_name;
        let key = match jwt.claims.get(claim).or_else(|| jwt.header.get(claim)) {
            None | Some(Value::Null) => {
                return Err(self.fail(&format!("No mandatory '{claim}' in claims")))
            }
            Some(Value::String(s)) if s.is_empty() => {
                return Err(self.fail(&format!("Invalid '{claim}' in claims")))
            }
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        let secret = secrets
            .by_key
            .get(&key)
            .ok_or_else(|| self.fail(&format!("No credentials found for given '{claim}'")))?;
        if secret.alg != Some(jwt.alg) {
            return Err(self.fail("Invalid algorithm"));
        }
        let material = if jwt.alg.symmetric() && self.secret_is_base64 {
            secret.decoded.as_ref()
        } else {
            secret.plain.as_ref()
        };
        let material = material.ok_or_else(|| self.fail("Invalid key/secret"))?;
        if !jwt.verify(material) {
            return Err(self.fail("Invalid signature"));
        }
        let errors = jwt.verify_claims(&self.claims_to_verify, now);
        if !errors.is_empty() {
            return Err(self.errors(Value::Object(errors)));
        }
        if !jwt.within_maximum_expiration(self.maximum_expiration, now) {
            return Err(self.errors(serde_json::json!({
                "exp": "exceeds maximum allowed expiration"
            })));
        }
        Ok(secret.identity.clone())
    }

    /// Kong answers claim failures with the errors themselves as the body.
    fn errors(&self, body: Value) -> Exit {
        Exit {
            status: 401,
            body: ExitBody::Json(body),
            headers: Vec::new(),
        }
        .header(WWW_AUTHENTICATE, &self.www_authenticate_error)
    }
}

#[cfg(test)]
mod tests;
