//! Reading and checking a JWT as Kong's `jwt_parser.lua` does: three base64url parts (header
//! and claims JSON objects, the signature), an `alg` this build verifies, the signature over
//! `header.claims`, and the registered claims `exp` and `nbf`, with Kong's error texts.

use base64::Engine;
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::Verifier;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};

/// The algorithms this build verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Hs256,
    Hs384,
    Hs512,
    Rs256,
    Rs384,
    Rs512,
    Es256,
}

impl Alg {
    pub fn parse(s: &str) -> Option<Alg> {
        Some(match s {
            "HS256" => Alg::Hs256,
            "HS384" => Alg::Hs384,
            "HS512" => Alg::Hs512,
            "RS256" => Alg::Rs256,
            "RS384" => Alg::Rs384,
            "RS512" => Alg::Rs512,
            "ES256" => Alg::Es256,
            _ => return None,
        })
    }
    pub fn symmetric(self) -> bool {
        matches!(self, Alg::Hs256 | Alg::Hs384 | Alg::Hs512)
    }
}

/// What checks a signature: an HMAC secret or a parsed public key (parsed once, when the
/// snapshot is built).
pub enum Key {
    Hmac(Vec<u8>),
    Rsa(Box<rsa::RsaPublicKey>),
    Ec(p256::ecdsa::VerifyingKey),
}

impl Key {
    /// The public key in `pem` for an asymmetric algorithm, if it parses.
    pub fn public(alg: Alg, pem: &str) -> Option<Key> {
        use p256::pkcs8::DecodePublicKey;
        match alg {
            Alg::Es256 => p256::ecdsa::VerifyingKey::from_public_key_pem(pem)
                .ok()
                .map(Key::Ec),
            Alg::Rs256 | Alg::Rs384 | Alg::Rs512 => {
                use rsa::pkcs1::DecodeRsaPublicKey;
                rsa::RsaPublicKey::from_public_key_pem(pem)
                    .or_else(|_| rsa::RsaPublicKey::from_pkcs1_pem(pem))
                    .ok()
                    .map(|k| Key::Rsa(Box::new(k)))
            }
            _ => None,
        }
    }
}

/// A decoded token.
#[derive(Debug)]
pub struct Jwt<'a> {
    /// `header.claims`, what the signature covers.
    signed: &'a str,
    pub alg: Alg,
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    signature: Vec<u8>,
}

/// base64url with or without padding, as Kong's decoder accepts it.
pub fn b64url(s: &str) -> Option<Vec<u8>> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(s).ok()
}

fn object(part: &str) -> Option<Map<String, Value>> {
    match serde_json::from_slice(&b64url(part)?).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// Kong's `decode_token`: the error is what follows "Bad token; ".
pub fn decode(token: &str) -> Result<Jwt<'_>, &'static str> {
    let mut parts = token.splitn(3, '.');
    let (Some(h), Some(c), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("invalid JSON");
    };
    let (Some(header), Some(claims)) = (object(h), object(c)) else {
        return Err("invalid JSON");
    };
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(Alg::parse)
        .ok_or("invalid alg")?;
    let signature = b64url(s).ok_or("invalid signature")?;
    Ok(Jwt {
        signed: &token[..h.len() + 1 + c.len()],
        alg,
        header,
        claims,
        signature,
    })
}

/// DER DigestInfo prefixes of PKCS#1 v1.5 signatures (RFC 8017, section 9.2, note 1).
const SHA256_PREFIX: &[u8] = &[
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
const SHA384_PREFIX: &[u8] = &[
    0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
    0x00, 0x04, 0x30,
];
const SHA512_PREFIX: &[u8] = &[
    0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05,
    0x00, 0x04, 0x40,
];

fn hmac_ok<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8], sig: &[u8]) -> bool {
    match <M as hmac::digest::KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            // Constant time: the comparison says nothing about where it differs.
            mac.verify_slice(sig).is_ok()
        }
        Err(_) => false,
    }
}

fn rsa_ok(key: &rsa::RsaPublicKey, hashed: Vec<u8>, prefix: &[u8], sig: &[u8]) -> bool {
    let scheme = rsa::Pkcs1v15Sign {
        hash_len: Some(hashed.len()),
        prefix: prefix.into(),
    };
    key.verify(scheme, &hashed, sig).is_ok()
}

impl Jwt<'_> {
    /// Whether the signature is the token's under `key` (which must suit the token's alg).
    pub fn verify(&self, key: &Key) -> bool {
        let data = self.signed.as_bytes();
        let sig = self.signature.as_slice();
        match (self.alg, key) {
            (Alg::Hs256, Key::Hmac(k)) => hmac_ok::<Hmac<Sha256>>(k, data, sig),
            (Alg::Hs384, Key::Hmac(k)) => hmac_ok::<Hmac<Sha384>>(k, data, sig),
            (Alg::Hs512, Key::Hmac(k)) => hmac_ok::<Hmac<Sha512>>(k, data, sig),
            (Alg::Rs256, Key::Rsa(k)) => {
                rsa_ok(k, Sha256::digest(data).to_vec(), SHA256_PREFIX, sig)
            }
            (Alg::Rs384, Key::Rsa(k)) => {
                rsa_ok(k, Sha384::digest(data).to_vec(), SHA384_PREFIX, sig)
            }
            (Alg::Rs512, Key::Rsa(k)) => {
                rsa_ok(k, Sha512::digest(data).to_vec(), SHA512_PREFIX, sig)
            }
            // RFC 7518 3.4: the raw 64-byte r||s, nothing else.
            (Alg::Es256, Key::Ec(k)) => p256::ecdsa::Signature::from_slice(sig)
                .is_ok_and(|s| sig.len() == 64 && k.verify(data, &s).is_ok()),
            _ => false,
        }
    }

    /// Kong's `verify_registered_claims`: errors by claim name.
    pub fn verify_claims(&self, to_verify: &[String], now: i64) -> Map<String, Value> {
        let mut errors = Map::new();
        for name in to_verify {
            let claim = self.claims.get(name).and_then(Value::as_f64);
            let problem = match (name.as_str(), claim) {
                (_, None) => "must be a number",
                ("exp", Some(exp)) if exp <= now as f64 => "token expired",
                ("nbf", Some(nbf)) if nbf > now as f64 => "token not valid yet",
                _ => continue,
            };
            errors.insert(name.clone(), Value::from(problem));
        }
        errors
    }

    /// Kong's `check_maximum_expiration`: `exp` must be at most `max` seconds away.
    pub fn within_maximum_expiration(&self, max: i64, now: i64) -> bool {
        if max <= 0 {
            return true;
        }
        self.claims
            .get("exp")
            .and_then(Value::as_f64)
            .is_some_and(|exp| exp - (now as f64) <= max as f64)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use serde_json::json;

    fn enc(v: &Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    pub fn hs256(claims: Value, secret: &[u8]) -> String {
        let signed = format!(
            "{}.{}",
            enc(&json!({"typ": "JWT", "alg": "HS256"})),
            enc(&claims)
        );
        let mut mac =
            <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(secret).expect("any length");
        mac.update(signed.as_bytes());
        let sig =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signed}.{sig}")
    }

    #[test]
    fn decodes_and_verifies_like_kongs_parser() {
        let t = hs256(json!({ "iss": "k", "exp": 100 }), b"secret");
        let jwt = decode(&t).expect("valid");
        assert_eq!(jwt.alg, Alg::Hs256);
        assert_eq!(jwt.claims["iss"], "k");
        assert!(jwt.verify(&Key::Hmac(b"secret".to_vec())));
        assert!(!jwt.verify(&Key::Hmac(b"other".to_vec())));
        assert_eq!(decode("abc").err(), Some("invalid JSON"));
        assert_eq!(decode("a.b.c").err(), Some("invalid JSON"));
        let none = format!("{}.{}.", enc(&json!({"alg": "none"})), enc(&json!({})));
        assert_eq!(decode(&none).err(), Some("invalid alg"));
        let bad_sig = format!("{}.{}.!!", enc(&json!({"alg": "HS256"})), enc(&json!({})));
        assert_eq!(decode(&bad_sig).err(), Some("invalid signature"));
        let errors = jwt.verify_claims(&["exp".into(), "nbf".into()], 200);
        assert_eq!(
            Value::Object(errors),
            json!({ "exp": "token expired", "nbf": "must be a number" })
        );
        assert!(jwt.verify_claims(&["exp".into()], 99).is_empty());
        assert!(jwt.within_maximum_expiration(10, 95));
        assert!(!jwt.within_maximum_expiration(10, 50));
    }
}
