//! Polling a condition until it holds.

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

/// The poll period most suites use: 20 ms.
pub const POLL: Duration = Duration::from_millis(20);

/// What a polled condition returns: `bool` (done when `true`, giving `()`) or `Option<T>`
/// (done when `Some`, giving the `T`).
pub trait Condition {
    /// What the wait returns once the condition holds.
    type Output;

    /// `Some` when the condition holds.
    fn done(self) -> Option<Self::Output>;
}

impl Condition for bool {
    type Output = ();

    fn done(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Condition for Option<T> {
    type Output = T;

    fn done(self) -> Option<T> {
        self
    }
}

/// A wait that ran out of time: "timed out after {timeout:?} waiting for {what}".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedOut {
    /// What was awaited, as the caller described it.
    pub what: String,
    /// How long the wait lasted.
    pub timeout: Duration,
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timed out after {:?} waiting for {}", self.timeout, self.what)
    }
}

impl std::error::Error for TimedOut {}

/// Calls `cond` until it holds, sleeping `poll` between calls (blocking the thread); returns
/// its output. `cond` is always called at least once, and once more after `timeout` has
/// passed.
///
/// # Errors
///
/// [`TimedOut`] (naming `what`) when `cond` still does not hold `timeout` after the start.
pub fn try_wait_for<C: Condition>(
    what: &str,
    timeout: Duration,
    poll: Duration,
    mut cond: impl FnMut() -> C,
) -> Result<C::Output, TimedOut> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = cond().done() {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            return Err(TimedOut { what: what.to_string(), timeout });
        }
        std::thread::sleep(poll);
    }
}

/// [`try_wait_for`], failing the test on a timeout. For synchronous tests: it blocks the
/// thread, so async tests use [`wait_for_async`].
///
/// # Panics
///
/// When `cond` does not hold within `timeout`: "timed out after {timeout:?} waiting for {what}".
#[track_caller]
pub fn wait_for<C: Condition>(what: &str, timeout: Duration, poll: Duration, cond: impl FnMut() -> C) -> C::Output {
    try_wait_for(what, timeout, poll, cond).unwrap_or_else(|e| panic!("{e}"))
}

/// Awaits `cond()` until it holds, sleeping `poll` (on the tokio timer) between calls; returns
/// its output. `cond` is always called at least once, and once more after `timeout` has passed.
///
/// # Errors
///
/// [`TimedOut`] (naming `what`) when `cond` still does not hold `timeout` after the start.
pub async fn try_wait_for_async<C, F, Fut>(
    what: &str,
    timeout: Duration,
    poll: Duration,
    mut cond: F,
) -> Result<C::Output, TimedOut>
where
    C: Condition,
    F: FnMut() -> Fut,
    Fut: Future<Output = C>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = cond().await.done() {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(TimedOut { what: what.to_string(), timeout });
        }
        tokio::time::sleep(poll).await;
    }
}

/// [`try_wait_for_async`], failing the test on a timeout.
///
/// # Panics
///
/// When `cond` does not hold within `timeout`: "timed out after {timeout:?} waiting for {what}".
pub async fn wait_for_async<C, F, Fut>(what: &str, timeout: Duration, poll: Duration, cond: F) -> C::Output
where
    C: Condition,
    F: FnMut() -> Fut,
    Fut: Future<Output = C>,
{
    try_wait_for_async(what, timeout, poll, cond).await.unwrap_or_else(|e| panic!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn returns_the_first_value_that_holds() {
        let mut n = 0;
        let got = wait_for("n to reach 3", Duration::from_secs(5), MS, || {
            n += 1;
            (n >= 3).then_some(n)
        });
        assert_eq!(got, 3);
    }

    #[test]
    fn a_bool_condition_gives_unit() {
        let mut calls = 0;
        wait_for("the second call", Duration::from_secs(5), MS, || {
            calls += 1;
            calls == 2
        });
        assert_eq!(calls, 2);
    }

    #[test]
    fn times_out_naming_what_it_waited_for() {
        let mut calls = 0;
        let err = try_wait_for("the impossible", 30 * MS, 5 * MS, || {
            calls += 1;
            false
        })
        .unwrap_err();
        assert_eq!(err, TimedOut { what: "the impossible".into(), timeout: 30 * MS });
        assert_eq!(err.to_string(), "timed out after 30ms waiting for the impossible");
        assert!(calls >= 2, "polled more than once: {calls}");
    }

    #[test]
    fn a_zero_timeout_still_checks_once() {
        assert_eq!(try_wait_for("it", Duration::ZERO, MS, || Some(7)), Ok(7));
        assert!(try_wait_for("it", Duration::ZERO, MS, || false).is_err());
    }

    #[test]
    #[should_panic(expected = "timed out after 10ms waiting for godot")]
    fn wait_for_panics_with_the_message() {
        wait_for("godot", 10 * MS, MS, || false);
    }

    #[tokio::test]
    async fn async_wait_returns_and_times_out() {
        let mut n = 0;
        let got = wait_for_async("n to reach 2", Duration::from_secs(5), MS, || {
            n += 1;
            let v = n;
            async move { (v >= 2).then_some(v) }
        })
        .await;
        assert_eq!(got, 2);
        let err = try_wait_for_async("never", 20 * MS, 5 * MS, || async { false }).await.unwrap_err();
        assert_eq!(err.to_string(), "timed out after 20ms waiting for never");
    }
}
