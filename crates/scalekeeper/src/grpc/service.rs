//! The `scalekeeper.v1.ScaleService` implementation: reads from the watch cache, writes
//! through [`Writer`], errors converted to `tonic::Status` at this edge only.
//!
//! Every call is logged with a request id, the caller's identity, the outcome and the
//! latency, and counted in the metrics.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt as _;
use kube_selectors::LabelSelector;
use scalekeeper_api::code_name;
use scalekeeper_api::v1 as pb;
use scalekeeper_api::v1::scale_service_server::ScaleService;
use scalekeeper_core::approval;
use scalekeeper_core::authz::{Verb, denial, system_groups, system_groups_denial};
use scalekeeper_core::write::{BoundsChange, Change, WindowSpec};
use scalekeeper_core::{
    Violation, page_size, validate_bounds, validate_hold, validate_if_current, validate_namespace_filter,
    validate_replicas, validate_target, validate_windows,
};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::Stream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::convert::{self, guard_from_proto, mode_from_proto};
use super::status::Error;
use crate::audit::{AuditDecision, Auditor, Record as AuditRecord, Snapshot};
use crate::authz::Authorizer;
use crate::cache::view::DeploymentView;
use crate::cache::{Cache, CachedDeployment};
use crate::limits::{Limit, Refusal, WatchGate};
use crate::metrics::Metrics;
use crate::writer::{Ask, WriteError, Writer, Written};
use caller::{AUDITED_METHODS, CallFacts, Caller, authenticated, caller};

mod approvals;
mod bulk;
mod caller;
mod explain;
mod history;
mod version;
mod watch;
mod writes;

pub use watch::WATCH_BUFFER;
use watch::{WatchFilter, run_watch};
use writes::WriteCall;

/// Settings of the service.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Largest replica count SetReplicas accepts (a count of Pods).
    pub max_replicas: i32,
    /// Longest a unary call runs before DEADLINE_EXCEEDED.
    pub call_timeout: std::time::Duration,
    /// Open WatchDeployments streams, all callers together, before RESOURCE_EXHAUSTED.
    pub max_watches: usize,
    /// Open WatchDeployments streams of one identity before RESOURCE_EXHAUSTED.
    pub max_watches_per_identity: usize,
    /// Accept certificates claiming `system:` groups (see
    /// [`scalekeeper_core::authz::SYSTEM_GROUP_PREFIX`]).
    pub allow_system_groups: bool,
    /// The reconciler's flap-guard cool-down (`--flap-cool-down`): Explain adds it to the start
    /// of a suspension to say when enforcement resumes by itself.
    pub flap_cool_down: std::time::Duration,
    /// Groups whose members may break glass (`SetReplicas` with `break_glass`).
    pub break_glass_groups: Vec<String>,
}

/// The gRPC service.
#[derive(Clone)]
pub struct Service {
    cache: Cache,
    writer: Writer,
    authorizer: Authorizer,
    auditor: Auditor,
    metrics: Arc<Metrics>,
    config: ServiceConfig,
    watches: WatchGate,
    stop: CancellationToken,
    /// Explain's live reads (what the cache strips).
    reader: crate::explain::Reader,
}

/// The replica state of a view, as an audit record shows it.
fn snapshot(v: Option<&DeploymentView>) -> Snapshot {
    let effective = v.and_then(|v| v.effective_at(jiff::Timestamp::now()));
    Snapshot {
        declared: v.and_then(|v| v.policy.as_ref()).map(|p| p.spec.replicas),
        mode: v.and_then(|v| v.policy.as_ref()).map(|p| p.spec.mode.to_string()),
        spec_replicas: v.map(|v| v.observed().spec_replicas),
        effective: effective.as_ref().map(|e| e.replicas),
        rule: effective.map(|e| e.source.kind().as_str().to_owned()),
    }
}

/// Which Deployments a page walks through.
#[derive(Debug, Clone, Copy)]
enum Pages {
    /// Every cached Deployment.
    All,
    /// Only the managed ones (with a ReplicaPolicy): Diff's, since only they can be out of sync.
    Managed,
}

/// The namespaces a cross-namespace read may show.
#[derive(Debug, Clone)]
enum Permitted {
    /// Every namespace (the caller holds the verb cluster-wide).
    All,
    /// Only these.
    Only(BTreeSet<String>),
}

impl Permitted {
    fn allows(&self, namespace: &str) -> bool {
        match self {
            Permitted::All => true,
            Permitted::Only(set) => set.contains(namespace),
        }
    }
}

impl Service {
    /// A service over `cache` and `writer`, reading what Explain needs live through `reader`.
    /// Open watch streams end when `stop` is cancelled.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cache: Cache,
        writer: Writer,
        reader: crate::explain::Reader,
        authorizer: Authorizer,
        auditor: Auditor,
        metrics: Arc<Metrics>,
        config: ServiceConfig,
        stop: CancellationToken,
    ) -> Self {
        let watches = WatchGate::new(config.max_watches, config.max_watches_per_identity, metrics.open_watches.clone());
        Self { cache, writer, authorizer, auditor, metrics, config, watches, stop, reader }
    }

    /// Runs a handler (for WatchDeployments, until its stream starts) with a request id,
    /// the call timeout, logging, auditing and metrics; the answer carries the request id in
    /// its `x-request-id` metadata.
    async fn call<T, R, F>(
        &self,
        method: &'static str,
        req: Request<T>,
        f: impl FnOnce(T, Caller) -> F,
    ) -> Result<Response<R>, Status>
    where
        F: Future<Output = Result<R, Error>>,
    {
        let start = Instant::now();
        let (who, peer) = caller(&req);
        let identity = who.identity.clone();
        let id = who.request_id.clone();
        let audit_who = who.clone();
        let timeout = self.config.call_timeout;
        let result = match tokio::time::timeout(timeout, f(req.into_inner(), who)).await {
            Ok(r) => r,
            Err(_) => {
                self.metrics.limit_refused(Limit::CallTimeout);
                Err(Error::DeadlineExceeded(format!(
                    "the call ran longer than the server's limit of {} s ({}); retry",
                    timeout.as_secs_f64(),
                    Limit::CallTimeout.flag()
                )))
            }
        };
        let elapsed = start.elapsed();
        let code = match &result {
            Ok(_) => tonic::Code::Ok,
            Err(e) => e.code(),
        };
        self.metrics.observe(method, code_name(code), elapsed.as_secs_f64());
        let denied = matches!(result, Err(Error::PermissionDenied(_)));
        if self.auditor.enabled() && (denied || AUDITED_METHODS.contains(&method)) {
            let f = audit_who.facts().clone();
            // A refusal's reason: the authorizer's (RBAC gives none for a denial), else the
            // refusal the caller got.
            let refusal = match &result {
                Err(e @ Error::PermissionDenied(_)) => Some(e.to_string()),
                _ => None,
            };
            self.audit(&audit_who, method, f, code, refusal);
        }
        match &result {
            Ok(_) => {
                tracing::info!(request_id = %id, method, identity = %identity, peer = %peer, code = code_name(code), latency_us = elapsed.as_micros() as u64, "call")
            }
            Err(e) if e.is_server_fault() => {
                tracing::error!(request_id = %id, method, identity = %identity, peer = %peer, code = code_name(code), error = %e, "call failed")
            }
            Err(e) => {
                tracing::info!(request_id = %id, method, identity = %identity, peer = %peer, code = code_name(code), error = %e, latency_us = elapsed.as_micros() as u64, "call refused")
            }
        }
        match result {
            Ok(r) => {
                let mut response = Response::new(r);
                if let Some(v) = super::status::request_id_value(&id) {
                    response.metadata_mut().insert(super::status::REQUEST_ID_HEADER, v);
                }
                Ok(response)
            }
            Err(e) => Err(e.into_status(&id)),
        }
    }

    /// Writes one audit line about `who`'s call `method`: what `facts` say it did, the code it
    /// ended with, and the authorization decision (the authorizer's; when that gives no reason,
    /// `refusal`, the PERMISSION_DENIED message the caller got). Used for a whole call by
    /// [`Service::call`] and for each Deployment a Freeze or a Thaw writes.
    fn audit(&self, who: &Caller, method: &str, facts: CallFacts, code: tonic::Code, refusal: Option<String>) {
        let (before, after, generation) = match facts.write {
            Some((b, a, g)) => (Some(b), Some(a), g),
            None => (None, None, None),
        };
        let decision = match (facts.decision, refusal) {
            (Some(d), Some(r)) if d.reason.is_empty() => Some(AuditDecision { allowed: d.allowed, reason: r }),
            (Some(d), _) => Some(d),
            (None, r) => r.map(|reason| AuditDecision { allowed: false, reason }),
        };
        self.auditor.record(&AuditRecord {
            time: crate::audit::now(),
            request_id: who.request_id.clone(),
            user: who.subject.as_ref().map(|s| s.user.clone()).unwrap_or_default(),
            groups: who.subject.as_ref().map(|s| s.groups.clone()).unwrap_or_default(),
            peer: who.peer.clone(),
            method: method.into(),
            namespace: facts.namespace,
            name: facts.name,
            verb: facts.verb.or_else(|| Verb::for_method(method)).map(|v| v.as_str().to_string()).unwrap_or_default(),
            decision,
            code: code_name(code).into(),
            before,
            after,
            generation,
            dry_run: facts.dry_run,
            admission: None,
            scale_request: facts.scale_request,
        });
    }

    fn require_ready(&self) -> Result<(), Error> {
        if self.cache.health().ready() {
            Ok(())
        } else if !self.cache.health().synced() {
            Err(Error::Unavailable("the watch cache is not synced yet; retry shortly".into()))
        } else {
            Err(Error::Unavailable("the Kubernetes API server is not answering; retry shortly".into()))
        }
    }

    /// Checks that `caller` may `verb` replicapolicies in `namespace` (all namespaces when
    /// empty): PERMISSION_DENIED naming the user, the verb, the resource and the namespace;
    /// UNAVAILABLE when the check cannot be made (never an allow).
    async fn authorize(&self, caller: &Caller, verb: Verb, namespace: &str) -> Result<(), Error> {
        let subject = authenticated(caller)?;
        if !self.config.allow_system_groups {
            let claimed = system_groups(subject);
            if !claimed.is_empty() {
                let mut f = caller.facts();
                f.verb = Some(verb);
                f.namespace = namespace.to_owned();
                return Err(Error::PermissionDenied(system_groups_denial(subject, &claimed)));
            }
        }
        let decision = self.authorizer.check(subject, verb, namespace).await;
        {
            let mut f = caller.facts();
            f.verb = Some(verb);
            f.namespace = namespace.to_owned();
            if let Ok(d) = &decision {
                f.decision = Some(AuditDecision { allowed: d.allowed, reason: d.reason.clone() });
            }
        }
        match decision {
            Ok(d) if d.allowed => Ok(()),
            Ok(_) => Err(Error::PermissionDenied(denial(subject, verb, namespace))),
            Err(e) => {
                tracing::warn!(user = %subject.user, verb = %verb, namespace, error = %e, "authorization check failed");
                Err(Error::Unavailable("the authorization check could not be made; retry shortly".into()))
            }
        }
    }

    /// The namespaces `caller` may `verb` in, for a read across namespaces: all of them when
    /// it holds the verb cluster-wide (one check), else each namespace the cache holds
    /// Deployments in, checked one by one. Every answer is cached (see [`Authorizer`]), so a
    /// repeated listing costs no SubjectAccessReview within the TTL. Refused when it may
    /// `verb` in none.
    async fn permitted(&self, caller: &Caller, verb: Verb) -> Result<Permitted, Error> {
        if self.authorize(caller, verb, "").await.is_ok() {
            return Ok(Permitted::All);
        }
        let mut only = BTreeSet::new();
        for ns in self.cache.namespaces() {
            match self.authorize(caller, verb, &ns).await {
                Ok(()) => {
                    only.insert(ns);
                }
                Err(Error::PermissionDenied(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if only.is_empty() {
            // Say why, as the cluster-wide check does.
            self.authorize(caller, verb, "").await?;
        }
        Ok(Permitted::Only(only))
    }

    /// Authorizes a read of `namespace` (all namespaces when empty) and says which
    /// namespaces it may show.
    async fn authorize_read(&self, caller: &Caller, verb: Verb, namespace: &str) -> Result<Permitted, Error> {
        if namespace.is_empty() {
            self.permitted(caller, verb).await
        } else {
            self.authorize(caller, verb, namespace).await?;
            Ok(Permitted::All)
        }
    }

    /// One page of the cached Deployments passing `filter`, after the position `after`, and
    /// the token of the next page (empty when this is the last).
    fn page(
        &self,
        namespace: Option<&str>,
        after: Option<&(String, String)>,
        size: usize,
        filter: impl Fn(&CachedDeployment) -> bool,
    ) -> (Vec<DeploymentView>, String) {
        self.page_where(Pages::All, namespace, after, size, filter, |_| true)
    }

    /// [`Service::page`] over `pages`, with a second filter on the whole view (the
    /// Deployment with its policy and HPAs), for what the Deployment alone cannot tell.
    fn page_where(
        &self,
        pages: Pages,
        namespace: Option<&str>,
        after: Option<&(String, String)>,
        size: usize,
        filter: impl Fn(&CachedDeployment) -> bool,
        keep: impl Fn(&DeploymentView) -> bool,
    ) -> (Vec<DeploymentView>, String) {
        let mut out: Vec<DeploymentView> = Vec::with_capacity(size);
        let mut position = after.map(|(ns, name)| (ns.clone(), name.clone()));
        // One more than the page, to know whether another page follows.
        loop {
            let want = size + 1 - out.len();
            let from = position.as_ref().map(|(ns, name)| (ns.as_str(), name.as_str()));
            let batch = match pages {
                Pages::All => self.cache.page(namespace, from, want, &filter),
                Pages::Managed => self.cache.page_managed(namespace, from, want, &filter),
            };
            let exhausted = batch.len() < want;
            if let Some(last) = batch.last() {
                position = Some((last.deployment.namespace.to_string(), last.deployment.name.to_string()));
            }
            out.extend(batch.into_iter().filter(|v| keep(v)));
            if exhausted || out.len() > size {
                break;
            }
        }
        if out.len() > size {
            out.truncate(size);
            let next =
                out.last().map(|v| encode_token(&v.deployment.namespace, &v.deployment.name)).unwrap_or_default();
            (out, next)
        } else {
            (out, String::new())
        }
    }

    fn check_scope(&self, namespace: &str) -> Result<(), Error> {
        if namespace.is_empty() || self.cache.scope().contains(namespace) {
            Ok(())
        } else {
            Err(Error::PermissionDenied(format!("namespace {namespace:?} is not in this server's scope (--namespace)")))
        }
    }
}

fn invalid(v: Vec<Violation>) -> Result<(), Error> {
    if v.is_empty() { Ok(()) } else { Err(Error::InvalidArgument(v)) }
}

/// The request's label selector, bounded and parsed by the core's rule
/// ([`scalekeeper_core::parse_label_selector`]).
fn selector(s: &str) -> Result<LabelSelector, Error> {
    scalekeeper_core::parse_label_selector(s).map_err(|v| Error::InvalidArgument(vec![v]))
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// A page token: the position after the last item of the previous page (format and checks:
/// [`scalekeeper_core::encode_page_token`], [`scalekeeper_core::decode_page_token`]).
fn encode_token(ns: &str, name: &str) -> String {
    scalekeeper_core::encode_page_token(ns, name)
}

/// The position a page token names; `None` for the first page (an empty token).
fn decode_token(t: &str) -> Result<Option<(String, String)>, Error> {
    non_empty(t).map(scalekeeper_core::decode_page_token).transpose().map_err(|v| Error::InvalidArgument(vec![v]))
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchDeploymentsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ScaleService for Service {
    async fn list_deployments(
        &self,
        req: Request<pb::ListDeploymentsRequest>,
    ) -> Result<Response<pb::ListDeploymentsResponse>, Status> {
        self.call("ListDeployments", req, |r, who| async move {
            invalid(validate_namespace_filter(&r.namespace))?;
            let size = page_size(r.page_size).map_err(|v| Error::InvalidArgument(vec![v]))?;
            let sel = selector(&r.label_selector)?;
            let after = decode_token(&r.page_token)?;
            self.check_scope(&r.namespace)?;
            let permitted = self.authorize_read(&who, Verb::List, &r.namespace).await?;
            self.require_ready()?;
            let (views, next) = self.page(non_empty(&r.namespace), after.as_ref(), size, |d| {
                permitted.allows(&d.namespace) && sel.matches_with(|k| d.label(k))
            });
            let deployments = views.iter().map(convert::deployment).collect();
            Ok(pb::ListDeploymentsResponse { deployments, next_page_token: next })
        })
        .await
    }

    async fn get_deployment(
        &self,
        req: Request<pb::GetDeploymentRequest>,
    ) -> Result<Response<pb::GetDeploymentResponse>, Status> {
        self.call("GetDeployment", req, |r, who| async move {
            invalid(validate_target(&r.namespace, &r.name))?;
            self.check_scope(&r.namespace)?;
            who.facts().name.clone_from(&r.name);
            self.authorize(&who, Verb::Get, &r.namespace).await?;
            self.require_ready()?;
            let v = self
                .cache
                .get(&r.namespace, &r.name)
                .ok_or_else(|| Error::NotFound(format!("Deployment {}/{} not found", r.namespace, r.name)))?;
            Ok(pb::GetDeploymentResponse { deployment: Some(convert::deployment(&v)) })
        })
        .await
    }

    async fn set_replicas(
        &self,
        req: Request<pb::SetReplicasRequest>,
    ) -> Result<Response<pb::SetReplicasResponse>, Status> {
        self.call("SetReplicas", req, |r, who| async move {
            let max = self.config.max_replicas;
            let mut v = validate_target(&r.namespace, &r.name);
            v.extend(validate_replicas(r.replicas, max));
            if pb::Mode::try_from(r.mode).is_err() {
                v.push(Violation { field: "mode".into(), description: format!("{} is not a Mode", r.mode) });
            }
            if pb::Guard::try_from(r.guard).is_err() {
                v.push(Violation { field: "guard".into(), description: format!("{} is not a Guard", r.guard) });
            }
            let mut hold_for = r.hold_for.map(|d| std::time::Duration::try_from(d).map_err(|_| ()));
            if r.break_glass {
                if r.reason.trim().is_empty() {
                    v.push(Violation {
                        field: "reason".into(),
                        description: "required with break_glass: say why the change cannot wait for approval".into(),
                    });
                }
                // A break-glass change is a hold of at most an hour (a declaration: an hour's).
                hold_for = match hold_for {
                    Some(Ok(d)) => Some(Ok(approval::break_glass_hold(Some(d)))),
                    None => Some(Ok(approval::break_glass_hold(None))),
                    unreadable => unreadable,
                };
            }
            v.extend(validate_hold(hold_for, &r.reason));
            v.extend(validate_bounds(r.min_replicas, r.max_replicas, r.clear_bounds, max));
            v.extend(validate_if_current(r.if_current_replicas));
            invalid(v)?;
            let break_glass = if r.break_glass { Some(self.break_glass_group(&who)?) } else { None };
            let bounds = BoundsChange::from_request(r.min_replicas, r.max_replicas, r.clear_bounds);
            let mode = mode_from_proto(r.mode);
            let guard = guard_from_proto(r.guard);
            let change = match hold_for {
                Some(Ok(duration)) => Change::Hold {
                    replicas: r.replicas,
                    duration,
                    reason: r.reason.clone(),
                    mode,
                    guard,
                    bounds,
                    freeze: false,
                },
                _ => Change::Declare { replicas: r.replicas, mode, guard, bounds },
            };
            let call = WriteCall {
                expected_version: &r.expected_version,
                if_current: r.if_current_replicas,
                dry_run: r.dry_run,
                reason: &r.reason,
                break_glass: break_glass.as_deref(),
                ..WriteCall::new(Verb::Update, &r.namespace, &r.name, change)
            };
            let w = self.write(&who, call).await?;
            Ok(pb::SetReplicasResponse {
                deployment: Some(convert::deployment(&w.view)),
                outcome: Some(convert::outcome(&w.outcome)),
                scale_request: w.review.as_ref().map(|sr| convert::scale_request(sr, jiff::Timestamp::now())),
            })
        })
        .await
    }

    async fn clear_desired_replicas(
        &self,
        req: Request<pb::ClearDesiredReplicasRequest>,
    ) -> Result<Response<pb::ClearDesiredReplicasResponse>, Status> {
        self.call("ClearDesiredReplicas", req, |r, who| async move {
            invalid(validate_target(&r.namespace, &r.name))?;
            // Ending a hold changes the policy (update); clearing deletes it (delete).
            let (change, verb) =
                if r.hold_only { (Change::EndHold, Verb::Update) } else { (Change::Delete, Verb::Delete) };
            let call = WriteCall {
                expected_version: &r.expected_version,
                dry_run: r.dry_run,
                ..WriteCall::new(verb, &r.namespace, &r.name, change)
            };
            let w = self.write(&who, call).await?;
            Ok(pb::ClearDesiredReplicasResponse {
                deployment: Some(convert::deployment(&w.view)),
                outcome: Some(convert::outcome(&w.outcome)),
            })
        })
        .await
    }

    async fn set_schedule(
        &self,
        req: Request<pb::SetScheduleRequest>,
    ) -> Result<Response<pb::SetScheduleResponse>, Status> {
        self.call("SetSchedule", req, |r, who| async move {
            let mut v = validate_target(&r.namespace, &r.name);
            v.extend(validate_windows(
                r.windows.iter().map(|w| (w.window.as_str(), w.replicas)),
                self.config.max_replicas,
            ));
            invalid(v)?;
            let windows =
                r.windows.iter().map(|w| WindowSpec { window: w.window.clone(), replicas: w.replicas }).collect();
            let change = Change::Schedule(windows);
            let call = WriteCall {
                expected_version: &r.expected_version,
                dry_run: r.dry_run,
                ..WriteCall::new(Verb::Update, &r.namespace, &r.name, change)
            };
            let w = self.write(&who, call).await?;
            Ok(pb::SetScheduleResponse {
                deployment: Some(convert::deployment(&w.view)),
                outcome: Some(convert::outcome(&w.outcome)),
            })
        })
        .await
    }

    async fn diff(&self, req: Request<pb::DiffRequest>) -> Result<Response<pb::DiffResponse>, Status> {
        self.call("Diff", req, |r, who| async move {
            invalid(validate_namespace_filter(&r.namespace))?;
            let size = page_size(r.page_size).map_err(|v| Error::InvalidArgument(vec![v]))?;
            let sel = selector(&r.label_selector)?;
            let after = decode_token(&r.page_token)?;
            self.check_scope(&r.namespace)?;
            let permitted = self.authorize_read(&who, Verb::List, &r.namespace).await?;
            self.require_ready()?;
            // Only managed Deployments can be out of sync: the page walks those alone, and the
            // policy decides which of them are.
            let (views, next) = self.page_where(
                Pages::Managed,
                non_empty(&r.namespace),
                after.as_ref(),
                size,
                |d| permitted.allows(&d.namespace) && sel.matches_with(|k| d.label(k)),
                |v| v.sync().status.is_out_of_sync(),
            );
            let diffs = views
                .iter()
                .map(|v| {
                    let sync = v.sync();
                    let p = convert::deployment(v);
                    pb::DeploymentDiff {
                        namespace: p.namespace,
                        name: p.name,
                        sync_status: p.sync_status,
                        desired_replicas: p.desired_replicas.unwrap_or(0),
                        spec_replicas: p.spec_replicas,
                        ready_replicas: p.status.map(|s| s.ready_replicas).unwrap_or(0),
                        mode: p.mode,
                        reason: sync.reason,
                        effective_replicas: p.effective_replicas.unwrap_or(0),
                        rule: p.rule,
                    }
                })
                .collect();
            Ok(pb::DiffResponse { diffs, next_page_token: next })
        })
        .await
    }

    type WatchDeploymentsStream = WatchStream;

    async fn watch_deployments(
        &self,
        req: Request<pb::WatchDeploymentsRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        let this = self.clone();
        self.call("WatchDeployments", req, |r, who| async move {
            let identity = who.identity.clone();
            invalid(validate_namespace_filter(&r.namespace))?;
            let sel = selector(&r.label_selector)?;
            this.check_scope(&r.namespace)?;
            let permitted = this.authorize_read(&who, Verb::Watch, &r.namespace).await?;
            this.require_ready()?;
            let place = this.watches.admit(&identity).map_err(|refusal| {
                let (limit, whose) = match refusal {
                    Refusal::PerKey => (Limit::WatchesPerIdentity, format!("identity {identity}")),
                    Refusal::Total => (Limit::Watches, "this server".to_string()),
                };
                this.metrics.limit_refused(limit);
                Error::ResourceExhausted(format!(
                    "too many open watches for {whose} (limit {}); close one, or raise {}",
                    match refusal {
                        Refusal::PerKey => this.config.max_watches_per_identity,
                        Refusal::Total => this.config.max_watches,
                    },
                    limit.flag()
                ))
            })?;
            // Subscribe before the snapshot so that no change falls in between.
            let changes = this.cache.subscribe();
            let (tx, rx) = mpsc::channel(WATCH_BUFFER);
            let namespace = non_empty(&r.namespace).map(String::from);
            // The stream's last item: the status it ends with, if the server ends it. It is
            // delivered after whatever is buffered, even when the buffer is full.
            // Through the error table, as every status: the request id, and a retry hint where
            // the table gives one.
            let (end_tx, end_rx) = oneshot::channel::<Error>();
            let request_id = who.request_id.clone();
            let filter = WatchFilter { namespace, permitted, sel, caller: who.clone() };
            tokio::spawn(run_watch(this.clone(), filter, changes, tx, end_tx, identity));
            let end = futures::stream::once(end_rx)
                .filter_map(move |r| futures::future::ready(r.ok().map(|e| Err(e.into_status(&request_id)))));
            // The watch's place is given back when tonic drops the stream (the client went
            // away, or the stream ended).
            let stream = tokio_stream::wrappers::ReceiverStream::new(rx).chain(end).map(move |item| {
                let _held = &place;
                item
            });
            Ok(Box::pin(stream) as WatchStream)
        })
        .await
    }

    async fn explain(&self, req: Request<pb::ExplainRequest>) -> Result<Response<pb::ExplainResponse>, Status> {
        self.call("Explain", req, |r, who| self.explain_call(r, who)).await
    }

    async fn plan(&self, req: Request<pb::PlanRequest>) -> Result<Response<pb::PlanResponse>, Status> {
        self.call("Plan", req, |r, who| self.plan_call(r, who)).await
    }

    async fn get_history(
        &self,
        req: Request<pb::GetHistoryRequest>,
    ) -> Result<Response<pb::GetHistoryResponse>, Status> {
        self.call("GetHistory", req, |r, who| self.get_history_call(r, who)).await
    }

    async fn undo(&self, req: Request<pb::UndoRequest>) -> Result<Response<pb::UndoResponse>, Status> {
        self.call("Undo", req, |r, who| self.undo_call(r, who)).await
    }

    async fn freeze(&self, req: Request<pb::FreezeRequest>) -> Result<Response<pb::FreezeResponse>, Status> {
        self.call("Freeze", req, |r, who| self.freeze_call(r, who)).await
    }

    async fn thaw(&self, req: Request<pb::ThawRequest>) -> Result<Response<pb::ThawResponse>, Status> {
        self.call("Thaw", req, |r, who| self.thaw_call(r, who)).await
    }

    async fn get_version(
        &self,
        req: Request<pb::GetVersionRequest>,
    ) -> Result<Response<pb::GetVersionResponse>, Status> {
        self.call("GetVersion", req, |_, who| async move { version::get_version_call(&who) }).await
    }

    async fn set_approval(
        &self,
        req: Request<pb::SetApprovalRequest>,
    ) -> Result<Response<pb::SetApprovalResponse>, Status> {
        self.call("SetApproval", req, |r, who| self.set_approval_call(r, who)).await
    }

    async fn list_scale_requests(
        &self,
        req: Request<pb::ListScaleRequestsRequest>,
    ) -> Result<Response<pb::ListScaleRequestsResponse>, Status> {
        self.call("ListScaleRequests", req, |r, who| self.list_scale_requests_call(r, who)).await
    }

    async fn approve_scale_request(
        &self,
        req: Request<pb::ApproveScaleRequestRequest>,
    ) -> Result<Response<pb::ApproveScaleRequestResponse>, Status> {
        self.call("ApproveScaleRequest", req, |r, who| self.approve_scale_request_call(r, who)).await
    }

    async fn deny_scale_request(
        &self,
        req: Request<pb::DenyScaleRequestRequest>,
    ) -> Result<Response<pb::DenyScaleRequestResponse>, Status> {
        self.call("DenyScaleRequest", req, |r, who| self.deny_scale_request_call(r, who)).await
    }
}
