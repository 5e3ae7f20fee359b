//! gRPC calls no generated client would make, over a raw HTTP/2 connection with mTLS:
//! malformed messages, requests that stall half-sent, streams left open. Included with
//! `#[path]` by `tests/limits.rs`, `tests/hostile.rs` and `examples/probe.rs`.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use hyper::body::Bytes;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// A raw HTTP/2 connection over mTLS to the gRPC port at `addr` (server name `localhost`,
/// trusted through the CA file `ca`) with the client certificate and key files `cert` and
/// `key`, from the loopback address `from` (any of 127/8 is this host, so a test can play
/// several peers).
pub async fn connect(
    addr: SocketAddr,
    ca: &Path,
    cert: &Path,
    key: &Path,
    from: &str,
) -> h2::client::SendRequest<Bytes> {
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
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    let tcp = socket.connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake");
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
        body.send_data(Bytes::copy_from_slice(data), end).expect("send the body");
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
