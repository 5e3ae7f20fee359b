//! Small helpers for tests and benches that drive `scalekeeper serve` processes: `/readyz` and
//! `/metrics` probes with a one-second limit, and the addresses a process logs. Included with
//! `#[path]` by `tests/ha.rs`, `tests/drain.rs`, `tests/faults.rs` and `examples/bench.rs`; the
//! generic parts (HTTP GET, waiting, logs) are in `testkit`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

/// How long a probe waits for an answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// A plain HTTP/1.1 GET: (status, body), or `None` without an answer within [`PROBE_TIMEOUT`].
pub async fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    testkit::http_get(addr, path, PROBE_TIMEOUT).await
}

/// The HTTP address a `scalekeeper serve` process logged in its `serving grpc=… http=…` line.
pub fn logged_http_addr(log: &str) -> Option<SocketAddr> {
    log.lines()
        .filter(|l| l.contains(" serving "))
        .flat_map(str::split_whitespace)
        .find_map(|w| w.strip_prefix("http=")?.parse().ok())
}

/// The gRPC address a `scalekeeper serve` process logged in its `serving grpc=… http=…` line.
pub fn logged_grpc_addr(log: &str) -> Option<SocketAddr> {
    log.lines()
        .filter(|l| l.contains(" serving "))
        .flat_map(str::split_whitespace)
        .find_map(|w| w.strip_prefix("grpc=")?.parse().ok())
}

/// `scalekeeper_leader` from a process's `/metrics`, if it answers.
pub async fn leader_gauge(addr: SocketAddr) -> Option<i64> {
    let (code, body) = http_get(addr, "/metrics").await?;
    if code != 200 {
        return None;
    }
    body.lines().find_map(|l| l.strip_prefix("scalekeeper_leader ")?.trim().parse().ok())
}
