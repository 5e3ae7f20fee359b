//! Explain and Plan: why a Deployment has its count, and how it will change.
//!
//! Both read the cached Deployment and policy; Explain also reads live what the cache strips
//! ([`crate::explain::Reader`]: managedFields, the HPAs' owners, KEDA's ScaledObject). Every
//! rule and every conclusion comes from the core ([`scalekeeper_core::explain`],
//! [`scalekeeper_core::ahead`]); this module checks the request and builds the messages.
//! RBAC verb: get (reads are not audited).

use jiff::{SignedDuration, Timestamp};
use scalekeeper_api::v1 as pb;
use scalekeeper_core::authz::Verb;
use scalekeeper_core::explain::{self as core, Facts, Suspension, Verdict};
use scalekeeper_core::spec::Spec;
use scalekeeper_core::validate_target;
use scalekeeper_core::validation::{validate_horizon, validate_instant};

use super::{Caller, Service, invalid};
use crate::cache::view::DeploymentView;
use crate::explain::Live;
use crate::grpc::convert::{self, timestamp};
use crate::grpc::status::Error;
use crate::policy::{CONDITION_SUSPENDED, ReplicaPolicy};

fn not_found(namespace: &str, name: &str) -> Error {
    Error::NotFound(format!("Deployment {namespace}/{name} not found"))
}

impl Service {
    /// Explain: validates the target and `at` (INVALID_ARGUMENT), checks scope and RBAC get,
    /// requires a ready cache, reads the Deployment live (NOT_FOUND when it does not exist;
    /// UNAVAILABLE when Kubernetes does not answer) and explains it.
    pub(super) async fn explain_call(&self, r: pb::ExplainRequest, who: Caller) -> Result<pb::ExplainResponse, Error> {
        let mut v = validate_target(&r.namespace, &r.name);
        let at = match r.at.as_ref().map(|t| validate_instant("at", t.seconds, t.nanos)).transpose() {
            Ok(at) => at,
            Err(violation) => {
                v.push(violation);
                None
            }
        };
        invalid(v)?;
        self.check_scope(&r.namespace)?;
        who.facts().name.clone_from(&r.name);
        self.authorize(&who, Verb::Get, &r.namespace).await?;
        self.require_ready()?;
        let view = self.cache.get(&r.namespace, &r.name).ok_or_else(|| not_found(&r.namespace, &r.name))?;
        let live = self
            .reader
            .read(&r.namespace, &r.name, &view.hpas)
            .await?
            .ok_or_else(|| not_found(&r.namespace, &r.name))?;
        let now = Timestamp::now();
        Ok(explain_response(&view, &live, at.unwrap_or(now), now, self.config.flap_cool_down))
    }

    /// Plan: validates the target and the horizon (1 s to 31 days, unset 7 days), checks scope
    /// and RBAC get, requires a ready cache, and lists the changes of the effective count from
    /// now to the horizon (none for an unmanaged Deployment).
    pub(super) async fn plan_call(&self, r: pb::PlanRequest, who: Caller) -> Result<pb::PlanResponse, Error> {
        let mut v = validate_target(&r.namespace, &r.name);
        let horizon = match validate_horizon(r.horizon.map(|d| (d.seconds, d.nanos))) {
            Ok(h) => h,
            Err(violation) => {
                v.push(violation);
                Default::default()
            }
        };
        invalid(v)?;
        self.check_scope(&r.namespace)?;
        who.facts().name.clone_from(&r.name);
        self.authorize(&who, Verb::Get, &r.namespace).await?;
        self.require_ready()?;
        let view = self.cache.get(&r.namespace, &r.name).ok_or_else(|| not_found(&r.namespace, &r.name))?;
        let horizon = SignedDuration::try_from(horizon)
            .map_err(|e| Error::Internal(format!("a validated horizon is a signed duration: {e}")))?;
        Ok(plan_response(&view, Timestamp::now(), horizon))
    }
}

/// The API's verdict.
fn verdict(v: Verdict) -> pb::Verdict {
    match v {
        Verdict::Wins => pb::Verdict::Wins,
        Verdict::Overridden => pb::Verdict::Overridden,
        Verdict::Inactive => pb::Verdict::Inactive,
        Verdict::Invalid => pb::Verdict::Invalid,
    }
}

/// The flap guard's state from the policy's status: suspended since the condition's
/// lastTransitionTime, until that plus `cool_down`.
fn suspension(policy: &ReplicaPolicy, cool_down: std::time::Duration) -> Option<(Suspension, String)> {
    let status = policy.status.as_ref().filter(|s| s.is_suspended())?;
    let since = status.suspended_since();
    let until = since.zip(SignedDuration::try_from(cool_down).ok()).and_then(|(s, d)| s.checked_add(d).ok());
    let manager = status.last_correction.as_ref().and_then(|c| c.field_manager.clone());
    let reason =
        status.condition(CONDITION_SUSPENDED).map(|c| c.message.clone()).filter(|m| !m.is_empty()).unwrap_or_else(
            || {
                format!(
                    "field manager {:?} keeps changing spec.replicas",
                    manager.as_deref().unwrap_or(crate::culprit::UNKNOWN_MANAGER)
                )
            },
        );
    Some((Suspension { since, until, manager }, reason))
}

/// The ExplainResponse for `view` with its `live` facts, the rules explained at `at`, the rest
/// as of `now`; the flap guard's cool-down is `cool_down`.
fn explain_response(
    view: &DeploymentView,
    live: &Live,
    at: Timestamp,
    now: Timestamp,
    cool_down: std::time::Duration,
) -> pb::ExplainResponse {
    let policy = view.policy.as_deref();
    let explained = policy.map(|p| Spec::from(&p.spec).explain(at));
    let suspended = policy.and_then(|p| suspension(p, cool_down));
    let facts = Facts {
        policy: policy.map(|p| (p.spec.mode, p.spec.guard)),
        suspension: suspended.as_ref().map(|(s, _)| s.clone()),
        autoscalers: live.autoscalers.iter().map(|a| a.facts.clone()).collect(),
        owners: live.owners.iter().map(|o| o.manager.clone()).collect(),
        others: live.others.clone(),
    };
    let effective = explained.as_ref().map(|e| &e.effective);
    pb::ExplainResponse {
        deployment: Some(convert::deployment_at(view, now)),
        at: Some(timestamp(at)),
        effective_replicas: effective.map(|e| e.replicas),
        rule: effective.map_or(pb::Rule::Unspecified, |e| convert::rule(e.source.kind())) as i32,
        rule_detail: effective.map(|e| e.describe()).unwrap_or_default(),
        rules: explained
            .iter()
            .flat_map(|e| &e.rules)
            .map(|c| pb::RuleConsidered {
                rule: convert::rule(c.kind) as i32,
                name: c.name.clone(),
                replicas: c.replicas,
                verdict: verdict(c.verdict) as i32,
                detail: c.detail.clone(),
            })
            .collect(),
        clamped_by: effective.and_then(|e| e.clamped).map(|b| b.to_string()).unwrap_or_default(),
        flap_guard: Some(match &suspended {
            Some((s, reason)) => pb::FlapGuard {
                suspended: true,
                since: s.since.map(timestamp),
                until: s.until.map(timestamp),
                reason: reason.clone(),
            },
            None => pb::FlapGuard::default(),
        }),
        autoscalers: live
            .autoscalers
            .iter()
            .map(|a| pb::Autoscaler {
                kind: "HorizontalPodAutoscaler".into(),
                name: a.facts.name.clone(),
                managed_by: a.facts.managed_by.clone().unwrap_or_default(),
                paused_replicas: a.facts.paused_replicas,
                note: a.note.clone(),
            })
            .collect(),
        replicas_owners: live
            .owners
            .iter()
            .map(|o| {
                let tool = scalekeeper_core::managers::classify(&o.manager);
                pb::FieldOwner {
                    manager: o.manager.clone(),
                    operation: o.operation.clone(),
                    subresource: o.subresource.clone(),
                    time: o.time.map(timestamp),
                    scalekeeper: o.scalekeeper,
                    tool: tool.map(|t| t.name.to_string()).unwrap_or_default(),
                    fix: tool.map(|t| t.fix.to_string()).unwrap_or_default(),
                }
            })
            .collect(),
        last_writer: live.owners.first().map(|o| o.manager.clone()).unwrap_or_default(),
        notes: core::notes(&facts),
    }
}

/// The PlanResponse for `view` from `now` over `horizon`.
fn plan_response(view: &DeploymentView, now: Timestamp, horizon: SignedDuration) -> pb::PlanResponse {
    let ahead = view.policy.as_ref().map(|p| p.spec.rules().changes(p.spec.replicas, now, horizon)).unwrap_or_default();
    let (changes, truncated) = (ahead.changes, ahead.truncated);
    pb::PlanResponse {
        truncated,
        deployment: Some(convert::deployment_at(view, now)),
        from: Some(timestamp(now)),
        until: now.checked_add(horizon).ok().map(timestamp),
        changes: changes
            .into_iter()
            .map(|c| pb::PlannedChange {
                at: Some(timestamp(c.at)),
                local_time: c.local_time,
                from_replicas: c.from,
                to_replicas: c.to,
                rule: convert::rule(c.after.source.kind()) as i32,
                rule_detail: c.after.describe(),
                cause: c.cause,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::cache::view::fixtures::{cached, deployment, policy};
    use crate::explain::{Autoscaler, Owner};
    use crate::policy::{Correction, PolicyCondition, PolicyHold, PolicyWindow, ReplicaPolicyStatus};

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn view(p: Option<ReplicaPolicy>) -> DeploymentView {
        DeploymentView {
            deployment: cached(&deployment(3, 3)),
            policy: p.map(Arc::new),
            hpas: vec![],
            requests: vec![],
        }
    }

    #[test]
    fn an_explanation_carries_every_rule_the_owners_and_the_notes() {
        let mut p = policy(4);
        p.spec.hold = Some(PolicyHold {
            replicas: 10,
            until: "2026-11-28T13:00:00Z".into(),
            reason: "INC-123".into(),
            ..Default::default()
        });
        p.spec.schedule = vec![PolicyWindow { window: "Sat-Sun 00:00-24:00 Europe/Berlin".into(), replicas: 1 }];
        p.spec.max_replicas = Some(8);
        p.status = Some(ReplicaPolicyStatus {
            conditions: vec![PolicyCondition {
                type_: CONDITION_SUSPENDED.into(),
                status: "True".into(),
                reason: "FlapGuard".into(),
                message: String::new(),
                last_transition_time: Some("2026-11-28T10:58:00Z".into()),
            }],
            last_correction: Some(Correction {
                time: "2026-11-28T10:58:00Z".into(),
                from: 5,
                to: 4,
                field_manager: Some("argocd-controller".into()),
            }),
            ..Default::default()
        });
        let live = Live {
            owners: vec![
                Owner {
                    manager: "argocd-controller".into(),
                    operation: "Apply".into(),
                    subresource: String::new(),
                    time: Some(at("2026-11-28T10:59:00Z")),
                    scalekeeper: false,
                },
                Owner {
                    manager: "scalekeeper".into(),
                    operation: "Update".into(),
                    subresource: "scale".into(),
                    time: Some(at("2026-11-28T10:58:00Z")),
                    scalekeeper: true,
                },
            ],
            autoscalers: vec![Autoscaler {
                facts: core::Autoscaler { name: "web".into(), ..Default::default() },
                note: String::new(),
            }],
            others: vec!["helm".into()],
        };
        let r = explain_response(
            &view(Some(p)),
            &live,
            at("2026-11-28T11:00:00Z"),
            at("2026-11-28T11:00:00Z"),
            std::time::Duration::from_secs(300),
        );
        assert_eq!((r.effective_replicas, r.rule), (Some(8), pb::Rule::Hold as i32));
        assert_eq!(r.clamped_by, "maxReplicas 8");
        let verdicts: Vec<i32> = r.rules.iter().map(|c| c.verdict).collect();
        assert_eq!(
            verdicts,
            [pb::Verdict::Wins as i32, pb::Verdict::Overridden as i32, pb::Verdict::Overridden as i32]
        );
        let fg = r.flap_guard.unwrap();
        assert!(fg.suspended);
        assert_eq!(fg.until, Some(timestamp(at("2026-11-28T11:03:00Z"))));
        assert_eq!(fg.reason, "field manager \"argocd-controller\" keeps changing spec.replicas");
        assert_eq!(r.last_writer, "argocd-controller");
        assert_eq!((r.replicas_owners[0].tool.as_str(), r.replicas_owners[1].tool.as_str()), ("Argo CD", ""));
        assert!(r.replicas_owners[0].fix.contains("RespectIgnoreDifferences=true"));
        assert!(r.replicas_owners[1].scalekeeper);
        assert_eq!(r.autoscalers[0].kind, "HorizontalPodAutoscaler");
        assert_eq!(r.notes.len(), 6, "HPA, suspension, Argo CD, Helm, Observe, guard: {:#?}", r.notes);
        assert!(r.notes[3].starts_with("Helm (field manager helm) applies this Deployment"), "{}", r.notes[3]);
        assert!(r.notes[2].starts_with("Argo CD (field manager argocd-controller)"), "{}", r.notes[2]);
    }

    #[test]
    fn an_unmanaged_deployment_is_explained_without_rules() {
        let r = explain_response(
            &view(None),
            &Live::default(),
            at("2026-11-28T11:00:00Z"),
            at("2026-11-28T11:00:00Z"),
            Default::default(),
        );
        assert_eq!((r.effective_replicas, r.rule, r.rules.len()), (None, pb::Rule::Unspecified as i32, 0));
        assert!(!r.flap_guard.unwrap().suspended);
        assert_eq!(r.notes.len(), 1);
        let p = plan_response(&view(None), at("2026-11-28T11:00:00Z"), SignedDuration::from_hours(24));
        assert!(p.changes.is_empty());
        assert_eq!(p.until, Some(timestamp(at("2026-11-29T11:00:00Z"))));
    }

    #[test]
    fn a_plan_lists_the_changes() {
        let mut p = policy(4);
        p.spec.schedule = vec![PolicyWindow { window: "Sat 10:00-14:00 Europe/Berlin".into(), replicas: 1 }];
        let r = plan_response(&view(Some(p)), at("2026-11-28T08:00:00Z"), SignedDuration::from_hours(24));
        let c: Vec<(String, i32, i32, i32)> =
            r.changes.iter().map(|c| (c.local_time.clone(), c.from_replicas, c.to_replicas, c.rule)).collect();
        assert_eq!(
            c,
            [
                ("2026-11-28T10:00:00+01:00[Europe/Berlin]".to_string(), 4, 1, pb::Rule::Schedule as i32),
                ("2026-11-28T14:00:00+01:00[Europe/Berlin]".to_string(), 1, 4, pb::Rule::Declared as i32),
            ]
        );
        assert_eq!(r.changes[0].cause, "window \"Sat 10:00-14:00 Europe/Berlin\" starts");
        assert!(!r.truncated);
    }

    #[test]
    fn a_plan_past_the_servers_limit_says_it_is_cut() {
        // 24 one-minute windows a day: 48 changes a day, 1,488 in 31 days.
        let mut p = policy(4);
        p.spec.schedule =
            (0..24).map(|h| PolicyWindow { window: format!("Mon-Sun {h:02}:00-{h:02}:01 UTC"), replicas: 1 }).collect();
        let r = plan_response(&view(Some(p)), at("2026-11-28T08:30:00Z"), SignedDuration::from_hours(31 * 24));
        assert!(r.truncated);
        assert_eq!(r.changes.len(), scalekeeper_core::ahead::MAX_CHANGES);
    }
}
