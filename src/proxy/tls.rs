//! TLS for the proxy, both ways: the server side picks a certificate by SNI from the current
//! configuration (Kong's Certificate and SNI objects, hot-swapped with it), and the client side
//! builds one rustls configuration per distinct upstream TLS setting (verify or not, trusted CAs,
//! client certificate for mTLS).

use std::collections::HashMap;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;

use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use uuid::Uuid;

use crate::domain::certificate::{parse_certs, parse_key};
use crate::domain::{CaCertificate, Certificate, Sni};

pub(super) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate and key ready to serve.
pub fn certified_key(cert_pem: &str, key_pem: &str) -> Result<Arc<CertifiedKey>, String> {
    let certs = parse_certs(cert_pem)?;
    let key = parse_key(key_pem)?;
    let signer = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("unsupported private key: {e}"))?;
    Ok(Arc::new(CertifiedKey::new(certs, signer)))
}

/// A self-signed certificate for `localhost`, served when no SNI matches (Kong's default
/// certificate does the same job).
pub fn fallback_certificate() -> Option<Arc<CertifiedKey>> {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).ok()?;
    certified_key(
        &generated.cert.pem(),
        &generated.signing_key.serialize_pem(),
    )
    .ok()
}

/// Certificates by server name: exact names, then `*.suffix` and `prefix.*` wildcards.
#[derive(Default)]
pub struct CertIndex {
    exact: HashMap<String, Arc<CertifiedKey>>,
    suffix: HashMap<String, Arc<CertifiedKey>>,
    prefix: HashMap<String, Arc<CertifiedKey>>,
    /// Client certificates for upstream mTLS, by certificate id.
    pub by_id: HashMap<Uuid, Arc<CertifiedKey>>,
}

impl CertIndex {
    pub fn build(certs: &[Certificate], snis: &[Sni]) -> CertIndex {
        let mut index = CertIndex::default();
        for c in certs {
            match certified_key(&c.cert, &c.key) {
                Ok(k) => {
                    index.by_id.insert(c.id, k);
                }
                Err(e) => {
                    tracing::warn!(certificate.id = %c.id, error = %e, "certificate left out")
                }
            }
        }
        for s in snis {
            let Some(key) = index.by_id.get(&s.certificate.id).cloned() else {
                continue;
            };
            let name = s.name.to_ascii_lowercase();
            if let Some(rest) = name.strip_prefix("*.") {
                index.suffix.insert(rest.to_string(), key);
            } else if let Some(rest) = name.strip_suffix(".*") {
                index.prefix.insert(rest.to_string(), key);
            } else {
                index.exact.insert(name, key);
            }
        }
        index
    }

    pub fn find(&self, server_name: &str) -> Option<Arc<CertifiedKey>> {
        let name = server_name.to_ascii_lowercase();
        if let Some(k) = self.exact.get(&name) {
            return Some(k.clone());
        }
        if let Some((_, rest)) = name.split_once('.') {
            if let Some(k) = self.suffix.get(rest) {
                return Some(k.clone());
            }
        }
        let (head, _) = name.rsplit_once('.')?;
        self.prefix.get(head).cloned()
    }
}

/// One upstream TLS setting, as a comparable key so services that share it share a config.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientSetting {
    pub verify: bool,
    pub ca_ids: Vec<Uuid>,
    pub client_cert: Option<Uuid>,
}

pub fn client_config(
    setting: &ClientSetting,
    cas: &[CaCertificate],
    certs: &CertIndex,
) -> Result<Arc<ClientConfig>, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if setting.verify {
        let mut roots = RootCertStore::empty();
        if setting.ca_ids.is_empty() {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for id in &setting.ca_ids {
            let ca = cas
                .iter()
                .find(|c| c.id == *id)
                .ok_or_else(|| format!("CA certificate {id} does not exist"))?;
            for der in parse_certs(&ca.cert)? {
                roots.add(der).map_err(|e| e.to_string())?;
            }
        }
        builder.with_root_certificates(roots)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider())))
    };
    let mut cfg = match setting.client_cert {
        None => builder.with_no_client_auth(),
        Some(id) => {
            let key = certs
                .by_id
                .get(&id)
                .ok_or_else(|| format!("client certificate {id} does not exist"))?;
            builder.with_client_cert_resolver(Arc::new(ClientCert(key.clone())))
        }
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The client certificate presented to upstreams that ask for one (mTLS).
#[derive(Debug)]
struct ClientCert(Arc<CertifiedKey>);

impl rustls::client::ResolvesClientCert for ClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

pub fn server_name(host: &str) -> ServerName<'static> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string())
        .unwrap_or_else(|_| ServerName::try_from("localhost").expect("static name is valid"))
}

/// Kong's default (`tls_verify` unset): encrypt, but do not check the upstream's certificate.
/// Signatures are still checked, so the handshake itself is sound.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
