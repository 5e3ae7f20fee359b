//! The kubectl binary the suites drive.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// kubectl as found on PATH, checked once per test process.
struct Found {
    path: PathBuf,
    /// Whether it is gcloud's dispatcher (its `gitVersion` says so).
    dispatcher: bool,
}

fn found() -> &'static Found {
    static FOUND: OnceLock<Found> = OnceLock::new();
    FOUND.get_or_init(|| {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let Some(kubectl) = std::env::split_paths(&path).map(|d| d.join("kubectl")).find(|p| p.is_file()) else {
            panic!(
                "kubectl is not on PATH. These tests drive the real kubectl binary (v1.32 or newer) and cannot \
                 run without it: install kubectl (https://kubernetes.io/docs/tasks/tools/, or Debian's \
                 kubernetes-client as .ci/run does) and make sure `kubectl version --client` works."
            )
        };
        let out = Command::new(&kubectl)
            .args(["version", "--client", "-o", "json"])
            .output()
            .unwrap_or_else(|e| panic!("kubectl at {} cannot be run: {e}", kubectl.display()));
        assert!(
            out.status.success(),
            "`{} version --client` failed: {}",
            kubectl.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let version: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        let git_version =
            version.pointer("/clientVersion/gitVersion").and_then(serde_json::Value::as_str).unwrap_or("");
        Found { path: kubectl, dispatcher: git_version.contains("dispatcher") }
    })
}

/// The `kubectl` on PATH (the first file of that name), after checking once per process that
/// `kubectl version --client` runs. What `kubectl` in a shell would run.
///
/// # Panics
///
/// When there is no kubectl on PATH, or it cannot be run: these tests require kubectl, they
/// never skip without it.
pub fn kubectl() -> &'static Path {
    &found().path
}

/// The kubectl to run against a server of Kubernetes version `1.<minor>` (e.g. kubesim's
/// `"33"`): [`kubectl`], unless that is gcloud's dispatcher.
///
/// gcloud's `kubectl` is a dispatcher: it first GETs `/version` itself (which would consume an
/// injected fault meant for kubectl, and adds a request the server sees) and then execs
/// `kubectl.1.<minor>` matching the server. When PATH holds the dispatcher and that versioned
/// binary sits next to it, this returns the versioned binary, so every request the server sees
/// is kubectl's own.
///
/// # Panics
///
/// As [`kubectl`].
pub fn kubectl_for_server(minor: &str) -> PathBuf {
    let found = found();
    if found.dispatcher
        && let Some(dir) = found.path.canonicalize().ok().and_then(|p| p.parent().map(Path::to_path_buf))
    {
        let versioned = dir.join(format!("kubectl.1.{minor}"));
        if versioned.is_file() {
            return versioned;
        }
    }
    found.path.clone()
}
