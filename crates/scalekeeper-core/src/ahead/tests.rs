use super::*;
use crate::rules::{Bounds, Hold, RuleKind, Scheduled};

fn at(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}

fn schedule(windows: &[(&str, i32)]) -> Rules {
    Rules { schedule: windows.iter().map(|(w, n)| Scheduled::parse(w, *n)).collect(), ..Rules::default() }
}

/// (at UTC, local time, from, to, cause) of each change.
fn table(c: &Changes) -> Vec<(String, String, i32, i32, String)> {
    c.changes.iter().map(|c| (c.at.to_string(), c.local_time.clone(), c.from, c.to, c.cause.clone())).collect()
}

fn row(at: &str, local: &str, from: i32, to: i32, cause: &str) -> (String, String, i32, i32, String) {
    (at.into(), local.into(), from, to, cause.into())
}

#[test]
fn berlin_spring_forward_keeps_local_times() {
    // 2027-03-28 (a Sunday): Berlin goes from UTC+1 to UTC+2 at 02:00 local.
    let r = schedule(&[("Sat-Sun 08:00-20:00 Europe/Berlin", 1)]);
    let c = r.changes(4, at("2027-03-27T00:00:00Z"), days(2));
    assert_eq!(
        table(&c),
        [
            row(
                "2027-03-27T07:00:00Z",
                "2027-03-27T08:00:00+01:00[Europe/Berlin]",
                4,
                1,
                "window \"Sat-Sun 08:00-20:00 Europe/Berlin\" starts"
            ),
            row(
                "2027-03-27T19:00:00Z",
                "2027-03-27T20:00:00+01:00[Europe/Berlin]",
                1,
                4,
                "window \"Sat-Sun 08:00-20:00 Europe/Berlin\" ends; the declared count applies"
            ),
            row(
                "2027-03-28T06:00:00Z",
                "2027-03-28T08:00:00+02:00[Europe/Berlin]",
                4,
                1,
                "window \"Sat-Sun 08:00-20:00 Europe/Berlin\" starts"
            ),
            row(
                "2027-03-28T18:00:00Z",
                "2027-03-28T20:00:00+02:00[Europe/Berlin]",
                1,
                4,
                "window \"Sat-Sun 08:00-20:00 Europe/Berlin\" ends; the declared count applies"
            ),
        ]
    );
    assert!(!c.truncated);
    assert_eq!(c.changes[0].after.source.kind(), RuleKind::Schedule);
    assert_eq!(c.changes[1].after.source.kind(), RuleKind::Declared);
    // A window starting in the gap (02:30 does not exist that night) starts at 03:30 CEST.
    let gap = schedule(&[("Sun 02:30-04:00 Europe/Berlin", 2)]).changes(4, at("2027-03-28T00:00:00Z"), days(1));
    assert_eq!(
        table(&gap),
        [
            row(
                "2027-03-28T01:30:00Z",
                "2027-03-28T03:30:00+02:00[Europe/Berlin]",
                4,
                2,
                "window \"Sun 02:30-04:00 Europe/Berlin\" starts"
            ),
            row(
                "2027-03-28T02:00:00Z",
                "2027-03-28T04:00:00+02:00[Europe/Berlin]",
                2,
                4,
                "window \"Sun 02:30-04:00 Europe/Berlin\" ends; the declared count applies"
            ),
        ]
    );
}

#[test]
fn berlin_fall_back_lasts_an_hour_longer() {
    // 2026-10-25 (a Sunday): Berlin goes from UTC+2 to UTC+1 at 03:00 local; the whole-day
    // window lasts 25 hours.
    let r = schedule(&[("Sun 00:00-24:00 Europe/Berlin", 1)]);
    let c = r.changes(4, at("2026-10-24T12:00:00Z"), days(2));
    assert_eq!(
        table(&c),
        [
            row(
                "2026-10-24T22:00:00Z",
                "2026-10-25T00:00:00+02:00[Europe/Berlin]",
                4,
                1,
                "window \"Sun 00:00-24:00 Europe/Berlin\" starts"
            ),
            row(
                "2026-10-25T23:00:00Z",
                "2026-10-26T00:00:00+01:00[Europe/Berlin]",
                1,
                4,
                "window \"Sun 00:00-24:00 Europe/Berlin\" ends; the declared count applies"
            ),
        ]
    );
}

#[test]
fn new_york_spring_forward_and_fall_back() {
    // 2027-03-14: New York goes from UTC-5 to UTC-4; 2026-11-01: back from UTC-4 to UTC-5.
    let r = schedule(&[("Mon-Sun 09:00-17:00 America/New_York", 5)]);
    let spring = r.changes(2, at("2027-03-13T16:00:00Z"), days(2));
    assert_eq!(
        table(&spring)[..3],
        [
            row(
                "2027-03-13T22:00:00Z",
                "2027-03-13T17:00:00-05:00[America/New_York]",
                5,
                2,
                "window \"Mon-Sun 09:00-17:00 America/New_York\" ends; the declared count applies"
            ),
            row(
                "2027-03-14T13:00:00Z",
                "2027-03-14T09:00:00-04:00[America/New_York]",
                2,
                5,
                "window \"Mon-Sun 09:00-17:00 America/New_York\" starts"
            ),
            row(
                "2027-03-14T21:00:00Z",
                "2027-03-14T17:00:00-04:00[America/New_York]",
                5,
                2,
                "window \"Mon-Sun 09:00-17:00 America/New_York\" ends; the declared count applies"
            ),
        ]
    );
    let fall = r.changes(2, at("2026-10-31T16:00:00Z"), days(2));
    assert_eq!(
        table(&fall)[..3],
        [
            row(
                "2026-10-31T21:00:00Z",
                "2026-10-31T17:00:00-04:00[America/New_York]",
                5,
                2,
                "window \"Mon-Sun 09:00-17:00 America/New_York\" ends; the declared count applies"
            ),
            row(
                "2026-11-01T14:00:00Z",
                "2026-11-01T09:00:00-05:00[America/New_York]",
                2,
                5,
                "window \"Mon-Sun 09:00-17:00 America/New_York\" starts"
            ),
            row(
                "2026-11-01T22:00:00Z",
                "2026-11-01T17:00:00-05:00[America/New_York]",
                5,
                2,
                "window \"Mon-Sun 09:00-17:00 America/New_York\" ends; the declared count applies"
            ),
        ]
    );
}

#[test]
fn a_hold_clamped_by_bounds_expires_into_the_schedule() {
    let r = Rules {
        hold: Some(Hold {
            replicas: 10,
            until: at("2026-11-28T13:00:00Z"),
            reason: "INC-123".into(),
            set_by: None,
            set_at: None,
        }),
        bounds: Bounds { min: Some(2), max: Some(8) },
        ..schedule(&[("Sat 00:00-24:00 UTC", 1)])
    };
    let c = r.changes(4, at("2026-11-28T11:00:00Z"), days(1));
    assert_eq!(
        table(&c),
        [
            // Held at 10, kept at 8; then the window's 1, kept at 2; then the declared 4.
            row(
                "2026-11-28T13:00:00Z",
                "2026-11-28T13:00:00+00:00[UTC]",
                8,
                2,
                "the hold expires; window \"Sat 00:00-24:00 UTC\" applies"
            ),
            row(
                "2026-11-29T00:00:00Z",
                "2026-11-29T00:00:00+00:00[UTC]",
                2,
                4,
                "window \"Sat 00:00-24:00 UTC\" ends; the declared count applies"
            ),
        ]
    );
    assert_eq!(c.changes[0].after.clamped, Some(crate::rules::Bound::Min(2)));
    // Without the schedule the hold expires into the declared count.
    let plain = Rules { schedule: vec![], ..r };
    assert_eq!(
        plain.changes(4, at("2026-11-28T11:00:00Z"), days(1)).changes[0].cause,
        "the hold expires; the declared count applies"
    );
}

#[test]
fn the_horizon_cuts_off_and_unchanged_counts_are_no_change() {
    let r = schedule(&[("Mon-Fri 08:00-20:00 UTC", 6)]);
    // Monday 2026-11-30 07:00: starts at 08:00, ends at 20:00, then Tuesday 08:00...
    let from = at("2026-11-30T07:00:00Z");
    assert_eq!(r.changes(4, from, SignedDuration::from_hours(1)).changes.len(), 1, "08:00 is at the horizon: included");
    assert_eq!(r.changes(4, from, SignedDuration::from_mins(59)).changes.len(), 0);
    assert_eq!(r.changes(4, from, days(7)).changes.len(), 10, "five working days, two edges each");
    // Declared 6 too: no edge changes the count.
    assert!(r.changes(6, from, days(7)).changes.is_empty());
    // A window that always covers: a transition every midnight, none a change.
    assert!(schedule(&[("Mon-Sun 00:00-24:00 UTC", 2)]).changes(4, from, days(31)).changes.is_empty());
    assert!(Rules::default().changes(4, from, days(31)).changes.is_empty());
    assert!(r.changes(4, from, SignedDuration::from_hours(-1)).changes.is_empty());
}

#[test]
fn a_pathological_schedule_is_bounded() {
    // 32 one-minute windows a day with alternating counts, over 31 days: far more than 1000
    // changes.
    let windows: Vec<(String, i32)> = (0..32)
        .map(|i| (format!("Mon-Sun {:02}:{:02}-{:02}:{:02} UTC", i / 2, (i % 2) * 30, i / 2, (i % 2) * 30 + 1), i % 3))
        .collect();
    let refs: Vec<(&str, i32)> = windows.iter().map(|(w, n)| (w.as_str(), *n)).collect();
    let c = schedule(&refs).changes(7, at("2026-11-30T00:00:00Z"), days(31));
    assert_eq!(c.changes.len(), MAX_CHANGES);
    assert!(c.truncated);
    assert!(c.changes.windows(2).all(|w| w[0].at < w[1].at), "in time order");
}
