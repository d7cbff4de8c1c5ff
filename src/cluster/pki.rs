//! The cluster's own certificate authority: generated on the control plane's first start and kept
//! in its database; it signs the cluster listener's certificate at every start. Nodes pin the CA
//! by its SHA-256 fingerprint (or a copy of its PEM file), so no public CA is involved.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};

use crate::store::Store;

const CA_CERT: &str = "cluster_ca_cert";
const CA_KEY: &str = "cluster_ca_key";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The CA's parameters are a fixed function of nothing but this code, so the issuer rebuilt from
/// them at every start names exactly the subject written into the stored CA certificate.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Gatehouse");
    dn.push(DnType::CommonName, "Gatehouse cluster CA");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2124, 1, 1);
    params
}

pub struct ClusterCa {
    pub cert_pem: String,
    pub cert_der: CertificateDer<'static>,
    key: KeyPair,
}

impl ClusterCa {
    pub async fn load_or_create(store: &Store) -> anyhow::Result<ClusterCa> {
        let key_pem = store
            .get_or_create_secret(CA_KEY, || {
                KeyPair::generate()
                    .map(|k| k.serialize_pem())
                    .unwrap_or_default()
            })
            .await?;
        let key = KeyPair::from_pem(&key_pem)
            .map_err(|e| anyhow::anyhow!("the stored cluster CA key is unreadable: {e}"))?;
        let cert_pem = store
            .get_or_create_secret(CA_CERT, || {
                ca_params()
                    .self_signed(&key)
                    .map(|c| c.pem())
                    .unwrap_or_default()
            })
            .await?;
        let cert_der = crate::domain::certificate::parse_certs(&cert_pem)
            .map_err(|e| anyhow::anyhow!("the stored cluster CA certificate is unreadable: {e}"))?
            .into_iter()
            .next()
            .ok_or_else(|| anyhow::anyhow!("the stored cluster CA certificate is empty"))?;
        Ok(ClusterCa {
            cert_pem,
            cert_der,
            key,
        })
    }

    /// `sha256:` and the hex SHA-256 of the CA certificate's DER, as nodes pin it.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.cert_der)
    }

    /// A fresh listener certificate for `names` (DNS names or IP addresses), signed by the CA;
    /// returns the chain (leaf, CA) and the key, both PEM.
    pub fn issue_server_cert(&self, names: &[String]) -> anyhow::Result<(String, String)> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(names.to_vec())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "Gatehouse control plane");
        params.distinguished_name = dn;
        params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
        params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(825);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let issuer = Issuer::new(ca_params(), &self.key);
        let cert = params.signed_by(&key, &issuer)?;
        Ok((
            format!("{}{}", cert.pem(), self.cert_pem),
            key.serialize_pem(),
        ))
    }
}

pub fn fingerprint(der: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(der)))
}

/// How a node decides the control plane is the one it was told to follow.
#[derive(Debug, Clone)]
pub enum CaPin {
    /// The SHA-256 fingerprint of the CA certificate (`sha256:HEX`, colons between bytes allowed).
    Fingerprint(String),
    /// The CA certificate itself (PEM).
    Pem(String),
}

impl CaPin {
    pub fn parse_fingerprint(text: &str) -> Result<CaPin, String> {
        let hexpart = text.trim().trim_start_matches("sha256:").replace(':', "");
        let hexpart = hexpart.to_ascii_lowercase();
        if hexpart.len() != 64 || !hexpart.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "'{text}' is not a SHA-256 fingerprint (expected sha256: and 64 hex digits)"
            ));
        }
        Ok(CaPin::Fingerprint(format!("sha256:{hexpart}")))
    }

    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let verifier: Arc<dyn ServerCertVerifier> = match self {
            CaPin::Fingerprint(fp) => Arc::new(PinnedCa(fp.clone(), provider())),
            CaPin::Pem(pem) => {
                let mut roots = RootCertStore::empty();
                for der in crate::domain::certificate::parse_certs(pem)? {
                    roots.add(der).map_err(|e| e.to_string())?;
                }
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                    .build()
                    .map_err(|e| e.to_string())?
            }
        };
        let mut cfg = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }
}

/// Trusts exactly the CA whose fingerprint was pinned: it must be in the chain the control plane
/// presents, and the leaf must be valid under it for the name dialled.
#[derive(Debug)]
struct PinnedCa(String, Arc<CryptoProvider>);

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ca = intermediates
            .iter()
            .find(|c| fingerprint(c) == self.0)
            .ok_or_else(|| {
                rustls::Error::General(format!(
                    "the control plane's CA does not match the pinned fingerprint {}",
                    self.0
                ))
            })?;
        let mut roots = RootCertStore::empty();
        roots
            .add(ca.clone().into_owned())
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.1.clone())
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?
            .verify_server_cert(end_entity, &[], server_name, ocsp, now)
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
            &self.1.signature_verification_algorithms,
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
            &self.1.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.1.signature_verification_algorithms.supported_schemes()
    }
}
