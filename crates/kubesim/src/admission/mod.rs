//! Validating admission webhooks: kubesim calls the webhooks of the stored
//! `ValidatingWebhookConfiguration`s on the writes they select, as kube-apiserver's
//! `ValidatingAdmissionWebhook` plugin does.
//!
//! ```text
//!  api (one write request)                          admission
//!  ──────────────────────                           ─────────
//!  run(write) ─► lock store ─► registry verb ─► Admit::admit (under the lock)
//!                                   │              ├─ no configuration / none selects ─► commit
//!                                   │              └─ webhooks must see it ─► AdmissionPending
//!               unlock ◄────────────┘                  (nothing written; the calls are kept)
//!               dispatch: call the webhooks in parallel, outside the lock (client.rs)
//!                 denied / failed (Fail) ─► the request's error     warnings ─► Warning headers
//!               allowed ─► lock ─► the verb again ─► Admit::admit: the same object at the same
//!                 resourceVersion? commit : call again (bounded), as upstream's GuaranteedUpdate
//! ```
//!
//! Modules: [`config`] (the stored kind: defaults, validation, the parsed [`Webhook`]),
//! [`matching`] (rules and selectors), [`review`] (the `AdmissionReview`, answers, denials),
//! [`client`] (HTTPS), [`warning`] (`Warning` headers).
//!
//! Not modelled: mutating webhooks, `matchConditions` (stored, never evaluated: every
//! request the rules and selectors select is sent), and admission of kubesim's own writes
//! (the Deployment controller's status, garbage collection, a Namespace's contents,
//! [`crate::Sim::apply`]).

pub mod client;
pub mod config;
pub mod matching;
pub mod review;
pub mod warning;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::Value;

pub use config::Webhook;
pub use warning::Warnings;

use crate::error::ApiError;
use crate::identity::UserInfo;
use crate::registry::{self, Admit, Ctx, Operation, Proposed, Sub};
use crate::resources::Behavior;
use crate::store::StoreInner;
use matching::{Attributes, Invocation};
use review::RequestInfo;

/// How often a write is computed again after its webhooks allowed it, before it answers
/// 409 (the object kept changing under it). Upstream's `GuaranteedUpdate` retries until
/// the request times out.
const MAX_ATTEMPTS: usize = 32;

/// A route for the Service a webhook's `clientConfig.service` names
/// ([`crate::SimConfig::service_routes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRoute {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub name: String,
    /// The Service port the webhook names (`clientConfig.service.port`, default 443).
    pub port: u16,
    /// Where the webhook server listens.
    pub addr: SocketAddr,
}

/// Why a `--service-route` value does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected NAMESPACE/NAME:PORT=HOST:PORT, got {0:?}")]
pub struct ServiceRouteError(String);

impl std::str::FromStr for ServiceRoute {
    type Err = ServiceRouteError;

    /// Parses `NAMESPACE/NAME:PORT=ADDR`, e.g. `ops/scalekeeper:443=127.0.0.1:9443`.
    ///
    /// Errors: [`ServiceRouteError`] for any other shape.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ServiceRouteError(s.to_string());
        let (service, addr) = s.split_once('=').ok_or_else(err)?;
        let (namespace, rest) = service.split_once('/').ok_or_else(err)?;
        let (name, port) = rest.split_once(':').ok_or_else(err)?;
        if namespace.is_empty() || name.is_empty() {
            return Err(err());
        }
        Ok(ServiceRoute {
            namespace: namespace.into(),
            name: name.into(),
            port: port.parse().map_err(|_| err())?,
            addr: addr.parse().map_err(|_| err())?,
        })
    }
}

/// Admission state shared by every request: the Service route table and the parsed
/// webhooks.
#[derive(Debug, Default)]
pub struct Shared {
    routes: Mutex<HashMap<(String, String, u16), SocketAddr>>,
    cache: Mutex<(u64, Arc<Vec<Arc<Webhook>>>)>,
}

impl Shared {
    /// Routes the Service `namespace`/`name` at `port` to `addr` (replacing any route).
    pub fn route_service(&self, namespace: &str, name: &str, port: u16, addr: SocketAddr) {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        routes.insert((namespace.to_string(), name.to_string(), port), addr);
    }

    /// The address routed for the Service `namespace`/`name` at `port`, if any.
    pub fn service_route(&self, namespace: &str, name: &str, port: u16) -> Option<SocketAddr> {
        let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        routes.get(&(namespace.to_string(), name.to_string(), port)).copied()
    }

    /// The webhooks of the stored configurations (parsed again only after they changed).
    pub fn webhooks(&self, store: &StoreInner) -> Arc<Vec<Arc<Webhook>>> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.0 != store.webhook_configs_rv {
            *cache = (store.webhook_configs_rv, Arc::new(config::parse_all(&store.snapshot(config::STORAGE))));
        }
        cache.1.clone()
    }
}

/// What a write showed admission, to recognise it when computed again.
#[derive(Debug, Clone, PartialEq)]
struct Fingerprint {
    operation: Operation,
    old_rv: Option<Value>,
    new: Option<Value>,
}

/// Webhook calls a write waits for (several for a deletecollection: one per item).
#[derive(Debug, Default)]
pub struct Pending {
    fingerprints: Vec<Fingerprint>,
    calls: Vec<Call>,
}

/// One webhook call: whom, and what it is shown.
#[derive(Debug)]
struct Call {
    invocation: Invocation,
    info: RequestInfo,
    object: Option<Value>,
    old_object: Option<Value>,
}

/// The admission of one API request's writes ([`Admit`]): who asks, with which options,
/// the calls a write waits for, and the writes its webhooks allowed.
#[derive(Debug)]
pub struct Admission {
    shared: Arc<Shared>,
    user: UserInfo,
    query: HashMap<String, String>,
    delete_body: Option<Value>,
    pending: Mutex<Option<Pending>>,
    approved: Mutex<Vec<Fingerprint>>,
}

impl Admission {
    /// The admission of a request by `user` with query `query` (its `dryRun`,
    /// `fieldManager`, ... go into the reviews' options) and, for a delete, its
    /// `DeleteOptions` body.
    pub fn new(
        shared: Arc<Shared>,
        user: UserInfo,
        query: HashMap<String, String>,
        delete_body: Option<Value>,
    ) -> Self {
        Self { shared, user, query, delete_body, pending: Mutex::new(None), approved: Mutex::new(vec![]) }
    }

    fn take_pending(&self) -> Option<Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn approve(&self, fingerprints: Vec<Fingerprint>) {
        self.approved.lock().unwrap_or_else(|e| e.into_inner()).extend(fingerprints);
    }

    /// The object as invocation `inv` shows it: a `Scale` for the scale subresource, else the
    /// stored object converted to the invocation's version.
    fn view(ctx: &Ctx, sub: Sub, inv: &Invocation, stored: &Value) -> Result<Value, ApiError> {
        match sub {
            Sub::Scale => registry::scale_view(&ctx.def, stored),
            _ => Ok(registry::to_view(&inv.def, &inv.resource.version, stored)),
        }
    }
}

impl Admit for Admission {
    fn admit(&self, store: &StoreInner, ctx: &Ctx, proposed: &Proposed<'_>) -> Result<(), ApiError> {
        // Writes to webhook configurations are never admitted by webhooks
        // (`IsWebhookConfigurationResource`).
        if store.webhook_configs == 0 || ctx.def.behavior == Behavior::WebhookConfig {
            return Ok(());
        }
        let hooks = self.shared.webhooks(store);
        let namespace = match ctx.def.behavior {
            Behavior::Namespace if proposed.operation == Operation::Create => "",
            Behavior::Namespace => proposed.name,
            _ if ctx.def.namespaced => ctx.namespace.as_str(),
            _ => "",
        };
        let attrs = Attributes {
            operation: proposed.operation,
            def: &ctx.def,
            version: &ctx.version,
            sub: proposed.sub,
            namespace,
            object: proposed.new,
            old_object: proposed.old,
        };
        let invocations = matching::select(&hooks, store, &attrs)?;
        if invocations.is_empty() {
            return Ok(());
        }
        let fingerprint = Fingerprint {
            operation: proposed.operation,
            old_rv: proposed.old.and_then(|o| o.pointer("/metadata/resourceVersion").cloned()),
            new: proposed.new.cloned(),
        };
        if self.approved.lock().unwrap_or_else(|e| e.into_inner()).contains(&fingerprint) {
            return Ok(());
        }
        let sub = proposed.sub;
        let request_kind = match sub {
            Sub::Scale => ("autoscaling".to_string(), "v1".to_string(), "Scale".to_string()),
            _ => (ctx.def.group.clone(), ctx.version.clone(), ctx.def.kind.clone()),
        };
        let info = RequestInfo {
            operation: proposed.operation,
            resource: (ctx.def.group.clone(), ctx.version.clone(), ctx.def.plural.clone()),
            kind: request_kind,
            subresource: sub.name().unwrap_or("").to_string(),
            name: proposed.name.to_string(),
            namespace: namespace.to_string(),
            user: self.user.clone(),
            dry_run: ctx.dry_run,
            options: review::options(proposed.operation, &self.query, self.delete_body.as_ref()),
        };
        let mut calls = vec![];
        for invocation in invocations {
            let object = proposed.new.map(|o| Self::view(ctx, sub, &invocation, o)).transpose()?;
            let old_object = proposed.old.map(|o| Self::view(ctx, sub, &invocation, o)).transpose()?;
            calls.push(Call { invocation, info: info.clone(), object, old_object });
        }
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let pending = pending.get_or_insert_with(Pending::default);
        pending.fingerprints.push(fingerprint);
        pending.calls.extend(calls);
        Err(ApiError::admission_pending())
    }
}

/// Runs a write under admission: `write` runs under the store lock; while it stops for
/// webhooks ([`ApiError::admission_pending`]), they are called outside the lock (their
/// warnings go to `warnings`) and, if they allow it, the write runs again.
///
/// Errors: `write`'s own; a webhook's denial; a failed call under `failurePolicy: Fail`;
/// 409 Conflict when the object changed under the write more than `MAX_ATTEMPTS` times.
pub async fn run<T>(
    store: &crate::store::Store,
    admission: &Admission,
    warnings: &Warnings,
    mut write: impl FnMut(&mut StoreInner) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let mut last = None;
    for _ in 0..MAX_ATTEMPTS {
        let result = write(&mut store.lock());
        match result {
            Err(e) if e.is_admission_pending() => {
                let Some(pending) = admission.take_pending() else {
                    return Err(ApiError::internal("admission stopped a write without pending webhook calls"));
                };
                dispatch(&admission.shared, &pending.calls, warnings).await?;
                last = pending.calls.first().map(|c| (c.info.resource.clone(), c.info.name.clone()));
                admission.approve(pending.fingerprints);
            }
            other => return other,
        }
    }
    let ((group, _, resource), name) = last.unwrap_or_default();
    let qualified = if group.is_empty() { resource.clone() } else { format!("{resource}.{group}") };
    Err(ApiError::conflict(&qualified, &group, &resource, &name, ApiError::STALE))
}

/// Calls every webhook of `calls` in parallel. Their warnings are recorded whatever the
/// outcome; the first error in webhook order is the answer (upstream takes the first to
/// arrive).
///
/// Errors: a denial (the webhook's status), a failed call under `failurePolicy: Fail`
/// (500), a dry run a webhook with side effects would see (400).
async fn dispatch(shared: &Shared, calls: &[Call], warnings: &Warnings) -> Result<(), ApiError> {
    let results = futures::future::join_all(calls.iter().map(|c| call(shared, c, warnings))).await;
    results.into_iter().collect::<Result<Vec<()>, ApiError>>().map(|_| ())
}

/// One call, as the validating dispatcher's `callHook` and its outcome handling.
async fn call(shared: &Shared, c: &Call, warnings: &Warnings) -> Result<(), ApiError> {
    let hook = &c.invocation.webhook;
    if c.info.dry_run && !matches!(hook.side_effects.as_str(), "None" | "NoneOnDryRun") {
        return Err(review::dry_run_unsupported(&hook.name));
    }
    match exchange(shared, c).await {
        Ok(verdict) => {
            for w in &verdict.warnings {
                warnings.add(w);
            }
            if verdict.allowed { Ok(()) } else { Err(review::denial(&hook.name, verdict.status.as_ref())) }
        }
        Err(reason) if hook.ignore_failures => {
            tracing::warn!(webhook = %hook.name, error = %reason, "Failed calling webhook, failing open");
            Ok(())
        }
        Err(reason) => {
            tracing::warn!(webhook = %hook.name, error = %reason, "Failed calling webhook, failing closed");
            Err(review::call_failed(&hook.name, &reason))
        }
    }
}

/// Sends the review and checks the answer.
///
/// Errors: why the call failed, worded as kube-apiserver 1.33 words it
/// (`failed to call webhook: ...`, `received invalid webhook response: ...`).
async fn exchange(shared: &Shared, c: &Call) -> Result<review::Verdict, String> {
    let hook = &c.invocation.webhook;
    let version = review::version_for(&hook.review_versions)?;
    let uid = uuid::Uuid::new_v4().to_string();
    let body = review::build(version, &uid, &c.invocation, &c.info, c.object.clone(), c.old_object.clone());
    let bytes = serde_json::to_vec(&body).map_err(|e| format!("could not create admission objects: {e}"))?;
    let routes = |ns: &str, name: &str, port: u16| shared.service_route(ns, name, port);
    let answer = client::post(&routes, hook, bytes).await.map_err(|e| format!("failed to call webhook: {e}"))?;
    if !(200..=206).contains(&answer.status) {
        return Err(format!("failed to call webhook: {}", client::status_error(&answer)));
    }
    let json: Value = serde_json::from_slice(&answer.body)
        .map_err(|e| format!("failed to call webhook: couldn't get version/kind; json parse error: {e}"))?;
    review::verify(version, &uid, &json).map_err(|e| format!("received invalid webhook response: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_routes_parse() {
        let r: ServiceRoute = "ops/scalekeeper:443=127.0.0.1:9443".parse().expect("route");
        assert_eq!(
            r,
            ServiceRoute {
                namespace: "ops".into(),
                name: "scalekeeper".into(),
                port: 443,
                addr: "127.0.0.1:9443".parse().expect("addr")
            }
        );
        for bad in
            ["ops/sk=127.0.0.1:1", "sk:443=127.0.0.1:1", "ops/sk:443", "/sk:443=127.0.0.1:1", "ops/sk:x=127.0.0.1:1"]
        {
            assert!(bad.parse::<ServiceRoute>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_parsed_webhooks_follow_the_stored_configurations() {
        let store = crate::store::Store::new(crate::resources::builtins(), 10);
        let shared = Shared::default();
        let mut s = store.lock();
        assert!(shared.webhooks(&s).is_empty());
        let hook = serde_json::json!({"name": "a.b.c", "clientConfig": {"url": "https://h"}, "sideEffects": "None",
                                      "admissionReviewVersions": ["v1"], "timeoutSeconds": 3});
        s.commit(
            config::STORAGE,
            (String::new(), "z".into()),
            Some(serde_json::json!({"metadata": {}, "webhooks": [hook.clone()]})),
        );
        s.commit(
            config::STORAGE,
            (String::new(), "a".into()),
            Some(serde_json::json!({"metadata": {}, "webhooks": [hook]})),
        );
        assert_eq!(s.webhook_configs, 2);
        let hooks = shared.webhooks(&s);
        assert_eq!(
            hooks.iter().map(|h| h.configuration.as_str()).collect::<Vec<_>>(),
            ["a", "z"],
            "by configuration name"
        );
        assert_eq!(hooks[0].timeout, std::time::Duration::from_secs(3));
        s.commit(config::STORAGE, (String::new(), "a".into()), None);
        assert_eq!(s.webhook_configs, 1);
        assert_eq!(shared.webhooks(&s).len(), 1);
    }
}
