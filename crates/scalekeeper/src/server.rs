//! Wiring of `scalekeeper serve`: the watch cache, the gRPC server on mTLS (ScaleService,
//! `grpc.health.v1`, reflection), the plaintext HTTP server (`/healthz`, `/readyz`,
//! `/metrics`) and graceful shutdown.
//!
//! Shutdown order (one [`CancellationToken`] starts it):
//! 1. `/readyz` answers 503 and gRPC health turns NOT_SERVING (health watchers are told) before
//!    anything closes, so load balancers and health-checking clients stop sending new calls;
//!    the reconciler stops and the Lease is released;
//! 2. for `shutdown_delay` (default 0; what a preStop sleep does) everything keeps serving,
//!    while endpoint removal propagates;
//! 3. the TLS accept loop closes (new connections are refused), every connection gets a GOAWAY,
//!    and streams that never end on their own (WatchDeployments, health Watch) end with
//!    UNAVAILABLE;
//! 4. in-flight calls finish, bounded by the drain timeout;
//! 5. the watch cache and HTTP server stop.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use axum::http::StatusCode;
use axum::routing::get;
use futures::StreamExt as _;
use scalekeeper_api::v1::scale_service_server::ScaleServiceServer;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::admission::{AdmissionConfig, Webhook};
use crate::authz::{AuthorizationMode, Authorizer};
use crate::cache::{Cache, Scope};
use crate::grpc::intake::IntakeLayer;
use crate::grpc::{Service, ServiceConfig};
use crate::leader::{self, LeaderConfig};
use crate::limits::ListenerLimits;
use crate::metrics::Metrics;
use crate::policy::PolicyGuard;
use crate::reconciler::{self, ReconcileConfig};
use crate::tls::{self, ClientPolicy, TlsFiles, TlsSource};
use crate::writer::Writer;

/// How calls are authorized, and how long decisions are reused (see [`crate::authz`]).
#[derive(Debug, Clone)]
pub struct AuthorizationConfig {
    /// RBAC (a SubjectAccessReview per cached decision) or allow-any.
    pub mode: AuthorizationMode,
    /// How long an allowed decision is reused.
    pub allow_ttl: Duration,
    /// How long a denied decision is reused.
    pub deny_ttl: Duration,
    /// Accept client certificates claiming groups with the `system:` prefix
    /// (`--allow-system-groups`); off: such calls are PERMISSION_DENIED before any check.
    pub allow_system_groups: bool,
    /// Groups whose members may apply a change the two-person rule holds back at once
    /// (`--break-glass-group`; `set --break-glass`).
    pub break_glass_groups: Vec<String>,
}

impl Default for AuthorizationConfig {
    /// RBAC, with [`crate::authz::DEFAULT_ALLOW_TTL`] and [`crate::authz::DEFAULT_DENY_TTL`].
    fn default() -> Self {
        Self {
            mode: AuthorizationMode::Rbac,
            allow_ttl: crate::authz::DEFAULT_ALLOW_TTL,
            deny_ttl: crate::authz::DEFAULT_DENY_TTL,
            allow_system_groups: false,
            break_glass_groups: vec![],
        }
    }
}

/// Settings of `scalekeeper serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// gRPC (mTLS) listen address; port 0 picks a free port.
    pub grpc_listen: SocketAddr,
    /// Plaintext HTTP listen address for probes and metrics.
    pub http_listen: SocketAddr,
    /// Server certificate, key, client CA and CRL; reloaded when they change.
    pub tls: TlsFiles,
    /// Which client certificates are accepted beyond the chain (identity prefixes).
    pub client_policy: ClientPolicy,
    /// After this long a connection gets a GOAWAY (graceful close), so a client certificate
    /// revoked or expired since the handshake does not live on in a long stream; zero: never.
    pub max_connection_age: Duration,
    /// How long calls may still run after that GOAWAY before the connection is cut.
    pub max_connection_age_grace: Duration,
    /// Namespaces served.
    pub scope: Scope,
    /// Largest replica count SetReplicas accepts.
    pub max_replicas: i32,
    /// Longest wait for in-flight calls on shutdown.
    pub drain_timeout: Duration,
    /// On shutdown, how long to keep serving while reporting NOT_SERVING before closing the
    /// listener (a preStop sleep in the server); zero closes at once.
    pub shutdown_delay: Duration,
    /// How long without an answer from the API server before not ready.
    pub stale_after: Duration,
    /// The reconciler's settings.
    pub reconcile: ReconcileConfig,
    /// Leader election; `None`: this replica always reconciles (a single replica, dev mode).
    pub leader: Option<LeaderConfig>,
    /// How calls are authorized (Kubernetes RBAC by default).
    pub authorization: AuthorizationConfig,
    /// Where the audit trail goes (`-`: stdout); `None`: nowhere.
    pub audit_log: Option<std::path::PathBuf>,
    /// Connection, handshake, stream, call and watch limits.
    pub limits: ListenerLimits,
    /// The admission guard's webhook; `None`: not served (`--admission-listen` unset).
    pub admission: Option<AdmissionConfig>,
    /// The guard a policy created through the API gets unless the write sets one
    /// (`--default-guard`).
    pub default_guard: PolicyGuard,
    /// How long a finished ScaleRequest is kept before the leader's sweeper deletes it
    /// (`--scale-request-retention`; see [`crate::writer::sweep`]).
    pub scale_request_retention: Duration,
}

/// A running server.
pub struct Server {
    /// Bound gRPC address.
    pub grpc_addr: SocketAddr,
    /// Bound HTTP address.
    pub http_addr: SocketAddr,
    /// Bound admission webhook address, when served.
    pub admission_addr: Option<SocketAddr>,
    /// The user the admission guard exempts as scalekeeper's own, when known.
    pub own_user: Option<String>,
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

/// The gRPC service name the health service reports on (besides ""): [`scalekeeper_api::SERVICE_NAME`].
pub const SERVICE_NAME: &str = scalekeeper_api::SERVICE_NAME;

impl Server {
    /// Starts serving with `client`. Returns once both ports are bound.
    ///
    /// # Errors
    ///
    /// TLS files unusable, a port cannot be bound.
    pub async fn start(client: kube::Client, config: ServeConfig) -> anyhow::Result<Server> {
        let metrics = Metrics::new();
        let tls_reloader = tls::Reloader::start(
            TlsSource::Mutual { files: config.tls.clone(), policy: config.client_policy.clone() },
            metrics.clone(),
        )
        .context("loading TLS files")?;
        let admission_tls = match &config.admission {
            Some(a) => Some(
                tls::Reloader::start(a.tls.clone(), metrics.clone())
                    .context("loading the admission webhook's TLS files")?,
            ),
            None => None,
        };
        let auditor = crate::audit::Auditor::open(config.audit_log.as_deref())
            .with_context(|| format!("opening the audit log {:?}", config.audit_log))?;
        let grpc_listener = TcpListener::bind(config.grpc_listen)
            .await
            .with_context(|| format!("binding gRPC {}", config.grpc_listen))?;
        let http_listener = TcpListener::bind(config.http_listen)
            .await
            .with_context(|| format!("binding HTTP {}", config.http_listen))?;
        let admission_listener = match &config.admission {
            Some(a) => Some(
                TcpListener::bind(a.listen)
                    .await
                    .with_context(|| format!("binding the admission webhook {}", a.listen))?,
            ),
            None => None,
        };
        let grpc_addr = grpc_listener.local_addr()?;
        let http_addr = http_listener.local_addr()?;
        let admission_addr = admission_listener.as_ref().map(TcpListener::local_addr).transpose()?;

        let stop = CancellationToken::new();
        let cache_stop = CancellationToken::new();
        // Cancelled after health turned NOT_SERVING and the shutdown delay: closes the listener,
        // sends GOAWAY, ends endless streams.
        let closing = CancellationToken::new();
        let cache = Cache::start(client.clone(), config.scope.clone(), config.stale_after, cache_stop.clone());
        let client_for_reconciler = client.clone();
        let authz = &config.authorization;
        if authz.mode == AuthorizationMode::AllowAny {
            tracing::warn!(
                "--authorization=allow-any: every caller with a valid client certificate may read and set every replica count in scope; use rbac in production"
            );
        }
        let own_user = match &config.admission {
            Some(a) => match crate::whoami::own_user(&client, a.credentials_user.as_deref()).await {
                Some((user, source)) => {
                    tracing::info!(user, source = ?source, "admission guard: scalekeeper's own writes are exempt");
                    Some(user)
                }
                None => {
                    tracing::warn!(
                        "admission guard: cannot tell which user scalekeeper is (no SelfSubjectReview, no ServiceAccount \
                         token or client certificate); its own writes are checked like anyone's, and a refusal is \
                         confirmed against the live policy first"
                    );
                    None
                }
            },
            None => None,
        };
        let webhook_server = match (config.admission.as_ref(), admission_listener, admission_tls) {
            (Some(a), Some(listener), Some(reloader)) => {
                let path = crate::admission::config::webhook_file()?.path.clone();
                let webhook = Webhook::new(
                    cache.clone(),
                    client.clone(),
                    scalekeeper_core::admission::Exemptions::new(
                        &a.exempt,
                        a.break_glass_groups.clone(),
                        own_user.clone(),
                    ),
                    metrics.clone(),
                    auditor.clone(),
                    &config.reconcile.instance,
                );
                let tls_config = reloader.config();
                reloader.spawn_watch(cache_stop.clone());
                Some((listener, crate::admission::server::router(webhook, &path), tls_config))
            }
            _ => None,
        };
        let writer = Writer::new(client.clone(), cache.clone(), &config.reconcile.instance, config.default_guard);
        let service = Service::new(
            cache.clone(),
            writer.clone(),
            crate::explain::Reader::new(client.clone()),
            Authorizer::new(authz.mode, client, authz.allow_ttl, authz.deny_ttl),
            auditor,
            metrics.clone(),
            ServiceConfig {
                max_replicas: config.max_replicas,
                call_timeout: config.limits.call_timeout,
                max_watches: config.limits.max_watches,
                max_watches_per_identity: config.limits.max_watches_per_identity,
                allow_system_groups: authz.allow_system_groups,
                flap_cool_down: config.reconcile.cool_down,
                break_glass_groups: authz.break_glass_groups.clone(),
            },
            closing.clone(),
        );
        let draining = Arc::new(AtomicBool::new(false));
        let reconciler_done = tokio::spawn(supervise(
            reconciler::Context::new(client_for_reconciler, cache.clone(), metrics.clone(), config.reconcile.clone()),
            (writer, config.scale_request_retention),
            config.leader.clone(),
            metrics.clone(),
            stop.clone(),
        ));
        tokio::spawn(sync_gauges(cache.clone(), metrics.clone(), stop.clone()));

        let reporter = tonic_health::server::HealthReporter::new();
        let health_service = tonic_health::pb::health_server::HealthServer::new(DrainingHealth {
            inner: tonic_health::server::HealthService::from_health_reporter(reporter.clone()),
            closing: closing.clone(),
        });
        reporter.set_not_serving::<ScaleServiceServer<Service>>().await;
        reporter.set_service_status("", tonic_health::ServingStatus::NotServing).await;
        // The health status last reported; the shutdown path takes it to report NOT_SERVING for
        // good, so the readiness loop can never report SERVING after it.
        let reported: Arc<tokio::sync::Mutex<Option<bool>>> = Arc::default();
        let shutdown_reporter = (reporter.clone(), reported.clone());
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(scalekeeper_api::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        // grpcurl releases before 1.8.8 only speak v1alpha reflection.
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(scalekeeper_api::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;

        // Readiness → gRPC health, /readyz and the metric.
        {
            let cache = cache.clone();
            let metrics = metrics.clone();
            let draining = draining.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(200));
                loop {
                    let stopping = tokio::select! {
                        _ = tick.tick() => false,
                        _ = stop.cancelled() => true,
                    };
                    let mut last = reported.lock().await;
                    let ready = !stopping && !draining.load(Ordering::Relaxed) && cache.health().ready();
                    metrics.ready.set(i64::from(ready));
                    if let Some(d) = cache.health().since_contact() {
                        metrics.last_contact.set(d.as_secs_f64());
                    }
                    if *last != Some(ready) {
                        let status = if ready {
                            tonic_health::ServingStatus::Serving
                        } else {
                            tonic_health::ServingStatus::NotServing
                        };
                        reporter.set_service_status(SERVICE_NAME, status).await;
                        reporter.set_service_status("", status).await;
                        tracing::info!(ready, "health changed");
                        *last = Some(ready);
                    }
                    if stopping {
                        return;
                    }
                }
            });
        }

        // HTTP: probes and metrics.
        let http = {
            let cache = cache.clone();
            let metrics = metrics.clone();
            let draining = draining.clone();
            let app = axum::Router::new()
                .route("/healthz", get(|| async { "ok\n" }))
                .route(
                    "/readyz",
                    get(move || {
                        let ready = !draining.load(Ordering::Relaxed) && cache.health().ready();
                        async move {
                            if ready {
                                (StatusCode::OK, "ready\n".to_string())
                            } else {
                                (
                                    StatusCode::SERVICE_UNAVAILABLE,
                                    "not ready: caches not synced, Kubernetes API not answering, or shutting down\n"
                                        .to_string(),
                                )
                            }
                        }
                    }),
                )
                .route(
                    "/metrics",
                    get(move || {
                        let body = metrics.encode();
                        async move {
                            (
                                [(
                                    axum::http::header::CONTENT_TYPE,
                                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                                )],
                                body,
                            )
                        }
                    }),
                );
            let http_stop = cache_stop.clone();
            tokio::spawn(async move {
                axum::serve(http_listener, app).with_graceful_shutdown(http_stop.cancelled_owned()).await
            })
        };

        let tls_config = tls_reloader.config();
        tls_reloader.spawn_watch(cache_stop.clone());
        // The GOAWAY at the maximum age is tonic's (hyper's graceful shutdown); the hard stop
        // after the grace is the connection's own deadline. tonic's max_connection_age_grace is
        // not used: in tonic 0.14.9, setting it skips the GOAWAY and only cuts the connection.
        let max_age = (!config.max_connection_age.is_zero()).then_some(config.max_connection_age);
        let hard_deadline = max_age.map(|age| age + config.max_connection_age_grace);
        let limits = &config.limits;
        let admission = tls::Admission::new(limits, metrics.clone());
        let incoming = tls::incoming(grpc_listener, tls_config, hard_deadline, closing.clone(), admission);
        let mut builder = tonic::transport::Server::builder()
            // h2 refuses streams past this per connection (RFC 9113 §6.5.2), so one client
            // cannot hold an unbounded number of calls in flight.
            .max_concurrent_streams(limits.max_concurrent_streams)
            .http2_keepalive_interval(Some(limits.keepalive_interval))
            .http2_keepalive_timeout(Some(limits.keepalive_timeout))
            // Reset floods: tonic leaves the local-error limit unset, which turns it off.
            .http2_max_pending_accept_reset_streams(Some(crate::limits::MAX_PENDING_ACCEPT_RESET_STREAMS))
            .http2_max_local_error_reset_streams(Some(crate::limits::MAX_LOCAL_ERROR_RESET_STREAMS));
        if let Some(age) = max_age {
            builder = builder.max_connection_age(age);
        }
        // Every service of the port decodes at most --max-request-bytes a message (tonic's
        // default is 4 MiB), and every call goes through the intake (grpc::intake).
        let max_bytes = limits.max_request_bytes;
        let grpc = builder
            .layer(IntakeLayer::new(limits, metrics.clone()))
            .add_service(health_service.max_decoding_message_size(max_bytes))
            .add_service(reflection_v1.max_decoding_message_size(max_bytes))
            .add_service(reflection_v1alpha.max_decoding_message_size(max_bytes))
            .add_service(ScaleServiceServer::new(service).max_decoding_message_size(max_bytes))
            .serve_with_incoming_shutdown(incoming, closing.clone().cancelled_owned());

        let drain_timeout = config.drain_timeout;
        let shutdown_delay = config.shutdown_delay;
        // The webhook closes with the gRPC port: after the shutdown delay, draining within the
        // same timeout.
        let admission_done = webhook_server.map(|(listener, router, tls_config)| {
            tokio::spawn(crate::admission::server::serve(listener, router, tls_config, closing.clone(), drain_timeout))
        });
        let task_stop = stop.clone();
        let task = tokio::spawn(async move {
            let mut grpc = std::pin::pin!(grpc);
            tokio::select! {
                r = &mut grpc => r.context("gRPC server failed")?,
                _ = task_stop.cancelled() => {
                    // Not ready before anything closes.
                    let (reporter, reported) = shutdown_reporter;
                    let mut last = reported.lock().await;
                    draining.store(true, Ordering::Relaxed);
                    if *last != Some(false) {
                        for name in [SERVICE_NAME, ""] {
                            reporter.set_service_status(name, tonic_health::ServingStatus::NotServing).await;
                        }
                        tracing::info!(ready = false, "health changed");
                        *last = Some(false);
                    }
                    drop(last);
                    if !shutdown_delay.is_zero() {
                        let delay_secs = shutdown_delay.as_secs_f64();
                        tracing::info!(delay_secs, "shutdown delay: still serving while NOT_SERVING");
                        tokio::select! {
                            r = &mut grpc => return r.context("gRPC server failed"),
                            _ = tokio::time::sleep(shutdown_delay) => {}
                        }
                    }
                    closing.cancel();
                    tracing::info!(timeout_secs = drain_timeout.as_secs(), "draining in-flight calls");
                    match tokio::time::timeout(drain_timeout, &mut grpc).await {
                        Ok(r) => r.context("gRPC server failed while draining")?,
                        Err(_) => tracing::warn!("drain timeout: closing with calls still in flight"),
                    }
                }
            }
            if let Some(done) = admission_done {
                closing.cancel();
                let _ = done.await;
            }
            let _ = reconciler_done.await;
            cache_stop.cancel();
            let _ = http.await;
            tracing::info!("stopped");
            Ok(())
        });
        let admission_at = admission_addr.map_or_else(|| "off".to_string(), |a| a.to_string());
        tracing::info!(grpc = %grpc_addr, http = %http_addr, admission = %admission_at, scope = ?config.scope, "serving");
        Ok(Server { grpc_addr, http_addr, admission_addr, own_user, stop, task })
    }

    /// A token that starts the graceful shutdown when cancelled.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Shuts down gracefully and waits until done.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.task.await.context("server task panicked")?
    }

    /// Waits until the server stops (after its stop token is cancelled).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("server task panicked")?
    }
}

/// `grpc.health.v1` as tonic-health serves it, except that Watch streams end with UNAVAILABLE
/// once the server is closing. They never end on their own, and graceful shutdown waits for every
/// open stream: without this, one health-checking client (a gRPC client with `healthCheckConfig`)
/// would hold every shutdown for the whole drain timeout and then be cut off.
struct DrainingHealth {
    inner: tonic_health::server::HealthService,
    closing: CancellationToken,
}

type HealthWatchStream =
    Pin<Box<dyn futures::Stream<Item = Result<tonic_health::pb::HealthCheckResponse, tonic::Status>> + Send>>;

#[tonic::async_trait]
impl tonic_health::pb::health_server::Health for DrainingHealth {
    async fn check(
        &self,
        request: tonic::Request<tonic_health::pb::HealthCheckRequest>,
    ) -> Result<tonic::Response<tonic_health::pb::HealthCheckResponse>, tonic::Status> {
        self.inner.check(request).await
    }

    type WatchStream = HealthWatchStream;

    async fn watch(
        &self,
        request: tonic::Request<tonic_health::pb::HealthCheckRequest>,
    ) -> Result<tonic::Response<HealthWatchStream>, tonic::Status> {
        let statuses = self.inner.watch(request).await?.into_inner();
        // Statuses first (NOT_SERVING is sent before closing), then UNAVAILABLE once closing.
        let stream = futures::stream::unfold(Some((statuses, self.closing.clone())), |state| async move {
            let (mut statuses, closing) = state?;
            tokio::select! {
                biased;
                next = statuses.next() => next.map(|item| (item, Some((statuses, closing)))),
                _ = closing.cancelled() => {
                    Some((Err(tonic::Status::unavailable("server shutting down; reconnect to another replica")), None))
                }
            }
        });
        Ok(tonic::Response::new(Box::pin(stream)))
    }
}

/// The longest wait for the reconciler to stop before it is aborted.
const RECONCILER_STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs the reconciler while this replica leads (always, without election). On `stop`, the
/// reconciler stops first and the Lease is released after, so a successor takes over at
/// once and two replicas never reconcile together.
async fn supervise(
    ctx: Arc<reconciler::Context>,
    (writer, retention): (Writer, Duration),
    leader: Option<LeaderConfig>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let election_stop = CancellationToken::new();
    let (always_tx, always_rx) = tokio::sync::watch::channel(true);
    let (mut is_leader, election) = match leader {
        Some(cfg) => {
            let e = leader::start(ctx.client(), cfg, election_stop.clone());
            (e.is_leader.clone(), Some(e))
        }
        None => (always_rx, None),
    };
    'outer: loop {
        while !*is_leader.borrow_and_update() {
            tokio::select! {
                _ = stop.cancelled() => break 'outer,
                r = is_leader.changed() => if r.is_err() { break 'outer },
            }
        }
        metrics.leader.set(1);
        tracing::info!("leading: reconciler started");
        let run_stop = CancellationToken::new();
        let run = tokio::spawn(reconciler::run(ctx.clone(), run_stop.clone()));
        // The ScaleRequest sweeper leads with the reconciler, and stops with it.
        let sweeper = {
            let (writer, cache, stop) = (writer.clone(), ctx.cache().clone(), run_stop.clone());
            tokio::spawn(async move { writer.sweep_requests(cache, retention, stop).await })
        };
        let stopping = loop {
            tokio::select! {
                _ = stop.cancelled() => break true,
                r = is_leader.changed() => {
                    if r.is_err() || !*is_leader.borrow_and_update() { break false }
                }
            }
        };
        run_stop.cancel();
        sweeper.abort();
        let mut run = run;
        if !stopping {
            // Leadership lost (the term ran out, the Lease names another holder, or the API
            // failed): stop writing now, not after a graceful wait. The election stepped down
            // a margin before the term ends precisely so that nothing of ours is in flight
            // when a successor may start.
            run.abort();
            let _ = run.await;
        } else if tokio::time::timeout(RECONCILER_STOP_TIMEOUT, &mut run).await.is_err() {
            // Our own shutdown, while we still hold the Lease: kube-runtime's graceful
            // shutdown waits for running reconciliations; bound it so that a stuck one cannot
            // keep the Lease (and the process) from going.
            tracing::warn!(
                timeout_secs = RECONCILER_STOP_TIMEOUT.as_secs(),
                "reconciler did not stop in time; aborting it"
            );
            run.abort();
            let _ = run.await;
        }
        metrics.leader.set(0);
        tracing::info!("reconciler stopped");
        if stopping {
            break;
        }
    }
    drop(always_tx);
    election_stop.cancel();
    if let Some(e) = election {
        e.stopped().await;
    }
}

/// Keeps the gauges read from the cache current (every 5 s): Deployments per sync status,
/// suspensions, holds, and the ScaleRequests per phase with the oldest pending one's age.
async fn sync_gauges(cache: Cache, metrics: Arc<Metrics>, stop: CancellationToken) {
    use scalekeeper_core::SyncStatus;
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if !cache.health().synced() {
            continue;
        }
        let all = [
            SyncStatus::Unmanaged,
            SyncStatus::InSync,
            SyncStatus::Drifted,
            SyncStatus::Progressing,
            SyncStatus::Conflict,
        ];
        let mut counts: Vec<(&str, i64)> = all.iter().map(|s| (s.as_str(), 0)).collect();
        let mut suspended = 0;
        let now = jiff::Timestamp::now();
        let (mut holds, mut oldest_hold) = (0, 0.0_f64);
        for v in cache.list(None, |_| true) {
            if let Some(p) = &v.policy
                && let Some(h) = p.spec.rules().active_hold(now)
            {
                holds += 1;
                let age = h.set_at.map_or(0.0, |t| now.duration_since(t).as_secs_f64().max(0.0));
                oldest_hold = oldest_hold.max(age);
            }
            let s = v.sync().status;
            if let Some(c) = counts.iter_mut().find(|(n, _)| *n == s.as_str()) {
                c.1 += 1;
            }
            let is_suspended = v.policy.as_ref().and_then(|p| p.status.as_ref()).is_some_and(|st| st.is_suspended());
            suspended += i64::from(is_suspended);
        }
        metrics.set_deployments(&counts);
        metrics.enforcement_suspended.set(suspended);
        metrics.holds_active.set(holds);
        metrics.hold_oldest_age.set(oldest_hold);
        // From the cache's ScaleRequests (empty while their CRD is missing).
        let (requests, oldest) =
            crate::writer::scale_request_gauges(&cache.all_scale_requests(), jiff::Timestamp::now());
        metrics.set_scale_requests(&requests, oldest);
    }
}

/// The client configuration from `--kubeconfig` if given, else `KUBECONFIG`, the default
/// kubeconfig, or the in-cluster service account.
///
/// # Errors
///
/// The kubeconfig cannot be read, or there is none and this is not a Pod.
pub async fn kube_config(kubeconfig: Option<&std::path::Path>) -> anyhow::Result<kube::Config> {
    Ok(match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default()).await?
        }
        None => kube::Config::infer().await.context("no kubeconfig and not in a cluster")?,
    })
}

/// A Kubernetes client from [`kube_config`]'s configuration.
///
/// # Errors
///
/// As [`kube_config`], or the client cannot be built from it.
pub async fn kube_client(kubeconfig: Option<&std::path::Path>) -> anyhow::Result<kube::Client> {
    kube::Client::try_from(kube_config(kubeconfig).await?).context("building the Kubernetes client")
}

/// Resolves when SIGINT or SIGTERM arrives.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
