//! The conditions a write carries (the write plan's rows 2 to 6): the caller's expected
//! version, and `--if-current`; and the messages of the refusals an HPA and a version give.

use jiff::Timestamp;

use super::{Attempt, DeploymentFacts, Policy, Refusal, Request};
use crate::request::parse_expected_version;

/// The version check: when the request carries an `expected_version`, the policy exists and
/// is at that generation.
///
/// # Errors
/// [`Refusal::Invalid`] when `expected_version` does not parse ([`parse_expected_version`]);
/// [`Refusal::VersionMismatch`] when the policy is at another generation or missing.
pub fn check_version(request: &Request<'_>, policy: Option<&Policy>) -> Result<(), Refusal> {
    let Some(expected) = parse_expected_version(request.expected_version).map_err(Refusal::Invalid)? else {
        return Ok(());
    };
    let current = policy.and_then(|p| p.generation);
    if current == Some(expected) {
        return Ok(());
    }
    Err(Refusal::VersionMismatch { namespace: request.namespace.into(), name: request.name.into(), expected, current })
}

/// The `--if-current` condition (nothing to check without one): on a retry, the policy is at
/// the generation the first try read; the Deployment's `spec.replicas` is the count given; and
/// the policy (if any) is in effect on it — a policy whose effective count at `now` differs is
/// a declaration another caller made and has not applied yet (or a drift about to be
/// corrected), and a write on top of it would race that caller.
///
/// # Errors
/// [`Refusal::Overtaken`], [`Refusal::NotCurrent`] or [`Refusal::Unsettled`], the first that
/// applies in that order.
pub fn check_current(
    request: &Request<'_>,
    policy: Option<&Policy>,
    deployment: &DeploymentFacts,
    attempt: Attempt,
    now: Timestamp,
) -> Result<(), Refusal> {
    let Some(want) = request.if_current else { return Ok(()) };
    let (namespace, name) = (request.namespace.to_owned(), request.name.to_owned());
    if let Attempt::Retry { first_generation } = attempt
        && first_generation != policy.map(Policy::version)
    {
        return Err(Refusal::Overtaken { namespace, name, want });
    }
    let spec = deployment.spec_replicas;
    if spec != want {
        return Err(Refusal::NotCurrent { namespace, name, spec, want });
    }
    if let Some(p) = policy {
        let effective = p.spec.effective(now).replicas;
        if effective != spec {
            return Err(Refusal::Unsettled { namespace, name, spec, effective });
        }
    }
    Ok(())
}

/// The message of [`Refusal::HpaOwnsCount`], for HPA `hpa` targeting Deployment `deployment`
/// in `namespace`.
pub fn hpa_owns_count_message(namespace: &str, hpa: &str, deployment: &str) -> String {
    format!(
        "HorizontalPodAutoscaler {namespace}/{hpa} targets Deployment {namespace}/{deployment}: it owns the replica \
         count; scalekeeper will not fight it (delete the HPA or leave scaling to it)"
    )
}

/// The message of [`Refusal::VersionMismatch`]: policy `namespace/name` at generation
/// `current` (`None`: it does not exist), `expected` expected.
pub fn version_mismatch_message(namespace: &str, name: &str, expected: i64, current: Option<i64>) -> String {
    match current {
        None => format!(
            "ReplicaPolicy {namespace}/{name} does not exist, but version {expected} was expected; get it and retry"
        ),
        Some(g) => format!(
            "ReplicaPolicy {namespace}/{name} is at version {g}, not the expected {expected}: the declaration changed \
             since you read it; get it again and retry"
        ),
    }
}
