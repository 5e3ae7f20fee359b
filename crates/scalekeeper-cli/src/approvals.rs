//! The two-person rule's commands against one server: `approval set|clear` (SetApproval),
//! `requests` (ListScaleRequests), `approve` and `deny`.
//!
//! `approve` binds the approval to what the approver saw:
//!
//! ```text
//! ListScaleRequests(ns, all) ──▶ the request named ──▶ its block printed (digest's first 12)
//!                                (NOT_FOUND if absent)        │
//!                                                  --yes, or y on a terminal (else exit 2)
//!                                                             ▼
//!                          ApproveScaleRequest(ns, name, the digest of the request printed)
//! ```

use std::io::{self, Write as _};

use scalekeeper_api::v1::{
    ApproveScaleRequestRequest, DenyScaleRequestRequest, ListScaleRequestsRequest, ScaleRequest, ScaleRequestPhase,
    SetApprovalRequest,
};
use tonic::Status;

use super::CliError;
use super::args::{ApprovalCommand, ClientCommand, Output, Target, parse_target};
use super::calls::check_understood;
use super::fleet::{Decision, WriteFlags, ask, can_ask, decide};
use super::render::{
    approved_json, denied_json, emit, phase_name, pretty, print_write, render_approved, render_requests_table,
    render_scale_request, requests_json,
};
use super::session::{Idempotency, Session};

/// Runs `approval set|clear`, `requests`, `approve` or `deny` on `session`.
///
/// # Errors
///
/// The calls' ([`Session::call`]); [`CliError::Usage`] for a target that is not
/// NAMESPACE/NAME, and for `approve` without `--yes` where nobody can be asked; NOT_FOUND (made
/// here) when `approve` finds no such request, FAILED_PRECONDITION (made here) when it is not
/// pending; [`CliError::NotConfirmed`] when the question is answered no; [`CliError::Output`].
pub(super) async fn run(session: &Session, cmd: ClientCommand, output: Output) -> Result<(), CliError> {
    match cmd {
        ClientCommand::Approval { command } => {
            let req = set_approval_request(&command)?;
            let dry_run = req.dry_run;
            let resp = session
                .call(Idempotency::of_write(&req.expected_version), |mut c| {
                    let req = req.clone();
                    async move { c.set_approval(req).await }
                })
                .await?;
            print_write(output, dry_run, &resp)?;
            check_understood(resp.outcome.as_ref(), dry_run, dry_run.then_some("--dry-run"))
        }
        ClientCommand::Requests { namespace, all, .. } => {
            let resp = list(session, namespace.as_deref().unwrap_or_default(), all).await?;
            match output {
                Output::Json => emit(&pretty(&requests_json(&resp)?)?),
                Output::Table if resp.requests.is_empty() => {
                    let what = if all { "scale requests" } else { "pending scale requests" };
                    let mut err = io::stderr().lock();
                    let _ = match &namespace {
                        Some(ns) => writeln!(err, "no {what} found in namespace {ns}"),
                        None => writeln!(err, "no {what} found"),
                    };
                    Ok(())
                }
                Output::Table => {
                    let now = jiff::Timestamp::now().as_second();
                    emit(&render_requests_table(&resp.requests, now, namespace.is_none()))
                }
            }
        }
        ClientCommand::Approve { target, yes, .. } => approve(session, &parse_target(&target)?, yes, output).await,
        ClientCommand::Deny { target, reason, .. } => {
            let t = parse_target(&target)?;
            let req = DenyScaleRequestRequest { namespace: t.namespace, name: t.name, reason };
            let resp = session
                .call(Idempotency::Unconditional, |mut c| {
                    let req = req.clone();
                    async move { c.deny_scale_request(req).await }
                })
                .await?;
            match output {
                Output::Json => emit(&pretty(&denied_json(&resp)?)?),
                Output::Table => {
                    let r = resp.request.ok_or_else(|| Status::internal("the server's answer holds no request"))?;
                    emit(&render_scale_request(&r))
                }
            }
        }
        _ => Err(CliError::Usage("not a command of the two-person rule".into())),
    }
}

/// The SetApproval request of `approval set` (with the rule) or `approval clear` (without).
///
/// # Errors
///
/// [`CliError::Usage`]: a target that is not NAMESPACE/NAME.
fn set_approval_request(cmd: &ApprovalCommand) -> Result<SetApprovalRequest, CliError> {
    let t = parse_target(cmd.target())?;
    let (approval, reason, expected_version, dry_run) = match cmd {
        ApprovalCommand::Set { rule, approvers, reason, expected_version, dry_run, .. } => {
            (Some(rule.to_proto(*approvers)), reason, expected_version, *dry_run)
        }
        ApprovalCommand::Clear { reason, expected_version, dry_run, .. } => (None, reason, expected_version, *dry_run),
    };
    Ok(SetApprovalRequest {
        namespace: t.namespace,
        name: t.name,
        approval,
        expected_version: expected_version.clone().unwrap_or_default(),
        dry_run,
        reason: reason.clone().unwrap_or_default(),
    })
}

/// ListScaleRequests in `namespace` (every namespace when empty), the done ones too with `all`.
async fn list(
    session: &Session,
    namespace: &str,
    all: bool,
) -> Result<scalekeeper_api::v1::ListScaleRequestsResponse, CliError> {
    let req = ListScaleRequestsRequest { namespace: namespace.to_string(), all };
    session
        .call(Idempotency::Read, |mut c| {
            let req = req.clone();
            async move { c.list_scale_requests(req).await }
        })
        .await
}

/// The request `t` names among `requests`.
///
/// # Errors
///
/// NOT_FOUND when none has its name in its namespace.
fn find(requests: Vec<ScaleRequest>, t: &Target) -> Result<ScaleRequest, CliError> {
    requests
        .into_iter()
        .find(|r| r.name == t.name && r.namespace == t.namespace)
        .ok_or_else(|| Status::not_found(format!("scale request {}/{} not found", t.namespace, t.name)).into())
}

/// Whether `r` waits for someone: an approval (Pending; or Approved, whose change failed to
/// apply and is retried by approving again) or a review (ReviewRequired: a break-glass change).
///
/// # Errors
///
/// FAILED_PRECONDITION when it does not (denied, applied, superseded, expired or reviewed).
fn pending(r: &ScaleRequest) -> Result<(), CliError> {
    let open = [ScaleRequestPhase::Pending, ScaleRequestPhase::Approved, ScaleRequestPhase::ReviewRequired];
    if open.iter().any(|p| r.phase == *p as i32) {
        return Ok(());
    }
    Err(Status::failed_precondition(format!(
        "scale request {}/{} is {}: only a pending scale request can be approved (or a break-glass one reviewed)",
        r.namespace,
        r.name,
        phase_name(r.phase)
    ))
    .into())
}

/// What to do after showing the request: approve with `--yes`; where nobody can be asked
/// (`terminal` false), refuse; else ask, and approve on `y`/`yes` (any case). As a fleet write
/// decides, with one member and nothing refused.
fn confirm(yes: bool, terminal: bool, answer: Option<&str>) -> Decision {
    decide(1, 0, WriteFlags { yes, ..WriteFlags::default() }, terminal, answer)
}

/// `approve`: reads the request, prints it (with `-o json` on stderr, so that stdout holds the
/// answer alone), asks, approves the digest printed, and prints the phase after (and the
/// outcome when this approval applied the change).
async fn approve(session: &Session, t: &Target, yes: bool, output: Output) -> Result<(), CliError> {
    let request = find(list(session, &t.namespace, true).await?.requests, t)?;
    let shown = render_scale_request(&request);
    match output {
        Output::Json => eprint!("{shown}"),
        Output::Table => emit(&shown)?,
    }
    pending(&request)?;
    let terminal = can_ask();
    let mut answer = None;
    loop {
        match confirm(yes, terminal, answer.as_deref()) {
            Decision::Write => break,
            Decision::Ask => {
                let verb = if request.phase == ScaleRequestPhase::ReviewRequired as i32 {
                    "Acknowledge the break-glass change of"
                } else {
                    "Approve"
                };
                answer = Some(ask(&format!("{verb} scale request {}/{}?", t.namespace, t.name)).await?);
            }
            Decision::NeedYes => {
                return Err(CliError::Usage("not a terminal: pass --yes to approve (the request is above)".into()));
            }
            _ => return Err(CliError::NotConfirmed("nothing approved: the answer was not yes".into())),
        }
    }
    let req = ApproveScaleRequestRequest {
        namespace: t.namespace.clone(),
        name: t.name.clone(),
        digest: request.digest.clone(),
    };
    let resp = session
        .call(Idempotency::Unconditional, |mut c| {
            let req = req.clone();
            async move { c.approve_scale_request(req).await }
        })
        .await?;
    match output {
        Output::Json => emit(&pretty(&approved_json(&resp)?)?),
        Output::Table => {
            emit("\n")?;
            emit(&render_approved(&resp))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use scalekeeper_api::v1::ApprovalRule;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(subcommand)]
        cmd: ClientCommand,
    }

    fn approval(args: &[&str]) -> ApprovalCommand {
        match Cli::try_parse_from(["sk", "approval"].iter().chain(args)).expect("parses").cmd {
            ClientCommand::Approval { command } => command,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn request(ns: &str, name: &str, phase: ScaleRequestPhase) -> ScaleRequest {
        ScaleRequest { namespace: ns.into(), name: name.into(), phase: phase as i32, ..Default::default() }
    }

    fn target(ns: &str, name: &str) -> Target {
        Target { namespace: ns.into(), name: name.into() }
    }

    #[test]
    fn approval_set_sends_the_rule_and_clear_sends_none() {
        let set = approval(&[
            "set",
            "shop/web",
            "--above",
            "20",
            "--max-step-percent",
            "50",
            "--approvers",
            "2",
            "--reason",
            "INC-1",
            "--expected-version",
            "7",
            "--dry-run",
        ]);
        let req = set_approval_request(&set).unwrap();
        assert_eq!((req.namespace.as_str(), req.name.as_str()), ("shop", "web"));
        assert_eq!(
            req.approval,
            Some(ApprovalRule { above: Some(20), below: None, max_step_percent: Some(50), approvers: 2 })
        );
        assert_eq!((req.reason.as_str(), req.expected_version.as_str(), req.dry_run), ("INC-1", "7", true));
        let req = set_approval_request(&approval(&["set", "shop/web", "--below", "3"])).unwrap();
        assert_eq!(
            req.approval,
            Some(ApprovalRule { above: None, below: Some(3), max_step_percent: None, approvers: 1 }),
            "one approver by default"
        );
        let req = set_approval_request(&approval(&["clear", "shop/web"])).unwrap();
        assert_eq!(req.approval, None, "no rule: remove it");
        assert_eq!((req.reason.as_str(), req.expected_version.as_str(), req.dry_run), ("", "", false));
        let bad = approval(&["clear", "web"]);
        assert_eq!(set_approval_request(&bad).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn approve_finds_the_request_by_namespace_and_name() {
        let all = vec![
            request("shop", "web-aaaaa", ScaleRequestPhase::Pending),
            request("pay", "web-bbbbb", ScaleRequestPhase::Pending),
            request("shop", "web-ccccc", ScaleRequestPhase::Applied),
        ];
        assert_eq!(find(all.clone(), &target("pay", "web-bbbbb")).unwrap().namespace, "pay");
        let err = find(all.clone(), &target("shop", "web-bbbbb")).unwrap_err();
        assert!(matches!(&err, CliError::Status(s) if s.code() == tonic::Code::NotFound), "{err:?}");
        assert_eq!(err.exit_code(), 1, "as `get` on a missing Deployment");
        assert_eq!(err.to_string(), "NOT_FOUND: scale request shop/web-bbbbb not found");
        let applied = find(all, &target("shop", "web-ccccc")).unwrap();
        let err = pending(&applied).unwrap_err();
        assert_eq!(
            err.to_string(),
            "FAILED_PRECONDITION: scale request shop/web-ccccc is Applied: only a pending scale request can be approved \
             (or a break-glass one reviewed)"
        );
        for open in [ScaleRequestPhase::Pending, ScaleRequestPhase::Approved, ScaleRequestPhase::ReviewRequired] {
            assert!(pending(&request("shop", "x", open)).is_ok(), "{open:?}");
        }
        for done in [ScaleRequestPhase::Denied, ScaleRequestPhase::Expired, ScaleRequestPhase::Reviewed] {
            assert!(pending(&request("shop", "x", done)).is_err(), "{done:?}");
        }
    }

    #[test]
    fn approve_asks_on_a_terminal_and_needs_yes_elsewhere() {
        // (yes, terminal, answer) -> decision
        let table = [
            (true, false, None, Decision::Write),
            (true, true, None, Decision::Write),
            (false, false, None, Decision::NeedYes),
            (false, false, Some("y"), Decision::NeedYes),
            (false, true, None, Decision::Ask),
            (false, true, Some("y\n"), Decision::Write),
            (false, true, Some(" YES\n"), Decision::Write),
            (false, true, Some("\n"), Decision::Declined),
            (false, true, Some(""), Decision::Declined),
            (false, true, Some("no"), Decision::Declined),
        ];
        for (yes, terminal, answer, want) in table {
            assert_eq!(confirm(yes, terminal, answer), want, "{yes} {terminal} {answer:?}");
        }
    }
}
