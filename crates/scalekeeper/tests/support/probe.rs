//! Small helpers for tests and benches that drive `scalekeeper serve` processes: a plain
//! HTTP/1.1 GET for `/readyz` and `/metrics`, polling until a condition holds, and the
//! tail of a log. Included with `#[path]` by `tests/ha.rs`, `tests/drain.rs` and
//! `examples/bench.rs`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A plain HTTP/1.1 GET: (status, body), or `None` without an answer within a second.
pub async fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let get = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let code = text.split_whitespace().nth(1)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        Some((code, body))
    };
    tokio::time::timeout(Duration::from_secs(1), get).await.ok().flatten()
}

/// The HTTP address a `scalekeeper serve` process logged in its `serving grpc=… http=…` line.
pub fn logged_http_addr(log: &str) -> Option<SocketAddr> {
    log.lines()
        .filter(|l| l.contains(" serving "))
        .flat_map(str::split_whitespace)
        .find_map(|w| w.strip_prefix("http=")?.parse().ok())
}

/// `scalekeeper_leader` from a process's `/metrics`, if it answers.
pub async fn leader_gauge(addr: SocketAddr) -> Option<i64> {
    let (code, body) = http_get(addr, "/metrics").await?;
    if code != 200 {
        return None;
    }
    body.lines().find_map(|l| l.strip_prefix("scalekeeper_leader ")?.trim().parse().ok())
}

/// Polls `f` every `poll` until it gives a value; panics after `timeout`.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, poll: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(poll).await;
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
