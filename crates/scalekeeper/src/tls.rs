//! Mutual TLS for the gRPC port, with rustls (ring) and our own accept loop.
//!
//! ```text
//!  files ──(hash every 1 s, SIGHUP)──► Reloader ──load ok──► ArcSwap<ServerConfig>
//!                                                                 │ (current at accept)
//!  TcpListener ─accept─► task: first byte (timeout) ─► TLS handshake (timeout) ─► peer identity ─► mpsc ─► tonic
//! ```
//!
//! Every connection must present a client certificate that chains to `--client-ca`
//! (WebPKI verification, plus [`PolicyVerifier`]: clientAuth EKU present, identity prefixes);
//! the handshake fails otherwise, so no request of an unauthenticated client ever reaches a
//! handler. Protocols: TLS 1.3 and TLS 1.2 with the ring provider's suites (all ECDHE +
//! AEAD). ALPN offers `h2` only, as gRPC needs. The accept loop is ours rather than tonic's
//! `ServerTlsConfig` so that the whole `ServerConfig` (certificate, key, client CA and CRLs)
//! can be swapped at run time ([`Reloader`]); a connection keeps the configuration it was
//! accepted with.

use std::future::Future as _;
use std::hash::{Hash as _, Hasher as _};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};
use scalekeeper_core::Identity;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::limits::{ConnectionGate, HandshakeGate, Limit, ListenerLimits, LogSampler, Permit, Refusal};
use crate::metrics::{HandshakeRefusal, Metrics, TlsReload};

/// Errors loading TLS material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file held no usable PEM item.
    #[error("{path}: {what}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        what: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// The files of the server's TLS configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server certificate chain (PEM).
    pub cert: PathBuf,
    /// The server private key (PEM, PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// The CA bundle (PEM) client certificates must chain to.
    pub client_ca: PathBuf,
    /// Certificate revocation lists (PEM, RFC 5280 §5) for client certificates; `None`: no
    /// revocation checking.
    pub client_crl: Option<PathBuf>,
}

impl TlsFiles {
    /// Every file, in a fixed order (the CRL last, when given).
    fn paths(&self) -> impl Iterator<Item = &Path> {
        [self.cert.as_path(), self.key.as_path(), self.client_ca.as_path()]
            .into_iter()
            .chain(self.client_crl.as_deref())
    }
}

/// Which client certificates are accepted, beyond chaining to the client CA.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientPolicy {
    /// A client's identity (see [`identity_of`]) must start with one of these; empty: any
    /// identity.
    pub allowed_identity_prefixes: Vec<String>,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_path_buf(), source })
}

/// A server configuration built from the files, with what it was built from.
#[derive(Debug, Clone)]
pub struct LoadedTls {
    /// The rustls configuration for new handshakes.
    pub config: Arc<ServerConfig>,
    /// The notAfter (Unix seconds) of each certificate it holds, by the `kind` label of
    /// `scalekeeper_tls_certificate_expiry_timestamp_seconds`: `server` and `client_ca` (the
    /// earliest of the bundle) for the gRPC port, `admission` for the webhook's certificate.
    pub expiries: Vec<(&'static str, i64)>,
}

/// Where a listener's TLS configuration comes from: the files a [`Reloader`] watches, and how
/// they become a `ServerConfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// The gRPC port: mutual TLS ([`load`]).
    Mutual {
        /// Certificate, key, client CA and CRLs.
        files: TlsFiles,
        /// The identity prefixes clients must have.
        policy: ClientPolicy,
    },
    /// The admission webhook's port ([`load_server_only`]): a certificate and key, no client
    /// certificate asked for (kube-apiserver presents none unless configured to).
    ServerOnly {
        /// The certificate chain (PEM).
        cert: PathBuf,
        /// The private key (PEM).
        key: PathBuf,
    },
}

impl TlsSource {
    /// Every file the configuration is built from.
    fn paths(&self) -> Vec<&Path> {
        match self {
            TlsSource::Mutual { files, .. } => files.paths().collect(),
            TlsSource::ServerOnly { cert, key } => vec![cert.as_path(), key.as_path()],
        }
    }

    /// Builds the configuration from the files.
    ///
    /// # Errors
    ///
    /// As [`load`] or [`load_server_only`].
    pub fn load(&self) -> Result<LoadedTls, TlsError> {
        match self {
            TlsSource::Mutual { files, policy } => load(files, policy),
            TlsSource::ServerOnly { cert, key } => load_server_only(cert, key),
        }
    }

    /// The listener it serves, for logs: `grpc` or `admission`.
    fn listener(&self) -> &'static str {
        match self {
            TlsSource::Mutual { .. } => "grpc",
            TlsSource::ServerOnly { .. } => "admission",
        }
    }
}

/// The certificate chain and key of `cert` and `key`, and the leaf's notAfter (Unix seconds).
fn certified_key(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>, i64), TlsError> {
    let pem = |p: &Path, what: &str| TlsError::Pem { path: p.to_path_buf(), what: what.to_string() };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(cert)?)
        .collect::<Result<_, _>>()
        .map_err(|e| pem(cert, &format!("invalid PEM: {e}")))?;
    let not_after = match certs.first() {
        Some(leaf) => not_after(cert, leaf)?,
        None => return Err(pem(cert, "no CERTIFICATE found")),
    };
    let key = PrivateKeyDer::from_pem_slice(&read(key)?).map_err(|e| pem(key, &format!("no private key: {e}")))?;
    Ok((certs, key, not_after))
}

/// Builds the admission webhook's server configuration: `cert` and `key`, no client
/// certificate, TLS 1.3 and 1.2 with the ring provider's suites, ALPN `h2` then `http/1.1`
/// (kube-apiserver's webhook client speaks either).
///
/// # Errors
///
/// [`TlsError::Read`], [`TlsError::Pem`] (no certificate or key), [`TlsError::Config`] (the
/// key does not match the certificate).
pub fn load_server_only(cert: &Path, key: &Path) -> Result<LoadedTls, TlsError> {
    let (certs, key, server_not_after) = certified_key(cert, key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(LoadedTls { config: Arc::new(cfg), expiries: vec![("admission", server_not_after)] })
}

/// Builds the mTLS server configuration from `files`.
///
/// # Errors
///
/// As [`load`].
pub fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    load(files, &ClientPolicy::default()).map(|l| l.config)
}

/// The notAfter of a DER certificate, Unix seconds.
fn not_after(path: &Path, cert: &CertificateDer<'_>) -> Result<i64, TlsError> {
    use x509_parser::prelude::*;
    let (_, x509) = X509Certificate::from_der(cert.as_ref())
        .map_err(|e| TlsError::Pem { path: path.to_path_buf(), what: format!("unparsable certificate: {e}") })?;
    Ok(x509.validity().not_after.timestamp())
}

/// Builds the mTLS server configuration from `files` and `policy`: the server certificate
/// chain and key, a client verifier with the client CA bundle (and CRLs, when given), wrapped
/// by [`PolicyVerifier`].
///
/// # Errors
///
/// - [`TlsError::Read`]: a file cannot be read;
/// - [`TlsError::Pem`]: a file holds bad PEM, no certificate / key / CRL, or an unusable CA
///   certificate;
/// - [`TlsError::Config`]: rustls refuses the result, e.g. the key does not match the
///   certificate, or a CRL cannot be parsed.
pub fn load(files: &TlsFiles, policy: &ClientPolicy) -> Result<LoadedTls, TlsError> {
    let pem = |p: &Path, what: &str| TlsError::Pem { path: p.to_path_buf(), what: what.to_string() };
    let (certs, key, server_not_after) = certified_key(&files.cert, &files.key)?;
    let mut roots = rustls::RootCertStore::empty();
    let mut client_ca_not_after: Option<i64> = None;
    for ca in CertificateDer::pem_slice_iter(&read(&files.client_ca)?) {
        let ca = ca.map_err(|e| pem(&files.client_ca, &format!("invalid PEM: {e}")))?;
        let expiry = not_after(&files.client_ca, &ca)?;
        client_ca_not_after = Some(client_ca_not_after.map_or(expiry, |t| t.min(expiry)));
        roots.add(ca).map_err(|e| pem(&files.client_ca, &format!("unusable CA certificate: {e}")))?;
    }
    let Some(client_ca_not_after) = client_ca_not_after.filter(|_| !roots.is_empty()) else {
        return Err(pem(&files.client_ca, "no CA CERTIFICATE found"));
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    if let Some(path) = &files.client_crl {
        let crls: Vec<CertificateRevocationListDer<'static>> =
            CertificateRevocationListDer::pem_slice_iter(&read(path)?)
                .collect::<Result<_, _>>()
                .map_err(|e| pem(path, &format!("invalid PEM: {e}")))?;
        if crls.is_empty() {
            return Err(pem(path, "no X509 CRL found"));
        }
        // The whole chain is checked; a certificate whose issuer has no CRL here is let
        // through, so that one CRL does not lock out clients of the other CAs in the bundle.
        builder = builder.with_crls(crls).allow_unknown_revocation_status();
    }
    let webpki = builder.build().map_err(|e| TlsError::Config(e.to_string()))?;
    let verifier = Arc::new(PolicyVerifier { inner: webpki, policy: policy.clone() });
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(LoadedTls {
        config: Arc::new(cfg),
        expiries: vec![("server", server_not_after), ("client_ca", client_ca_not_after)],
    })
}

// === impl PolicyVerifier ===

/// The client certificate verifier: rustls' WebPKI verifier, then what it does not check.
///
/// WebPKI (rustls-webpki 0.103) already enforces the chain to the client CA, validity dates,
/// the CRLs, `basicConstraints` (a leaf with CA:TRUE is refused: `CaUsedAsEndEntity`,
/// RFC 5280 §4.2.1.9) and refuses a leaf whose extendedKeyUsage lacks `clientAuth` — but it
/// accepts a leaf with no extendedKeyUsage at all (`KeyUsage::client_auth()` is
/// "required if present", RFC 5280 §4.2.1.12 allows either reading). On top, this verifier:
///
/// - requires the extendedKeyUsage extension with `id-kp-clientAuth` (1.3.6.1.5.5.7.3.2):
///   refused as `InvalidPurpose`;
/// - requires the identity (see [`identity_of`]) to start with one of
///   [`ClientPolicy::allowed_identity_prefixes`], when any is set: refused as
///   `ApplicationVerificationFailure`.
#[derive(Debug)]
pub struct PolicyVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    policy: ClientPolicy,
}

/// Checks what WebPKI leaves out on a client leaf `cert` (see [`PolicyVerifier`]).
///
/// # Errors
///
/// `CertificateError::BadEncoding` (unparsable), `InvalidPurpose` (no clientAuth EKU),
/// `ApplicationVerificationFailure` (identity outside the allowed prefixes, or none).
pub fn check_client_leaf(cert: &CertificateDer<'_>, policy: &ClientPolicy) -> Result<(), rustls::Error> {
    use x509_parser::prelude::*;
    let (_, x509) = X509Certificate::from_der(cert.as_ref())
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let client_auth = matches!(x509.extended_key_usage(), Ok(Some(eku)) if eku.value.client_auth || eku.value.any);
    if !client_auth {
        return Err(rustls::Error::InvalidCertificate(CertificateError::InvalidPurpose));
    }
    if !policy.allowed_identity_prefixes.is_empty() {
        let allowed = identity_of(cert).is_some_and(|id| {
            policy.allowed_identity_prefixes.iter().any(|prefix| id.as_str().starts_with(prefix.as_str()))
        });
        if !allowed {
            return Err(rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure));
        }
    }
    Ok(())
}

impl ClientCertVerifier for PolicyVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self.inner.verify_client_cert(end_entity, intermediates, now)?;
        check_client_leaf(end_entity, &self.policy)?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The identity in a client certificate (SAN URI, else SAN DNS, else CN), with the subject's
/// Organization values as its groups.
pub fn identity_of(cert: &CertificateDer<'_>) -> Option<Identity> {
    use x509_parser::prelude::*;
    let (_, x509) = X509Certificate::from_der(cert.as_ref()).ok()?;
    let mut uris = vec![];
    let mut dns = vec![];
    if let Ok(Some(san)) = x509.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::URI(u) => uris.push(u.to_string()),
                GeneralName::DNSName(d) => dns.push(d.to_string()),
                _ => {}
            }
        }
    }
    let cn = x509.subject().iter_common_name().next().and_then(|c| c.as_str().ok()).map(String::from);
    let groups = x509.subject().iter_organization().filter_map(|o| o.as_str().ok()).map(String::from).collect();
    Identity::from_names(&uris, &dns, cn.as_deref()).map(|i| i.with_groups(groups))
}

/// Who is on the other end of a connection; handlers read it from request extensions.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// The client's address.
    pub remote_addr: SocketAddr,
    /// The identity from its certificate.
    pub identity: Option<Identity>,
}

/// An accepted, authenticated connection. Past its deadline (if any) every read and write
/// fails with `ConnectionAborted`, which ends the HTTP/2 connection: the hard stop after
/// `--max-connection-age` plus its grace.
pub struct TlsConn {
    inner: TlsStream<TcpStream>,
    peer: PeerInfo,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The connection's place under the connection limits, given back when it closes.
    _permit: Permit<IpAddr>,
}

impl TlsConn {
    /// `Err` once the deadline has passed; polling registers the timer with `cx`, so an idle
    /// connection is woken at the deadline too.
    fn check_deadline(&mut self, cx: &mut Context<'_>) -> std::io::Result<()> {
        let passed = self.deadline.as_mut().is_some_and(|d| d.as_mut().poll(cx).is_ready());
        if passed {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "maximum connection age and grace exceeded",
            ));
        }
        Ok(())
    }
}

impl tonic::transport::server::Connected for TlsConn {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> PeerInfo {
        self.peer.clone()
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if let Err(e) = self.check_deadline(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        if let Err(e) = self.check_deadline(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if let Err(e) = self.check_deadline(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Accepts TCP connections on `listener`, admits each through `admission`, and yields the
/// authenticated ones until `stop` is cancelled (then the listener closes: new connections are
/// refused). Each accepted connection, in a task of its own:
///
/// 1. takes a place under the connection limits (total, per peer IP) or is closed at once;
/// 2. waits for its first byte, a TLS ClientHello's, within `--tls-first-byte-timeout`,
///    holding no handshake place, or is closed;
/// 3. takes a handshake place (total, per peer IP) or is closed;
/// 4. completes the mTLS handshake within `--tls-handshake-timeout` with the configuration
///    current at that moment.
///
/// Every refusal is counted (`scalekeeper_limit_refusals_total`, and failed handshakes in
/// `scalekeeper_tls_handshakes_refused_total{reason}`) and logged at most once a second with
/// how many were held back. With `hard_deadline`, each connection fails that long after its
/// handshake (see [`TlsConn`]). A connection's place is given back when it closes.
pub fn incoming(
    listener: TcpListener,
    config: Arc<ArcSwap<ServerConfig>>,
    hard_deadline: Option<Duration>,
    stop: CancellationToken,
    admission: Admission,
) -> tokio_stream::wrappers::ReceiverStream<Result<TlsConn, std::io::Error>> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let (stream, remote_addr) = tokio::select! {
                _ = stop.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let Some(permit) = admission.admit(remote_addr) else {
                // Dropping the stream closes it before any TLS byte is read.
                continue;
            };
            let _ = stream.set_nodelay(true);
            let tx = tx.clone();
            let admission = admission.clone();
            let config = config.clone();
            tokio::spawn(async move {
                let Some(conn) = admission.handshake(stream, remote_addr, &config, permit).await else { return };
                let conn = TlsConn { deadline: hard_deadline.map(|d| Box::pin(tokio::time::sleep(d))), ..conn };
                let _ = tx.send(Ok(conn)).await;
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// What decides whether an accepted TCP connection gets a TLS handshake.
#[derive(Clone)]
pub struct Admission {
    connections: ConnectionGate,
    handshakes: HandshakeGate,
    first_byte_timeout: Duration,
    handshake_timeout: Duration,
    metrics: Arc<Metrics>,
    sampler: Arc<LogSampler>,
}

impl Admission {
    /// Admission under `limits`' connection and handshake limits, counting refusals, open
    /// connections and handshakes in progress in `metrics`.
    pub fn new(limits: &ListenerLimits, metrics: Arc<Metrics>) -> Self {
        Self {
            connections: ConnectionGate::new(
                limits.max_connections,
                limits.max_connections_per_ip,
                metrics.open_connections.clone(),
            ),
            handshakes: HandshakeGate::new(
                limits.max_tls_handshakes,
                limits.max_tls_handshakes_per_ip,
                metrics.tls_handshakes_in_progress.clone(),
            ),
            first_byte_timeout: limits.tls_first_byte_timeout,
            handshake_timeout: limits.tls_handshake_timeout,
            metrics,
            sampler: Arc::new(LogSampler::new(Duration::from_secs(1))),
        }
    }

    /// Counts a refusal by `limit` and logs it if the sampler lets it through.
    fn refused(&self, remote: SocketAddr, limit: Limit) {
        self.metrics.limit_refused(limit);
        if let Some(suppressed) = self.sampler.sample() {
            tracing::info!(
                peer = %remote,
                limit = limit.as_str(),
                flag = limit.flag(),
                suppressed,
                "connection refused by a limit (at most one line a second; suppressed: how many since the last)"
            );
        }
    }

    /// A connection place for a peer at `remote`; `None` (counted, logged when sampled)
    /// when a limit is reached.
    fn admit(&self, remote: SocketAddr) -> Option<Permit<IpAddr>> {
        match self.connections.admit(&remote.ip()) {
            Ok(p) => Some(p),
            Err(Refusal::PerKey) => {
                self.refused(remote, Limit::ConnectionsPerIp);
                None
            }
            Err(Refusal::Total) => {
                self.refused(remote, Limit::Connections);
                None
            }
        }
    }

    /// Steps 2 to 4 of [`incoming`] for an admitted connection: the authenticated
    /// connection, or `None` (counted, logged when sampled; the socket closed).
    async fn handshake(
        &self,
        stream: TcpStream,
        remote: SocketAddr,
        config: &ArcSwap<ServerConfig>,
        permit: Permit<IpAddr>,
    ) -> Option<TlsConn> {
        let mut first = [0u8; 1];
        match tokio::time::timeout(self.first_byte_timeout, stream.peek(&mut first)).await {
            Ok(Ok(n)) if n > 0 => {}
            // Closed (or failed) before saying anything: nothing to refuse.
            Ok(_) => return None,
            Err(_) => {
                self.refused(remote, Limit::TlsFirstByteTimeout);
                return None;
            }
        }
        let handshake = match self.handshakes.admit(&remote.ip()) {
            Ok(h) => h,
            Err(Refusal::PerKey) => {
                self.refused(remote, Limit::TlsHandshakesPerIp);
                return None;
            }
            Err(Refusal::Total) => {
                self.refused(remote, Limit::TlsHandshakes);
                return None;
            }
        };
        let acceptor = TlsAcceptor::from(config.load_full());
        let result = tokio::time::timeout(self.handshake_timeout, acceptor.accept(stream)).await;
        drop(handshake);
        match result {
            Ok(Ok(tls)) => {
                let identity = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).and_then(identity_of);
                Some(TlsConn {
                    inner: tls,
                    peer: PeerInfo { remote_addr: remote, identity },
                    deadline: None,
                    _permit: permit,
                })
            }
            Ok(Err(e)) => {
                let reason = handshake_refusal(&e);
                self.metrics.handshake_refused(reason);
                if let Some(suppressed) = self.sampler.sample() {
                    tracing::info!(
                        peer = %remote,
                        reason = reason.as_str(),
                        error = %e,
                        suppressed,
                        "TLS handshake refused (at most one line a second; suppressed: how many since the last)"
                    );
                }
                None
            }
            Err(_) => {
                self.refused(remote, Limit::TlsHandshakeTimeout);
                None
            }
        }
    }
}

/// Why a handshake failed, from the error tokio-rustls returns: a rustls certificate error,
/// another rustls error, or the socket's own.
fn handshake_refusal(e: &std::io::Error) -> HandshakeRefusal {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(
            rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::InvalidCertRevocationList(_),
        ) => HandshakeRefusal::Certificate,
        Some(_) => HandshakeRefusal::Protocol,
        None => HandshakeRefusal::Io,
    }
}

// === impl Reloader ===

/// How often the TLS files are re-read and compared with what was loaded last.
pub const RELOAD_POLL: Duration = Duration::from_secs(1);

/// Keeps the server configuration current with its files.
///
/// ```text
///  every RELOAD_POLL, or SIGHUP ─► hash the files' contents ─ changed? ─► load ─ ok ─► swap
///                                                                            └ error ─► keep old, log, count
/// ```
///
/// Polling the contents (through symlinks) rather than watching inodes catches every way a
/// file can change, including the `..data` symlink swap of a mounted Kubernetes Secret, at the
/// cost of reading a few kilobytes a second. New handshakes take the new configuration; open
/// connections keep the one they were made with.
pub struct Reloader {
    source: TlsSource,
    current: Arc<ArcSwap<ServerConfig>>,
    metrics: Arc<Metrics>,
    /// The files' fingerprint taken just before the first load: a change made during the
    /// load is seen by the first poll.
    started_from: u64,
}

/// A hash of every file's contents (or of the read error), to notice any change.
fn fingerprint(source: &TlsSource) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    for path in source.paths() {
        match std::fs::read(path) {
            Ok(bytes) => bytes.hash(&mut h),
            Err(e) => e.kind().to_string().hash(&mut h),
        }
    }
    h.finish()
}

impl Reloader {
    /// Loads the configuration for the first time and sets the expiry gauges.
    ///
    /// # Errors
    ///
    /// As [`load`]: the server cannot start without usable files.
    pub fn start(source: TlsSource, metrics: Arc<Metrics>) -> Result<Self, TlsError> {
        let started_from = fingerprint(&source);
        let loaded = source.load()?;
        metrics.tls_loaded(&loaded.expiries);
        Ok(Self { source, current: Arc::new(ArcSwap::new(loaded.config)), metrics, started_from })
    }

    /// The configuration new handshakes use (swapped on every successful reload).
    pub fn config(&self) -> Arc<ArcSwap<ServerConfig>> {
        self.current.clone()
    }

    /// Loads the files again and swaps the result in; on failure keeps the current
    /// configuration. Either way logs it and counts it in `scalekeeper_tls_reload_total`.
    ///
    /// # Errors
    ///
    /// As [`load`].
    pub fn reload(&self) -> Result<(), TlsError> {
        let listener = self.source.listener();
        match self.source.load() {
            Ok(loaded) => {
                self.current.store(loaded.config);
                self.metrics.tls_loaded(&loaded.expiries);
                self.metrics.tls_reloaded(TlsReload::Success);
                let not_after = loaded.expiries.first().map(|(_, t)| *t).unwrap_or_default();
                tracing::info!(listener, server_not_after = not_after, "TLS configuration reloaded");
                Ok(())
            }
            Err(e) => {
                self.metrics.tls_reloaded(TlsReload::Error);
                tracing::error!(listener, error = %e, "TLS files changed but cannot be used; keeping the previous configuration");
                Err(e)
            }
        }
    }

    /// Reloads whenever a file's contents change (checked every [`RELOAD_POLL`]) and on
    /// SIGHUP, until `stop` is cancelled.
    ///
    /// The SIGHUP handler is installed before this returns (so a SIGHUP from then on never
    /// takes the default action, which ends the process). Call it within a Tokio runtime.
    pub fn spawn_watch(self, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .map_err(|e| tracing::warn!(error = %e, "no SIGHUP handler; reloading on file changes only"))
            .ok();
        tokio::spawn(async move {
            let mut last = self.started_from;
            let mut tick = tokio::time::interval(RELOAD_POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                #[cfg(unix)]
                let hangup = async {
                    match hup.as_mut() {
                        Some(h) => h.recv().await,
                        None => std::future::pending().await,
                    }
                };
                #[cfg(not(unix))]
                let hangup = std::future::pending::<Option<()>>();
                let forced = tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => false,
                    _ = hangup => true,
                };
                let now = fingerprint(&self.source);
                if now == last && !forced {
                    continue;
                }
                if forced {
                    tracing::info!(listener = self.source.listener(), "SIGHUP: reloading TLS files");
                }
                last = now;
                // Errors are logged and counted by reload; the next change is tried again.
                let _ = self.reload();
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certs::Ca;

    /// A directory with a server pair, a client CA and `files` naming them.
    fn pki() -> (tempfile::TempDir, TlsFiles, Ca) {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = Ca::generate("tls test CA", 1).expect("CA");
        let server = ca.server_cert(&["localhost".into()], 1).expect("server cert");
        let files = TlsFiles {
            cert: dir.path().join("tls.crt"),
            key: dir.path().join("tls.key"),
            client_ca: dir.path().join("ca.crt"),
            client_crl: None,
        };
        std::fs::write(&files.cert, &server.cert_pem).expect("write");
        std::fs::write(&files.key, &server.key_pem).expect("write");
        std::fs::write(&files.client_ca, ca.cert_pem()).expect("write");
        (dir, files, ca)
    }

    #[test]
    fn loads_and_reports_expiry() {
        let (_dir, files, _) = pki();
        let loaded = load(&files, &ClientPolicy::default()).expect("loads");
        let in_a_day = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
        let (kind, server_not_after) = loaded.expiries[0];
        assert_eq!(kind, "server");
        assert!((server_not_after - in_a_day as i64 - 86_400).abs() < 3_600, "{loaded:?}");
        assert_eq!(loaded.config.alpn_protocols, vec![b"h2".to_vec()]);
        // The webhook's port: the same certificate, no client certificate, HTTP/2 or 1.1.
        let webhook = load_server_only(&files.cert, &files.key).expect("loads");
        assert_eq!(webhook.expiries, vec![("admission", server_not_after)]);
        assert_eq!(webhook.config.alpn_protocols, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert!(matches!(load_server_only(&files.key, &files.cert), Err(TlsError::Pem { .. })), "swapped files");
    }

    #[test]
    fn broken_files_are_refused_with_the_file_named() {
        let (_dir, files, ca) = pki();
        let other = ca.server_cert(&["localhost".into()], 1).expect("server cert");
        std::fs::write(&files.key, &other.key_pem).expect("write");
        assert!(matches!(load(&files, &ClientPolicy::default()), Err(TlsError::Config(_))), "a key of another cert");

        let (_dir, files, _) = pki();
        std::fs::write(&files.client_ca, "").expect("write");
        assert!(
            matches!(load(&files, &ClientPolicy::default()), Err(TlsError::Pem { path, .. }) if path == files.client_ca)
        );

        let (_dir, mut files, _) = pki();
        files.client_crl = Some(files.cert.clone());
        assert!(matches!(load(&files, &ClientPolicy::default()), Err(TlsError::Pem { .. })), "no CRL in the file");
    }

    #[test]
    fn the_leaf_policy() {
        let (_dir, _, ca) = pki();
        let der = |pem: &str| CertificateDer::from_pem_slice(pem.as_bytes()).expect("PEM");
        let client = der(&ca.client_cert("spiffe://prod/ns/a/sa/b", 1).expect("client").cert_pem);
        let server = der(&ca.server_cert(&["localhost".into()], 1).expect("server").cert_pem);
        let any = ClientPolicy::default();
        let prod = ClientPolicy { allowed_identity_prefixes: vec!["spiffe://prod/".into()] };
        let staging = ClientPolicy { allowed_identity_prefixes: vec!["spiffe://staging/".into()] };
        assert_eq!(check_client_leaf(&client, &any), Ok(()));
        assert_eq!(check_client_leaf(&client, &prod), Ok(()));
        assert_eq!(
            check_client_leaf(&client, &staging),
            Err(rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure))
        );
        assert_eq!(
            check_client_leaf(&server, &any),
            Err(rustls::Error::InvalidCertificate(CertificateError::InvalidPurpose)),
            "serverAuth only"
        );
    }
}
