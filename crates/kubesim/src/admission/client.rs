//! Calling a webhook: one HTTPS POST over HTTP/1.1, verified against the webhook's
//! `caBundle`, within its `timeoutSeconds`, failing with the words client-go fails with.
//!
//! ```text
//!  Endpoint::Url      https://host[:port]/path      → DNS (or the IP) → TCP → TLS(host)
//!  Endpoint::Service  https://NAME.NS.svc:PORT/path → route table     → TCP → TLS(NAME.NS.svc)
//!                     POST <path>?timeout=<N>s  (AdmissionReview JSON)  → status, body
//! ```
//!
//! As kube-apiserver's webhook client (`staging/src/k8s.io/apiserver/pkg/util/webhook/
//! client.go`, `HookClient`): the `caBundle` is the only trust when given (otherwise the
//! system's roots, read from the files Go reads on Linux); TLS offers ALPN `http/1.1` only
//! (kube-apiserver turns HTTP/2 off for webhooks, kubernetes/kubernetes#75791); a Service is
//! dialled at the address its route names but verified as `<name>.<namespace>.svc` and
//! addressed with that `Host`; the request carries `?timeout=` with the time left, rounded
//! up to whole seconds, as client-go's `Request.Timeout` sends it.
//!
//! No connection is kept: each call dials afresh (kube-apiserver caches clients; the
//! outcome of a call is the same).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::net::TcpStream;

use super::config::{Endpoint, Webhook, parse_url};

/// Looks up the address routed for a Service: `(namespace, name, port)`.
pub type Routes<'a> = &'a (dyn Fn(&str, &str, u16) -> Option<SocketAddr> + Sync);

/// The `User-Agent` kube-apiserver's admission calls carry.
pub const USER_AGENT: &str = "kube-apiserver-admission";

/// Where Go's `crypto/x509` looks for the system's roots on Linux (`certFiles`), after
/// `SSL_CERT_FILE`.
const SYSTEM_ROOTS: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// A webhook's address, as the request names it and as it is dialled.
#[derive(Debug, Clone)]
struct Target {
    /// `host:port` for `Host` (a Service: `NAME.NS.svc:PORT`; a URL: as written).
    authority: String,
    /// The host the certificate must be valid for.
    host: String,
    /// The port.
    port: u16,
    /// The path, `/` when empty.
    path: String,
    /// The Service route, for a Service endpoint.
    route: Option<Result<SocketAddr, String>>,
}

fn target(routes: Routes<'_>, endpoint: &Endpoint) -> Target {
    match endpoint {
        Endpoint::Url(u) => {
            let parts = parse_url(u);
            let (host, port) = split_host_port(parts.host);
            Target {
                authority: parts.host.to_string(),
                host,
                port: port.unwrap_or(443),
                path: if parts.path.is_empty() { "/".into() } else { parts.path.to_string() },
                route: None,
            }
        }
        Endpoint::Service { namespace, name, path, port } => {
            let host = format!("{name}.{namespace}.svc");
            let route = routes(namespace, name, *port).ok_or_else(|| format!("services {name:?} not found"));
            Target { authority: format!("{host}:{port}"), host, port: *port, path: path.clone(), route: Some(route) }
        }
    }
}

/// `host[:port]` → host (brackets of an IPv6 literal removed) and port.
fn split_host_port(authority: &str) -> (String, Option<u16>) {
    if let Some(rest) = authority.strip_prefix('[')
        && let Some((ip, tail)) = rest.split_once(']')
    {
        return (ip.to_string(), tail.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h.to_string(), p.parse().ok()),
        _ => (authority.to_string(), None),
    }
}

/// The trust for a call: the `caBundle`'s certificates only, or the system's roots.
fn roots(ca_bundle: Option<&[u8]>) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    let pem = match ca_bundle {
        Some(b) => b.to_vec(),
        None => {
            let file = std::env::var("SSL_CERT_FILE")
                .ok()
                .into_iter()
                .chain(SYSTEM_ROOTS.iter().map(|s| s.to_string()))
                .find(|f| std::path::Path::new(f).exists());
            file.and_then(|f| std::fs::read(f).ok()).unwrap_or_default()
        }
    };
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("unable to load root certificates: {e}"))?;
        let _ = store.add(cert);
    }
    if ca_bundle.is_some() && store.is_empty() {
        return Err("unable to load root certificates: unable to parse bytes as PEM block".into());
    }
    Ok(store)
}

/// What a webhook answered: the HTTP status, the `Content-Type`, the body.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: bytes::Bytes,
}

/// POSTs `body` to `hook`, within its timeout.
///
/// Errors: the reason client-go would give, as `Post "<url>": <cause>` (connection refused,
/// TLS failures, `context deadline exceeded`, ...).
pub async fn post(routes: Routes<'_>, hook: &Webhook, body: Vec<u8>) -> Result<Answer, String> {
    let t = target(routes, &hook.endpoint);
    let secs = hook.timeout.as_secs().max(1);
    let path_and_query = format!("{}?timeout={secs}s", t.path);
    let url = format!("https://{}{path_and_query}", t.authority);
    let call = call(&t, hook.ca_bundle.as_deref(), &path_and_query, body);
    match tokio::time::timeout(hook.timeout, call).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(cause)) => Err(format!("Post {url:?}: {cause}")),
        Err(_) => Err(format!("Post {url:?}: context deadline exceeded")),
    }
}

async fn call(t: &Target, ca_bundle: Option<&[u8]>, path_and_query: &str, body: Vec<u8>) -> Result<Answer, String> {
    let addrs: Vec<SocketAddr> = match &t.route {
        Some(route) => vec![route.clone()?],
        None => match t.host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, t.port)],
            Err(_) => tokio::net::lookup_host((t.host.as_str(), t.port))
                .await
                .map_err(|e| format!("dial tcp: lookup {}: {e}", t.host))?
                .collect(),
        },
    };
    let mut last = format!("dial tcp: lookup {}: no such host", t.host);
    let mut tcp = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = format!("dial tcp {addr}: {}", dial_error(&e)),
        }
    }
    let tcp = tcp.ok_or(last)?;
    let _ = tcp.set_nodelay(true);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots(ca_bundle)?)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = ServerName::try_from(t.host.clone()).map_err(|e| format!("invalid server name {:?}: {e}", t.host))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| tls_error(&e, &t.host))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let request = http::Request::post(path_and_query)
        .header(http::header::HOST, &t.authority)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json, */*")
        .header(http::header::USER_AGENT, USER_AGENT)
        .body(Full::new(bytes::Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let content_type =
        response.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(String::from);
    let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Answer { status, content_type, body })
}

/// A dial error in Go's words (`connect: connection refused`).
fn dial_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect: connection refused".into(),
        std::io::ErrorKind::TimedOut => "i/o timeout".into(),
        _ => format!("connect: {e}"),
    }
}

/// A TLS handshake error in Go's words where one maps (`x509: certificate signed by unknown
/// authority`), else rustls's.
fn tls_error(e: &std::io::Error, host: &str) -> String {
    let text = e.to_string();
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match inner {
        // A foreign CA with the same name as a trusted one fails on its signature; Go says
        // "unknown authority" (possibly because of ...) for both.
        Some(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer | rustls::CertificateError::BadSignature,
        )) => "tls: failed to verify certificate: x509: certificate signed by unknown authority".into(),
        Some(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName | rustls::CertificateError::NotValidForNameContext { .. },
        )) => format!("tls: failed to verify certificate: x509: certificate is not valid for {host}"),
        Some(rustls::Error::InvalidCertificate(
            rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. },
        )) => "tls: failed to verify certificate: x509: certificate has expired or is not yet valid".into(),
        Some(rustls::Error::InvalidCertificate(other)) => format!("tls: failed to verify certificate: {other:?}"),
        Some(rustls::Error::AlertReceived(alert)) => format!("remote error: tls: {alert:?}"),
        _ if text.is_empty() => "tls: handshake failure".into(),
        _ => format!("tls: {text}"),
    }
}

/// The error client-go makes of a non-2xx answer (`transformResponse` →
/// `newUnstructuredResponseError` → `NewGenericServerResponse`): a `Status` body's own
/// message, else the message for the code (`an error on the server ("<text body>") has
/// prevented the request from succeeding` for 5xx).
pub fn status_error(answer: &Answer) -> String {
    if let Ok(status) = serde_json::from_slice::<Value>(&answer.body)
        && status["kind"] == "Status"
        && let Some(m) = status.get("message").and_then(Value::as_str)
    {
        return m.to_string();
    }
    let text = answer.content_type.as_deref().is_some_and(|c| c.trim_start().starts_with("text/"));
    let server_message = if text {
        String::from_utf8_lossy(&answer.body[..answer.body.len().min(1024)]).trim().to_string()
    } else {
        "unknown".into()
    };
    match answer.status {
        409 => "the server reported a conflict".into(),
        404 => "the server could not find the requested resource".into(),
        400 => "the server rejected our request for an unknown reason".into(),
        401 => "the server has asked for the client to provide credentials".into(),
        403 => server_message,
        405 => "the server does not allow this method on the requested resource".into(),
        406 if server_message == "unknown" => {
            "the server was unable to respond with a content type that the client supports".into()
        }
        406 | 415 => server_message,
        422 => "the server rejected our request due to an error in our request".into(),
        503 => "the server is currently unable to handle the request".into(),
        504 => {
            "the server was unable to return a response in the time allotted, but may still be processing the request"
                .into()
        }
        429 => "the server has received too many requests and has asked us to try again later".into(),
        c if c >= 500 => {
            format!("an error on the server ({server_message:?}) has prevented the request from succeeding")
        }
        c => format!("the server responded with the status code {c} but did not return more information"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port() {
        assert_eq!(split_host_port("127.0.0.1:8443"), ("127.0.0.1".into(), Some(8443)));
        assert_eq!(split_host_port("example.com"), ("example.com".into(), None));
        assert_eq!(split_host_port("[::1]:9"), ("::1".into(), Some(9)));
    }

    #[test]
    fn non_2xx_answers_in_client_go_words() {
        let a = |status, ct: Option<&str>, body: &str| Answer {
            status,
            content_type: ct.map(String::from),
            body: bytes::Bytes::from(body.to_string()),
        };
        assert_eq!(status_error(&a(404, None, "")), "the server could not find the requested resource");
        assert_eq!(
            status_error(&a(500, Some("text/plain"), "boom\n")),
            r#"an error on the server ("boom") has prevented the request from succeeding"#
        );
        assert_eq!(
            status_error(&a(502, None, "x")),
            r#"an error on the server ("unknown") has prevented the request from succeeding"#
        );
        assert_eq!(status_error(&a(500, None, r#"{"kind":"Status","message":"nope"}"#)), "nope");
    }
}
