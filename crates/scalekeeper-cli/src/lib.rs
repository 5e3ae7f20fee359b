//! The client subcommands of the `scalekeeper` binary: `get`, `set`, `list`, `diff`, `watch`,
//! `clear`, `schedule set|clear`, `explain`, `plan`, `history`, `undo`, `freeze`, `thaw`, the
//! two-person rule's `approval set|clear`, `requests`, `approve` and `deny` (see below), and
//! `version` (its output: the `version` module).
//!
//! Every command connects to the server over mutual TLS ([`connect`]): `--ca` verifies the
//! server's certificate (whose name must match the host part of `--server`, or the context's
//! `tls-server-name`), and `--cert` with `--key` identify the caller. Results go to stdout,
//! errors (and hints) to stderr. `scalekeeper config ...` manages the contexts
//! ([`contexts::command`]).
//!
//! # Contexts
//!
//! A client configuration file (`$SCALEKEEPER_CONFIG`, else
//! `$XDG_CONFIG_HOME/scalekeeper/config.yaml`, else `~/.config/scalekeeper/config.yaml`; a
//! missing file is an empty one) holds named contexts: a server, the CA, client certificate and
//! key (paths relative to the file, or PEM inline in `-data` fields), an optional TLS server
//! name, and labels ([`contexts::file`](mod@contexts::file)). The context is `--context NAME` (or
//! `SCALEKEEPER_CONTEXT`), else the file's `current-context`, else none. Then each setting
//! follows flag > `SCALEKEEPER_SERVER/CA/CERT/KEY` > the context > the default
//! (`localhost:50051`; no TLS material) on its own ([`contexts::precedence`]), as kubectl's
//! flags win over its kubeconfig. A variable that overrides a field of a context named with
//! `--context` is warned about on stderr. [`contexts::resolve_one`] gives the one endpoint a
//! command calls; [`contexts::resolve_fleet`] the contexts a label selector picks, each with its
//! own settings only.
//!
//! # Fleets
//!
//! `--contexts SELECTOR` (a Kubernetes label selector over the contexts' labels, e.g.
//! `env=prod`) or `--all-contexts` runs `get`, `list`, `diff`, `watch` and `explain` against
//! every selected context, and makes `set` (and `set --for`), `clear` (and `clear --hold`) and
//! `schedule set|clear` fleet writes with a plan (`fleet`). The calls run concurrently, at most
//! 16 at a time, each context with its own connection and its own `--timeout` per call, retries
//! included. Output is sorted by context name (`watch`: as the events come).
//!
//! - Tables gain a first column CONTEXT; `get` prints the `list` table, one row per context. A
//!   context that did not answer has one row: its name, then `error: CODE: message` or the
//!   connection error (`cannot connect to HOST:PORT: ...`); then stderr says `N of M contexts
//!   did not answer`.
//! - `list` and `get` with `-o json`: `{"deployments": [{.., "context": "prod-eu"}, ..],
//!   "contexts": [{"context": "prod-us", "error": {"code": "UNAVAILABLE", "message": "cannot
//!   connect to ..."}}]}`; `diff`: the same with `"diffs"`. `contexts` lists the contexts that
//!   did not answer (empty when all did); `code` is the gRPC code name (`UNAVAILABLE` for no
//!   connection, the TLS files included).
//! - `explain`: each context's block under `== CONTEXT ==`; with `-o json` an array of
//!   `{"context": NAME, "explain": {..}}` or `{"context": NAME, "error": {"code", "message"}}`.
//! - `watch`: one merged stream; a table line starts with its context and a space, a JSON line
//!   has `"context"`. Each context's stream reconnects as a single watch does; one that gives
//!   up is reported on stderr (`watch: context NAME: ...`) and the others go on.
//!
//! A fleet write first reads the Deployment in every context (the declaration's `version`),
//! then sends the write as a dry run bound to that version, and prints the plan: `CONTEXT
//! DEPLOYMENT EFFECTIVE RULE RESULT`, EFFECTIVE the effective count `4 -> 10` the dry run
//! returns, RESULT `ok`, `refused: CODE: message` (the cluster answered no) or `unreachable:
//! cannot connect to ...` (it said nothing; counted as a refusal below); with `-o json`
//! `{"plan": [{"context", "deployment", "result": "ok", "from", "to", "rule"} | {.., "result":
//! "refused" | "unreachable", "error": {"code", "message"}}]}`. `--dry-run` stops there. `--atomic` writes nothing when any context
//! refused. Otherwise the write needs `--yes`, or a yes to `Write to N contexts? [y/N]` on
//! stderr when stdin and stderr are terminals; else it is a usage error (`not a terminal: pass
//! --yes to write (the plan is above)`). The contexts that refused are skipped; the others are
//! written concurrently, each only if its declaration is still at the version the plan read
//! (a change since fails with ABORTED there; a Deployment without a declaration has no version
//! to bind to). Then the report: `CONTEXT DEPLOYMENT RESULT` with `applied 4 -> 10`, `skipped
//! (refused)` or `failed: CODE: message`; `-o json` prints a second document, `{"results":
//! [{"context", "deployment", "result": "applied", "from", "to", "rule"} | {.., "result":
//! "skipped"} | {.., "result": "failed", "error": {..}}]}`. `--expected-version` cannot be
//! used with a fleet (each write carries the version its plan saw); `--if-current` and
//! `schedule set --append` apply per context (the windows appended to each context's own).
//!
//! # The two-person rule
//!
//! `approval set NS/NAME (--above N | --below M | --max-step-percent P)... [--approvers K]`
//! sets a Deployment's approval rule and `approval clear NS/NAME` removes it (SetApproval; both
//! take `--reason`, `--expected-version`, `--dry-run`, and print as `schedule set` does); `get`
//! shows it as `APPROVAL: above 20, below 3, step 50%, 1 approver`. A write that needs approval
//! fails with FAILED_PRECONDITION and the server's message, which names the scale request and
//! the `scalekeeper approve` to run, printed as it is (exit 1, no generic hint under it).
//! `requests [-n NS | -A] [--all]` lists the scale requests (pending ones unless `--all`;
//! every namespace unless `-n`): `NAMESPACE NAME DEPLOYMENT CHANGE REQUESTER PHASE APPROVALS
//! AGE EXPIRES` (NAMESPACE not with `-n`). `approve NS/NAME [--yes]` reads the request (NOT_FOUND
//! when there is none), prints it (with `-o json` on stderr), refuses one that is not pending
//! (FAILED_PRECONDITION), asks `Approve scale request NS/NAME? [y/N]` as a fleet write asks (no
//! terminal and no `--yes`: exit 2; an answer other than yes: exit 1), then approves the digest
//! it printed and prints the phase after, with the write's outcome when this approval applied
//! the change. `deny NS/NAME --reason TEXT` prints the request after. A request's text fields
//! are printed with control characters escaped. None of them runs over a fleet.
//!
//! # Output
//!
//! `-o table` (the default) prints a `key: value` block for `get`, `set`, `clear` and `schedule`
//! (the writes follow it with their outcome: the effective and spec counts before and after,
//! conflicts, and `DRY RUN: nothing was written` for `--dry-run`), aligned columns for `list`
//! and `diff`, one line per event for `watch`, a block of `KEY: value` lines and tables for
//! `explain` (the rules with their verdicts, the autoscalers, the owners of spec.replicas, the
//! notes in full), and a table of the changes ahead for `plan` (`no change within 7d` when there
//! is none). `explain` and `plan` print their whole response with `-o json`. `-o json` prints one JSON
//! document per result (`watch`: one compact object per line) following the proto3 JSON mapping:
//! lowerCamelCase field names, enums as their full value names (`SYNC_STATUS_IN_SYNC`), int64
//! fields as strings, timestamps as RFC 3339, `desiredReplicas` omitted when unset, absent
//! messages omitted, every other field present even when it holds its default. prost-reflect's
//! serializer prints it from the API's descriptors (`render`); keys come out in alphabetical order.
//! A write prints the Deployment alone, as `get` does; with `--dry-run` it prints the whole
//! response, `{"deployment": {..}, "outcome": {..}}`.
//!
//! # Retries
//!
//! Every call follows the documented client retry policy (`docs/operations.md`, "Client retry
//! policy"; `crate::retry`): at most 5 attempts, 20–200 ms jittered backoff, all within
//! `--timeout`. What is retried depends on what a second attempt could do:
//!
//! - reads (`get`, `list`, `diff`, `watch`, the read of `schedule set --append`): UNAVAILABLE
//!   and every connection failure, a connection closed in the TLS handshake included;
//! - writes with `--expected-version` (and `schedule set --append`, which sends the version it
//!   read): the same, because a second attempt after the first took effect fails the version
//!   check (ABORTED, whose message then says an earlier attempt may have taken effect);
//! - other writes: only when the request never left (no connection could be made, or gRFC A6's
//!   transparent-retry cases), so a write is never applied twice.
//!
//! `watch` opens the stream again when the server or the network cuts it (UNAVAILABLE, a lost
//! connection), says so on stderr, and resumes: the new stream's snapshot prints only what
//! changed meanwhile (MODIFIED, ADDED, DELETED), never a Deployment unchanged or a second SYNCED.
//! Reopening follows the same policy (5 attempts within `--timeout`): it rides out a rolling
//! restart behind a Service, where another replica answers; when no replica does, `watch`
//! ends with the connection error (exit 3).
//! A certificate problem is never retried.
//!
//! # Exit codes
//!
//! - **0**: success. Also `watch` ended by the server or by Ctrl-C, and stdout closed by its
//!   reader (e.g. piped into `head`).
//! - **1**: the call failed: the server answered an error status, printed as
//!   `error: CODE_NAME: message`, then one `  - field: description` line per
//!   `google.rpc.BadRequest` field violation the message does not already state, then a
//!   `hint:` line for PERMISSION_DENIED, UNAUTHENTICATED, UNAVAILABLE, DEADLINE_EXCEEDED,
//!   ABORTED and FAILED_PRECONDITION. Also: no answer within `--timeout` (DEADLINE_EXCEEDED),
//!   a `watch` stream that ends with an error status, output that could not be written, and a
//!   server that answered a write without an outcome although the command used a flag that
//!   needs one that knows holds and dry runs (it ignored the flag; the result is printed first).
//! - **1** also: the configuration file cannot be read or is malformed (the message names it
//!   and the position), or its current-context names no context.
//! - **1** also: `approve` on a request that does not exist (NOT_FOUND) or is not pending
//!   (FAILED_PRECONDITION), or whose question was answered no.
//! - **2**: usage error: a `--context` that names no context (the existing ones are listed), a
//!   target that is not `NAMESPACE/NAME`, a malformed server (from any source), a
//!   `--for` that is not a positive duration, `--for` without `--reason` or the reverse,
//!   `--no-bounds` with `--min` or `--max`, `approve` without `--yes` where nobody can be asked.
//!   (clap's own argument errors exit 2 as well.)
//! - **3**: cannot connect: no CA; no certificate/key, or only one of them; a CA,
//!   certificate or key file (or `-data` field) that is missing, unreadable or holds no PEM
//!   (the message names the path and the flag, variable or context field it came from); the
//!   server unreachable (`cannot connect to HOST:PORT: ...`, with the number of attempts when
//!   there were several); the TLS handshake failing, including the server refusing the client
//!   certificate.
//!
//!
//! `diff` follows `kubectl diff` instead, so scripts and CI jobs can gate on it: **0** when
//! everything in scope is in sync, **1** when something is out of sync (printed), and greater
//! than 1 on an error: 2 usage, 3 cannot connect, **4** the call failed (what is 1 above).
//!
//! Over a fleet (`--contexts`, `--all-contexts`): **0** when every context answered (a write:
//! every selected context was written, or with `--dry-run` none refused); **1** when any did
//! not (each in its own row; stderr says how many), also `--atomic` with a refusal, and a
//! question answered no; **2** usage, also a write without `--yes` where nobody can be asked.
//! `diff`: **0** all answered and in sync, **1** all answered and something out of sync, **4**
//! any context did not answer. `watch`: **0** when ended by Ctrl-C or the servers, **1** when
//! any context's stream failed. A context whose own settings are unusable (a TLS file missing)
//! is a context that did not answer, not exit 3.
//!
//! The client checks only what it must to make the call: replica counts, names and selectors
//! are validated by the server, which is the authority.

mod approvals;
mod args;
mod calls;
mod connect;
pub mod contexts;
mod fleet;
mod render;
mod run;
mod session;
mod version;
mod watch;

pub mod retry;

use std::io;

use tonic::Status;

pub use args::{ApprovalCommand, ApprovalRuleArgs};
pub use args::{
    BulkSelectArgs, ClientCommand, ConnectArgs, HoldDuration, HoldDurationError, ModeArg, Output, ScheduleCommand,
    Target, parse_target,
};
pub use args::{Horizon, HorizonError, Instant, InstantError};
pub use connect::{DEFAULT_PORT, ServerAddr, connect, parse_server};
pub use fleet::{FleetArgs, FleetFailure, FleetWriteArgs};
pub use render::{
    BulkResponse, WriteResponse, bulk_summary, code_name, deployment_json, diff_json, diff_response_json, event_name,
    mode_name, render_bulk_table, render_deployment, render_diff_table, render_error, render_list_table,
    render_outcome, render_status, render_table, render_watch_event, rule_name, sync_name, watch_event_json,
    write_response_json,
};
pub use render::{
    approved_json, denied_json, phase_name, render_approved, render_requests_table, render_scale_request,
    requests_json, short_digest,
};
pub use render::{explain_json, plan_json, render_explain, render_plan};
pub use run::run;
pub use version::{ServerVersion, client_version, render_version, version_json};

use render::status_line;

/// Why a client command failed; [`CliError::exit_code`] maps it to the process exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line is wrong (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// The client configuration file (contexts) cannot be read, parsed or written, or names
    /// a current-context that does not exist; the message names the file (exit code 1).
    #[error("{0}")]
    Config(String),
    /// The TLS files are missing, unreadable, not PEM, or unusable (exit code 3).
    #[error("{0}")]
    TlsFiles(String),
    /// The server cannot be reached (exit code 3).
    #[error("cannot connect to {server}: {detail}")]
    Unreachable {
        /// The server as HOST:PORT.
        server: String,
        /// What went wrong.
        detail: String,
        /// What to check, when the failure suggests something.
        hint: Option<String>,
    },
    /// The TLS handshake with the server failed (exit code 3).
    #[error("cannot connect to {server}: TLS handshake failed: {detail}")]
    Tls {
        /// The server as HOST:PORT.
        server: String,
        /// What went wrong.
        detail: String,
        /// What to check, when the failure says.
        hint: Option<String>,
    },
    /// The call failed with this status: the server's answer, or a timeout (exit code 1).
    #[error("{}", status_line(.0))]
    Status(Box<Status>),
    /// The server answered, but ignored what a flag asked for because it predates it: a dry run
    /// that wrote, a hold declared for good (exit code 1).
    #[error("{0}")]
    Ignored(String),
    /// A freeze or a thaw answered, and some Deployments failed (listed in the output; exit
    /// code 1).
    #[error("{0}")]
    Partial(String),
    /// `approve` asked, and the answer was not yes: nothing was approved (exit code 1).
    #[error("{0}")]
    NotConfirmed(String),
    /// Writing the result to stdout failed (exit code 1; 0 when the reader closed the pipe).
    #[error("cannot write output: {0}")]
    Output(#[from] io::Error),
    /// `diff` found this many Deployments out of sync and printed them (exit code 1, as
    /// `kubectl diff`; nothing more goes to stderr).
    #[error("{0} Deployment(s) out of sync")]
    OutOfSync(usize),
    /// `diff` failed: the error inside, with an exit code greater than 1 whatever it is, so that
    /// a script tells "differences found" (1) from "could not tell" (`kubectl diff`'s rule): a
    /// failed call exits 4 instead of 1; usage (2) and connection (3) errors keep theirs.
    #[error("{0}")]
    DiffFailed(Box<CliError>),
    /// A command over a fleet of contexts (`--contexts`, `--all-contexts`): `failed` of the
    /// `total` contexts selected did not do what was asked, as [`FleetFailure`] says; each is
    /// reported in the output, the others' results printed (exit code 1).
    #[error("{}", fleet::failure_line(*.failed, *.total, *.what))]
    Fleet {
        /// How many contexts failed.
        failed: usize,
        /// How many contexts were selected.
        total: usize,
        /// What they failed to do.
        what: FleetFailure,
    },
}

impl From<Status> for CliError {
    fn from(s: Status) -> Self {
        CliError::Status(Box::new(s))
    }
}

impl CliError {
    /// The process exit code: 1 failed call, 2 usage, 3 cannot connect (see the module docs).
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Status(_)
            | CliError::Ignored(_)
            | CliError::OutOfSync(_)
            | CliError::Partial(_)
            | CliError::NotConfirmed(_)
            | CliError::Config(_)
            | CliError::Fleet { .. } => 1,
            CliError::DiffFailed(inner) => match inner.exit_code() {
                0 => 0,
                1 => 4,
                code => code,
            },
            CliError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
            CliError::Output(_) => 1,
            CliError::Usage(_) => 2,
            CliError::TlsFiles(_) | CliError::Unreachable { .. } | CliError::Tls { .. } => 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(CliError::from(Status::not_found("x")).exit_code(), 1);
        assert_eq!(CliError::Output(io::Error::other("disk full")).exit_code(), 1);
        assert_eq!(CliError::Output(io::Error::from(io::ErrorKind::BrokenPipe)).exit_code(), 0);
        assert_eq!(CliError::Usage("x".into()).exit_code(), 2);
        assert_eq!(CliError::Partial("1 of 3 Deployments failed".into()).exit_code(), 1);
        assert_eq!(CliError::TlsFiles("x".into()).exit_code(), 3);
        let unreachable = CliError::Unreachable { server: "h:1".into(), detail: "refused".into(), hint: None };
        assert_eq!(unreachable.exit_code(), 3);
        assert_eq!(render_error(&unreachable), "error: cannot connect to h:1: refused\n");
        let tls = CliError::Tls { server: "h:1".into(), detail: "bad".into(), hint: Some("check".into()) };
        assert_eq!(tls.exit_code(), 3);
        assert_eq!(render_error(&tls), "error: cannot connect to h:1: TLS handshake failed: bad\nhint: check\n");
    }

    #[test]
    fn diff_exit_codes_follow_kubectl_diff() {
        // 0 in sync (Ok), 1 out of sync, greater than 1 on any error.
        assert_eq!(CliError::OutOfSync(2).exit_code(), 1);
        let failed = |e: CliError| CliError::DiffFailed(Box::new(e)).exit_code();
        assert_eq!(failed(CliError::from(Status::permission_denied("x"))), 4);
        assert_eq!(failed(CliError::Ignored("x".into())), 4);
        assert_eq!(failed(CliError::Output(io::Error::other("disk full"))), 4);
        assert_eq!(failed(CliError::Usage("x".into())), 2);
        assert_eq!(failed(CliError::TlsFiles("x".into())), 3);
        assert_eq!(failed(CliError::Output(io::Error::from(io::ErrorKind::BrokenPipe))), 0);
        // The error inside is what stderr shows.
        let denied = CliError::DiffFailed(Box::new(CliError::from(Status::permission_denied("no"))));
        assert_eq!(render_error(&denied), render_error(&CliError::from(Status::permission_denied("no"))));
    }
}
