//! The read calls a command makes, each under the retry policy of a read: one Deployment, every
//! page of a listing or of the diff, an explanation; and the check that a write's answer
//! shows the server understood it. The single-server commands (`run`) and the
//! fan-out over a fleet (`fleet`) make them alike.

use std::future::Future;

use scalekeeper_api::v1::{
    Deployment, DeploymentDiff, DiffRequest, ExplainRequest, ExplainResponse, GetDeploymentRequest, Guard,
    ListDeploymentsRequest, Mode, SetReplicasRequest, WriteOutcome,
};
use scalekeeper_core::MAX_PAGE_SIZE;
use tonic::Status;

use super::CliError;
use super::args::{ClientCommand, HoldDuration, parse_target};
use super::session::{Idempotency, Session};

/// The SetReplicas request of a `set` command line as given (its `--expected-version` and
/// `--dry-run` included; a fleet write sets both itself); `None` for another command.
///
/// # Errors
///
/// [`CliError::Usage`]: a target that is not `NAMESPACE/NAME`.
pub(super) fn set_request(cmd: &ClientCommand) -> Result<Option<SetReplicasRequest>, CliError> {
    let ClientCommand::Set {
        target,
        replicas,
        hold_for,
        reason,
        min,
        max,
        no_bounds,
        if_current,
        dry_run,
        expected_version,
        mode,
        guard,
        break_glass,
        ..
    } = cmd
    else {
        return Ok(None);
    };
    let t = parse_target(target)?;
    Ok(Some(SetReplicasRequest {
        namespace: t.namespace,
        name: t.name,
        replicas: *replicas,
        expected_version: expected_version.clone().unwrap_or_default(),
        mode: mode.map_or(Mode::Unspecified, Mode::from) as i32,
        hold_for: hold_for.map(HoldDuration::to_proto),
        reason: reason.clone().unwrap_or_default(),
        min_replicas: *min,
        max_replicas: *max,
        clear_bounds: *no_bounds,
        dry_run: *dry_run,
        if_current_replicas: *if_current,
        guard: guard.map_or(Guard::Unspecified, Guard::from) as i32,
        break_glass: *break_glass,
    }))
}

/// The Deployments a `list` shows: every page of ListDeployments in `namespace` (every
/// namespace when `None`) matching `selector`, `page_size` per call (0: the server's default).
///
/// # Errors
///
/// The first failed call's ([`Session::call`]), or INTERNAL for a page token repeated.
pub(super) async fn list(
    session: &Session,
    namespace: Option<&str>,
    selector: Option<&str>,
    page_size: i32,
) -> Result<Vec<Deployment>, CliError> {
    all_pages(|page_token| {
        let req = ListDeploymentsRequest {
            namespace: namespace.unwrap_or_default().to_string(),
            label_selector: selector.unwrap_or_default().to_string(),
            page_size,
            page_token,
        };
        async move {
            let resp = session
                .call(Idempotency::Read, |mut c| {
                    let req = req.clone();
                    async move { c.list_deployments(req).await }
                })
                .await?;
            Ok((resp.deployments, resp.next_page_token))
        }
    })
    .await
}

/// What `diff` shows: every page of Diff in `namespace` (every namespace when `None`) matching
/// `selector`.
///
/// # Errors
///
/// The first failed call's ([`Session::call`]), or INTERNAL for a page token repeated.
pub(super) async fn diffs(
    session: &Session,
    namespace: Option<&str>,
    selector: Option<&str>,
) -> Result<Vec<DeploymentDiff>, CliError> {
    all_pages(|page_token| {
        let req = DiffRequest {
            namespace: namespace.unwrap_or_default().to_string(),
            label_selector: selector.unwrap_or_default().to_string(),
            page_size: MAX_PAGE_SIZE,
            page_token,
        };
        async move {
            let page = session
                .call(Idempotency::Read, |mut c| {
                    let req = req.clone();
                    async move { c.diff(req).await }
                })
                .await?;
            Ok((page.diffs, page.next_page_token))
        }
    })
    .await
}

/// One Deployment (GetDeployment).
///
/// # Errors
///
/// The call's ([`Session::call`]); INTERNAL when the answer holds no Deployment.
pub(super) async fn get(session: &Session, req: &GetDeploymentRequest) -> Result<Deployment, CliError> {
    session
        .call(Idempotency::Read, |mut c| {
            let req = req.clone();
            async move { c.get_deployment(req).await }
        })
        .await?
        .deployment
        .ok_or_else(|| Status::internal("the server's answer holds no deployment").into())
}

/// Why a Deployment has its count (Explain).
///
/// # Errors
///
/// The call's ([`Session::call`]).
pub(super) async fn explain(session: &Session, req: &ExplainRequest) -> Result<ExplainResponse, CliError> {
    session
        .call(Idempotency::Read, |mut c| {
            let req = req.clone();
            async move { c.explain(req).await }
        })
        .await
}

/// Every item of a paged listing: calls `page` with each page token in turn, from the first
/// page (an empty token) until the server answers an empty next token.
///
/// # Errors
///
/// The first failed call's, or INTERNAL when the server hands back the token it was given
/// (which would loop for ever).
async fn all_pages<T, F, Fut>(mut page: F) -> Result<Vec<T>, CliError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, String), CliError>>,
{
    let mut items = Vec::new();
    let mut token = String::new();
    loop {
        let (batch, next) = page(token.clone()).await?;
        items.extend(batch);
        if next.is_empty() {
            return Ok(items);
        }
        if next == token {
            return Err(Status::internal("the server returned the same page token twice").into());
        }
        token = next;
    }
}

/// Checks that the server understood what the write asked for. Every server that knows holds,
/// schedules, bounds and dry runs answers a write with an outcome; an older one ignores the
/// fields it does not know and answers none. A dry run the server did not recognise as one
/// wrote, and a hold it did not recognise declared the count for good: both are failures.
///
/// # Errors
///
/// [`CliError::Ignored`] naming `asked` (the flag that needs a newer server) when the answer
/// has no outcome, and when a dry run's outcome does not say it was one.
pub(super) fn check_understood(
    outcome: Option<&WriteOutcome>,
    dry_run: bool,
    asked: Option<&str>,
) -> Result<(), CliError> {
    let Some(flag) = asked else { return Ok(()) };
    match outcome {
        Some(o) if o.dry_run || !dry_run => Ok(()),
        Some(_) => Err(CliError::Ignored(
            "the server answered --dry-run with an outcome that is not a dry run: the write was made".to_string(),
        )),
        None => Err(CliError::Ignored(format!(
            "the server answered without a write outcome, so it predates {flag} and ignored it{}",
            if dry_run { ": the write was made" } else { "; check the result above" }
        ))),
    }
}
