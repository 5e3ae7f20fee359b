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
use std::sync::Mutex;

pub use testkit::real_kubeconfig;

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

/// `prefix-xxxxxxxx`, at most 63 bytes: [`testkit::unique_name`].
pub fn unique(prefix: &str) -> String {
    testkit::unique_name(prefix)
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
