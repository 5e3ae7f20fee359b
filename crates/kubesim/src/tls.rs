//! A generated CA and server certificate, so that a client's TLS path (CA verification,
//! SANs) runs against kubesim as against a real cluster.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A CA and a server certificate signed by it (SANs `localhost`, `127.0.0.1`, or the names
/// given to [`ServingCerts::generate_for`]).
pub struct ServingCerts {
    /// The CA certificate, PEM: what a kubeconfig's `certificate-authority-data` carries.
    pub ca_pem: String,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl ServingCerts {
    /// Generates a fresh CA and server certificate for `localhost` and `127.0.0.1`.
    ///
    /// Errors: rcgen cannot generate the keys or certificates.
    pub fn generate() -> Result<Self, rcgen::Error> {
        Self::generate_for(&["localhost", "127.0.0.1"])
    }

    /// Generates a fresh CA and a server certificate whose SANs are `names` (DNS names, or
    /// IP addresses written as such): e.g. a webhook server's `127.0.0.1` and
    /// `<service>.<namespace>.svc`.
    ///
    /// Errors: rcgen cannot generate the keys or certificates.
    pub fn generate_for(names: &[&str]) -> Result<Self, rcgen::Error> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "kubesim-ca");
        ca_params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
        params.distinguished_name.push(DnType::CommonName, "kubesim");
        let cert = params.signed_by(&key, &issuer)?;
        Ok(Self { ca_pem: ca_cert.pem(), cert_der: cert.der().clone(), key_der: key.serialize_der() })
    }

    /// A rustls server config (ring provider, TLS 1.2 and 1.3, ALPN h2 and http/1.1).
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![self.cert_der.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
            )?;
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }
}
