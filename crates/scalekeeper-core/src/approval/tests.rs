//! The approval rule's table (what a change introduces, and which introduced count needs
//! approval), the rule's validation, the digest, and the request's decisions: one row per
//! case, each named for what it checks.

use super::*;
use crate::spec::{HoldSpec, WindowSpec};

fn at(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

/// The rule of most rows: counts below 3 or above 20, or steps of more than 50%, need 2
/// approvals.
const RULE: ApprovalRule = ApprovalRule { above: Some(20), below: Some(3), max_step_percent: Some(50), approvers: 2 };

/// A policy declaring `replicas` under `rule`.
fn spec(replicas: i32, rule: Option<ApprovalRule>) -> Spec {
    Spec { replicas, approval: rule, ..Spec::default() }
}

fn hold(replicas: i32, until: &str, freeze: bool) -> Option<HoldSpec> {
    Some(HoldSpec { replicas, until: until.into(), reason: "INC-1".into(), freeze, ..HoldSpec::default() })
}

fn window(text: &str, replicas: i32) -> WindowSpec {
    WindowSpec { window: text.into(), replicas }
}

fn above(count: i32, above: i32) -> Need {
    Need::Above { count, above }
}

fn below(count: i32, below: i32) -> Need {
    Need::Below { count, below }
}

fn step(from: i32, to: i32, limit: u32) -> Need {
    Need::Step { from, to, limit }
}

/// Only the band, no step limit.
const BAND: ApprovalRule = ApprovalRule { max_step_percent: None, ..RULE };

/// Only the step limit of `p` percent.
fn step_rule(p: u32) -> ApprovalRule {
    ApprovalRule { above: None, below: None, max_step_percent: Some(p), approvers: 1 }
}

/// The band and the step, on a change of the declared count alone.
#[test]
fn band_and_step_table() {
    // (name, rule, declared before, declared after, in force, needs)
    type Row = (&'static str, ApprovalRule, i32, i32, i32, Vec<Need>);
    let rows: Vec<Row> = vec![
        // The band's edges: at the edge, nothing; one past, a need.
        ("upper_edge_is_inside", BAND, 10, 20, 10, vec![]),
        ("one_above_the_upper_edge", BAND, 10, 21, 10, vec![above(21, 20)]),
        ("lower_edge_is_inside", BAND, 10, 3, 10, vec![]),
        ("one_below_the_lower_edge", BAND, 10, 2, 10, vec![below(2, 3)]),
        // The step from the count in force.
        ("step_from_0_to_any_count", step_rule(1000), 5, 1, 0, vec![step(0, 1, 1000)]),
        ("step_from_0_to_0_is_no_step", step_rule(50), 5, 0, 0, vec![]),
        ("step_of_exactly_the_limit", step_rule(50), 10, 15, 10, vec![]),
        ("step_just_above_the_limit", step_rule(50), 10, 16, 10, vec![step(10, 16, 50)]),
        ("step_down_of_exactly_the_limit", step_rule(50), 10, 5, 10, vec![]),
        ("step_down_just_above_the_limit", step_rule(50), 10, 4, 10, vec![step(10, 4, 50)]),
        ("step_down_to_0", step_rule(100), 10, 0, 10, vec![]),
        ("step_from_the_count_in_force_not_the_declared", step_rule(50), 10, 11, 4, vec![step(4, 11, 50)]),
        ("step_i32_max_from_1", step_rule(1000), 1, i32::MAX, 1, vec![step(1, i32::MAX, 1000)]),
        (
            "step_i32_min_from_i32_max_just_over_200",
            step_rule(200),
            1,
            i32::MIN,
            i32::MAX,
            vec![step(i32::MAX, i32::MIN, 200)],
        ),
        ("step_i32_min_from_i32_max_within_201", step_rule(201), 1, i32::MIN, i32::MAX, vec![]),
        ("step_largest_product_does_not_overflow", step_rule(u32::MAX), 1, i32::MIN, i32::MAX, vec![]),
        ("step_i32_max_from_i32_max_is_no_step", step_rule(1), 1, i32::MAX, i32::MAX, vec![]),
        ("step_from_a_negative_count", step_rule(u32::MAX), 1, 2, i32::MIN, vec![step(i32::MIN, 2, u32::MAX)]),
    ];
    for (name, rule, before, after, in_force, want) in rows {
        assert_eq!(needs(Some(&spec(before, Some(rule))), Some(&spec(after, Some(rule))), in_force), want, "{name}");
    }
}

#[test]
fn needs_table() {
    let until = "2026-11-29T12:00:00.000Z";
    // (name, before, after (None: deleted), in force, needs)
    type Row = (&'static str, Option<Spec>, Option<Spec>, i32, Vec<Need>);
    let rows: Vec<Row> = vec![
        // What a change introduces.
        (
            "declared_count_unchanged_is_not_introduced",
            Some(spec(40, Some(RULE))),
            Some(Spec { mode: crate::Mode::Observe, ..spec(40, Some(RULE)) }),
            40,
            vec![],
        ),
        (
            "new_hold_is_counted",
            Some(spec(10, Some(RULE))),
            Some(Spec { hold: hold(40, until, false), ..spec(10, Some(RULE)) }),
            10,
            vec![above(40, 20), step(10, 40, 50)],
        ),
        (
            "freeze_hold_is_exempt",
            Some(spec(10, Some(RULE))),
            Some(Spec { hold: hold(40, until, true), ..spec(10, Some(RULE)) }),
            10,
            vec![],
        ),
        (
            "unchanged_hold_is_not_counted",
            Some(Spec { hold: hold(40, until, false), ..spec(10, Some(RULE)) }),
            Some(Spec { hold: hold(40, until, false), ..spec(12, Some(RULE)) }),
            40,
            vec![step(40, 12, 50)],
        ),
        (
            "hold_with_a_new_expiry_is_counted",
            Some(Spec { hold: hold(40, until, false), ..spec(10, Some(RULE)) }),
            Some(Spec { hold: hold(40, "2026-11-29T13:00:00.000Z", false), ..spec(10, Some(RULE)) }),
            40,
            vec![above(40, 20)],
        ),
        (
            "ending_a_hold_introduces_nothing",
            Some(Spec { hold: hold(40, until, false), ..spec(10, Some(RULE)) }),
            Some(spec(10, Some(RULE))),
            40,
            vec![],
        ),
        (
            "window_added_is_counted",
            Some(Spec { schedule: vec![window("Mon-Fri 08:00-18:00 UTC", 30)], ..spec(10, Some(BAND)) }),
            Some(Spec {
                schedule: vec![window("Mon-Fri 08:00-18:00 UTC", 30), window("Sat 08:00-18:00 UTC", 1)],
                ..spec(10, Some(BAND))
            }),
            10,
            vec![below(1, 3)],
        ),
        (
            "window_unchanged_is_not_counted",
            Some(Spec { schedule: vec![window("Mon-Fri 08:00-18:00 UTC", 30)], ..spec(10, Some(BAND)) }),
            Some(Spec { schedule: vec![window("Mon-Fri 08:00-18:00 UTC", 30)], ..spec(11, Some(BAND)) }),
            10,
            vec![],
        ),
        (
            "window_with_a_new_count_is_counted",
            Some(Spec { schedule: vec![window("Mon-Fri 08:00-18:00 UTC", 30)], ..spec(10, Some(BAND)) }),
            Some(Spec { schedule: vec![window("Mon-Fri 08:00-18:00 UTC", 31)], ..spec(10, Some(BAND)) }),
            10,
            vec![above(31, 20)],
        ),
        (
            "schedule_cleared_introduces_nothing",
            Some(Spec { schedule: vec![window("Mon-Fri 08:00-18:00 UTC", 30)], ..spec(10, Some(RULE)) }),
            Some(spec(10, Some(RULE))),
            30,
            vec![],
        ),
        // The rule itself.
        ("no_policy_nothing", None, Some(spec(500, Some(RULE))), 0, vec![]),
        ("no_rule_nothing", Some(spec(10, None)), Some(spec(500, None)), 10, vec![]),
        ("first_rule_is_free", Some(spec(10, None)), Some(spec(10, Some(RULE))), 10, vec![]),
        ("rule_unchanged_is_free", Some(spec(10, Some(RULE))), Some(spec(10, Some(RULE))), 10, vec![]),
        (
            "rule_changed",
            Some(spec(10, Some(RULE))),
            Some(spec(10, Some(ApprovalRule { above: Some(100), ..RULE }))),
            10,
            vec![Need::RuleChange],
        ),
        (
            "rule_approvers_changed",
            Some(spec(10, Some(RULE))),
            Some(spec(10, Some(ApprovalRule { approvers: 1, ..RULE }))),
            10,
            vec![Need::RuleChange],
        ),
        ("rule_removed", Some(spec(10, Some(RULE))), Some(spec(10, None)), 10, vec![Need::RuleChange]),
        ("policy_deleted_with_a_rule", Some(spec(10, Some(RULE))), None, 10, vec![Need::RuleChange]),
        ("policy_deleted_without_a_rule", Some(spec(10, None)), None, 10, vec![]),
        ("nothing_before_nothing_after", None, None, 0, vec![]),
        // The rule in force is before's, not after's.
        (
            "rule_in_force_is_befores",
            Some(spec(10, Some(BAND))),
            Some(spec(50, Some(ApprovalRule { above: Some(100), ..BAND }))),
            10,
            vec![above(50, 20), Need::RuleChange],
        ),
        // Several needs: in the order found, each once.
        (
            "several_needs_in_order_each_once",
            Some(spec(10, Some(RULE))),
            Some(Spec {
                hold: hold(1, until, false),
                schedule: vec![
                    window("Mon 08:00-09:00 UTC", 40),
                    window("Tue 08:00-09:00 UTC", 1),
                    window("Wed 08:00-09:00 UTC", 12),
                ],
                ..spec(40, Some(ApprovalRule { approvers: 3, ..RULE }))
            }),
            10,
            vec![above(40, 20), step(10, 40, 50), below(1, 3), step(10, 1, 50), Need::RuleChange],
        ),
    ];
    for (name, before, after, in_force, want) in rows {
        assert_eq!(needs(before.as_ref(), after.as_ref(), in_force), want, "{name}");
    }
}

#[test]
fn need_words() {
    let rows = [
        ("above", above(40, 20), "40 is above the approval band's upper edge 20"),
        ("below", below(0, 3), "0 is below the approval band's lower edge 3"),
        ("step_up", step(10, 40, 50), "a step from 10 to 40 is 300%, more than the approval rule's 50%"),
        ("step_rounds_down", step(3, 5, 50), "a step from 3 to 5 is 66%, more than the approval rule's 50%"),
        ("step_down", step(10, 1, 50), "a step from 10 to 1 is 90%, more than the approval rule's 50%"),
        ("step_from_0", step(0, 5, 50), "a step from 0 to 5 is from 0, more than the approval rule's 50% allows"),
        (
            "step_extremes",
            step(i32::MAX, i32::MIN, u32::MAX),
            "a step from 2147483647 to -2147483648 is 200%, more than the approval rule's 4294967295%",
        ),
        ("rule_change", Need::RuleChange, "changing the approval rule needs approval"),
    ];
    for (name, need, want) in rows {
        assert_eq!(need.to_string(), want, "{name}");
    }
}

#[test]
fn approvals_needed_reads_0_as_1() {
    for (approvers, want) in [(0, 1), (1, 1), (2, 2), (MAX_APPROVERS, MAX_APPROVERS)] {
        assert_eq!(ApprovalRule { approvers, ..RULE }.approvals_needed(), want, "approvers {approvers}");
    }
}

#[test]
fn validate_rule_table() {
    let fields = |v: Vec<Violation>| v.into_iter().map(|v| v.field).collect::<Vec<_>>();
    let rule = |above: Option<i32>, below: Option<i32>, max_step_percent: Option<u32>, approvers: u32| ApprovalRule {
        above,
        below,
        max_step_percent,
        approvers,
    };
    let rows: [(&str, ApprovalRule, &[&str]); 17] = [
        ("valid", RULE, &[]),
        ("only_above", rule(Some(20), None, None, 0), &[]),
        ("only_below", rule(None, Some(0), None, 1), &[]),
        ("only_step", rule(None, None, Some(1), 5), &[]),
        ("edges_at_the_limits", rule(Some(1000), Some(0), Some(MAX_STEP_PERCENT), 5), &[]),
        ("below_equal_to_above", rule(Some(7), Some(7), None, 1), &[]),
        ("nothing_set", rule(None, None, None, 1), &["approval"]),
        ("above_negative", rule(Some(-1), None, None, 1), &["approval.above"]),
        ("above_over_max_replicas", rule(Some(1001), None, None, 1), &["approval.above"]),
        ("below_negative", rule(None, Some(-1), None, 1), &["approval.below"]),
        ("below_over_max_replicas", rule(None, Some(1001), None, 1), &["approval.below"]),
        ("below_above_above", rule(Some(3), Some(4), None, 1), &["approval.below"]),
        ("percent_0", rule(None, None, Some(0), 1), &["approval.max_step_percent"]),
        ("percent_over_the_limit", rule(None, None, Some(MAX_STEP_PERCENT + 1), 1), &["approval.max_step_percent"]),
        ("approvers_over_the_limit", rule(Some(1), None, None, MAX_APPROVERS + 1), &["approval.approvers"]),
        ("nothing_set_and_too_many_approvers", rule(None, None, None, u32::MAX), &["approval", "approval.approvers"]),
        (
            "every_field_wrong",
            rule(Some(-1), Some(2000), Some(0), 6),
            &["approval.above", "approval.below", "approval.below", "approval.max_step_percent", "approval.approvers"],
        ),
    ];
    for (name, r, want) in rows {
        assert_eq!(fields(validate_rule(&r, 1000)), want, "{name}");
    }
    let v = validate_rule(&rule(Some(3), Some(4), Some(0), 1), 1000);
    assert_eq!(v[0].description, "the lower edge 4 is above the upper edge 3; below is at most above");
    assert_eq!(v[1].description, "0% is outside 1% to 1000%");
    assert_eq!(
        validate_rule(&rule(Some(1001), None, None, 1), 1000)[0].description,
        "1001 is over this server's maximum of 1000 (--max-replicas)"
    );
}

#[test]
fn digest_is_sha256_lower_hex() {
    // FIPS 180-2, appendix B.1 ("abc"), and the digest of the empty message.
    let rows = [
        ("empty", &b""[..], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", &b"abc"[..], "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "two_blocks",
            &b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"[..],
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        ),
    ];
    for (name, bytes, want) in rows {
        assert_eq!(digest(bytes), want, "{name}");
    }
}

#[test]
fn phase_text_round_trips() {
    for p in Phase::ALL {
        assert_eq!(Phase::parse(p.as_str()), Some(p), "{p}");
    }
    for text in ["", "pending", "PENDING", "Pending ", "Unknown"] {
        assert_eq!(Phase::parse(text), None, "{text:?}");
    }
    let done = Phase::ALL.into_iter().filter(|p| p.is_done()).collect::<Vec<_>>();
    assert_eq!(done, [Phase::Applied, Phase::Denied, Phase::Expired, Phase::Superseded, Phase::Reviewed]);
}

#[test]
fn break_glass_holds_at_most_an_hour() {
    let m = |n: u64| std::time::Duration::from_secs(60 * n);
    assert_eq!(break_glass_hold(None), m(60), "a declaration becomes an hour's hold");
    assert_eq!(break_glass_hold(Some(m(20))), m(20));
    assert_eq!(break_glass_hold(Some(m(60))), m(60));
    assert_eq!(break_glass_hold(Some(m(600))), m(60), "capped");
}

const DIGEST: &str = "d1";
const EXPIRES: &str = "2026-11-29T11:00:00Z";
const NOW: &str = "2026-11-29T10:30:00Z";

fn record(identity: &str, digest: &str) -> ApprovalRecord {
    ApprovalRecord { identity: identity.into(), time: "2026-11-29T10:10:00Z".into(), digest: digest.into() }
}

/// alice's request with digest [`DIGEST`], needing 2 approvals, expiring at [`EXPIRES`].
fn state<'a>(phase: Phase, approvals: &'a [ApprovalRecord]) -> RequestState<'a> {
    RequestState { requester: "alice", digest: DIGEST, approvals_needed: 2, expires_at: at(EXPIRES), phase, approvals }
}

#[test]
fn counted_table() {
    let rows: [(&str, Vec<ApprovalRecord>, &[&str]); 6] = [
        ("none", vec![], &[]),
        ("one", vec![record("bob", DIGEST)], &["bob"]),
        ("in_order_given", vec![record("carol", DIGEST), record("bob", DIGEST)], &["carol", "bob"]),
        (
            "duplicate_counts_once",
            vec![record("bob", DIGEST), record("carol", DIGEST), record("bob", DIGEST)],
            &["bob", "carol"],
        ),
        ("never_the_requester", vec![record("alice", DIGEST), record("bob", DIGEST)], &["bob"]),
        (
            "stale_digest_not_counted",
            vec![record("bob", "d0"), record("carol", DIGEST), record("bob", DIGEST)],
            &["carol", "bob"],
        ),
    ];
    for (name, approvals, want) in rows {
        assert_eq!(counted(&state(Phase::Pending, &approvals)), want, "{name}");
    }
}

#[test]
fn phase_at_expiry() {
    let s = state(Phase::Pending, &[]);
    let expires = at(EXPIRES);
    let before = expires - jiff::SignedDuration::from_nanos(1);
    assert_eq!(phase_at(&s, before), Phase::Pending, "one nanosecond before");
    assert_eq!(phase_at(&s, expires), Phase::Expired, "at the instant");
    assert_eq!(phase_at(&s, expires + jiff::SignedDuration::from_secs(1)), Phase::Expired, "after");
    // Only a pending request expires.
    for p in [Phase::Approved, Phase::Applied, Phase::Denied, Phase::Superseded] {
        assert_eq!(phase_at(&state(p, &[]), expires), p, "{p}");
    }
}

#[test]
fn approve_table() {
    let bob = [record("bob", DIGEST)];
    let stale_bob = [record("bob", "d0")];
    let bob_carol = [record("bob", DIGEST), record("carol", DIGEST)];
    let expired = ApproveRefusal::Expired { at: at(EXPIRES) };
    let ok = |counted: u32, complete: bool| Ok(Approved { counted, complete });
    // (name, phase, approvals, approver, digest seen, now, result)
    type Row<'a> = (
        &'static str,
        Phase,
        &'a [ApprovalRecord],
        &'static str,
        &'static str,
        &'static str,
        Result<Approved, ApproveRefusal>,
    );
    let rows: Vec<Row<'_>> = vec![
        ("first_of_two", Phase::Pending, &[], "bob", DIGEST, NOW, ok(1, false)),
        ("second_completes", Phase::Pending, &bob, "carol", DIGEST, NOW, ok(2, true)),
        ("stale_approval_of_the_approver_does_not_count", Phase::Pending, &stale_bob, "bob", DIGEST, NOW, ok(1, false)),
        (
            "applied_is_not_pending",
            Phase::Applied,
            &bob,
            "carol",
            DIGEST,
            NOW,
            Err(ApproveRefusal::NotPending { phase: Phase::Applied }),
        ),
        (
            "denied_is_not_pending",
            Phase::Denied,
            &[],
            "bob",
            DIGEST,
            NOW,
            Err(ApproveRefusal::NotPending { phase: Phase::Denied }),
        ),
        (
            "superseded_is_not_pending",
            Phase::Superseded,
            &[],
            "bob",
            DIGEST,
            NOW,
            Err(ApproveRefusal::NotPending { phase: Phase::Superseded }),
        ),
        ("recorded_expired", Phase::Expired, &[], "bob", DIGEST, NOW, Err(expired.clone())),
        ("pending_at_expiry_reads_expired", Phase::Pending, &[], "bob", DIGEST, EXPIRES, Err(expired.clone())),
        // Refusals in order: the phase before the digest, the digest before the identity.
        ("expiry_before_digest", Phase::Pending, &[], "alice", "d0", EXPIRES, Err(expired)),
        (
            "digest_mismatch",
            Phase::Pending,
            &[],
            "bob",
            "d0",
            NOW,
            Err(ApproveRefusal::DigestMismatch { seen: "d0".into(), current: DIGEST.into() }),
        ),
        (
            "digest_before_self",
            Phase::Pending,
            &[],
            "alice",
            "d0",
            NOW,
            Err(ApproveRefusal::DigestMismatch { seen: "d0".into(), current: DIGEST.into() }),
        ),
        (
            "self_approval",
            Phase::Pending,
            &[],
            "alice",
            DIGEST,
            NOW,
            Err(ApproveRefusal::SelfApproval { identity: "alice".into() }),
        ),
        (
            "already_approved",
            Phase::Pending,
            &bob,
            "bob",
            DIGEST,
            NOW,
            Err(ApproveRefusal::AlreadyApproved { identity: "bob".into() }),
        ),
        // An approved request whose apply failed: anyone retries, nothing more counts.
        ("approved_retry", Phase::Approved, &bob_carol, "bob", DIGEST, NOW, ok(2, true)),
        ("approved_retry_by_the_requester", Phase::Approved, &bob_carol, "alice", DIGEST, NOW, ok(2, true)),
        ("approved_retry_past_expiry", Phase::Approved, &bob, "dave", DIGEST, EXPIRES, ok(1, true)),
        (
            "approved_retry_checks_the_digest",
            Phase::Approved,
            &bob,
            "bob",
            "d0",
            NOW,
            Err(ApproveRefusal::DigestMismatch { seen: "d0".into(), current: DIGEST.into() }),
        ),
    ];
    for (name, phase, approvals, approver, seen, now, want) in rows {
        assert_eq!(approve(&state(phase, approvals), approver, seen, at(now)), want, "{name}");
    }
    // One approval needed: the first completes it; approvers 0 is stored as 1 by the server.
    let one = RequestState { approvals_needed: 1, ..state(Phase::Pending, &[]) };
    assert_eq!(approve(&one, "bob", DIGEST, at(NOW)), ok(1, true));
}

#[test]
fn deny_table() {
    type Row = (&'static str, Phase, &'static str, &'static str, Result<(), ApproveRefusal>);
    let rows: [Row; 9] = [
        ("with_a_reason", Phase::Pending, "too many", NOW, Ok(())),
        ("no_reason", Phase::Pending, "", NOW, Err(ApproveRefusal::NoReason)),
        ("blank_reason", Phase::Pending, " \t\n", NOW, Err(ApproveRefusal::NoReason)),
        ("no_reason_before_the_phase", Phase::Applied, "", NOW, Err(ApproveRefusal::NoReason)),
        ("applied", Phase::Applied, "too many", NOW, Err(ApproveRefusal::NotPending { phase: Phase::Applied })),
        (
            "approved_cannot_be_denied",
            Phase::Approved,
            "too many",
            NOW,
            Err(ApproveRefusal::NotPending { phase: Phase::Approved }),
        ),
        ("denied_twice", Phase::Denied, "too many", NOW, Err(ApproveRefusal::NotPending { phase: Phase::Denied })),
        ("at_expiry", Phase::Pending, "too many", EXPIRES, Err(ApproveRefusal::Expired { at: at(EXPIRES) })),
        ("recorded_expired", Phase::Expired, "too many", NOW, Err(ApproveRefusal::Expired { at: at(EXPIRES) })),
    ];
    for (name, phase, reason, now, want) in rows {
        assert_eq!(deny(&state(phase, &[]), reason, at(now)), want, "{name}");
    }
}

#[test]
fn refusal_words() {
    let rows = [
        (
            "not_pending",
            ApproveRefusal::NotPending { phase: Phase::Applied },
            "the request is Applied: only a pending request can be approved or denied".to_owned(),
        ),
        (
            "expired",
            ApproveRefusal::Expired { at: at("2026-11-29T11:00:00.5Z") },
            "the request expired at 2026-11-29T11:00:00Z; ask again".to_owned(),
        ),
        (
            "self_approval",
            ApproveRefusal::SelfApproval { identity: "alice".into() },
            "alice requested this change and cannot approve it: a second identity must".to_owned(),
        ),
        (
            "already_approved",
            ApproveRefusal::AlreadyApproved { identity: "bob".into() },
            "bob has approved this request already; another identity must".to_owned(),
        ),
        (
            "digest_mismatch",
            ApproveRefusal::DigestMismatch { seen: "d0".into(), current: "d1".into() },
            "the request changed since you read it (digest d0 is now d1); read it again".to_owned(),
        ),
        (
            "digest_seen_is_bounded",
            ApproveRefusal::DigestMismatch { seen: format!("x\n{}", "y".repeat(300)), current: "d1".into() },
            format!(
                "the request changed since you read it (digest x\\n{}… (302 bytes) is now d1); read it again",
                "y".repeat(126)
            ),
        ),
        (
            "no_reason",
            ApproveRefusal::NoReason,
            "a denial needs a reason: say why the change should not be made".to_owned(),
        ),
    ];
    for (name, refusal, want) in rows {
        assert_eq!(refusal.to_string(), want, "{name}");
    }
}

#[test]
fn messages() {
    assert_eq!(approve_hint("shop", "api-x7k2p"), "scalekeeper approve shop/api-x7k2p");
    let rows = [
        (
            "one_need_one_approval",
            vec![above(40, 20)],
            1,
            "this change needs 1 approval by another identity: 40 is above the approval band's upper edge 20; \
             requested as ScaleRequest shop/api-x7k2p: an approver runs `scalekeeper approve shop/api-x7k2p`",
        ),
        (
            "needs_joined_two_approvals",
            vec![above(40, 20), step(10, 40, 50), Need::RuleChange],
            2,
            "this change needs 2 approvals by other identities: 40 is above the approval band's upper edge 20; \
             a step from 10 to 40 is 300%, more than the approval rule's 50%; changing the approval rule needs approval; \
             requested as ScaleRequest shop/api-x7k2p: an approver runs `scalekeeper approve shop/api-x7k2p`",
        ),
    ];
    for (name, needs, n, want) in rows {
        assert_eq!(approval_required_message("shop", "api-x7k2p", &needs, n), want, "{name}");
    }
    // 0 approvals (the API's unset) reads as 1.
    assert_eq!(
        approval_required_message("shop", "api-x7k2p", &[Need::RuleChange], 0),
        approval_required_message("shop", "api-x7k2p", &[Need::RuleChange], 1)
    );
}

#[test]
fn a_break_glass_change_is_acknowledged_by_a_second_identity_and_never_denied() {
    let review = state(Phase::ReviewRequired, &[]);
    assert_eq!(acknowledge(&review, "bob", DIGEST), Ok(()));
    assert_eq!(acknowledge(&review, "alice", DIGEST), Err(ApproveRefusal::SelfApproval { identity: "alice".into() }));
    assert_eq!(
        acknowledge(&review, "bob", "other"),
        Err(ApproveRefusal::DigestMismatch { seen: "other".into(), current: DIGEST.into() })
    );
    for phase in [Phase::Pending, Phase::Reviewed, Phase::Applied] {
        assert_eq!(
            acknowledge(&state(phase, &[]), "bob", DIGEST),
            Err(ApproveRefusal::NotPending { phase }),
            "{phase}"
        );
    }
    // It never expires: the phase is recorded, not read from the clock.
    assert_eq!(phase_at(&review, at("2027-01-01T00:00:00Z")), Phase::ReviewRequired);
    assert_eq!(deny(&review, "no", at(NOW)), Err(ApproveRefusal::BreakGlassApplied));
    // Approving it is not the way: the approval flow is for pending requests.
    assert!(matches!(approve(&review, "bob", DIGEST, at(NOW)), Err(ApproveRefusal::NotPending { .. })));
}

#[test]
fn sweep_table() {
    let hour = std::time::Duration::from_secs(3600);
    // EXPIRES is 11:00, NOW 10:30.
    let after = |t: &str| at(t);
    let rows: [(&str, Phase, Option<&str>, &str, Sweep); 9] = [
        ("pending before its expiry", Phase::Pending, None, NOW, Sweep::Keep),
        ("pending at its expiry", Phase::Pending, None, EXPIRES, Sweep::Expire),
        ("pending long past its expiry", Phase::Pending, None, "2026-12-29T00:00:00Z", Sweep::Expire),
        ("expired, within retention", Phase::Expired, None, "2026-11-29T11:59:59Z", Sweep::Keep),
        ("expired, retention over", Phase::Expired, None, "2026-11-29T12:00:00Z", Sweep::Delete),
        (
            "applied, decided 10:10, within",
            Phase::Applied,
            Some("2026-11-29T10:10:00Z"),
            "2026-11-29T11:09:59Z",
            Sweep::Keep,
        ),
        (
            "applied, decided 10:10, over",
            Phase::Applied,
            Some("2026-11-29T10:10:00Z"),
            "2026-11-29T11:10:00Z",
            Sweep::Delete,
        ),
        ("approved, not applied: never", Phase::Approved, None, "2027-01-01T00:00:00Z", Sweep::Keep),
        ("review required: never", Phase::ReviewRequired, None, "2027-01-01T00:00:00Z", Sweep::Keep),
    ];
    for (what, phase, ended, now, want) in rows {
        let s = state(phase, &[]);
        assert_eq!(sweep(&s, ended.map(after), after(now), hour), want, "{what}");
    }
}
