//! The renderers' tests: tables, blocks, errors and the proto3 JSON of every output.

use super::incident::{change_kind_name, verdict_name};
use super::*;
use scalekeeper_api::v1::{
    BulkOutcome, BulkResult, ChangeKind, ExplainResponse, FreezeResponse, HistoryEntry, PlanResponse, ScaleRequest,
    ScaleRequestPhase, ThawResponse, Verdict,
};

fn bulk(ns: &str, name: &str, outcome: BulkOutcome, replicas: i32, detail: &str, code: &str) -> BulkResult {
    BulkResult {
        namespace: ns.into(),
        name: name.into(),
        outcome: outcome as i32,
        replicas,
        detail: detail.into(),
        code: code.into(),
    }
}

#[test]
fn a_freeze_prints_a_row_per_deployment_and_a_summary() {
    let resp = FreezeResponse {
        results: vec![
            bulk("ops", "api", BulkOutcome::Skipped, 3, "an HPA owns the count: api-hpa", ""),
            bulk("payments", "ledger", BulkOutcome::Failed, 1, "user \"sam\" may not update", "PERMISSION_DENIED"),
            bulk("shop", "web", BulkOutcome::Done, 4, "held at 4 (until thawed or expired)", ""),
            bulk("staging", "", BulkOutcome::Failed, 0, "not in scope", "PERMISSION_DENIED"),
        ],
        until: Some(prost_types::Timestamp { seconds: 1_796_479_200, nanos: 250_000_000 }),
        dry_run: false,
    };
    assert_eq!(
        render_bulk_table(&resp.results),
        "NAMESPACE/NAME    RESULT    REPLICAS   DETAIL\n\
         ops/api           SKIPPED   3          an HPA owns the count: api-hpa\n\
         payments/ledger   FAILED    1          PERMISSION_DENIED: user \"sam\" may not update\n\
         shop/web          DONE      4          held at 4 (until thawed or expired)\n\
         staging/*         FAILED    0          PERMISSION_DENIED: not in scope\n"
    );
    assert_eq!(bulk_summary(&resp), "frozen 1, skipped 1, failed 2 until 2026-12-05T14:00:00Z\n");
    let dry = FreezeResponse { dry_run: true, ..resp.clone() };
    assert!(bulk_summary(&dry).starts_with("dry run, nothing written: would be frozen 1,"));
    let thaw = ThawResponse { results: resp.results[2..3].to_vec(), dry_run: false };
    assert_eq!(bulk_summary(&thaw), "thawed 1, skipped 0, failed 0\n");
    let json = proto_json(&resp, FreezeResponse::MESSAGE_NAME).unwrap();
    assert_eq!(json["results"][1]["outcome"], "BULK_OUTCOME_FAILED");
    assert_eq!(json["results"][1]["code"], "PERMISSION_DENIED");
    assert_eq!(json["until"], "2026-12-05T14:00:00.250Z");
}
use scalekeeper_api::v1::{ApprovalRule, DeploymentStatus, ScheduleWindow};
use serde_json::json;
use tonic_types::{ErrorDetails, FieldViolation};

fn deployment(desired: Option<i32>) -> Deployment {
    Deployment {
        namespace: "shop".into(),
        name: "web".into(),
        desired_replicas: desired,
        spec_replicas: 3,
        status: Some(DeploymentStatus {
            replicas: 3,
            updated_replicas: 3,
            ready_replicas: 2,
            available_replicas: 2,
            observed_generation: 7,
        }),
        sync_status: SyncStatus::Progressing as i32,
        reason: "2 of 3 ready".into(),
        mode: Mode::Enforce as i32,
        guard: Guard::Deny as i32,
        version: "4711".into(),
        last_set_by: "spiffe://c/ns/ci/sa/deployer".into(),
        last_set_at: Some(prost_types::Timestamp { seconds: 1_700_000_000, nanos: 500_000_000 }),
        generation: 7,
        labels: [("app".to_string(), "web".to_string())].into_iter().collect(),
        ..Default::default()
    }
}

fn ts(rfc3339: &str) -> prost_types::Timestamp {
    rfc3339.parse().unwrap()
}

/// A managed Deployment held at 10 until 14:00, with a two-window schedule and both bounds.
fn held() -> Deployment {
    Deployment {
        desired_replicas: Some(4),
        effective_replicas: Some(10),
        rule: Rule::Hold as i32,
        rule_detail: "hold until 2026-11-29T14:00:00Z by alice: INC-123".into(),
        hold: Some(Hold {
            replicas: 10,
            until: Some(ts("2026-11-29T14:00:00.250Z")),
            reason: "INC-123".into(),
            set_by: "alice".into(),
            set_at: Some(ts("2026-11-30T12:00:00Z")),
        }),
        schedule: vec![
            ScheduleWindow { window: "Mon-Fri 08:00-20:00 Europe/Berlin".into(), replicas: 6 },
            ScheduleWindow { window: "Sat-Sun 00:00-24:00 Europe/Berlin".into(), replicas: 2 },
        ],
        min_replicas: Some(2),
        max_replicas: Some(10),
        approval: Some(ApprovalRule { above: Some(20), below: Some(3), max_step_percent: Some(50), approvers: 0 }),
        next_change_at: Some(ts("2026-11-29T14:00:00Z")),
        next_replicas: Some(6),
        ..deployment(Some(4))
    }
}

#[test]
fn table_columns_are_aligned() {
    let rows = vec![
        vec!["shop".to_string(), "web".to_string(), "3".to_string()],
        vec!["payments-long".to_string(), "api".to_string(), "12".to_string()],
    ];
    let out = render_table(&["NAMESPACE", "NAME", "DESIRED"], &rows);
    assert_eq!(
        out,
        "NAMESPACE       NAME   DESIRED\n\
         shop            web    3\n\
         payments-long   api    12\n"
    );
    // Every column starts at the same offset on every line, three spaces after the widest cell.
    let lines: Vec<&str> = out.lines().collect();
    for (col, at) in [("NAME", 16), ("DESIRED", 23)] {
        assert_eq!(&lines[0][at..at + col.len()], col);
        for l in &lines {
            assert_eq!(&l[at - 3..at], "   ", "{l:?}");
            assert_ne!(l.as_bytes()[at], b' ', "{l:?}");
        }
    }
}

#[test]
fn list_and_diff_tables() {
    let mut unmanaged = deployment(None);
    unmanaged.name = "a-much-longer-name".into();
    unmanaged.mode = Mode::Unspecified as i32;
    unmanaged.sync_status = SyncStatus::Unmanaged as i32;
    let declared = Deployment { effective_replicas: Some(3), rule: Rule::Declared as i32, ..deployment(Some(3)) };
    let out = render_list_table(&[declared, held(), unmanaged]);
    assert_eq!(
        out,
        "NAMESPACE   NAME                 DESIRED   EFFECTIVE   SPEC   READY   SYNC          MODE      RULE       NEXT\n\
         shop        web                  3         3           3      2/3     PROGRESSING   ENFORCE   declared   -\n\
         shop        web                  4         10          3      2/3     PROGRESSING   ENFORCE   hold       2026-11-29T14:00:00Z -> 6\n\
         shop        a-much-longer-name   -         -           3      2/3     UNMANAGED     -         -          -\n"
    );
    let scheduled = Deployment { rule: Rule::Schedule as i32, ..held() };
    assert!(render_list_table(&[scheduled]).lines().nth(1).unwrap().contains("   schedule   "));
    let diff = DeploymentDiff {
        namespace: "shop".into(),
        name: "web".into(),
        sync_status: SyncStatus::Drifted as i32,
        desired_replicas: 3,
        spec_replicas: 5,
        ready_replicas: 5,
        mode: Mode::Observe as i32,
        reason: "spec.replicas is 5, effective 8".into(),
        effective_replicas: 8,
        rule: Rule::Schedule as i32,
    };
    assert_eq!(
        render_diff_table(&[diff]),
        "NAMESPACE   NAME   SYNC      DESIRED   EFFECTIVE   SPEC   READY   REASON\n\
         shop        web    DRIFTED   3         8           5      5/5     spec.replicas is 5, effective 8\n"
    );
}

#[test]
fn deployment_block() {
    let out = render_deployment(&deployment(None));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 22);
    assert_eq!(lines[0], "NAMESPACE:   shop");
    assert_eq!(lines[2], "DESIRED:     -");
    assert_eq!(lines[3], "EFFECTIVE:   -");
    assert_eq!(lines[4], "RULE:        -");
    assert_eq!(lines[6], "READY:       2/3");
    assert_eq!(lines[9], "SYNC:        PROGRESSING");
    assert_eq!(lines[11], "MODE:        ENFORCE");
    assert_eq!(lines[12], "GUARD:       DENY");
    assert_eq!(lines[13], "HOLD:        -");
    assert_eq!(lines[14], "SCHEDULE:    -");
    assert_eq!(lines[15], "BOUNDS:      -");
    assert_eq!(lines[16], "APPROVAL:    -");
    assert_eq!(lines[17], "REQUESTS:    -");
    assert_eq!(lines[18], "NEXT CHANGE: -");
    assert_eq!(lines[20], "LAST SET BY: spiffe://c/ns/ci/sa/deployer");
    assert_eq!(lines[21], "LAST SET AT: 2023-11-14T22:13:20.500Z");
    assert!(render_deployment(&deployment(Some(0))).contains("DESIRED:     0\n"));
}

#[test]
fn deployment_block_with_hold_schedule_bounds_and_next_change() {
    assert_eq!(
        render_deployment(&held()),
        "NAMESPACE:   shop\n\
         NAME:        web\n\
         DESIRED:     4\n\
         EFFECTIVE:   10\n\
         RULE:        hold until 2026-11-29T14:00:00Z by alice: INC-123\n\
         SPEC:        3\n\
         READY:       2/3\n\
         UPDATED:     3\n\
         AVAILABLE:   2\n\
         SYNC:        PROGRESSING\n\
         REASON:      2 of 3 ready\n\
         MODE:        ENFORCE\n\
         GUARD:       DENY\n\
         HOLD:        10 until 2026-11-29T14:00:00Z by alice: INC-123\n\
         SCHEDULE:    \"Mon-Fri 08:00-20:00 Europe/Berlin\" -> 6\n             \
         \"Sat-Sun 00:00-24:00 Europe/Berlin\" -> 2\n\
         BOUNDS:      min 2, max 10\n\
         APPROVAL:    above 20, below 3, step 50%, 1 approver\n\
         REQUESTS:    -\n\
         NEXT CHANGE: 2026-11-29T14:00:00Z -> 6\n\
         VERSION:     4711\n\
         LAST SET BY: spiffe://c/ns/ci/sa/deployer\n\
         LAST SET AT: 2023-11-14T22:13:20.500Z\n"
    );
    let only_min = Deployment { max_replicas: None, ..held() };
    assert!(render_deployment(&only_min).contains("\nBOUNDS:      min 2\n"));
    let only_max = Deployment { min_replicas: None, ..held() };
    assert!(render_deployment(&only_max).contains("\nBOUNDS:      max 10\n"));
    // A hold placed another way (kubectl apply) has no set_by.
    let anonymous = Deployment { hold: Some(Hold { set_by: String::new(), ..held().hold.unwrap() }), ..held() };
    assert!(render_deployment(&anonymous).contains("\nHOLD:        10 until 2026-11-29T14:00:00Z: INC-123\n"));
}

#[test]
fn the_approval_rule_in_words_and_in_json() {
    let rule = |above, below, max_step_percent, approvers| ApprovalRule { above, below, max_step_percent, approvers };
    assert_eq!(approval_text(&rule(Some(20), Some(3), Some(50), 1)), "above 20, below 3, step 50%, 1 approver");
    assert_eq!(approval_text(&rule(None, Some(0), None, 2)), "below 0, 2 approvers");
    assert_eq!(approval_text(&rule(None, None, Some(100), 0)), "step 100%, 1 approver", "0 means 1");
    let d = Deployment { approval: Some(rule(Some(20), None, None, 3)), ..deployment(Some(4)) };
    assert!(render_deployment(&d).contains("\nAPPROVAL:    above 20, 3 approvers\n"));
    // -o json: the proto message as it is (approvers 0 stays 0; unset edges are left out).
    let j = deployment_json(&held()).unwrap();
    assert_eq!(j["approval"], json!({ "above": 20, "below": 3, "maxStepPercent": 50, "approvers": 0 }));
    assert!(deployment_json(&deployment(Some(4))).unwrap().get("approval").is_none());
}

fn outcome() -> WriteOutcome {
    WriteOutcome {
        dry_run: false,
        effective_replicas_before: 4,
        effective_replicas_after: 10,
        rule_after: Rule::Hold as i32,
        rule_detail_after: "hold until 2026-11-29T14:00:00Z by alice: INC-123".into(),
        spec_replicas_before: 4,
        spec_replicas_after: 10,
        conflicts: vec![],
        enforcement_suspended: false,
        resumes_enforcement: false,
    }
}

#[test]
fn outcome_block() {
    assert_eq!(
        render_outcome(&outcome()),
        "EFFECTIVE: 4 -> 10 (hold until 2026-11-29T14:00:00Z by alice: INC-123)\n\
         SPEC: 4 -> 10\n"
    );
    let dry = WriteOutcome {
        dry_run: true,
        spec_replicas_after: 4,
        conflicts: vec!["the policy is in Observe mode".into(), "an HPA owns the count".into()],
        enforcement_suspended: true,
        resumes_enforcement: true,
        ..outcome()
    };
    assert_eq!(
        render_outcome(&dry),
        "DRY RUN: nothing was written\n\
         EFFECTIVE: 4 -> 10 (hold until 2026-11-29T14:00:00Z by alice: INC-123)\n\
         SPEC: 4 (unchanged)\n\
         CONFLICT: the policy is in Observe mode\n\
         CONFLICT: an HPA owns the count\n\
         ENFORCEMENT: suspended by the flap guard; this write resumes it\n"
    );
    let suspended = WriteOutcome { enforcement_suspended: true, rule_detail_after: String::new(), ..outcome() };
    assert_eq!(
        render_outcome(&suspended),
        "EFFECTIVE: 4 -> 10\nSPEC: 4 -> 10\nENFORCEMENT: suspended by the flap guard\n"
    );
    // The table output of a write: the Deployment's block, an empty line, the outcome's.
    let d = held();
    assert_eq!(render_write(&d, Some(&dry)), format!("{}\n{}", render_deployment(&d), render_outcome(&dry)));
    assert_eq!(render_write(&d, None), render_deployment(&d));
}

#[test]
fn dry_run_json_is_the_whole_response() {
    let resp = SetReplicasResponse {
        deployment: Some(held()),
        outcome: Some(WriteOutcome { dry_run: true, ..outcome() }),
        scale_request: None,
    };
    let j = write_response_json(&resp).unwrap();
    let keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["deployment", "outcome"]);
    assert_eq!(j["outcome"]["dryRun"], true);
    assert_eq!(j["outcome"]["effectiveReplicasAfter"], 10);
    assert_eq!(j["outcome"]["ruleAfter"], "RULE_HOLD");
    assert_eq!(j["outcome"]["conflicts"], json!([]));
    assert_eq!(j["deployment"]["name"], "web");
    assert_eq!(j["deployment"]["hold"]["until"], "2026-11-29T14:00:00.250Z");
    assert_eq!(j["deployment"]["schedule"][1]["window"], "Sat-Sun 00:00-24:00 Europe/Berlin");
    assert_eq!(j["deployment"], deployment_json(&held()).unwrap());
    // Each write's response is printed under its own message name.
    let clear = ClearDesiredReplicasResponse { deployment: Some(held()), outcome: resp.outcome.clone() };
    assert_eq!(write_response_json(&clear).unwrap(), j);
    let schedule = SetScheduleResponse { deployment: Some(held()), outcome: resp.outcome };
    assert_eq!(write_response_json(&schedule).unwrap(), j);
    assert_eq!(SetScheduleResponse::MESSAGE_NAME, "scalekeeper.v1.SetScheduleResponse");
}

#[test]
fn watch_lines() {
    let ev = WatchDeploymentsResponse { r#type: EventType::Modified as i32, deployment: Some(deployment(Some(3))) };
    assert_eq!(
        render_watch_event(&ev),
        "MODIFIED shop/web desired=3 effective=- spec=3 ready=2 sync=PROGRESSING rule=-"
    );
    let ev = WatchDeploymentsResponse { r#type: EventType::Added as i32, deployment: Some(held()) };
    assert_eq!(
        render_watch_event(&ev),
        "ADDED shop/web desired=4 effective=10 spec=3 ready=2 sync=PROGRESSING rule=hold"
    );
    let synced = WatchDeploymentsResponse { r#type: EventType::Synced as i32, deployment: None };
    assert_eq!(render_watch_event(&synced), "SYNCED (initial state complete)");
    assert_eq!(watch_event_json(&synced).unwrap().to_string(), r#"{"type":"EVENT_TYPE_SYNCED"}"#);
    let j = watch_event_json(&ev).unwrap();
    assert_eq!(j["type"], "EVENT_TYPE_ADDED");
    assert_eq!(j["deployment"]["name"], "web");
    assert!(!j.to_string().contains('\n'));
}

fn explained() -> ExplainResponse {
    use scalekeeper_api::v1::{Autoscaler, FieldOwner, FlapGuard, RuleConsidered};
    ExplainResponse {
        deployment: Some(held()),
        at: Some(ts("2026-11-29T12:00:00.5Z")),
        effective_replicas: Some(10),
        rule: Rule::Hold as i32,
        rule_detail: "hold until 2026-11-29T14:00:00Z by alice: INC-123".into(),
        rules: vec![
            RuleConsidered {
                rule: Rule::Hold as i32,
                name: "hold".into(),
                replicas: 10,
                verdict: Verdict::Wins as i32,
                detail: "held until 2026-11-29T14:00:00Z by alice: INC-123".into(),
            },
            RuleConsidered {
                rule: Rule::Declared as i32,
                name: "declared count".into(),
                replicas: 4,
                verdict: Verdict::Overridden as i32,
                detail: "overridden by the hold".into(),
            },
        ],
        clamped_by: String::new(),
        flap_guard: Some(FlapGuard {
            suspended: true,
            since: Some(ts("2026-11-29T11:58:00Z")),
            until: Some(ts("2026-11-29T12:03:00Z")),
            reason: "field manager \"argocd-controller\" keeps changing spec.replicas".into(),
        }),
        autoscalers: vec![Autoscaler {
            kind: "HorizontalPodAutoscaler".into(),
            name: "keda-hpa-web".into(),
            managed_by: "ScaledObject/web".into(),
            paused_replicas: Some(2),
            note: String::new(),
        }],
        replicas_owners: vec![
            FieldOwner {
                manager: "argocd-controller".into(),
                operation: "Apply".into(),
                subresource: String::new(),
                time: Some(ts("2026-11-29T11:59:00Z")),
                scalekeeper: false,
                tool: "Argo CD".into(),
                fix: "each sync sets it back".into(),
            },
            FieldOwner {
                manager: "scalekeeper".into(),
                operation: "Update".into(),
                subresource: "scale".into(),
                time: None,
                scalekeeper: true,
                tool: String::new(),
                fix: String::new(),
            },
        ],
        last_writer: "argocd-controller".into(),
        notes: vec!["Argo CD (field manager argocd-controller) owns spec.replicas: each sync sets it back".into()],
    }
}

#[test]
fn explain_block() {
    assert_eq!(
        render_explain(&explained()),
        "EFFECTIVE: 10 (hold until 2026-11-29T14:00:00Z by alice: INC-123) at 2026-11-29T12:00:00Z\n\
         DEPLOYMENT: shop/web, spec.replicas 3, PROGRESSING\n\
         RULES:\n\
         RULE             REPLICAS   VERDICT      DETAIL\n\
         hold             10         wins         held until 2026-11-29T14:00:00Z by alice: INC-123\n\
         declared count   4          overridden   overridden by the hold\n\
         BOUNDS: min 2, max 10\n\
         MODE: ENFORCE   GUARD: DENY\n\
         FLAP GUARD: enforcement suspended since 2026-11-29T11:58:00Z until 2026-11-29T12:03:00Z: field manager \"argocd-controller\" keeps changing spec.replicas\n\
         AUTOSCALERS:\n\
         KIND                      NAME           MANAGED BY         PAUSED AT   NOTE\n\
         HorizontalPodAutoscaler   keda-hpa-web   ScaledObject/web   2           -\n\
         SPEC.REPLICAS OWNERS:\n\
         MANAGER             OPERATION   SUBRESOURCE   TIME                   TOOL\n\
         argocd-controller   Apply       -             2026-11-29T11:59:00Z   Argo CD\n\
         scalekeeper         Update      scale         -                      scalekeeper\n\
         LAST WRITER: argocd-controller\n\
         NOTES:\n\
         - Argo CD (field manager argocd-controller) owns spec.replicas: each sync sets it back\n"
    );
    // Unmanaged, nothing found: dashes, never empty sections.
    let bare = ExplainResponse { deployment: Some(deployment(None)), ..Default::default() };
    let out = render_explain(&bare);
    assert!(out.starts_with("EFFECTIVE: - (no ReplicaPolicy: unmanaged) at now\n"), "{out}");
    for line in [
        "RULES: -",
        "FLAP GUARD: not suspended",
        "AUTOSCALERS: -",
        "SPEC.REPLICAS OWNERS: -",
        "LAST WRITER: -",
        "NOTES: -",
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} in {out}");
    }
    let j = explain_json(&explained()).unwrap();
    assert_eq!(j["rules"][0]["verdict"], "VERDICT_WINS");
    assert_eq!(j["replicasOwners"][0]["tool"], "Argo CD");
    assert_eq!(j["autoscalers"][0]["pausedReplicas"], 2);
    assert_eq!(j["flapGuard"]["until"], "2026-11-29T12:03:00Z");
    assert_eq!(verdict_name(Verdict::Invalid as i32), "invalid");
    assert_eq!(verdict_name(0), "-");
    assert_eq!(verdict_name(42), "42");
}

#[test]
fn plan_table() {
    use scalekeeper_api::v1::PlannedChange;
    let change = |at: &str, local: &str, from, to, rule: Rule, cause: &str| PlannedChange {
        at: Some(ts(at)),
        local_time: local.into(),
        from_replicas: from,
        to_replicas: to,
        rule: rule as i32,
        rule_detail: String::new(),
        cause: cause.into(),
    };
    let r = PlanResponse {
        deployment: Some(held()),
        from: Some(ts("2027-03-27T00:00:00Z")),
        until: Some(ts("2027-04-03T00:00:00Z")),
        truncated: false,
        changes: vec![
            change(
                "2027-03-28T01:30:00Z",
                "2027-03-28T03:30:00+02:00[Europe/Berlin]",
                4,
                2,
                Rule::Schedule,
                "window \"Sun 02:30-04:00 Europe/Berlin\" starts",
            ),
            change(
                "2027-03-28T13:00:00Z",
                "2027-03-28T13:00:00+00:00[UTC]",
                2,
                4,
                Rule::Declared,
                "the hold expires; the declared count applies",
            ),
        ],
    };
    assert_eq!(
        render_plan(&r, "7d"),
        "AT (UTC)               LOCAL                                      FROM -> TO   RULE       CAUSE\n\
         2027-03-28T01:30:00Z   2027-03-28T03:30:00+02:00[Europe/Berlin]   4 -> 2       schedule   window \"Sun 02:30-04:00 Europe/Berlin\" starts\n\
         2027-03-28T13:00:00Z   2027-03-28T13:00:00+00:00[UTC]             2 -> 4       declared   the hold expires; the declared count applies\n"
    );
    let cut = PlanResponse { truncated: true, ..r.clone() };
    assert!(
        render_plan(&cut, "31d").ends_with(
            "(the server lists at most 2 changes: more follow within 31d; ask again with a shorter --next)\n"
        ),
        "{}",
        render_plan(&cut, "31d")
    );
    let none = PlanResponse { changes: vec![], ..r.clone() };
    assert_eq!(render_plan(&none, "7d"), "no change within 7d\n");
    let unmanaged = PlanResponse { deployment: Some(deployment(None)), ..none };
    assert_eq!(render_plan(&unmanaged, "1d 12h"), "no change within 1d 12h (no ReplicaPolicy: unmanaged)\n");
    let j = plan_json(&r).unwrap();
    assert_eq!(j["changes"][0]["localTime"], "2027-03-28T03:30:00+02:00[Europe/Berlin]");
    assert_eq!(j["changes"][1]["rule"], "RULE_DECLARED");
}

#[test]
fn rule_names() {
    assert_eq!(rule_name(Rule::Unspecified as i32), "-");
    assert_eq!(rule_name(Rule::Declared as i32), "declared");
    assert_eq!(rule_name(Rule::Hold as i32), "hold");
    assert_eq!(rule_name(Rule::Schedule as i32), "schedule");
    assert_eq!(rule_name(42), "42");
}

#[test]
fn json_with_desired_replicas() {
    let j = deployment_json(&deployment(Some(3))).unwrap();
    assert_eq!(
        j,
        json!({
            "namespace": "shop",
            "name": "web",
            "desiredReplicas": 3,
            "specReplicas": 3,
            "status": {
                "replicas": 3,
                "updatedReplicas": 3,
                "readyReplicas": 2,
                "availableReplicas": 2,
                "observedGeneration": "7",
            },
            "syncStatus": "SYNC_STATUS_PROGRESSING",
            "reason": "2 of 3 ready",
            "mode": "MODE_ENFORCE",
            "guard": "GUARD_DENY",
            "version": "4711",
            "lastSetBy": "spiffe://c/ns/ci/sa/deployer",
            "lastSetAt": "2023-11-14T22:13:20.500Z",
            "generation": "7",
            "labels": { "app": "web" },
            "rule": "RULE_UNSPECIFIED",
            "ruleDetail": "",
            "scaleRequests": [],
            "schedule": [],
        })
    );
    // A declared 0 is still present.
    assert_eq!(deployment_json(&deployment(Some(0))).unwrap()["desiredReplicas"], 0);
}

#[test]
fn json_without_desired_replicas() {
    let d = Deployment {
        namespace: "shop".into(),
        name: "web".into(),
        spec_replicas: 2,
        sync_status: SyncStatus::Unmanaged as i32,
        ..Default::default()
    };
    let j = deployment_json(&d).unwrap();
    assert_eq!(
        j,
        json!({
            "namespace": "shop",
            "name": "web",
            "specReplicas": 2,
            "syncStatus": "SYNC_STATUS_UNMANAGED",
            "reason": "",
            "mode": "MODE_UNSPECIFIED",
            "guard": "GUARD_UNSPECIFIED",
            "version": "",
            "lastSetBy": "",
            "generation": "0",
            "labels": {},
            "rule": "RULE_UNSPECIFIED",
            "ruleDetail": "",
            "scaleRequests": [],
            "schedule": [],
        })
    );
    assert!(j.get("desiredReplicas").is_none());
    // Unknown enum numbers stay numbers.
    let odd = Deployment { sync_status: 42, ..d };
    assert_eq!(deployment_json(&odd).unwrap()["syncStatus"], 42);
}

#[test]
fn diff_json_mapping() {
    let d = DeploymentDiff {
        namespace: "shop".into(),
        name: "web".into(),
        sync_status: SyncStatus::Conflict as i32,
        desired_replicas: 3,
        spec_replicas: 5,
        ready_replicas: 4,
        mode: Mode::Observe as i32,
        reason: "an HPA owns the count".into(),
        effective_replicas: 3,
        rule: Rule::Declared as i32,
    };
    assert_eq!(
        diff_json(&d).unwrap(),
        json!({
            "namespace": "shop", "name": "web", "syncStatus": "SYNC_STATUS_CONFLICT",
            "desiredReplicas": 3, "specReplicas": 5, "readyReplicas": 4,
            "mode": "MODE_OBSERVE", "reason": "an HPA owns the count",
            "effectiveReplicas": 3, "rule": "RULE_DECLARED",
        })
    );
}

#[test]
fn status_with_field_violations() {
    let mut details = ErrorDetails::new();
    details.add_bad_request_violation("replicas", "must be between 0 and 100");
    details.add_bad_request_violation("name", "must be a DNS-1123 label");
    let status = Status::with_error_details(Code::InvalidArgument, "invalid SetReplicasRequest", details);
    assert_eq!(
        render_status(&status),
        "error: INVALID_ARGUMENT: invalid SetReplicasRequest\n  \
         - replicas: must be between 0 and 100\n  \
         - name: must be a DNS-1123 label\n"
    );
    let err = CliError::from(status);
    assert_eq!(err.exit_code(), 1);
    assert_eq!(
        render_error(&err),
        render_status(&Status::with_error_details(
            Code::InvalidArgument,
            "invalid SetReplicasRequest",
            ErrorDetails::with_bad_request(vec![
                FieldViolation::new("replicas", "must be between 0 and 100"),
                FieldViolation::new("name", "must be a DNS-1123 label"),
            ]),
        ))
    );
}

#[test]
fn violations_already_in_the_message_are_not_repeated() {
    let status = Status::with_error_details(
        Code::InvalidArgument,
        "invalid request: replicas: -1 is negative",
        ErrorDetails::with_bad_request(vec![FieldViolation::new("replicas", "-1 is negative")]),
    );
    assert_eq!(render_status(&status), "error: INVALID_ARGUMENT: invalid request: replicas: -1 is negative\n");
}

#[test]
fn status_hints() {
    let out = render_status(&Status::permission_denied("spiffe://c/sa/x may not set shop/web"));
    assert!(out.starts_with("error: PERMISSION_DENIED: spiffe://c/sa/x may not set shop/web\nhint: "), "{out}");
    assert!(out.contains("client certificate"), "{out}");
    let out = render_status(&Status::unavailable("kubernetes API unreachable"));
    assert!(out.starts_with("error: UNAVAILABLE: kubernetes API unreachable\n"), "{out}");
    assert!(out.contains("the server or Kubernetes is unavailable; retry"), "{out}");
    assert_eq!(render_status(&Status::not_found("")), "error: NOT_FOUND\n");
    let out = render_status(&Status::failed_precondition("spec.replicas is 3, not 4 (--if-current)"));
    assert!(out.starts_with("error: FAILED_PRECONDITION: spec.replicas is 3, not 4 (--if-current)\nhint: "), "{out}");
    assert!(out.contains("`scalekeeper get NAMESPACE/NAME` shows the current state"), "{out}");
    // A write that needs approval, and an approval refused: the server marks them with an
    // ErrorInfo reason, and its message (with its own hint) is printed as it is, with no
    // generic hint about bounds under it; whatever the words.
    let two_person = |reason: &str, msg: &str| {
        use tonic_types::{ErrorDetails, StatusExt as _};
        let info = ErrorDetails::with_error_info(
            reason,
            scalekeeper_api::ERROR_DOMAIN,
            [(scalekeeper_api::METADATA_SCALE_REQUEST.to_string(), "shop/web-7f3k2".to_string())],
        );
        Status::with_error_details(Code::FailedPrecondition, msg, info)
    };
    for (reason, msg) in [
        (scalekeeper_api::REASON_APPROVAL_REQUIRED, "this change needs 1 approval by another identity: 0 is below 3"),
        (scalekeeper_api::REASON_SCALE_REQUEST_REFUSED, "dev-admin requested this change: a second identity must"),
    ] {
        let err = CliError::from(two_person(reason, msg));
        assert_eq!(render_error(&err), format!("error: FAILED_PRECONDITION: {msg}\n"), "{reason}");
        assert_eq!(err.exit_code(), 1);
    }
    // The same words without the reason get the generic hint: the reason decides.
    let out = render_status(&Status::failed_precondition("this change needs 1 approval by another identity"));
    assert!(out.contains("\nhint: "), "{out}");
    assert_eq!(code_name(Code::FailedPrecondition), "FAILED_PRECONDITION");
    // A delete the rule is in the way of.
    let msg = "ReplicaPolicy shop/web has an approval rule: remove it first (`scalekeeper approval clear shop/web`, \
               which needs approval), then clear the declaration";
    let out = render_status(&Status::failed_precondition(msg));
    assert_eq!(out, format!("error: FAILED_PRECONDITION: {msg}\n"), "no generic hint under it");
}

fn entry(kind: ChangeKind, from: Option<i32>, to: i32, who: &str, reason: &str) -> HistoryEntry {
    HistoryEntry {
        time: Some(prost_types::Timestamp { seconds: 1_796_040_000, nanos: 250_000_000 }),
        from_replicas: from,
        to_replicas: to,
        kind: kind as i32,
        who: who.into(),
        reason: reason.into(),
    }
}

#[test]
fn the_history_table_has_time_what_from_to_who_and_reason() {
    let table = render_history_table(&[
        entry(ChangeKind::Declared, None, 5, "alice", "declared through the API (version 1)"),
        entry(ChangeKind::DriftCorrected, Some(7), 5, "kubectl", ""),
    ]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("TIME") && lines[0].contains("FROM → TO") && lines[0].ends_with("REASON"));
    assert!(lines[1].starts_with("2026-11-30T12:00:00Z   Declared"), "{table}");
    assert!(lines[1].contains("→ 5") && lines[1].contains("alice"), "{table}");
    assert!(lines[2].contains("DriftCorrected") && lines[2].contains("7 → 5") && lines[2].ends_with("kubectl   -"));
    assert_eq!(render_history_table(&[]), "No changes recorded.\n");
    assert_eq!(change_kind_name(ChangeKind::GuardRefused as i32), "GuardRefused");
    assert_eq!(change_kind_name(99), "99");
}

#[test]
fn undo_says_what_it_will_declare() {
    let undone = entry(ChangeKind::Declared, Some(5), 7, "alice", "");
    assert_eq!(
        undo_intent("shop/web", &undone, 5),
        "shop/web: declared 7 → undo to 5 (declared by alice at 2026-11-30T12:00:00Z)\n"
    );
    let anonymous = HistoryEntry { who: String::new(), time: None, ..undone };
    assert_eq!(undo_intent("shop/web", &anonymous, 5), "shop/web: declared 7 → undo to 5 (declared)\n");
}

#[test]
fn open_scale_requests_show_in_the_block_and_the_watch_line() {
    let request = |name: &str, phase: ScaleRequestPhase, change: &str| ScaleRequest {
        name: name.into(),
        phase: phase as i32,
        change: change.into(),
        requester: "alice".into(),
        approvals_needed: 2,
        approved_by: vec!["bob".into()],
        ..Default::default()
    };
    let mut d = deployment(Some(3));
    d.scale_requests = vec![
        request("web-x7k2p", ScaleRequestPhase::Pending, "declare 0 replicas"),
        request("web-q9z4m", ScaleRequestPhase::ReviewRequired, "hold 40 replicas for 1h\nINJECTED: yes"),
    ];
    let block = render_deployment(&d);
    assert!(
        block.contains(
            "\nREQUESTS:    web-x7k2p Pending 1/2: declare 0 replicas (alice)\n             web-q9z4m ReviewRequired 1/2: \
             hold 40 replicas for 1h\\nINJECTED: yes (alice)\n"
        ),
        "another identity's text cannot draw lines of its own:\n{block}"
    );
    let event = WatchDeploymentsResponse { r#type: EventType::Modified as i32, deployment: Some(d) };
    assert!(
        render_watch_event(&event).ends_with(" requests=web-x7k2p:Pending,web-q9z4m:ReviewRequired"),
        "{}",
        render_watch_event(&event)
    );
}
