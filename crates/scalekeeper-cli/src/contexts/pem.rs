//! The TLS material of an endpoint: read from a file or a context's `-data`, and checked to
//! hold what it must (certificates, a private key) before any connection is tried.

use std::fmt;
use std::path::PathBuf;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::file::decode_data;
use super::precedence::{Item, Material, Origin};
use crate::CliError;

/// PEM bytes and where they came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pem {
    /// The PEM text.
    pub bytes: Vec<u8>,
    /// Where it came from.
    pub source: PemSource,
}

/// Where a [`Pem`] came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PemSource {
    /// A file, named by `setting` (`--ca`, `SCALEKEEPER_CA`, `context prod, certificate-authority`).
    File {
        /// The file.
        path: PathBuf,
        /// The setting that named it.
        setting: String,
    },
    /// A context's `-data` field.
    Inline {
        /// The context's name.
        context: String,
        /// The field, e.g. `certificate-authority-data`.
        field: String,
    },
}

impl fmt::Display for PemSource {
    /// The path, or `context X, inline FIELD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PemSource::File { path, .. } => write!(f, "{}", path.display()),
            PemSource::Inline { context, field } => write!(f, "context {context}, inline {field}"),
        }
    }
}

/// Reads and checks one item: a CA or client certificate must hold at least one PEM
/// certificate, a key one PEM private key.
///
/// # Errors
///
/// [`CliError::TlsFiles`] naming the item, the setting it came from and the path: the file is
/// missing or unreadable, the data is not PEM (nor base64 of PEM), it holds no certificate or
/// key, or one does not parse.
pub fn load(item: Item, material: &Material) -> Result<Pem, CliError> {
    let what = item.what();
    let (bytes, source, label) = match material {
        Material::File { path, origin } => {
            let setting = item.setting(origin);
            let label = format!("{what} ({setting}) {}", path.display());
            let bytes = std::fs::read(path).map_err(|e| CliError::TlsFiles(format!("cannot read {label}: {e}")))?;
            (bytes, PemSource::File { path: path.clone(), setting }, label)
        }
        Material::Inline { context, data } => {
            let field = format!("{}-data", item.field());
            let label = format!("{what} (context {context}, {field})");
            let bytes = decode_data(data).map_err(|e| CliError::TlsFiles(format!("cannot read {label}: {e}")))?;
            (bytes, PemSource::Inline { context: context.clone(), field }, label)
        }
    };
    match item {
        Item::Ca | Item::Cert => check_certificates(&bytes, &label)?,
        Item::Key => check_private_key(&bytes, &label)?,
    }
    Ok(Pem { bytes, source })
}

fn check_certificates(pem: &[u8], label: &str) -> Result<(), CliError> {
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        if let Err(e) = cert {
            return Err(CliError::TlsFiles(format!("cannot parse {label}: {e}")));
        }
        count += 1;
    }
    if count == 0 {
        return Err(CliError::TlsFiles(format!("{label} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")));
    }
    Ok(())
}

fn check_private_key(pem: &[u8], label: &str) -> Result<(), CliError> {
    match PrivateKeyDer::from_pem_slice(pem) {
        Ok(_) => Ok(()),
        Err(rustls::pki_types::pem::Error::NoItemsFound) => {
            Err(CliError::TlsFiles(format!("{label} holds no PEM private key (-----BEGIN PRIVATE KEY-----)")))
        }
        Err(e) => Err(CliError::TlsFiles(format!("cannot parse {label}: {e}"))),
    }
}

/// Where `material` came from in a "given without" message: `--cert /p`, `SCALEKEEPER_CERT
/// /p`, `client-certificate of context prod`.
pub fn describe(item: Item, material: &Material) -> String {
    match material {
        Material::File { path, origin: Origin::Context(name) } => {
            format!("{} {} of context {name}", item.field(), path.display())
        }
        Material::File { path, origin } => format!("{} {}", item.setting(origin), path.display()),
        Material::Inline { context, .. } => format!("{}-data of context {context}", item.field()),
    }
}
