//! The output of the incident commands: `explain` and `plan` (why this count, what next),
//! `history` and `undo` (what happened), `freeze` and `thaw` (one row per Deployment).

use scalekeeper_api::v1::{
    BulkOutcome, BulkResult, ChangeKind, ExplainResponse, FreezeResponse, GetHistoryResponse, HistoryEntry,
    PlanResponse, ThawResponse, Verdict,
};
use serde_json::Value;

use super::{
    bounds_text, dash, desired, emit, guard_name, mode_name, pretty, proto_json, render_table, rfc3339_seconds,
    rule_name, sync_name,
};
use crate::CliError;
use crate::args::Output;

/// The short name of a verdict for tables: `wins`, `overridden`, `inactive`, `invalid`; `-` when
/// unspecified; unknown values as numbers.
pub fn verdict_name(v: i32) -> String {
    match Verdict::try_from(v) {
        Ok(Verdict::Unspecified) => "-".to_string(),
        Ok(x) => x.as_str_name().trim_start_matches("VERDICT_").to_ascii_lowercase(),
        Err(_) => v.to_string(),
    }
}

/// A heading line followed by a table (or `-` on its own line when there are no rows).
fn section(title: &str, headers: &[&str], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return format!("{title}: -\n");
    }
    format!("{title}:\n{}", render_table(headers, rows))
}

/// Renders `explain` output, ending with a newline:
///
/// ```text
/// EFFECTIVE: 8 (hold until 2026-11-28T13:00:00Z by alice: INC-123, kept within maxReplicas 8) at 2026-11-28T11:00:00Z
/// DEPLOYMENT: shop/web, spec.replicas 3, IN_SYNC
/// RULES:
/// RULE                                        REPLICAS   VERDICT      DETAIL
/// hold                                        10         wins         held until ...
/// ...
/// BOUNDS: max 8 (clamped: maxReplicas 8)
/// MODE: ENFORCE   GUARD: DENY
/// FLAP GUARD: not suspended
/// AUTOSCALERS: -
/// SPEC.REPLICAS OWNERS:
/// MANAGER   OPERATION   SUBRESOURCE   TIME   TOOL
/// ...
/// LAST WRITER: kubectl-patch
/// NOTES:
/// - Argo CD (field manager argocd-controller) owns spec.replicas, ...
/// ```
///
/// Each note is printed in full (a fix is a setting to copy).
pub fn render_explain(r: &ExplainResponse) -> String {
    let d = r.deployment.clone().unwrap_or_default();
    let at = r.at.as_ref().map_or_else(|| "now".to_string(), rfc3339_seconds);
    let mut out = match r.effective_replicas {
        Some(n) => format!("EFFECTIVE: {n} ({}) at {at}\n", dash(&r.rule_detail)),
        None => format!("EFFECTIVE: - (no ReplicaPolicy: unmanaged) at {at}\n"),
    };
    out.push_str(&format!(
        "DEPLOYMENT: {}/{}, spec.replicas {}, {}\n",
        d.namespace,
        d.name,
        d.spec_replicas,
        sync_name(d.sync_status)
    ));
    let rules: Vec<Vec<String>> = r
        .rules
        .iter()
        .map(|c| vec![c.name.clone(), c.replicas.to_string(), verdict_name(c.verdict), dash(&c.detail)])
        .collect();
    out.push_str(&section("RULES", &["RULE", "REPLICAS", "VERDICT", "DETAIL"], &rules));
    let clamped = if r.clamped_by.is_empty() { String::new() } else { format!(" (clamped: {})", r.clamped_by) };
    out.push_str(&format!("BOUNDS: {}{clamped}\n", bounds_text(d.min_replicas, d.max_replicas)));
    out.push_str(&format!("MODE: {}   GUARD: {}\n", mode_name(d.mode), guard_name(d.guard)));
    let fg = r.flap_guard.clone().unwrap_or_default();
    if fg.suspended {
        let since = fg.since.as_ref().map(|t| format!(" since {}", rfc3339_seconds(t))).unwrap_or_default();
        let until = fg.until.as_ref().map(|t| format!(" until {}", rfc3339_seconds(t))).unwrap_or_default();
        out.push_str(&format!("FLAP GUARD: enforcement suspended{since}{until}: {}\n", dash(&fg.reason)));
    } else {
        out.push_str("FLAP GUARD: not suspended\n");
    }
    let autoscalers: Vec<Vec<String>> = r
        .autoscalers
        .iter()
        .map(|a| vec![a.kind.clone(), a.name.clone(), dash(&a.managed_by), desired(a.paused_replicas), dash(&a.note)])
        .collect();
    out.push_str(&section("AUTOSCALERS", &["KIND", "NAME", "MANAGED BY", "PAUSED AT", "NOTE"], &autoscalers));
    let owners: Vec<Vec<String>> = r
        .replicas_owners
        .iter()
        .map(|o| {
            let tool = if o.scalekeeper { "scalekeeper".to_string() } else { dash(&o.tool) };
            vec![
                o.manager.clone(),
                dash(&o.operation),
                dash(&o.subresource),
                o.time.as_ref().map_or_else(|| "-".to_string(), rfc3339_seconds),
                tool,
            ]
        })
        .collect();
    out.push_str(&section("SPEC.REPLICAS OWNERS", &["MANAGER", "OPERATION", "SUBRESOURCE", "TIME", "TOOL"], &owners));
    out.push_str(&format!("LAST WRITER: {}\n", dash(&r.last_writer)));
    if r.notes.is_empty() {
        out.push_str("NOTES: -\n");
    } else {
        out.push_str("NOTES:\n");
        for n in &r.notes {
            out.push_str(&format!("- {n}\n"));
        }
    }
    out
}

/// Renders `plan` output: `AT (UTC)  LOCAL  FROM -> TO  RULE  CAUSE`, one row per change, or
/// `no change within WITHIN` (e.g. `7d`) when there is none. Ends with a newline.
pub fn render_plan(r: &PlanResponse, within: &str) -> String {
    if r.changes.is_empty() {
        let why = match r.deployment.as_ref().map(|d| d.desired_replicas) {
            Some(None) => " (no ReplicaPolicy: unmanaged)",
            _ => "",
        };
        return format!("no change within {within}{why}\n");
    }
    let rows: Vec<Vec<String>> = r
        .changes
        .iter()
        .map(|c| {
            vec![
                c.at.as_ref().map_or_else(|| "-".to_string(), rfc3339_seconds),
                dash(&c.local_time),
                format!("{} -> {}", c.from_replicas, c.to_replicas),
                rule_name(c.rule),
                dash(&c.cause),
            ]
        })
        .collect();
    let mut out = render_table(&["AT (UTC)", "LOCAL", "FROM -> TO", "RULE", "CAUSE"], &rows);
    if r.truncated {
        out.push_str(&format!(
            "(the server lists at most {} changes: more follow within {within}; ask again with a shorter --next)\n",
            r.changes.len()
        ));
    }
    out
}

/// `explain` output in the proto3 JSON mapping (the whole ExplainResponse).
pub fn explain_json(r: &ExplainResponse) -> Result<Value, CliError> {
    proto_json(r, "scalekeeper.v1.ExplainResponse")
}

/// `plan` output in the proto3 JSON mapping (the whole PlanResponse).
pub fn plan_json(r: &PlanResponse) -> Result<Value, CliError> {
    proto_json(r, "scalekeeper.v1.PlanResponse")
}

/// A history entry's kind as the ReplicaPolicy status spells it (`HoldPlaced`), or the number
/// when this client does not know it.
pub fn change_kind_name(v: i32) -> String {
    match ChangeKind::try_from(v) {
        Ok(ChangeKind::Unspecified) | Err(_) => v.to_string(),
        Ok(k) => k.as_str_name().trim_start_matches("CHANGE_KIND_").split('_').map(capitalized).collect(),
    }
}

/// `WORD` as `Word`.
fn capitalized(word: &str) -> String {
    let lower = word.to_ascii_lowercase();
    let mut chars = lower.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// A count change as `5 → 7`, or `→ 7` without a count before.
fn from_to(from: Option<i32>, to: i32) -> String {
    match from {
        Some(f) => format!("{f} → {to}"),
        None => format!("→ {to}"),
    }
}

/// The history as a table: TIME, WHAT, FROM → TO, WHO, REASON, oldest first; a line saying
/// so when there is none.
pub fn render_history_table(entries: &[HistoryEntry]) -> String {
    if entries.is_empty() {
        return "No changes recorded.\n".to_string();
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.time.as_ref().map(rfc3339_seconds).unwrap_or_else(|| "-".into()),
                change_kind_name(e.kind),
                from_to(e.from_replicas, e.to_replicas),
                dash(&e.who),
                dash(&e.reason),
            ]
        })
        .collect();
    render_table(&["TIME", "WHAT", "FROM → TO", "WHO", "REASON"], &rows)
}

/// `history -o json`: `{"deployment": {..}, "entries": [..]}` in the proto3 JSON mapping.
pub fn history_json(resp: &GetHistoryResponse) -> Result<Value, CliError> {
    proto_json(resp, "scalekeeper.v1.GetHistoryResponse")
}

/// What `undo` is about to declare: `shop/web: declared 7 → undo to 5 (declared by alice at
/// 2026-11-29T14:00:00Z)`.
pub fn undo_intent(target: &str, undone: &HistoryEntry, to: i32) -> String {
    let mut by = String::new();
    if !undone.who.is_empty() {
        by.push_str(&format!(" by {}", undone.who));
    }
    if let Some(t) = &undone.time {
        by.push_str(&format!(" at {}", rfc3339_seconds(t)));
    }
    format!("{target}: declared {} → undo to {to} (declared{by})\n", undone.to_replicas)
}

/// The answer of a Freeze or a Thaw: one result per Deployment selected.
pub trait BulkResponse: prost_reflect::prost::Message {
    /// The message's full name in the API, e.g. `scalekeeper.v1.FreezeResponse`.
    const MESSAGE_NAME: &'static str;
    /// What a Deployment written is, in the summary: `frozen` or `thawed`.
    const DONE: &'static str;

    /// The results, ordered by namespace then name.
    fn results(&self) -> &[BulkResult];

    /// When the holds expire (a freeze's); `None` for a thaw.
    fn until(&self) -> Option<&prost_types::Timestamp>;

    /// Whether nothing was written.
    fn dry_run(&self) -> bool;
}

impl BulkResponse for FreezeResponse {
    const MESSAGE_NAME: &'static str = "scalekeeper.v1.FreezeResponse";
    const DONE: &'static str = "frozen";

    fn results(&self) -> &[BulkResult] {
        &self.results
    }

    fn until(&self) -> Option<&prost_types::Timestamp> {
        self.until.as_ref()
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

impl BulkResponse for ThawResponse {
    const MESSAGE_NAME: &'static str = "scalekeeper.v1.ThawResponse";
    const DONE: &'static str = "thawed";

    fn results(&self) -> &[BulkResult] {
        &self.results
    }

    fn until(&self) -> Option<&prost_types::Timestamp> {
        None
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

/// The short name of a bulk outcome, e.g. `SKIPPED`.
fn bulk_outcome_name(v: i32) -> String {
    match BulkOutcome::try_from(v) {
        Ok(o) => o.as_str_name().trim_start_matches("BULK_OUTCOME_").to_string(),
        Err(_) => v.to_string(),
    }
}

/// A freeze's or a thaw's results as a table: NAMESPACE/NAME, RESULT (`DONE`, `SKIPPED`,
/// `FAILED`), REPLICAS (held, or in force after the thaw) and DETAIL (a failure's status code
/// first). A result for a whole namespace (outside the server's scope) reads `NAMESPACE/*`.
pub fn render_bulk_table(results: &[BulkResult]) -> String {
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            let name = if r.name.is_empty() { "*" } else { r.name.as_str() };
            let detail = if r.code.is_empty() { r.detail.clone() } else { format!("{}: {}", r.code, r.detail) };
            vec![format!("{}/{name}", r.namespace), bulk_outcome_name(r.outcome), r.replicas.to_string(), detail]
        })
        .collect();
    render_table(&["NAMESPACE/NAME", "RESULT", "REPLICAS", "DETAIL"], &rows)
}

/// The summary line of a freeze or a thaw, e.g. `frozen 997, skipped 2, failed 1 until
/// 2026-11-29T14:00:00Z`; a dry run's begins `dry run, nothing written: would be `.
pub fn bulk_summary<R: BulkResponse>(resp: &R) -> String {
    let count = |o: BulkOutcome| resp.results().iter().filter(|r| r.outcome == o as i32).count();
    let mut line = format!(
        "{} {}, skipped {}, failed {}",
        R::DONE,
        count(BulkOutcome::Done),
        count(BulkOutcome::Skipped),
        count(BulkOutcome::Failed)
    );
    if let Some(until) = resp.until() {
        line.push_str(&format!(" until {}", rfc3339_seconds(until)));
    }
    if resp.dry_run() {
        line = format!("dry run, nothing written: would be {line}");
    }
    line.push('\n');
    line
}

/// Prints a freeze's or a thaw's answer (the table and the summary, or with `-o json` the whole
/// answer in the proto3 JSON mapping).
///
/// # Errors
/// [`CliError::Partial`] when any Deployment failed (after printing everything), so the exit
/// code is 1; [`CliError::Output`] when stdout cannot be written.
pub(crate) fn print_bulk<R: BulkResponse>(output: Output, resp: &R) -> Result<(), CliError> {
    match output {
        Output::Json => emit(&pretty(&proto_json(resp, R::MESSAGE_NAME)?)?)?,
        Output::Table if resp.results().is_empty() => {
            emit(&format!("no deployments selected\n{}", bulk_summary(resp)))?
        }
        Output::Table => emit(&format!("{}{}", render_bulk_table(resp.results()), bulk_summary(resp)))?,
    }
    let failed = resp.results().iter().filter(|r| r.outcome == BulkOutcome::Failed as i32).count();
    if failed > 0 {
        return Err(CliError::Partial(format!("{failed} of {} Deployments failed", resp.results().len())));
    }
    Ok(())
}
