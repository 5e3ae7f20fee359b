//! Reaching the server: `--server` parsing, the mutual TLS files, the channel, the call
//! timeout, and telling connection failures (exit code 3) from the server's answers.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::time::Duration;

use scalekeeper_api::v1::scale_service_client::ScaleServiceClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint as TonicEndpoint, Identity};
use tonic::{Code, Status};

use super::CliError;
use super::contexts::Endpoint;
use super::render::{error_chain, status_text};

/// The port used when `--server` names only a host.
pub const DEFAULT_PORT: u16 = 50051;

/// Connects over mutual TLS to `endpoint`'s server (`https://HOST:PORT`), verifying the
/// server's certificate against its CA for [`Endpoint::server_name`] and presenting its client
/// certificate and key, within `timeout_secs` seconds (0: no limit). One attempt: the commands
/// retry as the module docs' "Retries" says. Errors name the TLS material's source, or the
/// unreachable server, plainly.
pub async fn connect(endpoint: &Endpoint, timeout_secs: u64) -> Result<ScaleServiceClient<Channel>, CliError> {
    connect_within(endpoint, call_timeout(timeout_secs)).await
}

/// [`connect`] within `timeout` (`None`: no limit).
pub(super) async fn connect_within(
    endpoint: &Endpoint,
    timeout: Option<Duration>,
) -> Result<ScaleServiceClient<Channel>, CliError> {
    let addr = &endpoint.server;
    // tonic builds the rustls config in `tls_config`, with the process-wide default provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&endpoint.ca.bytes))
        .identity(Identity::from_pem(&endpoint.cert.bytes, &endpoint.key.bytes))
        .domain_name(endpoint.server_name().to_string());
    if let Some(t) = timeout {
        tls = tls.timeout(t);
    }
    let mut channel_endpoint = TonicEndpoint::from_shared(addr.uri())
        .map_err(|e| CliError::Usage(format!("invalid server {addr}: {}", error_chain(&e))))?
        .tls_config(tls)
        .map_err(|e| {
            CliError::TlsFiles(format!(
                "cannot use the TLS material (CA {}, certificate {}, key {}): {}",
                endpoint.ca.source,
                endpoint.cert.source,
                endpoint.key.source,
                error_chain(&e)
            ))
        })?;
    if let Some(t) = timeout {
        channel_endpoint = channel_endpoint.connect_timeout(t);
    }
    let connecting = channel_endpoint.connect();
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
    parse_server_as(server, "--server")
}

/// [`parse_server`] for a server given by `setting` (`--server`, `SCALEKEEPER_SERVER`,
/// `server of context prod`), which the usage error names.
pub(crate) fn parse_server_as(server: &str, setting: &str) -> Result<ServerAddr, CliError> {
    let bad = |why: &str| CliError::Usage(format!("invalid {setting} {server:?}: {why}; expected HOST:PORT"));
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
}
