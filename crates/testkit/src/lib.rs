//! Test helpers shared by the workspace's test suites (a dev-dependency only; never part of a
//! shipped binary):
//!
//! - [`wait_for`] / [`wait_for_async`]: poll a condition until it holds, failing after a timeout
//!   with a message naming what was awaited;
//! - [`Child`]: a started process that is killed when dropped, with its stderr (and optionally
//!   stdout) captured to files, signals, and waits that notice an early exit;
//! - [`kubectl`] / [`kubectl_for_server`]: the kubectl binary the suites drive;
//! - [`free_port`], [`http_get`], [`http_get_blocking`], [`wait_http_ok`]: ports and readiness
//!   probes;
//! - [`real_kubeconfig`]: the real cluster `SCALEKEEPER_TEST_KUBECONFIG` selects, if any;
//! - [`tail`]: the end of a log, for failure messages.
//!
//! Durations are [`std::time::Duration`]s. Helpers that fail a test panic with a message
//! saying what went wrong; the `try_` variants return an error instead.

mod kubectl;
mod net;
mod process;
mod wait;

pub use kubectl::{kubectl, kubectl_for_server};
pub use net::{free_port, http_get, http_get_blocking, wait_http_ok};
pub use process::{Child, Stdout};
pub use wait::{Condition, POLL, TimedOut, try_wait_for, try_wait_for_async, wait_for, wait_for_async};

use std::path::PathBuf;

/// The environment variable naming the kubeconfig of a real cluster to run the suites against
/// instead of kubesim (`make test-real` sets it).
pub const REAL_KUBECONFIG: &str = "SCALEKEEPER_TEST_KUBECONFIG";

/// The kubeconfig of the real cluster to use, when [`REAL_KUBECONFIG`] is set and not empty;
/// `None` means the suites start kubesim.
///
/// # Panics
///
/// When the variable is set but does not name a file.
pub fn real_kubeconfig() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os(REAL_KUBECONFIG).filter(|v| !v.is_empty())?);
    assert!(path.is_file(), "{REAL_KUBECONFIG}={} is not a file", path.display());
    Some(path)
}

/// The last `n` lines of `text` (all of it when it has fewer), joined with `\n`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::tail;

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a\nb", 5), "a\nb");
        assert_eq!(tail("", 3), "");
        assert_eq!(tail("a\nb", 0), "");
    }
}
