//! The admission guard: a validating admission webhook that refuses (Deny) or warns about (Warn)
//! a write of a Deployment's `spec.replicas` that differs from the count scalekeeper enforces,
//! before the API server stores it — so a mistaken `kubectl scale --replicas=0` deletes no Pod.
//!
//! ```text
//!  kube-apiserver ─ AdmissionReview (HTTPS, --admission-listen; server.rs) ─► Webhook::admit
//!    decode: apps/v1 deployments or their autoscaling/v1 Scale ─► scalekeeper_core::admission::Request
//!    read:   the policy and the HPAs from this replica's watch cache (followers too)
//!    decide: scalekeeper_core::admission::review (pure)
//!    Deny?   GET the policy live and decide again (the cache may lag a declaration)
//!    report: metrics · log · audit line (warn, deny, break-glass) · Event (deny, break-glass)
//!    answer: allowed | allowed + warning | 403 with what holds the count
//! ```
//!
//! Every replica answers from its own cache, so a failover opens no gap. It fails open: an
//! AdmissionReview it cannot read, or a refusal it cannot confirm against the live policy, is
//! allowed (decision `error`, counted and logged), and the configuration's `failurePolicy:
//! Ignore` lets writes through when no replica answers; the reconciler stays the backstop. A
//! dry-run request gets the same answer with no side effect (no Event).
//!
//! Sources: "Dynamic Admission Control" (the AdmissionReview `admission.k8s.io/v1` request and
//! response, warnings, `sideEffects` and dry run),
//! <https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/>.

pub mod config;
pub mod policy;
pub mod server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation as KubeOperation};
use kube::core::{DynamicObject, Status};
use kube::runtime::events::{EventType, Recorder};
use kube::{Api, Client, ResourceExt as _};
use scalekeeper_core::admission::{
    Decision, Declaration, Exempt, Exemptions, Input, Operation, REASON_GUARD_BYPASSED, REASON_SCALE_REFUSED, Request,
    Requester, Target, Verdict, replicas_of, review,
};
use tokio::sync::mpsc;

use crate::audit::{AdmissionAudit, AuditDecision, Auditor, Record as AuditRecord, Snapshot};
use crate::cache::Cache;
use crate::metrics::Metrics;
use crate::policy::{LAST_SET_BY, ReplicaPolicy};
use crate::tls::TlsSource;

/// Settings of the admission guard's webhook (`--admission-*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionConfig {
    /// The HTTPS listen address; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The serving certificate and key (reloaded when they change).
    pub tls: TlsSource,
    /// Identities whose writes are never guarded (`--admission-exempt`).
    pub exempt: Vec<Exempt>,
    /// Groups whose members may write past the guard, audited and announced
    /// (`--admission-break-glass-group`).
    pub break_glass_groups: Vec<String>,
    /// The user scalekeeper's own credentials name (see [`crate::whoami`]), used when the API
    /// server cannot say (no SelfSubjectReview before Kubernetes 1.28).
    pub credentials_user: Option<String>,
}

/// How long a refusal waits for the live read of the policy that confirms it: well within the
/// webhook's `timeoutSeconds` (2 s in the chart).
pub const LIVE_READ_TIMEOUT: Duration = Duration::from_millis(750);

/// The Event `action` verb of what the guard reports.
const ACTION_ADMIT: &str = "Admit";

/// The parts of an admitted object the guard reads: the UID and `spec.replicas`. Both shapes a
/// request of the webhook carries decode into it: an `apps/v1` Deployment and an
/// `autoscaling/v1` Scale; which one it was is the request's `kind`, and what an absent count
/// means follows from it ([`replicas_of`]). The rest of the object (a Deployment's pod template,
/// annotations and managedFields above all) is skipped by the JSON parser, never decoded.
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize, kube::Resource)]
#[resource(inherit = k8s_openapi::api::autoscaling::v1::Scale)]
pub struct AdmittedObject {
    /// `metadata`, with only `uid` read.
    #[serde(default, deserialize_with = "uid_only")]
    pub metadata: ObjectMeta,
    /// `spec.replicas`, when the object has a spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<AdmittedSpec>,
}

/// The `spec` of an [`AdmittedObject`]: only `replicas`.
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
pub struct AdmittedSpec {
    /// `spec.replicas` as the JSON holds it (`None`: absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
}

/// Reads an object's `metadata` for its `uid` alone: labels, annotations and managedFields are
/// skipped unparsed (a kubectl-applied Deployment's managedFields and last-applied annotation
/// are most of its metadata).
fn uid_only<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    #[derive(serde::Deserialize)]
    struct Uid {
        #[serde(default)]
        uid: Option<String>,
    }
    let Uid { uid } = serde::Deserialize::deserialize(d)?;
    Ok(ObjectMeta { uid, ..Default::default() })
}

/// The webhook's decisions, answered from the watch cache.
#[derive(Clone)]
pub struct Webhook {
    inner: Arc<Inner>,
}

struct Inner {
    cache: Cache,
    client: Client,
    exemptions: Exemptions,
    metrics: Arc<Metrics>,
    auditor: Auditor,
    /// The Events to publish, in order, by one task (see [`publish_events`]).
    events: mpsc::Sender<PendingEvent>,
}

/// An Event the guard has decided to publish.
struct PendingEvent {
    regarding: ObjectReference,
    reason: &'static str,
    note: String,
}

/// How many Events may wait to be published; past it, new ones are dropped (and logged) rather
/// than making the API server wait for an answer.
const EVENT_QUEUE: usize = 256;

/// What one review decided, for the caller's log line and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// The decision label.
    pub decision: Decision,
    /// The refusal or the warning, if any.
    pub message: Option<String>,
}

impl Webhook {
    /// A webhook deciding from `cache`, re-reading policies through `client` before a refusal,
    /// with `exemptions`; it counts in `metrics`, audits through `auditor` and publishes Events
    /// as `instance` (this replica's identity).
    pub fn new(
        cache: Cache,
        client: Client,
        exemptions: Exemptions,
        metrics: Arc<Metrics>,
        auditor: Auditor,
        instance: &str,
    ) -> Self {
        let recorder = Recorder::new(client.clone(), crate::events::reporter(instance));
        let (events, queue) = mpsc::channel(EVENT_QUEUE);
        tokio::spawn(publish_events(recorder, queue));
        Self { inner: Arc::new(Inner { cache, client, exemptions, metrics, auditor, events }) }
    }

    /// Who is exempt.
    pub fn exemptions(&self) -> &Exemptions {
        &self.inner.exemptions
    }

    /// Answers one AdmissionReview (the raw request body) from `peer`: the response review to
    /// send back with HTTP 200, and what was decided. Never fails: a body that is not an
    /// AdmissionReview with a request is answered allowed (decision `error`, fail open), with
    /// the request's uid when it can be read.
    pub async fn admit(&self, body: &[u8], peer: Option<SocketAddr>) -> (AdmissionReview<DynamicObject>, Admitted) {
        let start = Instant::now();
        let parsed: Result<AdmissionRequest<AdmittedObject>, String> =
            serde_json::from_slice::<AdmissionReview<AdmittedObject>>(body)
                .map_err(|e| format!("not an AdmissionReview: {e}"))
                .and_then(|r| r.try_into().map_err(|_| "an AdmissionReview without a request".to_string()));
        let req = match parsed {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(peer = ?peer, error = %e, "admission: unreadable review; allowed (fail open)");
                self.inner.metrics.admission_reviewed("", Decision::Error, start.elapsed().as_secs_f64());
                let mut response = AdmissionResponse::invalid(&e);
                // Fail open: the API server would refuse a write on `allowed: false`.
                response.allowed = true;
                response.uid = uid_of(body);
                let admitted = Admitted { decision: Decision::Error, message: Some(e) };
                return (response.into_review(), admitted);
            }
        };
        let (response, admitted) = if req.resource.group == policy::GROUP && req.resource.resource == policy::RESOURCE {
            self.decide_policy(body, peer)
        } else {
            self.decide(&req, peer).await
        };
        self.inner.metrics.admission_reviewed(
            operation(&req.operation).as_str(),
            admitted.decision,
            start.elapsed().as_secs_f64(),
        );
        (response.into_review(), admitted)
    }

    /// Decides `req`: reads, reviews, confirms a refusal live, reports.
    async fn decide(
        &self,
        req: &AdmissionRequest<AdmittedObject>,
        peer: Option<SocketAddr>,
    ) -> (AdmissionResponse, Admitted) {
        let response = AdmissionResponse::from(req);
        let namespace = req.namespace.clone().unwrap_or_default();
        if req.resource.group != "apps" || req.resource.resource != "deployments" {
            // Not what the configuration selects: nothing of ours to guard.
            tracing::debug!(resource = %req.resource.resource, "admission: not a Deployment; allowed");
            return (response, Admitted { decision: Decision::Allowed, message: None });
        }
        let request = request_of(req);
        let hpas = self.inner.cache.hpas_targeting(&namespace, &req.name);
        let cached = self.inner.cache.policy(&namespace, &req.name);
        let now = jiff::Timestamp::now();
        let exemptions = &self.inner.exemptions;
        let decide_with = |policy: Option<&ReplicaPolicy>| {
            let declaration = policy.map(declaration_of);
            let verdict =
                review(&Input { request: &request, declaration: declaration.as_ref(), hpas: &hpas, exemptions, now });
            (verdict, declaration)
        };
        let (mut verdict, mut declaration) = decide_with(cached.as_deref());
        let mut live_policy = None;
        if matches!(verdict, Verdict::Deny { .. }) {
            // The cache may be older than the last declaration (another replica's write, a watch
            // that has not caught up): refuse only what the live policy refuses.
            match self.live_policy(&namespace, &req.name).await {
                Ok(live) => {
                    (verdict, declaration) = decide_with(live.as_ref());
                    live_policy = Some(live);
                }
                Err(e) => {
                    let message = format!(
                        "scalekeeper could not confirm the declaration of {namespace}/{} ({e}); the write is allowed \
                         and the reconciler corrects it if it differs",
                        req.name
                    );
                    tracing::warn!(namespace, name = %req.name, error = %e, "admission: refusal not confirmed; allowed (fail open)");
                    let admitted = Admitted { decision: Decision::Error, message: Some(message.clone()) };
                    return (with_warning(response, message), admitted);
                }
            }
        }
        let policy = live_policy.flatten().map(Arc::new).or(cached);
        self.report(req, &request, &verdict, declaration.as_ref(), policy.as_deref(), peer);
        answer(response, &verdict)
    }

    /// The policy `namespace/name` read from the API server, within [`LIVE_READ_TIMEOUT`].
    async fn live_policy(&self, namespace: &str, name: &str) -> Result<Option<ReplicaPolicy>, String> {
        let api: Api<ReplicaPolicy> = Api::namespaced(self.inner.client.clone(), namespace);
        match tokio::time::timeout(LIVE_READ_TIMEOUT, api.get_opt(name)).await {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(e)) => Err(format!("reading the policy failed: {e}")),
            Err(_) => Err(format!("reading the policy took over {} ms", LIVE_READ_TIMEOUT.as_millis())),
        }
    }

    /// Logs the decision, and for a warning, a refusal or a break-glass write: the audit line
    /// and (unless a dry run) the Event on the Deployment.
    fn report(
        &self,
        req: &AdmissionRequest<AdmittedObject>,
        request: &Request,
        verdict: &Verdict,
        declaration: Option<&Declaration>,
        policy: Option<&ReplicaPolicy>,
        peer: Option<SocketAddr>,
    ) {
        let (ns, name) = (request.namespace.as_str(), request.name.as_str());
        let user = request.requester.user.as_str();
        let decision = verdict.decision().as_str();
        let (from, to) = (request.old_replicas, request.new_replicas);
        if !verdict.is_audited() {
            tracing::debug!(namespace = ns, name, user, from, to, decision, verdict = ?verdict, "admission review");
            return;
        }
        tracing::info!(
            namespace = ns, name, user, groups = ?request.requester.groups, from, to, decision,
            sub_resource = request.target.sub_resource(), dry_run = req.dry_run, uid = %req.uid,
            message = verdict.message().unwrap_or_default(), "admission review"
        );
        let effective = declaration.map(|d| d.rules.effective(d.declared, jiff::Timestamp::now()));
        if self.inner.auditor.enabled() {
            let allowed = verdict.allowed();
            self.inner.auditor.record(&AuditRecord {
                time: crate::audit::now(),
                request_id: req.uid.clone(),
                user: user.to_owned(),
                groups: request.requester.groups.clone(),
                peer: peer.map(|p| p.to_string()).unwrap_or_default(),
                method: "AdmissionReview".into(),
                namespace: ns.to_owned(),
                name: name.to_owned(),
                verb: "update".into(),
                decision: Some(AuditDecision { allowed, reason: verdict.message().unwrap_or_default().to_owned() }),
                code: if allowed { "OK" } else { "PERMISSION_DENIED" }.into(),
                before: Some(Snapshot {
                    declared: declaration.map(|d| d.declared),
                    mode: declaration.map(|d| d.mode.to_string()),
                    spec_replicas: Some(from),
                    effective: effective.as_ref().map(|e| e.replicas),
                    rule: effective.as_ref().map(|e| e.describe()),
                }),
                after: Some(Snapshot { spec_replicas: Some(to), ..Default::default() }),
                generation: policy.and_then(|p| p.metadata.generation),
                dry_run: req.dry_run,
                admission: Some(AdmissionAudit {
                    operation: operation(&req.operation).as_str().into(),
                    resource: String::new(),
                    sub_resource: request.target.sub_resource().into(),
                    guard: declaration.map(|d| d.guard.to_string()).unwrap_or_default(),
                    outcome: decision.into(),
                    break_glass_group: match verdict {
                        Verdict::BreakGlass { group, .. } => Some(group.clone()),
                        _ => None,
                    },
                }),
                scale_request: None,
            });
        }
        let (reason, note) = match verdict {
            Verdict::Deny { .. } => (
                REASON_SCALE_REFUSED,
                scalekeeper_core::admission::refusal_note(from, to, user, verdict.message().unwrap_or_default()),
            ),
            Verdict::BreakGlass { .. } => (
                REASON_GUARD_BYPASSED,
                format!(
                    "{} wrote past the guard: {}",
                    scalekeeper_core::admission::quote(user),
                    verdict.message().unwrap_or_default()
                ),
            ),
            _ => return,
        };
        if req.dry_run {
            // sideEffects: None — a dry run is answered, not announced.
            return;
        }
        // No resourceVersion: every refusal of the same write by the same user counts up one
        // Event's series instead of making an Event each.
        let regarding = ObjectReference {
            api_version: Some("apps/v1".into()),
            kind: Some("Deployment".into()),
            namespace: Some(ns.to_owned()),
            name: Some(name.to_owned()),
            uid: request.uid.clone(),
            ..Default::default()
        };
        // Published in the background: the API server is waiting for the answer.
        if self.inner.events.try_send(PendingEvent { regarding, reason, note }).is_err() {
            tracing::warn!(namespace = ns, name, reason, "admission: the Event queue is full; Event dropped");
        }
    }
}

/// Publishes the guard's Events one after the other, until every [`Webhook`] is dropped. One
/// at a time, so that the Recorder sees the first of a series created before it counts up the
/// second: published at once, three refusals of the same write would be three Events.
async fn publish_events(recorder: Recorder, mut queue: mpsc::Receiver<PendingEvent>) {
    while let Some(e) = queue.recv().await {
        crate::events::publish_on(&recorder, &[e.regarding], EventType::Warning, e.reason, ACTION_ADMIT, &e.note).await;
    }
}

/// The answer to the API server for `verdict`: a refusal is `allowed: false` with a 403
/// Forbidden status carrying the message; a warning or a break-glass message is added as a
/// warning; and what was decided, for the caller.
fn answer(response: AdmissionResponse, verdict: &Verdict) -> (AdmissionResponse, Admitted) {
    let message = verdict.message().map(str::to_owned);
    let admitted = Admitted { decision: verdict.decision(), message: message.clone() };
    let response = match (verdict, message) {
        (Verdict::Deny { .. }, Some(m)) => {
            let mut denied = response.deny(&m);
            denied.result = Status::failure(&m, "Forbidden").with_code(403);
            denied
        }
        (_, Some(m)) => with_warning(response, m),
        (_, None) => response,
    };
    (response, admitted)
}

/// `response` with `warning` added (kubectl prints it as `Warning: ...`).
fn with_warning(mut response: AdmissionResponse, warning: String) -> AdmissionResponse {
    response.warnings.get_or_insert_with(Vec::new).push(warning);
    response
}

/// The domain's operation.
fn operation(op: &KubeOperation) -> Operation {
    match op {
        KubeOperation::Create => Operation::Create,
        KubeOperation::Update => Operation::Update,
        KubeOperation::Delete => Operation::Delete,
        KubeOperation::Connect => Operation::Connect,
    }
}

/// The write as the guard reads it: operation, target (the Deployment, its Scale, another
/// subresource), the counts before and after (an absent one read as [`replicas_of`] says for
/// the object's kind), the Deployment's UID, the requester.
pub fn request_of(req: &AdmissionRequest<AdmittedObject>) -> Request {
    let target = if req.kind.kind == "Scale" && req.kind.group == "autoscaling" {
        Target::Scale
    } else {
        Target::of(req.sub_resource.as_deref())
    };
    let count = |o: &Option<AdmittedObject>| replicas_of(&target, o.as_ref().and_then(|o| o.spec.as_ref()?.replicas));
    let uid = [&req.object, &req.old_object].into_iter().flatten().find_map(|o| o.metadata.uid.clone());
    Request {
        operation: operation(&req.operation),
        namespace: req.namespace.clone().unwrap_or_default(),
        name: req.name.clone(),
        uid,
        old_replicas: count(&req.old_object),
        new_replicas: count(&req.object),
        requester: Requester {
            user: req.user_info.username.clone().unwrap_or_default(),
            groups: req.user_info.groups.clone().unwrap_or_default(),
        },
        target,
    }
}

/// The policy as the guard reads it.
pub fn declaration_of(p: &ReplicaPolicy) -> Declaration {
    Declaration {
        declared: p.spec.replicas,
        mode: p.spec.mode,
        guard: p.spec.guard,
        pinned_uid: p.spec.deployment_uid.clone(),
        set_by: p.annotations().get(LAST_SET_BY).cloned(),
        rules: p.spec.rules(),
        approval: p.spec.approval.as_ref().map(Into::into),
    }
}

/// The `request.uid` of a body that did not decode as a whole, if it has one (so the API server
/// can match the answer).
fn uid_of(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.pointer("/request/uid")?.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review_of(
        kind: &str,
        sub: Option<&str>,
        old: serde_json::Value,
        new: serde_json::Value,
    ) -> AdmissionRequest<AdmittedObject> {
        let (group, version) = if kind == "Scale" { ("autoscaling", "v1") } else { ("apps", "v1") };
        let body = serde_json::json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
                "kind": {"group": group, "version": version, "kind": kind},
                "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
                "subResource": sub,
                "name": "checkout", "namespace": "prod", "operation": "UPDATE",
                "userInfo": {"username": "alice", "groups": ["sre", "system:authenticated"]},
                "object": new, "oldObject": old, "dryRun": false,
            }
        });
        let r: AdmissionReview<AdmittedObject> = serde_json::from_value(body).expect("an AdmissionReview");
        r.try_into().expect("with a request")
    }

    #[test]
    fn a_scale_of_zero_has_no_replicas_field_and_is_read_as_zero() {
        // Upstream serializes Scale.spec.replicas with omitempty.
        let old = serde_json::json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
            "metadata": {"name": "checkout", "namespace": "prod", "uid": "u1"}, "spec": {"replicas": 6}, "status": {"replicas": 6}});
        let new = serde_json::json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
            "metadata": {"name": "checkout", "namespace": "prod", "uid": "u1"}, "spec": {}, "status": {"replicas": 6}});
        let r = request_of(&review_of("Scale", Some("scale"), old, new));
        assert_eq!((r.target.clone(), r.old_replicas, r.new_replicas), (Target::Scale, 6, 0));
        assert_eq!(r.uid.as_deref(), Some("u1"));
        assert_eq!(r.requester.user, "alice");
        assert_eq!(r.operation, Operation::Update);
    }

    #[test]
    fn a_deployment_is_read_without_its_template() {
        let d = |replicas: serde_json::Value| {
            serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "checkout", "namespace": "prod", "uid": "u1", "labels": {"app": "x"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "x"}},
                "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "x", "image": "x"}]}}}})
        };
        let r = request_of(&review_of("Deployment", None, d(serde_json::json!(3)), d(serde_json::json!(0))));
        assert_eq!((r.target, r.old_replicas, r.new_replicas), (Target::Deployment, 3, 0));
        let status =
            request_of(&review_of("Deployment", Some("status"), d(serde_json::json!(3)), d(serde_json::json!(3))));
        assert_eq!(status.target, Target::Other("status".into()));
    }

    #[test]
    fn an_unreadable_review_keeps_its_uid() {
        assert_eq!(uid_of(br#"{"request": {"uid": "abc", "kind": 5}}"#), "abc");
        assert_eq!(uid_of(b"not json"), "");
    }
}
