//! Contexts (issue 26): the `scalekeeper` binary against a real server over mTLS on kubesim,
//! configured by a contexts file (`SCALEKEEPER_CONFIG`, a temporary one in every test).
//!
//! - `--context`, `SCALEKEEPER_CONTEXT` and the file's current-context pick the context; its
//!   relative paths are relative to the file, its `-data` may be base64 of PEM.
//! - Flag > environment variable > context, per field; a variable that overrides a field of a
//!   context named explicitly is warned about.
//! - `scalekeeper config ...` round trip; `scalekeeper dev` writes its context (dev feature).
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use base64::Engine as _;

/// Runs `scalekeeper ARGS` with no `SCALEKEEPER_*` variable but `SCALEKEEPER_CONFIG=config`
/// and `vars`: (exit code, stdout, stderr).
async fn run(config: &Path, vars: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_scalekeeper"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SCALEKEEPER_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args(args)
        .env("SCALEKEEPER_CONFIG", config)
        .envs(vars.iter().copied())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    common::outcome(out)
}

/// A contexts file next to the env's certificates (in its directory): `sim` reaches the server
/// (the CA and certificate by paths relative to the file, the key inline as base64 of PEM, as
/// kubeconfig users paste it); `nowhere` has the same TLS material and a server where nothing
/// listens. The current context is `nowhere`.
fn write_config(env: &common::Env) -> PathBuf {
    let (_, cert, key) = env.certs.clients.iter().find(|(i, _, _)| i == "alice").cloned().unwrap();
    let dir = env.dir.path();
    let rel = |p: &Path| p.strip_prefix(dir).unwrap().display().to_string();
    let key_b64 = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&key).unwrap());
    let config = format!(
        "apiVersion: scalekeeper.dev/v1alpha1\n\
         kind: Config\n\
         current-context: nowhere\n\
         contexts:\n\
         - name: sim\n\
         \x20 server: localhost:{port}\n\
         \x20 certificate-authority: {ca}\n\
         \x20 client-certificate: {cert}\n\
         \x20 client-key-data: {key_b64}\n\
         \x20 labels: {{env: test}}\n\
         - name: nowhere\n\
         \x20 server: localhost:1\n\
         \x20 certificate-authority: {ca}\n\
         \x20 client-certificate: {cert}\n\
         \x20 client-key: {key}\n",
        port = env.grpc_addr.port(),
        ca = rel(&env.certs.ca),
        cert = rel(&cert),
        key = key.display(),
    );
    let path = dir.join("config.yaml");
    std::fs::write(&path, config).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_context_is_the_flag_the_variable_or_the_current_one() {
    let env = common::start().await;
    let config = write_config(&env);
    let (code, out, err) = run(&config, &[], &["get", "shop/web", "--context", "sim"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("shop") && out.contains("web"), "{out}");
    let (code, out, err) = run(&config, &[("SCALEKEEPER_CONTEXT", "sim")], &["get", "shop/web"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("web"), "{out}");
    // The current context: nothing listens there.
    let (code, _, err) = run(&config, &[], &["get", "shop/web", "--timeout", "3"]).await;
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("cannot connect to localhost:1"), "{err}");
    // The flag beats the variable.
    let (code, _, err) =
        run(&config, &[("SCALEKEEPER_CONTEXT", "sim")], &["get", "shop/web", "--context", "gone"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no context \"gone\"") && err.contains("nowhere, sim"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_beat_variables_beat_the_context() {
    let env = common::start().await;
    let config = write_config(&env);
    let good = format!("localhost:{}", env.grpc_addr.port());
    // The variable wins over the current context's server, without a warning (not named).
    let (code, _, err) = run(&config, &[("SCALEKEEPER_SERVER", &good)], &["get", "shop/web"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("warning"), "{err}");
    // Over a context named explicitly: one warning line.
    let (code, _, err) =
        run(&config, &[("SCALEKEEPER_SERVER", &good)], &["get", "shop/web", "--context", "nowhere"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(err, "warning: SCALEKEEPER_SERVER overrides the server of context nowhere\n");
    // The flag wins over the variable.
    let (code, _, err) = run(
        &config,
        &[("SCALEKEEPER_SERVER", &good)],
        &["get", "shop/web", "--context", "sim", "--server", "localhost:1", "--timeout", "3"],
    )
    .await;
    assert_eq!(code, 3, "{err}");
    // A variable naming a missing CA: the message names the variable and the path.
    let (code, _, err) =
        run(&config, &[("SCALEKEEPER_CA", "/nonexistent/ca.pem")], &["get", "shop/web", "--context", "sim"]).await;
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("(SCALEKEEPER_CA) /nonexistent/ca.pem"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_commands_round_trip_through_the_binary() {
    use std::os::unix::fs::PermissionsExt as _;
    let env = common::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("new/config.yaml");
    let (_, cert, key) = env.certs.clients.iter().find(|(i, _, _)| i == "alice").cloned().unwrap();
    let server = format!("localhost:{}", env.grpc_addr.port());
    let ca = env.certs.ca.display().to_string();
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let (code, out, err) = run(
        &config,
        &[],
        &[
            "config",
            "set-context",
            "eu",
            "--server",
            &server,
            "--ca-data-file",
            &ca,
            "--cert",
            &cert,
            "--key",
            &key,
            "--label",
            "env=prod",
            "--label",
            "region=eu-west-1",
        ],
    )
    .await;
    assert_eq!((code, out.as_str()), (0, "Context \"eu\" created.\n"), "{err}");
    assert_eq!(std::fs::metadata(&config).unwrap().permissions().mode() & 0o777, 0o600);
    let (code, out, _) = run(&config, &[], &["config", "set-context", "us", "--server", "localhost:1"]).await;
    assert_eq!((code, out.as_str()), (0, "Context \"us\" created.\n"));
    let (code, out, _) = run(&config, &[], &["config", "use-context", "eu"]).await;
    assert_eq!((code, out.as_str()), (0, "Switched to context \"eu\".\n"));
    let (code, out, _) = run(&config, &[], &["config", "current-context"]).await;
    assert_eq!((code, out.as_str()), (0, "eu\n"));
    let (_, out, _) = run(&config, &[], &["config", "get-contexts"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "CURRENT   NAME   SERVER            LABELS", "{out}");
    assert!(lines[1].starts_with("*         eu     localhost:") && lines[1].ends_with("env=prod,region=eu-west-1"));
    let (_, out, _) = run(&config, &[], &["config", "get-contexts", "-o", "name"]).await;
    assert_eq!(out, "eu\nus\n");
    let (_, out, _) = run(&config, &[], &["config", "view"]).await;
    assert!(out.contains("certificate-authority-data: DATA+OMITTED") && !out.contains("BEGIN"), "{out}");
    let (_, out, _) = run(&config, &[], &["config", "view", "--raw"]).await;
    assert!(out.contains("BEGIN CERTIFICATE"), "{out}");
    // The current context reaches the server.
    let (code, out, err) = run(&config, &[], &["get", "shop/web"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("web"), "{out}");
    // Unknown names are usage errors; deleting the current one clears it.
    let (code, _, err) = run(&config, &[], &["config", "use-context", "asia"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("eu, us"), "{err}");
    let (code, out, err) = run(&config, &[], &["config", "delete-context", "eu"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("deleted context eu from "), "{out}");
    assert!(err.contains("warning: this removed your current context"), "{err}");
    let (code, _, err) = run(&config, &[], &["config", "current-context"]).await;
    assert_eq!(code, 1, "{err}");
    // A malformed file: exit 1, naming the file and the position.
    std::fs::write(&config, "contexts:\n- name: a\n  sever: h:1\n").unwrap();
    let (code, _, err) = run(&config, &[], &["config", "get-contexts"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&config.display().to_string()) && err.contains("unknown field `sever`") && err.contains("line 3")
    );
}

/// `scalekeeper dev` writes its context (absolute paths, `env: dev`) and makes it current in a
/// file that has none; the CLI then reaches it with no flag and no variable.
#[cfg(feature = "dev")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_writes_its_context() {
    use tokio::io::AsyncBufReadExt as _;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_scalekeeper"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SCALEKEEPER_") {
            cmd.env_remove(k);
        }
    }
    let mut dev = cmd
        .args(["dev", "--dir"])
        .arg(dir.path().join("dev"))
        .args(["--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--kube-listen", "127.0.0.1:0"])
        .args(["--admission-listen", "127.0.0.1:0", "--context", "dev-test"])
        .env("SCALEKEEPER_CONFIG", &config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(dev.stdout.take().unwrap()).lines();
    let mut printed = String::new();
    let running = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            printed.push_str(&line);
            printed.push('\n');
            if line.starts_with("Ctrl-C stops it.") {
                return;
            }
        }
        panic!("scalekeeper dev ended: {printed}");
    })
    .await;
    assert!(running.is_ok(), "scalekeeper dev did not start within 60s: {printed}");
    assert!(
        printed.contains("context:          dev-test in ") && printed.contains("(the current context)"),
        "{printed}"
    );
    assert!(printed.contains("--context dev2"), "{printed}");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("current-context: dev-test") && text.contains("env: dev"), "{text}");
    let ca = dir.path().join("dev").canonicalize().unwrap().join("certs").join("ca.pem");
    assert!(text.contains(&format!("certificate-authority: {}", ca.display())), "{text}");
    let (code, out, err) = run(&config, &[], &["list"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("shop"), "{out}");
    dev.kill().await.unwrap();
}
