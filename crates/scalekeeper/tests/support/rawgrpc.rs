//! gRPC calls no generated client would make, over a raw HTTP/2 connection with mTLS:
//! malformed messages, requests that stall half-sent, streams left open, and HTTP/2 frames
//! written by hand (reset floods). Included with `#[path]` by `tests/limits.rs`,
//! `tests/tls.rs`, `tests/hostile.rs` and `examples/probe.rs`.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use hyper::body::Bytes;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// An mTLS client configuration (ALPN h2) trusting the CA file `ca`, with the client
/// certificate and key files `cert` and `key`.
pub fn client_config(ca: &Path, cert: &Path, key: &Path) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(ca).unwrap()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![CertificateDer::from_pem_file(cert).unwrap()],
            PrivateKeyDer::from_pem_file(key).unwrap(),
        )
        .unwrap();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(cfg)
}

/// A TCP connection to `addr` from the loopback address `from` (any of 127/8 is this host,
/// so a test can play several peers).
pub async fn tcp_from(from: &str, addr: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(format!("{from}:0").parse().unwrap())?;
    socket.connect(addr).await
}

/// An mTLS connection to the gRPC port at `addr` (server name `localhost`) with `config`,
/// from the loopback address `from`.
pub async fn tls(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    from: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tcp_from(from, addr).await?;
    tokio_rustls::TlsConnector::from(config).connect(ServerName::try_from("localhost").unwrap(), tcp).await
}

/// A raw HTTP/2 connection over mTLS to the gRPC port at `addr` (server name `localhost`,
/// trusted through the CA file `ca`) with the client certificate and key files `cert` and
/// `key`, from the loopback address `from`.
pub async fn connect(
    addr: SocketAddr,
    ca: &Path,
    cert: &Path,
    key: &Path,
    from: &str,
) -> h2::client::SendRequest<Bytes> {
    let tls = tls(addr, client_config(ca, cert, key), from).await.expect("TLS handshake");
    let (send, conn) = h2::client::handshake(tls).await.expect("HTTP/2 handshake");
    tokio::spawn(conn);
    send
}

/// A call of `path` started on `send` with `data` as its first bytes; the request stream ends
/// with them when `end`.
pub async fn start_call(
    send: &h2::client::SendRequest<Bytes>,
    path: &str,
    data: &[u8],
    end: bool,
) -> (h2::client::ResponseFuture, h2::SendStream<Bytes>) {
    let mut send = send.clone().ready().await.expect("a stream");
    let req = hyper::Request::post(format!("https://localhost{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let (resp, mut body) = send.send_request(req, data.is_empty() && end).expect("send the request");
    if !data.is_empty() {
        // A server that refuses the call on its headers (a limit) may answer and close the
        // stream before the body goes out (h2: InactiveStreamId, or a reset): the body is then
        // not sent, and the response, which every caller reads, says what happened.
        let _ = body.send_data(Bytes::copy_from_slice(data), end);
    }
    (resp, body)
}

/// How a call ended: its status (from a trailers-only answer or the trailers) and its
/// `x-request-id`, reading any messages before.
pub async fn status_of(resp: h2::client::ResponseFuture) -> (tonic::Status, Option<String>) {
    let resp = resp.await.expect("a response");
    assert_eq!(resp.status(), 200, "{resp:?}");
    let id = resp.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    if let Some(status) = tonic::Status::from_header_map(resp.headers()) {
        return (status, id);
    }
    let mut body = resp.into_body();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("response data");
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let trailers = body.trailers().await.expect("trailers").expect("trailers present");
    (tonic::Status::from_header_map(&trailers).expect("grpc-status in the trailers"), id)
}

/// A gRPC message frame: not compressed, the length, the bytes.
pub fn message(bytes: &[u8]) -> Vec<u8> {
    let mut m = vec![0];
    m.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    m.extend_from_slice(bytes);
    m
}

// === HTTP/2 frames by hand ===

/// The client connection preface and an empty SETTINGS frame (RFC 9113 §3.4).
pub fn preface() -> Vec<u8> {
    let mut p = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    p.extend(frame(0x4, 0, 0, &[]));
    p
}

/// One HTTP/2 frame (RFC 9113 §4.1).
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A HEADERS block (HPACK, RFC 7541: static-table indexes and literals without indexing, no
/// Huffman) for a health Check.
pub fn health_check_headers() -> Vec<u8> {
    let literal = |out: &mut Vec<u8>, s: &str| {
        out.push(s.len() as u8);
        out.extend_from_slice(s.as_bytes());
    };
    let mut h = vec![0x83, 0x87]; // :method POST, :scheme https
    h.push(0x04); // :path, literal value
    literal(&mut h, "/grpc.health.v1.Health/Check");
    h.push(0x01); // :authority
    literal(&mut h, "localhost");
    h.extend_from_slice(&[0x0f, 0x10]); // content-type (static index 31)
    literal(&mut h, "application/grpc");
    h.push(0x00); // a new name
    literal(&mut h, "te");
    literal(&mut h, "trailers");
    h
}

/// HTTP/2's ENHANCE_YOUR_CALM error code (RFC 9113 §7).
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// Reads the server's frames until its GOAWAY and returns the GOAWAY's error code; `None`
/// when the connection ends first.
pub async fn read_goaway(rd: &mut (impl tokio::io::AsyncRead + Unpin)) -> Option<u32> {
    use tokio::io::AsyncReadExt as _;
    let mut head = [0u8; 9];
    loop {
        rd.read_exact(&mut head).await.ok()?;
        let len = (usize::from(head[0]) << 16) | (usize::from(head[1]) << 8) | usize::from(head[2]);
        let mut payload = vec![0u8; len];
        rd.read_exact(&mut payload).await.ok()?;
        if head[3] == 0x7 && payload.len() >= 8 {
            return Some(u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]));
        }
    }
}
