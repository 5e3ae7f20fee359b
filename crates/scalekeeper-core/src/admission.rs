//! The admission guard's decision, as a pure function: whether a write of a Deployment's
//! `spec.replicas` (or of its `scale` subresource) that the API server is about to store is
//! allowed, allowed with a warning, or refused — before a single Pod is deleted.
//!
//! A correction after the fact cannot protect a workload: the Deployment and ReplicaSet
//! controllers act on the same watch event as the reconciler, so a scale to 0 that scalekeeper
//! "undoes" within milliseconds has already terminated every Pod. The guard refuses the write
//! instead. The webhook adapter (`scalekeeper::admission`) reads an `AdmissionReview`, fills
//! [`Input`] from its watch cache and answers with [`review`]'s [`Verdict`].
//!
//! The rule (first row that applies wins; each row is a table test below, `row_NN_…`):
//!
//! | # | request | verdict |
//! |---|---|---|
//! | 1 | not an UPDATE (CREATE, DELETE, CONNECT) | allowed |
//! | 2 | an UPDATE of another part of the Deployment (the `status` subresource) | allowed |
//! | 3 | `spec.replicas` unchanged (a template-only or metadata-only update: `kubectl rollout restart`) | allowed |
//! | 4 | no ReplicaPolicy for the Deployment | allowed |
//! | 5 | the policy is pinned to another Deployment UID (a re-created Deployment) | allowed |
//! | 6 | a HorizontalPodAutoscaler targets the Deployment (the count is the HPA's) | allowed |
//! | 7 | the policy is in Observe mode | allowed |
//! | 8 | the policy's guard is Off, and the write needs no approval (row 13) | allowed |
//! | 9 | the new count is the effective count (hold, schedule window, declared; within bounds) | allowed |
//! | 10 | the requester is scalekeeper itself | exempt |
//! | 11 | the requester is an exempt user or in an exempt group (the HPA controller, KEDA) | exempt |
//! | 12 | the requester is in a break-glass group | break-glass: allowed, audited, announced |
//! | 13 | the policy's approval rule says the new count needs approval ([`count_needs`]), whatever the guard | refused (HTTP 403) with the rule's words and how to ask for it |
//! | 14 | guard Warn | allowed with a warning (the reconciler sets the count back) |
//! | 15 | guard Deny | refused (HTTP 403) with what holds the count and how to change it |
//!
//! Row 13 is the two-person rule's door for direct writes (issue 27): a `kubectl scale` cannot
//! carry a ScaleRequest, so a count the rule holds back is refused even under guard Warn or
//! Off, and asking through scalekeeper (`scalekeeper set`, which creates the request) is the
//! way. The step is measured from the effective count, as the write plan measures it.
//!
//! "Effective" is [`Rules::effective`], the function the reconciler enforces, so the guard
//! refuses exactly what the reconciler would undo. A dry-run request gets the same answer
//! (the webhook has no side effects), so `kubectl scale --dry-run=server` previews a refusal.
//!
//! Sources: "Dynamic Admission Control",
//! <https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/>;
//! the `autoscaling/v1` `Scale` type, whose `spec.replicas` is serialized with `omitempty`
//! (`k8s.io/api/autoscaling/v1/types.go`), and the Deployment default of 1 replica
//! (`k8s.io/kubernetes/pkg/apis/apps/v1/defaults.go`).

use std::fmt;

pub mod policy;

use jiff::Timestamp;

use crate::approval::{ApprovalRule, Need, count_needs, needs_message};
use crate::rules::{Effective, Rules, Source};
use crate::sync::Mode;

/// Event reason: the guard refused a write of `spec.replicas` (a Warning on the Deployment).
pub const REASON_SCALE_REFUSED: &str = "ScaleRefused";
/// Event reason: a member of a break-glass group wrote `spec.replicas` past the guard (a
/// Warning on the Deployment).
pub const REASON_GUARD_BYPASSED: &str = "GuardBypassed";

/// What the guard does about a write of `spec.replicas` that differs from the effective count.
/// The same type is the ReplicaPolicy's `spec.guard` (with the `crd` feature), spelled `Off`,
/// `Warn`, `Deny` there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[cfg_attr(feature = "crd", derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema))]
pub enum Guard {
    /// Not guarded: the reconciler alone corrects drift.
    #[default]
    Off,
    /// Allowed with a warning the client prints; the reconciler sets the count back.
    Warn,
    /// Refused before it is stored.
    Deny,
}

impl Guard {
    /// Every guard, in order.
    pub const ALL: [Guard; 3] = [Guard::Off, Guard::Warn, Guard::Deny];

    /// The name as the ReplicaPolicy spec spells it (`Off`, `Warn`, `Deny`).
    pub fn as_str(self) -> &'static str {
        match self {
            Guard::Off => "Off",
            Guard::Warn => "Warn",
            Guard::Deny => "Deny",
        }
    }
}

impl fmt::Display for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Guard {
    type Err = UnknownGuard;

    /// Parses `Off`, `Warn` or `Deny`, in any case.
    ///
    /// # Errors
    /// [`UnknownGuard`] for anything else.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Guard::ALL.into_iter().find(|g| g.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| UnknownGuard(s.to_owned()))
    }
}

/// A string that names no [`Guard`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown guard {0:?}: expected Off, Warn or Deny")]
pub struct UnknownGuard(pub String);

/// The operation of an admission request (`AdmissionRequest.operation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `CREATE`.
    Create,
    /// `UPDATE`.
    Update,
    /// `DELETE`.
    Delete,
    /// `CONNECT`.
    Connect,
}

impl Operation {
    /// The name as Kubernetes spells it (`CREATE`, `UPDATE`, `DELETE`, `CONNECT`).
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }
}

/// Which part of a Deployment a request writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The Deployment itself (`apps/v1` `deployments`): `kubectl patch`, `apply`, `edit`.
    Deployment,
    /// Its `scale` subresource, an `autoscaling/v1` `Scale`: `kubectl scale`, the HPA.
    Scale,
    /// Another subresource (`status`), named.
    Other(String),
}

impl Target {
    /// The target of a request on `deployments` with `sub_resource` (empty or absent: the
    /// Deployment itself).
    pub fn of(sub_resource: Option<&str>) -> Target {
        match sub_resource.unwrap_or("") {
            "" => Target::Deployment,
            "scale" => Target::Scale,
            other => Target::Other(other.to_owned()),
        }
    }

    /// The subresource's name as Kubernetes spells it (`""` for the Deployment itself).
    pub fn sub_resource(&self) -> &str {
        match self {
            Target::Deployment => "",
            Target::Scale => "scale",
            Target::Other(s) => s,
        }
    }
}

/// The count an admitted object carries in `spec.replicas`, given what its JSON holds there
/// (`None`: the field is absent). One owner of what an absent count means:
///
/// - a `Scale` serializes `spec.replicas` with `omitempty`, so a Scale of 0 has no field:
///   absent is 0;
/// - a Deployment's `spec.replicas` is a pointer the API server defaults to 1 before admission
///   runs: absent (never seen after defaulting) is 1.
pub fn replicas_of(target: &Target, field: Option<i32>) -> i32 {
    match (target, field) {
        (_, Some(n)) => n,
        (Target::Scale, None) => 0,
        (_, None) => 1,
    }
}

/// Who asks: the user and groups of `AdmissionRequest.userInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Requester {
    /// The user name, e.g. `alice`, `system:serviceaccount:keda:keda-operator`.
    pub user: String,
    /// The groups.
    pub groups: Vec<String>,
}

/// The write the API server is about to store, as the guard reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The operation.
    pub operation: Operation,
    /// What it writes.
    pub target: Target,
    /// Namespace of the Deployment.
    pub namespace: String,
    /// Name of the Deployment.
    pub name: String,
    /// The Deployment's UID (a Scale carries its Deployment's), when the request has one.
    pub uid: Option<String>,
    /// `spec.replicas` before (a count; see [`replicas_of`]).
    pub old_replicas: i32,
    /// `spec.replicas` the write stores (a count).
    pub new_replicas: i32,
    /// Who writes.
    pub requester: Requester,
}

/// The ReplicaPolicy of the Deployment, as the guard reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Declaration {
    /// The declared count (`spec.replicas`).
    pub declared: i32,
    /// Enforce or Observe.
    pub mode: Mode,
    /// The policy's guard.
    pub guard: Guard,
    /// The Deployment UID the policy is pinned to, if any.
    pub pinned_uid: Option<String>,
    /// Who last declared the count through the API (`last-set-by`), if recorded.
    pub set_by: Option<String>,
    /// The hold, schedule and bounds.
    pub rules: Rules,
    /// The approval rule (`spec.approval`), if any: a direct write of a count it holds back is
    /// refused (row 13).
    pub approval: Option<ApprovalRule>,
}

/// Identities whose writes the guard never refuses or warns about, and the break-glass
/// groups.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Exemptions {
    /// scalekeeper's own user (its ServiceAccount in a cluster), when known: its writes apply
    /// declarations the answering replica's cache may not show yet.
    pub own_user: Option<String>,
    /// Exempt users (`--admission-exempt user:NAME`).
    pub users: Vec<String>,
    /// Exempt groups (`--admission-exempt group:NAME`).
    pub groups: Vec<String>,
    /// Break-glass groups (`--admission-break-glass-group`): allowed, audited, announced.
    pub break_glass_groups: Vec<String>,
}

/// An entry of `--admission-exempt`: a user or a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exempt {
    /// `user:NAME`.
    User(String),
    /// `group:NAME`.
    Group(String),
}

impl std::str::FromStr for Exempt {
    type Err = String;

    /// Parses `user:NAME` or `group:NAME` (`NAME` not empty; it may contain `:`, as
    /// `system:serviceaccount:NS:NAME` does).
    ///
    /// # Errors
    /// A message saying the expected form, for anything else.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?}: expected user:NAME or group:NAME");
        let (kind, name) = s.split_once(':').ok_or_else(bad)?;
        if name.trim().is_empty() {
            return Err(bad());
        }
        match kind {
            "user" => Ok(Exempt::User(name.to_owned())),
            "group" => Ok(Exempt::Group(name.to_owned())),
            _ => Err(bad()),
        }
    }
}

impl Exemptions {
    /// Exemptions from `--admission-exempt` entries, the break-glass groups and scalekeeper's
    /// own user.
    pub fn new(entries: &[Exempt], break_glass_groups: Vec<String>, own_user: Option<String>) -> Self {
        let mut e = Exemptions { own_user, break_glass_groups, ..Default::default() };
        for entry in entries {
            match entry {
                Exempt::User(u) => e.users.push(u.clone()),
                Exempt::Group(g) => e.groups.push(g.clone()),
            }
        }
        e
    }
}

/// Everything [`review`] decides from.
#[derive(Debug, Clone, PartialEq)]
pub struct Input<'a> {
    /// The write.
    pub request: &'a Request,
    /// The Deployment's policy; `None` when it has none.
    pub declaration: Option<&'a Declaration>,
    /// The HorizontalPodAutoscalers (names) that target the Deployment.
    pub hpas: &'a [String],
    /// Who is exempt.
    pub exemptions: &'a Exemptions,
    /// The time of the review (the effective count depends on it).
    pub now: Timestamp,
}

/// Why a write passes unguarded (rows 1–9 of the module's table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pass {
    /// Not an UPDATE.
    NotAnUpdate,
    /// An update of another part of the Deployment (named).
    OtherSubresource(String),
    /// `spec.replicas` does not change.
    ReplicasUnchanged,
    /// No policy.
    Unmanaged,
    /// The policy is pinned to another Deployment UID.
    PinnedElsewhere,
    /// An HPA (named) owns the count.
    Hpa(String),
    /// Observe mode.
    Observe,
    /// Guard Off.
    GuardOff,
    /// The new count is the effective count.
    Effective,
    /// A policy edit the approval rule does not hold back ([`policy::review_policy`]).
    NoApprovalNeeded,
    /// A policy deleted by Kubernetes' own clean-up (the user named; [`policy::CLEAN_UP_USERS`]).
    CleanUp(String),
}

/// Which exemption let a write through (rows 10–11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exemption {
    /// scalekeeper's own user.
    Own,
    /// An exempt user (named).
    User(String),
    /// An exempt group (named).
    Group(String),
}

/// The outcome of [`review`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed: the write is not guarded.
    Allow(Pass),
    /// Allowed: the guard would refuse or warn, but the requester is exempt.
    Exempt(Exemption),
    /// Allowed past the guard by a member of a break-glass group; `message` is returned as a
    /// warning, recorded in the audit trail and announced with a [`REASON_GUARD_BYPASSED`]
    /// Event.
    BreakGlass {
        /// The break-glass group.
        group: String,
        /// What the guard would have said, and that the reconciler still enforces.
        message: String,
    },
    /// Allowed with a warning (guard Warn); the reconciler sets the count back.
    Warn {
        /// The warning.
        message: String,
    },
    /// Refused (guard Deny).
    Deny {
        /// What holds the count and how to change it.
        message: String,
    },
}

/// The decision label of a verdict in metrics and audit records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Allowed, not guarded.
    Allowed,
    /// Allowed with a warning.
    Warned,
    /// Refused.
    Denied,
    /// Allowed, exempt requester.
    Exempt,
    /// Allowed past the guard by a break-glass group.
    BreakGlass,
    /// Not decided (a bad request, or a policy that could not be confirmed): allowed, fail
    /// open. Made by the adapter, never by [`review`].
    Error,
}

impl Decision {
    /// Every decision, in order.
    pub const ALL: [Decision; 6] = [
        Decision::Allowed,
        Decision::Warned,
        Decision::Denied,
        Decision::Exempt,
        Decision::BreakGlass,
        Decision::Error,
    ];

    /// The label value: `allowed`, `warned`, `denied`, `exempt`, `break_glass`, `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::Warned => "warned",
            Decision::Denied => "denied",
            Decision::Exempt => "exempt",
            Decision::BreakGlass => "break_glass",
            Decision::Error => "error",
        }
    }
}

impl Verdict {
    /// Whether the write may be stored.
    pub fn allowed(&self) -> bool {
        !matches!(self, Verdict::Deny { .. })
    }

    /// The decision label.
    pub fn decision(&self) -> Decision {
        match self {
            Verdict::Allow(_) => Decision::Allowed,
            Verdict::Exempt(_) => Decision::Exempt,
            Verdict::BreakGlass { .. } => Decision::BreakGlass,
            Verdict::Warn { .. } => Decision::Warned,
            Verdict::Deny { .. } => Decision::Denied,
        }
    }

    /// The message for the client: the refusal, or the warning; `None` for a silent allow.
    pub fn message(&self) -> Option<&str> {
        match self {
            Verdict::BreakGlass { message, .. } | Verdict::Warn { message } | Verdict::Deny { message } => {
                Some(message)
            }
            Verdict::Allow(_) | Verdict::Exempt(_) => None,
        }
    }

    /// Whether the verdict is recorded in the audit trail (warn, deny, break-glass).
    pub fn is_audited(&self) -> bool {
        matches!(self, Verdict::BreakGlass { .. } | Verdict::Warn { .. } | Verdict::Deny { .. })
    }
}

/// Decides one write. Pure: the same input gives the same verdict. See the module docs for
/// the table.
pub fn review(input: &Input<'_>) -> Verdict {
    let Input { request, declaration, hpas, exemptions, now } = input;
    if request.operation != Operation::Update {
        return Verdict::Allow(Pass::NotAnUpdate);
    }
    if let Target::Other(sub) = &request.target {
        return Verdict::Allow(Pass::OtherSubresource(sub.clone()));
    }
    if request.new_replicas == request.old_replicas {
        return Verdict::Allow(Pass::ReplicasUnchanged);
    }
    let Some(declaration) = declaration else { return Verdict::Allow(Pass::Unmanaged) };
    if let (Some(pinned), Some(uid)) = (&declaration.pinned_uid, &request.uid)
        && !pinned.is_empty()
        && pinned != uid
    {
        return Verdict::Allow(Pass::PinnedElsewhere);
    }
    if let Some(hpa) = hpas.first() {
        return Verdict::Allow(Pass::Hpa(hpa.clone()));
    }
    if declaration.mode == Mode::Observe {
        return Verdict::Allow(Pass::Observe);
    }
    let effective = declaration.rules.effective(declaration.declared, *now);
    let needs = match &declaration.approval {
        Some(rule) if request.new_replicas != effective.replicas => {
            count_needs(rule, request.new_replicas, effective.replicas)
        }
        _ => vec![],
    };
    if declaration.guard == Guard::Off && needs.is_empty() {
        return Verdict::Allow(Pass::GuardOff);
    }
    if request.new_replicas == effective.replicas {
        return Verdict::Allow(Pass::Effective);
    }
    let requester = &request.requester;
    if exemptions.own_user.as_deref().is_some_and(|own| own == requester.user) {
        return Verdict::Exempt(Exemption::Own);
    }
    if exemptions.users.contains(&requester.user) {
        return Verdict::Exempt(Exemption::User(requester.user.clone()));
    }
    if let Some(g) = requester.groups.iter().find(|g| exemptions.groups.contains(g)) {
        return Verdict::Exempt(Exemption::Group(g.clone()));
    }
    let holds = holds_the_count(request, declaration, &effective);
    if let Some(g) = requester.groups.iter().find(|g| exemptions.break_glass_groups.contains(g)) {
        return Verdict::BreakGlass {
            group: g.clone(),
            message: format!(
                "{}/{}: spec.replicas {} -> {} allowed by break-glass group {}: {holds}; the write is audited, and \
                 the reconciler still sets it back to {} unless the declaration changes",
                request.namespace,
                request.name,
                request.old_replicas,
                request.new_replicas,
                quote(g),
                effective.replicas
            ),
        };
    }
    if let Some(rule) = &declaration.approval
        && !needs.is_empty()
    {
        return Verdict::Deny { message: needs_approval(request, &needs, rule) };
    }
    match declaration.guard {
        Guard::Warn => Verdict::Warn {
            message: format!(
                "{}/{}: spec.replicas {} -> {} will be set back to {}: {holds}",
                request.namespace, request.name, request.old_replicas, request.new_replicas, effective.replicas
            ),
        },
        // Guard::Off returned above.
        Guard::Deny | Guard::Off => {
            Verdict::Deny { message: format!("{}/{}: {holds}", request.namespace, request.name) }
        }
    }
}

/// Why a direct write needs approval and how to ask for it (row 13), e.g. `prod/checkout:
/// spec.replicas 6 -> 0 refused: this change needs 1 approval by another identity: 0 is below
/// the approval band's lower edge 2; ask for it with scalekeeper set prod/checkout 0, which
/// creates a ScaleRequest another identity approves` (the command as it runs: a declaration
/// takes no reason).
fn needs_approval(request: &Request, needs: &[Need], rule: &ApprovalRule) -> String {
    let target = format!("{}/{}", request.namespace, request.name);
    format!(
        "{target}: spec.replicas {} -> {} refused: {}; ask for it with scalekeeper set {target} {}, which \
         creates a ScaleRequest another identity approves",
        request.old_replicas,
        request.new_replicas,
        needs_message(needs, rule.approvals_needed()),
        request.new_replicas
    )
}

/// What holds the count and how to change it, e.g. `replicas are declared at 6 by
/// spiffe://corp/oncall; change them with scalekeeper set prod/checkout N`, or `replicas are
/// held at 8 by alice (hold until 2026-12-06T14:02:00Z: INC-123); end the hold with
/// scalekeeper clear prod/checkout --hold`.
fn holds_the_count(request: &Request, declaration: &Declaration, effective: &Effective) -> String {
    let target = format!("{}/{}", request.namespace, request.name);
    let by = |who: Option<&String>| who.map(|w| format!(" by {}", quote(w))).unwrap_or_default();
    let kept = |open: &str, close: &str| {
        effective.clamped.map(|b| format!("{open}kept within {b}{close}")).unwrap_or_default()
    };
    match &effective.source {
        Source::Declared => format!(
            "replicas are declared at {}{}{}; change them with scalekeeper set {target} N",
            effective.replicas,
            by(declaration.set_by.as_ref()),
            kept(" (", ")")
        ),
        Source::Hold { until, reason, set_by } => format!(
            "replicas are held at {}{} (hold until {}: {}{}); end the hold with scalekeeper clear {target} \
             --hold, or hold another count with scalekeeper set {target} N --for DURATION --reason TEXT",
            effective.replicas,
            by(set_by.as_ref()),
            until.strftime("%Y-%m-%dT%H:%M:%SZ"),
            quote(reason),
            kept(", ", "")
        ),
        Source::Window { text, end, .. } => format!(
            "replicas are scheduled at {} (schedule window \"{}\" until {}{}); change the schedule with \
             scalekeeper schedule set {target}, or hold another count with scalekeeper set {target} N --for \
             DURATION --reason TEXT",
            effective.replicas,
            quote(text),
            end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            kept(", ", "")
        ),
    }
}

/// The note of a [`REASON_SCALE_REFUSED`] Event: `refused spec.replicas FROM -> TO by USER:
/// MESSAGE` (counts of Pods; the user quoted with [`quote`]). [`parse_refusal_note`] reads it
/// back.
pub fn refusal_note(from: i32, to: i32, user: &str, message: &str) -> String {
    format!("refused spec.replicas {from} -> {to} by {}: {message}", quote(user))
}

/// What a [`refusal_note`] says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalNote {
    /// `spec.replicas` before the refused write (a count).
    pub from: i32,
    /// The count the refused write asked for.
    pub to: i32,
    /// Who made it (as quoted in the note).
    pub by: String,
    /// Why it was refused.
    pub message: String,
}

/// Reads a note [`refusal_note`] wrote about Deployment `target` (`namespace/name`): the user
/// ends where `: target` begins (every refusal's message names the Deployment first), else at
/// the first `: `. `None` for any other text.
pub fn parse_refusal_note(note: &str, target: &str) -> Option<RefusalNote> {
    let rest = note.strip_prefix("refused spec.replicas ")?;
    let (from, rest) = rest.split_once(" -> ")?;
    let (to, rest) = rest.split_once(" by ")?;
    let named = format!(": {target}");
    let (by, message) = match rest.find(&named) {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => rest.split_once(": ")?,
    };
    Some(RefusalNote { from: from.parse().ok()?, to: to.parse().ok()?, by: by.to_owned(), message: message.to_owned() })
}

/// `text` as a message quotes it: bounded and escaped ([`crate::text::bounded`], the one owner
/// of how caller text is echoed).
pub fn quote(text: &str) -> String {
    crate::text::bounded(text)
}

#[cfg(test)]
mod tests;
