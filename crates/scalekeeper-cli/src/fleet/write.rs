//! Fleet writes with a plan: `set` (and a hold, `set --for`), `clear` (and `clear --hold`),
//! `schedule set|clear` over the contexts a fleet selects.
//!
//! ```text
//!  every context, concurrently:  GetDeployment ─► version V ─► the write as a dry run, at V
//!  print the plan (CONTEXT DEPLOYMENT EFFECTIVE RULE RESULT)
//!  decide (pure: the plan's counts, --dry-run, --atomic, --yes, a terminal, the answer)
//!  the contexts that did not refuse, concurrently: the write, at V ─► print the report
//! ```
//!
//! Each write is conditional on the declaration's version the plan saw. The version is read
//! before the dry run, because a dry run answers the Deployment as the write would leave it:
//! its `version` is the next generation when the write changes the declaration (the server's
//! `writer::would_be`), not the one seen. A declaration changed between the plan and the write
//! fails with ABORTED in that cluster instead of being overwritten. A Deployment without a
//! declaration has no version (the API takes none as "any"): its write is unconditional.

use std::io::{self, IsTerminal as _, Write as _};

use scalekeeper_api::v1::{
    ClearDesiredReplicasRequest, Deployment, GetDeploymentRequest, ScheduleWindow, SetReplicasRequest,
    SetScheduleRequest, WriteOutcome,
};
use tonic::Status;

use super::super::CliError;
use super::super::args::{ClientCommand, Output, ScheduleCommand, parse_target};
use super::super::calls::{self, check_understood};
use super::super::render::fleet::{
    Change, PlanRow, ReportRow, Written, fleet_plan_json, fleet_report_json, render_fleet_plan, render_fleet_report,
};
use super::super::render::{emit, pretty, rule_name};
use super::super::session::{Idempotency, Session};
use super::{FleetFailure, Member, fan_out, fan_out_members};

/// The write a fleet command makes in each context, as the command line asks it (not yet bound
/// to a version).
#[derive(Debug, Clone)]
pub(super) enum Write {
    /// `set` (a hold with `--for`).
    Set(SetReplicasRequest),
    /// `clear` (`--hold`: the hold only).
    Clear(ClearDesiredReplicasRequest),
    /// `schedule set|clear`; `append`: the windows go after each context's current ones.
    Schedule {
        /// The request (its windows: the new ones).
        req: SetScheduleRequest,
        /// `schedule set --append`.
        append: bool,
    },
}

/// The flags that turn a plan into writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct WriteFlags {
    /// `--dry-run`: the plan only.
    pub dry_run: bool,
    /// `--atomic`: nothing written when any context refused.
    pub atomic: bool,
    /// `--yes`: write without asking.
    pub yes: bool,
}

impl Write {
    /// The write `cmd` asks for, and its flags.
    ///
    /// # Errors
    ///
    /// [`CliError::Usage`]: a target that is not NAMESPACE/NAME, or a command that is no fleet
    /// write.
    pub(super) fn from_command(cmd: ClientCommand) -> Result<(Write, WriteFlags), CliError> {
        let flags =
            |dry_run: bool, fleet: &super::FleetWriteArgs| WriteFlags { dry_run, atomic: fleet.atomic, yes: fleet.yes };
        let set = calls::set_request(&cmd)?;
        match cmd {
            ClientCommand::Set { dry_run, fleet, .. } => {
                let req = set.ok_or_else(|| CliError::Usage("not a set command".into()))?;
                // The plan makes its own dry run, and each write is bound to the version read.
                let req = SetReplicasRequest { expected_version: String::new(), dry_run: false, ..req };
                Ok((Write::Set(req), flags(dry_run, &fleet)))
            }
            ClientCommand::Clear { target, hold, dry_run, fleet, .. } => {
                let t = parse_target(&target)?;
                let req = ClearDesiredReplicasRequest {
                    namespace: t.namespace,
                    name: t.name,
                    expected_version: String::new(),
                    hold_only: hold,
                    dry_run: false,
                };
                Ok((Write::Clear(req), flags(dry_run, &fleet)))
            }
            ClientCommand::Schedule { command } => {
                let (target, windows, append, dry_run, fleet) = match command {
                    ScheduleCommand::Set { target, windows, replicas, append, dry_run, fleet, .. } => {
                        let windows = windows.into_iter().map(|window| ScheduleWindow { window, replicas }).collect();
                        (target, windows, append, dry_run, fleet)
                    }
                    ScheduleCommand::Clear { target, dry_run, fleet, .. } => {
                        (target, Vec::new(), false, dry_run, fleet)
                    }
                };
                let t = parse_target(&target)?;
                let req = SetScheduleRequest {
                    namespace: t.namespace,
                    name: t.name,
                    windows,
                    expected_version: String::new(),
                    dry_run: false,
                };
                Ok((Write::Schedule { req, append }, flags(dry_run, &fleet)))
            }
            other => Err(CliError::Usage(format!("{other:?} is not a write a fleet can make"))),
        }
    }

    /// The Deployment written, as NAMESPACE/NAME.
    fn target(&self) -> String {
        let GetDeploymentRequest { namespace, name } = self.read();
        format!("{namespace}/{name}")
    }

    /// The read that gives the version the write is bound to.
    fn read(&self) -> GetDeploymentRequest {
        let (namespace, name) = match self {
            Write::Set(r) => (r.namespace.clone(), r.name.clone()),
            Write::Clear(r) => (r.namespace.clone(), r.name.clone()),
            Write::Schedule { req, .. } => (req.namespace.clone(), req.name.clone()),
        };
        GetDeploymentRequest { namespace, name }
    }

    /// This write for one context, bound to `current` (the Deployment as read there): only if
    /// the declaration is still at `current.version` (none without a declaration); with
    /// `--append`, `current`'s windows first.
    fn bound_to(&self, current: &Deployment) -> Write {
        let version = current.version.clone();
        match self {
            Write::Set(r) => Write::Set(SetReplicasRequest { expected_version: version, ..r.clone() }),
            Write::Clear(r) => Write::Clear(ClearDesiredReplicasRequest { expected_version: version, ..r.clone() }),
            Write::Schedule { req, append } => {
                let windows = if *append {
                    current.schedule.iter().chain(&req.windows).cloned().collect()
                } else {
                    req.windows.clone()
                };
                Write::Schedule {
                    req: SetScheduleRequest { windows, expected_version: version, ..req.clone() },
                    append: *append,
                }
            }
        }
    }

    /// The same write as a dry run (`true`) or for real.
    fn dry_run(&self, dry_run: bool) -> Write {
        let mut w = self.clone();
        match &mut w {
            Write::Set(r) => r.dry_run = dry_run,
            Write::Clear(r) => r.dry_run = dry_run,
            Write::Schedule { req, .. } => req.dry_run = dry_run,
        }
        w
    }

    /// Whether this is a dry run.
    fn is_dry_run(&self) -> bool {
        match self {
            Write::Set(r) => r.dry_run,
            Write::Clear(r) => r.dry_run,
            Write::Schedule { req, .. } => req.dry_run,
        }
    }

    /// The version the write is conditional on (empty: none).
    fn expected_version(&self) -> &str {
        match self {
            Write::Set(r) => &r.expected_version,
            Write::Clear(r) => &r.expected_version,
            Write::Schedule { req, .. } => &req.expected_version,
        }
    }

    /// Sends the write: a dry run as a read (it writes nothing, so retrying is safe), else
    /// retried as its version allows ([`Idempotency::of_write`]). What it did, as [`Change`].
    ///
    /// # Errors
    ///
    /// The call's; [`CliError::Ignored`] when the answer shows the server did not understand
    /// the dry run (it predates them).
    async fn send(&self, session: &Session) -> Result<Change, CliError> {
        let dry_run = self.is_dry_run();
        let kind = if dry_run { Idempotency::Read } else { Idempotency::of_write(self.expected_version()) };
        let (deployment, outcome): (Option<Deployment>, Option<WriteOutcome>) = match self {
            Write::Set(r) => {
                let resp = session
                    .call(kind, |mut c| {
                        let r = r.clone();
                        async move { c.set_replicas(r).await }
                    })
                    .await?;
                (resp.deployment, resp.outcome)
            }
            Write::Clear(r) => {
                let resp = session
                    .call(kind, |mut c| {
                        let r = r.clone();
                        async move { c.clear_desired_replicas(r).await }
                    })
                    .await?;
                (resp.deployment, resp.outcome)
            }
            Write::Schedule { req, .. } => {
                let resp = session
                    .call(kind, |mut c| {
                        let r = req.clone();
                        async move { c.set_schedule(r).await }
                    })
                    .await?;
                (resp.deployment, resp.outcome)
            }
        };
        check_understood(outcome.as_ref(), dry_run, Some("--dry-run"))?;
        let o = outcome.ok_or_else(|| Status::internal("the server answered the write without its outcome"))?;
        Ok(Change {
            from: o.effective_replicas_before,
            to: o.effective_replicas_after,
            rule: deployment.map_or_else(|| "-".to_string(), |d| rule_name(d.rule)),
        })
    }
}

/// What to do after the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// `--dry-run`: the plan is all (exit 0 without a refusal, 1 with).
    PlanOnly,
    /// `--atomic` and a context refused: nothing is written (exit 1).
    AtomicRefused,
    /// Every context refused: nothing to write (exit 1).
    NothingToWrite,
    /// Ask on the terminal, then decide again with the answer.
    Ask,
    /// No `--yes`, and stdin or stderr is not a terminal: nothing is written (usage, exit 2).
    NeedYes,
    /// The answer was not yes: nothing is written (exit 1).
    Declined,
    /// Write the contexts that did not refuse.
    Write,
}

/// What to do after a plan where `ok` contexts accepted the dry run and `refused` refused it,
/// with `flags`, `terminal` (stdin and stderr are terminals), and the `answer` to the question
/// once asked (`None`: not asked yet). The rules, first that applies: `--dry-run` stops;
/// `--atomic` with a refusal writes nothing; nothing to write; `--yes` writes; no terminal is a
/// usage error; ask; `y`/`yes` (any case) writes, anything else declines.
pub(crate) fn decide(ok: usize, refused: usize, flags: WriteFlags, terminal: bool, answer: Option<&str>) -> Decision {
    if flags.dry_run {
        Decision::PlanOnly
    } else if flags.atomic && refused > 0 {
        Decision::AtomicRefused
    } else if ok == 0 {
        Decision::NothingToWrite
    } else if flags.yes {
        Decision::Write
    } else if !terminal {
        Decision::NeedYes
    } else {
        match answer.map(|a| a.trim().to_ascii_lowercase()) {
            None => Decision::Ask,
            Some(a) if a == "y" || a == "yes" => Decision::Write,
            Some(_) => Decision::Declined,
        }
    }
}

/// Whether a question can be asked: stdin and stderr are terminals.
pub(crate) fn can_ask() -> bool {
    io::stdin().is_terminal() && io::stderr().is_terminal()
}

/// Asks `QUESTION [y/N] ` on stderr (e.g. `Write to 3 contexts?`) and reads a line from stdin
/// (empty at its end).
pub(crate) async fn ask(question: &str) -> Result<String, CliError> {
    {
        let mut err = io::stderr().lock();
        write!(err, "{question} [y/N] ")?;
        err.flush()?;
    }
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        io::stdin().read_line(&mut line).map(|_| line)
    })
    .await
    .map_err(|e| CliError::Output(io::Error::other(e)))?
    .map_err(CliError::Output)
}

/// One context's plan: the write bound to the version read there, and what its dry run says.
struct Planned {
    /// The write, bound ([`Write::bound_to`]), not a dry run.
    write: Write,
    /// What the dry run says it will do.
    change: Change,
}

/// Reads the Deployment in `m`'s context, then sends the write bound to its version as a dry run.
async fn plan_one(m: &Member, write: &Write) -> Result<Planned, CliError> {
    let session = m.session()?;
    let current = calls::get(session, &write.read()).await?;
    let bound = write.bound_to(&current);
    let change = bound.dry_run(true).send(session).await?;
    Ok(Planned { write: bound, change })
}

/// Runs a fleet write: the plan on every member, printed; then, as [`decide`] says, the writes
/// to the contexts that did not refuse, and the report.
///
/// # Errors
///
/// [`CliError::Fleet`]: a refusal with `--dry-run` ([`FleetFailure::Refused`]) or `--atomic`
/// ([`FleetFailure::AtomicRefused`]), a context not written ([`FleetFailure::NotWritten`]),
/// the question answered no ([`FleetFailure::NotConfirmed`]); [`CliError::Usage`] without
/// `--yes` where nobody can be asked; [`CliError::Output`].
pub(super) async fn run(members: &[Member], write: Write, flags: WriteFlags, output: Output) -> Result<(), CliError> {
    let deployment = write.target();
    let plans = fan_out_members(members, |m| plan_one(m, &write)).await;
    let rows: Vec<PlanRow<'_>> = plans
        .iter()
        .map(|p| PlanRow {
            context: &p.context,
            deployment: &deployment,
            change: p.result.as_ref().map(|planned| &planned.change),
        })
        .collect();
    match output {
        Output::Table => emit(&render_fleet_plan(&rows))?,
        Output::Json => emit(&pretty(&fleet_plan_json(&rows))?)?,
    }
    let total = plans.len();
    let refused = plans.iter().filter(|p| p.result.is_err()).count();
    let ok = total - refused;
    let terminal = can_ask();
    let mut answer = None;
    loop {
        let fleet = |failed, what| Err(CliError::Fleet { failed, total, what });
        match decide(ok, refused, flags, terminal, answer.as_deref()) {
            Decision::PlanOnly if refused == 0 => return Ok(()),
            Decision::PlanOnly => return fleet(refused, FleetFailure::Refused),
            Decision::AtomicRefused => return fleet(refused, FleetFailure::AtomicRefused),
            Decision::NothingToWrite => return fleet(refused, FleetFailure::NotWritten),
            Decision::NeedYes => {
                return Err(CliError::Usage("not a terminal: pass --yes to write (the plan is above)".into()));
            }
            Decision::Declined => return fleet(total, FleetFailure::NotConfirmed),
            Decision::Ask => answer = Some(ask(&format!("Write to {ok} contexts?")).await?),
            Decision::Write => break,
        }
    }
    let to_write: Vec<(&Member, &Planned)> = plans
        .iter()
        .filter_map(|p| {
            let planned = p.result.as_ref().ok()?;
            members.iter().find(|m| m.context == p.context).map(|m| (m, planned))
        })
        .collect();
    let written = fan_out(
        &to_write,
        |(m, _)| m.context.as_str(),
        |(m, planned)| async move { planned.write.send(m.session()?).await },
    )
    .await;
    let report: Vec<ReportRow<'_>> = plans
        .iter()
        .map(|p| {
            let done = written.iter().find(|w| w.context == p.context).map(|w| &w.result);
            let written = match done {
                Some(Ok(change)) => Written::Applied(change),
                Some(Err(e)) => Written::Failed(e),
                None => Written::Skipped,
            };
            ReportRow { context: &p.context, deployment: &deployment, written }
        })
        .collect();
    match output {
        Output::Table => emit(&format!("\n{}", render_fleet_report(&report)))?,
        Output::Json => emit(&pretty(&fleet_report_json(&report))?)?,
    }
    let applied = written.iter().filter(|w| w.result.is_ok()).count();
    if applied == total {
        Ok(())
    } else {
        Err(CliError::Fleet { failed: total - applied, total, what: FleetFailure::NotWritten })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_plan_turns_into() {
        use Decision::*;
        let f = |dry_run, atomic, yes| WriteFlags { dry_run, atomic, yes };
        // (ok, refused, flags, terminal, answer) -> decision
        type Row = (usize, usize, WriteFlags, bool, Option<&'static str>, Decision);
        let table: &[Row] = &[
            // --dry-run stops at the plan, whatever else.
            (3, 0, f(true, false, true), true, None, PlanOnly),
            (2, 1, f(true, true, true), false, None, PlanOnly),
            // --atomic: one refusal writes nothing, even with --yes.
            (2, 1, f(false, true, true), true, None, AtomicRefused),
            (3, 0, f(false, true, true), false, None, Write),
            // Without --atomic the refused are skipped; nothing at all to write is a failure.
            (2, 1, f(false, false, true), false, None, Write),
            (0, 3, f(false, false, true), false, None, NothingToWrite),
            // No --yes: a terminal is asked, anything else refused.
            (3, 0, f(false, false, false), false, None, NeedYes),
            (3, 0, f(false, false, false), true, None, Ask),
            (3, 0, f(false, false, false), true, Some("y\n"), Write),
            (3, 0, f(false, false, false), true, Some(" YES "), Write),
            (3, 0, f(false, false, false), true, Some("n\n"), Declined),
            (3, 0, f(false, false, false), true, Some(""), Declined),
            (3, 0, f(false, false, false), true, Some("yep"), Declined),
        ];
        for &(ok, refused, flags, terminal, answer, want) in table {
            assert_eq!(
                decide(ok, refused, flags, terminal, answer),
                want,
                "{ok} {refused} {flags:?} {terminal} {answer:?}"
            );
        }
    }

    fn current(version: &str, windows: &[(&str, i32)]) -> Deployment {
        Deployment {
            version: version.into(),
            schedule: windows.iter().map(|(w, r)| ScheduleWindow { window: (*w).into(), replicas: *r }).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_write_is_bound_to_the_version_read_and_a_dry_run_is_the_same_write() {
        let set = Write::Set(SetReplicasRequest {
            namespace: "shop".into(),
            name: "web".into(),
            replicas: 5,
            ..Default::default()
        });
        assert_eq!(set.target(), "shop/web");
        let bound = set.bound_to(&current("7", &[]));
        assert_eq!(bound.expected_version(), "7");
        assert!(!bound.is_dry_run());
        let dry = bound.dry_run(true);
        assert!(dry.is_dry_run());
        assert_eq!(dry.expected_version(), "7", "the dry run checks the version the write will");
        // No declaration: no version to bind to.
        assert_eq!(set.bound_to(&current("", &[])).expected_version(), "");
    }

    #[test]
    fn append_binds_each_context_to_its_own_windows() {
        let req = SetScheduleRequest {
            namespace: "shop".into(),
            name: "web".into(),
            windows: vec![ScheduleWindow { window: "Mon 06:00-08:00 UTC".into(), replicas: 6 }],
            ..Default::default()
        };
        let append = Write::Schedule { req: req.clone(), append: true };
        let Write::Schedule { req: bound, .. } = append.bound_to(&current("3", &[("Sat-Sun 00:00-24:00 UTC", 2)]))
        else {
            panic!("a schedule write")
        };
        let windows: Vec<&str> = bound.windows.iter().map(|w| w.window.as_str()).collect();
        assert_eq!(windows, ["Sat-Sun 00:00-24:00 UTC", "Mon 06:00-08:00 UTC"]);
        assert_eq!(bound.expected_version, "3");
        let replace = Write::Schedule { req, append: false };
        let Write::Schedule { req: bound, .. } = replace.bound_to(&current("3", &[("Sat-Sun 00:00-24:00 UTC", 2)]))
        else {
            panic!("a schedule write")
        };
        assert_eq!(bound.windows.len(), 1);
    }
}
