//! The gRPC edge: the only module that knows both the Kubernetes-facing code and the
//! `scalekeeper.v1` API (tonic and the proto types).
//!
//! ```text
//!  tonic request ─► service ──reads──► cache ──► DeploymentView ──convert──► pb::Deployment
//!                      │
//!                      └──writes─► writer ──WriteError──status──► Error ──► tonic::Status
//! ```
//!
//! - [`service`]: `scalekeeper.v1.ScaleService` — validation, scope, logging, metrics (its
//!   `watch` child feeds the WatchDeployments streams);
//! - [`status`]: the API [`Error`], the one table from it to `tonic::Status`,
//!   and the one mapping from a [`WriteError`](crate::writer::WriteError) (with the Kubernetes
//!   status codes) into it;
//! - [`convert`]: domain values to proto messages and back;
//! - [`intake`]: every call of the port, health and reflection included: the receiving
//!   limits and deadline, and the answer to a request no handler saw (malformed: INVALID_ARGUMENT).

pub mod convert;
pub mod intake;
pub mod service;
pub mod status;

pub use service::{Service, ServiceConfig};
pub use status::Error;
