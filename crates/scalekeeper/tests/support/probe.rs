//! Small helpers for tests and benches that drive `scalekeeper serve` processes: `/readyz` and
//! `/metrics` probes with a one-second limit, the addresses a process logs, and the command of
//! one of several replicas electing a leader. Included with `#[path]` by the suites and examples
//! that start such processes (`tests/ha.rs`, `tests/history.rs`, `tests/drain.rs`, ...); the
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

/// `BIN serve` as replica `identity` of processes electing a leader with the Lease
/// `scalekeeper` in `lease_ns`: ports 0 (the process logs the ones it bound, see
/// [`logged_grpc_addr`]), `--authorization=allow-any`, text logs without colour, a 5 s drain,
/// the certificates of `certs`, the cluster of `kubeconfig` and, on a shared real cluster,
/// only `namespace`. Callers add the Lease timings, other flags and `RUST_LOG`.
pub fn replica_command(
    bin: &std::path::Path,
    identity: &str,
    certs: &scalekeeper::certs::DevCerts,
    kubeconfig: &std::path::Path,
    namespace: Option<&str>,
    lease_ns: &str,
) -> std::process::Command {
    let mut cmd = std::process::Command::new(bin);
    cmd.arg("serve").arg("--authorization=allow-any");
    if let Some(ns) = namespace {
        cmd.args(["--namespace", ns]);
    }
    cmd.args(["--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"])
        .arg("--tls-cert")
        .arg(&certs.server_cert)
        .arg("--tls-key")
        .arg(&certs.server_key)
        .arg("--client-ca")
        .arg(&certs.ca)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--log-format", "text", "--drain-timeout", "5s"])
        .args(["--leader-elect", "true", "--lease-name", "scalekeeper", "--lease-namespace", lease_ns])
        .args(["--identity", identity])
        .env("NO_COLOR", "1");
    cmd
}
