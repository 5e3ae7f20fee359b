//! kubesim: an in-memory Kubernetes API server that kubectl and kube-rs accept.
//!
//! It serves the resources scalekeeper deals with — apps/v1 Deployments (with `scale` and
//! `status`), Namespaces, core/v1 and events.k8s.io/v1 Events, Leases, autoscaling/v1 and
//! v2 HorizontalPodAutoscalers, RBAC Roles and bindings (answering SubjectAccessReviews from
//! them), SelfSubjectReviews, ValidatingWebhookConfigurations (whose webhooks it calls),
//! CustomResourceDefinitions and the kinds they register —
//! with the API server's semantics for resourceVersions, watches, conflicts, subresources,
//! managedFields and garbage collection, plus fault injection for tests.
//!
//! ```text
//!  kubectl / kube-rs ──HTTP(S)──► server (accept loop, TLS, down/up)
//!                                   └─► api (routing, discovery, tables, watch, faults)
//!                                         ├─► identity (tokens → users, impersonation)
//!                                         ├─► protobuf (protobuf bodies and answers ⇄ JSON)
//!                                         └─► registry (verbs, validation, GC) ──► store
//!                                               └─► admission (webhooks, called outside the lock)
//!  controller (Deployment status) ◄── store change notifications
//! ```
//!
//! Start one in-process with [`Sim::start`]; the `kubesim` binary serves one until stopped.

pub mod admission;
pub mod api;
pub mod controller;
pub mod convert;
pub mod error;
pub mod expiry;
pub mod faults;
pub mod identity;
pub mod managed_fields;
pub mod protobuf;
pub mod rbac;
pub mod registry;
pub mod resources;
pub mod schema;
/// Label and field selectors (the `kube-selectors` crate, shared with scalekeeper).
pub mod selectors {
    pub use kube_selectors::*;
}
pub mod server;
pub mod state;
pub mod store;
pub mod table;
pub mod tls;
pub mod validation;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use serde_json::{Value, json};
use tokio_rustls::TlsAcceptor;

pub use admission::ServiceRoute;
pub use faults::FaultSpec;
pub use identity::{SimUser, UserInfo};
use registry::{Ctx, Sub};
use state::{RuntimeConfig, State};
pub use store::WriteRecord;

/// How to start a kubesim.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Serve HTTPS with a generated CA (the kubeconfig carries the CA).
    pub tls: bool,
    /// Require this bearer token on every request (the kubeconfig carries it). It
    /// authenticates as [`identity::ADMIN_USER`] (`kubesim-admin`, groups `system:masters`,
    /// `system:authenticated`), as does every request when no token is configured.
    pub token: Option<String>,
    /// Further users, each with its own bearer token (like kube-apiserver's
    /// `--token-auth-file`); [`Sim::kubeconfig_yaml_for`] and [`Sim::client_as`] act as them.
    /// With users but no `token`, a request without a token is still the admin; a token
    /// that matches nobody gets 401.
    pub users: Vec<SimUser>,
    /// Where the Services named by webhooks' `clientConfig.service` are reached (kubesim has
    /// no Services or Endpoints); more with [`Sim::route_service`].
    pub service_routes: Vec<ServiceRoute>,
    /// How long the Deployment controller takes to make status match spec.
    pub deployment_delay: Duration,
    /// How many changes are kept for watches to resume from (older → 410 Gone). Each holds
    /// the object before and after, so this bounds most of what a long run keeps besides the
    /// objects themselves.
    pub history: usize,
    /// How long an Event lives after its last write, as kube-apiserver's `--event-ttl` (1 h,
    /// the default here too); a background sweep deletes it then ([`expiry`]), and watchers
    /// see it DELETED. `None`: Events stay until deleted.
    pub event_ttl: Option<Duration>,
    /// How often watches that allow bookmarks get one.
    pub bookmark_interval: Duration,
    /// Address of the admin HTTP endpoint (faults, down/up), if wanted.
    pub admin_listen: Option<SocketAddr>,
    /// Answer protobuf whenever a client lists it before JSON in `Accept`, as the real API
    /// server does (client-go asks `application/vnd.kubernetes.protobuf,application/json`).
    /// Off by default: kubesim then answers JSON to any client that accepts JSON, and
    /// protobuf only to one that accepts nothing else. Tests turn it on to check that Go
    /// clients decode kubesim's protobuf.
    pub protobuf_first: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: false,
            token: None,
            users: vec![],
            service_routes: vec![],
            deployment_delay: Duration::from_millis(50),
            history: DEFAULT_HISTORY,
            event_ttl: Some(DEFAULT_EVENT_TTL),
            bookmark_interval: Duration::from_secs(5),
            admin_listen: None,
            protobuf_first: false,
        }
    }
}

/// The default of [`SimConfig::history`] and of `kubesim serve --history`: 100,000 changes.
pub const DEFAULT_HISTORY: usize = 100_000;

/// The default of [`SimConfig::event_ttl`] and of `kubesim serve --event-ttl`: 1 h, as
/// kube-apiserver's `--event-ttl`.
pub const DEFAULT_EVENT_TTL: Duration = Duration::from_secs(3600);

/// A running kubesim. Cloning gives another handle to the same server.
#[derive(Clone)]
pub struct Sim {
    state: Arc<State>,
    inner: Arc<Inner>,
}

struct Inner {
    router: Router,
    tls: Option<TlsAcceptor>,
    ca_pem: Option<String>,
    admin_addr: Option<SocketAddr>,
    updown: tokio::sync::Mutex<bool>,
}

/// The default namespaces every cluster has.
const DEFAULT_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

impl Sim {
    /// Starts a kubesim: binds, starts the Deployment controller, creates the default
    /// namespaces. Installs the ring rustls provider as the process default if none is.
    ///
    /// Errors: the address cannot be bound, or certificates cannot be generated.
    pub async fn start(config: SimConfig) -> anyhow::Result<Sim> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = server::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
        let addr = listener.local_addr()?;
        let (tls, ca_pem) = if config.tls {
            let certs = tls::ServingCerts::generate().context("generating kubesim's serving certificate")?;
            (Some(TlsAcceptor::from(certs.server_config()?)), Some(certs.ca_pem.clone()))
        } else {
            (None, None)
        };
        let retention = store::Retention { history: config.history, event_ttl: config.event_ttl };
        let store = store::Store::with_retention(resources::builtins(), retention);
        let runtime = RuntimeConfig {
            token: config.token.clone(),
            users: config.users.clone(),
            bookmark_interval: config.bookmark_interval,
            deployment_delay: config.deployment_delay,
            protobuf_first: config.protobuf_first,
        };
        let state = Arc::new(State::new(store, runtime, addr));
        for r in &config.service_routes {
            state.admission.route_service(&r.namespace, &r.name, r.port, r.addr);
        }
        let router = server::router(state.clone());
        server::spawn_accept_loop(listener, router.clone(), tls.clone(), state.down_token());
        tokio::spawn(controller::run(state.clone()));
        if let Some(ttl) = config.event_ttl {
            tokio::spawn(expiry::run(Arc::downgrade(&state), ttl));
        }
        let mut sim = Sim {
            state: state.clone(),
            inner: Arc::new(Inner { router, tls, ca_pem, admin_addr: None, updown: tokio::sync::Mutex::new(false) }),
        };
        for ns in DEFAULT_NAMESPACES {
            sim.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))?;
        }
        if let Some(admin) = config.admin_listen {
            let listener = server::bind(admin).await.with_context(|| format!("binding admin {admin}"))?;
            let admin_addr = listener.local_addr()?;
            let app = admin_router(sim.clone());
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            if let Some(inner) = Arc::get_mut(&mut sim.inner) {
                inner.admin_addr = Some(admin_addr);
            }
        }
        Ok(sim)
    }

    /// The API address.
    pub fn addr(&self) -> SocketAddr {
        self.state.addr()
    }

    /// The admin endpoint's address, when one was asked for.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.inner.admin_addr
    }

    /// The API server URL (`http://` or `https://`).
    pub fn url(&self) -> String {
        let scheme = if self.inner.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr())
    }

    /// A kubeconfig (YAML) that kubectl and kube-rs use unchanged, as the admin
    /// ([`SimConfig::token`], or no token).
    pub fn kubeconfig_yaml(&self) -> String {
        self.kubeconfig_with_token(self.state.config.token.as_deref())
    }

    /// A kubeconfig (YAML) like [`Self::kubeconfig_yaml`] that authenticates as the
    /// [`SimUser`] `user_name` (its token).
    ///
    /// Errors: no such user in [`SimConfig::users`].
    pub fn kubeconfig_yaml_for(&self, user_name: &str) -> anyhow::Result<String> {
        let user = self
            .state
            .config
            .users
            .iter()
            .find(|u| u.name == user_name)
            .with_context(|| format!("kubesim has no user {user_name:?} (SimConfig::users)"))?;
        Ok(self.kubeconfig_with_token(Some(&user.token)))
    }

    fn kubeconfig_with_token(&self, token: Option<&str>) -> String {
        use base64::Engine as _;
        let mut cluster = format!("    server: {}\n", self.url());
        if let Some(ca) = &self.inner.ca_pem {
            let data = base64::engine::general_purpose::STANDARD.encode(ca);
            cluster.push_str(&format!("    certificate-authority-data: {data}\n"));
        }
        let user = match token {
            Some(t) => format!("  user:\n    token: {t}\n"),
            None => "  user: {}\n".to_string(),
        };
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kubesim\n  cluster:\n{cluster}contexts:\n- name: kubesim\n  context:\n    cluster: kubesim\n    user: kubesim\n    namespace: default\ncurrent-context: kubesim\nusers:\n- name: kubesim\n{user}preferences: {{}}\n"
        )
    }

    /// Writes [`Self::kubeconfig_yaml`] to `path`.
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, self.kubeconfig_yaml())
    }

    /// Writes [`Self::kubeconfig_yaml_for`] `user_name` to `path`.
    ///
    /// Errors: no such user; the file cannot be written.
    pub fn write_kubeconfig_for(&self, user_name: &str, path: &Path) -> anyhow::Result<()> {
        let yaml = self.kubeconfig_yaml_for(user_name)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, yaml).with_context(|| format!("writing {}", path.display()))
    }

    /// A kube-rs client built from the kubeconfig, exactly as a user's would be.
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        client_from(&self.kubeconfig_yaml()).await
    }

    /// A kube-rs client that authenticates as the [`SimUser`] `user_name`, so that a test or
    /// dev mode can give scalekeeper and a human kubectl different identities.
    ///
    /// Errors: no such user; the client cannot be built.
    pub async fn client_as(&self, user_name: &str) -> anyhow::Result<kube::Client> {
        client_from(&self.kubeconfig_yaml_for(user_name)?).await
    }

    /// Routes the Service `namespace`/`name` at `port` to `addr`: a webhook whose
    /// `clientConfig.service` names it is called there, its certificate verified for
    /// `<name>.<namespace>.svc` as kube-apiserver does. Replaces an earlier route.
    pub fn route_service(&self, namespace: &str, name: &str, port: u16, addr: SocketAddr) {
        self.state.admission.route_service(namespace, name, port, addr);
    }

    // === state ===

    fn ctx_for(&self, api_version: &str, kind: &str, namespace: &str, manager: &str) -> anyhow::Result<Ctx> {
        let (group, version) = resources::split_api_version(api_version);
        let def = self
            .state
            .resources()
            .into_iter()
            .find(|r| r.group == group && r.kind == kind && r.versions.iter().any(|v| v == version))
            .with_context(|| format!("no resource for {api_version} {kind}"))?;
        Ok(Ctx {
            namespace: if def.namespaced { namespace.to_string() } else { String::new() },
            def,
            version: version.to_string(),
            manager: manager.to_string(),
            dry_run: false,
            gate: None,
        })
    }

    /// Creates `obj`, or replaces it if it exists (field manager `kubesim`). A namespaced
    /// object's namespace is created when missing.
    pub fn apply(&self, obj: Value) -> anyhow::Result<Value> {
        let api_version = obj["apiVersion"].as_str().context("object has no apiVersion")?.to_string();
        let kind = obj["kind"].as_str().context("object has no kind")?.to_string();
        let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default").to_string();
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        let ctx = self.ctx_for(&api_version, &kind, &ns, "kubesim")?;
        // Resolve before locking: ctx_for reads the resource list under the same lock.
        let ns_ctx = self.ctx_for("v1", "Namespace", "", "kubesim")?;
        let written = {
            let mut store = self.state.store.lock();
            if ctx.def.namespaced && store.get("namespaces", &(String::new(), ns.clone())).is_none() {
                let w = registry::create(&mut store, &ns_ctx, json!({"metadata": {"name": ns}}))?;
                drop(w);
            }
            let exists = store.get(&ctx.def.storage, &(ctx.namespace.clone(), name.clone())).is_some();
            if exists {
                registry::write_existing(
                    &mut store,
                    &ctx,
                    &name,
                    Sub::Main,
                    "update",
                    managed_fields::Operation::Update,
                    |_| Ok(obj),
                )?
            } else {
                registry::create(&mut store, &ctx, obj)?
            }
        };
        let rv = self.state.store.lock().rv;
        self.state.publish(rv, true);
        Ok(written.object)
    }

    /// Loads every document of a multi-document YAML file with [`Self::apply`]; returns how
    /// many objects were loaded.
    pub fn seed_yaml(&self, yaml: &str) -> anyhow::Result<usize> {
        use serde::Deserialize as _;
        let mut n = 0;
        for doc in serde_yaml::Deserializer::from_str(yaml) {
            let v = Value::deserialize(doc)?;
            if v.is_null() {
                continue;
            }
            if v["kind"].as_str().is_some_and(|k| k.ends_with("List")) {
                for item in v["items"].as_array().cloned().unwrap_or_default() {
                    self.apply(item)?;
                    n += 1;
                }
            } else {
                self.apply(v)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// The stored object `apiVersion`/`kind` `namespace`/`name`, in that version's shape.
    pub fn get(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let ctx = self.ctx_for(api_version, kind, namespace, "kubesim").ok()?;
        registry::get(&self.state.store.lock(), &ctx, name, Sub::Main).ok()
    }

    /// Every write kubesim has seen (the last 100,000).
    pub fn writes(&self) -> Vec<WriteRecord> {
        self.state.store.writes()
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.state.store.lock().rv
    }

    /// How many changes the watch history holds now (at most [`SimConfig::history`]).
    pub fn retained_changes(&self) -> usize {
        self.state.store.lock().retained_changes()
    }

    /// How many Events are stored (core/v1 and events.k8s.io/v1 share them).
    pub fn stored_events(&self) -> usize {
        self.state.store.lock().snapshot(resources::EVENTS).len()
    }

    /// How many watch streams are open.
    pub fn watcher_count(&self) -> usize {
        self.state.watcher_count()
    }

    // === faults ===

    /// Sets the injected faults (latency, failing the next N requests).
    pub fn set_faults(&self, spec: FaultSpec) {
        self.state.faults.set(spec);
    }

    /// Closes every open watch; clients re-watch as they would after an API server restart.
    pub fn close_watches(&self) {
        self.state.close_watches();
    }

    /// Goes down: the listener closes (new connections are refused) and every open
    /// connection and watch ends. State is kept.
    pub async fn go_down(&self) {
        let mut down = self.inner.updown.lock().await;
        if !*down {
            self.state.take_down();
            *down = true;
        }
    }

    /// Comes back up on the same address, with the state it had.
    ///
    /// Errors: the address was taken by someone else meanwhile.
    pub async fn come_up(&self) -> anyhow::Result<()> {
        let mut down = self.inner.updown.lock().await;
        if *down {
            let listener = server::bind(self.addr()).await.context("rebinding after going down")?;
            server::spawn_accept_loop(
                listener,
                self.inner.router.clone(),
                self.inner.tls.clone(),
                self.state.down_token(),
            );
            *down = false;
        }
        Ok(())
    }

    /// Whether the server is down.
    pub async fn is_down(&self) -> bool {
        *self.inner.updown.lock().await
    }

    /// Stops serving for good.
    pub async fn shutdown(&self) {
        self.go_down().await;
    }
}

async fn client_from(kubeconfig_yaml: &str) -> anyhow::Result<kube::Client> {
    let kc = kube::config::Kubeconfig::from_yaml(kubeconfig_yaml)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

/// The admin endpoint: `GET/PUT /faults`, `POST /close-watches`, `POST /down`,
/// `POST /up`, `GET /writes`, `GET /stats`.
fn admin_router(sim: Sim) -> Router {
    use axum::routing::{get, post};
    use axum::{Json, extract::State as AxState};
    Router::new()
        .route(
            "/faults",
            get(|AxState(s): AxState<Sim>| async move { Json(s.state.faults.get()) }).put(
                |AxState(s): AxState<Sim>, Json(spec): Json<FaultSpec>| async move {
                    s.set_faults(spec.clone());
                    Json(spec)
                },
            ),
        )
        .route(
            "/close-watches",
            post(|AxState(s): AxState<Sim>| async move {
                s.close_watches();
                "closed\n"
            }),
        )
        .route(
            "/down",
            post(|AxState(s): AxState<Sim>| async move {
                s.go_down().await;
                "down\n"
            }),
        )
        .route(
            "/up",
            post(|AxState(s): AxState<Sim>| async move {
                match s.come_up().await {
                    Ok(()) => (axum::http::StatusCode::OK, "up\n".to_string()),
                    Err(e) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}\n")),
                }
            }),
        )
        .route(
            "/writes",
            get(|AxState(s): AxState<Sim>| async move {
                Json(
                    s.writes()
                        .into_iter()
                        .map(|w| json!({"rv": w.rv, "verb": w.verb, "resource": w.resource, "subresource": w.subresource, "namespace": w.namespace, "name": w.name, "fieldManager": w.field_manager}))
                        .collect::<Vec<_>>(),
                )
            }),
        )
        .route(
            "/stats",
            get(|AxState(s): AxState<Sim>| async move {
                Json(json!({"resourceVersion": s.resource_version(), "retainedChanges": s.retained_changes(), "events": s.stored_events(), "watchers": s.watcher_count(), "down": s.is_down().await}))
            }),
        )
        .with_state(sim)
}
