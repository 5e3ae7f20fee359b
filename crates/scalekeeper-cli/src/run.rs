//! The command runner: checks the command line, connects, makes the call(s) and prints the
//! result.

use std::io::{self, Write as _};
use std::process::ExitCode;

use scalekeeper_api::v1::{
    ChangeKind, ClearDesiredReplicasRequest, Deployment, DiffResponse, ExplainRequest, FreezeRequest,
    GetDeploymentRequest, GetHistoryRequest, Guard, HistoryEntry, PlanRequest, ScheduleWindow, SetReplicasRequest,
    SetScheduleRequest, ThawRequest, UndoRequest, WatchDeploymentsRequest,
};
use serde_json::json;

use super::CliError;
use super::approvals;
use super::args::{BulkSelectArgs, ClientCommand, Instant, Output, ScheduleCommand, parse_target};
use super::calls::{self, check_understood};
use super::contexts::resolve_one;
use super::fleet;
use super::render::{
    deployment_json, diff_response_json, emit, pretty, print_bulk, print_deployment, print_write, render_diff_table,
    render_error, render_list_table,
};
use super::render::{explain_json, plan_json, render_explain, render_plan};
use super::render::{history_json, render_history_table, render_requests_table, undo_intent};
use super::session::{Idempotency, Session};
use super::watch::watch;

/// Runs a client command; prints results to stdout and errors to stderr; returns the process
/// exit code (see the module docs).
pub async fn run(cmd: ClientCommand) -> ExitCode {
    match execute(cmd).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = e.exit_code();
            if code != 0 && !matches!(e, CliError::OutOfSync(_)) {
                let mut err = io::stderr().lock();
                let _ = err.write_all(render_error(&e).as_bytes());
                let _ = err.flush();
            }
            ExitCode::from(code)
        }
    }
}

async fn execute(cmd: ClientCommand) -> Result<(), CliError> {
    let conn = &cmd.conn().clone();
    // Check the command line before touching the configuration, the TLS files or the network.
    if let Some(target) = target_of(&cmd) {
        parse_target(target)?;
    }
    if let ClientCommand::Version { client, .. } = cmd {
        // The client's version is printed even when no server can be resolved or reached.
        return super::version::run(conn, client).await;
    }
    if fleet::is_fleet(&cmd) {
        return fleet::run(cmd).await;
    }
    let session = Session::new(resolve_one(conn)?, conn.timeout);
    let set = calls::set_request(&cmd)?;
    match cmd {
        ClientCommand::Get { target, .. } => {
            let t = parse_target(&target)?;
            let req = GetDeploymentRequest { namespace: t.namespace, name: t.name };
            print_deployment(conn.output, Some(calls::get(&session, &req).await?))
        }
        ClientCommand::Set { dry_run, .. } => {
            let req = set.ok_or_else(|| CliError::Usage("not a set command".into()))?;
            let asked = new_fields_asked(&req);
            let resp = session
                .call(Idempotency::of_write(&req.expected_version), |mut c| {
                    let req = req.clone();
                    async move { c.set_replicas(req).await }
                })
                .await?;
            print_write(conn.output, dry_run, &resp)?;
            if let Some(sr) = &resp.scale_request {
                eprintln!(
                    "break-glass (group {}): {} is applied and waits for a second identity's review: scalekeeper \
                     approve {}/{}",
                    sr.break_glass_group, sr.change, sr.namespace, sr.name
                );
            } else if req.break_glass && !dry_run {
                eprintln!(
                    "the change needed no approval: it was written (as a hold of at most an hour) and needs no review"
                );
            }
            check_understood(resp.outcome.as_ref(), dry_run, asked)?;
            check_guard_understood(resp.deployment.as_ref(), req.guard)
        }
        ClientCommand::Clear { target, hold, dry_run, expected_version, .. } => {
            let t = parse_target(&target)?;
            let req = ClearDesiredReplicasRequest {
                namespace: t.namespace,
                name: t.name,
                expected_version: expected_version.unwrap_or_default(),
                hold_only: hold,
                dry_run,
            };
            let resp = session
                .call(Idempotency::of_write(&req.expected_version), |mut c| {
                    let req = req.clone();
                    async move { c.clear_desired_replicas(req).await }
                })
                .await?;
            print_write(conn.output, dry_run, &resp)?;
            let asked = (hold || dry_run).then_some(if hold { "--hold" } else { "--dry-run" });
            check_understood(resp.outcome.as_ref(), dry_run, asked)
        }
        ClientCommand::Version { .. } => Ok(()),
        cmd @ (ClientCommand::Approval { .. }
        | ClientCommand::Requests { .. }
        | ClientCommand::Approve { .. }
        | ClientCommand::Deny { .. }) => approvals::run(&session, cmd, conn.output).await,
        ClientCommand::History { target, .. } => {
            let t = parse_target(&target)?;
            let req = GetHistoryRequest { namespace: t.namespace, name: t.name };
            let resp = session
                .call(Idempotency::Read, |mut c| {
                    let req = req.clone();
                    async move { c.get_history(req).await }
                })
                .await?;
            match conn.output {
                Output::Table => {
                    emit(&render_history_table(&resp.entries))?;
                    if resp.scale_requests.is_empty() {
                        return Ok(());
                    }
                    let now = jiff::Timestamp::now().as_second();
                    emit(&format!("\nSCALE REQUESTS\n{}", render_requests_table(&resp.scale_requests, now, false)))
                }
                Output::Json => emit(&pretty(&history_json(&resp)?)?),
            }
        }
        ClientCommand::Undo { target, dry_run, .. } => {
            let t = parse_target(&target)?;
            // Read first, to say what will be declared and to write only on the version read.
            let read = GetHistoryRequest { namespace: t.namespace.clone(), name: t.name.clone() };
            let history = session
                .call(Idempotency::Read, |mut c| {
                    let read = read.clone();
                    async move { c.get_history(read).await }
                })
                .await?;
            let version = history.deployment.as_ref().map(|d| d.version.clone()).unwrap_or_default();
            let declared = history.deployment.as_ref().and_then(|d| d.desired_replicas);
            if let Some((undone, to)) = undo_candidate(&history.entries, declared) {
                let intent = undo_intent(&target, undone, to);
                match conn.output {
                    // stdout is the JSON document alone.
                    Output::Json => eprint!("{intent}"),
                    Output::Table => emit(&intent)?,
                }
            }
            let req = UndoRequest { namespace: t.namespace, name: t.name, expected_version: version, dry_run };
            let resp = session
                .call(Idempotency::of_write(&req.expected_version), |mut c| {
                    let req = req.clone();
                    async move { c.undo(req).await }
                })
                .await?;
            print_write(conn.output, dry_run, &resp)?;
            check_understood(resp.outcome.as_ref(), dry_run, dry_run.then_some("--dry-run"))
        }
        ClientCommand::Schedule { command } => {
            let (target, windows, expected_version, dry_run) = match command {
                ScheduleCommand::Set { target, windows, replicas, append, expected_version, dry_run, .. } => {
                    let t = parse_target(&target)?;
                    (t, Some((windows, replicas, append)), expected_version, dry_run)
                }
                ScheduleCommand::Clear { target, expected_version, dry_run, .. } => {
                    (parse_target(&target)?, None, expected_version, dry_run)
                }
            };
            let (windows, expected_version) = match windows {
                Some((windows, replicas, true)) => {
                    // --append: extend what is there now, and only if it is still there.
                    let req = GetDeploymentRequest { namespace: target.namespace.clone(), name: target.name.clone() };
                    let current = calls::get(&session, &req).await?;
                    appended_schedule(current, windows, replicas, expected_version)
                }
                Some((windows, replicas, false)) => (
                    windows.into_iter().map(|window| ScheduleWindow { window, replicas }).collect(),
                    expected_version.unwrap_or_default(),
                ),
                None => (Vec::new(), expected_version.unwrap_or_default()),
            };
            let req = SetScheduleRequest {
                namespace: target.namespace,
                name: target.name,
                windows,
                expected_version,
                dry_run,
            };
            let resp = session
                .call(Idempotency::of_write(&req.expected_version), |mut c| {
                    let req = req.clone();
                    async move { c.set_schedule(req).await }
                })
                .await?;
            print_write(conn.output, dry_run, &resp)?;
            check_understood(resp.outcome.as_ref(), dry_run, Some("schedule"))
        }
        ClientCommand::List { namespace, selector, page_size, .. } => {
            let deployments = calls::list(&session, namespace.as_deref(), selector.as_deref(), page_size).await?;
            match conn.output {
                Output::Json => emit(&pretty(
                    &json!({ "deployments": deployments.iter().map(deployment_json).collect::<Result<Vec<_>, _>>()? }),
                )?),
                Output::Table if deployments.is_empty() => {
                    let mut err = io::stderr().lock();
                    let _ = match &namespace {
                        Some(ns) => writeln!(err, "no deployments found in namespace {ns}"),
                        None => writeln!(err, "no deployments found"),
                    };
                    Ok(())
                }
                Output::Table => emit(&render_list_table(&deployments)),
            }
        }
        ClientCommand::Diff { namespace, selector, .. } => {
            diff(&session, namespace, selector, conn.output).await.map_err(|e| match e {
                CliError::OutOfSync(_) => e,
                e => CliError::DiffFailed(Box::new(e)),
            })
        }
        ClientCommand::Explain { target, at, .. } => {
            let t = parse_target(&target)?;
            let req = ExplainRequest { namespace: t.namespace, name: t.name, at: at.map(Instant::to_proto) };
            let resp = calls::explain(&session, &req).await?;
            match conn.output {
                Output::Json => emit(&pretty(&explain_json(&resp)?)?),
                Output::Table => emit(&render_explain(&resp)),
            }
        }
        ClientCommand::Plan { target, next, .. } => {
            let t = parse_target(&target)?;
            let req = PlanRequest { namespace: t.namespace, name: t.name, horizon: Some(next.to_proto()) };
            let resp = session
                .call(Idempotency::Read, |mut c| {
                    let req = req.clone();
                    async move { c.plan(req).await }
                })
                .await?;
            match conn.output {
                Output::Json => emit(&pretty(&plan_json(&resp)?)?),
                Output::Table => emit(&render_plan(&resp, &next.human())),
            }
        }
        ClientCommand::Freeze { select, hold_for, reason, dry_run, .. } => {
            let BulkSelectArgs { namespaces, all_namespaces, selector } = select;
            let req = FreezeRequest {
                namespaces,
                all_namespaces,
                label_selector: selector.unwrap_or_default(),
                hold_for: Some(hold_for.to_proto()),
                reason,
                dry_run,
            };
            let resp = session
                .call(Idempotency::Unconditional, |mut c| {
                    let req = req.clone();
                    async move { c.freeze(req).await }
                })
                .await?;
            print_bulk(conn.output, &resp)
        }
        ClientCommand::Thaw { select, dry_run, .. } => {
            let BulkSelectArgs { namespaces, all_namespaces, selector } = select;
            let req = ThawRequest { namespaces, all_namespaces, label_selector: selector.unwrap_or_default(), dry_run };
            let resp = session
                .call(Idempotency::Unconditional, |mut c| {
                    let req = req.clone();
                    async move { c.thaw(req).await }
                })
                .await?;
            print_bulk(conn.output, &resp)
        }
        ClientCommand::Watch { namespace, selector, .. } => {
            let req = WatchDeploymentsRequest {
                namespace: namespace.unwrap_or_default(),
                label_selector: selector.unwrap_or_default(),
            };
            watch(&session, req, conn.output, None).await
        }
    }
}

/// The `NAMESPACE/NAME` target of a command that has one.
fn target_of(cmd: &ClientCommand) -> Option<&str> {
    match cmd {
        ClientCommand::Get { target, .. }
        | ClientCommand::Set { target, .. }
        | ClientCommand::Clear { target, .. }
        | ClientCommand::History { target, .. }
        | ClientCommand::Undo { target, .. }
        | ClientCommand::Explain { target, .. }
        | ClientCommand::Plan { target, .. }
        | ClientCommand::Approve { target, .. }
        | ClientCommand::Deny { target, .. } => Some(target),
        ClientCommand::Approval { command } => Some(command.target()),
        ClientCommand::Schedule {
            command: ScheduleCommand::Set { target, .. } | ScheduleCommand::Clear { target, .. },
        } => Some(target),
        ClientCommand::List { .. }
        | ClientCommand::Diff { .. }
        | ClientCommand::Watch { .. }
        | ClientCommand::Freeze { .. }
        | ClientCommand::Thaw { .. }
        | ClientCommand::Requests { .. }
        | ClientCommand::Version { .. } => None,
    }
}

/// The schedule `schedule set --append` sends, and the version it sends it with: the windows
/// `current` has, then one window per `windows` entry with `replicas`; the version is
/// `expected_version` when the user gave one, else the version `current` was read at (empty
/// for a Deployment without a declaration, which the server takes as any version).
/// The declaration an undo reverts, as the history shows it, and the count it declares again:
/// the newest Declared entry, when it declared the count `declared` now and has a count before
/// it. For the message printed before the call only: the server applies the rule (and says why
/// when there is nothing to undo, or the history has not caught up with the declaration).
fn undo_candidate(entries: &[HistoryEntry], declared: Option<i32>) -> Option<(&HistoryEntry, i32)> {
    let newest = entries.iter().rev().find(|e| e.kind == ChangeKind::Declared as i32)?;
    (Some(newest.to_replicas) == declared).then_some((newest, newest.from_replicas?))
}

fn appended_schedule(
    current: Deployment,
    windows: Vec<String>,
    replicas: i32,
    expected_version: Option<String>,
) -> (Vec<ScheduleWindow>, String) {
    let mut schedule = current.schedule;
    schedule.extend(windows.into_iter().map(|window| ScheduleWindow { window, replicas }));
    (schedule, expected_version.unwrap_or(current.version))
}

/// The first flag of `set` that a server predating holds, bounds and dry runs would ignore
/// without a word, if the request uses one.
fn new_fields_asked(req: &SetReplicasRequest) -> Option<&'static str> {
    [
        (req.dry_run, "--dry-run"),
        (req.hold_for.is_some(), "--for"),
        (req.if_current_replicas.is_some(), "--if-current"),
        (req.min_replicas.is_some(), "--min"),
        (req.max_replicas.is_some(), "--max"),
        (req.clear_bounds, "--no-bounds"),
    ]
    .into_iter()
    .find_map(|(used, flag)| used.then_some(flag))
}

/// Checks that the server set the `--guard` asked for: a server that predates guards ignores
/// the field and answers a Deployment with no guard.
///
/// # Errors
///
/// [`CliError::Ignored`] when a guard was asked and the Deployment in the answer has another.
fn check_guard_understood(deployment: Option<&Deployment>, asked: i32) -> Result<(), CliError> {
    if asked == Guard::Unspecified as i32 || deployment.is_some_and(|d| d.guard == asked) {
        return Ok(());
    }
    Err(CliError::Ignored(
        "the server answered with a Deployment without the guard asked for, so it predates --guard and ignored it; \
         check the result above"
            .to_string(),
    ))
}

/// `diff`: every page of the Diff call, printed; [`CliError::OutOfSync`] when anything is
/// (exit code 1, as `kubectl diff`).
async fn diff(
    session: &Session,
    namespace: Option<String>,
    selector: Option<String>,
    output: Output,
) -> Result<(), CliError> {
    let diffs = calls::diffs(session, namespace.as_deref(), selector.as_deref()).await?;
    let resp = DiffResponse { diffs, next_page_token: String::new() };
    match output {
        Output::Json => emit(&pretty(&diff_response_json(&resp)?)?)?,
        Output::Table if resp.diffs.is_empty() => emit("no differences\n")?,
        Output::Table => emit(&render_diff_table(&resp.diffs))?,
    }
    if resp.diffs.is_empty() { Ok(()) } else { Err(CliError::OutOfSync(resp.diffs.len())) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scalekeeper_api::v1::WriteOutcome;

    fn window(w: &str, replicas: i32) -> ScheduleWindow {
        ScheduleWindow { window: w.into(), replicas }
    }

    #[test]
    fn append_keeps_the_current_windows_and_sends_the_version_read() {
        let current = Deployment {
            version: "41".into(),
            schedule: vec![window("Sat-Sun 00:00-24:00 UTC", 2)],
            ..Default::default()
        };
        let new = vec!["Mon-Fri 08:00-20:00 Europe/Berlin".to_string(), "Mon 06:00-08:00 UTC".to_string()];
        let (windows, version) = appended_schedule(current.clone(), new.clone(), 6, None);
        assert_eq!(
            windows,
            [
                window("Sat-Sun 00:00-24:00 UTC", 2),
                window("Mon-Fri 08:00-20:00 Europe/Berlin", 6),
                window("Mon 06:00-08:00 UTC", 6)
            ]
        );
        assert_eq!(version, "41");
        // A version the user gave wins over the one read.
        let (_, version) = appended_schedule(current, new, 6, Some("40".into()));
        assert_eq!(version, "40");
    }

    #[test]
    fn undo_names_the_newest_declaration_only_when_it_is_the_current_one() {
        let e = |kind: ChangeKind, from: Option<i32>, to: i32| HistoryEntry {
            kind: kind as i32,
            from_replicas: from,
            to_replicas: to,
            ..Default::default()
        };
        let h = [
            e(ChangeKind::Declared, None, 3),
            e(ChangeKind::Declared, Some(3), 5),
            e(ChangeKind::DriftCorrected, Some(9), 5),
        ];
        assert_eq!(undo_candidate(&h, Some(5)).map(|(u, to)| (u.to_replicas, to)), Some((5, 3)));
        assert!(undo_candidate(&h, Some(7)).is_none(), "the history has not caught up");
        assert!(undo_candidate(&h[..1], Some(3)).is_none(), "nothing before the first");
        assert!(undo_candidate(&[], None).is_none());
    }

    #[test]
    fn flags_an_old_server_would_ignore() {
        let plain =
            SetReplicasRequest { namespace: "shop".into(), name: "web".into(), replicas: 3, ..Default::default() };
        assert_eq!(new_fields_asked(&plain), None);
        let with_mode = SetReplicasRequest {
            mode: scalekeeper_api::v1::Mode::Observe as i32,
            expected_version: "4".into(),
            ..plain.clone()
        };
        assert_eq!(new_fields_asked(&with_mode), None);
        let cases = [
            (SetReplicasRequest { dry_run: true, ..plain.clone() }, "--dry-run"),
            (
                SetReplicasRequest { hold_for: Some(prost_types::Duration { seconds: 60, nanos: 0 }), ..plain.clone() },
                "--for",
            ),
            (SetReplicasRequest { if_current_replicas: Some(0), ..plain.clone() }, "--if-current"),
            (SetReplicasRequest { min_replicas: Some(1), ..plain.clone() }, "--min"),
            (SetReplicasRequest { max_replicas: Some(9), ..plain.clone() }, "--max"),
            (SetReplicasRequest { clear_bounds: true, ..plain }, "--no-bounds"),
        ];
        for (req, flag) in cases {
            assert_eq!(new_fields_asked(&req), Some(flag));
        }
    }

    #[test]
    fn an_ignored_dry_run_or_hold_is_a_failure() {
        let dry = WriteOutcome { dry_run: true, ..Default::default() };
        let wet = WriteOutcome::default();
        // Nothing new asked: whatever the answer, fine (an old server answers no outcome).
        assert!(check_understood(None, false, None).is_ok());
        assert!(check_understood(Some(&dry), true, Some("--dry-run")).is_ok());
        assert!(check_understood(Some(&wet), false, Some("--for")).is_ok());
        let err = check_understood(None, true, Some("--dry-run")).unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert!(
            err.to_string().contains("predates --dry-run") && err.to_string().contains("the write was made"),
            "{err}"
        );
        let err = check_understood(None, false, Some("--for")).unwrap_err();
        assert!(err.to_string().contains("predates --for"), "{err}");
        let err = check_understood(Some(&wet), true, Some("--dry-run")).unwrap_err();
        assert!(err.to_string().contains("the write was made"), "{err}");
    }
}
