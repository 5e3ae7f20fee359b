//! The tests of the two-person rule's output: the `requests` table, the request's block that
//! `approve` shows before it asks, what `approve` and `deny` print after, and their JSON.

use scalekeeper_api::v1::{Approval, WriteOutcome};
use serde_json::json;

use super::*;

fn ts(rfc3339: &str) -> prost_types::Timestamp {
    rfc3339.parse().unwrap()
}

/// 2026-11-30T12:30:00Z, half an hour after [`request`] was made.
const NOW: i64 = 1_796_041_800;

const DIGEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn approval(identity: &str, digest: &str) -> Approval {
    Approval { identity: identity.into(), time: Some(ts("2026-11-30T12:10:00Z")), digest: digest.into() }
}

/// alice's pending request to declare 0 replicas of shop/web, made at 12:00, expiring at 13:00.
fn request() -> ScaleRequest {
    ScaleRequest {
        namespace: "shop".into(),
        name: "web-7f3k2".into(),
        deployment: "web".into(),
        change: "declare 0 replicas".into(),
        replicas: Some(0),
        needs_approval_because: vec![
            "0 is below the approval band's lower edge 3".into(),
            "a step from 10 to 0 is 100%, more than the approval rule's 50%".into(),
        ],
        requester: "alice".into(),
        reason: "INC-1: drain the zone".into(),
        created_at: Some(ts("2026-11-30T12:00:00Z")),
        expires_at: Some(ts("2026-11-30T13:00:00.500Z")),
        digest: DIGEST.into(),
        phase: ScaleRequestPhase::Pending as i32,
        approvals: vec![],
        approvals_needed: 2,
        outcome: String::new(),
        based_on_version: "41".into(),
        approved_by: vec![],
        decided_by: String::new(),
        decided_at: None,
        break_glass_group: String::new(),
    }
}

#[test]
fn approvals_show_the_identities_the_server_counted() {
    let r = ScaleRequest {
        approvals: vec![approval("bob", DIGEST), approval("alice", DIGEST), approval("carol", "0000")],
        approved_by: vec!["bob".into()],
        ..request()
    };
    assert_eq!(approvals_text(&r), "1/2");
    assert_eq!(approvals_with_names(&r), "1/2 (bob)");
    let none_needed = ScaleRequest { approvals_needed: 0, ..request() };
    assert_eq!(approvals_text(&none_needed), "0/1", "a request needs at least one");
}

#[test]
fn the_requests_table() {
    let applied = ScaleRequest {
        namespace: "payments".into(),
        name: "ledger-x9z8q".into(),
        deployment: "ledger".into(),
        change: "hold 40 replicas for 1h".into(),
        requester: "spiffe://c/ns/ci/sa/deployer".into(),
        phase: ScaleRequestPhase::Applied as i32,
        approvals: vec![approval("bob", "d2"), approval("carol", "d2")],
        approved_by: vec!["bob".into(), "carol".into()],
        digest: "d2".into(),
        created_at: Some(ts("2026-11-28T09:00:00Z")),
        ..request()
    };
    let lapsed = ScaleRequest { name: "web-aaaaa".into(), expires_at: Some(ts("2026-11-30T12:29:59Z")), ..request() };
    let rows = [request(), applied, lapsed];
    assert_eq!(
        render_requests_table(&rows, NOW, true),
        "NAMESPACE   NAME           DEPLOYMENT   CHANGE                    REQUESTER                      PHASE     \
         APPROVALS   AGE   EXPIRES\n\
         shop        web-7f3k2      web          declare 0 replicas        alice                          Pending   \
         0/2         30m   30m\n\
         payments    ledger-x9z8q   ledger       hold 40 replicas for 1h   spiffe://c/ns/ci/sa/deployer   Applied   \
         2/2         2d    -\n\
         shop        web-aaaaa      web          declare 0 replicas        alice                          Pending   \
         0/2         30m   expired\n"
    );
    // One namespace: no NAMESPACE column.
    assert_eq!(
        render_requests_table(&rows[..1], NOW, false),
        "NAME        DEPLOYMENT   CHANGE               REQUESTER   PHASE     APPROVALS   AGE   EXPIRES\n\
         web-7f3k2   web          declare 0 replicas   alice       Pending   0/2         30m   30m\n"
    );
    assert_eq!(render_requests_table(&[], NOW, true).lines().count(), 1, "the header alone");
}

#[test]
fn ages_and_phases_as_people_read_them() {
    let cases = [(0, "0s"), (59, "59s"), (60, "1m"), (3599, "59m"), (3600, "1h"), (86_399, "23h"), (86_400, "1d")];
    for (secs, want) in cases {
        assert_eq!(short_duration(secs), want, "{secs}");
    }
    assert_eq!(short_duration(400 * 86_400), "1y");
    assert_eq!(short_duration(-5), "0s", "a clock behind the server's");
    assert_eq!(phase_name(ScaleRequestPhase::Superseded as i32), "Superseded");
    assert_eq!(phase_name(ScaleRequestPhase::Unspecified as i32), "-");
    assert_eq!(phase_name(42), "42");
}

#[test]
fn the_request_approve_shows_before_it_asks() {
    let r = ScaleRequest { approvals: vec![approval("bob", DIGEST)], approved_by: vec!["bob".into()], ..request() };
    assert_eq!(
        render_scale_request(&r),
        "REQUEST:        shop/web-7f3k2\n\
         DEPLOYMENT:     shop/web\n\
         CHANGE:         declare 0 replicas\n\
         REQUESTER:      alice\n\
         REASON:         INC-1: drain the zone\n\
         NEEDS APPROVAL: 0 is below the approval band's lower edge 3\n                \
         a step from 10 to 0 is 100%, more than the approval rule's 50%\n\
         PHASE:          Pending\n\
         APPROVALS:      1/2 (bob)\n\
         CREATED:        2026-11-30T12:00:00Z\n\
         EXPIRES:        2026-11-30T13:00:00Z\n\
         OUTCOME:        -\n\
         DIGEST:         9f86d081884c\n"
    );
    assert_eq!(short_digest(DIGEST), "9f86d081884c");
    assert_eq!(short_digest("abc"), "abc");
}

#[test]
fn a_request_cannot_draw_lines_into_what_the_approver_reads() {
    let forged = ScaleRequest {
        reason: "fine\nCHANGE:         declare 3 replicas\x1b[2K".into(),
        change: "declare 0 replicas\r".into(),
        ..request()
    };
    let out = render_scale_request(&forged);
    assert_eq!(out.lines().count(), render_scale_request(&request()).lines().count(), "{out}");
    assert!(out.contains("REASON:         fine\\nCHANGE:         declare 3 replicas\\u{1b}[2K\n"), "{out}");
    assert!(out.contains("CHANGE:         declare 0 replicas\\r\n"), "{out}");
    assert!(!out.contains('\x1b') && !out.contains('\r'));
    let table = render_requests_table(&[forged], NOW, true);
    assert_eq!(table.lines().count(), 2, "{table}");
}

#[test]
fn what_approve_and_deny_print_after() {
    let applied = ScaleRequest {
        phase: ScaleRequestPhase::Applied as i32,
        approvals: vec![approval("bob", DIGEST), approval("carol", DIGEST)],
        approved_by: vec!["bob".into(), "carol".into()],
        outcome: "declared 0 replicas".into(),
        ..request()
    };
    let outcome = WriteOutcome {
        effective_replicas_before: 10,
        effective_replicas_after: 0,
        rule_detail_after: "declared".into(),
        spec_replicas_before: 10,
        spec_replicas_after: 0,
        ..Default::default()
    };
    let resp = ApproveScaleRequestResponse { request: Some(applied), outcome: Some(outcome) };
    assert_eq!(
        render_approved(&resp),
        "PHASE:     Applied\n\
         APPROVALS: 2/2 (bob, carol)\n\
         OUTCOME:   declared 0 replicas\n\
         \n\
         EFFECTIVE: 10 -> 0 (declared)\n\
         SPEC: 10 -> 0\n"
    );
    // Not the last approval needed: the phase, and nothing written.
    let waiting = ApproveScaleRequestResponse {
        request: Some(ScaleRequest {
            approvals: vec![approval("bob", DIGEST)],
            approved_by: vec!["bob".into()],
            ..request()
        }),
        outcome: None,
    };
    assert_eq!(render_approved(&waiting), "PHASE:     Pending\nAPPROVALS: 1/2 (bob)\nOUTCOME:   -\n");
    let j = approved_json(&resp).unwrap();
    assert_eq!(j["request"]["phase"], "SCALE_REQUEST_PHASE_APPLIED");
    assert_eq!(j["outcome"]["effectiveReplicasAfter"], 0);
    assert!(approved_json(&waiting).unwrap().get("outcome").is_none());
    let denied = DenyScaleRequestResponse {
        request: Some(ScaleRequest {
            phase: ScaleRequestPhase::Denied as i32,
            outcome: "denied by bob: not during the sale".into(),
            ..request()
        }),
    };
    let j = denied_json(&denied).unwrap();
    assert_eq!(j["request"]["phase"], "SCALE_REQUEST_PHASE_DENIED");
    assert_eq!(j["request"]["outcome"], "denied by bob: not during the sale");
}

#[test]
fn requests_json_is_the_proto_mapping() {
    let resp = ListScaleRequestsResponse { requests: vec![request()] };
    let j = requests_json(&resp).unwrap();
    assert_eq!(
        j,
        json!({
            "requests": [{
                "namespace": "shop",
                "name": "web-7f3k2",
                "deployment": "web",
                "change": "declare 0 replicas",
                "replicas": 0,
                "needsApprovalBecause": [
                    "0 is below the approval band's lower edge 3",
                    "a step from 10 to 0 is 100%, more than the approval rule's 50%",
                ],
                "requester": "alice",
                "reason": "INC-1: drain the zone",
                "createdAt": "2026-11-30T12:00:00Z",
                "expiresAt": "2026-11-30T13:00:00.500Z",
                "digest": DIGEST,
                "phase": "SCALE_REQUEST_PHASE_PENDING",
                "approvals": [],
                "approvalsNeeded": 2,
                "outcome": "",
                "basedOnVersion": "41",
                "breakGlassGroup": "",
                "approvedBy": [],
                "decidedBy": "",
            }]
        })
    );
    assert_eq!(requests_json(&ListScaleRequestsResponse::default()).unwrap(), json!({ "requests": [] }));
}
