//! Freeze and Thaw: one hold per selected Deployment, and their end.
//!
//! ```text
//!  validate (core) ─► require_ready ─► namespaces: named (scope-checked) or every cached one
//!   per namespace: select from the watch cache (label selector) ─► authorize update once
//!     denied / out of scope ─► every selected Deployment FAILED (code, message), audited
//!     per Deployment: skip (an HPA owns the count; thaw: no freeze hold) or write
//!   writes: Writer::write (Change::Hold { freeze } / Change::Thaw), BULK_CONCURRENCY at a time,
//!           each audited (method Freeze/Thaw, namespace, name, before/after)
//!  results ordered by namespace then name
//! ```
//!
//! What each write does is the write plan's (`scalekeeper_core::write`, rows 23–26): the
//! hold's marker, the policy a freeze creates and a thaw deletes, the holds a thaw leaves.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt as _;
use kube_selectors::LabelSelector;
use scalekeeper_api::code_name;
use scalekeeper_api::v1 as pb;
use scalekeeper_core::authz::Verb;
use scalekeeper_core::write::{self, BoundsChange, Change, created_by_this_freeze, has_active_freeze};
use scalekeeper_core::{Violation, validate_bulk_selection, validate_hold};

use super::{CallFacts, Caller, Service, invalid, selector, snapshot};
use crate::cache::view::DeploymentView;
use crate::grpc::status::Error;
use crate::writer::{WriteError, Written};

/// How many Deployments' writes a Freeze or a Thaw runs at once (each is a few requests to
/// the Kubernetes API server: read, policy write, scale, Event, read back).
pub const BULK_CONCURRENCY: usize = 32;

/// The detail of a Deployment skipped because an HPA owns its count, naming the HPAs.
fn hpa_detail(hpas: &[String]) -> String {
    format!("an HPA owns the count: {}", hpas.join(", "))
}

/// The detail of a Deployment a thaw leaves alone.
const NO_FREEZE_HOLD: &str = "no freeze hold";

/// Which Deployments a Freeze or a Thaw selects, checked.
struct Selection {
    /// The namespaces named (sorted, without duplicates); empty: every namespace in scope.
    namespaces: BTreeSet<String>,
    /// The label selector (matches everything when the request gave none).
    selector: LabelSelector,
}

/// What a Freeze or a Thaw does to one selected Deployment.
enum Step {
    /// Leave it alone: the count in force and why.
    Skip(i32, String),
    /// Write this change.
    Write(Change),
}

/// One Deployment's write, waiting to run.
struct Job {
    view: DeploymentView,
    change: Change,
    who: Caller,
}

impl Service {
    /// Freeze: a hold, marked as a freeze's, at each selected Deployment's effective count now
    /// (an unmanaged one's `spec.replicas`), for `hold_for`, with the reason.
    ///
    /// # Errors
    /// INVALID_ARGUMENT for a bad selection, `hold_for` or reason
    /// ([`validate_bulk_selection`], [`validate_hold`]); UNAVAILABLE while the watch cache is
    /// not ready. Every per-Deployment failure is a FAILED result, not an error of the call.
    pub(super) async fn freeze_call(&self, r: pb::FreezeRequest, who: Caller) -> Result<pb::FreezeResponse, Error> {
        let mut v = validate_bulk_selection(&r.namespaces, r.all_namespaces, &r.label_selector);
        let hold_for = r.hold_for.map(|d| Duration::try_from(d).map_err(|_| ()));
        if hold_for.is_none() {
            v.push(Violation {
                field: "hold_for".into(),
                description: "required: how long the freeze lasts, 1 s to 30 days".into(),
            });
        }
        v.extend(validate_hold(hold_for.or(Some(Ok(Duration::from_secs(1)))), &r.reason));
        invalid(v)?;
        let Some(Ok(duration)) = hold_for else {
            return Err(Error::Internal("hold_for passed validation without a duration".into()));
        };
        let selection = Selection::new(&r.namespaces, &r.label_selector)?;
        who.facts().dry_run = r.dry_run;
        self.require_ready()?;
        let start = jiff::Timestamp::now();
        let reason = r.reason.clone();
        let results = self
            .bulk(&who, "Freeze", &selection, r.dry_run, |view| {
                let hpas = self.cache.hpas_targeting(&view.deployment.namespace, &view.deployment.name);
                let now = jiff::Timestamp::now();
                let count = view.effective_at(now).map_or(view.observed().spec_replicas, |e| e.replicas);
                if !hpas.is_empty() {
                    return Step::Skip(count, hpa_detail(&hpas));
                }
                Step::Write(Change::Hold {
                    replicas: count,
                    duration,
                    reason: reason.clone(),
                    mode: None,
                    guard: None,
                    bounds: BoundsChange::Keep,
                    freeze: true,
                })
            })
            .await;
        // The holds' expiry: the latest written (each is its write's time plus hold_for).
        let until = results
            .iter()
            .filter_map(|(_, w)| w.as_ref()?.view.policy.as_ref()?.spec.hold.as_ref()?.until.parse().ok())
            .max()
            .or_else(|| write::hold_until(start, duration).ok())
            .map(crate::grpc::convert::timestamp);
        Ok(pb::FreezeResponse { results: results.into_iter().map(|(r, _)| r).collect(), until, dry_run: r.dry_run })
    }

    /// Thaw: ends the freeze's active holds on the selected Deployments (a hold placed
    /// otherwise stays), and deletes a policy a freeze created while nothing was declared since.
    ///
    /// # Errors
    /// INVALID_ARGUMENT for a bad selection ([`validate_bulk_selection`]); UNAVAILABLE while the
    /// watch cache is not ready. Every per-Deployment failure is a FAILED result.
    pub(super) async fn thaw_call(&self, r: pb::ThawRequest, who: Caller) -> Result<pb::ThawResponse, Error> {
        invalid(validate_bulk_selection(&r.namespaces, r.all_namespaces, &r.label_selector))?;
        let selection = Selection::new(&r.namespaces, &r.label_selector)?;
        who.facts().dry_run = r.dry_run;
        self.require_ready()?;
        let results = self
            .bulk(&who, "Thaw", &selection, r.dry_run, |view| {
                let now = jiff::Timestamp::now();
                let count = view.effective_at(now).map_or(view.observed().spec_replicas, |e| e.replicas);
                let frozen = view.policy.as_ref().is_some_and(|p| {
                    let p = write::Policy::from(&**p);
                    has_active_freeze(&p.spec, now) || created_by_this_freeze(&p)
                });
                if !frozen {
                    return Step::Skip(count, NO_FREEZE_HOLD.into());
                }
                let hpas = self.cache.hpas_targeting(&view.deployment.namespace, &view.deployment.name);
                if !hpas.is_empty() {
                    return Step::Skip(count, hpa_detail(&hpas));
                }
                Step::Write(Change::Thaw)
            })
            .await;
        Ok(pb::ThawResponse { results: results.into_iter().map(|(r, _)| r).collect(), dry_run: r.dry_run })
    }

    /// Runs a Freeze or a Thaw (`method`) over `selection`: per namespace, one authorization
    /// (update on replicapolicies) and, for each selected Deployment, `step`'s decision; the
    /// writes run [`BULK_CONCURRENCY`] at a time, each audited. Results are ordered by
    /// namespace then name, each with the write when one was made.
    async fn bulk(
        &self,
        who: &Caller,
        method: &'static str,
        selection: &Selection,
        dry_run: bool,
        step: impl Fn(&DeploymentView) -> Step,
    ) -> Vec<(pb::BulkResult, Option<Written>)> {
        let mut results = vec![];
        let mut jobs = vec![];
        let namespaces: Vec<String> = if selection.namespaces.is_empty() {
            self.cache.namespaces()
        } else {
            selection.namespaces.iter().cloned().collect()
        };
        for ns in namespaces {
            if let Err(e) = self.check_scope(&ns) {
                // Its Deployments are not in the cache: one result says why.
                results.push((failed(&ns, "", 0, &e), None));
                continue;
            }
            let views = self.cache.list(Some(&ns), |d| selection.selector.matches_with(|k| d.label(k)));
            if views.is_empty() {
                continue;
            }
            // Each namespace's decision in its own facts, for its Deployments' audit lines.
            let ns_who = Caller { facts: std::sync::Arc::default(), ..who.clone() };
            if let Err(e) = self.authorize(&ns_who, Verb::Update, &ns).await {
                let refusal = matches!(e, Error::PermissionDenied(_)).then(|| e.to_string());
                for view in &views {
                    let count = view.observed().spec_replicas;
                    results.push((failed(&ns, &view.deployment.name, count, &e), None));
                    let facts = CallFacts { name: view.deployment.name.to_string(), dry_run, ..ns_who.facts().clone() };
                    self.audit_bulk(&ns_who, method, facts, e.code(), refusal.clone());
                }
                continue;
            }
            for view in views {
                match step(&view) {
                    Step::Skip(count, detail) => results.push((
                        pb::BulkResult {
                            namespace: ns.clone(),
                            name: view.deployment.name.to_string(),
                            outcome: pb::BulkOutcome::Skipped as i32,
                            replicas: count,
                            detail,
                            code: String::new(),
                        },
                        None,
                    )),
                    Step::Write(change) => jobs.push(Job { view, change, who: ns_who.clone() }),
                }
            }
        }
        let written: Vec<_> = futures::stream::iter(jobs)
            .map(|job| self.bulk_write(method, job, dry_run))
            .buffer_unordered(BULK_CONCURRENCY)
            .collect()
            .await;
        results.extend(written);
        results.sort_by(|(a, _), (b, _)| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        results
    }

    /// One Deployment's write in a Freeze or a Thaw, through the [`crate::writer::Writer`],
    /// audited; its result.
    async fn bulk_write(&self, method: &'static str, job: Job, dry_run: bool) -> (pb::BulkResult, Option<Written>) {
        let Job { view, change, who } = job;
        let (ns, name) = (view.deployment.namespace.to_string(), view.deployment.name.to_string());
        let before = snapshot(Some(&view));
        let written = self
            .writer
            .write(&write::Request {
                namespace: &ns,
                name: &name,
                change,
                expected_version: "",
                if_current: None,
                dry_run,
                identity: &who.identity,
                approval: None,
            })
            .await;
        // The plan's own HPA check, when the cache had not seen the HPA yet: skipped, as the
        // cache would have.
        if let Err(WriteError::HpaOwnsCount { hpa, .. }) = &written {
            return (skipped(&ns, &name, view.observed().spec_replicas, hpa_detail(std::slice::from_ref(hpa))), None);
        }
        let written = written.map_err(Error::from);
        let mut facts = CallFacts { name: name.clone(), dry_run, ..who.facts().clone() };
        let result = match &written {
            Ok(w) => {
                let generation = w.view.policy.as_ref().and_then(|p| p.metadata.generation);
                facts.write = Some((before, snapshot(Some(&w.view)), generation));
                self.audit_bulk(&who, method, facts, tonic::Code::Ok, None);
                done(method, &ns, &name, w, dry_run)
            }
            Err(e) => {
                self.audit_bulk(&who, method, facts, e.code(), None);
                failed(&ns, &name, view.observed().spec_replicas, e)
            }
        };
        tracing::debug!(request_id = %who.request_id, method, namespace = %ns, name = %name, outcome = result.outcome, dry_run, "bulk write");
        (result, written.ok())
    }

    /// One audit line for a Deployment of a Freeze or a Thaw, when auditing is on.
    fn audit_bulk(&self, who: &Caller, method: &str, facts: CallFacts, code: tonic::Code, refusal: Option<String>) {
        if self.auditor.enabled() {
            self.audit(who, method, facts, code, refusal);
        }
    }
}

impl Selection {
    /// The selection a request names: its namespaces (deduplicated) and its label selector.
    ///
    /// # Errors
    /// INVALID_ARGUMENT when the selector does not parse (checked before by
    /// [`validate_bulk_selection`]).
    fn new(namespaces: &[String], label_selector: &str) -> Result<Self, Error> {
        Ok(Selection { namespaces: namespaces.iter().cloned().collect(), selector: selector(label_selector)? })
    }
}

/// The result of a Deployment written (or, with `dry_run`, checked): the count held (freeze) or
/// in force after (thaw), and what the write did.
fn done(method: &str, ns: &str, name: &str, w: &Written, dry_run: bool) -> pb::BulkResult {
    let o = &w.outcome;
    if o.nothing_to_do {
        // A thaw whose freeze hold ended (or was replaced) after the cache showed it.
        return skipped(ns, name, o.effective_after, NO_FREEZE_HOLD.into());
    }
    let would = if dry_run { "would be " } else { "" };
    let detail = match (method, o.rule_after) {
        ("Freeze", _) => format!("{would}held at {} (until thawed or expired)", o.effective_after),
        (_, None) => format!("{would}unmanaged again: the freeze's policy {would}deleted"),
        (_, Some(_)) => format!("{would}thawed: the {} applies", o.rule_detail_after),
    };
    pb::BulkResult {
        namespace: ns.into(),
        name: name.into(),
        outcome: pb::BulkOutcome::Done as i32,
        replicas: o.effective_after,
        detail,
        code: String::new(),
    }
}

fn skipped(ns: &str, name: &str, count: i32, detail: String) -> pb::BulkResult {
    pb::BulkResult {
        namespace: ns.into(),
        name: name.into(),
        outcome: pb::BulkOutcome::Skipped as i32,
        replicas: count,
        detail,
        code: String::new(),
    }
}

fn failed(ns: &str, name: &str, count: i32, e: &Error) -> pb::BulkResult {
    pb::BulkResult {
        namespace: ns.into(),
        name: name.into(),
        outcome: pb::BulkOutcome::Failed as i32,
        replicas: count,
        detail: e.to_string(),
        code: code_name(e.code()).into(),
    }
}
