//! Fan-out reads: `get`, `list`, `diff`, `explain` and `watch` over a fleet. Each context is
//! called as one server would be (`crate::calls`, `crate::watch`); the answers are printed
//! sorted by context, a context that did not answer in its own row.

use std::io::{self, Write as _};

use scalekeeper_api::v1::{Deployment, ExplainRequest, GetDeploymentRequest, WatchDeploymentsRequest};
use serde_json::Value;

use super::super::CliError;
use super::super::args::{Instant, Output, parse_target};
use super::super::calls;
use super::super::render::fleet::{Part, fleet_explain_json, fleet_json, render_fleet_explain, render_fleet_table};
use super::super::render::{DIFF_COLUMNS, LIST_COLUMNS, deployment_json, diff_json, diff_row, emit, list_row, pretty};
use super::super::watch::watch as watch_one;
use super::{Answer, FleetFailure, Member, all_answered, fan_out_members};

/// `get NAMESPACE/NAME` over a fleet: the list table, one row per context (JSON: the `list`
/// document).
///
/// # Errors
///
/// A target that is not NAMESPACE/NAME (usage, before any call); [`CliError::Fleet`] when a
/// context did not answer.
pub(super) async fn get(members: &[Member], target: &str, output: Output) -> Result<(), CliError> {
    let t = parse_target(target)?;
    let req = GetDeploymentRequest { namespace: t.namespace, name: t.name };
    let answers = fan_out_members(members, |m| {
        let req = &req;
        async move { calls::get(m.session()?, req).await.map(|d| vec![d]) }
    })
    .await;
    print_deployments(&answers, output)?;
    all_answered(&answers)
}

/// `list` over a fleet.
///
/// # Errors
///
/// [`CliError::Fleet`] when a context did not answer.
pub(super) async fn list(
    members: &[Member],
    namespace: Option<&str>,
    selector: Option<&str>,
    page_size: i32,
    output: Output,
) -> Result<(), CliError> {
    let answers =
        fan_out_members(members, |m| async move { calls::list(m.session()?, namespace, selector, page_size).await })
            .await;
    let nothing = answers.iter().all(|a| a.result.as_ref().is_ok_and(Vec::is_empty));
    if nothing && output == Output::Table {
        let mut err = io::stderr().lock();
        let _ = writeln!(err, "no deployments found in {} contexts", answers.len());
    } else {
        print_deployments(&answers, output)?;
    }
    all_answered(&answers)
}

/// Prints each context's Deployments: the list table with CONTEXT first, or the JSON document
/// `{"deployments": [..], "contexts": [..]}` (`render::fleet::fleet_json`).
fn print_deployments(answers: &[Answer<Vec<Deployment>>], output: Output) -> Result<(), CliError> {
    match output {
        Output::Table => emit(&render_fleet_table(LIST_COLUMNS, &table_parts(answers, list_row))),
        Output::Json => emit(&pretty(&answers_json("deployments", answers, deployment_json)?)?),
    }
}

/// Each context's rows of a fleet table (`row` makes one of an item), or its error.
fn table_parts<'a, T>(answers: &'a [Answer<Vec<T>>], row: fn(&T) -> Vec<String>) -> Vec<Part<'a>> {
    answers
        .iter()
        .map(|a| Part { context: &a.context, rows: a.result.as_ref().map(|items| items.iter().map(row).collect()) })
        .collect()
}

/// The JSON document of a fleet read (`render::fleet::fleet_json`): each context's items under
/// `key` (`to_json` prints one), the contexts that did not answer under `contexts`.
///
/// # Errors
///
/// INTERNAL when an item cannot be printed as JSON.
fn answers_json<T>(
    key: &str,
    answers: &[Answer<Vec<T>>],
    to_json: fn(&T) -> Result<Value, CliError>,
) -> Result<Value, CliError> {
    let mut parts = Vec::with_capacity(answers.len());
    for a in answers {
        let objects = match &a.result {
            Ok(items) => Ok(items.iter().map(to_json).collect::<Result<Vec<_>, _>>()?),
            Err(e) => Err(e),
        };
        parts.push((a.context.as_str(), objects));
    }
    Ok(fleet_json(key, parts))
}

/// `diff` over a fleet, with `kubectl diff`'s exit codes: Ok when every context answered and
/// nothing is out of sync.
///
/// # Errors
///
/// [`CliError::DiffFailed`] holding [`CliError::Fleet`] when a context did not answer (exit 4),
/// else [`CliError::OutOfSync`] with the number out of sync across the fleet (exit 1).
pub(super) async fn diff(
    members: &[Member],
    namespace: Option<&str>,
    selector: Option<&str>,
    output: Output,
) -> Result<(), CliError> {
    let answers =
        fan_out_members(members, |m| async move { calls::diffs(m.session()?, namespace, selector).await }).await;
    let out_of_sync: usize = answers.iter().filter_map(|a| a.result.as_ref().ok()).map(Vec::len).sum();
    let failed = answers.iter().any(|a| a.result.is_err());
    match output {
        Output::Table if out_of_sync == 0 && !failed => emit("no differences\n")?,
        Output::Table => emit(&render_fleet_table(DIFF_COLUMNS, &table_parts(&answers, diff_row)))?,
        Output::Json => emit(&pretty(&answers_json("diffs", &answers, diff_json)?)?)?,
    }
    all_answered(&answers).map_err(|e| CliError::DiffFailed(Box::new(e)))?;
    if out_of_sync == 0 { Ok(()) } else { Err(CliError::OutOfSync(out_of_sync)) }
}

/// `explain NAMESPACE/NAME` over a fleet: each context's explanation under a `== CONTEXT ==`
/// header (JSON: an array of `{"context", "explain"}` / `{"context", "error"}`).
///
/// # Errors
///
/// A target that is not NAMESPACE/NAME (usage); [`CliError::Fleet`] when a context did not
/// answer.
pub(super) async fn explain(
    members: &[Member],
    target: &str,
    at: Option<Instant>,
    output: Output,
) -> Result<(), CliError> {
    let t = parse_target(target)?;
    let req = ExplainRequest { namespace: t.namespace, name: t.name, at: at.map(Instant::to_proto) };
    let answers = fan_out_members(members, |m| {
        let req = &req;
        async move { calls::explain(m.session()?, req).await }
    })
    .await;
    let parts: Vec<_> = answers.iter().map(|a| (a.context.as_str(), a.result.as_ref())).collect();
    match output {
        Output::Table => emit(&render_fleet_explain(&parts))?,
        Output::Json => emit(&pretty(&fleet_explain_json(&parts)?)?)?,
    }
    all_answered(&answers)
}

/// `watch` over a fleet: every context's stream at once, merged into one output as the events
/// come (each line names its context); each stream reconnects as a single watch does. A stream
/// that gives up is reported on stderr and the others go on; returns when every stream ended
/// (the servers ended them, or Ctrl-C).
///
/// # Errors
///
/// [`CliError::Fleet`] ([`FleetFailure::StreamFailed`]) when any stream failed.
pub(super) async fn watch(
    members: &[Member],
    namespace: String,
    selector: String,
    output: Output,
) -> Result<(), CliError> {
    let req = WatchDeploymentsRequest { namespace, label_selector: selector };
    let streams = members.iter().map(|m| {
        let req = req.clone();
        async move {
            let result = match m.session() {
                Ok(session) => watch_one(session, req, output, Some(&m.context)).await,
                Err(e) => Err(e),
            };
            if let Some(e) = result.as_ref().err().filter(|e| !matches!(e, CliError::Output(_))) {
                let mut err = io::stderr().lock();
                let _ = writeln!(err, "watch: context {}: {e}", m.context);
            }
            result
        }
    });
    let results = futures::future::join_all(streams).await;
    let (total, failed) = (results.len(), results.iter().filter(|r| r.is_err()).count());
    // A closed stdout ends every stream alike: not a failure of the fleet (exit 0 on a closed pipe).
    if let Some(e) = results.into_iter().find_map(|r| r.err().filter(|e| matches!(e, CliError::Output(_)))) {
        return Err(e);
    }
    if failed == 0 { Ok(()) } else { Err(CliError::Fleet { failed, total, what: FleetFailure::StreamFailed }) }
}
