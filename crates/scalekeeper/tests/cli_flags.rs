//! The connection flags (`--server`, `--ca`, `--cert`, `--key`, `-o/--output`, `--timeout`)
//! belong to the client subcommands only: `serve`, `dev` (with the `dev` feature), `certs` and
//! `crd` neither list nor accept them. And the client's flags that only make sense together
//! (or never together) are refused with the usage exit code before any connection is tried.

use std::process::{Command, Output, Stdio};

const CLIENT_FLAGS: [&str; 6] = ["--server", "--ca", "--cert", "--key", "--output", "--timeout"];

fn scalekeeper(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scalekeeper"))
        .args(args)
        // No contexts file: a developer's ~/.config/scalekeeper/config.yaml must not leak in.
        .env("SCALEKEEPER_CONFIG", concat!(env!("CARGO_TARGET_TMPDIR"), "/no-client-config.yaml"))
        .stdin(Stdio::null())
        .output()
        .expect("the scalekeeper binary runs")
}

/// The help of `scalekeeper SUBCOMMAND` (of `scalekeeper` itself for ""; "schedule set" for a
/// nested one).
fn help(subcommand: &str) -> String {
    let mut args: Vec<&str> = subcommand.split_whitespace().collect();
    args.push("--help");
    let out = scalekeeper(&args);
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
    for sub in [
        "get",
        "set",
        "list",
        "diff",
        "watch",
        "clear",
        "schedule set",
        "schedule clear",
        "explain",
        "plan",
        "freeze",
        "thaw",
    ] {
        let text = help(sub);
        for flag in CLIENT_FLAGS {
            assert!(lists(&text, flag), "`scalekeeper {sub} --help` does not list {flag}:\n{text}");
        }
        for var in
            ["SCALEKEEPER_SERVER", "SCALEKEEPER_CA", "SCALEKEEPER_CERT", "SCALEKEEPER_KEY", "SCALEKEEPER_CONTEXT"]
        {
            assert!(text.contains(&format!("[env: {var}")), "{sub} does not name {var}: {text}");
        }
        assert!(lists(&text, "--context"), "{sub}: {text}");
    }
}

#[test]
fn crd_rejects_a_client_flag() {
    let out = scalekeeper(&["crd", "--server", "localhost:1"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

/// Runs `scalekeeper ARGS` (which must be refused before any connection is tried: there is no
/// server) and returns its stderr after checking that it exited with the usage code 2.
fn usage_error(args: &[&str]) -> String {
    let out = scalekeeper(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "scalekeeper {args:?}: {out:?}");
    assert!(out.stdout.is_empty(), "scalekeeper {args:?} printed to stdout: {out:?}");
    assert!(!stderr.contains("cannot connect"), "scalekeeper {args:?} tried to connect: {stderr}");
    stderr
}

#[test]
fn set_refuses_inconsistent_hold_and_bound_flags() {
    let err = usage_error(&["set", "shop/web", "10", "--for", "2h"]);
    assert!(err.contains("--reason"), "{err}");
    let err = usage_error(&["set", "shop/web", "10", "--reason", "INC-123"]);
    assert!(err.contains("--for"), "{err}");
    let err = usage_error(&["set", "shop/web", "10", "--no-bounds", "--min", "2"]);
    assert!(err.contains("--no-bounds") && err.contains("--min"), "{err}");
    let err = usage_error(&["set", "shop/web", "10", "--no-bounds", "--max", "12"]);
    assert!(err.contains("--no-bounds") && err.contains("--max"), "{err}");
}

#[test]
fn set_refuses_durations_that_are_not_positive() {
    for (bad, says) in
        [("0s", "not a positive duration"), ("-2h", "not a positive duration"), ("soon", "not a duration")]
    {
        let err = usage_error(&["set", "shop/web", "10", "--for", bad, "--reason", "INC-123"]);
        assert!(err.contains("--for") && err.contains(says), "--for {bad}: {err}");
    }
}

#[test]
fn schedule_needs_a_subcommand_windows_and_a_count() {
    usage_error(&["schedule", "shop/web"]);
    let err = usage_error(&["schedule", "set", "shop/web", "--replicas", "2"]);
    assert!(err.contains("--window"), "{err}");
    let err = usage_error(&["schedule", "set", "shop/web", "--window", "Mon-Fri 08:00-20:00 Europe/Berlin"]);
    assert!(err.contains("--replicas"), "{err}");
}

#[test]
fn explain_and_plan_refuse_a_bad_time_or_horizon_before_connecting() {
    let err = usage_error(&["explain", "shop/web", "--at", "tomorrow"]);
    assert!(err.contains("--at") && err.contains("RFC 3339"), "{err}");
    let err = usage_error(&["plan", "shop/web", "--next", "1mo"]);
    assert!(err.contains("--next") && err.contains("e.g. 7d"), "{err}");
    let err = usage_error(&["plan", "shop/web", "--next", "0s"]);
    assert!(err.contains("not a positive duration"), "{err}");
    let err = usage_error(&["explain", "web"]);
    assert!(err.contains("NAMESPACE/NAME"), "{err}");
}
