//! The zero-downtime verdict over a rollout window, one definition for every test that claims
//! "no interruption": the drain test (`tests/drain.rs`, two processes restarted in turn) and the
//! load client of the kind and node upgrade and rollback tests (`examples/steady_get.rs`, which
//! `hack/lib.sh` tells when the window opens and closes).
//!
//! The window is the rollout: from the moment it starts (the first SIGTERM, `helm upgrade`,
//! `helm rollback`) until every new replica is ready and every old one is gone. Calls outside it
//! prove nothing about the rollout, so only calls that overlap it count, and the window must
//! show all of:
//!
//! - **no failed call** (after the client retry policy, `scalekeeper::retry`);
//! - **a minimum rate** of calls started in it, so a client that stalled or stopped calling
//!   cannot pass by making no calls;
//! - **a bounded latency**: the slowest call that overlaps it, retries included;
//! - **a bounded gap** between successful calls, the window's edges included: a stall of every
//!   connection at once shows here even when each call, in the end, succeeds.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// One call as the client saw it: when it started and ended (retries included), and whether it
/// succeeded in the end.
#[derive(Debug, Clone, Copy)]
pub struct Call {
    pub start: Instant,
    pub end: Instant,
    pub ok: bool,
}

/// What the window must show.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Calls started per second in the window, at least.
    pub min_rate: f64,
    /// The slowest call overlapping the window, at most.
    pub max_latency: Duration,
    /// The longest time without a successful call ending, at most.
    pub max_gap: Duration,
}

/// The window's figures and what broke the bounds.
#[derive(Debug, Clone)]
pub struct Report {
    /// The window's length.
    pub window: Duration,
    /// Calls that overlap the window.
    pub calls: u64,
    /// Of those, the ones that failed.
    pub failed: u64,
    /// Calls started in the window, per second.
    pub rate: f64,
    /// The slowest call overlapping the window.
    pub max_latency: Duration,
    /// The longest time in the window without a successful call ending.
    pub longest_gap: Duration,
    /// Each bound broken, in words; empty when the window passes.
    pub violations: Vec<String>,
}

impl Report {
    /// Whether every bound held.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// One line of figures, for logs.
    pub fn summary(&self) -> String {
        format!(
            "rollout window {:.1}s: {} calls ({:.0}/s), {} failed, max latency {:.1} ms, longest gap between successes {:.1} ms",
            self.window.as_secs_f64(),
            self.calls,
            self.rate,
            self.failed,
            ms(self.max_latency),
            ms(self.longest_gap)
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Judges the calls that overlap `[from, to]` against `bounds`.
pub fn evaluate(calls: &[Call], from: Instant, to: Instant, bounds: &Bounds) -> Report {
    let window = to.saturating_duration_since(from);
    let inside: Vec<&Call> = calls.iter().filter(|c| c.end >= from && c.start <= to).collect();
    let started = inside.iter().filter(|c| c.start >= from).count();
    let failed = inside.iter().filter(|c| !c.ok).count() as u64;
    let max_latency = inside.iter().map(|c| c.end.saturating_duration_since(c.start)).max().unwrap_or_default();
    let mut points: Vec<Instant> = inside.iter().filter(|c| c.ok && c.end <= to).map(|c| c.end.max(from)).collect();
    points.push(from);
    points.push(to);
    points.sort_unstable();
    let longest_gap = points.windows(2).map(|w| w[1].saturating_duration_since(w[0])).max().unwrap_or_default();
    let rate = if window.is_zero() { 0.0 } else { started as f64 / window.as_secs_f64() };

    let mut violations = Vec::new();
    if window.is_zero() {
        violations.push("the window is empty: it closed when it opened".to_string());
    }
    if failed > 0 {
        violations.push(format!("{failed} of {} calls in the window failed (zero allowed)", inside.len()));
    }
    if rate < bounds.min_rate {
        violations.push(format!(
            "{started} calls started in {:.1}s: {rate:.0}/s, below the minimum {:.0}/s",
            window.as_secs_f64(),
            bounds.min_rate
        ));
    }
    if max_latency > bounds.max_latency {
        violations.push(format!(
            "the slowest call took {:.1} ms, above the bound {:.1} ms",
            ms(max_latency),
            ms(bounds.max_latency)
        ));
    }
    if longest_gap > bounds.max_gap {
        violations.push(format!(
            "no call succeeded for {:.1} ms, above the bound {:.1} ms",
            ms(longest_gap),
            ms(bounds.max_gap)
        ));
    }
    Report { window, calls: inside.len() as u64, failed, rate, max_latency, longest_gap, violations }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: Bounds =
        Bounds { min_rate: 10.0, max_latency: Duration::from_millis(500), max_gap: Duration::from_millis(300) };

    /// Calls every `every` ms from `start_ms` to `end_ms` (relative to `t0`), each taking `took` ms.
    fn steady(t0: Instant, start_ms: u64, end_ms: u64, every: u64, took: u64) -> Vec<Call> {
        (start_ms..end_ms)
            .step_by(every as usize)
            .map(|t| Call { start: t0 + Duration::from_millis(t), end: t0 + Duration::from_millis(t + took), ok: true })
            .collect()
    }

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn a_steady_window_passes_and_counts_only_its_calls() {
        let t0 = Instant::now();
        let calls = steady(t0, 0, 3_000, 10, 2);
        let r = evaluate(&calls, at(t0, 1_000), at(t0, 2_000), &BOUNDS);
        assert!(r.passed(), "{r:?}");
        // The calls overlapping [1000, 2000]: those started at 1000..=2000, and the one started
        // at 990 that ended at 992 does not overlap.
        assert_eq!(r.calls, 101);
        assert!((r.rate - 101.0).abs() < 1e-9, "{}", r.rate);
        assert_eq!(r.max_latency, Duration::from_millis(2));
        assert_eq!(r.longest_gap, Duration::from_millis(10));
    }

    #[test]
    fn each_bound_fails_on_its_own() {
        let t0 = Instant::now();
        let (from, to) = (at(t0, 1_000), at(t0, 2_000));
        // A failed call.
        let mut calls = steady(t0, 0, 3_000, 10, 2);
        calls[150].ok = false;
        let r = evaluate(&calls, from, to, &BOUNDS);
        assert_eq!(r.failed, 1);
        assert!(r.violations.len() == 1 && r.violations[0].contains("1 of 101 calls in the window failed"), "{r:?}");
        // Too few calls: 5/s.
        let r =
            evaluate(&steady(t0, 0, 3_000, 200, 2), from, to, &Bounds { max_gap: Duration::from_secs(1), ..BOUNDS });
        assert!(r.violations.len() == 1 && r.violations[0].contains("below the minimum 10/s"), "{r:?}");
        // One slow call that started before the window and ended in it.
        let mut calls = steady(t0, 0, 3_000, 10, 2);
        calls.push(Call { start: at(t0, 800), end: at(t0, 1_400), ok: true });
        let r = evaluate(&calls, from, to, &BOUNDS);
        assert!(r.violations.len() == 1 && r.violations[0].contains("took 600.0 ms"), "{r:?}");
        // A stall: every call between 1200 and 1600 ends at 1600. Each is under the latency
        // bound and succeeds; the gap does not.
        let calls: Vec<Call> =
            steady(t0, 0, 3_000, 10, 2)
                .into_iter()
                .map(|c| {
                    if c.start >= at(t0, 1_200) && c.start < at(t0, 1_600) {
                        Call { end: at(t0, 1_600), ..c }
                    } else {
                        c
                    }
                })
                .collect();
        let r = evaluate(&calls, from, to, &BOUNDS);
        assert!(r.violations.len() == 1 && r.violations[0].contains("no call succeeded for 408.0 ms"), "{r:?}");
        // The edges count: nothing succeeds in the last 400 ms of the window.
        let r = evaluate(&steady(t0, 0, 1_600, 10, 2), from, to, &Bounds { min_rate: 1.0, ..BOUNDS });
        assert!(r.violations.len() == 1 && r.violations[0].contains("no call succeeded"), "{r:?}");
        // An empty window.
        let r = evaluate(&steady(t0, 0, 3_000, 10, 2), from, from, &BOUNDS);
        assert!(r.violations.iter().any(|v| v.contains("the window is empty")), "{r:?}");
    }
}
