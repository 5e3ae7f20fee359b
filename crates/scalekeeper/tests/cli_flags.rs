//! The connection flags (`--server`, `--ca`, `--cert`, `--key`, `-o/--output`, `--timeout`)
//! belong to the client subcommands only: `serve`, `dev` (with the `dev` feature), `certs` and
//! `crd` neither list nor accept them.

use std::process::{Command, Output, Stdio};

const CLIENT_FLAGS: [&str; 6] = ["--server", "--ca", "--cert", "--key", "--output", "--timeout"];

fn scalekeeper(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scalekeeper"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the scalekeeper binary runs")
}

/// The help of `scalekeeper SUBCOMMAND` (of `scalekeeper` itself for "").
fn help(subcommand: &str) -> String {
    let args: &[&str] = if subcommand.is_empty() { &["--help"] } else { &[subcommand, "--help"] };
    let out = scalekeeper(args);
    assert!(out.status.success(), "scalekeeper {subcommand} --help failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether `help` lists `flag` as an option (`  --server <SERVER>`, `  -o, --output <OUTPUT>`).
fn lists(help: &str, flag: &str) -> bool {
    help.lines().any(|l| l.trim_start().split([' ', ',', '=']).any(|w| w == flag))
}

#[test]
fn non_client_subcommands_do_not_list_the_client_flags() {
    let mut subcommands = vec!["serve", "certs", "crd"];
    if cfg!(feature = "dev") {
        subcommands.push("dev");
    }
    for sub in subcommands {
        let text = help(sub);
        for flag in CLIENT_FLAGS {
            assert!(!lists(&text, flag), "`scalekeeper {sub} --help` lists {flag}:\n{text}");
        }
    }
    let top = help("");
    for flag in CLIENT_FLAGS {
        assert!(!lists(&top, flag), "`scalekeeper --help` lists {flag}:\n{top}");
    }
}

#[test]
fn client_subcommands_list_the_client_flags() {
    for sub in ["get", "set", "list", "diff", "watch", "clear"] {
        let text = help(sub);
        for flag in CLIENT_FLAGS {
            assert!(lists(&text, flag), "`scalekeeper {sub} --help` does not list {flag}:\n{text}");
        }
        assert!(text.contains("[env: SCALEKEEPER_SERVER="), "{sub}: {text}");
    }
}

#[test]
fn crd_rejects_a_client_flag() {
    let out = scalekeeper(&["crd", "--server", "localhost:1"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
