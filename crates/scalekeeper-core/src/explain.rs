//! Why a Deployment has its effective count: every rule of its policy considered at an instant,
//! in precedence order, with what became of it ([`Rules::explain`]), and the conclusions in
//! words ([`notes`]) that Explain answers with.
//!
//! Precedence has one owner, [`Rules::effective`]: [`Rules::explain`] asks it which rule wins
//! and only describes the others (a window that covers the instant but is listed after the
//! winner is *overridden*, one that does not cover it is *inactive*), so the two can never
//! disagree; a table test checks it over every precedence row.
//!
//! ```text
//!   Rules + declared + at ──► Rules::effective ──► the winner, the bound that clamped it
//!                        └──► each rule: Wins | Overridden | Inactive | Invalid, with a detail
//! ```

use std::fmt;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::admission::Guard;
use crate::managers;
use crate::rules::{Effective, RuleKind, Rules, Source};
use crate::spec::Spec;
use crate::sync::Mode;

/// What became of one rule at the instant explained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The rule sets the effective count.
    Wins,
    /// The rule applies at the instant, but one of higher precedence wins.
    Overridden,
    /// The rule does not apply at the instant (a hold expired, a window that does not cover it).
    Inactive,
    /// The rule can never apply (a window whose text does not parse, a hold whose expiry is no
    /// time).
    Invalid,
}

impl Verdict {
    /// The verdict in lower case, as tables print it: `wins`, `overridden`, `inactive`, `invalid`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Wins => "wins",
            Verdict::Overridden => "overridden",
            Verdict::Inactive => "inactive",
            Verdict::Invalid => "invalid",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule of a policy and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Considered {
    /// The kind of rule.
    pub kind: RuleKind,
    /// For a schedule window, its position in the schedule (0-based).
    pub index: Option<usize>,
    /// Which one, in words: `hold`, `schedule window "Sat-Sun 00:00-24:00 Europe/Berlin"`,
    /// `declared count`.
    pub name: String,
    /// The count the rule asks for (a number of Pods), before the bounds.
    pub replicas: i32,
    /// What became of it.
    pub verdict: Verdict,
    /// Why, in words.
    pub detail: String,
}

/// Every rule considered at an instant, and the effective count they yield.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The effective count and its rule, exactly as [`Rules::effective`] gives them.
    pub effective: Effective,
    /// The hold (if the policy has one), each schedule window in precedence order, then the
    /// declared count.
    pub rules: Vec<Considered>,
}

/// An instant as messages show it: RFC 3339 in UTC, whole seconds.
fn utc(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// An instant in `tz`, RFC 3339 with the offset in force then, whole seconds (e.g.
/// `2026-12-12T00:00:00+01:00`).
fn local(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// What a winner overrides the others with, in words: `the hold`, `schedule window "X"`.
fn winner_name(source: &Source) -> String {
    match source {
        Source::Hold { .. } => "the hold".to_string(),
        Source::Window { text, .. } => format!("schedule window {text:?}"),
        Source::Declared => "the declared count".to_string(),
    }
}

impl Rules {
    /// Every rule considered at `at` for a policy declaring `declared`, in precedence order,
    /// with its verdict and a detail in words, and the effective count (from
    /// [`Rules::effective`], the one owner of precedence: this only describes its answer).
    ///
    /// A hold is [`Verdict::Inactive`] once expired; it is never [`Verdict::Invalid`] here,
    /// since [`Rules`] holds an instant (see [`Spec::explain`] for an unreadable expiry).
    pub fn explain(&self, declared: i32, at: Timestamp) -> Explanation {
        let effective = self.effective(declared, at);
        let winner = &effective.source;
        let kept = effective.clamped.map(|b| format!("; kept within {b}: {}", effective.replicas)).unwrap_or_default();
        let mut rules = Vec::with_capacity(self.schedule.len() + 2);
        if let Some(h) = &self.hold {
            let by = h.set_by.as_deref().map(|b| format!(" by {b}")).unwrap_or_default();
            let (verdict, detail) = if matches!(winner, Source::Hold { .. }) {
                (Verdict::Wins, format!("held until {}{by}: {}{kept}", utc(h.until), h.reason))
            } else {
                (Verdict::Inactive, format!("expired at {}{by}: {}", utc(h.until), h.reason))
            };
            rules.push(Considered {
                kind: RuleKind::Hold,
                index: None,
                name: "hold".into(),
                replicas: h.replicas,
                verdict,
                detail,
            });
        }
        for (index, s) in self.schedule.iter().enumerate() {
            let (verdict, detail) = match &s.window {
                Err(why) => (Verdict::Invalid, format!("never applies: {why}")),
                Ok(w) => match (winner, w.occurrence_at(at)) {
                    (Source::Window { index: i, end, .. }, Some(_)) if *i == index => {
                        (Verdict::Wins, format!("covers the instant until {}{kept}", local(*end, w.zone())))
                    }
                    (_, Some(o)) => (
                        Verdict::Overridden,
                        format!(
                            "covers the instant until {}, overridden by {}",
                            local(o.end, w.zone()),
                            winner_name(winner)
                        ),
                    ),
                    (_, None) => match w.next_boundary_after(at) {
                        Some(next) => (Verdict::Inactive, format!("next covers {}", local(next, w.zone()))),
                        None => (Verdict::Inactive, "does not cover the instant".to_string()),
                    },
                },
            };
            rules.push(Considered {
                kind: RuleKind::Schedule,
                index: Some(index),
                name: format!("schedule window {:?}", s.text),
                replicas: s.replicas,
                verdict,
                detail,
            });
        }
        let (verdict, detail) = match winner {
            Source::Declared => {
                let why = match (&self.hold, self.schedule.is_empty()) {
                    (None, true) => "no hold and no schedule".to_string(),
                    _ => "no active hold, and no schedule window covers the instant".to_string(),
                };
                (Verdict::Wins, format!("{why}{kept}"))
            }
            other => (Verdict::Overridden, format!("overridden by {}", winner_name(other))),
        };
        rules.push(Considered {
            kind: RuleKind::Declared,
            index: None,
            name: "declared count".into(),
            replicas: declared,
            verdict,
            detail,
        });
        Explanation { effective, rules }
    }
}

impl Spec {
    /// [`Rules::explain`] of this spec's rules ([`Spec::rules`]) and declared count at `at`,
    /// with the one thing only the spec's text can tell: a hold whose `until` is not an RFC 3339
    /// time is [`Verdict::Invalid`] (it never applies), not merely expired.
    pub fn explain(&self, at: Timestamp) -> Explanation {
        let mut e = self.rules().explain(self.replicas, at);
        if let Some(h) = &self.hold
            && h.until.parse::<Timestamp>().is_err()
            && let Some(c) = e.rules.iter_mut().find(|c| c.kind == RuleKind::Hold)
        {
            c.verdict = Verdict::Invalid;
            c.detail = format!("never applies: its expiry {:?} is not an RFC 3339 time", h.until);
        }
        e
    }
}

/// The flap guard's suspension of enforcement, as the policy's status records it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Suspension {
    /// When it began (the condition's lastTransitionTime), if recorded.
    pub since: Option<Timestamp>,
    /// When the cool-down ends: `since` plus the reconciler's cool-down.
    pub until: Option<Timestamp>,
    /// The field manager whose changes were corrected last (the one that kept changing the
    /// count), if recorded.
    pub manager: Option<String>,
}

/// An autoscaler that targets the Deployment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Autoscaler {
    /// The HorizontalPodAutoscaler's name.
    pub name: String,
    /// The object that manages it, from its ownerReferences (`ScaledObject/web`); `None` when
    /// none does.
    pub managed_by: Option<String>,
    /// Whether that object is KEDA's (a `ScaledObject` of API group `keda.sh`).
    pub keda: bool,
    /// KEDA's `autoscaling.keda.sh/paused-replicas` annotation on the ScaledObject (a count),
    /// when present and read.
    pub paused_replicas: Option<i32>,
}

/// The facts Explain's notes are drawn from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facts {
    /// The policy's mode and guard; `None` when no policy declares a count (unmanaged).
    pub policy: Option<(Mode, Guard)>,
    /// The flap guard's suspension, when in force.
    pub suspension: Option<Suspension>,
    /// The HorizontalPodAutoscalers that target the Deployment.
    pub autoscalers: Vec<Autoscaler>,
    /// The field managers owning `spec.replicas`, newest write first.
    pub owners: Vec<String>,
    /// The other field managers of the Deployment (owning some of its fields, not
    /// `spec.replicas`): a GitOps tool among them applies the Deployment, and sets the count
    /// back on its next sync if its manifest holds one.
    pub others: Vec<String>,
}

/// The conclusions Explain states, most important first: an autoscaler that owns the count
/// (and KEDA's paused count), a flap-guard suspension and when it ends, each GitOps or
/// packaging tool that owns `spec.replicas` with the setting that stops the fight
/// ([`managers::classify`]), each such tool that applies the Deployment without owning
/// `spec.replicas` now (another writer took it since: its next sync takes it back), Observe
/// mode, and what the guard does. An unmanaged Deployment gets a note saying so first.
pub fn notes(f: &Facts) -> Vec<String> {
    let mut out = Vec::new();
    if f.policy.is_none() {
        out.push(
            "no ReplicaPolicy declares a count for this Deployment: scalekeeper does not manage it \
             (`scalekeeper set` declares one)"
                .to_string(),
        );
    }
    for a in &f.autoscalers {
        let by = match (&a.managed_by, a.keda) {
            (Some(m), true) => format!(", managed by KEDA's {m},"),
            (Some(m), false) => format!(", managed by {m},"),
            (None, _) => String::new(),
        };
        let mut note = format!(
            "HorizontalPodAutoscaler {}{by} owns the count: scalekeeper does not enforce while an autoscaler \
             targets the Deployment",
            a.name
        );
        if let Some(n) = a.paused_replicas {
            note.push_str(&format!(
                "; KEDA is paused and holds the Deployment at {n} replicas (annotation \
                 autoscaling.keda.sh/paused-replicas)"
            ));
        }
        out.push(note);
    }
    if let Some(s) = &f.suspension {
        let who = s.manager.as_deref().map(|m| format!("field manager {m:?}")).unwrap_or("another writer".into());
        let since = s.since.map(|t| format!(" since {}", utc(t))).unwrap_or_default();
        let until = match s.until {
            Some(t) => format!("it resumes by itself at {}, ", utc(t)),
            None => "it resumes after the cool-down, ".to_string(),
        };
        out.push(format!(
            "enforcement is suspended by the flap guard{since}: {who} keeps changing spec.replicas; {until}or at \
             once on a new declaration, a hold's expiry or a window's edge"
        ));
    }
    for m in &f.owners {
        if let Some(t) = managers::classify(m) {
            let fight = if f.policy.is_some() {
                "it and scalekeeper will fight over the count"
            } else {
                "a count declared with scalekeeper would be fought over"
            };
            out.push(format!("{} (field manager {m}) owns spec.replicas, so {fight}: {}", t.name, t.fix));
        }
    }
    for m in &f.others {
        if let Some(t) = managers::classify(m) {
            let last = f.owners.first().map(|o| format!(" since {o} set it")).unwrap_or_default();
            out.push(format!(
                "{} (field manager {m}) applies this Deployment but does not own spec.replicas{last}; if its \
                 manifest sets replicas, its next sync sets the count back: {}",
                t.name, t.fix
            ));
        }
    }
    if let Some((mode, guard)) = f.policy {
        if mode == Mode::Observe {
            out.push("Observe mode: drift is reported, never corrected".to_string());
        }
        out.push(match (mode, guard) {
            (Mode::Observe, g) => format!(
                "guard {g}: the admission guard acts only in Enforce mode, so every write of spec.replicas is allowed"
            ),
            (Mode::Enforce, Guard::Off) => "guard Off: a write of spec.replicas by anyone else is stored, and the \
                                            reconciler sets the count back"
                .to_string(),
            (Mode::Enforce, Guard::Warn) => "guard Warn: a write of spec.replicas that differs from the effective \
                                             count is allowed with a warning the client prints, and the reconciler \
                                             sets the count back"
                .to_string(),
            (Mode::Enforce, Guard::Deny) => "guard Deny: a write of spec.replicas that differs from the effective \
                                             count is refused before it is stored, where scalekeeper's webhook is \
                                             registered"
                .to_string(),
        });
    }
    out
}

#[cfg(test)]
mod tests;
