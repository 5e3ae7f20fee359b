//! The two-person rule (issue 27), over mTLS against kubesim and, with
//! `SCALEKEEPER_TEST_KUBECONFIG`, the real API server: a change past a policy's approval band
//! becomes a ScaleRequest; another identity holding the RBAC verb `approve` on scalerequests
//! (checked through a SubjectAccessReview) approves it, bound to the digest it read, and the
//! change is applied; self-approval, a second approval by one identity (with another
//! certificate too), a changed digest and a request whose declaration moved are refused or
//! superseded; every step is audited with the digest. A member of a break-glass group applies
//! such a change at once, as a hold of at most an hour, audited, announced and counted, and it
//! waits for another identity's review. The roles are the chart's
//! (`files/user-roles.yaml`), so these tests check them too.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Options, TargetEnv};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use kube::Api;
use kube::api::{ListParams, ObjectMeta, PostParams};
use scalekeeper_api::v1 as pb;
use scalekeeper_api::v1::scale_service_client::ScaleServiceClient;
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt as _;

const ALICE: &str = "alice-requester";
const BOB: &str = "bob-approver";
const CAROL: &str = "carol-approver";
const NED: &str = "ned-editor";

async fn start(audit_log: &std::path::Path) -> TargetEnv {
    let env = common::start_target(Options {
        audit_log: Some(audit_log.to_path_buf()),
        clients: vec![ALICE.into(), BOB.into(), CAROL.into(), NED.into()],
        authorization: common::rbac(),
        ..Default::default()
    })
    .await;
    let shop = env.ns("shop");
    let editor = chart_role(&env, "editor").await;
    let approver = chart_role(&env, "approver").await;
    // Alice may set and approve (so her self-approval is refused by the rule, not by RBAC);
    // Ned may set but not approve.
    for (user, role) in [(ALICE, &editor), (ALICE, &approver), (BOB, &approver), (CAROL, &approver), (NED, &editor)] {
        common::bind(&env, &shop, role, user).await;
    }
    env
}

/// A ClusterRole with the chart's rules for `role` (`files/user-roles.yaml`).
async fn chart_role(env: &TargetEnv, role: &str) -> String {
    let roles: serde_json::Value =
        serde_yaml::from_str(include_str!("../../../charts/scalekeeper/files/user-roles.yaml")).unwrap();
    let rules: Vec<PolicyRule> = serde_json::from_value(roles[role].clone()).unwrap();
    assert!(!rules.is_empty(), "the chart has no {role} rules");
    let name = format!("scalekeeper-test-{role}-{}", env.ns("x").trim_start_matches('x').trim_matches('-'));
    let api: Api<ClusterRole> = Api::all(env.kube.clone());
    let _ = api.delete(&name, &Default::default()).await;
    let cr = ClusterRole {
        metadata: ObjectMeta { name: Some(name.clone()), ..Default::default() },
        rules: Some(rules),
        ..Default::default()
    };
    api.create(&PostParams::default(), &cr).await.unwrap();
    name
}

fn set(ns: &str, replicas: i32) -> pb::SetReplicasRequest {
    pb::SetReplicasRequest { namespace: ns.into(), name: "web".into(), replicas, ..Default::default() }
}

fn rule(ns: &str, above: i32, below: i32, approvers: i32) -> pb::SetApprovalRequest {
    pb::SetApprovalRequest {
        namespace: ns.into(),
        name: "web".into(),
        approval: Some(pb::ApprovalRule { above: Some(above), below: Some(below), max_step_percent: None, approvers }),
        ..Default::default()
    }
}

async fn requests(c: &mut ScaleServiceClient<Channel>, ns: &str, all: bool) -> Vec<pb::ScaleRequest> {
    c.list_scale_requests(pb::ListScaleRequestsRequest { namespace: ns.into(), all })
        .await
        .unwrap()
        .into_inner()
        .requests
}

fn approve(r: &pb::ScaleRequest, digest: &str) -> pb::ApproveScaleRequestRequest {
    pb::ApproveScaleRequestRequest { namespace: r.namespace.clone(), name: r.name.clone(), digest: digest.into() }
}

/// The request a refused write names in its hint: `scalekeeper approve NS/NAME`.
fn hinted(status: &tonic::Status) -> String {
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let m = status.message();
    let at = m.find("scalekeeper approve ").unwrap_or_else(|| panic!("no hint in {m:?}"));
    let rest = &m[at + "scalekeeper approve ".len()..];
    let target: String = rest.chars().take_while(|c| !c.is_whitespace() && *c != '`').collect();
    target.split_once('/').unwrap().1.to_string()
}

/// The phase and the approval count the stored ScaleRequest `ns/name` holds in its status:
/// what `kubectl get scalerequests` prints in its PHASE and APPROVALS columns.
async fn stored_status(env: &TargetEnv, ns: &str, name: &str) -> (Option<String>, Option<u32>) {
    let api: Api<scalekeeper::scalerequest::ScaleRequest> = Api::namespaced(env.kube.clone(), ns);
    let status = api.get(name).await.unwrap().status.unwrap_or_default();
    (status.phase, status.approval_count)
}

/// The value of `scalekeeper_scale_requests{phase="PHASE"}` the server exposes now.
async fn requests_in(env: &TargetEnv, phase: &str) -> Option<f64> {
    requests_in_env(env.http_addr, phase).await
}

/// [`requests_in`] of the server whose HTTP port is `http`.
async fn requests_in_env(http: std::net::SocketAddr, phase: &str) -> Option<f64> {
    let (_, body) = common::http_get(http, "/metrics").await;
    let series = format!("scalekeeper_scale_requests{{phase=\"{phase}\"}} ");
    body.lines().find_map(|l| l.strip_prefix(series.as_str())).and_then(|v| v.trim().parse().ok())
}

/// Waits until the server's gauge of `phase` reads `want` (on kubesim, where this test's
/// requests are the only ones) or at least `want` (on a shared real cluster).
async fn wait_for_gauge(env: &TargetEnv, phase: &str, want: f64) {
    let exact = env.sim().is_some();
    testkit::wait_for_async(
        &format!("scale_requests{{phase={phase}}} {want}"),
        std::time::Duration::from_secs(15),
        testkit::POLL,
        || async { requests_in(env, phase).await.is_some_and(|v| if exact { v == want } else { v >= want }) },
    )
    .await;
}

fn get(ns: &str) -> pb::GetDeploymentRequest {
    pb::GetDeploymentRequest { namespace: ns.into(), name: "web".into() }
}

/// The open ScaleRequests of shop/web in the first event of `watch` about it whose requests
/// pass `want` (within 15 s).
async fn next_requests(
    watch: &mut tonic::Streaming<pb::WatchDeploymentsResponse>,
    want: impl Fn(&Vec<pb::ScaleRequest>) -> bool,
) -> Vec<pb::ScaleRequest> {
    tokio::time::timeout(std::time::Duration::from_secs(15), async {
        loop {
            let ev = watch.message().await.unwrap().expect("the watch goes on");
            if let Some(d) = ev.deployment.filter(|d| d.name == "web")
                && want(&d.scale_requests)
            {
                return d.scale_requests;
            }
        }
    })
    .await
    .expect("the watch shows the requests in time")
}

async fn events(env: &TargetEnv, ns: &str, reason: &str) -> Vec<String> {
    let api: Api<Event> = Api::namespaced(env.kube.clone(), ns);
    let all = api.list(&ListParams::default()).await.unwrap().items;
    all.into_iter().filter(|e| e.reason.as_deref() == Some(reason)).filter_map(|e| e.note).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_past_the_band_waits_for_another_identity_and_is_applied_once_approved() {
    let audit_dir = tempfile::tempdir().unwrap();
    let audit_log = audit_dir.path().join("audit.log");
    let env = start(&audit_log).await;
    let shop = env.ns("shop");
    let (mut alice, mut bob, mut ned) =
        (env.client_as(ALICE).await, env.client_as(BOB).await, env.client_as(NED).await);

    alice.set_replicas(set(&shop, 4)).await.unwrap();
    // The first rule is free: there was none to ask.
    alice.set_approval(rule(&shop, 10, 2, 1)).await.expect("a first rule needs no approval");
    let d = alice.set_replicas(set(&shop, 3)).await.expect("inside the band: applied at once").into_inner();
    assert_eq!(d.deployment.unwrap().approval.unwrap().above, Some(10));
    assert_eq!(env.spec_replicas(&shop, "web").await, 3);

    // A dry run past the band says so and asks nobody.
    let dry = alice.set_replicas(pb::SetReplicasRequest { dry_run: true, ..set(&shop, 0) }).await.unwrap_err();
    assert_eq!(dry.code(), Code::FailedPrecondition, "{dry:?}");
    assert!(dry.message().contains("0 is below"), "{}", dry.message());
    assert!(requests(&mut alice, &shop, true).await.is_empty(), "a dry run makes no request");

    // A watch of the namespace sees the request appear, and close.
    let mut watch = bob
        .watch_deployments(pb::WatchDeploymentsRequest { namespace: shop.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    while watch.message().await.unwrap().expect("the snapshot").r#type != pb::EventType::Synced as i32 {}

    // Past the band: held back as a ScaleRequest, nothing scaled.
    let held = alice.set_replicas(set(&shop, 0)).await.unwrap_err();
    let name = hinted(&held);
    assert!(name.starts_with("web-"), "{name}");
    // Clients tell it apart by its ErrorInfo, not its words.
    let info = held.get_details_error_info().expect("an ErrorInfo");
    assert_eq!((info.reason.as_str(), info.domain.as_str()), ("APPROVAL_REQUIRED", "scalekeeper.dev"));
    assert_eq!(info.metadata.get("scaleRequest"), Some(&format!("{shop}/{name}")));
    assert!(held.message().contains("0 is below"), "{}", held.message());
    assert_eq!(env.spec_replicas(&shop, "web").await, 3, "nothing applied before approval");
    let listed = requests(&mut alice, &shop, false).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let r = &listed[0];
    assert_eq!((r.name.as_str(), r.requester.as_str(), r.deployment.as_str()), (name.as_str(), ALICE, "web"));
    assert_eq!((r.change.as_str(), r.replicas), ("declare 0 replicas", Some(0)));
    assert_eq!((r.phase(), r.approvals_needed), (pb::ScaleRequestPhase::Pending, 1));
    assert_eq!(stored_status(&env, &shop, &name).await, (Some("Pending".into()), Some(0)), "kubectl's columns");
    assert_eq!(r.digest.len(), 64, "{}", r.digest);
    assert!(r.expires_at.is_some() && !r.based_on_version.is_empty());
    wait_for_gauge(&env, "Pending", 1.0).await;
    let seen = next_requests(&mut watch, |rs| !rs.is_empty()).await;
    assert_eq!(
        seen.iter().map(|r| (r.name.as_str(), r.phase())).collect::<Vec<_>>(),
        [(name.as_str(), pb::ScaleRequestPhase::Pending)]
    );
    let got = alice.get_deployment(get(&shop)).await.unwrap().into_inner().deployment.unwrap();
    assert_eq!(got.scale_requests.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), [name.as_str()]);

    // Who may not approve: the requester (even holding the verb), an editor without it, an
    // approval of another digest.
    let own = alice.approve_scale_request(approve(r, &r.digest)).await.unwrap_err();
    assert_eq!(own.code(), Code::FailedPrecondition, "{own:?}");
    assert!(own.message().contains("cannot approve"), "{}", own.message());
    assert_eq!(own.get_details_error_info().map(|i| i.reason), Some("SCALE_REQUEST_REFUSED".into()));
    let no_verb = ned.approve_scale_request(approve(r, &r.digest)).await.unwrap_err();
    assert_eq!(no_verb.code(), Code::PermissionDenied, "{no_verb:?}");
    assert!(
        no_verb.message().contains(&format!("user \"{NED}\" may not approve scalerequests.scalekeeper.dev")),
        "{}",
        no_verb.message()
    );
    let stale = bob.approve_scale_request(approve(r, &"0".repeat(64))).await.unwrap_err();
    assert_eq!(stale.code(), Code::FailedPrecondition, "{stale:?}");
    assert!(stale.message().contains("changed"), "{}", stale.message());
    let still = requests(&mut alice, &shop, false).await;
    assert!(still[0].approvals.is_empty() && still[0].phase() == pb::ScaleRequestPhase::Pending, "{still:?}");
    assert_eq!(env.spec_replicas(&shop, "web").await, 3);

    // Bob approves what he read: applied, in Alice's name, naming Bob.
    let done = bob.approve_scale_request(approve(r, &r.digest)).await.expect("bob approves").into_inner();
    let after = done.request.unwrap();
    assert_eq!(after.phase(), pb::ScaleRequestPhase::Applied, "{after:?}");
    assert_eq!(stored_status(&env, &shop, &name).await, (Some("Applied".into()), Some(1)), "kubectl's columns");
    assert_eq!(after.approvals.iter().map(|a| a.identity.as_str()).collect::<Vec<_>>(), [BOB]);
    assert_eq!(done.outcome.unwrap().spec_replicas_after, 0);
    assert_eq!(env.spec_replicas(&shop, "web").await, 0);
    let policy = env.policy(&shop, "web").await.unwrap();
    assert_eq!(policy["spec"]["replicas"], 0);
    assert_eq!(policy["metadata"]["annotations"]["scalekeeper.dev/last-set-by"], ALICE);
    let again = bob.approve_scale_request(approve(r, &r.digest)).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert!(again.message().contains("Applied"), "{}", again.message());
    assert!(requests(&mut alice, &shop, false).await.is_empty(), "done requests are listed only with all");
    next_requests(&mut watch, Vec::is_empty).await;
    // The history has the request with its approval.
    let history = alice
        .get_history(pb::GetHistoryRequest { namespace: shop.clone(), name: "web".into() })
        .await
        .unwrap()
        .into_inner();
    let r_done = history.scale_requests.iter().find(|x| x.name == name).expect("the request in the history");
    assert_eq!(
        (r_done.phase(), r_done.approved_by.as_slice()),
        (pb::ScaleRequestPhase::Applied, [BOB.to_string()].as_slice())
    );
    wait_for_gauge(&env, "Applied", 1.0).await;
    assert_eq!(requests(&mut alice, &shop, true).await.len(), 1);

    // What the server says: Events and the audit trail, each with the request.
    let requested = events(&env, &shop, "ScaleRequested").await;
    assert!(requested.iter().any(|n| n.contains(ALICE) && n.contains("declare 0 replicas")), "{requested:?}");
    let approved = events(&env, &shop, "ScaleRequestApproved").await;
    assert!(approved.iter().any(|n| n.contains(BOB) && n.contains("1 of 1")), "{approved:?}");
    let declared = events(&env, &shop, "ReplicasDeclared").await;
    assert!(
        declared
            .iter()
            .any(|n| n.contains(&format!("{ALICE} declared 0 replicas")) && n.contains(&format!("approved by {BOB}"))),
        "{declared:?}"
    );
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&audit_log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let asked = lines
        .iter()
        .find(|l| l["method"] == "SetReplicas" && l["code"] == "FAILED_PRECONDITION" && l["scaleRequest"].is_object())
        .expect("the held-back write is audited with its request");
    assert_eq!((asked["user"].as_str(), asked["scaleRequest"]["name"].as_str()), (Some(ALICE), Some(name.as_str())));
    assert_eq!(asked["scaleRequest"]["digest"], r.digest.as_str());
    let yes = lines
        .iter()
        .find(|l| l["method"] == "ApproveScaleRequest" && l["code"] == "OK")
        .expect("the approval is audited");
    assert_eq!((yes["user"].as_str(), yes["verb"].as_str()), (Some(BOB), Some("approve")));
    assert_eq!(
        (yes["scaleRequest"]["digest"].as_str(), yes["scaleRequest"]["phase"].as_str()),
        (Some(r.digest.as_str()), Some("Applied"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l["method"] == "ApproveScaleRequest" && l["user"] == NED && l["code"] == "PERMISSION_DENIED"),
        "the refused approval is audited"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_identity_counts_once_a_moved_declaration_supersedes_and_denials_and_the_rule_itself_hold() {
    let audit_dir = tempfile::tempdir().unwrap();
    let env = start(&audit_dir.path().join("audit.log")).await;
    let shop = env.ns("shop");
    let (mut alice, mut bob, mut carol) =
        (env.client_as(ALICE).await, env.client_as(BOB).await, env.client_as(CAROL).await);
    alice.set_replicas(set(&shop, 4)).await.unwrap();
    alice.set_approval(rule(&shop, 10, 2, 2)).await.unwrap();

    // Two approvals needed: Bob's counts once, whichever certificate he uses.
    let name = hinted(&alice.set_replicas(set(&shop, 40)).await.unwrap_err());
    let r = requests(&mut bob, &shop, false).await.into_iter().find(|r| r.name == name).unwrap();
    let one = bob.approve_scale_request(approve(&r, &r.digest)).await.unwrap().into_inner();
    let one = one.request.unwrap();
    assert_eq!((one.phase(), one.approvals.len()), (pb::ScaleRequestPhase::Pending, 1), "{one:?}");
    let mut bob_again = common::client_with_group(&env, BOB, "ops").await;
    let twice = bob_again.approve_scale_request(approve(&r, &r.digest)).await.unwrap_err();
    assert_eq!(twice.code(), Code::FailedPrecondition, "{twice:?}");
    assert!(twice.message().contains("already"), "{}", twice.message());
    assert_eq!(env.spec_replicas(&shop, "web").await, 4);

    // The declaration moves (inside the band, no approval needed): Carol's approval finds it
    // moved, and the request is superseded with nothing written.
    alice.set_replicas(set(&shop, 5)).await.unwrap();
    let late = carol.approve_scale_request(approve(&r, &r.digest)).await.unwrap().into_inner();
    let late = late.request.unwrap();
    assert_eq!(late.phase(), pb::ScaleRequestPhase::Superseded, "{late:?}");
    assert!(late.outcome.contains("the declaration moved since the request"), "{}", late.outcome);
    assert_eq!(env.spec_replicas(&shop, "web").await, 5);
    assert!(!events(&env, &shop, "ScaleRequestSuperseded").await.is_empty());

    // Denied: never applied, never approvable after.
    let name = hinted(&alice.set_replicas(set(&shop, 1)).await.unwrap_err());
    let r = requests(&mut carol, &shop, false).await.into_iter().find(|r| r.name == name).unwrap();
    let no_reason = pb::DenyScaleRequestRequest { namespace: shop.clone(), name: name.clone(), reason: String::new() };
    assert_eq!(carol.deny_scale_request(no_reason).await.unwrap_err().code(), Code::InvalidArgument);
    let deny = pb::DenyScaleRequestRequest {
        namespace: shop.clone(),
        name: name.clone(),
        reason: "not during the sale".into(),
    };
    let denied = carol.deny_scale_request(deny).await.unwrap().into_inner().request.unwrap();
    assert_eq!(denied.phase(), pb::ScaleRequestPhase::Denied);
    assert!(denied.outcome.contains("not during the sale"), "{}", denied.outcome);
    let after = bob.approve_scale_request(approve(&r, &r.digest)).await.unwrap_err();
    assert!(after.message().contains("Denied"), "{}", after.message());
    assert_eq!(env.spec_replicas(&shop, "web").await, 5);

    // The rule itself: changing or removing it is held back, and so is deleting the policy.
    let change = alice.set_approval(rule(&shop, 100, 0, 1)).await.unwrap_err();
    let name = hinted(&change);
    let remove = alice
        .set_approval(pb::SetApprovalRequest { namespace: shop.clone(), name: "web".into(), ..Default::default() })
        .await
        .unwrap_err();
    hinted(&remove);
    let clear = alice
        .clear_desired_replicas(pb::ClearDesiredReplicasRequest {
            namespace: shop.clone(),
            name: "web".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(clear.code(), Code::FailedPrecondition);
    assert!(clear.message().contains("approval rule"), "{}", clear.message());
    // Approved by two others, the new rule applies.
    let r = requests(&mut bob, &shop, false).await.into_iter().find(|r| r.name == name).unwrap();
    bob.approve_scale_request(approve(&r, &r.digest)).await.unwrap();
    let applied = carol.approve_scale_request(approve(&r, &r.digest)).await.unwrap().into_inner().request.unwrap();
    assert_eq!(applied.phase(), pb::ScaleRequestPhase::Applied, "{applied:?}");
    let policy = env.policy(&shop, "web").await.unwrap();
    assert_eq!(
        (policy["spec"]["approval"]["above"].as_i64(), policy["spec"]["approval"]["approvers"].as_i64()),
        (Some(100), Some(1))
    );
    alice.set_replicas(set(&shop, 40)).await.expect("inside the new band");
    // A hold past the band is held back with its reason.
    let hold = pb::SetReplicasRequest {
        hold_for: Some(prost_types::Duration { seconds: 600, nanos: 0 }),
        reason: "INC-8: load test".into(),
        ..set(&shop, 200)
    };
    let name = hinted(&alice.set_replicas(hold).await.unwrap_err());
    let r = requests(&mut bob, &shop, false).await.into_iter().find(|r| r.name == name).unwrap();
    assert_eq!(
        (r.change.as_str(), r.replicas, r.reason.as_str()),
        ("hold 200 replicas for 10m", Some(200), "INC-8: load test")
    );
    assert_eq!(r.needs_approval_because, ["200 is above the approval band's upper edge 100"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_applies_at_once_capped_audited_announced_and_waits_for_another_identitys_review() {
    const GLASS: &str = "oncall-break-glass";
    const DAN: &str = "dan-oncall";
    let audit_dir = tempfile::tempdir().unwrap();
    let audit_log = audit_dir.path().join("audit.log");
    let env = common::start_target(Options {
        audit_log: Some(audit_log.clone()),
        clients: vec![ALICE.into(), BOB.into()],
        authorization: scalekeeper::server::AuthorizationConfig {
            break_glass_groups: vec![GLASS.into()],
            ..common::rbac()
        },
        ..Default::default()
    })
    .await;
    let shop = env.ns("shop");
    let (editor, approver) = (chart_role(&env, "editor").await, chart_role(&env, "approver").await);
    for (user, role) in [(ALICE, &editor), (DAN, &editor), (DAN, &approver), (BOB, &approver)] {
        common::bind(&env, &shop, role, user).await;
    }
    let (mut alice, mut bob) = (env.client_as(ALICE).await, env.client_as(BOB).await);
    let mut dan = common::client_with_group(&env, DAN, GLASS).await;
    alice.set_replicas(set(&shop, 4)).await.unwrap();
    alice.set_approval(rule(&shop, 10, 2, 1)).await.unwrap();
    let glass = |replicas: i32, reason: &str| pb::SetReplicasRequest {
        break_glass: true,
        reason: reason.into(),
        hold_for: Some(prost_types::Duration { seconds: 5 * 3600, nanos: 0 }),
        ..set(&shop, replicas)
    };

    // Only members of a break-glass group, and only with a reason.
    let not_member = alice.set_replicas(glass(0, "INC-9")).await.unwrap_err();
    assert_eq!(not_member.code(), Code::PermissionDenied, "{not_member:?}");
    assert!(not_member.message().contains(&format!("break-glass groups ({GLASS})")), "{}", not_member.message());
    let no_reason = dan.set_replicas(glass(0, " ")).await.unwrap_err();
    assert_eq!(no_reason.code(), Code::InvalidArgument, "{no_reason:?}");
    assert_eq!(env.spec_replicas(&shop, "web").await, 4, "nothing applied");

    // Dan breaks glass: applied at once, as a hold capped at an hour.
    let t0 = jiff::Timestamp::now();
    let done = dan.set_replicas(glass(0, "INC-9: the queue is poisoned")).await.expect("break-glass").into_inner();
    assert_eq!(env.spec_replicas(&shop, "web").await, 0, "applied at once");
    let policy = env.policy(&shop, "web").await.unwrap();
    assert_eq!((policy["spec"]["replicas"].as_i64(), policy["spec"]["hold"]["replicas"].as_i64()), (Some(4), Some(0)));
    let until: jiff::Timestamp = policy["spec"]["hold"]["until"].as_str().unwrap().parse().unwrap();
    let held = until.duration_since(t0).as_secs();
    assert!((3590..=3630).contains(&held), "the 5 h asked for is capped at 1 h: {held} s");
    let sr = done.scale_request.expect("the break-glass record");
    assert_eq!(sr.phase(), pb::ScaleRequestPhase::ReviewRequired, "{sr:?}");
    assert_eq!(
        stored_status(&env, &shop, &sr.name).await,
        (Some("ReviewRequired".into()), Some(0)),
        "kubectl's columns"
    );
    assert_eq!((sr.break_glass_group.as_str(), sr.requester.as_str()), (GLASS, DAN));
    assert!(sr.outcome.contains("applied by break-glass"), "{}", sr.outcome);
    wait_for_gauge(&env, "ReviewRequired", 1.0).await;
    let (_, metrics) = common::http_get(env.http_addr, "/metrics").await;
    assert!(metrics.contains(&format!("scalekeeper_break_glass_total{{group=\"{GLASS}\"}} 1")), "{metrics}");
    let used = events(&env, &shop, "BreakGlassUsed").await;
    assert!(used.iter().any(|n| n.contains(DAN) && n.contains("INC-9") && n.contains(&sr.name)), "{used:?}");
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&audit_log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let audited = lines
        .iter()
        .find(|l| l["method"] == "SetReplicas" && l["code"] == "OK" && l["scaleRequest"].is_object())
        .expect("the break-glass write is audited with its request");
    assert_eq!(audited["user"], DAN);
    assert_eq!(
        (audited["scaleRequest"]["phase"].as_str(), audited["scaleRequest"]["breakGlassGroup"].as_str()),
        (Some("ReviewRequired"), Some(GLASS))
    );

    // The review: never by Dan, never a denial, once by Bob.
    let own = dan.approve_scale_request(approve(&sr, &sr.digest)).await.unwrap_err();
    assert!(own.code() == Code::FailedPrecondition && own.message().contains("cannot approve"), "{own:?}");
    let denied = bob
        .deny_scale_request(pb::DenyScaleRequestRequest {
            namespace: shop.clone(),
            name: sr.name.clone(),
            reason: "no".into(),
        })
        .await
        .unwrap_err();
    assert!(denied.message().contains("applied by break-glass"), "{denied:?}");
    let listed = requests(&mut bob, &shop, false).await;
    assert_eq!(listed.iter().map(|r| r.phase()).collect::<Vec<_>>(), [pb::ScaleRequestPhase::ReviewRequired]);
    let reviewed = bob.approve_scale_request(approve(&sr, &sr.digest)).await.expect("bob reviews").into_inner();
    let r = reviewed.request.unwrap();
    assert_eq!((r.phase(), r.decided_by.as_str()), (pb::ScaleRequestPhase::Reviewed, BOB));
    assert_eq!(stored_status(&env, &shop, &r.name).await, (Some("Reviewed".into()), Some(1)), "kubectl's columns");
    assert!(
        r.outcome.starts_with("applied by break-glass") && r.outcome.ends_with(&format!("; reviewed by {BOB}")),
        "{}",
        r.outcome
    );
    assert!(reviewed.outcome.is_none(), "a review writes nothing");
    wait_for_gauge(&env, "ReviewRequired", 0.0).await;
    assert!(events(&env, &shop, "ScaleRequestReviewed").await.iter().any(|n| n.contains(BOB)));

    // Inside the band, break-glass changes nothing: written as any write, no record.
    let plain = dan.set_replicas(glass(5, "INC-9")).await.unwrap().into_inner();
    assert!(plain.scale_request.is_none(), "{plain:?}");
}

/// kubesim only (a CRD is cluster-wide): a cluster whose ScaleRequest CRD is missing (set up
/// before the two-person rule) is served. The server gets ready, reads and writes work; only
/// the requests' watch fails, retried in the background without counting for readiness.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_without_the_scale_request_crd_is_served() {
    let env = common::start_without_crd("scalerequests.scalekeeper.dev").await;
    let mut c = env.client().await;
    c.set_replicas(pb::SetReplicasRequest { replicas: 2, ..set("shop", 2) }).await.expect("a write");
    let d = c.get_deployment(get("shop")).await.expect("a read").into_inner().deployment.unwrap();
    assert_eq!((d.desired_replicas, d.scale_requests.len()), (Some(2), 0));
    assert_eq!(requests_in_env(env.http_addr, "Pending").await, Some(0.0));
}

/// A ScaleRequest of shop/web made as the server makes one, expiring at `expires`.
async fn made_request(env: &TargetEnv, ns: &str, expires: jiff::Timestamp) -> String {
    use scalekeeper::scalerequest::{DeclareChange, RequestedChange, Requester, ScaleRequest, ScaleRequestSpec};
    // The real Deployment's UID: 1.20 reads an empty string as null, which the schema refuses.
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(env.kube.clone(), ns);
    let uid = deployments.get("web").await.unwrap().metadata.uid.unwrap();
    let mut spec = ScaleRequestSpec {
        deployment: "web".into(),
        deployment_uid: uid,
        change: RequestedChange {
            declare: Some(DeclareChange { replicas: 0, ..Default::default() }),
            ..Default::default()
        },
        summary: "declare 0 replicas".into(),
        requester: Requester { user: ALICE.into(), groups: vec![] },
        expires_at: scalekeeper_core::spec::timestamp(expires),
        approvals_needed: 1,
        ..Default::default()
    };
    spec.digest = scalekeeper::scalerequest::spec_digest(&spec).unwrap();
    let mut sr = ScaleRequest::new("", spec);
    sr.metadata.name = None;
    sr.metadata.generate_name = Some("web-".into());
    let api: Api<ScaleRequest> = Api::namespaced(env.kube.clone(), ns);
    api.create(&PostParams::default(), &sr).await.unwrap().metadata.name.unwrap()
}

/// The leader's sweeper: a request left pending past its expiry is recorded Expired, with an
/// Event, though nobody touched it; a finished one is deleted once the retention (3 s here) is
/// over; a request still waiting stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_expires_lapsed_requests_and_deletes_finished_ones_after_the_retention() {
    use scalekeeper::scalerequest::ScaleRequest;
    let env = common::start_target(Options {
        scale_request_retention: std::time::Duration::from_secs(3),
        ..Default::default()
    })
    .await;
    let shop = env.ns("shop");
    let now = jiff::Timestamp::now();
    let waiting = made_request(&env, &shop, now + jiff::SignedDuration::from_hours(1)).await;
    let lapsed = made_request(&env, &shop, now - jiff::SignedDuration::from_secs(60)).await;
    let api: Api<ScaleRequest> = Api::namespaced(env.kube.clone(), &shop);
    let patience = std::time::Duration::from_secs(20);
    testkit::wait_for_async("the lapsed request recorded Expired", patience, testkit::POLL, || async {
        let events = events(&env, &shop, "ScaleRequestExpired").await;
        events.iter().any(|n| n.contains("declare 0 replicas expired at") && n.contains("0 of 1 approvals"))
    })
    .await;
    testkit::wait_for_async("the expired request deleted after the retention", patience, testkit::POLL, || async {
        api.get_opt(&lapsed).await.unwrap().is_none()
    })
    .await;
    let kept = api.get_opt(&waiting).await.unwrap().expect("a request still waiting is kept");
    assert!(kept.status.and_then(|s| s.phase).is_none_or(|p| p == "Pending"));
}
