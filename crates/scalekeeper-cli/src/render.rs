//! The output of the client commands: tables and `key: value` blocks, proto3 JSON, and
//! errors with their hints for stderr.

use std::error::Error as StdError;
use std::io::{self, Write as _};

use std::sync::LazyLock;

use prost_reflect::{DescriptorError, DescriptorPool, DynamicMessage, SerializeOptions};
use scalekeeper_api::v1::{
    ApprovalRule, ClearDesiredReplicasResponse, Deployment, DeploymentDiff, DiffResponse, EventType, Guard, Hold, Mode,
    Rule, SetApprovalResponse, SetReplicasResponse, SetScheduleResponse, SyncStatus, UndoResponse,
    WatchDeploymentsResponse, WriteOutcome,
};
use serde_json::Value;
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

use super::CliError;
use super::args::Output;

pub use scalekeeper_api::code_name;

mod approval;
pub(super) mod fleet;
mod incident;

pub use approval::{
    approved_json, denied_json, phase_name, render_approved, render_requests_table, render_scale_request,
    requests_json, short_digest,
};

pub(super) use incident::print_bulk;
pub use incident::{
    BulkResponse, bulk_summary, explain_json, history_json, plan_json, render_bulk_table, render_explain,
    render_history_table, render_plan, undo_intent,
};

/// A status's message, followed by the client-side cause when the client made the status.
pub(super) fn status_text(status: &Status) -> String {
    let msg = status.message();
    match status.source().map(error_chain) {
        None => msg.to_string(),
        Some(cause) if cause.starts_with(msg) || msg == "transport error" => cause,
        Some(cause) if msg.contains(&cause) => msg.to_string(),
        Some(cause) => format!("{msg}: {cause}"),
    }
}

/// `CODE_NAME: message`, or `CODE_NAME` when there is no message.
pub(super) fn status_line(status: &Status) -> String {
    let text = status_text(status);
    if text.is_empty() { code_name(status.code()).to_string() } else { format!("{}: {text}", code_name(status.code())) }
}

/// What to do about a status, when there is something to say. A FAILED_PRECONDITION of the
/// two-person rule carries its own advice, and the generic one about bounds and
/// `--if-current` would mislead: the server marks those with an ErrorInfo reason
/// (`APPROVAL_REQUIRED`, `SCALE_REQUEST_REFUSED`); a message that names an approval rule
/// (removing a rule first) is one too.
fn status_hint(status: &Status) -> Option<&'static str> {
    use tonic_types::StatusExt as _;
    let reason =
        status.get_details_error_info().filter(|i| i.domain == scalekeeper_api::ERROR_DOMAIN).map(|i| i.reason);
    let two_person = matches!(
        reason.as_deref(),
        Some(scalekeeper_api::REASON_APPROVAL_REQUIRED | scalekeeper_api::REASON_SCALE_REQUEST_REFUSED)
    ) || status.message().contains("approval rule");
    match status.code() {
        Code::FailedPrecondition if two_person => None,
        Code::PermissionDenied => Some(
            "the server identifies you by your client certificate (--cert), and that identity is not allowed \
             to do this; use a certificate whose identity is, or ask an administrator to grant it",
        ),
        Code::Unauthenticated => Some(
            "the server could not identify you from your client certificate (--cert); use a certificate \
             with an identity (SAN URI, SAN DNS name or CN) issued by a CA the server trusts",
        ),
        Code::Unavailable => Some("the server or Kubernetes is unavailable; retry in a moment"),
        Code::DeadlineExceeded => Some("no answer in time; retry, or give the call longer with --timeout"),
        Code::Aborted => Some(
            "the declaration changed since you read it; run `scalekeeper get NAMESPACE/NAME` for the current \
             VERSION and retry",
        ),
        Code::FailedPrecondition => Some(
            "the write's condition does not hold now (a bound, --if-current, or an HPA owns the count); \
             `scalekeeper get NAMESPACE/NAME` shows the current state",
        ),
        _ => None,
    }
}

/// Renders a failed call's status for stderr: `error: CODE_NAME: message`, one
/// `  - field: description` line per `google.rpc.BadRequest` field violation that the
/// message does not already state, and a hint line for codes that call for one. Ends with
/// a newline.
pub fn render_status(status: &Status) -> String {
    let mut out = format!("error: {}\n", status_line(status));
    if let Some(bad) = status.get_error_details().bad_request() {
        // The message often repeats the violations already; list only what it lacks.
        for v in bad.field_violations.iter().filter(|v| !status.message().contains(&v.description)) {
            out.push_str(&format!("  - {}: {}\n", v.field, v.description));
        }
    }
    if let Some(hint) = status_hint(status) {
        out.push_str(&format!("hint: {hint}\n"));
    }
    out
}

/// Renders any [`CliError`] for stderr, ending with a newline.
pub fn render_error(err: &CliError) -> String {
    match err {
        CliError::Status(s) => render_status(s),
        CliError::DiffFailed(inner) => render_error(inner),
        CliError::Tls { hint: Some(hint), .. } | CliError::Unreachable { hint: Some(hint), .. } => {
            format!("error: {err}\nhint: {hint}\n")
        }
        _ => format!("error: {err}\n"),
    }
}

/// An error and its sources as `a: b: c`, skipping generic or repeated parts.
pub(super) fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut e = Some(err);
    while let Some(cur) = e {
        let s = cur.to_string();
        if !s.is_empty() && s != "transport error" && !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        e = cur.source();
    }
    if parts.is_empty() { err.to_string() } else { parts.join(": ") }
}

fn dash(s: &str) -> String {
    if s.is_empty() { "-".to_string() } else { s.to_string() }
}

fn desired(d: Option<i32>) -> String {
    d.map_or_else(|| "-".to_string(), |n| n.to_string())
}

/// The short name of a sync status for tables, e.g. `IN_SYNC`; unknown values as numbers.
pub fn sync_name(v: i32) -> String {
    match SyncStatus::try_from(v) {
        Ok(s) => s.as_str_name().trim_start_matches("SYNC_STATUS_").to_string(),
        Err(_) => v.to_string(),
    }
}

/// The short name of a mode for tables, e.g. `ENFORCE`; `-` when unspecified (unmanaged).
pub fn mode_name(v: i32) -> String {
    match Mode::try_from(v) {
        Ok(Mode::Unspecified) => "-".to_string(),
        Ok(m) => m.as_str_name().trim_start_matches("MODE_").to_string(),
        Err(_) => v.to_string(),
    }
}

/// The short name of a guard for tables, e.g. `DENY`; `-` when unspecified (unmanaged).
pub fn guard_name(v: i32) -> String {
    match Guard::try_from(v) {
        Ok(Guard::Unspecified) => "-".to_string(),
        Ok(g) => g.as_str_name().trim_start_matches("GUARD_").to_string(),
        Err(_) => v.to_string(),
    }
}

/// The short name of a rule for tables: `declared`, `hold` or `schedule`; `-` when unspecified
/// (unmanaged); unknown values as numbers.
pub fn rule_name(v: i32) -> String {
    match Rule::try_from(v) {
        Ok(Rule::Unspecified) => "-".to_string(),
        Ok(r) => r.as_str_name().trim_start_matches("RULE_").to_ascii_lowercase(),
        Err(_) => v.to_string(),
    }
}

/// A timestamp as RFC 3339 in UTC, in whole seconds: `2026-11-29T14:00:00Z`.
fn rfc3339_seconds(t: &prost_types::Timestamp) -> String {
    prost_types::Timestamp { seconds: t.seconds, nanos: 0 }.to_string()
}

/// A hold as `10 until 2026-11-29T14:00:00Z by alice: INC-123`, leaving out the parts it lacks.
fn hold_text(h: &Hold) -> String {
    let mut out = h.replicas.to_string();
    if let Some(until) = &h.until {
        out.push_str(&format!(" until {}", rfc3339_seconds(until)));
    }
    if !h.set_by.is_empty() {
        out.push_str(&format!(" by {}", h.set_by));
    }
    if !h.reason.is_empty() {
        out.push_str(&format!(": {}", h.reason));
    }
    out
}

/// The bounds as `min 2, max 10`, `min 2` or `max 10`; `-` without any.
fn bounds_text(min: Option<i32>, max: Option<i32>) -> String {
    match (min, max) {
        (Some(lo), Some(hi)) => format!("min {lo}, max {hi}"),
        (Some(lo), None) => format!("min {lo}"),
        (None, Some(hi)) => format!("max {hi}"),
        (None, None) => "-".to_string(),
    }
}

/// An approval rule as `above 20, below 3, step 50%, 1 approver`, leaving out the parts it
/// lacks (approvers 0 is 1, as the API says).
pub(super) fn approval_text(r: &ApprovalRule) -> String {
    let mut parts = Vec::new();
    if let Some(n) = r.above {
        parts.push(format!("above {n}"));
    }
    if let Some(n) = r.below {
        parts.push(format!("below {n}"));
    }
    if let Some(p) = r.max_step_percent {
        parts.push(format!("step {p}%"));
    }
    let approvers = r.approvers.max(1);
    parts.push(format!("{approvers} approver{}", if approvers == 1 { "" } else { "s" }));
    parts.join(", ")
}

/// The next change of the effective count as `2026-11-29T14:00:00Z -> 4`; `-` when none is due.
fn next_change(d: &Deployment) -> String {
    match (&d.next_change_at, d.next_replicas) {
        (Some(at), Some(n)) => format!("{} -> {n}", rfc3339_seconds(at)),
        (Some(at), None) => rfc3339_seconds(at),
        (None, _) => "-".to_string(),
    }
}

/// The schedule as one `"WINDOW" -> N` line per window; `-` without windows.
fn schedule_text(d: &Deployment) -> String {
    if d.schedule.is_empty() {
        return "-".to_string();
    }
    d.schedule.iter().map(|w| format!("\"{}\" -> {}", w.window, w.replicas)).collect::<Vec<_>>().join("\n")
}

/// The short name of a watch event type, e.g. `MODIFIED`.
pub fn event_name(v: i32) -> String {
    match EventType::try_from(v) {
        Ok(t) => t.as_str_name().trim_start_matches("EVENT_TYPE_").to_string(),
        Err(_) => v.to_string(),
    }
}

/// Aligns `rows` under `headers` like kubectl: each column as wide as its widest cell, columns
/// three spaces apart, no trailing spaces. Ends with a newline.
///
/// A row with fewer cells than `headers` ends with a cell that spans the columns it lacks (a
/// fleet's `CONTEXT   error: UNAVAILABLE: ...` row): that cell widens no column.
pub fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        let spans = row.len() < headers.len();
        let measured = if spans { row.len().saturating_sub(1) } else { row.len() };
        for (i, cell) in row.iter().take(measured).enumerate() {
            let n = cell.chars().count();
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(n),
                None => widths.push(n),
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                l.push_str("   ");
            }
            l.push_str(cell);
            let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(cell.chars().count());
            l.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// Renders one Deployment as a `KEY: value` block (keys aligned; a value of several lines, such
/// as a schedule of several windows, continues at the value column), ending with a newline.
pub fn render_deployment(d: &Deployment) -> String {
    let st = d.status.unwrap_or_default();
    let rows: [(&str, String); 22] = [
        ("NAMESPACE", dash(&d.namespace)),
        ("NAME", dash(&d.name)),
        ("DESIRED", desired(d.desired_replicas)),
        ("EFFECTIVE", desired(d.effective_replicas)),
        ("RULE", dash(&d.rule_detail)),
        ("SPEC", d.spec_replicas.to_string()),
        ("READY", format!("{}/{}", st.ready_replicas, d.spec_replicas)),
        ("UPDATED", st.updated_replicas.to_string()),
        ("AVAILABLE", st.available_replicas.to_string()),
        ("SYNC", sync_name(d.sync_status)),
        ("REASON", dash(&d.reason)),
        ("MODE", mode_name(d.mode)),
        ("GUARD", guard_name(d.guard)),
        ("HOLD", d.hold.as_ref().map_or_else(|| "-".to_string(), hold_text)),
        ("SCHEDULE", schedule_text(d)),
        ("BOUNDS", bounds_text(d.min_replicas, d.max_replicas)),
        ("APPROVAL", d.approval.as_ref().map_or_else(|| "-".to_string(), approval_text)),
        ("REQUESTS", open_requests_text(d)),
        ("NEXT CHANGE", next_change(d)),
        ("VERSION", dash(&d.version)),
        ("LAST SET BY", dash(&d.last_set_by)),
        ("LAST SET AT", d.last_set_at.map_or_else(|| "-".to_string(), |t| t.to_string())),
    ];
    render_block(&rows)
}

/// The Deployment's open ScaleRequests, one per line: `web-x7k2p Pending 0/1: declare 0
/// replicas (alice)`; `-` when there are none.
fn open_requests_text(d: &Deployment) -> String {
    if d.scale_requests.is_empty() {
        return "-".to_string();
    }
    d.scale_requests
        .iter()
        .map(|r| {
            format!(
                "{} {} {}/{}: {} ({})",
                r.name,
                phase_name(r.phase),
                r.approved_by.len(),
                r.approvals_needed.max(1),
                r.change.escape_default(),
                r.requester.escape_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Renders `KEY: value` rows as a block, keys aligned; a value of several lines continues at
/// the value column. Ends with a newline.
pub(super) fn render_block(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    let indent = " ".repeat(width + 1);
    rows.iter()
        .map(|(k, v)| {
            let mut lines = v.split('\n');
            let mut out = format!("{:<width$} {}\n", format!("{k}:"), lines.next().unwrap_or_default());
            for l in lines {
                out.push_str(&format!("{indent}{l}\n"));
            }
            out
        })
        .collect()
}

/// Renders what a write did (or, with `dry_run`, would do), ending with a newline:
///
/// ```text
/// DRY RUN: nothing was written
/// EFFECTIVE: 4 -> 10 (hold until 2026-11-29T14:00:00Z by alice: INC-123)
/// SPEC: 4 -> 10
/// CONFLICT: an HPA owns the count
/// ENFORCEMENT: suspended by the flap guard; this write resumes it
/// ```
///
/// The first line only for a dry run; `SPEC: 4 (unchanged)` when the write does not scale; one
/// `CONFLICT` line per conflict; `ENFORCEMENT` only while the flap guard suspends enforcement.
pub fn render_outcome(o: &WriteOutcome) -> String {
    let mut out = String::new();
    if o.dry_run {
        out.push_str("DRY RUN: nothing was written\n");
    }
    out.push_str(&format!("EFFECTIVE: {} -> {}", o.effective_replicas_before, o.effective_replicas_after));
    if !o.rule_detail_after.is_empty() {
        out.push_str(&format!(" ({})", o.rule_detail_after));
    }
    out.push('\n');
    if o.spec_replicas_before == o.spec_replicas_after {
        out.push_str(&format!("SPEC: {} (unchanged)\n", o.spec_replicas_before));
    } else {
        out.push_str(&format!("SPEC: {} -> {}\n", o.spec_replicas_before, o.spec_replicas_after));
    }
    for c in &o.conflicts {
        out.push_str(&format!("CONFLICT: {c}\n"));
    }
    match (o.enforcement_suspended, o.resumes_enforcement) {
        (true, true) => out.push_str("ENFORCEMENT: suspended by the flap guard; this write resumes it\n"),
        (true, false) => out.push_str("ENFORCEMENT: suspended by the flap guard\n"),
        (false, _) => {}
    }
    out
}

/// Renders a write's answer for `-o table`: the Deployment's block, then (after an empty line)
/// the outcome's, when the server sent one.
fn render_write(d: &Deployment, outcome: Option<&WriteOutcome>) -> String {
    let mut out = render_deployment(d);
    if let Some(o) = outcome {
        out.push('\n');
        out.push_str(&render_outcome(o));
    }
    out
}

/// Renders `list` output: `NAMESPACE NAME DESIRED EFFECTIVE SPEC READY SYNC MODE RULE NEXT`, where
/// RULE is `declared`, `hold`, `schedule` or `-`, and NEXT the next change of the effective count
/// (`2026-11-29T14:00:00Z -> 4`) or `-`.
pub fn render_list_table(deployments: &[Deployment]) -> String {
    render_table(LIST_COLUMNS, &deployments.iter().map(list_row).collect::<Vec<_>>())
}

/// The columns of the `list` table (a fleet's has CONTEXT first: `render::fleet`).
pub(super) const LIST_COLUMNS: &[&str] =
    &["NAMESPACE", "NAME", "DESIRED", "EFFECTIVE", "SPEC", "READY", "SYNC", "MODE", "RULE", "NEXT"];

/// One Deployment's row of the `list` table, under [`LIST_COLUMNS`].
pub(super) fn list_row(d: &Deployment) -> Vec<String> {
    vec![
        d.namespace.clone(),
        d.name.clone(),
        desired(d.desired_replicas),
        desired(d.effective_replicas),
        d.spec_replicas.to_string(),
        format!("{}/{}", d.status.unwrap_or_default().ready_replicas, d.spec_replicas),
        sync_name(d.sync_status),
        mode_name(d.mode),
        rule_name(d.rule),
        next_change(d),
    ]
}

/// Renders `diff` output: `NAMESPACE NAME SYNC DESIRED EFFECTIVE SPEC READY REASON`.
pub fn render_diff_table(diffs: &[DeploymentDiff]) -> String {
    render_table(DIFF_COLUMNS, &diffs.iter().map(diff_row).collect::<Vec<_>>())
}

/// The columns of the `diff` table (a fleet's has CONTEXT first: `render::fleet`).
pub(super) const DIFF_COLUMNS: &[&str] =
    &["NAMESPACE", "NAME", "SYNC", "DESIRED", "EFFECTIVE", "SPEC", "READY", "REASON"];

/// One Deployment's row of the `diff` table, under [`DIFF_COLUMNS`].
pub(super) fn diff_row(d: &DeploymentDiff) -> Vec<String> {
    vec![
        d.namespace.clone(),
        d.name.clone(),
        sync_name(d.sync_status),
        d.desired_replicas.to_string(),
        d.effective_replicas.to_string(),
        d.spec_replicas.to_string(),
        format!("{}/{}", d.ready_replicas, d.spec_replicas),
        dash(&d.reason),
    ]
}

/// Renders one watch event as a line (no newline):
/// `TYPE NAMESPACE/NAME desired=.. effective=.. spec=.. ready=.. sync=.. rule=..` (then
/// ` requests=NAME:PHASE,..` while the Deployment has open ScaleRequests), or
/// `SYNCED (initial state complete)`.
pub fn render_watch_event(event: &WatchDeploymentsResponse) -> String {
    if event.r#type == EventType::Synced as i32 {
        return "SYNCED (initial state complete)".to_string();
    }
    let ty = event_name(event.r#type);
    match &event.deployment {
        Some(d) => {
            format!(
                "{ty} {}/{} desired={} effective={} spec={} ready={} sync={} rule={}",
                d.namespace,
                d.name,
                desired(d.desired_replicas),
                desired(d.effective_replicas),
                d.spec_replicas,
                d.status.unwrap_or_default().ready_replicas,
                sync_name(d.sync_status),
                rule_name(d.rule),
            ) + &watch_requests(d)
        }
        None => ty,
    }
}

/// ` requests=NAME:PHASE,...` for a Deployment with open ScaleRequests, else nothing.
fn watch_requests(d: &Deployment) -> String {
    if d.scale_requests.is_empty() {
        return String::new();
    }
    let each: Vec<String> = d.scale_requests.iter().map(|r| format!("{}:{}", r.name, phase_name(r.phase))).collect();
    format!(" requests={}", each.join(","))
}

/// The API's descriptors (embedded by `scalekeeper-api`), from which [`proto_json`] prints.
static DESCRIPTORS: LazyLock<Result<DescriptorPool, DescriptorError>> =
    LazyLock::new(|| DescriptorPool::decode(scalekeeper_api::FILE_DESCRIPTOR_SET));

/// Options of the proto3 JSON mapping the client prints: canonical, except that fields at their
/// default are printed too (`"reason": ""`, `"desiredReplicas": 0` when declared 0), so that
/// every document has the same keys. Unset `optional` fields and absent messages are left out.
const JSON_OPTIONS: SerializeOptions = SerializeOptions::new().skip_default_fields(false);

/// `msg`, the message `name` of the API, in the proto3 JSON mapping, printed by prost-reflect's
/// serializer: lowerCamelCase field names, enums as their full value names (numbers when
/// unknown), int64 as strings, Timestamps as RFC 3339, maps as objects.
pub(super) fn proto_json<M: prost_reflect::prost::Message>(msg: &M, name: &str) -> Result<Value, CliError> {
    let fail = |what: String| CliError::from(Status::internal(format!("cannot print {name} as JSON: {what}")));
    let pool = DESCRIPTORS.as_ref().map_err(|e| fail(e.to_string()))?;
    let desc = pool.get_message_by_name(name).ok_or_else(|| fail("not in the API's descriptors".to_string()))?;
    let mut dynamic = DynamicMessage::new(desc);
    dynamic.transcode_from(msg).map_err(|e| fail(e.to_string()))?;
    dynamic.serialize_with_options(serde_json::value::Serializer, &JSON_OPTIONS).map_err(|e| fail(e.to_string()))
}

/// A Deployment in the proto3 JSON mapping (see `JSON_OPTIONS`): `desiredReplicas` omitted
/// when unset, `status` and `lastSetAt` omitted when absent, every other field present.
pub fn deployment_json(d: &Deployment) -> Result<Value, CliError> {
    proto_json(d, "scalekeeper.v1.Deployment")
}

/// A DeploymentDiff in the proto3 JSON mapping (every field present).
pub fn diff_json(d: &DeploymentDiff) -> Result<Value, CliError> {
    proto_json(d, "scalekeeper.v1.DeploymentDiff")
}

/// `diff` output in the proto3 JSON mapping: `{"diffs": [..]}`.
pub fn diff_response_json(resp: &DiffResponse) -> Result<Value, CliError> {
    proto_json(resp, "scalekeeper.v1.DiffResponse")
}

/// A watch event in the proto3 JSON mapping: `{"type":"EVENT_TYPE_MODIFIED","deployment":{..}}`
/// (no `deployment` for `EVENT_TYPE_SYNCED`).
pub fn watch_event_json(event: &WatchDeploymentsResponse) -> Result<Value, CliError> {
    proto_json(event, "scalekeeper.v1.WatchDeploymentsResponse")
}

/// The answer of a write (SetReplicas, ClearDesiredReplicas, SetSchedule): the Deployment after
/// it and what it did.
pub trait WriteResponse: prost_reflect::prost::Message {
    /// The message's full name in the API, e.g. `scalekeeper.v1.SetReplicasResponse`.
    const MESSAGE_NAME: &'static str;

    /// The Deployment after the write (with a dry run: as it would be).
    fn deployment(&self) -> Option<&Deployment>;

    /// What the write did (or would do); absent from a server that predates outcomes.
    fn outcome(&self) -> Option<&WriteOutcome>;
}

macro_rules! write_response {
    ($($ty:ident),*) => {$(
        impl WriteResponse for $ty {
            const MESSAGE_NAME: &'static str = concat!("scalekeeper.v1.", stringify!($ty));

            fn deployment(&self) -> Option<&Deployment> {
                self.deployment.as_ref()
            }

            fn outcome(&self) -> Option<&WriteOutcome> {
                self.outcome.as_ref()
            }
        }
    )*};
}

write_response!(
    SetReplicasResponse,
    ClearDesiredReplicasResponse,
    SetScheduleResponse,
    UndoResponse,
    SetApprovalResponse
);

/// A write's whole answer in the proto3 JSON mapping: `{"deployment": {..}, "outcome": {..}}`
/// (what `--dry-run -o json` prints).
pub fn write_response_json<R: WriteResponse>(resp: &R) -> Result<Value, CliError> {
    proto_json(resp, R::MESSAGE_NAME)
}

/// Prints a write's answer: with `-o table` the Deployment's block and the outcome's; with
/// `-o json` the Deployment alone (as `get` does, so scripts written for it keep working), or
/// for a dry run the whole answer ([`write_response_json`]).
pub(super) fn print_write<R: WriteResponse>(output: Output, dry_run: bool, resp: &R) -> Result<(), CliError> {
    if output == Output::Json && dry_run {
        return emit(&pretty(&write_response_json(resp)?)?);
    }
    let d = resp.deployment().ok_or_else(|| Status::internal("the server's answer holds no deployment"))?;
    match output {
        Output::Table => emit(&render_write(d, resp.outcome())),
        Output::Json => emit(&pretty(&deployment_json(d)?)?),
    }
}

pub(super) fn pretty(v: &Value) -> Result<String, CliError> {
    let mut s = serde_json::to_string_pretty(v).map_err(io::Error::other)?;
    s.push('\n');
    Ok(s)
}

pub(super) fn print_deployment(output: Output, d: Option<Deployment>) -> Result<(), CliError> {
    let d = d.ok_or_else(|| Status::internal("the server's answer holds no deployment"))?;
    match output {
        Output::Table => emit(&render_deployment(&d)),
        Output::Json => emit(&pretty(&deployment_json(&d)?)?),
    }
}

/// Writes to stdout and flushes.
pub(super) fn emit(text: &str) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests;
