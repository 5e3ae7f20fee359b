//! The `dev` cargo feature decides whether the binary has `scalekeeper dev` (kubesim in the
//! same process). `cargo test` builds without it, as release builds and the image do, so this
//! checks the subcommand is absent there; with `--features dev` it checks it is present.
//! (`make lint` checks that kubesim is absent from the default dependency tree.)

use std::process::{Command, Output, Stdio};

fn scalekeeper(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scalekeeper"))
        .args(args)
        .stdin(Stdio::null())
        .env_remove("SCALEKEEPER_SERVER")
        // No contexts file: a developer's ~/.config/scalekeeper/config.yaml must not leak in.
        .env("SCALEKEEPER_CONFIG", concat!(env!("CARGO_TARGET_TMPDIR"), "/no-client-config.yaml"))
        .output()
        .expect("the scalekeeper binary runs")
}

#[test]
fn dev_subcommand_exists_only_with_the_dev_feature() {
    let help = scalekeeper(&["--help"]);
    assert!(help.status.success(), "scalekeeper --help failed: {help:?}");
    let help = String::from_utf8_lossy(&help.stdout);
    let listed = help.lines().any(|l| l.trim_start().starts_with("dev "));
    assert_eq!(listed, cfg!(feature = "dev"), "`dev` listed in --help: {listed}\n{help}");
    assert!(help.lines().any(|l| l.trim_start().starts_with("serve ")), "{help}");

    let dev_help = scalekeeper(&["dev", "--help"]);
    assert_eq!(dev_help.status.success(), cfg!(feature = "dev"), "scalekeeper dev --help: {dev_help:?}");
    if !cfg!(feature = "dev") {
        let err = String::from_utf8_lossy(&dev_help.stderr);
        assert!(err.contains("unrecognized subcommand 'dev'"), "{err}");
    }
}
