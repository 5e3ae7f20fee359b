//! The RBAC evaluation against a table of requests, on objects committed straight into a
//! store (validation is the registry's and tested through the API).

use serde_json::{Value, json};

use super::*;
use crate::resources::builtins;
use crate::store::Store;

fn store_with(objects: &[Value]) -> Store {
    let store = Store::new(builtins(), 1000);
    {
        let mut g = store.lock();
        for o in objects {
            put(&mut g, o.clone());
        }
    }
    store
}

fn put(g: &mut StoreInner, o: Value) {
    let storage = match o["kind"].as_str().expect("kind") {
        "Role" => ROLES,
        "ClusterRole" => CLUSTER_ROLES,
        "RoleBinding" => ROLE_BINDINGS,
        "ClusterRoleBinding" => CLUSTER_ROLE_BINDINGS,
        k => panic!("not an RBAC kind: {k}"),
    };
    let ns = o["metadata"]["namespace"].as_str().unwrap_or("").to_string();
    let name = o["metadata"]["name"].as_str().expect("name").to_string();
    g.commit(storage, (ns, name), Some(o)).expect("committed");
}

fn role(ns: &str, name: &str, rules: Value) -> Value {
    json!({"kind": "Role", "metadata": {"namespace": ns, "name": name}, "rules": rules})
}

fn cluster_role(name: &str, labels: Value, rules: Value) -> Value {
    json!({"kind": "ClusterRole", "metadata": {"name": name, "labels": labels}, "rules": rules})
}

fn binding(ns: &str, name: &str, role_kind: &str, role: &str, subjects: Value) -> Value {
    let kind = if ns.is_empty() { "ClusterRoleBinding" } else { "RoleBinding" };
    json!({"kind": kind, "metadata": {"namespace": ns, "name": name},
           "roleRef": {"apiGroup": GROUP, "kind": role_kind, "name": role}, "subjects": subjects})
}

fn user(name: &str) -> Value {
    json!({"kind": "User", "apiGroup": GROUP, "name": name})
}

fn group(name: &str) -> Value {
    json!({"kind": "Group", "apiGroup": GROUP, "name": name})
}

/// A resource request: `verb group/resource[/sub] ns/name` as arguments.
fn req(user: &str, groups: &[&str], verb: &str, ns: &str, group: &str, resource: &str, name: &str) -> Attributes {
    let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
    Attributes {
        user: user.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        verb: verb.into(),
        request: Request::Resource {
            namespace: ns.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: subresource.into(),
            name: name.into(),
        },
    }
}

const SK: &str = "scalekeeper.dev";
const RP: &str = "replicapolicies";

fn fixture() -> Store {
    store_with(&[
        // alice: read replicapolicies in team-a through a Role.
        role("team-a", "reader", json!([{"apiGroups": [SK], "resources": [RP], "verbs": ["get", "list", "watch"]}])),
        binding("team-a", "alice-reads", "Role", "reader", json!([user("alice")])),
        // bob: a ClusterRole with wildcards, bound in team-b only.
        cluster_role("all-sk", json!({}), json!([{"apiGroups": [SK], "resources": ["*"], "verbs": ["*"]}])),
        binding("team-b", "bob-all", "ClusterRole", "all-sk", json!([user("bob")])),
        // group ops: everywhere, through a ClusterRoleBinding.
        cluster_role(
            "sk-viewer",
            json!({}),
            json!([{"apiGroups": [SK], "resources": [RP], "verbs": ["get", "list", "watch"]}]),
        ),
        binding("", "ops-view", "ClusterRole", "sk-viewer", json!([group("ops")])),
        // a service account of team-a, named without a namespace (the binding's).
        role("team-a", "updater", json!([{"apiGroups": [SK], "resources": [RP, "*/status"], "verbs": ["update"]}])),
        binding("team-a", "sa-updates", "Role", "updater", json!([{"kind": "ServiceAccount", "name": "bot"}])),
        // resourceNames and a subresource.
        role(
            "team-a",
            "one",
            json!([{"apiGroups": [SK], "resources": [RP, "replicapolicies/scale"], "resourceNames": ["web"], "verbs": ["delete", "get"]}]),
        ),
        binding("team-a", "carol-one", "Role", "one", json!([user("carol")])),
        // a binding to a role that does not exist.
        binding("team-a", "dangling", "Role", "missing", json!([user("dave")])),
    ])
}

#[test]
fn evaluation_table() {
    let store = fixture();
    let g = store.lock();
    let sa = "system:serviceaccount:team-a:bot";
    #[rustfmt::skip]
    let cases: Vec<(Attributes, bool, &str)> = vec![
        (req("alice", &[], "get", "team-a", SK, RP, "web"), true,
         r#"RBAC: allowed by RoleBinding "alice-reads/team-a" of Role "reader" to User "alice""#),
        (req("alice", &[], "list", "team-a", SK, RP, ""), true, ""),
        (req("alice", &[], "update", "team-a", SK, RP, "web"), false, ""),
        // cross-namespace: a Role binds only in its namespace
        (req("alice", &[], "get", "team-b", SK, RP, "web"), false, ""),
        // cluster-wide: RoleBindings never apply
        (req("alice", &[], "list", "", SK, RP, ""), false, ""),
        // wrong group or resource
        (req("alice", &[], "get", "team-a", "apps", RP, "web"), false, ""),
        (req("alice", &[], "get", "team-a", SK, "deployments", "web"), false, ""),
        // a RoleBinding to a ClusterRole grants it in the binding's namespace only
        (req("bob", &[], "delete", "team-b", SK, RP, "x"), true,
         r#"RBAC: allowed by RoleBinding "bob-all/team-b" of ClusterRole "all-sk" to User "bob""#),
        (req("bob", &[], "update", "team-b", SK, "replicapolicies/status", "x"), true, ""),
        (req("bob", &[], "get", "team-a", SK, RP, "x"), false, ""),
        (req("bob", &[], "list", "", SK, RP, ""), false, ""),
        // group subjects, ClusterRoleBindings everywhere and cluster-wide
        (req("erin", &["ops"], "watch", "", SK, RP, ""), true,
         r#"RBAC: allowed by ClusterRoleBinding "ops-view" of ClusterRole "sk-viewer" to Group "ops""#),
        (req("erin", &["ops"], "get", "anywhere", SK, RP, "x"), true, ""),
        (req("erin", &["ops"], "delete", "anywhere", SK, RP, "x"), false, ""),
        (req("ops", &[], "get", "anywhere", SK, RP, "x"), false, ""),
        // service accounts: the user name, in the binding's namespace
        (req(sa, &[], "update", "team-a", SK, RP, "x"), true,
         r#"RBAC: allowed by RoleBinding "sa-updates/team-a" of Role "updater" to ServiceAccount "bot/team-a""#),
        (req(sa, &[], "update", "team-a", SK, "replicapolicies/status", "x"), true, ""),
        (req(sa, &[], "update", "team-a", SK, "replicapolicies/scale", "x"), false, ""),
        (req(sa, &[], "get", "team-a", SK, RP, "x"), false, ""),
        (req("system:serviceaccount:team-b:bot", &[], "update", "team-b", SK, RP, "x"), false, ""),
        (req("bot", &[], "update", "team-a", SK, RP, "x"), false, ""),
        // resourceNames: only that name; never a request without a name
        (req("carol", &[], "delete", "team-a", SK, RP, "web"), true, ""),
        (req("carol", &[], "delete", "team-a", SK, RP, "db"), false, ""),
        (req("carol", &[], "list", "team-a", SK, RP, ""), false, ""),
        (req("carol", &[], "get", "team-a", SK, "replicapolicies/scale", "web"), true, ""),
        (req("carol", &[], "get", "team-a", SK, "replicapolicies/status", "web"), false, ""),
        // a binding to a missing role: denied, the error in the reason
        (req("dave", &[], "get", "team-a", SK, RP, "x"), false,
         r#"RBAC: role.rbac.authorization.k8s.io "missing" not found"#),
        // system:masters may do anything
        (req("root", &["system:masters"], "delete", "", "", "namespaces", "x"), true, ""),
    ];
    for (attrs, allowed, reason) in cases {
        let d = authorize(&g, &attrs);
        assert_eq!(d.allowed, allowed, "{attrs:?}: {d:?}");
        if !reason.is_empty() || !allowed {
            assert_eq!(d.reason, reason, "{attrs:?}");
        }
    }
}

#[test]
fn rule_matching_helpers() {
    let r = PolicyRule::from_json(&json!({"verbs": ["get"], "resources": ["*/scale", "pods/log"], "apiGroups": [""]}));
    assert!(r.resource_matches("deployments/scale", "scale"));
    assert!(!r.resource_matches("deployments", ""));
    assert!(r.resource_matches("pods/log", "log"));
    assert!(!r.resource_matches("pods/exec", "exec"));
    let n = PolicyRule::from_json(&json!({"verbs": ["get"], "nonResourceURLs": ["/healthz", "/apis/*"]}));
    let nr = |path: &str| Attributes {
        user: "u".into(),
        groups: vec![],
        verb: "get".into(),
        request: Request::NonResource { path: path.into() },
    };
    assert!(n.allows(&nr("/healthz")));
    assert!(n.allows(&nr("/apis/apps/v1")));
    assert!(n.allows(&nr("/apis/")));
    assert!(!n.allows(&nr("/api")));
    assert!(!n.allows(&nr("/healthz/etcd")));
}

#[test]
fn non_resource_urls_need_a_cluster_role_binding() {
    let store = store_with(&[
        cluster_role("health", json!({}), json!([{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}])),
        binding("", "u-health", "ClusterRole", "health", json!([user("u")])),
    ]);
    let g = store.lock();
    let attrs = Attributes {
        user: "u".into(),
        groups: vec![],
        verb: "get".into(),
        request: Request::NonResource { path: "/healthz".into() },
    };
    assert!(authorize(&g, &attrs).allowed);
}

#[test]
fn aggregation_fills_rules_from_labelled_cluster_roles_and_follows_changes() {
    let store = store_with(&[
        json!({"kind": "ClusterRole", "metadata": {"name": "agg"},
               "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"sk/aggregate": "true"}}]},
               "rules": [{"apiGroups": ["x"], "resources": ["ignored"], "verbs": ["get"]}]}),
        cluster_role(
            "b-part",
            json!({"sk/aggregate": "true"}),
            json!([{"apiGroups": [SK], "resources": [RP], "verbs": ["get"]}]),
        ),
        cluster_role(
            "a-part",
            json!({"sk/aggregate": "true"}),
            json!([{"apiGroups": [SK], "resources": [RP], "verbs": ["list"]}, {"apiGroups": [SK], "resources": [RP], "verbs": ["get"]}]),
        ),
        cluster_role(
            "other",
            json!({"sk/aggregate": "false"}),
            json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
        ),
        binding("", "ag", "ClusterRole", "agg", json!([user("agg-user")])),
    ]);
    let rules = |g: &StoreInner| g.get(CLUSTER_ROLES, &(String::new(), "agg".into())).expect("agg")["rules"].clone();
    {
        let g = store.lock();
        // sorted by name, duplicates dropped, the role's own rules replaced
        assert_eq!(
            rules(&g),
            json!([{"verbs": ["list"], "apiGroups": [SK], "resources": [RP]}, {"verbs": ["get"], "apiGroups": [SK], "resources": [RP]}])
        );
        assert!(authorize(&g, &req("agg-user", &[], "list", "", SK, RP, "")).allowed);
        assert!(!authorize(&g, &req("agg-user", &[], "delete", "", SK, RP, "x")).allowed);
    }
    assert!(
        store.writes().iter().any(|w| w.field_manager == aggregate::FIELD_MANAGER && w.name == "agg"),
        "the aggregation's write is recorded"
    );
    let mut g = store.lock();
    // a new labelled role is aggregated at once; a deleted one is taken out
    put(
        &mut g,
        cluster_role(
            "c-part",
            json!({"sk/aggregate": "true"}),
            json!([{"apiGroups": [SK], "resources": [RP], "verbs": ["delete"]}]),
        ),
    );
    assert!(authorize(&g, &req("agg-user", &[], "delete", "", SK, RP, "x")).allowed);
    g.commit(CLUSTER_ROLES, (String::new(), "a-part".into()), None).expect("deleted");
    assert!(!authorize(&g, &req("agg-user", &[], "list", "", SK, RP, "")).allowed);
    assert_eq!(rules(&g).as_array().map(Vec::len), Some(2));
}

#[test]
fn aggregation_chains_through_aggregated_roles() {
    let store = store_with(&[
        json!({"kind": "ClusterRole", "metadata": {"name": "top"},
               "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"level": "mid"}}]}}),
        json!({"kind": "ClusterRole", "metadata": {"name": "mid", "labels": {"level": "mid"}},
               "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"level": "low"}}]}}),
        cluster_role(
            "low",
            json!({"level": "low"}),
            json!([{"apiGroups": [SK], "resources": [RP], "verbs": ["watch"]}]),
        ),
    ]);
    let g = store.lock();
    let top = g.get(CLUSTER_ROLES, &(String::new(), "top".into())).expect("top");
    assert_eq!(top["rules"], json!([{"verbs": ["watch"], "apiGroups": [SK], "resources": [RP]}]));
}

#[test]
fn denial_reasons_aggregate_like_utilerrors() {
    assert_eq!(denial_reason(&[]), "");
    assert_eq!(denial_reason(&["a".into(), "a".into()]), "RBAC: a");
    assert_eq!(denial_reason(&["a".into(), "b".into(), "a".into()]), "RBAC: [a, b]");
}

#[test]
fn reviews_are_validated_like_the_api_server() {
    let store = fixture();
    let g = store.lock();
    let err = review(&g, json!({"spec": {"user": "alice"}})).expect_err("no attributes");
    assert_eq!(err.code, 422);
    assert!(err.message.contains("exactly one of nonResourceAttributes or resourceAttributes"), "{}", err.message);
    let err = review(&g, json!({"spec": {"resourceAttributes": {"verb": "get"}}})).expect_err("no user");
    assert!(err.message.contains("at least one of user or group must be specified"), "{}", err.message);
    let ok = review(
        &g,
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
               "spec": {"user": "alice", "resourceAttributes": {"namespace": "team-a", "verb": "get", "group": SK, "resource": RP}}}),
    )
    .expect("answered");
    assert_eq!(ok["status"]["allowed"], json!(true));
    assert_eq!(ok["spec"]["user"], json!("alice"));
}

#[test]
fn rbac_names_are_path_segments() {
    assert!(name_errors("system:controller:x").is_empty());
    assert_eq!(name_errors("a/b"), vec!["may not contain '/'"]);
    assert_eq!(name_errors(".."), vec!["may not be '..'"]);
}
