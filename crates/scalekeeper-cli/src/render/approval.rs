//! The output of the two-person rule's commands: the `requests` table, a scale request's
//! block (what `approve` shows before it asks, and what `approve` and `deny` print after), and
//! their proto3 JSON.
//!
//! A request's text fields (the change, the reason, the requester, why it needs approval) come
//! from another identity's call: they are printed with control characters escaped, so that a
//! reason cannot draw lines of its own into what the approver reads.

use scalekeeper_api::v1::{
    ApproveScaleRequestResponse, DenyScaleRequestResponse, ListScaleRequestsResponse, ScaleRequest, ScaleRequestPhase,
};
use serde_json::Value;

use super::{dash, proto_json, render_block, render_outcome, render_table, rfc3339_seconds};
use crate::CliError;

/// The short name of a phase, as the ScaleRequest resource's status spells it: `Pending`,
/// `Approved`, `Applied`, `Denied`, `Expired`, `Superseded`, `ReviewRequired`, `Reviewed`;
/// `-` when unspecified; unknown
/// values as numbers.
pub fn phase_name(v: i32) -> String {
    match ScaleRequestPhase::try_from(v) {
        Ok(ScaleRequestPhase::Unspecified) => "-".to_string(),
        Ok(ScaleRequestPhase::Pending) => "Pending".to_string(),
        Ok(ScaleRequestPhase::Approved) => "Approved".to_string(),
        Ok(ScaleRequestPhase::Applied) => "Applied".to_string(),
        Ok(ScaleRequestPhase::Denied) => "Denied".to_string(),
        Ok(ScaleRequestPhase::Expired) => "Expired".to_string(),
        Ok(ScaleRequestPhase::Superseded) => "Superseded".to_string(),
        Ok(ScaleRequestPhase::ReviewRequired) => "ReviewRequired".to_string(),
        Ok(ScaleRequestPhase::Reviewed) => "Reviewed".to_string(),
        Err(_) => v.to_string(),
    }
}

/// `s` with its control characters (newlines, escape sequences) escaped as `\n`, `\u{1b}`.
fn clean(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// The identities whose approvals count, as the server counted them (`approved_by`).
fn counted(r: &ScaleRequest) -> Vec<&str> {
    r.approved_by.iter().map(String::as_str).collect()
}

/// `counted/needed`, e.g. `0/1` (a request needs at least one approval).
fn approvals_text(r: &ScaleRequest) -> String {
    format!("{}/{}", counted(r).len(), r.approvals_needed.max(1))
}

/// `counted/needed` followed by the identities counted, e.g. `1/2 (bob)`.
fn approvals_with_names(r: &ScaleRequest) -> String {
    let who = counted(r);
    if who.is_empty() {
        approvals_text(r)
    } else {
        format!("{} ({})", approvals_text(r), who.iter().map(|w| clean(w)).collect::<Vec<_>>().join(", "))
    }
}

/// The first 12 hex digits of a digest, as `approve` shows it.
pub fn short_digest(digest: &str) -> String {
    digest.chars().take(12).collect()
}

/// A duration in whole seconds as kubectl's short form: `45s`, `12m`, `5h`, `3d`, `2y`.
fn short_duration(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s if s < 365 * 86_400 => format!("{}d", s / 86_400),
        s => format!("{}y", s / (365 * 86_400)),
    }
}

/// The columns of the `requests` table; NAMESPACE only when the listing spans namespaces.
const REQUEST_COLUMNS: &[&str] =
    &["NAMESPACE", "NAME", "DEPLOYMENT", "CHANGE", "REQUESTER", "PHASE", "APPROVALS", "AGE", "EXPIRES"];

/// Renders `requests` output at `now` (seconds since the epoch): `NAMESPACE NAME DEPLOYMENT
/// CHANGE REQUESTER PHASE APPROVALS AGE EXPIRES`, NAMESPACE only with `with_namespace`,
/// APPROVALS `counted/needed`, AGE since the request was made, EXPIRES the time a pending
/// request has left (`expired` when none; `-` for a request that is done).
pub fn render_requests_table(requests: &[ScaleRequest], now: i64, with_namespace: bool) -> String {
    let rows: Vec<Vec<String>> = requests
        .iter()
        .map(|r| {
            let age = r.created_at.as_ref().map_or_else(|| "-".to_string(), |t| short_duration(now - t.seconds));
            let expires = match &r.expires_at {
                Some(t) if r.phase == ScaleRequestPhase::Pending as i32 => {
                    if t.seconds > now {
                        short_duration(t.seconds - now)
                    } else {
                        "expired".to_string()
                    }
                }
                _ => "-".to_string(),
            };
            let mut row = vec![
                clean(&r.name),
                clean(&r.deployment),
                dash(&clean(&r.change)),
                dash(&clean(&r.requester)),
                phase_name(r.phase),
                approvals_text(r),
                age,
                expires,
            ];
            if with_namespace {
                row.insert(0, clean(&r.namespace));
            }
            row
        })
        .collect();
    let columns = if with_namespace { REQUEST_COLUMNS } else { &REQUEST_COLUMNS[1..] };
    render_table(columns, &rows)
}

/// Renders one scale request as a `KEY: value` block, ending with a newline: what `approve`
/// shows before it asks, and what `approve` and `deny` print after.
///
/// ```text
/// REQUEST:        shop/web-7f3k2
/// DEPLOYMENT:     shop/web
/// CHANGE:         declare 0 replicas
/// REQUESTER:      alice
/// REASON:         INC-1: drain the zone
/// NEEDS APPROVAL: 0 is below the approval band's lower edge 3
/// PHASE:          Pending
/// APPROVALS:      0/1
/// CREATED:        2026-11-30T12:00:00Z
/// EXPIRES:        2026-11-30T13:00:00Z
/// OUTCOME:        -
/// DIGEST:         9f86d081884c
/// ```
///
/// NEEDS APPROVAL has one line per reason; APPROVALS names the identities counted, e.g.
/// `1/2 (bob)`; DIGEST is the first 12 hex digits.
pub fn render_scale_request(r: &ScaleRequest) -> String {
    let why: Vec<String> = r.needs_approval_because.iter().map(|w| clean(w)).collect();
    let time = |t: Option<&prost_types::Timestamp>| t.map_or_else(|| "-".to_string(), rfc3339_seconds);
    let rows: [(&str, String); 12] = [
        ("REQUEST", format!("{}/{}", clean(&r.namespace), clean(&r.name))),
        ("DEPLOYMENT", format!("{}/{}", clean(&r.namespace), clean(&r.deployment))),
        ("CHANGE", dash(&clean(&r.change))),
        ("REQUESTER", dash(&clean(&r.requester))),
        ("REASON", dash(&clean(&r.reason))),
        ("NEEDS APPROVAL", dash(&why.join("\n"))),
        ("PHASE", phase_name(r.phase)),
        ("APPROVALS", approvals_with_names(r)),
        ("CREATED", time(r.created_at.as_ref())),
        ("EXPIRES", time(r.expires_at.as_ref())),
        ("OUTCOME", dash(&clean(&r.outcome))),
        ("DIGEST", dash(&short_digest(&r.digest))),
    ];
    render_block(&rows)
}

/// Renders `approve`'s answer (the request itself was shown before the question), ending
/// with a newline:
///
/// ```text
/// PHASE:     Applied
/// APPROVALS: 1/1 (bob)
/// OUTCOME:   declared 0 replicas
///
/// EFFECTIVE: 5 -> 0 (declared)
/// SPEC: 5 -> 0
/// ```
///
/// The lines after the empty one (what the write did, as `set` prints it) only when this
/// approval applied the change.
pub fn render_approved(resp: &ApproveScaleRequestResponse) -> String {
    let r = resp.request.clone().unwrap_or_default();
    let mut out = render_block(&[
        ("PHASE", phase_name(r.phase)),
        ("APPROVALS", approvals_with_names(&r)),
        ("OUTCOME", dash(&clean(&r.outcome))),
    ]);
    if let Some(o) = &resp.outcome {
        out.push('\n');
        out.push_str(&render_outcome(o));
    }
    out
}

/// `requests` output in the proto3 JSON mapping: `{"requests": [..]}`.
pub fn requests_json(resp: &ListScaleRequestsResponse) -> Result<Value, CliError> {
    proto_json(resp, "scalekeeper.v1.ListScaleRequestsResponse")
}

/// `approve` output in the proto3 JSON mapping: `{"request": {..}, "outcome": {..}}` (no
/// `outcome` unless this approval applied the change).
pub fn approved_json(resp: &ApproveScaleRequestResponse) -> Result<Value, CliError> {
    proto_json(resp, "scalekeeper.v1.ApproveScaleRequestResponse")
}

/// `deny` output in the proto3 JSON mapping: `{"request": {..}}`.
pub fn denied_json(resp: &DenyScaleRequestResponse) -> Result<Value, CliError> {
    proto_json(resp, "scalekeeper.v1.DenyScaleRequestResponse")
}

#[cfg(test)]
mod tests;
