//! Parsing, the weekly and midnight-crossing rules, and daylight-saving days in two zones.
//!
//! Expected instants are written in UTC from the zones' published offsets (Berlin: CET +01,
//! CEST +02; New York: EST -05, EDT -04), not computed with the code under test. 2026's
//! changes: Berlin 2026-03-29 02:00→03:00 and 2026-10-25 03:00→02:00; New York 2026-03-08
//! 02:00→03:00 and 2026-11-01 02:00→01:00. All four are Sundays.

use proptest::prelude::*;

use super::*;

fn w(s: &str) -> Window {
    s.parse().unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn at(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

fn hours(o: Occurrence) -> i64 {
    o.start.duration_until(o.end).as_secs() / 3600
}

fn occ(start: &str, end: &str) -> Option<Occurrence> {
    Some(Occurrence { start: at(start), end: at(end) })
}

const NS: jiff::SignedDuration = jiff::SignedDuration::from_nanos(1);

// === parsing ===

#[test]
fn valid_forms_parse_and_print_canonically() {
    for (input, printed) in [
        ("Mon-Fri 08:00-20:00 Europe/Berlin", "Mon-Fri 08:00-20:00 Europe/Berlin"),
        ("Sat 10:00-12:00 UTC", "Sat 10:00-12:00 UTC"),
        ("Fri-Mon 09:00-17:00 America/New_York", "Fri-Mon 09:00-17:00 America/New_York"),
        ("Sun 00:00-24:00 Europe/Berlin", "Sun 00:00-24:00 Europe/Berlin"),
        ("Mon-Fri 22:00-06:00 Europe/Berlin", "Mon-Fri 22:00-06:00 Europe/Berlin"),
        ("Fri-Fri 20:00-24:00 CET", "Fri-Fri 20:00-24:00 CET"),
        ("mon-FRI 08:00-20:00 europe/berlin", "Mon-Fri 08:00-20:00 europe/berlin"),
        ("  Mon-Fri \t08:00-20:00   Europe/Berlin\n", "Mon-Fri 08:00-20:00 Europe/Berlin"),
        ("Sun 23:59-00:00 UTC", "Sun 23:59-00:00 UTC"),
    ] {
        let window = w(input);
        assert_eq!(window.to_string(), printed, "{input:?}");
        assert_eq!(w(printed), window, "{printed:?} round-trips");
    }
}

#[test]
fn day_lists_single_range_wrapping_and_every_day() {
    use Weekday::*;
    let all = [Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday];
    for (spec, listed) in [
        ("Sat", &[Saturday][..]),
        ("Mon-Fri", &[Monday, Tuesday, Wednesday, Thursday, Friday][..]),
        ("Fri-Mon", &[Friday, Saturday, Sunday, Monday][..]),
        ("Sun-Tue", &[Sunday, Monday, Tuesday][..]),
        ("Mon-Sun", &all[..]),
        ("Wed-Wed", &[Wednesday][..]),
    ] {
        let window = w(&format!("{spec} 08:00-09:00 UTC"));
        for day in all {
            assert_eq!(window.includes(day), listed.contains(&day), "{spec} and {day:?}");
        }
    }
}

#[test]
fn each_malformed_part_is_named_with_the_expected_form() {
    use WindowError as E;
    let long = format!("Mon-Fri 08:00-20:00 {}", "A".repeat(MAX_WINDOW_BYTES));
    for (input, expected) in [
        ("Mon-Fri 08:00-20:00", E::Parts { found: 2 }),
        ("", E::Parts { found: 0 }),
        ("Mon-Fri 08:00-20:00 Europe/Berlin extra", E::Parts { found: 4 }),
        ("Mo-Fr 08:00-20:00 UTC", E::Days { given: "Mo-Fr".into() }),
        ("Monday 08:00-20:00 UTC", E::Days { given: "Monday".into() }),
        ("Mon- 08:00-20:00 UTC", E::Days { given: "Mon-".into() }),
        ("Mon-Tue-Wed 08:00-20:00 UTC", E::Days { given: "Mon-Tue-Wed".into() }),
        ("Mon 25:00-26:00 UTC", E::Times { given: "25:00-26:00".into() }),
        ("Mon 08:00-25:00 UTC", E::Times { given: "08:00-25:00".into() }),
        ("Mon 12:60-13:00 UTC", E::Times { given: "12:60-13:00".into() }),
        ("Mon 7:5-08:00 UTC", E::Times { given: "7:5-08:00".into() }),
        ("Mon 07:05-8:00 UTC", E::Times { given: "07:05-8:00".into() }),
        ("Mon 08:00-24:30 UTC", E::Times { given: "08:00-24:30".into() }),
        ("Mon 0800-2000 UTC", E::Times { given: "0800-2000".into() }),
        ("Mon 08:00 UTC", E::Times { given: "08:00".into() }),
        ("Mon 08:00-20:00-21:00 UTC", E::Times { given: "08:00-20:00-21:00".into() }),
        ("Mon +8:00-20:00 UTC", E::Times { given: "+8:00-20:00".into() }),
        ("Mon 08:00-08:00 UTC", E::Empty { given: "08:00-08:00".into() }),
        ("Mon 24:00-08:00 UTC", E::StartsAt24 { given: "24:00-08:00".into() }),
        ("Mon 24:00-24:00 UTC", E::StartsAt24 { given: "24:00-24:00".into() }),
        ("Mon 08:00-20:00 Europe/Berln", E::UnknownZone { name: "Europe/Berln".into() }),
        ("Mon 08:00-20:00 Etc/Unknown", E::UnknownZone { name: "Etc/Unknown".into() }),
        ("Mon 08:00-20:00 ../../etc/passwd", E::UnknownZone { name: "../../etc/passwd".into() }),
        (&long, E::TooLong { len: long.len() }),
    ] {
        let err = input.parse::<Window>().expect_err(input);
        assert_eq!(err, expected, "{input:?}");
        let message = err.to_string();
        assert!(
            message.ends_with("expected DAYS HH:MM-HH:MM ZONE, e.g. Mon-Fri 08:00-20:00 Europe/Berlin"),
            "{message}"
        );
    }
}

#[test]
fn messages_say_what_is_wrong() {
    let message = |s: &str| s.parse::<Window>().expect_err(s).to_string();
    assert!(message("Mon 08:00-08:00 UTC").contains("empty window; for a whole day use 00:00-24:00"));
    assert!(message("Mon 08:00-20:00 Mars/Olympus").contains("unknown time zone \"Mars/Olympus\""));
    assert!(message("Mon 24:00-08:00 UTC").contains("can only end a window"));
    assert!(message("Mon 7:5-08:00 UTC").contains("two digits each"));
    assert!(message("Mo 08:00-20:00 UTC").contains("\"Mo\" is not a day"));
    assert!(message("Mon 08:00-20:00").contains("three parts"));
    assert!(message(&"x".repeat(200)).contains("200 bytes is over the limit of 128 bytes"));
}

#[test]
fn the_length_bound_is_inclusive() {
    // "Mon 08:00-20:00 " is 16 bytes; pad the zone field with spaces to exactly the limit.
    let at_limit = format!("Mon 08:00-20:00 UTC{}", " ".repeat(MAX_WINDOW_BYTES - 19));
    assert_eq!(at_limit.len(), MAX_WINDOW_BYTES);
    assert!(at_limit.parse::<Window>().is_ok());
    let over = format!("{at_limit} ");
    assert_eq!(over.parse::<Window>(), Err(WindowError::TooLong { len: MAX_WINDOW_BYTES + 1 }));
}

// === a weekday window ===

#[test]
fn office_hours_in_berlin() {
    let office = w("Mon-Fri 08:00-20:00 Europe/Berlin");
    // Wednesday 2026-03-11 12:00 CET.
    assert_eq!(office.occurrence_at(at("2026-03-11T11:00:00Z")), occ("2026-03-11T07:00:00Z", "2026-03-11T19:00:00Z"));
    assert!(office.contains(at("2026-03-11T11:00:00Z")));
    // Saturday and Sunday noon, and Wednesday before and after hours.
    for outside in ["2026-03-14T11:00:00Z", "2026-03-15T11:00:00Z", "2026-03-11T05:00:00Z", "2026-03-11T21:00:00Z"] {
        assert!(!office.contains(at(outside)), "{outside}");
        assert_eq!(office.occurrence_at(at(outside)), None, "{outside}");
    }
    // Start inclusive, end exclusive, to the nanosecond.
    let (start, end) = (at("2026-03-11T07:00:00Z"), at("2026-03-11T19:00:00Z"));
    assert!(office.contains(start));
    assert!(!office.contains(start - NS));
    assert!(office.contains(end - NS));
    assert!(!office.contains(end));
}

#[test]
fn office_hours_next_boundaries() {
    let office = w("Mon-Fri 08:00-20:00 Europe/Berlin");
    // From inside: today's 20:00 end.
    assert_eq!(office.next_boundary_after(at("2026-03-11T11:00:00Z")), Some(at("2026-03-11T19:00:00Z")));
    // From the start itself: strictly after, so the end.
    assert_eq!(office.next_boundary_after(at("2026-03-11T07:00:00Z")), Some(at("2026-03-11T19:00:00Z")));
    // From the end itself: the next morning.
    assert_eq!(office.next_boundary_after(at("2026-03-11T19:00:00Z")), Some(at("2026-03-12T07:00:00Z")));
    // Friday 21:00 CET: Monday 08:00 CET.
    assert_eq!(office.next_boundary_after(at("2026-03-13T20:00:00Z")), Some(at("2026-03-16T07:00:00Z")));
    // Friday 21:00 CET before the spring change: Monday 08:00 is now CEST.
    assert_eq!(office.next_boundary_after(at("2026-03-27T20:00:00Z")), Some(at("2026-03-30T06:00:00Z")));
}

// === daylight saving ===

#[test]
fn a_whole_sunday_lasts_23_hours_in_spring_and_25_in_autumn() {
    let berlin = w("Sun 00:00-24:00 Europe/Berlin");
    let spring = berlin.occurrence_at(at("2026-03-29T12:00:00Z")).expect("spring Sunday");
    assert_eq!(Some(spring), occ("2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z"));
    assert_eq!(hours(spring), 23);
    let autumn = berlin.occurrence_at(at("2026-10-25T12:00:00Z")).expect("autumn Sunday");
    assert_eq!(Some(autumn), occ("2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z"));
    assert_eq!(hours(autumn), 25);

    let new_york = w("Sun 00:00-24:00 America/New_York");
    let spring = new_york.occurrence_at(at("2026-03-08T12:00:00Z")).expect("spring Sunday");
    assert_eq!(Some(spring), occ("2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"));
    assert_eq!(hours(spring), 23);
    let autumn = new_york.occurrence_at(at("2026-11-01T12:00:00Z")).expect("autumn Sunday");
    assert_eq!(Some(autumn), occ("2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z"));
    assert_eq!(hours(autumn), 25);
    // An ordinary Sunday is 24 hours.
    assert_eq!(new_york.occurrence_at(at("2026-03-15T12:00:00Z")).map(hours), Some(24));
}

#[test]
fn a_start_in_the_spring_gap_moves_forward_by_the_gap() {
    // 02:30 does not exist on these days; compatible resolution makes it 03:30 summer time.
    let berlin = w("Sun 02:30-05:00 Europe/Berlin");
    let o = berlin.occurrence_at(at("2026-03-29T02:00:00Z")).expect("inside");
    assert_eq!(Some(o), occ("2026-03-29T01:30:00Z", "2026-03-29T03:00:00Z"));
    let tz = jiff::tz::db().get("Europe/Berlin").expect("zone");
    assert_eq!(o.start.to_zoned(tz).time(), Time::constant(3, 30, 0, 0));
    assert!(!berlin.contains(at("2026-03-29T01:29:59Z")));

    let new_york = w("Sun 02:30-05:00 America/New_York");
    assert_eq!(new_york.occurrence_at(at("2026-03-08T08:00:00Z")), occ("2026-03-08T07:30:00Z", "2026-03-08T09:00:00Z"));
    // The week before, 02:30 EST exists.
    assert_eq!(new_york.occurrence_at(at("2026-03-01T08:00:00Z")), occ("2026-03-01T07:30:00Z", "2026-03-01T10:00:00Z"));
}

#[test]
fn a_start_in_the_autumn_fold_is_the_earlier_time() {
    // New York repeats 01:00-02:00 on 2026-11-01: 01:30 EDT (05:30Z), then 01:30 EST (06:30Z).
    let new_york = w("Sun 01:30-03:00 America/New_York");
    let o = new_york.occurrence_at(at("2026-11-01T06:30:00Z")).expect("inside at the second 01:30");
    assert_eq!(Some(o), occ("2026-11-01T05:30:00Z", "2026-11-01T08:00:00Z"));
    assert!(!new_york.contains(at("2026-11-01T05:29:59Z")));
    // Berlin repeats 02:00-03:00 on 2026-10-25: 02:30 CEST is 00:30Z.
    let berlin = w("Sun 02:30-04:00 Europe/Berlin");
    assert_eq!(berlin.occurrence_at(at("2026-10-25T01:00:00Z")), occ("2026-10-25T00:30:00Z", "2026-10-25T03:00:00Z"));
}

#[test]
fn a_daily_window_keeps_its_local_time_across_the_changes() {
    let berlin = w("Mon-Sun 08:00-09:00 Europe/Berlin");
    // Saturday 08:00 CET, then Sunday 08:00 CEST: one hour earlier in UTC.
    assert_eq!(berlin.next_boundary_after(at("2026-03-27T12:00:00Z")), Some(at("2026-03-28T07:00:00Z")));
    assert_eq!(berlin.next_boundary_after(at("2026-03-28T12:00:00Z")), Some(at("2026-03-29T06:00:00Z")));
    assert_eq!(berlin.next_boundary_after(at("2026-10-24T12:00:00Z")), Some(at("2026-10-25T07:00:00Z")));
    assert!(berlin.contains(at("2026-03-29T06:30:00Z")));
    assert!(!berlin.contains(at("2026-03-29T07:30:00Z")));

    let new_york = w("Mon-Sun 08:00-09:00 America/New_York");
    assert_eq!(new_york.occurrence_at(at("2026-03-07T13:30:00Z")), occ("2026-03-07T13:00:00Z", "2026-03-07T14:00:00Z"));
    assert_eq!(new_york.occurrence_at(at("2026-03-08T12:30:00Z")), occ("2026-03-08T12:00:00Z", "2026-03-08T13:00:00Z"));
    assert_eq!(new_york.occurrence_at(at("2026-10-31T12:30:00Z")), occ("2026-10-31T12:00:00Z", "2026-10-31T13:00:00Z"));
    assert_eq!(new_york.occurrence_at(at("2026-11-01T13:30:00Z")), occ("2026-11-01T13:00:00Z", "2026-11-01T14:00:00Z"));
    assert!(!new_york.contains(at("2026-11-01T12:30:00Z")));
}

#[test]
fn an_occurrence_inside_the_spring_gap_is_empty() {
    // 02:30 → 03:30 CEST but 03:00 stays 03:00 CEST: end before start, so that Sunday is empty.
    let gap = w("Sun 02:30-03:00 Europe/Berlin");
    for t in ["2026-03-29T00:45:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:15:00Z", "2026-03-29T01:45:00Z"] {
        assert!(!gap.contains(at(t)), "{t}");
    }
    // The Sunday before is ordinary, and the empty Sunday contributes no boundary.
    assert!(gap.contains(at("2026-03-22T01:45:00Z")));
    assert_eq!(gap.next_boundary_after(at("2026-03-28T12:00:00Z")), Some(at("2026-04-05T00:30:00Z")));
    // From the end of the Sunday before, the next start is two weeks on.
    assert_eq!(gap.next_boundary_after(at("2026-03-22T02:00:00Z")), Some(at("2026-04-05T00:30:00Z")));
}

#[test]
fn occurrences_that_overlap_after_the_gap_keep_the_window_open() {
    // Saturday's occurrence ends Sunday 02:30 → 03:30 EDT (07:30Z); Sunday's starts 03:00 EDT.
    let nightly = w("Mon-Sun 03:00-02:30 America/New_York");
    let saturday = occ("2026-03-07T08:00:00Z", "2026-03-08T07:30:00Z");
    assert_eq!(nightly.occurrence_at(at("2026-03-08T07:15:00Z")), saturday, "the earlier start wins");
    assert_eq!(nightly.occurrence_at(at("2026-03-08T07:30:00Z")), occ("2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"));
    assert_eq!(nightly.next_boundary_after(at("2026-03-08T06:00:00Z")), Some(at("2026-03-08T07:00:00Z")));
    assert_eq!(nightly.next_boundary_after(at("2026-03-08T07:00:00Z")), Some(at("2026-03-08T07:30:00Z")));
}

// === crossing midnight and the week ===

#[test]
fn nights_belong_to_the_day_they_start() {
    let nights = w("Mon-Fri 22:00-06:00 Europe/Berlin");
    // Tuesday 03:00 CET: Monday's occurrence.
    assert_eq!(nights.occurrence_at(at("2026-03-10T02:00:00Z")), occ("2026-03-09T21:00:00Z", "2026-03-10T05:00:00Z"));
    // Saturday 05:00 CET: Friday's occurrence.
    assert_eq!(nights.occurrence_at(at("2026-03-14T04:00:00Z")), occ("2026-03-13T21:00:00Z", "2026-03-14T05:00:00Z"));
    // Sunday 23:00 and Monday 05:00 CET: no Saturday or Sunday occurrence.
    assert!(!nights.contains(at("2026-03-15T22:00:00Z")));
    assert!(!nights.contains(at("2026-03-16T04:00:00Z")));
    // Monday 22:00 CET starts the week's first.
    assert!(nights.contains(at("2026-03-16T21:00:00Z")));
    // Saturday 06:00 CET ends the last; the next start is Monday 22:00.
    assert_eq!(nights.next_boundary_after(at("2026-03-14T04:00:00Z")), Some(at("2026-03-14T05:00:00Z")));
    assert_eq!(nights.next_boundary_after(at("2026-03-14T05:00:00Z")), Some(at("2026-03-16T21:00:00Z")));
}

#[test]
fn ranges_and_nights_wrap_the_week() {
    let long_weekend = w("Fri-Mon 09:00-17:00 Europe/Berlin");
    for inside in ["2026-03-13T11:00:00Z", "2026-03-14T11:00:00Z", "2026-03-15T11:00:00Z", "2026-03-16T11:00:00Z"] {
        assert!(long_weekend.contains(at(inside)), "{inside}");
    }
    for outside in ["2026-03-17T11:00:00Z", "2026-03-18T11:00:00Z", "2026-03-19T11:00:00Z"] {
        assert!(!long_weekend.contains(at(outside)), "{outside}");
    }
    // Saturday 20:00 CET: Sunday 09:00.
    assert_eq!(long_weekend.next_boundary_after(at("2026-03-14T19:00:00Z")), Some(at("2026-03-15T08:00:00Z")));
    // Monday 17:00 CET: Friday 09:00.
    assert_eq!(long_weekend.next_boundary_after(at("2026-03-16T16:00:00Z")), Some(at("2026-03-20T08:00:00Z")));

    let sunday_night = w("Sun 22:00-02:00 Europe/Berlin");
    // Monday 01:00 CET: Sunday's occurrence.
    assert_eq!(
        sunday_night.occurrence_at(at("2026-03-16T00:00:00Z")),
        occ("2026-03-15T21:00:00Z", "2026-03-16T01:00:00Z")
    );
    assert!(!sunday_night.contains(at("2026-03-16T01:00:00Z")));
    // From Saturday: Sunday 22:00, then Monday 02:00 of the next ISO week.
    assert_eq!(sunday_night.next_boundary_after(at("2026-03-14T12:00:00Z")), Some(at("2026-03-15T21:00:00Z")));
    assert_eq!(sunday_night.next_boundary_after(at("2026-03-15T21:00:00Z")), Some(at("2026-03-16T01:00:00Z")));

    // A single Monday, seen from the Tuesday after: six days on.
    let mondays = w("Mon 09:00-17:00 UTC");
    assert_eq!(mondays.next_boundary_after(at("2026-03-17T00:00:00Z")), Some(at("2026-03-23T09:00:00Z")));
}

#[test]
fn whole_days_touch_at_midnight() {
    let every_day = w("Mon-Sun 00:00-24:00 Europe/Berlin");
    let midnight = at("2026-03-10T23:00:00Z");
    assert_eq!(every_day.occurrence_at(midnight - NS), occ("2026-03-09T23:00:00Z", "2026-03-10T23:00:00Z"));
    assert_eq!(every_day.occurrence_at(midnight), occ("2026-03-10T23:00:00Z", "2026-03-11T23:00:00Z"));
    assert_eq!(every_day.next_boundary_after(midnight - NS), Some(midnight));
}

// === several windows ===

#[test]
fn the_first_listed_window_wins_and_the_earliest_boundary_is_next() {
    let office = w("Mon-Fri 08:00-20:00 Europe/Berlin");
    let standup = w("Wed 10:00-10:30 Europe/Berlin");
    let weekend = w("Sat-Sun 00:00-24:00 UTC");
    let now = at("2026-03-11T09:15:00Z"); // Wednesday 10:15 CET
    let office_occ = occ("2026-03-11T07:00:00Z", "2026-03-11T19:00:00Z");
    let standup_occ = occ("2026-03-11T09:00:00Z", "2026-03-11T09:30:00Z");
    assert_eq!(first_containing([&office, &standup, &weekend], now), office_occ.map(|o| (0, o)));
    assert_eq!(first_containing([&standup, &office, &weekend], now), standup_occ.map(|o| (0, o)));
    assert_eq!(first_containing([&weekend, &office], now), office_occ.map(|o| (1, o)));
    assert_eq!(first_containing([&weekend], now), None);
    assert_eq!(first_containing([], now), None);

    // The stand-up's end (10:30 CET) comes before the office's (20:00 CET).
    let all = [office.clone(), standup.clone(), weekend.clone()];
    assert_eq!(next_boundary(&all, now), Some(at("2026-03-11T09:30:00Z")));
    assert_eq!(next_boundary([&office, &weekend], now), Some(at("2026-03-11T19:00:00Z")));
    // Friday evening: the UTC weekend (Saturday 00:00Z) comes before the office (Monday).
    assert_eq!(next_boundary(&all, at("2026-03-13T20:00:00Z")), Some(at("2026-03-14T00:00:00Z")));
    assert_eq!(next_boundary([], now), None);
}

// === contains agrees with next_boundary_after ===

/// Windows for the property: DST-sensitive zones, midnight crossings, week wraps, whole
/// days, and one that is empty on Berlin's spring Sunday. Not the overlapping kind (see
/// `occurrences_that_overlap_after_the_gap_keep_the_window_open`), where a boundary may leave
/// the containing occurrence unchanged.
const PROPERTY_WINDOWS: [&str; 9] = [
    "Mon-Fri 08:00-20:00 Europe/Berlin",
    "Mon-Fri 22:00-06:00 America/New_York",
    "Fri-Mon 09:00-17:00 Europe/Berlin",
    "Sun 00:00-24:00 America/New_York",
    "Sun 22:00-02:00 Europe/Berlin",
    "Sun 02:30-03:00 Europe/Berlin",
    "Sun 01:30-02:30 America/New_York",
    "Mon-Sun 00:00-24:00 Australia/Lord_Howe",
    "Sat 23:59-00:01 UTC",
];

/// 2026-01-01T00:00:00Z and 2027-01-01T00:00:00Z, in Unix seconds.
const YEAR_2026: std::ops::Range<i64> = 1_767_225_600..1_798_761_600;

proptest! {
    #[test]
    fn contains_is_constant_until_the_next_boundary(
        which in 0..PROPERTY_WINDOWS.len(),
        second in YEAR_2026,
        nanos in 0..1_000_000_000i32,
        fraction in 0.0..1.0f64,
    ) {
        let window = w(PROPERTY_WINDOWS[which]);
        let t = Timestamp::new(second, nanos).expect("in range");
        let inside = window.contains(t);
        let boundary = window.next_boundary_after(t).expect("a valid window always has a next boundary");
        let gap = t.duration_until(boundary);
        prop_assert!(gap > jiff::SignedDuration::ZERO);
        prop_assert!(gap <= jiff::SignedDuration::from_hours(15 * 24), "{gap:?} to the next boundary");
        // Sampled inside [t, boundary), and at its last nanosecond.
        let probe = t + jiff::SignedDuration::from_secs_f64(gap.as_secs_f64() * fraction);
        prop_assert_eq!(window.contains(probe.min(boundary - NS)), inside);
        prop_assert_eq!(window.contains(boundary - NS), inside);
        // At the boundary, the window flips or one occurrence hands over to the next.
        prop_assert!(
            window.contains(boundary) != inside
                || window.occurrence_at(boundary) != window.occurrence_at(boundary - NS),
            "nothing changes at {boundary} for {t}"
        );
        // The occurrence found, if any, really contains t.
        if let Some(o) = window.occurrence_at(t) {
            prop_assert!(o.start <= t && t < o.end && o.start < o.end);
            prop_assert!(boundary <= o.end);
        }
    }
}
