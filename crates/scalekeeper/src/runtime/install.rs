//! What installs the binary the way users expect: shell completions (`scalekeeper completion
//! SHELL`), man pages (`scalekeeper man --dir DIR`, hidden: the release workflow and `make man`
//! run it), and the kubectl plugin name.
//!
//! All three come from the one clap definition ([`Args`]), so they describe the build that
//! prints them: a release build (no `dev` feature) has no `dev` subcommand in its completions or
//! man pages. Every target's archive gets the pages and scripts that the linux/amd64 build
//! prints (the same definition: nothing in it depends on the target).
//!
//! kubectl runs `kubectl-scalekeeper` on `PATH` for `kubectl scalekeeper ...` (kubectl's
//! plugin mechanism: <https://kubernetes.io/docs/tasks/extend-kubectl/kubectl-plugins/>); run
//! under that name, the usage lines and help say `kubectl scalekeeper`.

use std::ffi::OsStr;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{CommandFactory as _, FromArgMatches as _};
use clap_complete::Shell;

use super::Args;

/// The file name (without an extension such as `.exe`) under which kubectl runs the binary as
/// its plugin `scalekeeper`.
pub const KUBECTL_PLUGIN_FILE: &str = "kubectl-scalekeeper";

/// How usage lines name the binary when it runs as the kubectl plugin.
pub const KUBECTL_PLUGIN_BIN_NAME: &str = "kubectl scalekeeper";

/// The name completions and man pages give the binary.
pub const BIN_NAME: &str = "scalekeeper";

/// How to install the completion scripts, printed after `completion --help`.
const COMPLETION_HELP: &str = "\
Install:
  bash        source <(scalekeeper completion bash)    (in ~/.bashrc), or
              scalekeeper completion bash > /etc/bash_completion.d/scalekeeper
  zsh         scalekeeper completion zsh > \"${fpath[1]}/_scalekeeper\"
              (any directory on $fpath, before compinit runs; then start a new shell)
  fish        scalekeeper completion fish > ~/.config/fish/completions/scalekeeper.fish
  powershell  scalekeeper completion powershell | Out-String | Invoke-Expression    (in $PROFILE)
  elvish      scalekeeper completion elvish > ~/.config/elvish/lib/scalekeeper.elv
              (then `use scalekeeper` in rc.elv)
The release archives carry the bash, zsh and fish scripts in completions/.";

/// The flags of `scalekeeper completion`.
#[derive(Debug, clap::Args)]
#[command(after_help = COMPLETION_HELP)]
pub struct CompletionArgs {
    /// The shell to print the script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The flags of `scalekeeper man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// The directory to write the pages into (created if missing): scalekeeper.1 and one page
    /// per subcommand (scalekeeper-set.1, scalekeeper-schedule-set.1, ...).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
}

/// The binary's name in usage lines when it was started as `argv0`: `kubectl scalekeeper` for
/// the kubectl plugin's file name, else `None` (clap's own default: `argv0`'s file name).
pub fn bin_name_for(argv0: Option<&OsStr>) -> Option<&'static str> {
    let stem = Path::new(argv0?).file_stem()?;
    (stem == KUBECTL_PLUGIN_FILE).then_some(KUBECTL_PLUGIN_BIN_NAME)
}

/// The top-level command, named as `bin_name_for` says for `argv0`.
pub fn command_for(argv0: Option<&OsStr>) -> clap::Command {
    let cmd = Args::command();
    match bin_name_for(argv0) {
        Some(name) => cmd.bin_name(name),
        None => cmd,
    }
}

/// Parses the process's arguments (exiting with clap's message and code 2 on an error, 0 for
/// `--help` and `--version`), naming the binary `kubectl scalekeeper` when it runs as the
/// kubectl plugin.
pub fn parse_args() -> Args {
    let argv0 = std::env::args_os().next();
    let matches = command_for(argv0.as_deref()).get_matches();
    Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// `scalekeeper completion SHELL`: the completion script for `shell`, into `out`.
///
/// # Errors
/// `out` cannot be written.
pub fn write_completion(shell: Shell, out: &mut dyn io::Write) -> io::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Args::command(), BIN_NAME, &mut script);
    out.write_all(&script)?;
    out.flush()
}

/// `scalekeeper completion SHELL` to stdout.
///
/// # Errors
/// stdout cannot be written.
pub fn print_completion(args: CompletionArgs) -> anyhow::Result<()> {
    write_completion(args.shell, &mut io::stdout().lock()).context("writing the completion script")
}

/// `scalekeeper man --dir DIR`: writes `scalekeeper.1` and one page per visible subcommand
/// (`scalekeeper-set.1`, `scalekeeper-schedule-set.1`, ...) into `dir`, and returns their paths.
///
/// # Errors
/// `dir` cannot be created or a page cannot be written.
pub fn write_man_pages(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    clap_mangen::generate_to(Args::command().name(BIN_NAME), dir)
        .with_context(|| format!("writing the man pages into {}", dir.display()))?;
    let mut pages: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension() == Some(OsStr::new("1")))
        .collect();
    pages.sort();
    Ok(pages)
}

/// `scalekeeper man --dir DIR`, printing each page's path.
///
/// # Errors
/// As [`write_man_pages`], or stdout cannot be written.
pub fn print_man_pages(args: ManArgs) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    for page in write_man_pages(&args.dir)? {
        writeln!(out, "{}", page.display())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubectl_plugin_name_is_recognised_on_any_path() {
        for argv0 in ["kubectl-scalekeeper", "/usr/local/bin/kubectl-scalekeeper", "C:/bin/kubectl-scalekeeper.exe"] {
            assert_eq!(bin_name_for(Some(OsStr::new(argv0))), Some("kubectl scalekeeper"), "{argv0}");
        }
        for argv0 in ["scalekeeper", "/usr/bin/scalekeeper", "kubectl-scalekeeper-dev", "kubectl"] {
            assert_eq!(bin_name_for(Some(OsStr::new(argv0))), None, "{argv0}");
        }
        assert_eq!(bin_name_for(None), None);
    }

    #[test]
    fn usage_says_kubectl_scalekeeper_under_the_plugin_name() {
        let mut cmd = command_for(Some(OsStr::new("/x/kubectl-scalekeeper")));
        let usage = cmd.render_usage().to_string();
        assert!(usage.contains("kubectl scalekeeper <COMMAND>"), "{usage}");
        let err = command_for(Some(OsStr::new("kubectl-scalekeeper")))
            .try_get_matches_from(["kubectl-scalekeeper", "get", "--help"])
            .expect_err("--help exits");
        assert!(err.to_string().contains("kubectl scalekeeper get [OPTIONS] <TARGET>"), "{err}");
    }

    #[test]
    fn every_shell_gets_a_script_naming_every_client_command() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::PowerShell, Shell::Elvish] {
            let mut out = Vec::new();
            write_completion(shell, &mut out).expect("written");
            let script = String::from_utf8(out).expect("UTF-8");
            for word in ["scalekeeper", "set", "schedule", "completion", "server"] {
                assert!(script.contains(word), "{shell}: no {word}");
            }
        }
    }

    #[test]
    fn one_man_page_per_subcommand_with_name_and_synopsis() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pages = write_man_pages(dir.path()).expect("written");
        let names: Vec<String> = pages.iter().filter_map(|p| p.file_name()?.to_str().map(str::to_owned)).collect();
        for want in ["scalekeeper.1", "scalekeeper-set.1", "scalekeeper-schedule-set.1", "scalekeeper-version.1"] {
            assert!(names.iter().any(|n| n == want), "no {want} in {names:?}");
        }
        assert!(!names.iter().any(|n| n == "scalekeeper-man.1" || n == "scalekeeper-help.1"), "{names:?}");
        for page in &pages {
            let text = std::fs::read_to_string(page).expect("read");
            assert!(text.contains(".SH NAME") && text.contains(".SH SYNOPSIS"), "{}", page.display());
        }
        let set = std::fs::read_to_string(dir.path().join("scalekeeper-set.1")).expect("read");
        assert!(set.contains("scalekeeper\\-set"), "{set}");
    }
}
