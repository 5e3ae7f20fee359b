//! Commands over a fleet of contexts: `--contexts SELECTOR` (a label selector over the contexts'
//! labels) or `--all-contexts` on `get`, `list`, `diff`, `watch` and `explain` (fan-out reads,
//! [`read`]) and on `set`, `clear` and `schedule set|clear` (writes with a plan, [`write`]).
//!
//! ```text
//!  --contexts env=prod ─► contexts::resolve_fleet ─► [Endpoint] ─► one Session each ─► fan_out
//!                                                                (own connection,     (≤ 16 at once,
//!                                                                 own --timeout)       sorted by context)
//! ```
//!
//! Each context is called with its own settings, its own connection and its own deadline
//! (`--timeout` per call, retries included, as for one server); a context that fails does not
//! stop the others, and the answers are printed sorted by context name, whatever the order they
//! arrived in (`watch` excepted: its lines are printed as they come).

mod read;
mod write;

pub(super) use write::{Decision, WriteFlags, ask, can_ask, decide};

use std::future::Future;

use futures::StreamExt as _;

use super::CliError;
use super::args::{ClientCommand, ConnectArgs, ScheduleCommand};
use super::contexts;
use super::session::Session;

/// How many contexts a fleet command calls at once. `watch` opens every context's stream at
/// once whatever their number: a stream lasts as long as the command.
pub const CONCURRENCY: usize = 16;

/// Which contexts of the config file a command runs against, instead of one server.
#[derive(clap::Args, Debug, Clone, Default)]
#[group(id = "fleet", multiple = false)]
pub struct FleetArgs {
    /// Run against every context whose labels match this Kubernetes label selector, e.g.
    /// "env=prod" or "env=prod,region in (eu-west-1,us-east-1)", concurrently, each with its own
    /// server, certificates and --timeout (`scalekeeper config get-contexts` lists them).
    #[arg(long = "contexts", value_name = "SELECTOR")]
    pub contexts: Option<String>,
    /// Run against every context of the config file, concurrently.
    #[arg(long)]
    pub all_contexts: bool,
}

impl FleetArgs {
    /// Whether a fleet is selected (`--contexts` or `--all-contexts`).
    pub fn selected(&self) -> bool {
        self.contexts.is_some() || self.all_contexts
    }
}

/// The fleet flags of a write: the selection, and how the plan turns into writes.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FleetWriteArgs {
    /// Which contexts.
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// With a fleet: write after printing the plan, without asking (needed when stdin or
    /// stderr is not a terminal).
    #[arg(long, requires = "fleet")]
    pub yes: bool,
    /// With a fleet: write nowhere when any context refuses the dry run (RBAC, bounds, an HPA,
    /// unreachable). Without it the contexts that refused are skipped and the others written.
    #[arg(long, requires = "fleet")]
    pub atomic: bool,
}

/// What the contexts counted in [`CliError::Fleet`] failed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetFailure {
    /// A read: they did not answer (an error status, or no connection).
    NotAnswered,
    /// `watch`: their stream ended with an error.
    StreamFailed,
    /// A write's `--dry-run`: they refused the dry run (nothing is written anywhere).
    Refused,
    /// A write with `--atomic`: they refused the dry run, so nothing was written anywhere.
    AtomicRefused,
    /// A write: they were not written (refused in the plan, or the write failed).
    NotWritten,
    /// A write: the question was answered no, so nothing was written anywhere.
    NotConfirmed,
}

/// The line stderr shows for [`CliError::Fleet`].
pub(super) fn failure_line(failed: usize, total: usize, what: FleetFailure) -> String {
    match what {
        FleetFailure::NotAnswered => format!("{failed} of {total} contexts did not answer"),
        FleetFailure::StreamFailed => format!("the watch of {failed} of {total} contexts failed"),
        FleetFailure::Refused => format!("{failed} of {total} contexts refused the dry run"),
        FleetFailure::AtomicRefused => format!("nothing written: {failed} of {total} contexts refused (--atomic)"),
        FleetFailure::NotWritten => format!("{failed} of {total} contexts were not written"),
        FleetFailure::NotConfirmed => "nothing written: not confirmed".to_string(),
    }
}

/// One context of the fleet: its name and its connection.
pub(super) struct Member {
    /// The context's name.
    pub context: String,
    /// Its connection (made on the first call), or why the context's settings give none (a
    /// TLS file missing, a malformed server): reported in the context's own row.
    session: Result<Session, CliError>,
}

impl Member {
    /// The context's session.
    ///
    /// # Errors
    ///
    /// Why its settings give none (the resolver's [`CliError::TlsFiles`] or [`CliError::Usage`],
    /// naming the context), for the context's row.
    pub(super) fn session(&self) -> Result<&Session, CliError> {
        self.session.as_ref().map_err(|e| match e {
            CliError::TlsFiles(m) => CliError::TlsFiles(m.clone()),
            CliError::Usage(m) => CliError::Usage(m.clone()),
            CliError::Config(m) => CliError::Config(m.clone()),
            other => CliError::TlsFiles(other.to_string()),
        })
    }
}

/// What one context answered.
#[derive(Debug)]
pub(super) struct Answer<T> {
    /// The context's name.
    pub context: String,
    /// Its answer, or why there is none.
    pub result: Result<T, CliError>,
}

/// Calls `call` for each of `members` concurrently, at most [`CONCURRENCY`] at a time, and
/// returns every answer sorted by context name (`context` names a member), not by arrival.
pub(super) async fn fan_out<'a, M, T, F, Fut>(
    members: impl IntoIterator<Item = &'a M>,
    context: impl Fn(&M) -> &str,
    call: F,
) -> Vec<Answer<T>>
where
    M: 'a,
    F: Fn(&'a M) -> Fut,
    Fut: Future<Output = Result<T, CliError>>,
{
    let calls = members.into_iter().map(|m| {
        let name = context(m).to_string();
        let answer = call(m);
        async move { Answer { context: name, result: answer.await } }
    });
    let mut answers: Vec<Answer<T>> = futures::stream::iter(calls).buffer_unordered(CONCURRENCY).collect().await;
    answers.sort_by(|a, b| a.context.cmp(&b.context));
    answers
}

/// [`fan_out`] over the members of a fleet.
pub(super) async fn fan_out_members<'a, T, F, Fut>(
    members: impl IntoIterator<Item = &'a Member>,
    call: F,
) -> Vec<Answer<T>>
where
    F: Fn(&'a Member) -> Fut,
    Fut: Future<Output = Result<T, CliError>>,
{
    fan_out(members, |m: &Member| m.context.as_str(), call).await
}

/// Ok when every context answered, else [`CliError::Fleet`] ([`FleetFailure::NotAnswered`]).
pub(super) fn all_answered<T>(answers: &[Answer<T>]) -> Result<(), CliError> {
    let failed = answers.iter().filter(|a| a.result.is_err()).count();
    if failed == 0 {
        Ok(())
    } else {
        Err(CliError::Fleet { failed, total: answers.len(), what: FleetFailure::NotAnswered })
    }
}

/// The fleet flags of `cmd`, when it takes them.
fn fleet_of(cmd: &ClientCommand) -> Option<&FleetArgs> {
    match cmd {
        ClientCommand::Get { fleet, .. }
        | ClientCommand::List { fleet, .. }
        | ClientCommand::Diff { fleet, .. }
        | ClientCommand::Watch { fleet, .. }
        | ClientCommand::Explain { fleet, .. } => Some(fleet),
        ClientCommand::Set { fleet, .. } | ClientCommand::Clear { fleet, .. } => Some(&fleet.fleet),
        ClientCommand::Schedule {
            command: ScheduleCommand::Set { fleet, .. } | ScheduleCommand::Clear { fleet, .. },
        } => Some(&fleet.fleet),
        _ => None,
    }
}

/// Whether `cmd` runs over a fleet: `--contexts` or `--all-contexts` given.
pub(super) fn is_fleet(cmd: &ClientCommand) -> bool {
    fleet_of(cmd).is_some_and(FleetArgs::selected)
}

/// The members of the fleet `fleet` selects, each with its own session (settings from its
/// context, `--timeout` from `conn`), sorted by context name. A context whose settings do not
/// resolve is a member without a session: it fails in its own row.
///
/// # Errors
///
/// The resolver's ([`contexts::resolve_fleet`]): usage errors (no context matches, a bad
/// selector, a connection flag given with a fleet), the configuration file unreadable.
fn members(conn: &ConnectArgs, fleet: &FleetArgs) -> Result<Vec<Member>, CliError> {
    let each = contexts::resolve_fleet(conn, fleet.contexts.as_deref(), fleet.all_contexts)?;
    Ok(each
        .into_iter()
        .map(|(context, endpoint)| Member { session: endpoint.map(|e| Session::new(e, conn.timeout)), context })
        .collect())
}

/// Runs `cmd` over the fleet it selects ([`is_fleet`]).
///
/// # Errors
///
/// [`CliError::Fleet`] when some contexts failed (each is reported in the output),
/// [`CliError::Usage`] for a selection or a flag that cannot apply to a fleet; `diff` as
/// `kubectl diff` ([`CliError::OutOfSync`], [`CliError::DiffFailed`]).
pub(super) async fn run(cmd: ClientCommand) -> Result<(), CliError> {
    let conn = cmd.conn().clone();
    let fleet = fleet_of(&cmd).cloned().unwrap_or_default();
    let members = members(&conn, &fleet)?;
    let output = conn.output;
    match cmd {
        ClientCommand::Get { target, .. } => read::get(&members, &target, output).await,
        ClientCommand::List { namespace, selector, page_size, .. } => {
            read::list(&members, namespace.as_deref(), selector.as_deref(), page_size, output).await
        }
        ClientCommand::Diff { namespace, selector, .. } => {
            read::diff(&members, namespace.as_deref(), selector.as_deref(), output).await
        }
        ClientCommand::Watch { namespace, selector, .. } => {
            read::watch(&members, namespace.unwrap_or_default(), selector.unwrap_or_default(), output).await
        }
        ClientCommand::Explain { target, at, .. } => read::explain(&members, &target, at, output).await,
        cmd => {
            let (write, flags) = write::Write::from_command(cmd)?;
            write::run(&members, write, flags, output).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Yields `n` times, so that a call's completion order is set by `n` and not by a clock.
    async fn after_yields(n: usize) {
        for _ in 0..n {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn answers_come_sorted_by_context_whatever_the_arrival_order() {
        // "c" answers first, "a" last; "b" fails.
        let members = [("b", 5), ("a", 20), ("c", 0)];
        let arrived = std::sync::Mutex::new(Vec::new());
        let answers = fan_out(
            &members,
            |m| m.0,
            |m| {
                let arrived = &arrived;
                async move {
                    after_yields(m.1).await;
                    arrived.lock().unwrap().push(m.0);
                    if m.0 == "b" { Err(CliError::Usage("boom".into())) } else { Ok(m.1) }
                }
            },
        )
        .await;
        assert_eq!(*arrived.lock().unwrap(), ["c", "b", "a"], "the calls ran concurrently");
        let names: Vec<&str> = answers.iter().map(|a| a.context.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(matches!(answers[0].result, Ok(20)));
        assert!(matches!(answers[1].result, Err(CliError::Usage(_))), "an error is its context's answer");
        assert!(matches!(answers[2].result, Ok(0)));
        let err = all_answered(&answers).unwrap_err();
        assert_eq!(err.to_string(), "1 of 3 contexts did not answer");
        assert_eq!(err.exit_code(), 1);
        assert!(all_answered(&answers[..1]).is_ok());
    }

    #[tokio::test]
    async fn at_most_sixteen_calls_run_at_once() {
        let members: Vec<String> = (0..40).map(|i| format!("ctx-{i:02}")).collect();
        let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let answers = fan_out(&members, String::as_str, |_| {
            let (running, most) = (&running, &most);
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                after_yields(3).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            }
        })
        .await;
        assert_eq!(answers.len(), 40);
        assert_eq!(most.load(Ordering::SeqCst), CONCURRENCY);
    }

    #[test]
    fn failure_lines() {
        let line = |failed, total, what| CliError::Fleet { failed, total, what }.to_string();
        assert_eq!(line(1, 3, FleetFailure::NotAnswered), "1 of 3 contexts did not answer");
        assert_eq!(line(1, 3, FleetFailure::AtomicRefused), "nothing written: 1 of 3 contexts refused (--atomic)");
        assert_eq!(line(2, 3, FleetFailure::NotWritten), "2 of 3 contexts were not written");
        assert_eq!(CliError::Fleet { failed: 3, total: 3, what: FleetFailure::NotConfirmed }.exit_code(), 1);
        // diff: a context that did not answer is an error (4), as kubectl diff's "> 1".
        let diff =
            CliError::DiffFailed(Box::new(CliError::Fleet { failed: 1, total: 3, what: FleetFailure::NotAnswered }));
        assert_eq!(diff.exit_code(), 4);
    }
}
