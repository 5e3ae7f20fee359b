//! scalekeeper: a secure gRPC API over the replica counts of Kubernetes Deployments.
//!
//! ```text
//!            scalekeeper-core (domain: sync status, validation, identity) — pure
//!                 ▲                      ▲
//!   view ─────────┘                      │
//!   cache (reflectors) ◄── service (gRPC edge, Status mapping) ──► writer (Kubernetes writes)
//!                              ▲
//!   tls (mTLS accept loop) ────┘        server (wiring, health, HTTP, shutdown)
//!   cli (client) · certs (dev PKI) · dev (kubesim + server in one process; `dev` feature)
//! ```
//!
//! Cargo feature `dev` (off by default): the `dev` module and `scalekeeper dev`, with kubesim
//! as a dependency. Release builds and the image leave it off, so they carry no simulator.

pub mod cache;
pub mod certs;
pub mod cli;
pub mod culprit;
#[cfg(feature = "dev")]
pub mod dev;
pub mod grpc;
pub mod hpa;
pub mod leader;
pub mod metrics;
pub mod policy;
pub mod reconciler;
pub mod runtime;
pub mod server;
pub mod tls;
pub mod view;
pub mod writer;
