//! The two-person rule (issue 27): which changes of a Deployment's counts need approval by
//! other identities, how approvals are counted, and where a ScaleRequest stands.
//!
//! A policy may carry an [`ApprovalRule`]: a band (`above`, `below`) and a step limit
//! (`max_step_percent`). A change that introduces a count outside the band, or a step from
//! the count in force larger than the limit, needs `approvers` approvals, each from an
//! identity other than the requester's; so does changing the rule itself once one is set.
//!
//! ```text
//!  policy before (its rule is the one in force) ┐
//!  policy after the write plan ─────────────────┼─► needs ─► [Need]  (empty: write it)
//!  the effective count now (in_force) ──────────┘            else a ScaleRequest, `digest`ed
//!
//!  ScaleRequest as stored (RequestState) · approver · digest seen · now ─► approve ─► Approved { counted, complete }
//!                                                                                     or ApproveRefusal
//! ```
//!
//! What a change introduces ([`needs`]), compared with the policy before it:
//!
//! | count | introduced when |
//! |---|---|
//! | the declared count | it differs from before's, or there was no policy |
//! | the hold's count | the hold is new or its count or expiry changed; never a freeze's hold (it holds the count in force) |
//! | a window's count | the window (text and count) is not in before's schedule |
//!
//! Each introduced count `c` needs approval when `c > above`, `c < below`, or the step from
//! the count in force is larger than `max_step_percent` ([`Need`]). Changing or removing the
//! rule, or deleting a policy that has one, needs approval too ([`Need::RuleChange`]); setting
//! a first rule does not. Everything here is pure: the server reads, calls, and writes.

use std::fmt;
use std::time::Duration;

use jiff::Timestamp;

use crate::Violation;
use crate::spec::Spec;
use crate::text::bounded;
use crate::validation::validate_replicas;

/// The most approvals a rule may ask for.
pub const MAX_APPROVERS: u32 = 5;
/// The largest step limit a rule may set, in percent of the count in force.
pub const MAX_STEP_PERCENT: u32 = 1000;
/// How long a ScaleRequest waits for its approvals unless it says otherwise: 1 hour, after
/// which it reads as [`Phase::Expired`].
pub const DEFAULT_REQUEST_TTL: Duration = Duration::from_secs(3600);
/// The longest a break-glass change stands before the declaration in force returns: 1 hour. A
/// break-glass write is always a hold of at most this ([`break_glass_hold`]).
pub const BREAK_GLASS_MAX_HOLD: Duration = Duration::from_secs(3600);

/// How long a break-glass write holds its count: the hold asked for (`requested`, `None` for a
/// declaration), capped at [`BREAK_GLASS_MAX_HOLD`]; a declaration becomes a hold of the cap.
/// A break-glass change is an emergency measure, not a new declaration: when it ends, the
/// count the policy declared returns unless an approved change replaced it.
pub fn break_glass_hold(requested: Option<Duration>) -> Duration {
    requested.map_or(BREAK_GLASS_MAX_HOLD, |d| d.min(BREAK_GLASS_MAX_HOLD))
}

/// A policy's approval rule (`spec.approval`): counts above `above` or below `below`, or a
/// step from the count in force larger than `max_step_percent` percent of it (any step from
/// 0), need `approvers` approvals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApprovalRule {
    /// Counts above this (a number of Pods) need approval; `None`: no upper edge.
    pub above: Option<i32>,
    /// Counts below this (a number of Pods) need approval; `None`: no lower edge.
    pub below: Option<i32>,
    /// Steps larger than this percentage of the count in force need approval; `None`: no limit.
    pub max_step_percent: Option<u32>,
    /// How many approvals a change needs, 1..=[`MAX_APPROVERS`]; 0 (the API's unset) means 1.
    pub approvers: u32,
}

// === impl ApprovalRule ===

impl ApprovalRule {
    /// How many approvals (from distinct identities other than the requester) a change that
    /// needs approval takes: `approvers`, with 0 read as 1.
    pub fn approvals_needed(&self) -> u32 {
        self.approvers.max(1)
    }

    /// The needs of one introduced count `count`, given the count in force `from`, in the
    /// order above, below, step.
    fn needs_of(&self, count: i32, from: i32) -> impl Iterator<Item = Need> {
        let above = self.above.filter(|&a| count > a).map(|above| Need::Above { count, above });
        let below = self.below.filter(|&b| count < b).map(|below| Need::Below { count, below });
        let step = self.max_step_percent.filter(|&limit| step_exceeds(from, count, limit)).map(|limit| Need::Step {
            from,
            to: count,
            limit,
        });
        above.into_iter().chain(below).chain(step)
    }
}

/// What a write of one count `count` straight to the Deployment (`kubectl scale`, an edit of
/// `spec.replicas`) needs under `rule`, given the count in force `in_force` (counts of Pods):
/// the admission guard refuses such a write when this is not empty, since it cannot carry a
/// request. The same rows as [`needs`] for one introduced count: above, below, step.
pub fn count_needs(rule: &ApprovalRule, count: i32, in_force: i32) -> Vec<Need> {
    rule.needs_of(count, in_force).collect()
}

/// Whether the step from `from` to `to` is larger than `limit` percent of `from`: from 0, any
/// step (`to != 0`); else `|to - from| * 100 > limit * from`. In i64 without overflow: the
/// left side is at most 2^32 * 100, the right side's magnitude at most (2^32 - 1) * 2^31 <
/// 2^63.
fn step_exceeds(from: i32, to: i32, limit: u32) -> bool {
    if from == 0 {
        return to != 0;
    }
    let diff = (i64::from(to) - i64::from(from)).abs();
    diff * 100 > i64::from(limit) * i64::from(from)
}

/// Checks an approval rule set through the API. Violations name `approval.above`,
/// `approval.below`, `approval.max_step_percent`, `approval.approvers`, or `approval` when the
/// rule sets none of `above`, `below` and `max_step_percent` (it would need nothing). The
/// edges are counts within `0..=max_replicas` (a number of Pods; the server's
/// `--max-replicas`), `below <= above` when both are set; the step limit is
/// 1..=[`MAX_STEP_PERCENT`] percent; `approvers` is 0..=[`MAX_APPROVERS`] (0 means 1).
/// Returns every violation (empty = valid).
pub fn validate_rule(rule: &ApprovalRule, max_replicas: i32) -> Vec<Violation> {
    let mut v = vec![];
    if rule.above.is_none() && rule.below.is_none() && rule.max_step_percent.is_none() {
        v.push(Violation {
            field: "approval".into(),
            description: "an approval rule sets at least one of above, below and max_step_percent; to remove the rule, give no rule"
                .into(),
        });
    }
    for (field, value) in [("approval.above", rule.above), ("approval.below", rule.below)] {
        if let Some(n) = value {
            v.extend(validate_replicas(n, max_replicas).into_iter().map(|x| Violation { field: field.into(), ..x }));
        }
    }
    if let (Some(above), Some(below)) = (rule.above, rule.below)
        && below > above
    {
        v.push(Violation {
            field: "approval.below".into(),
            description: format!("the lower edge {below} is above the upper edge {above}; below is at most above"),
        });
    }
    if let Some(p) = rule.max_step_percent
        && !(1..=MAX_STEP_PERCENT).contains(&p)
    {
        v.push(Violation {
            field: "approval.max_step_percent".into(),
            description: format!("{p}% is outside 1% to {MAX_STEP_PERCENT}%"),
        });
    }
    if rule.approvers > MAX_APPROVERS {
        v.push(Violation {
            field: "approval.approvers".into(),
            description: format!("{} approvers is over the limit of {MAX_APPROVERS} (0 means 1)", rule.approvers),
        });
    }
    v
}

/// Why a change needs approval under the rule in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// The change introduces `count`, above the band's upper edge `above` (counts of Pods).
    Above {
        /// The count introduced.
        count: i32,
        /// The rule's upper edge.
        above: i32,
    },
    /// The change introduces `count`, below the band's lower edge `below` (counts of Pods).
    Below {
        /// The count introduced.
        count: i32,
        /// The rule's lower edge.
        below: i32,
    },
    /// The change introduces `to`, a step from the count in force `from` larger than `limit`
    /// percent of it (any step from 0).
    Step {
        /// The count in force (a number of Pods).
        from: i32,
        /// The count introduced.
        to: i32,
        /// The rule's `max_step_percent`.
        limit: u32,
    },
    /// The change sets another rule, removes it, or deletes the policy that carries it.
    RuleChange,
}

// === impl Need ===

impl fmt::Display for Need {
    /// In words, e.g. `40 is above the approval band's upper edge 20`, `a step from 10 to 40
    /// is 300%, more than the approval rule's 50%` (the percent rounded down).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Need::Above { count, above } => write!(f, "{count} is above the approval band's upper edge {above}"),
            Need::Below { count, below } => write!(f, "{count} is below the approval band's lower edge {below}"),
            Need::Step { from: 0, to, limit } => {
                write!(f, "a step from 0 to {to} is from 0, more than the approval rule's {limit}% allows")
            }
            Need::Step { from, to, limit } => {
                let diff = (i64::from(to) - i64::from(from)).abs();
                let percent = diff * 100 / i64::from(from).abs();
                write!(f, "a step from {from} to {to} is {percent}%, more than the approval rule's {limit}%")
            }
            Need::RuleChange => f.write_str("changing the approval rule needs approval"),
        }
    }
}

/// What of the change from `before` to `after` needs approval under `before`'s rule (the
/// module docs' table). `before`: the policy's spec as read (`None`: no policy); `after`: the
/// spec the write plan would write (`None`: the policy is deleted, which removes any rule, a
/// [`Need::RuleChange`]). `in_force`: the policy's effective count now (a number of Pods),
/// the `from` of every step.
///
/// Empty when nothing needs approval: no policy, no rule (so a first rule is free), or no
/// introduced count outside the rule. Otherwise the needs in the order their counts are found
/// (the declared count, the hold's, the windows in order; per count: above, below, step),
/// then [`Need::RuleChange`]; a need found twice is listed once.
pub fn needs(before: Option<&Spec>, after: Option<&Spec>, in_force: i32) -> Vec<Need> {
    let Some((before, rule)) = before.and_then(|b| b.approval.map(|r| (b, r))) else {
        return vec![];
    };
    let Some(after) = after else {
        return vec![Need::RuleChange];
    };
    let mut found = vec![];
    let mut push = |n: Need| {
        if !found.contains(&n) {
            found.push(n);
        }
    };
    for count in introduced(before, after) {
        rule.needs_of(count, in_force).for_each(&mut push);
    }
    if after.approval != Some(rule) {
        push(Need::RuleChange);
    }
    found
}

/// The counts `after` introduces over `before` (the module docs' table), in order: the
/// declared count, the hold's, the windows'.
fn introduced(before: &Spec, after: &Spec) -> Vec<i32> {
    let mut counts = vec![];
    if after.replicas != before.replicas {
        counts.push(after.replicas);
    }
    if let Some(hold) = after.hold.as_ref().filter(|h| !h.freeze) {
        let same = before.hold.as_ref().is_some_and(|b| b.replicas == hold.replicas && b.until == hold.until);
        if !same {
            counts.push(hold.replicas);
        }
    }
    counts.extend(after.schedule.iter().filter(|w| !before.schedule.contains(w)).map(|w| w.replicas));
    counts
}

/// SHA-256 of `bytes` (FIPS 180-4), as 64 lower-case hexadecimal characters: a ScaleRequest's
/// `digest` is this of its spec's JSON with `digest` empty.
pub fn digest(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = String::with_capacity(64);
    for b in d.as_ref() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

/// Where a ScaleRequest stands (`status.phase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for approvals (a request's first phase).
    Pending,
    /// Approved by enough identities; the change is being applied (or applying it failed and
    /// an approver may retry).
    Approved,
    /// The change was applied.
    Applied,
    /// Someone denied it (the requester too: a withdrawal).
    Denied,
    /// It was not approved before `expiresAt`.
    Expired,
    /// The policy changed since it was requested (`basedOnGeneration`), so it was not applied.
    Superseded,
    /// A member of a break-glass group applied the change at once, past the rule; it waits for
    /// a second identity to acknowledge it ([`acknowledge`]).
    ReviewRequired,
    /// A break-glass change a second identity acknowledged.
    Reviewed,
}

// === impl Phase ===

impl Phase {
    /// Every phase, in the order of the enum.
    pub const ALL: [Phase; 8] = [
        Phase::Pending,
        Phase::Approved,
        Phase::Applied,
        Phase::Denied,
        Phase::Expired,
        Phase::Superseded,
        Phase::ReviewRequired,
        Phase::Reviewed,
    ];

    /// The phase as `status.phase` records it: `Pending`, `Approved`, `Applied`, `Denied`,
    /// `Expired`, `Superseded`, `ReviewRequired`, `Reviewed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Approved => "Approved",
            Phase::Applied => "Applied",
            Phase::Denied => "Denied",
            Phase::Expired => "Expired",
            Phase::Superseded => "Superseded",
            Phase::ReviewRequired => "ReviewRequired",
            Phase::Reviewed => "Reviewed",
        }
    }

    /// The phase [`Phase::as_str`] writes as `s` (exactly, case included); `None` for any
    /// other text.
    pub fn parse(s: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Whether the request is finished: Applied, Denied, Expired, Superseded or Reviewed
    /// (nothing more happens to it). Pending, Approved and ReviewRequired wait for someone.
    pub fn is_done(self) -> bool {
        matches!(self, Phase::Applied | Phase::Denied | Phase::Expired | Phase::Superseded | Phase::Reviewed)
    }
}

impl fmt::Display for Phase {
    /// [`Phase::as_str`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One approval as a ScaleRequest records it (`status.approvals[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRecord {
    /// The approver's identity (the client certificate's identity string).
    pub identity: String,
    /// When it was given: RFC 3339 text ([`crate::spec::timestamp`]).
    pub time: String,
    /// The request's digest the approver saw ([`digest`]).
    pub digest: String,
}

/// What the approval decisions read of a stored ScaleRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestState<'a> {
    /// `spec.requester.user`: who asked for the change.
    pub requester: &'a str,
    /// `spec.digest`: the request's digest (the server recomputes it before calling).
    pub digest: &'a str,
    /// `spec.approvalsNeeded`: how many counted approvals complete it.
    pub approvals_needed: u32,
    /// `spec.expiresAt`: from this instant on, a pending request is expired.
    pub expires_at: Timestamp,
    /// `status.phase` as recorded.
    pub phase: Phase,
    /// `status.approvals`, in the order recorded.
    pub approvals: &'a [ApprovalRecord],
}

/// The phase of the request as of `now`: a Pending request at or past `expires_at` reads
/// [`Phase::Expired`] (whether or not anything recorded it); any other phase as recorded.
pub fn phase_at(state: &RequestState<'_>, now: Timestamp) -> Phase {
    match state.phase {
        Phase::Pending if now >= state.expires_at => Phase::Expired,
        p => p,
    }
}

/// The identities whose approvals count: each once (the same identity with two certificates
/// counts once), never the requester, only approvals of the request's current digest; in the
/// order recorded.
pub fn counted<'a>(state: &RequestState<'a>) -> Vec<&'a str> {
    let mut out: Vec<&'a str> = vec![];
    for a in state.approvals {
        let id = a.identity.as_str();
        if id != state.requester && a.digest == state.digest && !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

/// What an approval leaves: how many approvals count with it, and whether they are enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Approved {
    /// The approvals that count, this one included ([`counted`]).
    pub counted: u32,
    /// Whether they reach `approvals_needed`: the change is to be applied now.
    pub complete: bool,
}

/// Why an approval or a denial is refused. Identities and digests the caller gave are quoted
/// bounded ([`crate::text::bounded`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApproveRefusal {
    /// The request is finished (or, for a denial, already approved).
    #[error("the request is {phase}: only a pending request can be approved or denied")]
    NotPending {
        /// The phase it is in.
        phase: Phase,
    },
    /// A denial of a break-glass change: it is applied already, and only a review is left.
    #[error(
        "the change was applied by break-glass and waits for review: acknowledge it with scalekeeper approve, \
         and change the count back with scalekeeper set if it was wrong"
    )]
    BreakGlassApplied,
    /// The request expired (at or past `expiresAt` while pending).
    #[error("the request expired at {}; ask again", crate::spec::timestamp(*at))]
    Expired {
        /// Its `expiresAt`.
        at: Timestamp,
    },
    /// The approver is the requester.
    #[error("{} requested this change and cannot approve it: a second identity must", bounded(identity))]
    SelfApproval {
        /// The requester's (and approver's) identity.
        identity: String,
    },
    /// The approver's approval counts already.
    #[error("{} has approved this request already; another identity must", bounded(identity))]
    AlreadyApproved {
        /// The approver's identity.
        identity: String,
    },
    /// The approver saw another digest than the request's.
    #[error("the request changed since you read it (digest {} is now {current}); read it again", bounded(seen))]
    DigestMismatch {
        /// The digest the approver saw.
        seen: String,
        /// The request's digest.
        current: String,
    },
    /// A denial without a reason.
    #[error("a denial needs a reason: say why the change should not be made")]
    NoReason,
}

/// The refusal for a request that is not pending at `now`, if it is not: [`Phase::Expired`]
/// (recorded, or read so by [`phase_at`]) is [`ApproveRefusal::Expired`], the rest
/// [`ApproveRefusal::NotPending`]. `Ok(phase)`: Pending or Approved, for the caller to decide.
fn open_phase(state: &RequestState<'_>, now: Timestamp) -> Result<Phase, ApproveRefusal> {
    match phase_at(state, now) {
        p @ (Phase::Pending | Phase::Approved) => Ok(p),
        Phase::Expired => Err(ApproveRefusal::Expired { at: state.expires_at }),
        phase => Err(ApproveRefusal::NotPending { phase }),
    }
}

/// Whether `approver` may approve the request now, having seen `digest_seen`, and what counts
/// after. Checks in this order:
/// 1. the phase at `now` ([`phase_at`]): done is [`ApproveRefusal::NotPending`], expired
///    [`ApproveRefusal::Expired`];
/// 2. `digest_seen` is the request's, else [`ApproveRefusal::DigestMismatch`];
/// 3. an Approved request (enough approvals, applying failed) may be approved again by anyone,
///    only to retry applying: `complete`, `counted` unchanged, nothing more checked;
/// 4. the approver is not the requester, else [`ApproveRefusal::SelfApproval`];
/// 5. the approver's approval does not count already, else [`ApproveRefusal::AlreadyApproved`];
/// 6. then `counted` + 1 approvals count, complete when they reach `approvals_needed`.
///
/// # Errors
/// The [`ApproveRefusal`] of the first check that fails (never [`ApproveRefusal::NoReason`]).
pub fn approve(
    state: &RequestState<'_>,
    approver: &str,
    digest_seen: &str,
    now: Timestamp,
) -> Result<Approved, ApproveRefusal> {
    let phase = open_phase(state, now)?;
    if digest_seen != state.digest {
        return Err(ApproveRefusal::DigestMismatch { seen: digest_seen.into(), current: state.digest.into() });
    }
    let counted = counted(state);
    let n = u32::try_from(counted.len()).unwrap_or(u32::MAX);
    if phase == Phase::Approved {
        return Ok(Approved { counted: n, complete: true });
    }
    if approver == state.requester {
        return Err(ApproveRefusal::SelfApproval { identity: approver.into() });
    }
    if counted.contains(&approver) {
        return Err(ApproveRefusal::AlreadyApproved { identity: approver.into() });
    }
    let n = n.saturating_add(1);
    Ok(Approved { counted: n, complete: n >= state.approvals_needed })
}

/// Whether `reviewer` may acknowledge a break-glass change (phase [`Phase::ReviewRequired`])
/// having seen `digest_seen`. Checks in this order: the phase must be ReviewRequired (else
/// [`ApproveRefusal::NotPending`]); `digest_seen` is the request's (else
/// [`ApproveRefusal::DigestMismatch`]); the reviewer is not the requester (else
/// [`ApproveRefusal::SelfApproval`]: the point of the review is a second person).
///
/// # Errors
/// The [`ApproveRefusal`] of the first check that fails.
pub fn acknowledge(state: &RequestState<'_>, reviewer: &str, digest_seen: &str) -> Result<(), ApproveRefusal> {
    if state.phase != Phase::ReviewRequired {
        return Err(ApproveRefusal::NotPending { phase: state.phase });
    }
    if digest_seen != state.digest {
        return Err(ApproveRefusal::DigestMismatch { seen: digest_seen.into(), current: state.digest.into() });
    }
    if reviewer == state.requester {
        return Err(ApproveRefusal::SelfApproval { identity: reviewer.into() });
    }
    Ok(())
}

/// Whether the request may be denied now with `reason`. Anyone with the verb may deny, the
/// requester too (a withdrawal). Checks in this order: a blank `reason` (empty or only
/// whitespace) is [`ApproveRefusal::NoReason`]; then the phase at `now` must be Pending: done
/// or Approved is [`ApproveRefusal::NotPending`], expired [`ApproveRefusal::Expired`].
///
/// # Errors
/// The [`ApproveRefusal`] of the first check that fails.
pub fn deny(state: &RequestState<'_>, reason: &str, now: Timestamp) -> Result<(), ApproveRefusal> {
    if reason.trim().is_empty() {
        return Err(ApproveRefusal::NoReason);
    }
    if state.phase == Phase::ReviewRequired {
        return Err(ApproveRefusal::BreakGlassApplied);
    }
    match open_phase(state, now)? {
        Phase::Pending => Ok(()),
        phase => Err(ApproveRefusal::NotPending { phase }),
    }
}

/// How long a finished ScaleRequest is kept before the sweeper deletes it, unless the server
/// says otherwise (`--scale-request-retention`): 7 days, so a week's requests stay in `history`
/// and `scalekeeper requests --all` (the audit log keeps every step for good).
pub const DEFAULT_REQUEST_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// What the sweeper does about one request ([`sweep`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sweep {
    /// Nothing.
    Keep,
    /// Record it as Expired: it is recorded Pending and its expiry has passed.
    Expire,
    /// Delete it: it finished (`ended`) longer than the retention ago.
    Delete,
}

/// What the sweeper does about a request whose recorded state is `state` at `now`: a request
/// recorded Pending at or past its expiry is [`Sweep::Expire`]d (so the Event and the status
/// say so even if nobody touches it); a finished one ([`Phase::is_done`] as of `now`) whose end
/// (`ended`: when it was decided, else its expiry) lies `retention` or more before `now` is
/// [`Sweep::Delete`]d; the rest are kept. Requests waiting for someone (Pending before its
/// expiry, Approved, ReviewRequired) are never deleted.
pub fn sweep(state: &RequestState<'_>, ended: Option<Timestamp>, now: Timestamp, retention: Duration) -> Sweep {
    if state.phase == Phase::Pending && now >= state.expires_at {
        return Sweep::Expire;
    }
    if !phase_at(state, now).is_done() {
        return Sweep::Keep;
    }
    let end = ended.unwrap_or(state.expires_at);
    let kept = jiff::SignedDuration::try_from(retention).unwrap_or(jiff::SignedDuration::MAX);
    match end.checked_add(kept) {
        Ok(until) if now >= until => Sweep::Delete,
        _ => Sweep::Keep,
    }
}

/// The command an approver runs: `scalekeeper approve {namespace}/{name}`.
pub fn approve_hint(namespace: &str, name: &str) -> String {
    format!("scalekeeper approve {namespace}/{name}")
}

/// The message of a write that needs approval and created the ScaleRequest `namespace/name`
/// (`approvals_needed` as [`ApprovalRule::approvals_needed`] gives it; 0 reads as 1):
///
/// ```text
/// this change needs 1 approval by another identity: <the needs, joined by "; ">; requested
/// as ScaleRequest ns/name: an approver runs `scalekeeper approve ns/name`
/// ```
///
/// with `N approvals by other identities` when more than one is needed.
pub fn approval_required_message(namespace: &str, name: &str, needs: &[Need], approvals_needed: u32) -> String {
    format!(
        "{}; requested as ScaleRequest {namespace}/{name}: an approver runs `{}`",
        needs_message(needs, approvals_needed),
        approve_hint(namespace, name)
    )
}

/// What a change the rule holds back needs, in words: `this change needs 1 approval by another
/// identity: 0 is below the approval band's lower edge 3` (the needs joined by "; "; 0
/// approvals read as 1, as [`ApprovalRule::approvals_needed`] does).
pub fn needs_message(needs: &[Need], approvals_needed: u32) -> String {
    let who = if approvals_needed <= 1 {
        "1 approval by another identity".to_owned()
    } else {
        format!("{approvals_needed} approvals by other identities")
    };
    let why = needs.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
    format!("this change needs {who}: {why}")
}

#[cfg(test)]
mod tests;
