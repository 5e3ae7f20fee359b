//! The client side of scalekeeper's documented retry policy (`docs/operations.md`, "Client
//! retry policy"), for clients that, like tonic's, have no built-in gRPC retries: the drain test
//! (`tests/drain.rs`) and the kind upgrade test's load client (`examples/steady_get.rs`) both
//! include this file.

use std::future::Future;
use std::hash::{BuildHasher as _, Hasher as _};
use std::time::Duration;

use tonic::{Code, Status};

/// `retryPolicy.maxAttempts`: the first attempt and at most four retries.
pub const MAX_ATTEMPTS: u32 = 5;
/// `retryPolicy.initialBackoff`.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(20);
/// `retryPolicy.backoffMultiplier`.
pub const BACKOFF_MULTIPLIER: u32 = 2;
/// `retryPolicy.maxBackoff`.
pub const MAX_BACKOFF: Duration = Duration::from_millis(200);

/// Calls `attempt` under scalekeeper's client retry policy, which is this gRPC service config
/// (gRFC A6, "gRPC Retry Design"):
///
/// ```json
/// { "methodConfig": [{
///     "name": [{ "service": "scalekeeper.v1.ScaleService" }],
///     "retryPolicy": {
///       "maxAttempts": 5,
///       "initialBackoff": "0.020s",
///       "backoffMultiplier": 2,
///       "maxBackoff": "0.200s",
///       "retryableStatusCodes": ["UNAVAILABLE"]
///     } }] }
/// ```
///
/// - At most [`MAX_ATTEMPTS`] (5) attempts: the first and up to 4 retries.
/// - Retryable: status UNAVAILABLE only. tonic reports a refused or failed connection as
///   UNAVAILABLE, so "the server is not listening" and "the server is draining" are retried;
///   so is a call that provably never reached the server ([`retryable`]: A6's transparent
///   retry). Every other outcome (NOT_FOUND, INTERNAL, a deadline, a connection lost after the
///   request was sent, ...) is returned at once: the server may have acted on it.
/// - Before retry `n` (1-based) the client sleeps `random(0, min(20 ms × 2^(n-1), 200 ms))`:
///   A6's exponential backoff with full jitter (so at most 20 + 40 + 80 + 160 ms in all).
/// - `attempt` gets the 0-based attempt number; a caller that balances over several servers
///   uses it to send each retry to the next server (as gRPC's `round_robin` does by not
///   picking a backend that just failed).
///
/// Not implemented from A6: retry throttling (`retryThrottling`) and server pushback
/// (`grpc-retry-pushback-ms`; scalekeeper never sends it).
///
/// Returns the last attempt's result and the number of retries made. `on_retry` sees each
/// status that caused a retry.
pub async fn call_with_retry<T, F, Fut>(mut attempt: F, mut on_retry: impl FnMut(&Status)) -> (Result<T, Status>, u32)
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let mut n = 0;
    loop {
        match attempt(n).await {
            Err(status) if retryable(&status) && n + 1 < MAX_ATTEMPTS => {
                on_retry(&status);
                n += 1;
                tokio::time::sleep(backoff(n)).await;
            }
            result => return (result, n),
        }
    }
}

/// Whether the policy retries `status`: UNAVAILABLE, or a call that never reached the server.
pub fn retryable(status: &Status) -> bool {
    status.code() == Code::Unavailable || never_sent(status)
}

/// Whether the call provably never reached the server's application, which gRFC A6 retries
/// transparently; the policy treats it as UNAVAILABLE, counted against `maxAttempts` like any
/// other retry. These are races with a server's GOAWAY that tonic reports with other codes:
/// - hyper cancelled the request while it was still queued for a connection that closed or was
///   not ready (tonic: CANCELLED, "operation was canceled", although nobody cancelled anything);
/// - h2 failed the stream because of the server's GOAWAY: it was opened after the GOAWAY arrived,
///   or its id is above the GOAWAY's last stream id, which the server promises it did not and
///   will not process (RFC 9113 §6.8) (tonic: INTERNAL, "h2 protocol error");
/// - the server refused the stream (REFUSED_STREAM; tonic already says UNAVAILABLE).
///
/// A connection lost while the call was in flight (a broken pipe, a reset) is not among them:
/// the server may have acted on the call.
fn never_sent(status: &Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        if e.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_canceled) {
            return true;
        }
        if let Some(h2) = e.downcast_ref::<h2::Error>() {
            return (h2.is_go_away() && h2.is_remote()) || h2.reason() == Some(h2::Reason::REFUSED_STREAM);
        }
        source = e.source();
    }
    false
}

/// The jittered wait before retry `n` (1-based): `random(0, min(initial × multiplier^(n-1), max))`.
pub fn backoff(n: u32) -> Duration {
    let cap = INITIAL_BACKOFF.saturating_mul(BACKOFF_MULTIPLIER.saturating_pow(n.saturating_sub(1))).min(MAX_BACKOFF);
    // A random fraction in [0, 1) from std's randomly keyed hasher: no dependency needed.
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    cap.mul_f64((random >> 11) as f64 / (1u64 << 53) as f64)
}
