//! The client side of scalekeeper's documented retry policy (`docs/operations.md`, "Client
//! retry policy"), for clients that, like tonic's, have no built-in gRPC retries: the CLI
//! (`cli::run`), the drain test (`tests/drain.rs`) and the kind and node upgrade tests' load
//! client (`examples/steady_get.rs`) all call this module.
//!
//! The policy is this gRPC service config (gRFC A6, "gRPC Retry Design",
//! <https://github.com/grpc/proposal/blob/master/A6-client-retries.md>):
//!
//! ```json
//! { "methodConfig": [{
//!     "name": [{ "service": "scalekeeper.v1.ScaleService" }],
//!     "retryPolicy": {
//!       "maxAttempts": 5,
//!       "initialBackoff": "0.020s",
//!       "backoffMultiplier": 2,
//!       "maxBackoff": "0.200s",
//!       "retryableStatusCodes": ["UNAVAILABLE"]
//!     } }] }
//! ```
//!
//! The loop is ours rather than `backon`'s (which the server uses for Kubernetes calls) because
//! A6 specifies *full* jitter, a wait drawn from `[0, cap)`, and `backon`'s jitter adds to the
//! delay instead.

use std::future::Future;
use std::hash::{BuildHasher as _, Hasher as _};
use std::time::Duration;

use tokio::time::Instant;
use tonic::{Code, Status};

/// `retryPolicy.maxAttempts`: the first attempt and at most four retries.
pub const MAX_ATTEMPTS: u32 = 5;
/// `retryPolicy.initialBackoff`.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(20);
/// `retryPolicy.backoffMultiplier`.
pub const BACKOFF_MULTIPLIER: u32 = 2;
/// `retryPolicy.maxBackoff`.
pub const MAX_BACKOFF: Duration = Duration::from_millis(200);

/// Calls `attempt` under the policy, retrying the statuses [`retryable`] accepts:
///
/// - At most [`MAX_ATTEMPTS`] (5) attempts: the first and up to 4 retries.
/// - Retryable: status UNAVAILABLE only. tonic reports a refused or failed connection as
///   UNAVAILABLE, so "the server is not listening" and "the server is draining" are retried;
///   so is a call that provably never reached the server ([`never_sent`]: A6's transparent
///   retry). Every other outcome (NOT_FOUND, INTERNAL, a deadline, a connection lost after the
///   request was sent, ...) is returned at once: the server may have acted on it.
/// - Before retry `n` (1-based) the client sleeps [`backoff`]`(n)`.
/// - `attempt` gets the 0-based attempt number; a caller that balances over several servers
///   uses it to send each retry to the next server (as gRPC's `round_robin` does by not
///   picking a backend that just failed).
///
/// Not implemented from A6: retry throttling (`retryThrottling`) and server pushback
/// (`grpc-retry-pushback-ms`; scalekeeper never sends it).
///
/// Returns the last attempt's result and the number of retries made. `on_retry` sees each
/// status that caused a retry.
pub async fn call_with_retry<T, F, Fut>(attempt: F, mut on_retry: impl FnMut(&Status)) -> (Result<T, Status>, u32)
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    retry_until(None, attempt, retryable, |e, _| on_retry(e)).await
}

/// The policy's loop for any error type: calls `attempt(n)` (n = 0, 1, ...) until it succeeds,
/// returns an error `retry_on` rejects, [`MAX_ATTEMPTS`] attempts were made, or the next
/// backoff would end after `deadline` (`None`: no deadline). `attempt` must itself stop at the
/// deadline (the caller knows how: a timeout, a connect timeout). `on_retry(error, n)` sees each
/// error that caused retry `n` (1-based), before the backoff.
///
/// Returns the last attempt's result and the number of retries made.
pub async fn retry_until<T, E, F, Fut>(
    deadline: Option<Instant>,
    mut attempt: F,
    retry_on: impl Fn(&E) -> bool,
    mut on_retry: impl FnMut(&E, u32),
) -> (Result<T, E>, u32)
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut n = 0;
    loop {
        match attempt(n).await {
            Err(e) if retry_on(&e) && n + 1 < MAX_ATTEMPTS => {
                let wait = backoff(n + 1);
                if deadline.is_some_and(|d| Instant::now() + wait >= d) {
                    return (Err(e), n);
                }
                n += 1;
                on_retry(&e, n);
                tokio::time::sleep(wait).await;
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
pub fn never_sent(status: &Status) -> bool {
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

/// The jittered wait before retry `n` (1-based): `random(0, min(initial × multiplier^(n-1), max))`,
/// A6's exponential backoff with full jitter (so at most 20 + 40 + 80 + 160 ms in all).
pub fn backoff(n: u32) -> Duration {
    let cap = INITIAL_BACKOFF.saturating_mul(BACKOFF_MULTIPLIER.saturating_pow(n.saturating_sub(1))).min(MAX_BACKOFF);
    // A random fraction in [0, 1) from std's randomly keyed hasher: no dependency needed.
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    cap.mul_f64((random >> 11) as f64 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn retries_unavailable_only_with_bounded_jittered_backoff() {
        assert!(retryable(&Status::unavailable("draining")));
        for status in [
            Status::not_found("x"),
            Status::invalid_argument("x"),
            Status::aborted("x"),
            Status::resource_exhausted("x"),
            Status::internal("x"),
            Status::deadline_exceeded("x"),
            Status::cancelled("x"),
        ] {
            assert!(!retryable(&status), "{status:?} is not retried");
        }
        for (n, cap_ms) in [(1, 20), (2, 40), (3, 80), (4, 160), (5, 200), (9, 200)] {
            let waits: Vec<Duration> = (0..200).map(|_| backoff(n)).collect();
            assert!(waits.iter().all(|w| *w < Duration::from_millis(cap_ms)), "retry {n}: {waits:?}");
            // Jittered: not all the same, and some in the upper half of the range.
            assert!(waits.iter().any(|w| *w != waits[0]), "retry {n}: {waits:?}");
            assert!(waits.iter().any(|w| *w >= Duration::from_millis(cap_ms / 2)), "retry {n}: {waits:?}");
        }
    }

    #[tokio::test]
    async fn gives_up_after_five_attempts_or_at_the_deadline() {
        let calls = Cell::new(0);
        let (result, retries) = call_with_retry(
            |_| {
                calls.set(calls.get() + 1);
                async { Err::<(), _>(Status::unavailable("down")) }
            },
            |_| {},
        )
        .await;
        assert_eq!((result.unwrap_err().code(), retries, calls.get()), (Code::Unavailable, 4, 5));

        // A status that is an answer: no retry.
        calls.set(0);
        let (result, retries) = call_with_retry(
            |_| {
                calls.set(calls.get() + 1);
                async { Err::<(), _>(Status::not_found("no")) }
            },
            |_| {},
        )
        .await;
        assert_eq!((result.unwrap_err().code(), retries, calls.get()), (Code::NotFound, 0, 1));

        // Success on the third attempt.
        let (result, retries) =
            call_with_retry(|n| async move { if n < 2 { Err(Status::unavailable("down")) } else { Ok(n) } }, |_| {})
                .await;
        assert_eq!((result.unwrap(), retries), (2, 2));

        // A deadline already passed: the first error is the answer.
        let seen = Cell::new(0);
        let (result, retries) = retry_until(
            Some(Instant::now()),
            |_| async { Err::<(), _>("refused") },
            |_| true,
            |_, _| seen.set(seen.get() + 1),
        )
        .await;
        assert_eq!((result, retries, seen.get()), (Err("refused"), 0, 0));
    }
}
