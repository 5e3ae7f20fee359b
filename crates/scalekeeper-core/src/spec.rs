//! A ReplicaPolicy's spec in plain types, and how a policy records an instant.
//!
//! [`Spec`] is the custom resource's `spec` field for field (`scalekeeper::policy` converts
//! both ways in one place), so the domain can read and write a policy without the Kubernetes
//! types: the write plan ([`crate::write`]) takes one and returns one. Times stay the RFC 3339
//! text the policy holds — a write that does not touch a hold writes back exactly what it
//! read, whoever wrote it (kubectl, GitOps) and however — and [`Spec::rules`] is the one place
//! that text becomes the domain's [`Rules`].

use jiff::Timestamp;

use crate::admission::Guard;
use crate::approval::ApprovalRule;
use crate::rules::{Bounds, Effective, Hold, Rules, Scheduled};
use crate::sync::Mode;

/// A ReplicaPolicy's `spec`: the declared count, the mode, the guard, the pinned Deployment
/// UID, the bounds, the hold and the schedule.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Spec {
    /// `replicas`: the declared count (a number of Pods).
    pub replicas: i32,
    /// `mode`: Enforce (drift is corrected) or Observe (only reported).
    pub mode: Mode,
    /// `guard`: what the admission guard does about a write that differs from the effective
    /// count.
    pub guard: Guard,
    /// `deploymentUid`: the UID of the Deployment the count was declared for.
    pub deployment_uid: Option<String>,
    /// `minReplicas`: the lower bound of every count the policy declares, holds or schedules.
    pub min_replicas: Option<i32>,
    /// `maxReplicas`: the upper bound of every such count.
    pub max_replicas: Option<i32>,
    /// `hold`: a temporary count, which may have expired.
    pub hold: Option<HoldSpec>,
    /// `schedule`: weekly windows with their counts, in precedence order.
    pub schedule: Vec<WindowSpec>,
    /// `approval`: which changes need other identities' approval ([`crate::approval`]).
    pub approval: Option<ApprovalRule>,
}

/// A hold as the policy records it (`spec.hold`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HoldSpec {
    /// The count held (a number of Pods).
    pub replicas: i32,
    /// When it expires: RFC 3339 text (the API writes [`timestamp_millis`]); a text that is not
    /// a time reads as expired ([`Spec::rules`]).
    pub until: String,
    /// Why it was placed.
    pub reason: String,
    /// Who placed it through the API.
    pub set_by: Option<String>,
    /// When it was placed through the API: RFC 3339 text (the API writes [`timestamp`]).
    pub set_at: Option<String>,
    /// `freeze`: a freeze placed it (the `Freeze` call), so a thaw ends it; a hold placed any
    /// other way is never a freeze's.
    pub freeze: bool,
}

/// A schedule window as the policy records it (`spec.schedule[]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WindowSpec {
    /// The window's text, `DAYS HH:MM-HH:MM ZONE` ([`crate::schedule::Window`]'s grammar; a
    /// text that does not parse never applies).
    pub window: String,
    /// The count inside the window (a number of Pods).
    pub replicas: i32,
}

impl Spec {
    /// The hold, schedule and bounds as the domain reads them. A hold whose `until` is not an
    /// RFC 3339 time never applies (it reads as expired at the epoch), and an unreadable
    /// `setAt` reads as unrecorded; a window that does not parse never applies and carries its
    /// error.
    pub fn rules(&self) -> Rules {
        Rules {
            hold: self.hold.as_ref().map(|h| Hold {
                replicas: h.replicas,
                until: h.until.parse().unwrap_or(Timestamp::UNIX_EPOCH),
                reason: h.reason.clone(),
                set_by: h.set_by.clone(),
                set_at: h.set_at.as_deref().and_then(|t| t.parse().ok()),
            }),
            schedule: self.schedule.iter().map(|w| Scheduled::parse(&w.window, w.replicas)).collect(),
            bounds: Bounds { min: self.min_replicas, max: self.max_replicas },
        }
    }

    /// The effective count at `now` and its rule: [`Spec::rules`] applied to `replicas`.
    pub fn effective(&self, now: Timestamp) -> Effective {
        self.rules().effective(self.replicas, now)
    }
}

/// An instant as a policy's time fields and annotations record it unless they need
/// [`timestamp_millis`]: RFC 3339 in UTC, whole seconds (truncated), e.g.
/// `2026-11-28T21:51:00Z` — the resolution of Kubernetes' own `metav1.Time`.
pub fn timestamp(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// An instant with milliseconds (truncated), for instants finer than a second matters for (a
/// hold's expiry, the next transition, the writer's `last-set-at`): RFC 3339 in UTC, e.g.
/// `2026-11-28T21:51:00.250Z`.
pub fn timestamp_millis(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleKind;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("test timestamp")
    }

    #[test]
    fn times_are_whole_seconds_or_milliseconds_in_utc() {
        let t = at("2026-11-28T21:51:00.987654Z");
        assert_eq!(timestamp(t), "2026-11-28T21:51:00Z");
        assert_eq!(timestamp_millis(t), "2026-11-28T21:51:00.987Z");
        assert_eq!(timestamp_millis(at("2026-11-28T22:51:00+01:00")), "2026-11-28T21:51:00.000Z");
    }

    #[test]
    fn rules_read_the_recorded_text() {
        let mut spec = Spec {
            replicas: 4,
            min_replicas: Some(2),
            hold: Some(HoldSpec {
                replicas: 9,
                // As kubectl may write it: an offset, no milliseconds.
                until: "2026-11-28T14:00:00+01:00".into(),
                reason: "INC-1".into(),
                set_by: Some("alice".into()),
                set_at: Some("not a time".into()),
                freeze: false,
            }),
            schedule: vec![WindowSpec { window: "Someday 08:00-09:00 UTC".into(), replicas: 1 }],
            ..Spec::default()
        };
        let rules = spec.rules();
        let hold = rules.hold.as_ref().expect("hold");
        assert_eq!((hold.until, hold.set_at), (at("2026-11-28T13:00:00Z"), None));
        assert!(rules.schedule[0].window.is_err());
        assert_eq!(rules.bounds, Bounds { min: Some(2), max: None });
        let e = spec.effective(at("2026-11-28T12:00:00Z"));
        assert_eq!((e.replicas, e.source.kind()), (9, RuleKind::Hold));
        // An unreadable expiry never applies.
        if let Some(h) = spec.hold.as_mut() {
            h.until = "tomorrow".into();
        }
        let e = spec.effective(at("2026-11-28T12:00:00Z"));
        assert_eq!((e.replicas, e.source.kind()), (4, RuleKind::Declared));
    }
}
