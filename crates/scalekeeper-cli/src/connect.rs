//! Reaching the server: `--server` parsing, the mutual TLS files, the channel, the call
//! timeout, and telling connection failures (exit code 3) from the server's answers.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use scalekeeper_api::v1::scale_service_client::ScaleServiceClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Status};

use super::CliError;
use super::args::ConnectArgs;
use super::render::{error_chain, status_text};

/// The port used when `--server` names only a host.
pub const DEFAULT_PORT: u16 = 50051;

/// Connects over mutual TLS to `https://HOST:PORT` from `--server`, verifying the server's
/// certificate against `--ca` for the name HOST and presenting `--cert`/`--key`, within
/// `--timeout`. One attempt: the commands retry as the module docs' "Retries" says. Errors
/// name the missing or unreadable file, or the unreachable server, plainly.
pub async fn connect(conn: &ConnectArgs) -> Result<ScaleServiceClient<Channel>, CliError> {
    connect_within(conn, call_timeout(conn.timeout)).await
}

/// [`connect`] within `timeout` (`None`: no limit) instead of `--timeout`.
pub(super) async fn connect_within(
    conn: &ConnectArgs,
    timeout: Option<Duration>,
) -> Result<ScaleServiceClient<Channel>, CliError> {
    let addr = parse_server(&conn.server)?;
    let files = load_tls_files(conn)?;
    // tonic builds the rustls config in `tls_config`, with the process-wide default provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(files.ca))
        .identity(Identity::from_pem(files.cert, files.key))
        .domain_name(addr.host.clone());
    if let Some(t) = timeout {
        tls = tls.timeout(t);
    }
    let mut endpoint = Endpoint::from_shared(addr.uri())
        .map_err(|e| CliError::Usage(format!("invalid --server {:?}: {}", conn.server, error_chain(&e))))?
        .tls_config(tls)
        .map_err(|e| {
            CliError::TlsFiles(format!(
                "cannot use the TLS files (--ca {}, --cert {}, --key {}): {}",
                files.ca_path.display(),
                files.cert_path.display(),
                files.key_path.display(),
                error_chain(&e)
            ))
        })?;
    if let Some(t) = timeout {
        endpoint = endpoint.connect_timeout(t);
    }
    let connecting = endpoint.connect();
    let channel = match timeout {
        Some(t) => tokio::time::timeout(t, connecting).await.map_err(|_| CliError::Unreachable {
            server: addr.to_string(),
            detail: format!("no connection within {:.1}s", t.as_secs_f64()),
            hint: None,
        })?,
        None => connecting.await,
    }
    .map_err(|e| connect_error(&addr.to_string(), &e))?;
    Ok(ScaleServiceClient::new(channel))
}

/// `--timeout` as a duration; `None` for 0 (wait forever).
pub(super) fn call_timeout(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// Turns a call's error into a [`CliError`]. A status the server sent carries no source error;
/// one that does was made by the client from a transport failure, so the server never answered:
/// a TLS failure, or the connection failing (UNAVAILABLE, UNKNOWN, CANCELLED), is a connection
/// error (exit code 3). Everything else is the answer (exit code 1).
pub(super) fn status_error(status: Status, server: &str) -> CliError {
    let Some(source) = status.source() else {
        return status.into();
    };
    if let Some(tls) = find_rustls_error(source) {
        return CliError::Tls { server: server.to_string(), detail: tls.to_string(), hint: tls_hint(tls, server) };
    }
    let text = status_text(&status);
    if let Some(at) = text.find("received fatal alert") {
        // The TLS alert, flattened into a transport error's message.
        return CliError::Tls {
            server: server.to_string(),
            detail: text[at..].to_string(),
            hint: Some(format!("the server refused {CLIENT_CERT_CHECK}")),
        };
    }
    if matches!(status.code(), Code::Unavailable | Code::Unknown | Code::Cancelled) {
        // With TLS 1.3 the server checks the client certificate after the client has finished
        // its handshake, so a refused certificate can show up as the connection closing under
        // the first call. Not so a connection refused: nothing listens there (any more).
        let refused = chain_iter(source)
            .any(|e| e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::ConnectionRefused));
        return CliError::Unreachable {
            server: server.to_string(),
            detail: format!("the connection failed: {text}"),
            hint: (!refused)
                .then(|| format!("if this happens on every try, the server probably refused {CLIENT_CERT_CHECK}")),
        };
    }
    status.into()
}

/// What to check when the server may have refused the client certificate.
const CLIENT_CERT_CHECK: &str = "the client certificate (--cert); check that a CA the server trusts signed it, \
     that it is still valid, and that --key is its key";

/// Classifies an error of [`Endpoint::connect`].
fn connect_error(server: &str, err: &(dyn StdError + 'static)) -> CliError {
    match find_rustls_error(err) {
        Some(tls) => CliError::Tls { server: server.to_string(), detail: tls.to_string(), hint: tls_hint(tls, server) },
        None => CliError::Unreachable { server: server.to_string(), detail: error_chain(err), hint: None },
    }
}

/// The errors in `err`'s source chain, including those wrapped inside `io::Error`s (whose
/// `source` skips the wrapped error).
fn chain_iter<'a>(err: &'a (dyn StdError + 'static)) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    let mut next = Some(err);
    std::iter::from_fn(move || {
        let cur = next?;
        next = match cur.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => cur.source(),
        };
        Some(cur)
    })
}

fn find_rustls_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    chain_iter(err).find_map(|e| e.downcast_ref::<rustls::Error>())
}

/// What to check after a TLS failure, when the failure says.
fn tls_hint(err: &rustls::Error, server: &str) -> Option<String> {
    use rustls::{AlertDescription as A, CertificateError as C};
    let host = server.rsplit_once(':').map_or(server, |(h, _)| h);
    match err {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer | C::BadSignature => {
                Some("the server's certificate is not signed by the CA given with --ca (SCALEKEEPER_CA)".to_string())
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => Some(format!(
                "the server's certificate is not valid for {host}; use a --server name that its certificate lists"
            )),
            C::Expired | C::ExpiredContext { .. } => Some("the server's certificate has expired".to_string()),
            C::NotValidYet | C::NotValidYetContext { .. } => {
                Some("the server's certificate is not valid yet; check this machine's clock".to_string())
            }
            _ => None,
        },
        rustls::Error::AlertReceived(
            A::CertificateRequired
            | A::BadCertificate
            | A::UnknownCA
            | A::CertificateUnknown
            | A::CertificateExpired
            | A::CertificateRevoked
            | A::UnsupportedCertificate
            | A::AccessDenied,
        ) => Some(format!("the server refused {CLIENT_CERT_CHECK}")),
        rustls::Error::InvalidMessage(_) => {
            Some(format!("{server} did not answer in TLS; check that --server names the scalekeeper server's port"))
        }
        _ => None,
    }
}

/// The files of the mutual TLS configuration.
struct TlsFiles {
    ca_path: PathBuf,
    cert_path: PathBuf,
    key_path: PathBuf,
    ca: Vec<u8>,
    cert: Vec<u8>,
    key: Vec<u8>,
}

fn load_tls_files(conn: &ConnectArgs) -> Result<TlsFiles, CliError> {
    let (cert_path, key_path) = match (&conn.cert, &conn.key) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        (Some(c), None) => {
            return Err(CliError::TlsFiles(format!(
                "--cert {} given without --key: pass the client certificate's private key with --key (or SCALEKEEPER_KEY)",
                c.display()
            )));
        }
        (None, Some(k)) => {
            return Err(CliError::TlsFiles(format!(
                "--key {} given without --cert: pass the client certificate with --cert (or SCALEKEEPER_CERT)",
                k.display()
            )));
        }
        (None, None) => {
            return Err(CliError::TlsFiles(
                "no client certificate: the server requires mutual TLS; pass --cert FILE and --key FILE \
                 (or set SCALEKEEPER_CERT and SCALEKEEPER_KEY)"
                    .to_string(),
            ));
        }
    };
    let Some(ca_path) = conn.ca.clone() else {
        return Err(CliError::TlsFiles(
            "no CA certificate: pass --ca FILE (or set SCALEKEEPER_CA) with the CA that signed the server's certificate"
                .to_string(),
        ));
    };
    let ca = read_certificates(&ca_path, "CA certificate (--ca)")?;
    let cert = read_certificates(&cert_path, "client certificate (--cert)")?;
    let key = read_private_key(&key_path)?;
    Ok(TlsFiles { ca_path, cert_path, key_path, ca, cert, key })
}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::TlsFiles(format!("cannot read {what} {}: {e}", path.display())))
}

/// Reads a PEM file that must hold at least one certificate.
fn read_certificates(path: &Path, what: &str) -> Result<Vec<u8>, CliError> {
    let pem = read_file(path, what)?;
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        if let Err(e) = cert {
            return Err(CliError::TlsFiles(format!("cannot parse {what} {}: {e}", path.display())));
        }
        count += 1;
    }
    if count == 0 {
        return Err(CliError::TlsFiles(format!(
            "{what} {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok(pem)
}

/// Reads a PEM file that must hold a private key.
fn read_private_key(path: &Path) -> Result<Vec<u8>, CliError> {
    let what = "client private key (--key)";
    let pem = read_file(path, what)?;
    match PrivateKeyDer::from_pem_slice(&pem) {
        Ok(_) => Ok(pem),
        Err(rustls::pki_types::pem::Error::NoItemsFound) => Err(CliError::TlsFiles(format!(
            "{what} {} holds no PEM private key (-----BEGIN PRIVATE KEY-----)",
            path.display()
        ))),
        Err(e) => Err(CliError::TlsFiles(format!("cannot parse {what} {}: {e}", path.display()))),
    }
}

/// A `--server` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddr {
    /// The host: a DNS name or an IP address (without brackets). The server's certificate must
    /// be valid for it.
    pub host: String,
    /// The TCP port.
    pub port: u16,
}

impl ServerAddr {
    /// The URI to connect to, `https://HOST:PORT`.
    pub fn uri(&self) -> String {
        format!("https://{self}")
    }
}

impl fmt::Display for ServerAddr {
    /// `HOST:PORT`, with an IPv6 host in brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Parses `--server`: `HOST:PORT`, `[IPV6]:PORT`, or `HOST` alone (port [`DEFAULT_PORT`]); an
/// `https://` prefix is accepted. Anything else is a usage error.
pub fn parse_server(server: &str) -> Result<ServerAddr, CliError> {
    let bad = |why: &str| CliError::Usage(format!("invalid --server {server:?}: {why}; expected HOST:PORT"));
    let s = server.trim();
    let s = s.strip_prefix("https://").unwrap_or(s);
    let s = s.strip_suffix('/').unwrap_or(s);
    if s.contains("://") {
        return Err(bad("only https is supported"));
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| bad("missing ']'"))?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or_else(|| bad("expected ':' after ']'"))?)),
        }
    } else {
        match s.split_once(':') {
            Some((_, port)) if port.contains(':') => return Err(bad("write an IPv6 address as [ADDRESS]:PORT")),
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if host.contains(['/', '@', '?', '#', ' ']) {
        return Err(bad("not a host name"));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p != 0 => p,
            _ => return Err(bad("the port must be a number from 1 to 65535")),
        },
    };
    Ok(ServerAddr { host: host.to_string(), port })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Output;
    use crate::render::render_error;

    #[test]
    fn parse_server_forms() {
        let a = parse_server("localhost:50051").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("localhost", 50051));
        assert_eq!(a.uri(), "https://localhost:50051");
        assert_eq!(parse_server("sk.example").unwrap().port, DEFAULT_PORT);
        assert_eq!(parse_server("https://sk.example:443/").unwrap().to_string(), "sk.example:443");
        let v6 = parse_server("[::1]:8443").unwrap();
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.uri(), "https://[::1]:8443");
        for bad in ["::1", "host:", "host:0", "host:99999", ":50051", "http://h:1", "[::1", "h/x:1"] {
            let err = parse_server(bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn local_transport_failures_are_connection_errors() {
        use std::sync::Arc;
        let local = |code: Code, msg: &str, cause: io::Error| {
            let mut st = Status::new(code, msg);
            st.set_source(Arc::new(cause));
            st
        };
        // The connection closing under the call: exit 3, with the cause and a hint.
        let err = status_error(
            local(Code::Unknown, "transport error", io::Error::new(io::ErrorKind::BrokenPipe, "broken pipe")),
            "h:1",
        );
        assert_eq!(err.exit_code(), 3);
        let text = render_error(&err);
        assert!(text.starts_with("error: cannot connect to h:1: the connection failed: broken pipe\nhint: "), "{text}");
        // A connection refused under the call (the server went away): exit 3, and no
        // certificate hint, since nothing listens there.
        let err = status_error(
            local(Code::Unavailable, "tcp connect error", io::Error::from(io::ErrorKind::ConnectionRefused)),
            "h:1",
        );
        assert!(matches!(&err, CliError::Unreachable { hint: None, .. }), "{err:?}");
        assert_eq!(err.exit_code(), 3);
        // A TLS alert flattened into a message: exit 3, named as a TLS failure.
        let err = status_error(
            local(Code::Unknown, "transport error", io::Error::other("received fatal alert: UnknownCA")),
            "h:1",
        );
        assert!(matches!(&err, CliError::Tls { detail, .. } if detail == "received fatal alert: UnknownCA"));
        // A rustls error in the chain: exit 3 with the matching hint.
        let rustls_err = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let err = status_error(
            local(Code::Unavailable, "connect", io::Error::new(io::ErrorKind::InvalidData, rustls_err)),
            "h:1",
        );
        assert!(matches!(&err, CliError::Tls { hint: Some(h), .. } if h.contains("--ca")), "{err:?}");
        // A status the client made for another reason, and any status the server sent: exit 1.
        let err = status_error(local(Code::Internal, "decode", io::Error::other("bad protobuf")), "h:1");
        assert_eq!(err.exit_code(), 1);
        assert_eq!(render_error(&err), "error: INTERNAL: decode: bad protobuf\n");
        assert_eq!(status_error(Status::unavailable("kube down"), "h:1").exit_code(), 1);
    }

    #[test]
    fn tls_file_errors_name_the_path() {
        let dir = std::env::temp_dir().join(format!("sk-cli-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let not_pem = dir.join("not.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        let args = |ca: Option<&Path>, cert: Option<&Path>, key: Option<&Path>| ConnectArgs {
            server: "localhost:50051".into(),
            ca: ca.map(Path::to_path_buf),
            cert: cert.map(Path::to_path_buf),
            key: key.map(Path::to_path_buf),
            output: Output::Table,
            timeout: 1,
        };
        let msg = |a: ConnectArgs| {
            let e = load_tls_files(&a).err().unwrap();
            assert_eq!(e.exit_code(), 3);
            e.to_string()
        };
        let m = msg(args(Some(&missing), Some(&missing), Some(&missing)));
        assert!(m.contains("cannot read CA certificate (--ca)") && m.contains("missing.pem"), "{m}");
        let m = msg(args(Some(&not_pem), Some(&missing), None));
        assert!(m.starts_with("--cert ") && m.contains("without --key"), "{m}");
        let m = msg(args(Some(&not_pem), None, Some(&missing)));
        assert!(m.contains("without --cert"), "{m}");
        let m = msg(args(None, Some(&not_pem), Some(&not_pem)));
        assert!(m.starts_with("no CA certificate"), "{m}");
        let m = msg(args(Some(&not_pem), Some(&not_pem), Some(&not_pem)));
        assert!(m.contains("holds no PEM certificate") && m.contains("not.pem"), "{m}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
