//! The future changes of a Deployment's effective count within a horizon: what Plan answers.
//!
//! [`Rules::changes`] walks the instants at which the rule in force may change by itself
//! ([`crate::rules::Effective::next_transition`]: a hold's expiry, a window's start or end),
//! asks [`Rules::effective`] for the count at each, and keeps those where the count changes.
//! Precedence and the bounds are therefore exactly the reconciler's. Each change carries its
//! instant in UTC and in the zone of the rule that causes it (a window's IANA zone, UTC for a
//! hold's expiry), so a change across a daylight-saving transition reads as the local time the
//! window was written in.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::rules::{Effective, Rules, Source};

/// The most changes [`Rules::changes`] returns: 1000. A week of 32 windows changing twice a day
/// is under 500; the bound keeps a pathological schedule from costing more.
pub const MAX_CHANGES: usize = 1000;

/// The most transitions [`Rules::changes`] looks at, changing the count or not: 20,000 (32
/// windows with two edges a day over 31 days is under 2,000).
pub const MAX_TRANSITIONS: usize = 20_000;

/// One future change of the effective count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// When it happens.
    pub at: Timestamp,
    /// The same instant in the zone of the rule that causes it, RFC 3339 with the offset in
    /// force then and the zone's name, e.g. `2027-03-28T03:00:00+02:00[Europe/Berlin]`.
    pub local_time: String,
    /// The effective count before (a number of Pods).
    pub from: i32,
    /// The effective count from then on (a number of Pods).
    pub to: i32,
    /// The rule in force from then on, with its count and bound.
    pub after: Effective,
    /// What happens, in words: `the hold expires`, `window "Sat-Sun ..." starts`.
    pub cause: String,
}

/// The changes within a horizon.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Changes {
    /// The changes, in time order.
    pub changes: Vec<Change>,
    /// Whether the walk stopped at [`MAX_CHANGES`] or [`MAX_TRANSITIONS`] before the horizon's
    /// end: more changes may follow.
    pub truncated: bool,
}

impl Rules {
    /// Every change of the effective count for a policy declaring `declared`, after `from` and
    /// up to `from + horizon` (inclusive), in time order; at most [`MAX_CHANGES`].
    ///
    /// A transition at which the count stays (a window ending where the declared count is the
    /// same, the midnight between two days of `Sat-Sun`) is no change. A negative horizon
    /// yields none.
    pub fn changes(&self, declared: i32, from: Timestamp, horizon: SignedDuration) -> Changes {
        let end = from.checked_add(horizon).unwrap_or(Timestamp::MAX);
        let mut out = Changes::default();
        let mut before = self.effective(declared, from);
        let mut next = before.next_transition;
        let mut looked = 0;
        while let Some(at) = next.filter(|at| *at <= end) {
            if out.changes.len() == MAX_CHANGES || looked == MAX_TRANSITIONS {
                out.truncated = true;
                break;
            }
            looked += 1;
            let after = self.effective(declared, at);
            if after.replicas != before.replicas {
                let (cause, zone) = self.cause(&before.source, &after.source, at);
                out.changes.push(Change {
                    at,
                    local_time: at.to_zoned(zone).to_string(),
                    from: before.replicas,
                    to: after.replicas,
                    cause,
                    after: after.clone(),
                });
            }
            // A transition never goes backwards; one that does not move would loop.
            next = after.next_transition.filter(|n| *n > at);
            before = after;
        }
        out
    }

    /// What happens at `at`, where the rule `before` gives way to `after`, in words, and the
    /// zone of the rule that causes it: the window that starts or ends (its zone), or the hold
    /// that expires (UTC).
    fn cause(&self, before: &Source, after: &Source, at: Timestamp) -> (String, TimeZone) {
        let zone_of =
            |index: usize| self.schedule.get(index).and_then(|s| s.window.as_ref().ok()).map(|w| w.zone().clone());
        match (before, after) {
            (Source::Hold { .. }, after) => {
                let then = match after {
                    Source::Window { text, .. } => format!("; window {text:?} applies"),
                    _ => "; the declared count applies".to_string(),
                };
                (format!("the hold expires{then}"), TimeZone::UTC)
            }
            (_, Source::Window { index, text, start, .. }) if *start == at => {
                (format!("window {text:?} starts"), zone_of(*index).unwrap_or(TimeZone::UTC))
            }
            (Source::Window { index, text, .. }, after) => {
                let then = match after {
                    Source::Window { text, .. } => format!("; window {text:?} applies"),
                    _ => "; the declared count applies".to_string(),
                };
                (format!("window {text:?} ends{then}"), zone_of(*index).unwrap_or(TimeZone::UTC))
            }
            // Not reached for a change of count (the declared count and a hold never start by
            // themselves), kept total.
            (_, other) => (format!("{} applies", other.kind().as_str()), TimeZone::UTC),
        }
    }
}

#[cfg(test)]
mod tests;
