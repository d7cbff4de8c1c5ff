//! Kong's Certificate, SNI and CA Certificate objects: PEM material the proxy serves on its TLS
//! listener (chosen by SNI) and trusts or presents when it talks TLS to upstreams.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::entity::{merged, Entity};
use super::fields::{check_known, none_if_empty, Reader};
use super::gateway_service::{check_tags, ForeignKey};
use super::FieldErrors;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    pub id: Uuid,
    pub created_at: i64,
    pub updated_at: i64,
    pub cert: String,
    pub key: String,
    pub cert_alt: Option<String>,
    pub key_alt: Option<String>,
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sni {
    pub id: Uuid,
    pub created_at: i64,
    pub updated_at: i64,
    pub name: String,
    pub certificate: ForeignKey,
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaCertificate {
    pub id: Uuid,
    pub created_at: i64,
    pub updated_at: i64,
    pub cert: String,
    pub cert_digest: String,
    pub tags: Option<Vec<String>>,
}

/// Parses a PEM chain; at least one certificate.
pub fn parse_certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
    match certs {
        Ok(c) if !c.is_empty() => Ok(c),
        _ => Err("invalid certificate: unable to load certificate from PEM".into()),
    }
}

pub fn parse_key(pem: &str) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|_| "invalid key: unable to load private key from PEM".into())
}

impl Entity for Certificate {
    const KIND: &'static str = "certificates";
    const NAME_FIELD: Option<&'static str> = None;

    fn id(&self) -> Uuid {
        self.id
    }
    fn created_at(&self) -> i64 {
        self.created_at
    }
    fn unique_name(&self) -> Option<String> {
        None
    }

    fn from_input(
        id: Uuid,
        now: i64,
        _parent: Option<Uuid>,
        base: Option<&Certificate>,
        input: &Map<String, Value>,
    ) -> Result<Certificate, FieldErrors> {
        let mut errors = FieldErrors::new();
        let known = [
            "id",
            "created_at",
            "updated_at",
            "cert",
            "key",
            "cert_alt",
            "key_alt",
            "tags",
            "snis",
        ];
        check_known(input, &known, &mut errors);
        let mut input = input.clone();
        input.remove("snis");
        let m = merged(base, &input);
        let mut r = Reader::new(&m);
        let cert = r.opt_string("cert");
        let key = r.opt_string("key");
        let cert_alt = r.opt_string("cert_alt");
        let key_alt = r.opt_string("key_alt");
        let tags = none_if_empty(r.opt_string_array("tags"));
        for (k, v) in r.finish().0 {
            errors.add(k, v);
        }
        for (field, value, parse) in [
            ("cert", &cert, true),
            ("key", &key, false),
            ("cert_alt", &cert_alt, true),
            ("key_alt", &key_alt, false),
        ] {
            match value {
                None if field == "cert" || field == "key" => {
                    errors.add(field, "required field missing")
                }
                None => {}
                Some(pem) => {
                    let checked = if parse {
                        parse_certs(pem).map(|_| ())
                    } else {
                        parse_key(pem).map(|_| ())
                    };
                    if let Err(msg) = checked {
                        errors.add(field, msg);
                    }
                }
            }
        }
        if cert_alt.is_some() != key_alt.is_some() {
            errors.add(
                "@entity",
                "all or none of these fields must be set: 'cert_alt', 'key_alt'",
            );
        }
        check_tags(&tags, &mut errors);
        errors.into_result(Certificate {
            id,
            created_at: base.map(|b| b.created_at).unwrap_or(now),
            updated_at: now,
            cert: cert.unwrap_or_default(),
            key: key.unwrap_or_default(),
            cert_alt,
            key_alt,
            tags,
        })
    }
}

/// The SNI names a certificate body carries (`snis`), checked like SNI entities' names.
pub fn sni_names(input: &Map<String, Value>) -> Result<Option<Vec<String>>, FieldErrors> {
    let mut r = Reader::new(input);
    let names = r.opt_string_array("snis");
    let mut errors = r.finish();
    for n in names.iter().flatten() {
        if let Err(msg) = check_sni_name(n) {
            errors.add("snis", msg);
        }
    }
    errors.into_result(names)
}

/// A host name, possibly with one leading or trailing `*` label, no port.
pub fn check_sni_name(name: &str) -> Result<(), String> {
    let bare = name
        .strip_prefix("*.")
        .or_else(|| name.strip_suffix(".*"))
        .unwrap_or(name);
    if bare.contains('*') || bare.contains(':') {
        return Err(format!(
            "invalid SNI '{name}': only one wildcard label, and no port"
        ));
    }
    super::gateway_service::check_host(bare).map_err(|_| format!("invalid SNI '{name}'"))
}

impl Entity for Sni {
    const KIND: &'static str = "snis";
    const NAME_FIELD: Option<&'static str> = Some("name");

    fn id(&self) -> Uuid {
        self.id
    }
    fn created_at(&self) -> i64 {
        self.created_at
    }
    fn unique_name(&self) -> Option<String> {
        Some(self.name.clone())
    }
    fn parent(&self) -> Option<Uuid> {
        Some(self.certificate.id)
    }

    fn from_input(
        id: Uuid,
        now: i64,
        parent: Option<Uuid>,
        base: Option<&Sni>,
        input: &Map<String, Value>,
    ) -> Result<Sni, FieldErrors> {
        let mut errors = FieldErrors::new();
        check_known(
            input,
            &[
                "id",
                "created_at",
                "updated_at",
                "name",
                "certificate",
                "tags",
            ],
            &mut errors,
        );
        let m = merged(base, input);
        let mut r = Reader::new(&m);
        let name = r.opt_string("name");
        let tags = none_if_empty(r.opt_string_array("tags"));
        let cert = super::gateway_service::client_certificate_field(&mut r, "certificate");
        for (k, v) in r.finish().0 {
            errors.add(k, v);
        }
        let name = match name {
            None => {
                errors.add("name", "required field missing");
                String::new()
            }
            Some(n) => {
                if let Err(msg) = check_sni_name(&n) {
                    errors.add("name", msg);
                }
                n.to_ascii_lowercase()
            }
        };
        let certificate = match parent.map(|id| ForeignKey { id }).or(cert) {
            Some(c) => c,
            None => {
                errors.add("certificate", "required field missing");
                ForeignKey { id: Uuid::nil() }
            }
        };
        check_tags(&tags, &mut errors);
        errors.into_result(Sni {
            id,
            created_at: base.map(|b| b.created_at).unwrap_or(now),
            updated_at: now,
            name,
            certificate,
            tags,
        })
    }
}

impl Entity for CaCertificate {
    const KIND: &'static str = "ca_certificates";
    const NAME_FIELD: Option<&'static str> = None;

    fn id(&self) -> Uuid {
        self.id
    }
    fn created_at(&self) -> i64 {
        self.created_at
    }
    /// Kong keeps CA certificates unique by digest.
    fn unique_name(&self) -> Option<String> {
        Some(self.cert_digest.clone())
    }

    fn from_input(
        id: Uuid,
        now: i64,
        _parent: Option<Uuid>,
        base: Option<&CaCertificate>,
        input: &Map<String, Value>,
    ) -> Result<CaCertificate, FieldErrors> {
        let mut errors = FieldErrors::new();
        check_known(
            input,
            &[
                "id",
                "created_at",
                "updated_at",
                "cert",
                "cert_digest",
                "tags",
            ],
            &mut errors,
        );
        let mut input = input.clone();
        input.remove("cert_digest");
        let m = merged(base, &input);
        let mut r = Reader::new(&m);
        let cert = r.opt_string("cert");
        let tags = none_if_empty(r.opt_string_array("tags"));
        for (k, v) in r.finish().0 {
            errors.add(k, v);
        }
        let mut digest = String::new();
        match &cert {
            None => errors.add("cert", "required field missing"),
            Some(pem) => match parse_certs(pem) {
                Ok(certs) if certs.len() == 1 => {
                    digest = hex::encode(Sha256::digest(certs[0].as_ref()));
                }
                Ok(_) => errors.add("cert", "please submit only one certificate at a time"),
                Err(msg) => errors.add("cert", msg),
            },
        }
        check_tags(&tags, &mut errors);
        errors.into_result(CaCertificate {
            id,
            created_at: base.map(|b| b.created_at).unwrap_or(now),
            updated_at: now,
            cert: cert.unwrap_or_default(),
            cert_digest: digest,
            tags,
        })
    }
}
