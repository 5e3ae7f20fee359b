//! The clap definitions of the client subcommands and of their connection flags, and the
//! parsing of a `NAMESPACE/NAME` target.

use std::path::PathBuf;

use scalekeeper_api::v1::Mode;

use super::fleet::{FleetArgs, FleetWriteArgs};

mod approval;
mod values;

pub use approval::{ApprovalCommand, ApprovalRuleArgs};
pub use values::{HoldDuration, HoldDurationError, Horizon, HorizonError, Instant, InstantError, Target, parse_target};

/// How to reach the server. `--server`, `--ca`, `--cert` and `--key` are read as given here;
/// their `SCALEKEEPER_*` variables, the context and the defaults are applied by
/// `crate::contexts::resolve_one` (flag > environment > context > default), which is why clap
/// reads no environment for them.
#[derive(clap::Args, Debug, Clone)]
pub struct ConnectArgs {
    /// Server address HOST:PORT [env: SCALEKEEPER_SERVER; else the context's server; default:
    /// localhost:50051]
    #[arg(long)]
    pub server: Option<String>,
    /// CA certificate (PEM) that signed the server's certificate [env: SCALEKEEPER_CA; else the
    /// context's]
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM) [env: SCALEKEEPER_CERT; else the context's]
    #[arg(long)]
    pub cert: Option<PathBuf>,
    /// Client private key (PEM) [env: SCALEKEEPER_KEY; else the context's]
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// The context of the configuration file to use (`scalekeeper config get-contexts` lists
    /// them) [env: SCALEKEEPER_CONTEXT; default: the file's current-context]
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, env = "SCALEKEEPER_OUTPUT", value_enum, default_value = "table")]
    pub output: Output,
    /// Seconds each call may take, its retries included (watch: each opening of the stream);
    /// 0 waits forever.
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
        /// Which contexts to run against instead of one server.
        #[command(flatten)]
        fleet: FleetArgs,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// Declare and apply a replica count, or hold one for a while: scalekeeper set NAMESPACE/NAME REPLICAS
    #[command(group(clap::ArgGroup::new("held").args(["hold_for", "break_glass"]).multiple(true)))]
    Set {
        /// The Deployment, as NAMESPACE/NAME.
        target: String,
        /// The replica count to declare (or hold, with --for) and apply (the server checks the range).
        #[arg(allow_negative_numbers = true)]
        replicas: i32,
        /// Hold REPLICAS for this long instead of declaring it, e.g. 2h, 90m, 1h30m, 3s or PT2H
        /// (hours at most as a unit: 30 days is 720h). The declared count and the schedule stay
        /// and apply again when the hold expires. Needs --reason.
        #[arg(long = "for", value_name = "DURATION", requires = "reason", allow_hyphen_values = true)]
        hold_for: Option<HoldDuration>,
        /// Why the hold is placed, e.g. "INC-123: checkout latency" (only with --for or
        /// --break-glass).
        #[arg(long, requires = "held", required_if_eq("break_glass", "true"))]
        reason: Option<String>,
        /// Break-glass: apply a change the approval rule holds back at once, as a hold of at
        /// most 1 hour (a declaration becomes an hour's hold), as a member of a break-glass
        /// group. Audited and announced; a second identity reviews it with scalekeeper approve.
        /// Needs --reason.
        #[arg(long, conflicts_with = "fleet")]
        break_glass: bool,
        /// Set the declaration's lower bound on every declared, held and scheduled count.
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        min: Option<i32>,
        /// Set the declaration's upper bound on every declared, held and scheduled count.
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        max: Option<i32>,
        /// Remove both bounds.
        #[arg(long, conflicts_with_all = ["min", "max"])]
        no_bounds: bool,
        /// Write only if the Deployment's spec.replicas is N now (like kubectl scale --current-replicas).
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        if_current: Option<i32>,
        /// Check everything and show what the write would do, without writing. With -o json
        /// prints {"deployment": .., "outcome": ..} instead of the Deployment alone.
        #[arg(long)]
        dry_run: bool,
        /// Write only if the declaration is still at this VERSION (see `get`; not with a fleet,
        /// whose writes are each conditional on the version their dry run saw).
        #[arg(long, conflicts_with = "fleet")]
        expected_version: Option<String>,
        /// What to do about drift; unset keeps the current mode (enforce for a new declaration).
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
        /// The admission guard for writes of spec.replicas made past scalekeeper (kubectl scale,
        /// a GitOps sync): off, warn (allowed with a warning) or deny (refused before any Pod is
        /// deleted); unset keeps the current guard (the server's --default-guard for a new
        /// declaration).
        #[arg(long, value_enum)]
        guard: Option<GuardArg>,
        /// Which contexts to write instead of one server, and how.
        #[command(flatten)]
        fleet: FleetWriteArgs,
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
        /// Which contexts to run against instead of one server.
        #[command(flatten)]
        fleet: FleetArgs,
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
        /// Which contexts to run against instead of one server.
        #[command(flatten)]
        fleet: FleetArgs,
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
        /// Which contexts to run against instead of one server.
        #[command(flatten)]
        fleet: FleetArgs,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// Stop managing a Deployment, or end its hold early: scalekeeper clear NAMESPACE/NAME
    Clear {
        /// The Deployment, as NAMESPACE/NAME.
        target: String,
        /// End only the active hold: the declaration stays, and its schedule or declared count
        /// applies again.
        #[arg(long)]
        hold: bool,
        /// Check everything and show what the write would do, without writing. With -o json
        /// prints {"deployment": .., "outcome": ..} instead of the Deployment alone.
        #[arg(long)]
        dry_run: bool,
        /// Write only if the declaration is still at this VERSION (see `get`; not with a fleet,
        /// whose writes are each conditional on the version their dry run saw).
        #[arg(long, conflicts_with = "fleet")]
        expected_version: Option<String>,
        /// Which contexts to write instead of one server, and how.
        #[command(flatten)]
        fleet: FleetWriteArgs,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// Say why a Deployment has its count: every rule and why it won or lost, the bounds, mode,
    /// guard and flap guard, autoscalers, and who writes spec.replicas (with the setting that
    /// stops a GitOps tool fighting scalekeeper): scalekeeper explain NAMESPACE/NAME [--at TIME]
    Explain {
        /// The Deployment, as NAMESPACE/NAME.
        target: String,
        /// Explain the rules at this instant (RFC 3339, e.g. 2026-12-12T09:00:00+01:00)
        /// instead of now; the Deployment, the owners of spec.replicas and the flap guard are
        /// always as they are now.
        #[arg(long, value_name = "TIME")]
        at: Option<Instant>,
        /// Which contexts to run against instead of one server.
        #[command(flatten)]
        fleet: FleetArgs,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// List the changes of a Deployment's effective count ahead (window edges, a hold's
    /// expiry), in UTC and in the zone of the rule: scalekeeper plan NAMESPACE/NAME [--next 7d]
    Plan {
        /// The Deployment, as NAMESPACE/NAME.
        target: String,
        /// How far ahead to look, e.g. 7d, 36h, 90m or P2W (a day is 24 h here; the server
        /// takes 1 s to 31 days).
        #[arg(long = "next", value_name = "DURATION", default_value = "7d", allow_hyphen_values = true)]
        next: Horizon,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// Show the last changes of a Deployment's count (at most 20, oldest first):
    /// scalekeeper history NAMESPACE/NAME
    History {
        /// The Deployment, as NAMESPACE/NAME.
        target: String,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// Declare again the count declared before the last declaration: scalekeeper undo NAMESPACE/NAME.
    /// Reads the history first, says what it will declare, and writes only if the declaration
    /// is still at the version read (a declaration made meanwhile fails with ABORTED).
    Undo {
        /// The Deployment, as NAMESPACE/NAME.
        target: String,
        /// Check everything and show what the undo would do, without writing.
        #[arg(long)]
        dry_run: bool,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// Set or clear a Deployment's weekly schedule windows
    Schedule {
        /// set or clear.
        #[command(subcommand)]
        command: ScheduleCommand,
    },
    /// Set or remove a Deployment's approval rule (the two-person rule)
    Approval {
        /// set or clear.
        #[command(subcommand)]
        command: ApprovalCommand,
    },
    /// List the scale requests (changes that need approval): scalekeeper requests [-n NS | -A] [--all]
    Requests {
        /// Only this namespace (default: every namespace the server serves).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// Every namespace the server serves (the default; says so explicitly).
        #[arg(short = 'A', long, conflicts_with = "namespace")]
        all_namespaces: bool,
        /// Include the requests that are done (applied, denied, expired, superseded); by
        /// default only the pending ones.
        #[arg(long)]
        all: bool,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// Approve a pending scale request: scalekeeper approve NAMESPACE/NAME. Shows the request,
    /// asks (unless --yes), then approves what it showed (the approval binds to its digest);
    /// the last approval needed applies the change.
    Approve {
        /// The scale request, as NAMESPACE/NAME (see `scalekeeper requests`).
        target: String,
        /// Approve without asking (needed when stdin or stderr is not a terminal).
        #[arg(long)]
        yes: bool,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// Deny a pending scale request: scalekeeper deny NAMESPACE/NAME --reason TEXT
    Deny {
        /// The scale request, as NAMESPACE/NAME (see `scalekeeper requests`).
        target: String,
        /// Why (required, at most 256 bytes).
        #[arg(long, required = true)]
        reason: String,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// Hold every selected Deployment at its current effective count for a while (a change
    /// freeze): scalekeeper freeze (-n NS... | -l SELECTOR | -A) --for 2h --reason "INC-123".
    /// Deployments an HPA owns are skipped; exits 1 when any Deployment failed.
    Freeze {
        /// Which Deployments.
        #[command(flatten)]
        select: BulkSelectArgs,
        /// How long the holds last, e.g. 2h, 90m, 1h30m or PT2H (1 s to 30 days: 720h).
        #[arg(long = "for", value_name = "DURATION", required = true, allow_hyphen_values = true)]
        hold_for: HoldDuration,
        /// Why, e.g. "INC-123: change freeze" (required, at most 256 bytes).
        #[arg(long, required = true)]
        reason: String,
        /// Check everything and show what the freeze would do, without writing.
        #[arg(long)]
        dry_run: bool,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// End a freeze early: the holds a freeze placed on the selected Deployments end (a hold
    /// placed with `set --for` stays), and a Deployment the freeze began managing is unmanaged
    /// again. Exits 1 when any Deployment failed.
    Thaw {
        /// Which Deployments.
        #[command(flatten)]
        select: BulkSelectArgs,
        /// Check everything and show what the thaw would do, without writing.
        #[arg(long)]
        dry_run: bool,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// Print the client's version and the server's: scalekeeper version [--client]
    Version {
        /// Print the client's version only; do not connect.
        #[arg(long)]
        client: bool,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
}

/// The Deployments a `freeze` or a `thaw` selects: namespaces, or every namespace, narrowed by
/// a label selector (a selector alone selects across every namespace the server serves).
#[derive(clap::Args, Debug, Clone)]
#[group(required = true, multiple = true)]
pub struct BulkSelectArgs {
    /// These namespaces (repeatable, or comma-separated).
    #[arg(short = 'n', long = "namespace", value_name = "NAMESPACE", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Every namespace the server serves.
    #[arg(short = 'A', long, conflicts_with = "namespaces")]
    pub all_namespaces: bool,
    /// Kubernetes label selector on the Deployments, e.g. "tier=frontend".
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
}

/// The subcommands of `scalekeeper schedule`.
#[derive(clap::Subcommand, Debug)]
pub enum ScheduleCommand {
    /// Replace (or with --append extend) the schedule:
    /// scalekeeper schedule set NAMESPACE/NAME --window "Mon-Fri 08:00-20:00 Europe/Berlin" --replicas N
    Set {
        /// The Deployment, as NAMESPACE/NAME.
        target: String,
        /// A weekly window "DAYS HH:MM-HH:MM ZONE", e.g. "Mon-Fri 08:00-20:00 Europe/Berlin"
        /// (repeatable; in precedence order: the first window that covers now wins).
        #[arg(long = "window", value_name = "WINDOW", required = true)]
        windows: Vec<String>,
        /// The replica count inside every --window given.
        #[arg(long, allow_negative_numbers = true)]
        replicas: i32,
        /// Add the windows after the current ones instead of replacing them. The schedule is
        /// read first and the write is made only if the declaration is still at the version
        /// read (or at --expected-version), so a concurrent change fails with ABORTED.
        #[arg(long)]
        append: bool,
        /// Write only if the declaration is still at this VERSION (see `get`; not with a fleet,
        /// whose writes are each conditional on the version their dry run saw).
        #[arg(long, conflicts_with = "fleet")]
        expected_version: Option<String>,
        /// Check everything and show what the write would do, without writing. With -o json
        /// prints {"deployment": .., "outcome": ..} instead of the Deployment alone.
        #[arg(long)]
        dry_run: bool,
        /// Which contexts to write instead of one server, and how.
        #[command(flatten)]
        fleet: FleetWriteArgs,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// Remove every schedule window: scalekeeper schedule clear NAMESPACE/NAME
    Clear {
        /// The Deployment, as NAMESPACE/NAME.
        target: String,
        /// Write only if the declaration is still at this VERSION (see `get`; not with a fleet,
        /// whose writes are each conditional on the version their dry run saw).
        #[arg(long, conflicts_with = "fleet")]
        expected_version: Option<String>,
        /// Check everything and show what the write would do, without writing. With -o json
        /// prints {"deployment": .., "outcome": ..} instead of the Deployment alone.
        #[arg(long)]
        dry_run: bool,
        /// Which contexts to write instead of one server, and how.
        #[command(flatten)]
        fleet: FleetWriteArgs,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
}

impl ScheduleCommand {
    /// The connection flags given to this subcommand.
    pub fn conn(&self) -> &ConnectArgs {
        match self {
            ScheduleCommand::Set { conn, .. } | ScheduleCommand::Clear { conn, .. } => conn,
        }
    }
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
            | ClientCommand::Clear { conn, .. }
            | ClientCommand::Explain { conn, .. }
            | ClientCommand::Plan { conn, .. }
            | ClientCommand::History { conn, .. }
            | ClientCommand::Undo { conn, .. }
            | ClientCommand::Freeze { conn, .. }
            | ClientCommand::Thaw { conn, .. }
            | ClientCommand::Version { conn, .. }
            | ClientCommand::Requests { conn, .. }
            | ClientCommand::Approve { conn, .. }
            | ClientCommand::Deny { conn, .. } => conn,
            ClientCommand::Schedule { command } => command.conn(),
            ClientCommand::Approval { command } => command.conn(),
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

/// The `--guard` of `set`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuardArg {
    /// Not guarded: such writes are stored, and the reconciler sets the count back.
    Off,
    /// Allowed with a warning the client prints; the reconciler sets the count back.
    Warn,
    /// Refused before it is stored.
    Deny,
}

impl From<GuardArg> for scalekeeper_api::v1::Guard {
    fn from(g: GuardArg) -> Self {
        match g {
            GuardArg::Off => Self::Off,
            GuardArg::Warn => Self::Warn,
            GuardArg::Deny => Self::Deny,
        }
    }
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Enforce => Mode::Enforce,
            ModeArg::Observe => Mode::Observe,
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::CliError;
    use clap::{CommandFactory as _, Parser};
    use jiff::SignedDuration;

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
    fn freeze_and_thaw_need_a_selection_and_freeze_a_duration_and_a_reason() {
        let cmd =
            parse(&["freeze", "-n", "shop", "-n", "pay,ops", "--for", "2h", "--reason", "INC-1", "--dry-run"]).unwrap();
        match cmd {
            ClientCommand::Freeze { select, hold_for, reason, dry_run, .. } => {
                assert_eq!(select.namespaces, ["shop", "pay", "ops"]);
                assert!(!select.all_namespaces && select.selector.is_none());
                assert_eq!(hold_for.get(), SignedDuration::from_hours(2));
                assert_eq!((reason.as_str(), dry_run), ("INC-1", true));
            }
            other => panic!("unexpected {other:?}"),
        }
        let cmd = parse(&["thaw", "-A", "-l", "tier=web", "-o", "json"]).unwrap();
        assert_eq!(cmd.conn().output, Output::Json);
        assert!(matches!(cmd, ClientCommand::Thaw { select: BulkSelectArgs { all_namespaces: true, .. }, .. }));
        assert!(matches!(parse(&["thaw", "-l", "tier=web"]), Ok(ClientCommand::Thaw { .. })), "a selector alone");
        usage_error(&["thaw"]);
        usage_error(&["thaw", "-A", "-n", "shop"]);
        usage_error(&["freeze", "-A", "--reason", "x"]);
        usage_error(&["freeze", "-A", "--for", "2h"]);
        usage_error(&["freeze", "--for", "2h", "--reason", "x"]);
    }

    fn parse(args: &[&str]) -> Result<ClientCommand, clap::Error> {
        Cli::try_parse_from(["sk"].iter().chain(args)).map(|c| c.cmd)
    }

    fn usage_error(args: &[&str]) -> String {
        let err = parse(args).expect_err("a usage error");
        assert_eq!(err.exit_code(), 2, "{err}");
        err.to_string()
    }

    #[test]
    fn set_parses_hold_bounds_dry_run_and_if_current() {
        let cmd = parse(&[
            "set",
            "shop/web",
            "10",
            "--for",
            "1h30m",
            "--reason",
            "INC-123: latency",
            "--min",
            "2",
            "--max",
            "12",
            "--dry-run",
            "--if-current",
            "4",
        ])
        .unwrap();
        match cmd {
            ClientCommand::Set { replicas, hold_for, reason, min, max, no_bounds, if_current, dry_run, .. } => {
                assert_eq!(replicas, 10);
                assert_eq!(hold_for.map(HoldDuration::get), Some(SignedDuration::from_secs(5400)));
                assert_eq!(reason.as_deref(), Some("INC-123: latency"));
                assert_eq!((min, max, no_bounds), (Some(2), Some(12), false));
                assert_eq!(if_current, Some(4));
                assert!(dry_run);
            }
            other => panic!("unexpected {other:?}"),
        }
        match parse(&["set", "shop/web", "3", "--no-bounds", "--if-current", "0"]).unwrap() {
            ClientCommand::Set { hold_for, reason, min, max, no_bounds, if_current, dry_run, .. } => {
                assert_eq!((hold_for, reason), (None, None));
                assert_eq!((min, max, no_bounds, if_current, dry_run), (None, None, true, Some(0), false));
            }
            other => panic!("unexpected {other:?}"),
        }
        // The server checks the ranges, so negative counts reach it.
        assert!(matches!(
            parse(&["set", "shop/web", "3", "--min", "-1", "--max", "-2", "--if-current", "-3"]).unwrap(),
            ClientCommand::Set { min: Some(-1), max: Some(-2), if_current: Some(-3), .. }
        ));
    }

    #[test]
    fn set_usage_errors() {
        let err = usage_error(&["set", "shop/web", "10", "--for", "2h"]);
        assert!(err.contains("--reason"), "{err}");
        let err = usage_error(&["set", "shop/web", "10", "--reason", "INC-1"]);
        assert!(err.contains("--for"), "{err}");
        let err = usage_error(&["set", "shop/web", "10", "--no-bounds", "--min", "2"]);
        assert!(err.contains("--no-bounds") && err.contains("--min"), "{err}");
        let err = usage_error(&["set", "shop/web", "10", "--max", "9", "--no-bounds"]);
        assert!(err.contains("--no-bounds") && err.contains("--max"), "{err}");
        for bad in ["0s", "0", "PT0S", "-2h", "-PT1H", "2 fortnights", "soon", "", "2d", "1h-3m"] {
            let err = usage_error(&["set", "shop/web", "10", "--for", bad, "--reason", "r"]);
            assert!(err.contains("--for"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn hold_durations() {
        let secs = |s: &str| s.parse::<HoldDuration>().map(|d| d.to_proto());
        let d = |seconds, nanos| prost_types::Duration { seconds, nanos };
        assert_eq!(secs("2h").unwrap(), d(7200, 0));
        assert_eq!(secs("90m").unwrap(), d(5400, 0));
        assert_eq!(secs("1h30m").unwrap(), d(5400, 0));
        assert_eq!(secs("3s").unwrap(), d(3, 0));
        assert_eq!(secs("PT2H").unwrap(), d(7200, 0));
        assert_eq!(secs("720h").unwrap(), d(30 * 86_400, 0));
        assert_eq!(secs("1.5s").unwrap(), d(1, 500_000_000));
        assert_eq!(secs("2 hours").unwrap(), d(7200, 0));
        assert!(matches!(secs("0s"), Err(HoldDurationError::NotPositive(_))));
        assert!(matches!(secs("-5m"), Err(HoldDurationError::NotPositive(_))));
        let err = secs("two hours").unwrap_err();
        assert!(matches!(err, HoldDurationError::Syntax(_)), "{err:?}");
        assert!(matches!(secs("2d"), Err(HoldDurationError::Syntax(_))));
        assert!(err.to_string().contains("e.g. 2h"), "{err}");
    }

    #[test]
    fn clear_parses_hold_and_dry_run() {
        match parse(&["clear", "shop/web", "--hold", "--dry-run"]).unwrap() {
            ClientCommand::Clear { hold, dry_run, expected_version, .. } => {
                assert!(hold && dry_run);
                assert_eq!(expected_version, None);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            parse(&["clear", "shop/web"]).unwrap(),
            ClientCommand::Clear { hold: false, dry_run: false, .. }
        ));
    }

    #[test]
    fn schedule_set_and_clear() {
        let cmd = parse(&[
            "schedule",
            "set",
            "shop/web",
            "--window",
            "Mon-Fri 08:00-20:00 Europe/Berlin",
            "--window",
            "Sat 10:00-14:00 UTC",
            "--replicas",
            "6",
            "--append",
            "--expected-version",
            "7",
            "--dry-run",
            "-o",
            "json",
            "--timeout",
            "4",
        ])
        .unwrap();
        assert_eq!(cmd.conn().output, Output::Json);
        assert_eq!(cmd.conn().timeout, 4);
        match cmd {
            ClientCommand::Schedule {
                command: ScheduleCommand::Set { target, windows, replicas, append, expected_version, dry_run, .. },
            } => {
                assert_eq!(target, "shop/web");
                assert_eq!(windows, ["Mon-Fri 08:00-20:00 Europe/Berlin", "Sat 10:00-14:00 UTC"]);
                assert_eq!(replicas, 6);
                assert!(append && dry_run);
                assert_eq!(expected_version.as_deref(), Some("7"));
            }
            other => panic!("unexpected {other:?}"),
        }
        let cmd = parse(&["schedule", "clear", "shop/web", "--server", "sk:1"]).unwrap();
        assert_eq!(cmd.conn().server.as_deref(), Some("sk:1"));
        assert!(matches!(
            cmd,
            ClientCommand::Schedule { command: ScheduleCommand::Clear { dry_run: false, expected_version: None, .. } }
        ));
        // Every window needs the count, and there is at least one window.
        let err = usage_error(&["schedule", "set", "shop/web", "--window", "Mon 00:00-24:00 UTC"]);
        assert!(err.contains("--replicas"), "{err}");
        let err = usage_error(&["schedule", "set", "shop/web", "--replicas", "2"]);
        assert!(err.contains("--window"), "{err}");
        usage_error(&["schedule", "clear", "shop/web", "--window", "Mon 00:00-24:00 UTC"]);
        usage_error(&["schedule", "shop/web"]);
    }

    #[test]
    fn explain_and_plan_parse_their_flags() {
        match parse(&["explain", "shop/web", "--at", "2026-12-12T09:00:00+01:00", "-o", "json"]).unwrap() {
            ClientCommand::Explain { target, at, conn, .. } => {
                assert_eq!(target, "shop/web");
                assert_eq!(
                    at.map(Instant::to_proto),
                    Some(prost_types::Timestamp { seconds: 1_797_062_400, nanos: 0 })
                );
                assert_eq!(conn.output, Output::Json);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(parse(&["explain", "shop/web"]).unwrap(), ClientCommand::Explain { at: None, .. }));
        for bad in ["tomorrow", "2026-12-12", "2026-12-12T09:00:00", ""] {
            let err = usage_error(&["explain", "shop/web", "--at", bad]);
            assert!(err.contains("--at") && err.contains("RFC 3339"), "{bad:?}: {err}");
        }
        match parse(&["plan", "shop/web"]).unwrap() {
            ClientCommand::Plan { next, .. } => {
                assert_eq!(next.get(), SignedDuration::from_hours(7 * 24), "the default")
            }
            other => panic!("unexpected {other:?}"),
        }
        let next = |s: &str| match parse(&["plan", "shop/web", "--next", s]).unwrap() {
            ClientCommand::Plan { next, .. } => next,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(next("36h").to_proto(), prost_types::Duration { seconds: 36 * 3600, nanos: 0 });
        assert_eq!(next("1w").get(), SignedDuration::from_hours(168));
        assert_eq!(next("P2W").get(), SignedDuration::from_hours(336));
        assert_eq!(next("1d12h").get(), SignedDuration::from_hours(36));
        assert_eq!(next("90m").human(), "1h 30m");
        assert_eq!(next("7d").human(), "7d");
        assert_eq!(next("1.5s").human(), "1s", "whole units, as people read a horizon");
        for bad in ["0s", "-1d", "1mo", "1y", "soon", ""] {
            let err = usage_error(&["plan", "shop/web", "--next", bad]);
            assert!(err.contains("--next"), "{bad:?}: {err}");
        }
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
