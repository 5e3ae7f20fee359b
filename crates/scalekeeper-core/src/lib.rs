//! scalekeeper's domain: what a user declared, what the cluster has, and how they compare.
//!
//! Pure code — no Kubernetes client, no gRPC, no I/O — so every rule here is unit-tested
//! without a server. The Kubernetes adapter fills [`Observed`] and [`Desired`] from the
//! watch cache; the gRPC adapter turns [`SyncState`], [`Violation`]s and [`Identity`] into
//! messages and status codes.

pub mod admission;
pub mod ahead;
pub mod approval;
pub mod authz;
pub mod build_info;
pub mod duration;
pub mod explain;
pub mod history;
pub mod identity;
pub mod managers;
pub mod plan;
pub mod request;
pub mod rules;
pub mod schedule;
pub mod spec;
pub mod sync;
pub mod text;
pub mod validation;
pub mod write;

pub use identity::{Identity, NameKind};
pub use plan::{Decision, Input, Limits, Plan, plan};
pub use request::{
    MAX_LABEL_SELECTOR_BYTES, MAX_PAGE_TOKEN_BYTES, decode_page_token, encode_page_token, parse_expected_version,
    parse_label_selector,
};
pub use sync::{Conflict, Desired, Mode, Observed, ReplicaCounts, SyncState, SyncStatus, evaluate};
pub use validation::{
    DEFAULT_MAX_REPLICAS, DEFAULT_PAGE_SIZE, MAX_BULK_NAMESPACES, MAX_PAGE_SIZE, Violation, page_size, validate_bounds,
    validate_bulk_selection, validate_hold, validate_if_current, validate_namespace_filter, validate_replicas,
    validate_target, validate_windows,
};
