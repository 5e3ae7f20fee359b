//! Development certificates for mutual TLS (`scalekeeper certs`).
//!
//! [`Ca`] is a small certificate authority that signs server certificates
//! (extended key usage `serverAuth`) and client certificates (`clientAuth`).
//! [`write_dev_certs`] puts a CA, a server certificate for the local host and
//! one client certificate per identity into a directory, reusing an existing CA
//! there so that certificates issued earlier stay valid.
//!
//! All keys are ECDSA P-256, written as PEM PKCS#8; all certificates are PEM.
//! Validity periods are given in days and start a few minutes in the past to
//! tolerate clock skew between the machines involved.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType,
};
use rustls_pki_types::{CertificateDer, DnsName};
use x509_parser::certificate::X509Certificate;
use x509_parser::pem::parse_x509_pem;
use x509_parser::prelude::FromDer;
use x509_parser::time::ASN1Time;

/// The longest validity accepted, in days (about 100 years).
pub const MAX_VALIDITY_DAYS: u32 = 36_525;

/// Common name of the CA that [`write_dev_certs`] creates.
const DEV_CA_COMMON_NAME: &str = "scalekeeper dev CA";
/// Names the server certificate of [`write_dev_certs`] is always valid for.
const DEV_SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];
/// X.520 upper bound of a common name, in characters (`ub-common-name`).
const UB_COMMON_NAME: usize = 64;
/// How far before "now" a certificate's validity starts, for clock skew.
const BACKDATE: Duration = Duration::from_secs(5 * 60);
const SECONDS_PER_DAY: u64 = 24 * 60 * 60;

const CA_CERT_FILE: &str = "ca.pem";
const CA_KEY_FILE: &str = "ca-key.pem";
const SERVER_CERT_FILE: &str = "server.pem";
const SERVER_KEY_FILE: &str = "server-key.pem";

/// Errors writing or generating certificates.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// The certificate library failed to generate a key or a certificate.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// Reading or writing a file (or creating a directory) failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A client identity cannot be put into a certificate (empty, control
    /// characters, a malformed URI, or two identities mapping to one file name).
    #[error("invalid client identity: {0}")]
    InvalidIdentity(String),
    /// A server name is neither an IP address nor a valid DNS name, or no name was given.
    #[error("invalid server name: {0}")]
    InvalidServerName(String),
    /// A CA certificate or key cannot be used: unparsable, not a CA, the key does
    /// not match the certificate, expired, or an empty common name.
    #[error("invalid CA: {0}")]
    InvalidCa(String),
    /// A validity period (in days) outside `1..=MAX_VALIDITY_DAYS`.
    #[error("invalid validity of {0} days: must be between 1 and {MAX_VALIDITY_DAYS}")]
    InvalidValidity(u32),
}

/// A certificate authority that can sign server and client certificates.
///
/// Its `Debug` output never shows the private key.
pub struct Ca {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca").field("cert_pem", &self.cert_pem).field("key", &"[elided]").finish()
    }
}

impl Ca {
    /// A new self-signed CA (CN `common_name`, truncated to 64 characters), valid
    /// for `days` days, with a fresh ECDSA P-256 key.
    ///
    /// # Errors
    /// [`CertError::InvalidValidity`] if `days` is 0 or above [`MAX_VALIDITY_DAYS`];
    /// [`CertError::InvalidCa`] if `common_name` is empty or has control characters;
    /// [`CertError::Generate`] if key or certificate generation fails.
    pub fn generate(common_name: &str, days: u32) -> Result<Self, CertError> {
        if common_name.is_empty() || common_name.chars().any(char::is_control) {
            return Err(CertError::InvalidCa(format!(
                "common name {common_name:?} is empty or has control characters"
            )));
        }
        let mut params = CertificateParams::default();
        set_validity(&mut params, days)?;
        params.distinguished_name = common_name_dn(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(Self { cert_pem: cert.pem(), issuer: Issuer::new(params, key) })
    }

    /// Loads a CA from a PEM certificate and its PEM PKCS#8 private key (to sign
    /// more certificates with an existing dev CA). Only the first certificate in
    /// `cert_pem` is used; [`Ca::cert_pem`] returns `cert_pem` as given.
    ///
    /// # Errors
    /// [`CertError::InvalidCa`] if either PEM cannot be parsed, the certificate is
    /// not a CA (basic constraints) or may not sign certificates (key usage), the
    /// key does not belong to the certificate, the certificate has expired, or its
    /// subject cannot be reproduced exactly in the issuer field of new
    /// certificates (multi-valued or repeated attributes);
    /// [`CertError::Generate`] if signing with the key fails.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, CertError> {
        let invalid = |what: String| CertError::InvalidCa(what);
        let key = KeyPair::from_pem(key_pem).map_err(|e| invalid(format!("cannot parse the private key: {e}")))?;
        let (_, pem) = parse_x509_pem(cert_pem.as_bytes())
            .map_err(|e| invalid(format!("cannot parse the certificate PEM: {e}")))?;
        if pem.label != "CERTIFICATE" {
            return Err(invalid(format!("expected a CERTIFICATE PEM block, found {:?}", pem.label)));
        }
        let (_, cert) = X509Certificate::from_der(&pem.contents)
            .map_err(|e| invalid(format!("cannot parse the certificate: {e}")))?;

        let subject = cert.subject().to_string();
        match cert.basic_constraints() {
            Ok(Some(bc)) if bc.value.ca => {}
            _ => return Err(invalid(format!("{subject} is not a CA certificate"))),
        }
        match cert.key_usage() {
            Ok(Some(ku)) if !ku.value.key_cert_sign() => {
                return Err(invalid(format!("{subject} has no keyCertSign key usage")));
            }
            Ok(_) => {}
            Err(e) => return Err(invalid(format!("bad key usage extension: {e}"))),
        }
        if cert.public_key().subject_public_key.data.as_ref() != key.der_bytes() {
            return Err(invalid(format!("the private key does not belong to the certificate {subject}")));
        }
        if cert.validity().not_after < ASN1Time::now() {
            return Err(invalid(format!("{subject} expired on {}", cert.validity().not_after)));
        }
        // rcgen rebuilds the issuer name from the subject and supports one
        // attribute per RDN only (and panics on an empty RDN).
        if cert.subject().iter().any(|rdn| rdn.iter().count() != 1) {
            return Err(invalid(format!("{subject} has an empty or multi-valued RDN")));
        }
        let raw_subject = cert.subject().as_raw().to_vec();

        let issuer = Issuer::from_ca_cert_der(&CertificateDer::from(pem.contents.as_slice()), key)
            .map_err(|e| invalid(format!("cannot use {subject} as an issuer: {e}")))?;

        // Chain building compares the issuer of a certificate with the subject
        // of its CA byte for byte: check that rcgen reproduces the subject.
        let probe = CertificateParams::default().signed_by(issuer.key(), &issuer)?;
        let (_, probe) = X509Certificate::from_der(probe.der())
            .map_err(|e| invalid(format!("cannot parse a probe certificate: {e}")))?;
        if probe.issuer().as_raw() != raw_subject.as_slice() {
            return Err(invalid(format!("the subject {subject} cannot be reproduced exactly (repeated attributes?)")));
        }

        Ok(Self { cert_pem: cert_pem.to_owned(), issuer })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> String {
        self.cert_pem.clone()
    }

    /// The CA private key, PEM PKCS#8.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// A server certificate signed by this CA, valid for `days` days, with a fresh
    /// ECDSA P-256 key: extended key usage `serverAuth`, one SAN per entry of
    /// `names` (an IP address string becomes an IP SAN, anything else a DNS SAN;
    /// a leading `*.` wildcard label is allowed), CN = the first name.
    /// Duplicate names are listed once.
    ///
    /// # Errors
    /// [`CertError::InvalidServerName`] if `names` is empty or a name is neither
    /// an IP address nor a valid DNS name;
    /// [`CertError::InvalidValidity`] if `days` is 0 or above [`MAX_VALIDITY_DAYS`];
    /// [`CertError::Generate`] if key or certificate generation fails.
    pub fn server_cert(&self, names: &[String], days: u32) -> Result<CertPair, CertError> {
        let first = names.first().ok_or_else(|| CertError::InvalidServerName("no server name given".to_owned()))?;
        let mut params = CertificateParams::default();
        set_validity(&mut params, days)?;
        for name in names {
            let san = server_san(name)?;
            if !params.subject_alt_names.contains(&san) {
                params.subject_alt_names.push(san);
            }
        }
        params.distinguished_name = common_name_dn(first);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign_leaf(params)
    }

    /// A client certificate for `identity`, signed by this CA, valid for `days`
    /// days, with a fresh ECDSA P-256 key and extended key usage `clientAuth`.
    ///
    /// If `identity` contains `://` it becomes a URI SAN (e.g.
    /// `spiffe://cluster/ns/ci/sa/deployer`); otherwise it becomes a DNS SAN when
    /// it is a valid DNS name (e.g. `alice`, `deployer.ci`). The CN is always
    /// `identity`, truncated to 64 characters (X.520 `ub-common-name`).
    ///
    /// # Errors
    /// [`CertError::InvalidIdentity`] if `identity` is empty, has control
    /// characters, or contains `://` without being an ASCII URI with a valid
    /// scheme and no whitespace;
    /// [`CertError::InvalidValidity`] if `days` is 0 or above [`MAX_VALIDITY_DAYS`];
    /// [`CertError::Generate`] if key or certificate generation fails.
    pub fn client_cert(&self, identity: &str, days: u32) -> Result<CertPair, CertError> {
        let san = client_san(identity)?;
        let mut params = CertificateParams::default();
        set_validity(&mut params, days)?;
        params.subject_alt_names.extend(san);
        params.distinguished_name = common_name_dn(identity);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign_leaf(params)
    }

    /// As [`Ca::client_cert`], with `group` as the subject's Organization (O): the group
    /// Kubernetes' x509 convention, and scalekeeper, read from a client certificate.
    ///
    /// # Errors
    ///
    /// As [`Ca::client_cert`].
    pub fn client_cert_in_group(&self, identity: &str, group: &str, days: u32) -> Result<CertPair, CertError> {
        let san = client_san(identity)?;
        let mut params = CertificateParams::default();
        set_validity(&mut params, days)?;
        params.subject_alt_names.extend(san);
        params.distinguished_name = common_name_dn(identity);
        params.distinguished_name.push(DnType::OrganizationName, group);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign_leaf(params)
    }

    /// Signs an end-entity certificate for a fresh key; `params` has its names,
    /// validity and extended key usages set.
    fn sign_leaf(&self, mut params: CertificateParams) -> Result<CertPair, CertError> {
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(CertPair { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }
}

/// A certificate and its private key, PEM (the key PKCS#8).
///
/// Its `Debug` output never shows the private key.
#[derive(Clone, PartialEq, Eq)]
pub struct CertPair {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM PKCS#8.
    pub key_pem: String,
}

impl fmt::Debug for CertPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertPair").field("cert_pem", &self.cert_pem).field("key_pem", &"[elided]").finish()
    }
}

/// What `scalekeeper certs` writes into a directory (see [`write_dev_certs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevCerts {
    /// The directory written into.
    pub dir: PathBuf,
    /// The CA certificate, `ca.pem` (its key is `ca-key.pem` beside it).
    pub ca: PathBuf,
    /// The server certificate, `server.pem`.
    pub server_cert: PathBuf,
    /// The server private key, `server-key.pem`.
    pub server_key: PathBuf,
    /// Per client identity, in the order given (duplicates once): the identity,
    /// its certificate `client-<slug>.pem` and its key `client-<slug>-key.pem`.
    pub clients: Vec<(String, PathBuf, PathBuf)>,
}

/// Writes development certificates into `dir` (created if missing), each valid
/// for `days` days:
///
/// - `ca.pem`, `ca-key.pem`: the CA (CN `scalekeeper dev CA`). If both files
///   already exist they are loaded and reused, so re-running adds certificates
///   without invalidating the ones issued before; otherwise a new CA is created
///   and both files are (over)written.
/// - `server.pem`, `server-key.pem`: a server certificate for `localhost`,
///   `127.0.0.1`, `::1` and `extra_server_names` (see [`Ca::server_cert`]).
/// - `client-<slug>.pem`, `client-<slug>-key.pem` per entry of
///   `client_identities` (see [`Ca::client_cert`]), where the slug is the
///   identity with every character not in `[A-Za-z0-9._-]` replaced by `_`.
///
/// Key files are written with mode 0600 on unix (also when they already
/// existed). Everything is validated and generated before the first file is
/// written, so a bad name or identity leaves the directory untouched.
///
/// # Errors
/// [`CertError::Io`] if the directory cannot be created or a file cannot be
/// read or written; [`CertError::InvalidCa`] if an existing `ca.pem`/`ca-key.pem`
/// pair cannot be used (e.g. expired: delete both files to start afresh);
/// [`CertError::InvalidServerName`], [`CertError::InvalidIdentity`] (also when
/// two identities have the same slug), [`CertError::InvalidValidity`] and
/// [`CertError::Generate`] as for [`Ca::server_cert`] and [`Ca::client_cert`].
pub fn write_dev_certs(
    dir: &Path,
    extra_server_names: &[String],
    client_identities: &[String],
    days: u32,
) -> Result<DevCerts, CertError> {
    check_days(days)?;

    // Identities, deduplicated, and their file names (no two may share one).
    let mut clients: Vec<(&str, String)> = Vec::new();
    let mut by_slug: HashMap<String, &str> = HashMap::new();
    for identity in client_identities {
        let slug = slug(identity);
        match by_slug.get(&slug) {
            Some(&other) if other == identity.as_str() => continue,
            Some(&other) => {
                return Err(CertError::InvalidIdentity(format!(
                    "{identity:?} and {other:?} would both be written to client-{slug}.pem"
                )));
            }
            None => {}
        }
        by_slug.insert(slug.clone(), identity);
        clients.push((identity, slug));
    }

    fs::create_dir_all(dir).map_err(|source| io_error(dir, source))?;
    let ca_path = dir.join(CA_CERT_FILE);
    let ca_key_path = dir.join(CA_KEY_FILE);
    let (ca, ca_is_new) = if ca_path.is_file() && ca_key_path.is_file() {
        let cert_pem = read(&ca_path)?;
        let key_pem = read(&ca_key_path)?;
        let ca = Ca::from_pem(&cert_pem, &key_pem).map_err(|e| match e {
            CertError::InvalidCa(why) => CertError::InvalidCa(format!(
                "{} / {}: {why} (delete both files to create a new CA)",
                ca_path.display(),
                ca_key_path.display()
            )),
            other => other,
        })?;
        (ca, false)
    } else {
        (Ca::generate(DEV_CA_COMMON_NAME, days)?, true)
    };

    let mut server_names: Vec<String> = DEV_SERVER_NAMES.iter().map(|&n| n.to_owned()).collect();
    server_names.extend(extra_server_names.iter().cloned());
    let server = ca.server_cert(&server_names, days)?;

    let mut issued = Vec::with_capacity(clients.len());
    for (identity, slug) in clients {
        let pair = ca.client_cert(identity, days)?;
        let cert = dir.join(format!("client-{slug}.pem"));
        let key = dir.join(format!("client-{slug}-key.pem"));
        issued.push((identity.to_owned(), cert, key, pair));
    }

    if ca_is_new {
        write_file(&ca_key_path, &ca.key_pem(), true)?;
        write_file(&ca_path, &ca.cert_pem(), false)?;
    }
    let server_cert = dir.join(SERVER_CERT_FILE);
    let server_key = dir.join(SERVER_KEY_FILE);
    write_file(&server_key, &server.key_pem, true)?;
    write_file(&server_cert, &server.cert_pem, false)?;
    let mut clients = Vec::with_capacity(issued.len());
    for (identity, cert, key, pair) in issued {
        write_file(&key, &pair.key_pem, true)?;
        write_file(&cert, &pair.cert_pem, false)?;
        clients.push((identity, cert, key));
    }

    Ok(DevCerts { dir: dir.to_path_buf(), ca: ca_path, server_cert, server_key, clients })
}

/// `identity` with every character not in `[A-Za-z0-9._-]` replaced by `_`.
fn slug(identity: &str) -> String {
    identity.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect()
}

fn check_days(days: u32) -> Result<(), CertError> {
    if days == 0 || days > MAX_VALIDITY_DAYS {
        return Err(CertError::InvalidValidity(days));
    }
    Ok(())
}

/// Valid from a few minutes ago (clock skew) until `days` days from now.
fn set_validity(params: &mut CertificateParams, days: u32) -> Result<(), CertError> {
    check_days(days)?;
    let now = ASN1Time::now().to_datetime();
    // Cannot overflow: `days` is at most MAX_VALIDITY_DAYS (about 100 years).
    params.not_before = now - BACKDATE;
    params.not_after = now + Duration::from_secs(u64::from(days) * SECONDS_PER_DAY);
    Ok(())
}

/// A distinguished name with only a common name, truncated to 64 characters.
fn common_name_dn(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    let cn: String = name.chars().take(UB_COMMON_NAME).collect();
    dn.push(DnType::CommonName, cn);
    dn
}

/// Whether `name` is a DNS name usable in a certificate's DNS SAN (no trailing dot): the
/// host-name rule of rustls (`rustls_pki_types::DnsName`), which the clients that check these
/// certificates apply.
///
/// This is deliberately not Kubernetes' DNS-1123 subdomain rule
/// (`kube_selectors::validation::is_dns1123_subdomain`): a certificate name is a host name
/// (RFC 5280 §4.2.1.6 / RFC 6125), not an object name. It allows upper case and `_`, which
/// DNS-1123 refuses, refuses a name whose last label is all digits or hex (`1.2.3.4`, `123`,
/// `0x1f`, so it cannot pass for an IPv4 address), which DNS-1123 allows, and caps every label
/// at 63 bytes. Wildcards (`*.example.com`) are handled by the caller, [`server_san`].
fn is_dns_name(name: &str) -> bool {
    !name.ends_with('.') && DnsName::try_from(name).is_ok()
}

fn server_san(name: &str) -> Result<SanType, CertError> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let base = name.strip_prefix("*.").unwrap_or(name);
    if !is_dns_name(base) {
        return Err(CertError::InvalidServerName(format!("{name:?} is neither an IP address nor a DNS name")));
    }
    let dns = Ia5String::try_from(name).map_err(|e| CertError::InvalidServerName(format!("{name:?}: {e}")))?;
    Ok(SanType::DnsName(dns))
}

fn client_san(identity: &str) -> Result<Option<SanType>, CertError> {
    let invalid = |why: &str| CertError::InvalidIdentity(format!("{identity:?}: {why}"));
    if identity.is_empty() {
        return Err(invalid("empty"));
    }
    if identity.chars().any(char::is_control) {
        return Err(invalid("has control characters"));
    }
    if let Some((scheme, rest)) = identity.split_once("://") {
        let mut scheme_chars = scheme.chars();
        let scheme_ok = scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && scheme_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !scheme_ok {
            return Err(invalid("a URI needs a scheme like spiffe:// before ://"));
        }
        if rest.is_empty() {
            return Err(invalid("a URI needs something after ://"));
        }
        if !identity.chars().all(|c| c.is_ascii_graphic()) {
            return Err(invalid("a URI must be ASCII without spaces"));
        }
        let uri = Ia5String::try_from(identity).map_err(|e| invalid(&e.to_string()))?;
        return Ok(Some(SanType::URI(uri)));
    }
    if is_dns_name(identity) {
        let dns = Ia5String::try_from(identity).map_err(|e| invalid(&e.to_string()))?;
        return Ok(Some(SanType::DnsName(dns)));
    }
    Ok(None)
}

fn io_error(path: &Path, source: std::io::Error) -> CertError {
    CertError::Io { path: path.to_path_buf(), source }
}

fn read(path: &Path) -> Result<String, CertError> {
    fs::read_to_string(path).map_err(|source| io_error(path, source))
}

/// Writes a client certificate for `identity` in the group `group` (its O value), valid `days`
/// days, signed by the CA [`write_dev_certs`] wrote into `dir`: `client-<slug>.pem` and
/// `client-<slug>-key.pem` (mode 0600) beside it, replacing them (so the group is always the
/// one asked for). Returns their paths (certificate, key).
///
/// # Errors
/// [`CertError`]: the CA in `dir` cannot be read, the identity or the group is not valid, a
/// file cannot be written.
pub fn write_group_client_cert(
    dir: &Path,
    identity: &str,
    group: &str,
    days: u32,
) -> Result<(PathBuf, PathBuf), CertError> {
    let slug = slug(identity);
    let (cert, key) = (dir.join(format!("client-{slug}.pem")), dir.join(format!("client-{slug}-key.pem")));
    let ca = Ca::from_pem(&read(&dir.join(CA_CERT_FILE))?, &read(&dir.join(CA_KEY_FILE))?)?;
    let pair = ca.client_cert_in_group(identity, group, days)?;
    write_file(&key, &pair.key_pem, true)?;
    write_file(&cert, &pair.cert_pem, false)?;
    Ok((cert, key))
}

/// Writes `contents` to `path`, replacing it; a `secret` file gets mode 0600 on
/// unix before anything is written to it, also when it already existed.
fn write_file(path: &Path, contents: &str, secret: bool) -> Result<(), CertError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|source| io_error(path, source))?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600)).map_err(|source| io_error(path, source))?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    file.write_all(contents.as_bytes()).and_then(|()| file.sync_all()).map_err(|source| io_error(path, source))
}

#[cfg(test)]
mod tests;
