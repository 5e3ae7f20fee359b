//! The clap definitions of the client subcommands and of their connection flags, and the
//! parsing of a `NAMESPACE/NAME` target.

use std::path::PathBuf;

use scalekeeper_api::v1::Mode;

use super::CliError;

/// How to reach the server.
#[derive(clap::Args, Debug, Clone)]
pub struct ConnectArgs {
    /// Server address HOST:PORT.
    #[arg(long, env = "SCALEKEEPER_SERVER", default_value = "localhost:50051")]
    pub server: String,
    /// CA certificate (PEM) that signed the server's certificate.
    #[arg(long, env = "SCALEKEEPER_CA")]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM).
    #[arg(long, env = "SCALEKEEPER_CERT")]
    pub cert: Option<PathBuf>,
    /// Client private key (PEM).
    #[arg(long, env = "SCALEKEEPER_KEY")]
    pub key: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, env = "SCALEKEEPER_OUTPUT", value_enum, default_value = "table")]
    pub output: Output,
    /// Seconds to wait for each call (watch: for the connection only); 0 waits forever.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
}

/// Output format of the client commands.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Human-readable tables and `key: value` blocks.
    Table,
    /// JSON in the proto3 JSON mapping; `watch` prints one object per line.
    Json,
}

/// The client subcommands. Each carries its own [`ConnectArgs`], so the connection flags
/// belong to these subcommands only (not to `serve`, `dev`, `certs` or `crd`).
#[derive(clap::Subcommand, Debug)]
pub enum ClientCommand {
    /// Show one Deployment's replica state: scalekeeper get NAMESPACE/NAME
    Get {
        /// The Deployment, as NAMESPACE/NAME.
        target: String,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// Declare and apply a replica count: scalekeeper set NAMESPACE/NAME REPLICAS
    Set {
        /// The Deployment, as NAMESPACE/NAME.
        target: String,
        /// The replica count to declare and apply (the server checks the range).
        #[arg(allow_negative_numbers = true)]
        replicas: i32,
        /// Write only if the declaration is still at this VERSION (see `get`).
        #[arg(long)]
        expected_version: Option<String>,
        /// What to do about drift; unset keeps the current mode (enforce for a new declaration).
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// List Deployments
    List {
        /// Only this namespace (default: every namespace the server serves).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// Kubernetes label selector, e.g. "app=web,tier in (frontend,backend)".
        #[arg(short = 'l', long)]
        selector: Option<String>,
        /// Deployments per call (0: the server's default); every page is fetched.
        #[arg(long, default_value_t = 0)]
        page_size: i32,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// Show what is out of sync
    Diff {
        /// Only this namespace (default: every namespace the server serves).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// Kubernetes label selector, e.g. "app=web".
        #[arg(short = 'l', long)]
        selector: Option<String>,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// Stream changes
    Watch {
        /// Only this namespace (default: every namespace the server serves).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// Kubernetes label selector, e.g. "app=web".
        #[arg(short = 'l', long)]
        selector: Option<String>,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// Stop managing a Deployment: scalekeeper clear NAMESPACE/NAME
    Clear {
        /// The Deployment, as NAMESPACE/NAME.
        target: String,
        /// Delete the declaration only if it is still at this VERSION (see `get`).
        #[arg(long)]
        expected_version: Option<String>,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
}

impl ClientCommand {
    /// The connection flags given to this subcommand.
    pub fn conn(&self) -> &ConnectArgs {
        match self {
            ClientCommand::Get { conn, .. }
            | ClientCommand::Set { conn, .. }
            | ClientCommand::List { conn, .. }
            | ClientCommand::Diff { conn, .. }
            | ClientCommand::Watch { conn, .. }
            | ClientCommand::Clear { conn, .. } => conn,
        }
    }
}

/// The `--mode` of `set`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeArg {
    /// Correct drift: set spec.replicas back to the declared count.
    Enforce,
    /// Report drift and never correct it.
    Observe,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Enforce => Mode::Enforce,
            ModeArg::Observe => Mode::Observe,
        }
    }
}
/// A Deployment named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The namespace.
    pub namespace: String,
    /// The Deployment's name.
    pub name: String,
}

/// Parses `NAMESPACE/NAME`; both parts must be non-empty and there must be exactly one `/`.
/// The server checks that they are valid Kubernetes names.
pub fn parse_target(target: &str) -> Result<Target, CliError> {
    match target.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok(Target { namespace: ns.to_string(), name: name.to_string() })
        }
        _ => Err(CliError::Usage(format!("invalid target {target:?}: expected NAMESPACE/NAME, e.g. shop/web"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory as _, Parser};

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(subcommand)]
        cmd: ClientCommand,
    }

    #[test]
    fn clap_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn clap_parses_negative_replicas_and_connection_flags() {
        let cli = Cli::try_parse_from(["sk", "set", "shop/web", "-1", "-o", "json", "--mode", "observe"]).unwrap();
        assert_eq!(cli.cmd.conn().output, Output::Json);
        match cli.cmd {
            ClientCommand::Set { target, replicas, mode, expected_version, .. } => {
                assert_eq!(target, "shop/web");
                assert_eq!(replicas, -1);
                assert_eq!(mode, Some(ModeArg::Observe));
                assert_eq!(expected_version, None);
            }
            other => panic!("unexpected {other:?}"),
        }
        let cli = Cli::try_parse_from(["sk", "list", "--timeout", "3", "-n", "shop", "--page-size", "2"]).unwrap();
        assert_eq!(cli.cmd.conn().timeout, 3);
        assert!(matches!(cli.cmd, ClientCommand::List { page_size: 2, .. }));
    }

    #[test]
    fn parse_target_accepts_namespace_slash_name() {
        assert_eq!(parse_target("ns/name").unwrap(), Target { namespace: "ns".into(), name: "name".into() });
    }

    #[test]
    fn parse_target_rejects_other_shapes() {
        for bad in ["name", "a/b/c", "/x", "x/", "/", ""] {
            let err = parse_target(bad).unwrap_err();
            assert!(matches!(err, CliError::Usage(_)), "{bad:?}: {err:?}");
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains("NAMESPACE/NAME"), "{err}");
        }
    }
}
