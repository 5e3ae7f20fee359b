//! Ports and HTTP readiness probes.

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// A localhost TCP port nothing listens on right now (bound to port 0, then released). Another
/// process may take it before the caller binds it; prefer letting the process under test bind
/// port 0 and report its address where it can.
///
/// # Panics
///
/// When no port can be bound.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding a localhost port");
    listener.local_addr().expect("the bound address").port()
}

/// Splits an HTTP/1.x response into (status, body).
fn parse(response: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(response);
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((code, body))
}

fn request(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
}

/// A plain HTTP/1.1 `GET path` to `addr` (no TLS; `Connection: close`, the body read to the
/// end): `Some((status, body))`, or `None` when nothing answers with an HTTP status line within
/// `timeout` (connection refused, reset, or too slow).
pub async fn http_get(addr: SocketAddr, path: &str, timeout: Duration) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let get = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(request(path).as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        parse(&buf)
    };
    tokio::time::timeout(timeout, get).await.ok().flatten()
}

/// [`http_get`] for synchronous tests (blocks the thread): `timeout` bounds the connect and
/// each read separately.
pub fn http_get_blocking(addr: SocketAddr, path: &str, timeout: Duration) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.write_all(request(path).as_bytes()).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    parse(&buf)
}

/// Waits until `GET path` on `addr` answers 200, polling every `poll` (each attempt given at
/// most a second).
///
/// # Panics
///
/// When it does not within `timeout`: "timed out after {timeout:?} waiting for GET
/// http://{addr}{path} to answer 200".
pub async fn wait_http_ok(addr: SocketAddr, path: &str, timeout: Duration, poll: Duration) {
    let what = format!("GET http://{addr}{path} to answer 200");
    crate::wait_for_async(&what, timeout, poll, || async {
        http_get(addr, path, Duration::from_secs(1)).await.is_some_and(|(code, _)| code == 200)
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_body() {
        let r = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 9\r\n\r\nnot ready";
        assert_eq!(parse(r), Some((503, "not ready".to_string())));
        assert_eq!(parse(b"HTTP/1.1 200 OK\r\n\r\n"), Some((200, String::new())));
        assert_eq!(parse(b""), None);
        assert_eq!(parse(b"garbage"), None);
    }

    #[test]
    fn free_port_is_bindable() {
        let port = free_port();
        assert_ne!(port, 0);
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("the port is free");
    }

    #[tokio::test]
    async fn get_answers_and_nothing_listening_is_none() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\nok").await;
        });
        assert_eq!(http_get(addr, "/readyz", Duration::from_secs(5)).await, Some((200, "ok".into())));
        // Nothing listens there any more.
        assert_eq!(http_get(addr, "/readyz", Duration::from_secs(5)).await, None);
    }
}
