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
//! - [`tail`]: the end of a log, for failure messages;
//! - [`unique_name`]: a namespace or object name unique to this run, never over 63 bytes.
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

/// The longest DNS-1123 label, in bytes: a namespace name's limit (RFC 1123; Kubernetes'
/// `IsDNS1123Label`).
pub const MAX_LABEL_BYTES: usize = 63;

/// `prefix-xxxxxxxx`: a name unique to this run (8 random hex digits), for a test's namespace
/// or object. A prefix too long for a DNS-1123 label is cut (and a `-` it would end with
/// dropped) so the whole name is at most [`MAX_LABEL_BYTES`] bytes: the one place the suites
/// make such names.
pub fn unique_name(prefix: &str) -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    // RandomState is seeded randomly per process; the counter and the clock tell apart two
    // names made in one process.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.write_u32(std::process::id());
    let mut cut = prefix.len().min(MAX_LABEL_BYTES - 9);
    while !prefix.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-{:08x}", prefix[..cut].trim_end_matches('-'), h.finish() as u32)
}

#[cfg(test)]
mod unique_name_tests {
    use super::*;

    #[test]
    fn never_over_63_bytes_and_unique() {
        let long = "a-namespace-prefix-that-is-far-too-long-for-a-dns-label-of-63-bytes";
        let n = unique_name(long);
        assert_eq!(n.len(), MAX_LABEL_BYTES, "{n}");
        assert!(n.starts_with(&long[..54]), "{n}");
        assert_eq!(unique_name("shop").len(), "shop-".len() + 8);
        assert!(!unique_name(&"x-".repeat(40)).contains("--"), "no empty label part at the cut");
        let names: std::collections::HashSet<String> = (0..1000).map(|_| unique_name("t")).collect();
        assert_eq!(names.len(), 1000);
    }
}
