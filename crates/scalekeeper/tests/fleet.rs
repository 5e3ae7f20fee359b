//! The CLI over a fleet of contexts (`--contexts`, `--all-contexts`), through the binary, against
//! three live servers: the first on the test's target (kubesim, or the real control plane with
//! `SCALEKEEPER_TEST_KUBECONFIG`: `make test-real`), two on kubesim, the third with RBAC. A
//! contexts file in a temporary directory names them (`SCALEKEEPER_CONFIG`), one of them twice:
//! as the editor `dev-admin` and as the viewer `dev-viewer`, whom RBAC refuses a write.
//!
//! One test, in steps sharing the servers: fan-out reads (table and JSON), fleet writes (the
//! plan before any write; `--dry-run`; no terminal and no `--yes`; `--atomic`; a refusal
//! skipped; the y/N question on a terminal), explain and watch over two contexts, then one server stopped: its row says so, the others print, the exit codes say so.

// The RBAC roles and identities of dev mode (`scalekeeper::dev`) give the viewer its refusal;
// `make test` and `make test-real` build with the `dev` feature.
#![cfg(feature = "dev")]
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Env, Options, TargetEnv};
use scalekeeper::dev::{DEV_IDENTITY, DEV_VIEWER, dev_rbac};
use serde_json::Value;
use testkit::{POLL, wait_for};

const T: Duration = Duration::from_secs(10);

/// One context of the file: name, server port, CA, certificate, key, labels.
struct Ctx<'a> {
    name: &'a str,
    port: u16,
    ca: &'a Path,
    cert: &'a Path,
    key: &'a Path,
    labels: &'a str,
}

/// Writes the contexts file (the format of `scalekeeper config`) to `path`.
fn write_config(path: &Path, contexts: &[Ctx<'_>]) {
    let mut yaml = String::from("apiVersion: scalekeeper.dev/v1alpha1\nkind: Config\ncontexts:\n");
    for c in contexts {
        yaml.push_str(&format!(
            "- name: {}\n  server: localhost:{}\n  certificate-authority: {}\n  client-certificate: {}\n  \
             client-key: {}\n  labels: {}\n",
            c.name,
            c.port,
            c.ca.display(),
            c.cert.display(),
            c.key.display(),
            c.labels
        ));
    }
    std::fs::write(path, yaml).unwrap();
}

/// Runs the CLI with the contexts file `config` and nothing from the environment that would
/// name a server: (exit code, stdout, stderr). stdin is not a terminal.
async fn cli(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_scalekeeper"))
        .args(args)
        .args(["--timeout", "5"])
        .env("SCALEKEEPER_CONFIG", config)
        .env_remove("SCALEKEEPER_SERVER")
        .env_remove("SCALEKEEPER_CA")
        .env_remove("SCALEKEEPER_CERT")
        .env_remove("SCALEKEEPER_KEY")
        .env_remove("SCALEKEEPER_CONTEXT")
        .env_remove("SCALEKEEPER_OUTPUT")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    common::outcome(out)
}

/// Runs the CLI as [`cli`] does, but on a terminal: under `script` (util-linux), whose pty is
/// its stdin, stdout and stderr, with `answer` typed in. (exit code, everything it printed);
/// `None` when `script` is not installed.
async fn cli_on_a_terminal(config: &Path, args: &[&str], answer: &str) -> Option<(i32, String)> {
    use tokio::io::AsyncWriteExt as _;
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let line: Vec<String> =
        std::iter::once(env!("CARGO_BIN_EXE_scalekeeper")).chain(args.iter().copied()).map(quote).collect();
    let mut child = tokio::process::Command::new("script")
        .args(["-qec", &line.join(" "), "/dev/null"])
        .env("SCALEKEEPER_CONFIG", config)
        .env_remove("SCALEKEEPER_SERVER")
        .env_remove("SCALEKEEPER_CONTEXT")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    child.stdin.take().unwrap().write_all(answer.as_bytes()).await.unwrap();
    let out = tokio::time::timeout(T, child.wait_with_output()).await.unwrap().unwrap();
    Some((out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// The contexts of the rows of a fleet table (its first column), header left out.
fn contexts_in(table: &str) -> Vec<String> {
    let mut names: Vec<String> =
        table.lines().skip(1).filter_map(|l| l.split_whitespace().next()).map(str::to_string).collect();
    names.dedup();
    names
}

/// `text` with each line's runs of spaces as one space (a table's alignment left out).
fn squeezed(text: &str) -> String {
    text.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") + "\n").collect()
}

/// Neither kubesim server holds a ReplicaPolicy for shop/web, and its spec.replicas is the
/// seed's 3 on both: nothing was written.
fn nothing_written(b: &Env, c: &Env) {
    for env in [b, c] {
        assert!(env.policy("shop", "web").is_none(), "a ReplicaPolicy was written");
        assert_eq!(env.spec_replicas("shop", "web"), 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_reads_and_fleet_writes_over_three_servers() {
    // a: the test's target; b: kubesim, anyone may write; c: kubesim with RBAC (the dev roles).
    let a: TargetEnv = common::start_target(Options::default()).await;
    let mut b: Env = common::start().await;
    let c: Env = common::start_with(Options {
        clients: vec![DEV_IDENTITY.into(), DEV_VIEWER.into()],
        authorization: common::rbac(),
        ..Default::default()
    })
    .await;
    for object in dev_rbac().unwrap() {
        c.sim.apply(object).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let cert = |certs: &scalekeeper::certs::DevCerts, identity: &str| {
        certs.clients.iter().find(|(i, _, _)| i == identity).cloned().unwrap()
    };
    let (_, a_cert, a_key) = cert(&a.certs, "alice");
    let (_, b_cert, b_key) = cert(&b.certs, "alice");
    let (_, c_cert, c_key) = cert(&c.certs, DEV_IDENTITY);
    let (_, v_cert, v_key) = cert(&c.certs, DEV_VIEWER);
    write_config(
        &config,
        &[
            Ctx {
                name: "a-target",
                port: a.grpc_addr.port(),
                ca: &a.certs.ca,
                cert: &a_cert,
                key: &a_key,
                labels: "{env: prod, tier: target}",
            },
            Ctx {
                name: "b-sim",
                port: b.grpc_addr.port(),
                ca: &b.certs.ca,
                cert: &b_cert,
                key: &b_key,
                labels: "{env: prod, write: \"yes\"}",
            },
            Ctx {
                name: "c-rbac",
                port: c.grpc_addr.port(),
                ca: &c.certs.ca,
                cert: &c_cert,
                key: &c_key,
                labels: "{env: staging, write: \"yes\"}",
            },
            Ctx {
                name: "d-viewer",
                port: c.grpc_addr.port(),
                ca: &c.certs.ca,
                cert: &v_cert,
                key: &v_key,
                labels: "{env: staging, write: \"yes\", role: viewer}",
            },
        ],
    );

    // --- Fan-out reads: every context, sorted, with a CONTEXT column.
    let (code, out, err) = cli(&config, &["list", "--all-contexts"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(squeezed(&out).starts_with("CONTEXT NAMESPACE NAME DESIRED"), "{out}");
    assert_eq!(contexts_in(&out), ["a-target", "b-sim", "c-rbac", "d-viewer"], "{out}");
    let has_row = |ctx: &str, ns: &str| out.lines().any(|l| l.split_whitespace().take(3).eq([ctx, ns, "web"]));
    assert!(has_row("a-target", &a.ns("shop")), "{out}");
    assert!(has_row("b-sim", "shop") && has_row("c-rbac", "shop"), "{out}");

    let (code, out, err) = cli(&config, &["list", "--contexts", "env=prod", "-o", "json"]).await;
    assert_eq!(code, 0, "{out}{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let deployments = doc["deployments"].as_array().unwrap();
    assert!(!deployments.is_empty());
    let mut named: Vec<&str> = deployments.iter().map(|d| d["context"].as_str().unwrap()).collect();
    named.dedup();
    assert_eq!(named, ["a-target", "b-sim"], "sorted by context, env=prod only");
    assert_eq!(doc["contexts"], serde_json::json!([]), "every context answered");

    let (code, out, err) = cli(&config, &["get", "shop/web", "--contexts", "write=yes"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(contexts_in(&out), ["b-sim", "c-rbac", "d-viewer"], "{out}");

    // --- Fleet writes. The viewer's dry run is refused by RBAC; --dry-run writes nothing.
    let set = ["set", "shop/web", "5", "--contexts", "write=yes"];
    let (code, out, err) = cli(&config, &[&set[..], &["--dry-run"]].concat()).await;
    assert_eq!(code, 1, "a refusal in the plan: {out}{err}");
    assert!(squeezed(&out).starts_with("CONTEXT DEPLOYMENT EFFECTIVE RULE RESULT\n"), "{out}");
    assert!(squeezed(&out).contains("\nb-sim shop/web 3 -> 5 declared ok\n"), "{out}");
    let viewer = out.lines().find(|l| l.starts_with("d-viewer")).unwrap();
    assert!(viewer.contains("refused: PERMISSION_DENIED"), "{out}");
    assert!(err.contains("1 of 3 contexts refused the dry run"), "{err}");
    nothing_written(&b, &c);

    // No terminal and no --yes: the plan, then a usage error; nothing written.
    let (code, out, err) = cli(&config, &set).await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("RESULT") && out.contains("d-viewer"), "the plan is on stdout: {out}");
    assert!(err.contains("not a terminal: pass --yes to write (the plan is above)"), "{err}");
    nothing_written(&b, &c);

    // On a terminal the plan asks first; any answer but y writes nothing.
    match cli_on_a_terminal(&config, &set, "n\n").await {
        Some((code, out)) => {
            assert_eq!(code, 1, "{out}");
            assert!(out.contains("Write to 2 contexts? [y/N]"), "the two that accepted: {out}");
            assert!(out.contains("nothing written: not confirmed"), "{out}");
            nothing_written(&b, &c);
        }
        None => eprintln!("SKIP the prompt on a terminal: `script` (util-linux) is not installed"),
    }

    // --atomic: one refusal, nothing written anywhere.
    let (code, out, err) = cli(&config, &[&set[..], &["--yes", "--atomic"]].concat()).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("nothing written: 1 of 3 contexts refused (--atomic)"), "{err}");
    assert!(!out.contains("applied"), "{out}");
    nothing_written(&b, &c);

    // Without --atomic: the two that accepted are written, the viewer skipped; the plan first.
    let (code, out, err) = cli(&config, &[&set[..], &["--yes"]].concat()).await;
    assert_eq!(code, 1, "one context was not written: {out}{err}");
    let plan_at = out.find("RESULT\n").unwrap();
    let report_at = out.find("applied").unwrap();
    assert!(plan_at < report_at, "the plan is printed before the report: {out}");
    let report = &out[out.rfind("CONTEXT").unwrap()..];
    assert_eq!(
        squeezed(report),
        "CONTEXT DEPLOYMENT RESULT\n\
         b-sim shop/web applied 3 -> 5\n\
         c-rbac shop/web applied 3 -> 5\n\
         d-viewer shop/web skipped (refused)\n",
        "{out}"
    );
    assert!(err.contains("1 of 3 contexts were not written"), "{err}");
    for env in [&b, &c] {
        wait_for("spec.replicas 5", T, POLL, || env.spec_replicas("shop", "web") == 5);
        let policy = env.policy("shop", "web").unwrap();
        assert_eq!(policy["spec"]["replicas"], 5, "{policy}");
    }

    // The next plan binds each write to the version it read: a fresh declaration's.
    let (code, out, err) =
        cli(&config, &["set", "shop/web", "6", "--contexts", "write=yes,role!=viewer", "--yes", "-o", "json"]).await;
    assert_eq!(code, 0, "{out}{err}");
    let docs: Vec<Value> = serde_json::Deserializer::from_str(&out).into_iter().map(Result::unwrap).collect();
    assert_eq!(docs.len(), 2, "the plan, then the report: {out}");
    assert_eq!(docs[0]["plan"][0]["from"], 5);
    assert_eq!(docs[0]["plan"][0]["to"], 6);
    assert_eq!(docs[1]["results"][1]["context"], "c-rbac");
    assert_eq!(docs[1]["results"][1]["result"], "applied");

    // Answered y on a terminal: written.
    let both = ["set", "shop/web", "7", "--contexts", "write=yes,role!=viewer"];
    let mut declared = 6;
    if let Some((code, out)) = cli_on_a_terminal(&config, &both, "y\n").await {
        declared = 7;
        assert_eq!(code, 0, "{out}");
        let (asked, applied) = (out.find("[y/N]").unwrap(), out.find("applied 6 -> 7").unwrap());
        assert!(asked < applied, "{out}");
        for env in [&b, &c] {
            wait_for("spec.replicas 7", T, POLL, || env.spec_replicas("shop", "web") == 7);
        }
    }

    // --- explain over a fleet: one block per context, sorted; JSON: one entry per context.
    let two = ["--contexts", "write=yes,role!=viewer"];
    let (code, out, err) = cli(&config, &[&["explain", "shop/web"][..], &two].concat()).await;
    assert_eq!(code, 0, "{out}{err}");
    let (b_at, c_at) = (out.find("== b-sim ==\n").unwrap(), out.find("== c-rbac ==\n").unwrap());
    assert!(b_at == 0 && b_at < c_at, "{out}");
    assert_eq!(
        out.matches(&format!("==\nEFFECTIVE: {declared} (declared count) at ")).count(),
        2,
        "each block explains its context: {out}"
    );
    let (code, out, err) = cli(&config, &[&["explain", "shop/web", "-o", "json"][..], &two].concat()).await;
    assert_eq!(code, 0, "{out}{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let entries = doc.as_array().unwrap();
    assert_eq!(entries.iter().map(|e| e["context"].as_str().unwrap()).collect::<Vec<_>>(), ["b-sim", "c-rbac"]);
    assert!(entries.iter().all(|e| e["explain"].is_object() && e.get("error").is_none()), "{doc}");

    // --- watch over a fleet: one merged stream, each line led by its context.
    let mut watch = tokio::process::Command::new(env!("CARGO_BIN_EXE_scalekeeper"))
        .args(["watch", "-n", "shop"])
        .args(two)
        .env("SCALEKEEPER_CONFIG", &config)
        .env_remove("SCALEKEEPER_SERVER")
        .env_remove("SCALEKEEPER_CONTEXT")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(watch.stdout.take().unwrap()));
    let mut seen = std::collections::BTreeSet::new();
    tokio::time::timeout(T, async {
        while seen.len() < 2 {
            let line = lines.next_line().await.unwrap().expect("the watch ended early");
            let mut words = line.split_whitespace();
            if let (Some(ctx), Some("ADDED"), Some("shop/web")) = (words.next(), words.next(), words.next()) {
                seen.insert(ctx.to_string());
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no ADDED shop/web from both contexts within {T:?}: {seen:?}"));
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["b-sim", "c-rbac"]);
    watch.kill().await.unwrap();

    // --- One server stops: its row says it did not answer, the others print.
    b.server.take().unwrap().shutdown().await.unwrap();
    let (code, out, err) = cli(&config, &["list", "--all-contexts"]).await;
    assert_eq!(code, 1, "{out}{err}");
    let down = out.lines().find(|l| l.starts_with("b-sim")).unwrap();
    assert!(down.contains("cannot connect to localhost:"), "{out}");
    assert_eq!(contexts_in(&out), ["a-target", "b-sim", "c-rbac", "d-viewer"], "{out}");
    assert!(err.contains("1 of 4 contexts did not answer"), "{err}");

    let (code, out, err) = cli(&config, &["list", "--all-contexts", "-o", "json"]).await;
    assert_eq!(code, 1, "{out}{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["contexts"][0]["context"], "b-sim", "{doc}");
    assert_eq!(doc["contexts"][0]["error"]["code"], "UNAVAILABLE", "{doc}");
    assert!(doc["deployments"].as_array().unwrap().iter().all(|d| d["context"] != "b-sim"));

    let (code, out, err) = cli(&config, &["diff", "--all-contexts"]).await;
    assert_eq!(code, 4, "a context that did not answer is an error for diff: {out}{err}");
    assert!(out.lines().any(|l| l.starts_with("b-sim") && l.contains("cannot connect")), "{out}");
}
