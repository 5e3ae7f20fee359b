//! Break-glass (the two-person rule, issue 27): a member of a `--break-glass-group` applies a
//! change the approval rule holds back at once, as a hold of at most an hour (the caller made
//! it one), recorded as a ScaleRequest that waits in phase ReviewRequired until a second
//! identity acknowledges it ([`super::Writer::approve`]).
//!
//! ```text
//!  POST ScaleRequest (breakGlassGroup) ─► write(change, basedOnGeneration, break-glass note)
//!    ─► PUT status ReviewRequired (or Superseded: the write was refused) · Warning Event BreakGlassUsed
//! ```

use jiff::Timestamp;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt as _};
use scalekeeper_core::approval::{self, Phase};
use scalekeeper_core::spec::timestamp;
use scalekeeper_core::write;

use super::requests::{Ask, REASON_BREAK_GLASS_USED};
use super::{WRITE_ATTEMPTS, WriteError, Writer, Written};
use crate::scalerequest::ScaleRequest;

impl Writer {
    /// Applies `ask` at once as a member of break-glass group `group` (the caller checked the
    /// membership, and made the change a hold of at most [`approval::BREAK_GLASS_MAX_HOLD`]):
    /// records it as a ScaleRequest first, writes the change conditional on the declaration
    /// it was planned on, then records phase ReviewRequired (or Superseded when the write was
    /// refused) and publishes the Warning `BreakGlassUsed` on the Deployment and the request. The
    /// write's [`Written::review`] is the request.
    ///
    /// # Errors
    /// As [`Writer::request_approval`], and the write's (the request then records why it was
    /// not applied).
    pub async fn break_glass(&self, ask: &Ask<'_>, group: &str) -> Result<Written, WriteError> {
        let created = self.create_request(ask, Some(group)).await?;
        let (namespace, name) = (created.namespace().unwrap_or_default(), created.name_any());
        let note = format!(
            "break-glass by {} (group {group}) in ScaleRequest {namespace}/{name}: {}",
            ask.requester.user, ask.reason
        );
        let version = ask.generation.to_string();
        let result = self
            .write(&write::Request {
                namespace: ask.namespace,
                name: ask.name,
                change: ask.change.clone(),
                expected_version: &version,
                if_current: None,
                dry_run: false,
                identity: &ask.requester.user,
                approval: Some(&note),
            })
            .await;
        let api: Api<ScaleRequest> = Api::namespaced(self.client.clone(), ask.namespace);
        let (phase, outcome) = match &result {
            Ok(w) => {
                let o = &w.outcome;
                let outcome = format!(
                    "applied by break-glass (group {group}): effective count {} -> {}, spec.replicas {} -> {}",
                    o.effective_before, o.effective_after, o.spec_before, o.spec_after
                );
                (Phase::ReviewRequired, outcome)
            }
            Err(e) => (Phase::Superseded, format!("not applied: {e}")),
        };
        let mut current = created;
        let mut stored = None;
        for _ in 0..WRITE_ATTEMPTS {
            let mut status = current.status.clone().unwrap_or_default();
            status.phase = Some(phase.as_str().into());
            status.approval_count = Some(0);
            status.outcome = Some(outcome.clone());
            status.decided_at = Some(timestamp(Timestamp::now()));
            match self.put_status(&api, &current, status).await {
                Ok(Some(s)) => {
                    stored = Some(s);
                    break;
                }
                Ok(None) => current = self.read_request(&api, &namespace, &name).await?,
                Err(e) => {
                    // The request reads as ReviewRequired without its status (a break-glass
                    // spec); the write stands either way.
                    tracing::warn!(request = %name, error = %e, "recording the break-glass outcome failed");
                    break;
                }
            }
        }
        let sr = stored.unwrap_or(current);
        let written = result?;
        let note = format!(
            "{} applied {} past the two-person rule as break-glass group {group}: {}; a second identity reviews it \
             with {}",
            ask.requester.user,
            sr.spec.summary,
            ask.reason,
            approval::approve_hint(&namespace, &name)
        );
        self.announce(&sr, EventType::Warning, REASON_BREAK_GLASS_USED, &note).await;
        Ok(Written { review: Some(sr), ..written })
    }
}
