//! The `kubesim` binary works as a standalone dev server: `kubesim serve --listen
//! 127.0.0.1:0 --kubeconfig <file> --seed examples/kubesim-seed.yaml` writes a kubeconfig
//! that the real `kubectl` uses unchanged to list the seeded Deployments, and SIGTERM stops
//! it cleanly (exit status 0, listener closed) within a few seconds.
//!
//! kubectl is required: when it is not on PATH this test fails, it never skips.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(20);

/// Polls `cond` every 20 ms until it holds; panics after `timeout`.
fn wait_for<T>(what: &str, timeout: Duration, mut cond: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills the server if the test fails before it stopped it.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn kubectl() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join("kubectl")).find(|p| p.is_file()).unwrap_or_else(|| {
        panic!(
            "kubectl is not on PATH. This test drives the real kubectl binary (v1.32 or newer) against the \
             kubesim binary and cannot run without it: install kubectl (https://kubernetes.io/docs/tasks/tools/)."
        )
    })
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn serve_seeds_answers_kubectl_and_stops_on_sigterm() {
    let kubectl = kubectl();
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    let log = dir.path().join("kubesim.log");
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/kubesim-seed.yaml");
    assert!(seed.is_file(), "seed file {} exists", seed.display());

    let child = Command::new(env!("CARGO_BIN_EXE_kubesim"))
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--seed")
        .arg(&seed)
        .env_remove("KUBESIM_LISTEN")
        .env_remove("KUBESIM_KUBECONFIG")
        .env_remove("KUBESIM_TOKEN")
        .env_remove("KUBESIM_ADMIN_LISTEN")
        .stdin(Stdio::null())
        .stdout(File::create(dir.path().join("kubesim.out")).expect("stdout file"))
        .stderr(File::create(&log).expect("log file"))
        .spawn()
        .expect("kubesim binary starts");
    let mut server = Server(child);
    let pid = server.0.id();

    // The kubeconfig is written once the seed is loaded and the listener is up.
    let config = wait_for("the kubeconfig to be written", TIMEOUT, || {
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!("kubesim exited early with {status}:\n{}", read(&log));
        }
        Some(read(&kubeconfig)).filter(|c| c.contains("current-context: kubesim"))
    });
    let server_url = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .expect("the kubeconfig names the server")
        .to_string();
    let addr = server_url.strip_prefix("http://").expect("plain HTTP by default").to_string();
    assert!(!addr.ends_with(":0"), "the kubeconfig carries the real port, not 0: {addr}");

    let out = Command::new(&kubectl)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .args(["get", "deploy", "-A", "--no-headers"])
        .env("HOME", dir.path())
        .env_remove("KUBECONFIG")
        .output()
        .expect("kubectl runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kubectl failed: {}\nkubesim log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        read(&log)
    );
    let mut rows: Vec<(String, String)> = stdout
        .lines()
        .filter_map(|l| {
            let mut cells = l.split_whitespace();
            Some((cells.next()?.to_string(), cells.next()?.to_string()))
        })
        .collect();
    rows.sort();
    let expected = [("payments", "ledger"), ("shop", "cart"), ("shop", "web")];
    assert_eq!(rows, expected.map(|(ns, n)| (ns.to_string(), n.to_string())), "{stdout}");
    assert!(read(&dir.path().join("kubesim.out")).contains(&format!("kubesim serving at {server_url}")));

    let kill = Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill runs");
    assert!(kill.success(), "kill -TERM {pid}");
    let status: ExitStatus = wait_for("kubesim to exit after SIGTERM", Duration::from_secs(5), || {
        server.0.try_wait().expect("waiting on kubesim")
    });
    assert_eq!(status.code(), Some(0), "kubesim exits 0 on SIGTERM ({status}); log:\n{}", read(&log));
    assert!(std::net::TcpStream::connect(&addr).is_err(), "nothing listens on {addr} any more");
}
