//! The `kubesim` binary works as a standalone dev server: `kubesim serve --listen
//! 127.0.0.1:0 --kubeconfig <file> --seed examples/kubesim-seed.yaml` writes a kubeconfig
//! that the real `kubectl` uses unchanged to list the seeded Deployments, and SIGTERM stops
//! it cleanly (exit status 0, listener closed) within a few seconds.
//!
//! kubectl is required: when it is not on PATH this test fails, it never skips.

use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use testkit::{Child, POLL, Stdout};

const TIMEOUT: Duration = Duration::from_secs(20);

#[test]
fn serve_seeds_answers_kubectl_and_stops_on_sigterm() {
    let kubectl = testkit::kubectl();
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    let log = dir.path().join("kubesim.log");
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/kubesim-seed.yaml");
    assert!(seed.is_file(), "seed file {} exists", seed.display());

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubesim"));
    cmd.arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--seed")
        .arg(&seed)
        .env_remove("KUBESIM_LISTEN")
        .env_remove("KUBESIM_KUBECONFIG")
        .env_remove("KUBESIM_TOKEN")
        .env_remove("KUBESIM_ADMIN_LISTEN");
    // Killed when dropped, should the test fail before it stopped it.
    let mut server = Child::spawn("kubesim", &mut cmd, &log, Stdout::File(&dir.path().join("kubesim.out")));

    // The kubeconfig is written once the seed is loaded and the listener is up.
    let config = server.wait_until("the kubeconfig to be written", TIMEOUT, POLL, |_| {
        Some(std::fs::read_to_string(&kubeconfig).unwrap_or_default())
            .filter(|c| c.contains("current-context: kubesim"))
    });
    let server_url = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .expect("the kubeconfig names the server")
        .to_string();
    let addr = server_url.strip_prefix("http://").expect("plain HTTP by default").to_string();
    assert!(!addr.ends_with(":0"), "the kubeconfig carries the real port, not 0: {addr}");

    let out = Command::new(kubectl)
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
        server.log()
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
    assert!(server.stdout().contains(&format!("kubesim serving at {server_url}")));

    server.signal("TERM");
    let status: ExitStatus = server.wait_exit(Duration::from_secs(5), POLL);
    assert_eq!(status.code(), Some(0), "kubesim exits 0 on SIGTERM ({status}); log:\n{}", server.log());
    assert!(std::net::TcpStream::connect(&addr).is_err(), "nothing listens on {addr} any more");
}
