//! Prometheus metrics (prometheus-client), all under the `scalekeeper_` prefix.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `scalekeeper_grpc_server_handled_total` | counter | `grpc_service`, `grpc_method`, `grpc_code` |
//! | `scalekeeper_grpc_server_handling_seconds` | histogram (seconds) | `grpc_service`, `grpc_method` |
//! | `scalekeeper_ready` | gauge (0/1) | |
//! | `scalekeeper_leader` | gauge (0/1): this replica holds the Lease and reconciles | |
//! | `scalekeeper_reconcile_total` | counter | `result` (`ok`, `conflict`, `api_error`, `unreachable`) |
//! | `scalekeeper_reconcile_duration_seconds` | histogram (seconds) | |
//! | `scalekeeper_drift_corrections_total` | counter | `namespace` |
//! | `scalekeeper_flap_guard_trips_total` | counter | `namespace` |
//! | `scalekeeper_deployments` | gauge: Deployments in scope | `sync_status` |
//! | `scalekeeper_enforcement_suspended` | gauge: policies whose enforcement the flap guard suspended | |
//! | `scalekeeper_holds_active` | gauge: policies with a hold in force | |
//! | `scalekeeper_hold_oldest_age_seconds` | gauge (seconds): how long the oldest hold in force has been in place (0: none) | |
//! | `scalekeeper_scale_requests` | gauge: ScaleRequests (changes held for the two-person rule) in scope | `phase` (`Pending`, `Approved`, `Applied`, `Denied`, `Expired`, `Superseded`, `ReviewRequired`, `Reviewed`) |
//! | `scalekeeper_break_glass_total` | counter: changes the two-person rule held back that a break-glass group's member applied at once (this replica answered) | `group` (a `--break-glass-group`) |
//! | `scalekeeper_scale_request_oldest_pending_age_seconds` | gauge (seconds): how long the oldest pending ScaleRequest has waited (0: none) | |
//! | `scalekeeper_kubernetes_last_contact_seconds` | gauge (seconds since the API server last answered) | |
//! | `scalekeeper_tls_certificate_expiry_timestamp_seconds` | gauge (Unix seconds): notAfter of the server certificate, earliest of the client CA bundle, the webhook's certificate | `kind` (`server`, `client_ca`, `admission`) |
//! | `scalekeeper_tls_reload_total` | counter: reloads of the TLS files after a change or SIGHUP | `result` (`success`, `error`) |
//! | `scalekeeper_limit_refusals_total` | counter: connections, handshakes, calls and watches a listener limit refused | `limit` (see [`crate::limits::Limit`]) |
//! | `scalekeeper_grpc_open_connections` | gauge: gRPC connections past the TLS handshake | |
//! | `scalekeeper_grpc_open_watches` | gauge: open WatchDeployments streams | |
//! | `scalekeeper_grpc_receiving_requests` | gauge: calls whose request is still arriving | |
//! | `scalekeeper_tls_handshakes_in_progress` | gauge: TLS handshakes in progress on the gRPC port | |
//! | `scalekeeper_tls_handshakes_refused_total` | counter: TLS handshakes that failed (a sample of them is logged) | `reason` (`certificate`, `protocol`, `io`) |
//! | `scalekeeper_admission_reviews_total` | counter: AdmissionReviews the guard answered | `operation` (`UPDATE`, ...; empty for an unreadable review), `decision` (`allowed`, `warned`, `denied`, `exempt`, `break_glass`, `error`) |
//! | `scalekeeper_admission_review_duration_seconds` | histogram (seconds): from the body read to the answer | |

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of a handled gRPC call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// Fully qualified service, e.g. `scalekeeper.v1.ScaleService`.
    pub grpc_service: String,
    /// Method, e.g. `GetDeployment`.
    pub grpc_method: String,
    /// Status code name, e.g. `OK`, `NotFound`.
    pub grpc_code: String,
}

/// A `phase` label: a ScaleRequest's phase ([`scalekeeper_core::approval::Phase`]).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    /// The phase, as the status spells it (`Pending`, ...).
    pub phase: String,
}

/// A `group` label: a break-glass group (one of `--break-glass-group`, so bounded).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GroupLabels {
    /// The group.
    pub group: String,
}

/// A `reason` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Why, as a [`HandshakeRefusal`] names it.
    pub reason: String,
}

/// Why a TLS handshake failed: the `reason` label of `scalekeeper_tls_handshakes_refused_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeRefusal {
    /// The client's certificate: none, expired, revoked, not from the client CA, refused by
    /// the client policy.
    Certificate,
    /// Anything else TLS refused: no shared version or cipher suite, no ALPN protocol, a
    /// malformed message.
    Protocol,
    /// The socket failed or closed during the handshake.
    Io,
}

impl HandshakeRefusal {
    /// Every reason, for metrics that show zeros.
    pub const ALL: [HandshakeRefusal; 3] =
        [HandshakeRefusal::Certificate, HandshakeRefusal::Protocol, HandshakeRefusal::Io];

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            HandshakeRefusal::Certificate => "certificate",
            HandshakeRefusal::Protocol => "protocol",
            HandshakeRefusal::Io => "io",
        }
    }
}

/// Labels of a gRPC call's latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    /// Fully qualified service.
    pub grpc_service: String,
    /// Method.
    pub grpc_method: String,
}

/// A `result` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `ok` or an error's metric label.
    pub result: String,
}

/// A `namespace` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NamespaceLabels {
    /// Namespace.
    pub namespace: String,
}

/// A `sync_status` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SyncLabels {
    /// `InSync`, `Drifted`, `Progressing`, `Conflict` or `Unmanaged`.
    pub sync_status: String,
}

/// Labels of an admission review.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AdmissionLabels {
    /// The request's operation, as Kubernetes spells it (`UPDATE`).
    pub operation: String,
    /// [`scalekeeper_core::admission::Decision::as_str`].
    pub decision: String,
}

/// A `kind` label: which certificate.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// `server` or `client_ca`.
    pub kind: String,
}

/// A `limit` label: which listener limit refused.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    /// [`crate::limits::Limit::as_str`].
    pub limit: String,
}

/// The outcome of a TLS reload (the `result` label of `scalekeeper_tls_reload_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsReload {
    /// The new files were loaded and serve new handshakes.
    Success,
    /// The new files were unusable; the previous configuration stays.
    Error,
}

impl TlsReload {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsReload::Success => "success",
            TlsReload::Error => "error",
        }
    }
}

/// The server's metrics.
pub struct Metrics {
    tls_expiry: Family<KindLabels, Gauge>,
    tls_reloads: Family<ResultLabels, Counter>,
    limit_refusals: Family<LimitLabels, Counter>,
    /// gRPC connections admitted and not yet closed (handshaking included).
    pub open_connections: Gauge,
    /// Open WatchDeployments streams.
    pub open_watches: Gauge,
    /// Calls whose request is still arriving.
    pub receiving_requests: Gauge,
    /// TLS handshakes in progress on the gRPC port.
    pub tls_handshakes_in_progress: Gauge,
    handshakes_refused: Family<ReasonLabels, Counter>,
    admission_reviews: Family<AdmissionLabels, Counter>,
    admission_seconds: Histogram,
    registry: Registry,
    handled: Family<CallLabels, Counter>,
    handling: Family<MethodLabels, Histogram>,
    reconciles: Family<ResultLabels, Counter>,
    reconcile_seconds: Histogram,
    corrections: Family<NamespaceLabels, Counter>,
    flap_trips: Family<NamespaceLabels, Counter>,
    deployments: Family<SyncLabels, Gauge>,
    /// Policies whose enforcement is suspended.
    pub enforcement_suspended: Gauge,
    /// Policies with a hold in force.
    pub holds_active: Gauge,
    /// Age of the oldest hold in force, in seconds.
    pub hold_oldest_age: Gauge<f64, AtomicU64>,
    scale_requests: Family<PhaseLabels, Gauge>,
    break_glass: Family<GroupLabels, Counter>,
    /// How long the oldest pending ScaleRequest has waited, in seconds.
    pub scale_request_oldest_pending_age: Gauge<f64, AtomicU64>,
    /// 1 while this replica holds the Lease.
    pub leader: Gauge,
    /// 1 while ready to serve.
    pub ready: Gauge,
    /// Seconds since the API server last answered.
    pub last_contact: Gauge<f64, AtomicU64>,
}

/// The service name in metric labels: [`scalekeeper_api::SERVICE_NAME`], the health service's
/// name too.
///
/// This module names no tonic type: the gRPC edge passes the status code as a label.
pub const SERVICE: &str = scalekeeper_api::SERVICE_NAME;

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("scalekeeper");
        let handled = Family::<CallLabels, Counter>::default();
        // 0.5 ms .. ~16 s: reads from the cache take well under a millisecond; writes
        // take a few Kubernetes round trips.
        let handling = Family::<MethodLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.0005, 2.0, 16))
        });
        let ready = Gauge::default();
        let last_contact = Gauge::<f64, AtomicU64>::default();
        let reconciles = Family::<ResultLabels, Counter>::default();
        let reconcile_seconds =
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.0005, 2.0, 16));
        let corrections = Family::<NamespaceLabels, Counter>::default();
        let flap_trips = Family::<NamespaceLabels, Counter>::default();
        let deployments = Family::<SyncLabels, Gauge>::default();
        let enforcement_suspended = Gauge::default();
        let holds_active = Gauge::default();
        let hold_oldest_age = Gauge::<f64, AtomicU64>::default();
        registry.register("holds_active", "ReplicaPolicies with a hold in force", holds_active.clone());
        registry.register_with_unit(
            "hold_oldest_age",
            "How long the oldest hold in force has been in place (0 when there is none)",
            prometheus_client::registry::Unit::Seconds,
            hold_oldest_age.clone(),
        );
        let scale_requests = Family::<PhaseLabels, Gauge>::default();
        for phase in scalekeeper_core::approval::Phase::ALL {
            let _ = scale_requests.get_or_create(&PhaseLabels { phase: phase.as_str().into() });
        }
        registry.register(
            "scale_requests",
            "ScaleRequests (changes held for the two-person rule) in scope, by phase; a pending one past its expiry \
             counts as Expired",
            scale_requests.clone(),
        );
        let break_glass = Family::<GroupLabels, Counter>::default();
        registry.register(
            "break_glass",
            "Changes the two-person rule held back that a member of a break-glass group applied at once",
            break_glass.clone(),
        );
        let scale_request_oldest_pending_age = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "scale_request_oldest_pending_age",
            "How long the oldest pending ScaleRequest has waited for approval (0 when none is pending)",
            prometheus_client::registry::Unit::Seconds,
            scale_request_oldest_pending_age.clone(),
        );
        let leader = Gauge::default();
        let tls_expiry = Family::<KindLabels, Gauge>::default();
        let tls_reloads = Family::<ResultLabels, Counter>::default();
        for result in [TlsReload::Success, TlsReload::Error] {
            let _ = tls_reloads.get_or_create(&ResultLabels { result: result.as_str().into() });
        }
        registry.register_with_unit(
            "tls_certificate_expiry_timestamp",
            "notAfter of the server certificate (kind=server), the earliest of the client CA bundle \
             (kind=client_ca) and the admission webhook's certificate (kind=admission), as Unix time",
            prometheus_client::registry::Unit::Seconds,
            tls_expiry.clone(),
        );
        registry.register(
            "tls_reload",
            "Reloads of the TLS files after they changed or on SIGHUP, by result",
            tls_reloads.clone(),
        );
        let limit_refusals = Family::<LimitLabels, Counter>::default();
        for limit in crate::limits::Limit::ALL {
            let _ = limit_refusals.get_or_create(&LimitLabels { limit: limit.as_str().into() });
        }
        registry.register(
            "limit_refusals",
            "Connections, TLS handshakes, calls and watches refused or cut by a listener limit, by limit",
            limit_refusals.clone(),
        );
        let open_connections = Gauge::default();
        registry.register(
            "grpc_open_connections",
            "gRPC connections admitted and not yet closed, TLS handshakes in progress included",
            open_connections.clone(),
        );
        let open_watches = Gauge::default();
        registry.register("grpc_open_watches", "Open WatchDeployments streams", open_watches.clone());
        let receiving_requests = Gauge::default();
        registry.register(
            "grpc_receiving_requests",
            "Calls whose request is still arriving, each holding a place under --max-receiving-requests",
            receiving_requests.clone(),
        );
        let tls_handshakes_in_progress = Gauge::default();
        registry.register(
            "tls_handshakes_in_progress",
            "TLS handshakes in progress on the gRPC port, each holding a place under --max-tls-handshakes",
            tls_handshakes_in_progress.clone(),
        );
        let handshakes_refused = Family::<ReasonLabels, Counter>::default();
        for reason in HandshakeRefusal::ALL {
            let _ = handshakes_refused.get_or_create(&ReasonLabels { reason: reason.as_str().into() });
        }
        registry.register(
            "tls_handshakes_refused",
            "TLS handshakes on the gRPC port that failed, by reason (the log shows a sample)",
            handshakes_refused.clone(),
        );
        let admission_reviews = Family::<AdmissionLabels, Counter>::default();
        for decision in scalekeeper_core::admission::Decision::ALL {
            let labels = AdmissionLabels { operation: "UPDATE".into(), decision: decision.as_str().into() };
            let _ = admission_reviews.get_or_create(&labels);
        }
        registry.register(
            "admission_reviews",
            "AdmissionReviews the admission guard answered, by operation and decision (error: allowed without a \
             decision, fail open)",
            admission_reviews.clone(),
        );
        // 100 µs .. ~3.3 s: a review from the cache takes well under a millisecond; a refusal
        // adds one read of the policy from the API server.
        let admission_seconds =
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.0001, 2.0, 16));
        registry.register_with_unit(
            "admission_review_duration",
            "Time to answer one AdmissionReview, from the body read to the answer",
            prometheus_client::registry::Unit::Seconds,
            admission_seconds.clone(),
        );
        registry.register("leader", "1 while this replica holds the Lease and runs the reconciler", leader.clone());
        registry.register("reconcile", "Reconciliations of ReplicaPolicies, by result", reconciles.clone());
        registry.register_with_unit(
            "reconcile_duration",
            "Time to reconcile one ReplicaPolicy",
            prometheus_client::registry::Unit::Seconds,
            reconcile_seconds.clone(),
        );
        registry.register(
            "drift_corrections",
            "Times spec.replicas was set back to the declared count",
            corrections.clone(),
        );
        registry.register("flap_guard_trips", "Times the flap guard suspended enforcement", flap_trips.clone());
        registry.register("deployments", "Deployments in scope, by sync status", deployments.clone());
        registry.register(
            "enforcement_suspended",
            "ReplicaPolicies whose enforcement the flap guard has suspended",
            enforcement_suspended.clone(),
        );
        registry.register("grpc_server_handled", "gRPC calls completed, by method and status code", handled.clone());
        registry.register_with_unit(
            "grpc_server_handling",
            "gRPC call latency until the response (or stream end)",
            prometheus_client::registry::Unit::Seconds,
            handling.clone(),
        );
        registry.register("ready", "1 while the caches are synced and the Kubernetes API answers", ready.clone());
        registry.register_with_unit(
            "kubernetes_last_contact",
            "Time since the Kubernetes API server last answered",
            prometheus_client::registry::Unit::Seconds,
            last_contact.clone(),
        );
        Arc::new(Self {
            tls_expiry,
            tls_reloads,
            limit_refusals,
            open_connections,
            open_watches,
            receiving_requests,
            tls_handshakes_in_progress,
            handshakes_refused,
            admission_reviews,
            admission_seconds,
            registry,
            handled,
            handling,
            reconciles,
            reconcile_seconds,
            corrections,
            flap_trips,
            deployments,
            enforcement_suspended,
            holds_active,
            hold_oldest_age,
            scale_requests,
            break_glass,
            scale_request_oldest_pending_age,
            leader,
            ready,
            last_contact,
        })
    }

    /// Records one completed call of the ScaleService's `method` that ended with status
    /// `grpc_code` (the code's canonical name, e.g. `OK`, `NOT_FOUND`: [`scalekeeper_api::code_name`]) after
    /// `seconds`.
    pub fn observe(&self, method: &str, grpc_code: &str, seconds: f64) {
        self.observe_call(SERVICE, method, grpc_code, seconds);
    }

    /// Records one completed call of `service`'s `method` (any service of the port: a call
    /// refused before a handler saw it) as [`Metrics::observe`] does.
    pub fn observe_call(&self, service: &str, method: &str, grpc_code: &str, seconds: f64) {
        self.handled
            .get_or_create(&CallLabels {
                grpc_service: service.into(),
                grpc_method: method.into(),
                grpc_code: grpc_code.into(),
            })
            .inc();
        self.handling
            .get_or_create(&MethodLabels { grpc_service: service.into(), grpc_method: method.into() })
            .observe(seconds);
    }

    /// Counts one TLS handshake that failed, for `reason`.
    pub fn handshake_refused(&self, reason: HandshakeRefusal) {
        self.handshakes_refused.get_or_create(&ReasonLabels { reason: reason.as_str().into() }).inc();
    }

    /// Records one reconciliation with its `result` label and duration in seconds.
    pub fn observe_reconcile(&self, result: &str, seconds: f64) {
        self.reconciles.get_or_create(&ResultLabels { result: result.into() }).inc();
        self.reconcile_seconds.observe(seconds);
    }

    /// Counts a drift correction in `namespace`.
    pub fn drift_corrected(&self, namespace: &str) {
        self.corrections.get_or_create(&NamespaceLabels { namespace: namespace.into() }).inc();
    }

    /// Counts a flap-guard trip in `namespace`.
    pub fn flap_guard_tripped(&self, namespace: &str) {
        self.flap_trips.get_or_create(&NamespaceLabels { namespace: namespace.into() }).inc();
    }

    /// Sets the ScaleRequest gauges: each `(phase, count)` (every phase is set, zeros
    /// included), and the age of the oldest pending request in seconds (0: none).
    pub fn set_scale_requests(&self, counts: &[(scalekeeper_core::approval::Phase, i64)], oldest_pending: f64) {
        for (phase, n) in counts {
            self.scale_requests.get_or_create(&PhaseLabels { phase: phase.as_str().into() }).set(*n);
        }
        self.scale_request_oldest_pending_age.set(oldest_pending);
    }

    /// Counts one break-glass write by a member of `group`.
    pub fn break_glass_used(&self, group: &str) {
        self.break_glass.get_or_create(&GroupLabels { group: group.into() }).inc();
    }

    /// Sets the number of Deployments per sync status (every status is set, zeros included).
    pub fn set_deployments(&self, counts: &[(&str, i64)]) {
        for (status, n) in counts {
            self.deployments.get_or_create(&SyncLabels { sync_status: (*status).into() }).set(*n);
        }
    }

    /// Sets the certificate expiry gauges: each `(kind, notAfter)` of a loaded configuration
    /// (Unix seconds; kinds `server`, `client_ca`, `admission`).
    pub fn tls_loaded(&self, expiries: &[(&str, i64)]) {
        for (kind, not_after) in expiries {
            self.tls_expiry.get_or_create(&KindLabels { kind: (*kind).into() }).set(*not_after);
        }
    }

    /// Counts one reload of the TLS files.
    pub fn tls_reloaded(&self, result: TlsReload) {
        self.tls_reloads.get_or_create(&ResultLabels { result: result.as_str().into() }).inc();
    }

    /// Records one AdmissionReview answered with `decision` after `seconds`; `operation` as
    /// Kubernetes spells it (empty when the review could not be read).
    pub fn admission_reviewed(&self, operation: &str, decision: scalekeeper_core::admission::Decision, seconds: f64) {
        let labels = AdmissionLabels { operation: operation.into(), decision: decision.as_str().into() };
        self.admission_reviews.get_or_create(&labels).inc();
        self.admission_seconds.observe(seconds);
    }

    /// Counts one refusal (or cut) by a listener limit.
    pub fn limit_refused(&self, limit: crate::limits::Limit) {
        self.limit_refusals.get_or_create(&LimitLabels { limit: limit.as_str().into() }).inc();
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding metrics");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_call_counts_and_latency() {
        let m = Metrics::new();
        m.observe("GetDeployment", "OK", 0.001);
        m.observe("GetDeployment", "NOT_FOUND", 0.001);
        let text = m.encode();
        assert!(
            text.contains(r#"scalekeeper_grpc_server_handled_total{grpc_service="scalekeeper.v1.ScaleService",grpc_method="GetDeployment",grpc_code="NOT_FOUND"} 1"#),
            "{text}"
        );
        assert!(text.contains("scalekeeper_grpc_server_handling_seconds_bucket"), "{text}");
        assert!(text.contains("scalekeeper_ready 0"), "{text}");
    }
}
