//! The `scalekeeper.v1.ScaleService` implementation: reads from the watch cache, writes
//! through [`Writer`], errors converted to `tonic::Status` at this edge only.
//!
//! Every call is logged with a request id, the caller's identity, the outcome and the
//! latency, and counted in the metrics.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use futures::StreamExt as _;
use kube::ResourceExt as _;
use kube_selectors::LabelSelector;
use scalekeeper_api::v1 as pb;
use scalekeeper_api::v1::scale_service_server::ScaleService;
use scalekeeper_core::{Violation, page_size, validate_namespace_filter, validate_replicas, validate_target};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_stream::Stream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::convert::{self, mode_from_proto};
use super::status::Error;
use crate::cache::{Cache, Change};
use crate::metrics::Metrics;
use crate::tls::PeerInfo;
use crate::view::DeploymentView;
use crate::writer::{SetRequest, Writer};

/// Settings of the service.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Largest replica count SetReplicas accepts (a count of Pods).
    pub max_replicas: i32,
}

/// The gRPC service.
#[derive(Clone)]
pub struct Service {
    cache: Cache,
    writer: Writer,
    metrics: Arc<Metrics>,
    config: ServiceConfig,
    stop: CancellationToken,
}

/// The caller, as logged: identity from the client certificate and remote address.
fn caller<T>(req: &Request<T>) -> (String, String) {
    match req.extensions().get::<PeerInfo>() {
        Some(p) => (
            p.identity.as_ref().map(|i| i.to_string()).unwrap_or_else(|| "<no identity>".into()),
            p.remote_addr.to_string(),
        ),
        None => ("<unknown>".into(), String::new()),
    }
}

fn request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_string()
}

impl Service {
    /// A service over `cache` and `writer`. Open watch streams end when `stop` is cancelled.
    pub fn new(
        cache: Cache,
        writer: Writer,
        metrics: Arc<Metrics>,
        config: ServiceConfig,
        stop: CancellationToken,
    ) -> Self {
        Self { cache, writer, metrics, config, stop }
    }

    /// Runs a unary handler with logging and metrics.
    async fn call<T, R, F>(
        &self,
        method: &'static str,
        req: Request<T>,
        f: impl FnOnce(T, String) -> F,
    ) -> Result<Response<R>, Status>
    where
        F: Future<Output = Result<R, Error>>,
    {
        let start = Instant::now();
        let (identity, peer) = caller(&req);
        let id = request_id();
        let result = f(req.into_inner(), identity.clone()).await;
        let elapsed = start.elapsed();
        let code = match &result {
            Ok(_) => tonic::Code::Ok,
            Err(e) => e.code(),
        };
        self.metrics.observe(method, &format!("{code:?}"), elapsed.as_secs_f64());
        match &result {
            Ok(_) => {
                tracing::info!(request_id = %id, method, identity = %identity, peer = %peer, code = ?code, latency_us = elapsed.as_micros() as u64, "call")
            }
            Err(e @ Error::Internal(_)) => {
                tracing::error!(request_id = %id, method, identity = %identity, peer = %peer, code = ?code, error = %e, "call failed")
            }
            Err(e) => {
                tracing::info!(request_id = %id, method, identity = %identity, peer = %peer, code = ?code, error = %e, latency_us = elapsed.as_micros() as u64, "call refused")
            }
        }
        result.map(Response::new).map_err(Status::from)
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

    fn check_scope(&self, namespace: &str) -> Result<(), Error> {
        if namespace.is_empty() || self.cache.scope().contains(namespace) {
            Ok(())
        } else {
            Err(Error::PermissionDenied(format!("namespace {namespace:?} is not in this server's scope (--namespace)")))
        }
    }
}

fn invalid(v: Vec<Violation>) -> Result<(), Error> {
    if v.is_empty() { Ok(()) } else { Err(Error::Invalid(v)) }
}

fn selector(s: &str) -> Result<LabelSelector, Error> {
    LabelSelector::parse(s)
        .map_err(|e| Error::Invalid(vec![Violation { field: "label_selector".into(), description: e.to_string() }]))
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// A page token: the position after the last item of the previous page.
fn encode_token(ns: &str, name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{ns}/{name}"))
}

fn decode_token(t: &str) -> Result<(String, String), Error> {
    let bad = || {
        Error::Invalid(vec![Violation {
            field: "page_token".into(),
            description: "not a token this server issued".into(),
        }])
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t).map_err(|_| bad())?;
    let s = String::from_utf8(bytes).map_err(|_| bad())?;
    let (ns, name) = s.split_once('/').ok_or_else(bad)?;
    Ok((ns.to_string(), name.to_string()))
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchDeploymentsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ScaleService for Service {
    async fn list_deployments(
        &self,
        req: Request<pb::ListDeploymentsRequest>,
    ) -> Result<Response<pb::ListDeploymentsResponse>, Status> {
        self.call("ListDeployments", req, |r, _| async move {
            invalid(validate_namespace_filter(&r.namespace))?;
            let size = page_size(r.page_size).map_err(|v| Error::Invalid(vec![v]))?;
            let sel = selector(&r.label_selector)?;
            let after = match non_empty(&r.page_token) {
                Some(t) => Some(decode_token(t)?),
                None => None,
            };
            self.check_scope(&r.namespace)?;
            self.require_ready()?;
            let all = self.cache.list(non_empty(&r.namespace), |d| sel.matches_labels(d.metadata.labels.as_ref()));
            let mut page: Vec<pb::Deployment> = vec![];
            let mut next = String::new();
            for v in all {
                let key = (v.deployment.namespace().unwrap_or_default(), v.deployment.name_any());
                if after.as_ref().is_some_and(|a| key <= *a) {
                    continue;
                }
                if page.len() == size {
                    if let Some(last) = page.last() {
                        next = encode_token(&last.namespace, &last.name);
                    }
                    break;
                }
                page.push(convert::deployment(&v));
            }
            Ok(pb::ListDeploymentsResponse { deployments: page, next_page_token: next })
        })
        .await
    }

    async fn get_deployment(
        &self,
        req: Request<pb::GetDeploymentRequest>,
    ) -> Result<Response<pb::GetDeploymentResponse>, Status> {
        self.call("GetDeployment", req, |r, _| async move {
            invalid(validate_target(&r.namespace, &r.name))?;
            self.check_scope(&r.namespace)?;
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
        self.call("SetReplicas", req, |r, identity| async move {
            let mut v = validate_target(&r.namespace, &r.name);
            v.extend(validate_replicas(r.replicas, self.config.max_replicas));
            if pb::Mode::try_from(r.mode).is_err() {
                v.push(Violation { field: "mode".into(), description: format!("{} is not a Mode", r.mode) });
            }
            invalid(v)?;
            self.check_scope(&r.namespace)?;
            let view = self
                .writer
                .set_replicas(&SetRequest {
                    namespace: &r.namespace,
                    name: &r.name,
                    replicas: r.replicas,
                    expected_version: non_empty(&r.expected_version),
                    mode: mode_from_proto(r.mode),
                    identity: &identity,
                })
                .await?;
            tracing::info!(
                identity = %identity, namespace = %r.namespace, name = %r.name,
                replicas = r.replicas, version = %view.policy.as_ref().and_then(|p| p.resource_version()).unwrap_or_default(),
                "replica count declared"
            );
            Ok(pb::SetReplicasResponse { deployment: Some(convert::deployment(&view)) })
        })
        .await
    }

    async fn clear_desired_replicas(
        &self,
        req: Request<pb::ClearDesiredReplicasRequest>,
    ) -> Result<Response<pb::ClearDesiredReplicasResponse>, Status> {
        self.call("ClearDesiredReplicas", req, |r, identity| async move {
            invalid(validate_target(&r.namespace, &r.name))?;
            self.check_scope(&r.namespace)?;
            let view = self.writer.clear(&r.namespace, &r.name, non_empty(&r.expected_version)).await?;
            tracing::info!(identity = %identity, namespace = %r.namespace, name = %r.name, "declaration cleared");
            Ok(pb::ClearDesiredReplicasResponse { deployment: Some(convert::deployment(&view)) })
        })
        .await
    }

    async fn diff(&self, req: Request<pb::DiffRequest>) -> Result<Response<pb::DiffResponse>, Status> {
        self.call("Diff", req, |r, _| async move {
            invalid(validate_namespace_filter(&r.namespace))?;
            let sel = selector(&r.label_selector)?;
            self.check_scope(&r.namespace)?;
            self.require_ready()?;
            let diffs = self
                .cache
                .list(non_empty(&r.namespace), |d| sel.matches_labels(d.metadata.labels.as_ref()))
                .into_iter()
                .filter_map(|v| {
                    let sync = v.sync();
                    if !sync.status.is_out_of_sync() {
                        return None;
                    }
                    let p = convert::deployment(&v);
                    Some(pb::DeploymentDiff {
                        namespace: p.namespace,
                        name: p.name,
                        sync_status: p.sync_status,
                        desired_replicas: p.desired_replicas.unwrap_or(0),
                        spec_replicas: p.spec_replicas,
                        ready_replicas: p.status.map(|s| s.ready_replicas).unwrap_or(0),
                        mode: p.mode,
                        reason: sync.reason,
                    })
                })
                .collect();
            Ok(pb::DiffResponse { diffs })
        })
        .await
    }

    type WatchDeploymentsStream = WatchStream;

    async fn watch_deployments(
        &self,
        req: Request<pb::WatchDeploymentsRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        let this = self.clone();
        self.call("WatchDeployments", req, |r, identity| async move {
            invalid(validate_namespace_filter(&r.namespace))?;
            let sel = selector(&r.label_selector)?;
            this.check_scope(&r.namespace)?;
            this.require_ready()?;
            // Subscribe before the snapshot so that no change falls in between.
            let changes = this.cache.subscribe();
            let (tx, rx) = mpsc::channel(WATCH_BUFFER);
            let namespace = non_empty(&r.namespace).map(String::from);
            // The stream's last item: the status it ends with, if the server ends it. It is
            // delivered after whatever is buffered, even when the buffer is full.
            let (end_tx, end_rx) = oneshot::channel::<Status>();
            tokio::spawn(run_watch(this.clone(), namespace, sel, changes, tx, end_tx, identity));
            let end = futures::stream::once(end_rx).filter_map(|r| futures::future::ready(r.ok().map(Err)));
            Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx).chain(end)) as WatchStream)
        })
        .await
    }
}

/// Events a watch client may have unread before it is considered too slow.
pub const WATCH_BUFFER: usize = 256;

fn event(t: pb::EventType, d: Option<pb::Deployment>) -> pb::WatchDeploymentsResponse {
    pb::WatchDeploymentsResponse { r#type: t as i32, deployment: d }
}

/// Feeds one WatchDeployments stream: the snapshot, SYNCED, then changes. Ends with
/// RESOURCE_EXHAUSTED when the client falls too far behind, UNAVAILABLE on shutdown.
async fn run_watch(
    svc: Service,
    namespace: Option<String>,
    sel: LabelSelector,
    mut changes: broadcast::Receiver<Change>,
    tx: mpsc::Sender<Result<pb::WatchDeploymentsResponse, Status>>,
    end: oneshot::Sender<Status>,
    identity: String,
) {
    let select = |ns: Option<&str>| -> BTreeMap<(String, String), pb::Deployment> {
        svc.cache
            .list(ns, |d| sel.matches_labels(d.metadata.labels.as_ref()))
            .into_iter()
            .map(|v: DeploymentView| {
                let p = convert::deployment(&v);
                ((p.namespace.clone(), p.name.clone()), p)
            })
            .collect()
    };
    let mut known: HashMap<(String, String), pb::Deployment> = HashMap::new();
    for (key, d) in select(namespace.as_deref()) {
        if tx.send(Ok(event(pb::EventType::Added, Some(d.clone())))).await.is_err() {
            return;
        }
        known.insert(key, d);
    }
    if tx.send(Ok(event(pb::EventType::Synced, None))).await.is_err() {
        return;
    }
    let too_slow = |end: oneshot::Sender<Status>| {
        tracing::warn!(identity = %identity, "watch client too slow; ending its stream");
        let _ = end.send(Status::resource_exhausted(
            "watch client too slow to keep up with changes; re-watch to get a fresh snapshot",
        ));
    };
    loop {
        let change = tokio::select! {
            _ = svc.stop.cancelled() => {
                let _ = end.send(Status::unavailable("server shutting down; reconnect to another replica"));
                return;
            }
            _ = tx.closed() => return,
            c = changes.recv() => c,
        };
        let mut out = vec![];
        match change {
            Ok(Change::Object { namespace: ns, name }) => {
                if namespace.as_deref().is_some_and(|n| n != ns) {
                    continue;
                }
                let key = (ns.clone(), name.clone());
                let now = svc
                    .cache
                    .get(&ns, &name)
                    .filter(|v| sel.matches_labels(v.deployment.metadata.labels.as_ref()))
                    .map(|v| convert::deployment(&v));
                diff_one(&mut known, key, now, &mut out);
            }
            Ok(Change::Resync) => {
                let current = select(namespace.as_deref());
                let gone: Vec<(String, String)> = known.keys().filter(|k| !current.contains_key(*k)).cloned().collect();
                for k in gone {
                    diff_one(&mut known, k, None, &mut out);
                }
                for (k, d) in current {
                    diff_one(&mut known, k, Some(d), &mut out);
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                too_slow(end);
                return;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
        for ev in out {
            match tx.try_send(Ok(ev)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    too_slow(end);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        }
    }
}

/// Compares the last state sent for `key` with `now`, pushing the event to send, if any.
fn diff_one(
    known: &mut HashMap<(String, String), pb::Deployment>,
    key: (String, String),
    now: Option<pb::Deployment>,
    out: &mut Vec<pb::WatchDeploymentsResponse>,
) {
    match (known.get(&key), now) {
        (None, Some(d)) => {
            known.insert(key, d.clone());
            out.push(event(pb::EventType::Added, Some(d)));
        }
        (Some(prev), Some(d)) if *prev != d => {
            known.insert(key, d.clone());
            out.push(event(pb::EventType::Modified, Some(d)));
        }
        (Some(_), None) => {
            if let Some(last) = known.remove(&key) {
                out.push(event(pb::EventType::Deleted, Some(last)));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(name: &str, spec: i32) -> pb::Deployment {
        pb::Deployment { namespace: "ns".into(), name: name.into(), spec_replicas: spec, ..Default::default() }
    }

    #[test]
    fn page_tokens_round_trip_and_reject_garbage() {
        let t = encode_token("shop", "web");
        assert_eq!(decode_token(&t).unwrap(), ("shop".into(), "web".into()));
        assert!(matches!(decode_token("!!"), Err(Error::Invalid(_))));
    }

    #[test]
    fn watch_diff_emits_added_modified_deleted_once() {
        let mut known = HashMap::new();
        let key = ("ns".to_string(), "a".to_string());
        let mut out = vec![];
        diff_one(&mut known, key.clone(), Some(dep("a", 1)), &mut out);
        diff_one(&mut known, key.clone(), Some(dep("a", 1)), &mut out);
        diff_one(&mut known, key.clone(), Some(dep("a", 2)), &mut out);
        diff_one(&mut known, key.clone(), None, &mut out);
        diff_one(&mut known, key, None, &mut out);
        let types: Vec<i32> = out.iter().map(|e| e.r#type).collect();
        assert_eq!(
            types,
            vec![pb::EventType::Added as i32, pb::EventType::Modified as i32, pb::EventType::Deleted as i32]
        );
        assert_eq!(out[2].deployment.as_ref().map(|d| d.spec_replicas), Some(2));
    }
}
