//! scalekeeper: a secure gRPC API over the replica counts of Kubernetes Deployments.
//!
//! Dependencies point one way, from the process down to the domain:
//!
//! ```text
//!   main.rs ─► runtime (args: clap, checks, ServeConfig; run each subcommand)
//!                 │
//!                 ▼
//!   server (wiring: cache, reconciler under the Lease, gRPC on mTLS, HTTP probes/metrics,
//!      │            │    the admission webhook, shutdown)
//!      │            ▼
//!      │   grpc/ ── the edge, the only module that knows both sides:
//!      │     service (ScaleService) · status (API Error ─► tonic::Status; WriteError ─► Error)
//!      │     · convert (DeploymentView ─► pb::Deployment)        tls (mTLS accept loop)
//!      │   admission/ ── the webhook edge: AdmissionReview ⇄ scalekeeper_core::admission,
//!      │     its HTTPS listener, the ValidatingWebhookConfiguration (config)
//!      │            │ reads             │ writes
//!      ▼            ▼                   ▼
//!   Kubernetes-facing (kube, no tonic, no proto):
//!     cache (reflectors; cache::view: DeploymentView) · writer (WriteError)
//!     · reconciler (ReconcileError) · leader (Lease) · policy, scalerequest, crds (the CRDs)
//!     · hpa · culprit
//!     · events · whoami · explain (Explain's live reads: managedFields, HPAs, ScaledObjects)
//!                                       │
//!                                       ▼
//!   scalekeeper-core (domain: sync status, the reconcile plan, validation, identity) — pure
//!
//!   metrics (prometheus registry; the edge passes gRPC codes as labels)
//!   scalekeeper-cli (the client and its retry policy; imports nothing from here)
//!   · certs (dev PKI) · dev (kubesim + server in one process; `dev` feature)
//! ```
//!
//! Cargo feature `dev` (off by default): the `dev` module and `scalekeeper dev`, with kubesim
//! as a dependency. Release builds and the image leave it off, so they carry no simulator.

pub mod admission;
pub mod audit;
pub mod authz;
pub mod cache;
pub mod certs;
pub mod crds;
pub mod culprit;
#[cfg(feature = "dev")]
pub mod dev;
pub mod events;
pub mod explain;
pub mod grpc;
pub mod hpa;
pub mod leader;
pub mod limits;
pub mod metrics;
pub mod policy;
pub mod reconciler;
pub mod runtime;
pub mod scalerequest;
pub mod server;
pub mod tls;
pub mod whoami;

/// The client (`scalekeeper get`, `set`, ...): the `scalekeeper-cli` crate, which imports nothing
/// from the server.
pub use scalekeeper_cli as cli;
/// The client retry policy (the CLI, the tests, the load clients): `scalekeeper_cli::retry`.
pub use scalekeeper_cli::retry;
pub mod writer;
