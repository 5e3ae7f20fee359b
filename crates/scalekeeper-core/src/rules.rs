//! The rules of a ReplicaPolicy that set the *effective* replica count, and the bounds every
//! count must respect. One owner for "which count applies now":
//!
//! | precedence | rule | applies while |
//! |---|---|---|
//! | 1 | a hold ([`Hold`]) | `now < until` |
//! | 2 | a schedule window ([`Scheduled`]) | the first listed window that covers `now` |
//! | 3 | the declared count (`spec.replicas`) | always |
//!
//! The count so chosen is then kept within the policy's bounds ([`Bounds`]): a policy written
//! with kubectl or GitOps can declare a count outside them, and the reconciler never applies
//! that; writes through the API are refused instead ([`Rules::check_bounds`]).
//!
//! Everything here is a function of the rules and the instant asked about: the reconciler, the
//! API's views and the writer's dry run all call [`Rules::effective`] with their clock.

use std::fmt;

use jiff::Timestamp;

use crate::schedule::{self, Window};

/// The longest hold the API places: 30 days.
pub const MAX_HOLD: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// The shortest hold the API places: 1 s.
pub const MIN_HOLD: std::time::Duration = std::time::Duration::from_secs(1);

/// The longest reason a hold may carry, in bytes of UTF-8: 256.
pub const MAX_REASON_BYTES: usize = 256;

/// The most schedule windows one policy may carry through the API: 32.
pub const MAX_WINDOWS: usize = 32;

/// A temporary count that overrides the schedule and the declared count until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// The count held (a number of Pods).
    pub replicas: i32,
    /// When it expires (exclusive: at `until` it no longer applies).
    pub until: Timestamp,
    /// Why it was placed.
    pub reason: String,
    /// Who placed it, when recorded.
    pub set_by: Option<String>,
    /// When it was placed, when recorded.
    pub set_at: Option<Timestamp>,
}

impl Hold {
    /// Whether the hold applies at `now` (`now < until`).
    pub fn is_active(&self, now: Timestamp) -> bool {
        now < self.until
    }
}

/// A schedule window with its count.
#[derive(Debug, Clone, PartialEq)]
pub struct Scheduled {
    /// The window, or why its text does not parse (a policy written with kubectl can hold
    /// anything): an invalid window never applies, and views say why.
    pub window: Result<Window, String>,
    /// The window's text as the policy holds it.
    pub text: String,
    /// The count inside the window (a number of Pods).
    pub replicas: i32,
}

impl Scheduled {
    /// Parses `text` (see [`Window`]'s grammar); an invalid text is kept with its error.
    pub fn parse(text: &str, replicas: i32) -> Self {
        Self { window: text.parse::<Window>().map_err(|e| e.to_string()), text: text.to_owned(), replicas }
    }
}

/// The policy's bounds on every count it declares, holds or schedules (counts of Pods).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bounds {
    /// `minReplicas`; `None`: no lower bound beyond 0.
    pub min: Option<i32>,
    /// `maxReplicas`; `None`: no upper bound beyond the server's `--max-replicas`.
    pub max: Option<i32>,
}

/// Which bound a count broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// `minReplicas` (the value).
    Min(i32),
    /// `maxReplicas` (the value).
    Max(i32),
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bound::Min(n) => write!(f, "minReplicas {n}"),
            Bound::Max(n) => write!(f, "maxReplicas {n}"),
        }
    }
}

impl Bounds {
    /// `n` kept within the bounds, and the bound that moved it, if one did.
    pub fn clamp(&self, n: i32) -> (i32, Option<Bound>) {
        match (self.min, self.max) {
            (Some(min), _) if n < min => (min, Some(Bound::Min(min))),
            (_, Some(max)) if n > max => (max, Some(Bound::Max(max))),
            _ => (n, None),
        }
    }
}

/// A count outside the policy's bounds, or bounds that contradict each other: what a write
/// through the API is refused with (FAILED_PRECONDITION).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoundsError {
    /// `count` of `what` (e.g. `the declared count`, `the hold`, `schedule window "..."`) is
    /// outside `bound`.
    #[error("{what} {count} is {} the policy's {bound}", if matches!(.bound, Bound::Min(_)) { "below" } else { "above" })]
    Outside {
        /// What carries the count.
        what: String,
        /// The count.
        count: i32,
        /// The bound it breaks.
        bound: Bound,
    },
    /// `minReplicas` is greater than `maxReplicas`.
    #[error("minReplicas {min} is greater than maxReplicas {max}")]
    Inverted {
        /// minReplicas.
        min: i32,
        /// maxReplicas.
        max: i32,
    },
}

/// Everything a policy says about its count besides the declared count itself.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rules {
    /// The hold, if one was placed (it may have expired).
    pub hold: Option<Hold>,
    /// The schedule, in precedence order.
    pub schedule: Vec<Scheduled>,
    /// The bounds.
    pub bounds: Bounds,
}

/// Which kind of rule sets the effective count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RuleKind {
    /// The declared count.
    #[default]
    Declared,
    /// A hold.
    Hold,
    /// A schedule window.
    Schedule,
}

impl RuleKind {
    /// The name as the ReplicaPolicy status spells it (`Declared`, `Hold`, `Schedule`).
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Declared => "Declared",
            RuleKind::Hold => "Hold",
            RuleKind::Schedule => "Schedule",
        }
    }

    /// How a reason names a count of this kind: `declared 3`, `held at 10`, `scheduled 1`.
    pub fn verb(self) -> &'static str {
        match self {
            RuleKind::Declared => "declared",
            RuleKind::Hold => "held at",
            RuleKind::Schedule => "scheduled",
        }
    }
}

/// The rule that sets the effective count, with what identifies this application of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The declared count.
    Declared,
    /// The hold.
    Hold {
        /// When it expires.
        until: Timestamp,
        /// Why.
        reason: String,
        /// Who placed it.
        set_by: Option<String>,
    },
    /// Schedule window number `index` (0-based, in list order), in its occurrence that began
    /// at `start` and ends at `end`.
    Window {
        /// The window's position in the schedule.
        index: usize,
        /// Its text.
        text: String,
        /// When this occurrence began.
        start: Timestamp,
        /// When it ends.
        end: Timestamp,
    },
}

impl Source {
    /// The kind of rule.
    pub fn kind(&self) -> RuleKind {
        match self {
            Source::Declared => RuleKind::Declared,
            Source::Hold { .. } => RuleKind::Hold,
            Source::Window { .. } => RuleKind::Schedule,
        }
    }

    /// A key that changes whenever a different rule, or another occurrence of the same rule,
    /// takes over: `Declared`, `Hold/<until>`, `Window/<index>/<start>` (instants in RFC 3339).
    /// The reconciler records the key it last saw in effect (`status.appliedRule`); a new key
    /// is a transition to apply, not a drift to correct.
    pub fn key(&self) -> String {
        match self {
            Source::Declared => DECLARED_KEY.to_owned(),
            Source::Hold { until, .. } => format!("Hold/{until}"),
            Source::Window { index, start, .. } => format!("Window/{index}/{start}"),
        }
    }
}

/// The [`Source::key`] of the declared count (also what a status recorded before holds and
/// schedules existed means).
pub const DECLARED_KEY: &str = "Declared";

/// The kind of rule a [`Source::key`] names; `None` for a key no version of scalekeeper makes.
pub fn kind_of_key(key: &str) -> Option<RuleKind> {
    if key == DECLARED_KEY {
        Some(RuleKind::Declared)
    } else if key.starts_with("Hold/") {
        Some(RuleKind::Hold)
    } else if key.starts_with("Window/") {
        Some(RuleKind::Schedule)
    } else {
        None
    }
}

/// The schedule window a [`Source::key`] names (its position in the schedule), if it names one.
pub fn window_of_key(key: &str) -> Option<usize> {
    key.strip_prefix("Window/")?.split('/').next()?.parse().ok()
}

impl Source {
    /// Whether `key` (a recorded [`Source::key`]) names another occurrence of this same
    /// schedule window: a `Sat-Sun` window is one occurrence per day, and the midnight between
    /// them changes nothing.
    pub fn same_window_as(&self, key: &str) -> bool {
        matches!(self, Source::Window { index, .. } if window_of_key(key) == Some(*index))
    }
}

impl fmt::Display for Source {
    /// The rule in words: `declared count`, `hold until T by WHO: REASON`,
    /// `schedule window "TEXT" until T`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Declared => f.write_str("declared count"),
            Source::Hold { until, reason, set_by } => {
                write!(f, "hold until {}", whole_seconds(*until))?;
                if let Some(by) = set_by {
                    write!(f, " by {by}")?;
                }
                write!(f, ": {reason}")
            }
            Source::Window { text, end, .. } => write!(f, "schedule window {text:?} until {}", whole_seconds(*end)),
        }
    }
}

/// An instant as people read it in messages: RFC 3339, UTC, whole seconds (truncated, as
/// kubectl and the CLI print times).
fn whole_seconds(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The count that applies at an instant, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// The count (a number of Pods), within the bounds.
    pub replicas: i32,
    /// The rule it comes from.
    pub source: Source,
    /// The bound that moved the rule's count, if one did.
    pub clamped: Option<Bound>,
    /// When the rule in force may next change by itself (a hold expires, a window starts or
    /// ends): the instant to look again. `None`: nothing is due.
    pub next_transition: Option<Timestamp>,
}

impl Effective {
    /// The rule in words, with the bound when one moved the count (e.g.
    /// `declared count, kept within maxReplicas 10`).
    pub fn describe(&self) -> String {
        match self.clamped {
            Some(b) => format!("{}, kept within {b}", self.source),
            None => self.source.to_string(),
        }
    }
}

/// How many transitions [`Rules::next_change`] looks through for one that changes the count.
const NEXT_CHANGE_LOOKAHEAD: usize = 64;

/// How far past now (or past the active hold's expiry) [`Rules::next_change`] looks: 8 days,
/// more than the week after which a weekly schedule repeats itself.
const NEXT_CHANGE_HORIZON: jiff::SignedDuration = jiff::SignedDuration::from_hours(8 * 24);

impl Rules {
    /// The active hold at `now`, if any.
    pub fn active_hold(&self, now: Timestamp) -> Option<&Hold> {
        self.hold.as_ref().filter(|h| h.is_active(now))
    }

    /// The effective count at `now` for a policy declaring `declared`: the active hold's, else
    /// the first schedule window covering `now`, else `declared`; then kept within the bounds.
    pub fn effective(&self, declared: i32, now: Timestamp) -> Effective {
        let windows = || self.schedule.iter().filter_map(|s| s.window.as_ref().ok());
        let next_window = schedule::next_boundary(windows(), now);
        let (count, source, next_transition) = if let Some(h) = self.active_hold(now) {
            let source = Source::Hold { until: h.until, reason: h.reason.clone(), set_by: h.set_by.clone() };
            (h.replicas, source, Some(h.until))
        } else {
            let covering = self.schedule.iter().enumerate().find_map(|(index, s)| {
                let occurrence = s.window.as_ref().ok()?.occurrence_at(now)?;
                Some((index, s, occurrence))
            });
            match covering {
                Some((index, s, o)) => {
                    let source = Source::Window { index, text: s.text.clone(), start: o.start, end: o.end };
                    (s.replicas, source, next_window)
                }
                None => (declared, Source::Declared, next_window),
            }
        };
        let (replicas, clamped) = self.bounds.clamp(count);
        Effective { replicas, source, clamped, next_transition }
    }

    /// When the effective count next changes by itself after `now`, and to what: the first
    /// transition at which it differs from the count at `now`. `None` when none does within a
    /// week past the active hold's expiry (the schedule repeats weekly, so none ever will),
    /// or within 64 transitions.
    pub fn next_change(&self, declared: i32, now: Timestamp) -> Option<(Timestamp, i32)> {
        let current = self.effective(declared, now);
        let mut at = current.next_transition?;
        let from = self.active_hold(now).map_or(now, |h| h.until.max(now));
        let horizon = from.checked_add(NEXT_CHANGE_HORIZON).unwrap_or(Timestamp::MAX);
        for _ in 0..NEXT_CHANGE_LOOKAHEAD {
            if at > horizon {
                return None;
            }
            let then = self.effective(declared, at);
            if then.replicas != current.replicas {
                return Some((at, then.replicas));
            }
            at = then.next_transition?;
        }
        None
    }

    /// Checks that `declared`, the active hold (at `now`) and every schedule window's count
    /// lie within the bounds, and that the bounds do not contradict each other.
    ///
    /// # Errors
    /// The first [`BoundsError`] found, naming what carries the count and the bound.
    pub fn check_bounds(&self, declared: i32, now: Timestamp) -> Result<(), BoundsError> {
        if let (Some(min), Some(max)) = (self.bounds.min, self.bounds.max)
            && min > max
        {
            return Err(BoundsError::Inverted { min, max });
        }
        let mut counts: Vec<(String, i32)> = vec![("the declared count".into(), declared)];
        if let Some(h) = self.active_hold(now) {
            counts.push(("the hold's count".into(), h.replicas));
        }
        counts.extend(self.schedule.iter().map(|s| (format!("the count of schedule window {:?}", s.text), s.replicas)));
        for (what, count) in counts {
            if let (_, Some(bound)) = self.bounds.clamp(count) {
                return Err(BoundsError::Outside { what, count, bound });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("test timestamp")
    }

    fn hold(replicas: i32, until: &str) -> Hold {
        Hold { replicas, until: at(until), reason: "INC-123".into(), set_by: Some("alice".into()), set_at: None }
    }

    /// Weekends in Berlin at 1, working hours at 6.
    fn rules() -> Rules {
        Rules {
            hold: None,
            schedule: vec![
                Scheduled::parse("Sat-Sun 00:00-24:00 Europe/Berlin", 1),
                Scheduled::parse("Mon-Fri 08:00-20:00 Europe/Berlin", 6),
            ],
            bounds: Bounds::default(),
        }
    }

    // 2026-11-28 is a Saturday; 2026-11-30 a Monday. Berlin is UTC+1 in winter.
    const SATURDAY_NOON: &str = "2026-11-28T11:00:00Z";
    const MONDAY_NIGHT: &str = "2026-11-30T22:00:00Z";
    const MONDAY_NOON: &str = "2026-11-30T11:00:00Z";

    #[test]
    fn precedence_is_hold_then_window_then_declared() {
        let mut r = rules();
        let e = r.effective(4, at(MONDAY_NIGHT));
        assert_eq!((e.replicas, e.source.kind()), (4, RuleKind::Declared));
        assert_eq!(e.next_transition, Some(at("2026-12-01T07:00:00Z")), "Tuesday 08:00 in Berlin");
        let e = r.effective(4, at(SATURDAY_NOON));
        assert_eq!((e.replicas, e.source.kind()), (1, RuleKind::Schedule));
        assert_eq!(e.source.key(), "Window/0/2026-11-27T23:00:00Z");
        // Each day of `Sat-Sun 00:00-24:00` is an occurrence of its own: the next one begins at
        // Sunday 00:00 in Berlin.
        assert_eq!(e.next_transition, Some(at("2026-11-28T23:00:00Z")), "Sunday 00:00 in Berlin");
        r.hold = Some(hold(10, "2026-11-28T13:00:00Z"));
        let e = r.effective(4, at(SATURDAY_NOON));
        assert_eq!((e.replicas, e.source.kind()), (10, RuleKind::Hold));
        assert_eq!(e.next_transition, Some(at("2026-11-28T13:00:00Z")));
        assert_eq!(e.describe(), "hold until 2026-11-28T13:00:00Z by alice: INC-123");
        // At the expiry the window applies again.
        let e = r.effective(4, at("2026-11-28T13:00:00Z"));
        assert_eq!((e.replicas, e.source.kind()), (1, RuleKind::Schedule));
    }

    #[test]
    fn the_first_listed_window_wins_and_invalid_windows_never_apply() {
        let mut r = rules();
        r.schedule.insert(0, Scheduled::parse("Sat 10:00-14:00 Europe/Berlin", 3));
        r.schedule.insert(0, Scheduled::parse("Someday 10:00-14:00 Europe/Berlin", 9));
        assert!(r.schedule[0].window.is_err());
        let e = r.effective(4, at(SATURDAY_NOON));
        assert_eq!((e.replicas, e.source.key()), (3, "Window/1/2026-11-28T09:00:00Z".to_string()));
        assert_eq!(e.next_transition, Some(at("2026-11-28T13:00:00Z")), "the Saturday window ends at 14:00");
    }

    #[test]
    fn bounds_clamp_the_effective_count_and_refuse_writes() {
        let mut r = rules();
        r.bounds = Bounds { min: Some(2), max: Some(8) };
        let e = r.effective(4, at(SATURDAY_NOON));
        assert_eq!((e.replicas, e.clamped), (2, Some(Bound::Min(2))));
        assert!(e.describe().ends_with("kept within minReplicas 2"), "{}", e.describe());
        let err = r.check_bounds(4, at(SATURDAY_NOON)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the count of schedule window \"Sat-Sun 00:00-24:00 Europe/Berlin\" 1 is below the policy's minReplicas 2"
        );
        r.schedule.clear();
        assert_eq!(r.check_bounds(4, at(SATURDAY_NOON)), Ok(()));
        assert_eq!(
            r.check_bounds(9, at(SATURDAY_NOON)).unwrap_err().to_string(),
            "the declared count 9 is above the policy's maxReplicas 8"
        );
        r.hold = Some(hold(10, "2026-11-28T13:00:00Z"));
        assert!(r.check_bounds(4, at(SATURDAY_NOON)).unwrap_err().to_string().starts_with("the hold's count 10"));
        // An expired hold is not checked.
        assert_eq!(r.check_bounds(4, at("2026-11-28T13:00:00Z")), Ok(()));
        r.bounds = Bounds { min: Some(5), max: Some(3) };
        assert_eq!(r.check_bounds(4, at(SATURDAY_NOON)), Err(BoundsError::Inverted { min: 5, max: 3 }));
    }

    #[test]
    fn next_change_skips_transitions_that_keep_the_count() {
        let r = rules();
        // Monday noon: working hours (6) until 20:00, then declared 6 too: the count next
        // changes on Saturday, to 1.
        assert_eq!(r.next_change(6, at(MONDAY_NOON)), Some((at("2026-12-04T23:00:00Z"), 1)));
        assert_eq!(r.next_change(4, at(MONDAY_NOON)), Some((at("2026-11-30T19:00:00Z"), 4)));
        assert_eq!(Rules::default().next_change(4, at(MONDAY_NOON)), None);
        // A window that always covers now, with its own count: transitions every midnight,
        // none of which changes the count; after a hold of 3 days, the window's count.
        let mut always = Rules { schedule: vec![Scheduled::parse("Mon-Sun 00:00-24:00 UTC", 2)], ..Rules::default() };
        assert_eq!(always.next_change(4, at(MONDAY_NOON)), None);
        always.hold = Some(hold(9, "2026-12-03T10:00:00Z"));
        assert_eq!(always.next_change(4, at(MONDAY_NOON)), Some((at("2026-12-03T10:00:00Z"), 2)));
    }

    #[test]
    fn keys_name_the_rule_kind() {
        for (key, kind) in [
            ("Declared", RuleKind::Declared),
            ("Hold/2026-11-28T13:00:00Z", RuleKind::Hold),
            ("Window/0/x", RuleKind::Schedule),
        ] {
            assert_eq!(kind_of_key(key), Some(kind));
        }
        assert_eq!(kind_of_key("Other"), None);
        assert_eq!(window_of_key("Window/3/2026-11-28T23:00:00Z"), Some(3));
        assert_eq!((window_of_key("Declared"), window_of_key("Hold/2026-11-28T23:00:00Z")), (None, None));
        assert_eq!(whole_seconds(at("2026-11-28T13:00:00.9Z")), "2026-11-28T13:00:00Z");
    }
}
