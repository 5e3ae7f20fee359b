//! Which API server a conformance suite runs against.
//!
//! By default each test starts its own kubesim in-process. When `SCALEKEEPER_TEST_KUBECONFIG`
//! names a kubeconfig (`make test-real` points it at an upstream kube-apiserver v1.20.2 started
//! by `hack/realkube.sh`), the suites run against that server instead and start no kubesim. That
//! server is shared by every test running in parallel and outlives the run, so a test there works
//! in namespaces of its own ([`unique`] names, deleted by [`Cleanup`] when the test ends, failed
//! or not) and gives cluster-scoped objects (CRDs) unique names too.
//!
//! What only kubesim can tell (its write log, its store, fault injection, going down) has a
//! real-mode equivalent through the API where one exists; otherwise the test prints why it skips
//! that part ([`skip_on_real`]). Where the real v1.20.2 server answers differently from kubesim
//! on purpose (a newer Kubernetes behaviour kubesim follows), the test asserts what the real
//! server does and prints the difference ([`real_differs`]); docs/kubesim.md lists them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The variable naming the kubeconfig of a real cluster to run against.
pub const REAL_KUBECONFIG: &str = "SCALEKEEPER_TEST_KUBECONFIG";

/// The kubeconfig of the real cluster to use, when [`REAL_KUBECONFIG`] is set (non-empty).
pub fn real_kubeconfig() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os(REAL_KUBECONFIG).filter(|v| !v.is_empty())?);
    assert!(path.is_file(), "{REAL_KUBECONFIG}={} is not a file", path.display());
    Some(path)
}

/// A client for the cluster of `kubeconfig` (its current context), with kube's defaults.
pub async fn client_for(kubeconfig: &Path) -> kube::Client {
    kube::Client::try_from(config_for(kubeconfig).await).expect("a Kubernetes client")
}

/// The client configuration of `kubeconfig`'s current context.
pub async fn config_for(kubeconfig: &Path) -> kube::Config {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)
        .unwrap_or_else(|e| panic!("reading kubeconfig {}: {e}", kubeconfig.display()));
    kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("kubeconfig {}: {e}", kubeconfig.display()))
}

/// `prefix-xxxxxxxx`: a DNS-1123 label unique to this run (8 random hex digits).
pub fn unique(prefix: &str) -> String {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &suffix[..8])
}

/// The current test's name (the test thread's name), for messages.
fn test_name() -> String {
    std::thread::current().name().unwrap_or("?").to_string()
}

/// Prints that the current test skips a kubesim-only part on the real server, and why.
pub fn skip_on_real(reason: &str) {
    eprintln!("[real API server] {}: SKIPPED PART: {reason}", test_name());
}

/// Prints a difference between kubesim and the real v1.20.2 server that the current test
/// found and asserts on the real side.
pub fn real_differs(what: &str) {
    eprintln!("[real API server] {}: DIFFERS FROM KUBESIM: {what}", test_name());
}

/// Objects a test created on the real server, deleted when it ends (also when it panics).
/// The deletes are sent without waiting for namespace finalization.
pub struct Cleanup {
    kubeconfig: PathBuf,
    /// API paths to DELETE, e.g. `/api/v1/namespaces/shop-1a2b3c4d`.
    paths: Mutex<Vec<String>>,
}

impl Cleanup {
    pub fn new(kubeconfig: &Path) -> Cleanup {
        Cleanup { kubeconfig: kubeconfig.to_path_buf(), paths: Mutex::new(Vec::new()) }
    }

    /// Deletes the namespace `name` when the test ends.
    pub fn namespace(&self, name: &str) {
        self.path(format!("/api/v1/namespaces/{name}"));
    }

    /// Deletes the object at the API path `path` when the test ends.
    pub fn path(&self, path: String) {
        self.paths.lock().expect("cleanup list").push(path);
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let paths = std::mem::take(&mut *self.paths.lock().unwrap_or_else(|e| e.into_inner()));
        if paths.is_empty() {
            return;
        }
        let kubeconfig = self.kubeconfig.clone();
        // Drop cannot await, and may run inside the test's runtime: a thread with its own.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                let client = client_for(&kubeconfig).await;
                for path in paths {
                    let req = http::Request::delete(&path).body(Vec::new()).expect("request");
                    if let Err(e) = client.request_text(req).await {
                        eprintln!("cleanup: DELETE {path}: {e}");
                    }
                }
            })
        })
        .join();
        if done.is_err() {
            eprintln!("cleanup thread panicked");
        }
    }
}

// === kubectl ===

/// The kubectl binary to run.
///
/// gcloud's `kubectl` is a dispatcher: it first GETs `/version` on its own (which would
/// consume an injected fault meant for kubectl) and then execs `kubectl.<major>.<minor>`
/// matching the server. When that is what PATH holds, the tests run the versioned binary
/// the dispatcher would pick for kubesim directly, so every request kubesim sees is
/// kubectl's own.
pub fn kubectl_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let found = std::env::split_paths(&path).map(|d| d.join("kubectl")).find(|p| p.is_file());
        let Some(kubectl) = found else {
            panic!(
                "kubectl is not on PATH. These conformance tests drive the real kubectl binary (v1.32 or \
                 newer) against kubesim and cannot run without it: install kubectl \
                 (https://kubernetes.io/docs/tasks/tools/) and make sure `kubectl version --client` works."
            )
        };
        let out = std::process::Command::new(&kubectl)
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
        if git_version.contains("dispatcher")
            && let Some(dir) = kubectl.canonicalize().ok().and_then(|p| p.parent().map(Path::to_path_buf))
        {
            let versioned = dir.join(format!("kubectl.1.{}", kubesim::api::KUBE_MINOR));
            if versioned.is_file() {
                return versioned;
            }
        }
        kubectl
    })
}
