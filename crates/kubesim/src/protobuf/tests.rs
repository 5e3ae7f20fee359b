use prost_reflect::ReflectMessage as _;
use serde_json::json;

use super::*;

fn meta(name: &str, ns: Option<&str>) -> Value {
    let mut m = json!({
        "name": name,
        "uid": "0d4a8f2e-6a53-4c1e-9f6f-1d1f0f1c2b3a",
        "resourceVersion": "42",
        "generation": 3,
        "creationTimestamp": "2026-01-02T03:04:05Z",
        "labels": {"app": name},
        "annotations": {"note": "x"},
        "managedFields": [{
            "manager": "kubectl-create", "operation": "Update", "apiVersion": "v1",
            "time": "2026-01-02T03:04:05Z", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}},
            "subresource": "scale",
        }],
    });
    if let Some(ns) = ns {
        m["namespace"] = json!(ns);
    }
    m
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web", Some("shop")),
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]},
            "template": {
                "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                "spec": {
                    "containers": [{
                        "name": "nginx", "image": "nginx:1.27",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "1"}},
                        "securityContext": {"runAsUser": 0, "allowPrivilegeEscalation": false},
                        "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": true}}}],
                        "livenessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 10},
                    }],
                    "volumes": [{"name": "conf", "configMap": {"name": "web", "defaultMode": 420, "optional": false}}],
                    "restartPolicy": "Always",
                    "terminationGracePeriodSeconds": 30,
                },
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
        "status": {
            "observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2,
            "conditions": [{"type": "Available", "status": "True", "lastUpdateTime": "2026-01-02T03:04:06Z",
                            "lastTransitionTime": "2026-01-02T03:04:06Z", "reason": "MinimumReplicasAvailable",
                            "message": "Deployment has minimum availability."}],
        },
    })
}

/// One object of every kind kubesim serves (and the meta/v1 kinds it answers or reads).
fn samples() -> Vec<Value> {
    let dep = deployment();
    let mut item = dep.clone();
    item.as_object_mut().map(|o| {
        o.remove("apiVersion");
        o.remove("kind")
    });
    vec![
        dep,
        json!({"apiVersion": "apps/v1", "kind": "DeploymentList", "metadata": {"resourceVersion": "42", "continue": "abc", "remainingItemCount": 0},
               "items": [item]}),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta("shop", None),
               "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
        json!({"apiVersion": "v1", "kind": "NamespaceList", "metadata": {"resourceVersion": "7"}, "items": []}),
        json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": meta("web", Some("shop")),
               "spec": {"replicas": 4}, "status": {"replicas": 0, "selector": "app=web"}}),
        json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": meta("web", Some("shop")),
               "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                        "minReplicas": 1, "maxReplicas": 5, "targetCPUUtilizationPercentage": 80},
               "status": {"currentReplicas": 0, "desiredReplicas": 0}}),
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta("web", Some("shop")),
               "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                        "minReplicas": 1, "maxReplicas": 5,
                        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}},
                                    {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1k"}}}],
                        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                                                   "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}}},
               "status": {"desiredReplicas": 0, "conditions": [{"type": "AbleToScale", "status": "True", "lastTransitionTime": "2026-01-02T03:04:05Z"}]}}),
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta("leader", Some("shop")),
               "spec": {"holderIdentity": "pod-a", "leaseDurationSeconds": 15, "leaseTransitions": 0,
                        "acquireTime": "2026-01-02T03:04:05.123456Z", "renewTime": "2026-01-02T03:04:06.000001Z"}}),
        json!({"apiVersion": "v1", "kind": "Event", "metadata": meta("web.1", Some("shop")),
               "involvedObject": {"kind": "Deployment", "namespace": "shop", "name": "web", "apiVersion": "apps/v1"},
               "reason": "Scaled", "message": "scaled to 3", "source": {"component": "scalekeeper"},
               "firstTimestamp": "2026-01-02T03:04:05Z", "lastTimestamp": "2026-01-02T03:04:05Z", "count": 2, "type": "Normal",
               "eventTime": null, "reportingComponent": "scalekeeper", "reportingInstance": "a"}),
        json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": meta("web.2", Some("shop")),
               "eventTime": "2026-01-02T03:04:05.000000Z", "reportingController": "scalekeeper", "reportingInstance": "a",
               "action": "Scale", "reason": "Scaled", "regarding": {"kind": "Deployment", "name": "web"},
               "note": "scaled", "type": "Normal", "deprecatedCount": 1}),
        json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure", "message": "not found",
               "reason": "NotFound", "code": 404, "details": {"name": "web", "group": "apps", "kind": "deployments",
               "causes": [{"reason": "FieldValueInvalid", "message": "bad", "field": "spec.replicas"}], "retryAfterSeconds": 1}}),
        json!({"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0, "propagationPolicy": "Foreground",
               "preconditions": {"uid": "u", "resourceVersion": "4"}, "dryRun": ["All"]}),
        json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": meta("web", Some("shop"))}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta("reader", Some("shop")),
               "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods", "pods/log"], "resourceNames": ["a"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta("agg", None),
               "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]},
               "rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta("rb", Some("shop")),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
               "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": "shop"},
                            {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": ""}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta("crb", None),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "agg"},
               "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "ops"}]}),
        // A denial: `allowed: false` has no omitempty and stays.
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "metadata": {"creationTimestamp": null},
               "spec": {"user": "alice", "groups": ["ops"], "resourceAttributes": {"namespace": "shop", "verb": "get",
                        "group": "scalekeeper.dev", "resource": "replicapolicies", "subresource": "status", "name": "web"}},
               "status": {"allowed": false, "reason": "RBAC: x"}}),
        // The selector attributes of 1.31+ (fields 8 and 9): a requirement's key and
        // operator have no omitempty.
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "metadata": {"creationTimestamp": null},
               "spec": {"user": "alice", "resourceAttributes": {"namespace": "shop", "verb": "list", "resource": "pods",
                        "fieldSelector": {"rawSelector": "spec.nodeName=n1",
                                          "requirements": [{"key": "spec.nodeName", "operator": "In", "values": ["n1"]}]},
                        "labelSelector": {"requirements": [{"key": "app", "operator": "Exists"}]}}},
               "status": {"allowed": true}}),
    ]
}

/// The protos `build.rs` compiles are the version kubesim reports at `/version`: bumping one
/// means bumping the other (`KUBERNETES_MINOR` in `build.rs`).
#[test]
fn protos_match_the_reported_kubernetes_version() {
    assert_eq!(KUBERNETES_VERSION, format!("1.{}", crate::api::KUBE_MINOR));
}

#[test]
fn every_served_kind_round_trips_json_protobuf_json() {
    for obj in samples() {
        let bytes = encode(&obj).unwrap_or_else(|e| panic!("encode {}: {}", obj["kind"], e.message));
        assert!(bytes.starts_with(&MAGIC));
        let back = decode(&bytes).unwrap_or_else(|e| panic!("decode {}: {}", obj["kind"], e.message));
        // An empty list has no protobuf form.
        let mut want = obj.clone();
        if want["kind"] == "NamespaceList" {
            want.as_object_mut().map(|o| o.remove("items"));
        }
        assert_eq!(back, want, "{} {}", obj["apiVersion"], obj["kind"]);
    }
}

#[test]
fn list_items_drop_their_type_which_the_list_implies() {
    let list = samples()[1].clone();
    let mut typed = list.clone();
    typed["items"][0]["apiVersion"] = json!("apps/v1");
    typed["items"][0]["kind"] = json!("Deployment");
    assert_eq!(decode(&encode(&typed).expect("encode")).expect("decode"), list);
}

#[test]
fn times_are_rfc3339_and_zero_is_null() {
    let desc = message_for("v1", "Namespace").expect("Namespace");
    let mut m = DynamicMessage::new(desc);
    let mut meta = DynamicMessage::new(message_for("meta.k8s.io/v1", "ObjectMeta").expect("ObjectMeta"));
    let mut t = DynamicMessage::new(meta_message(json::TIME).expect("Time"));
    t.set_field_by_name("seconds", PValue::I64(1_767_323_045));
    t.set_field_by_name("nanos", PValue::I32(999_999_999));
    meta.set_field_by_name("creationTimestamp", PValue::Message(t));
    // Go writes a zero time.Time as an empty message (or, from ProtoTime, year 1).
    let mut zero = DynamicMessage::new(meta_message(json::TIME).expect("Time"));
    zero.set_field_by_name("seconds", PValue::I64(-62_135_596_800));
    meta.set_field_by_name("deletionTimestamp", PValue::Message(zero));
    m.set_field_by_name("metadata", PValue::Message(meta));
    let j = json::to_json(&m, "").expect("json");
    // Seconds precision, as metav1.Time's MarshalJSON.
    assert_eq!(j["metadata"]["creationTimestamp"], json!("2026-01-02T03:04:05Z"));
    assert_eq!(j["metadata"]["deletionTimestamp"], Value::Null);

    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
                       "spec": {"renewTime": "2026-01-02T04:04:05.5+01:00"}});
    let back = decode(&encode(&lease).expect("encode")).expect("decode");
    assert_eq!(back["spec"]["renewTime"], json!("2026-01-02T03:04:05.500000Z"));
    let bad =
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "creationTimestamp": "yesterday"}});
    let e = encode(&bad).expect_err("not a time");
    assert_eq!(e.code, 406);
    assert!(e.message.contains("metadata.creationTimestamp"), "{}", e.message);
}

#[test]
fn int_or_string_and_quantity_map_to_their_json_forms() {
    let mut d = deployment();
    d["spec"]["strategy"]["rollingUpdate"] = json!({"maxSurge": 0, "maxUnavailable": "100%"});
    d["spec"]["template"]["spec"]["containers"][0]["resources"] = json!({"limits": {"cpu": 2, "memory": "1.5Gi"}});
    let back = decode(&encode(&d).expect("encode")).expect("decode");
    assert_eq!(back["spec"]["strategy"]["rollingUpdate"], json!({"maxSurge": 0, "maxUnavailable": "100%"}));
    // A number is a valid quantity in JSON; protobuf carries quantities as strings.
    assert_eq!(
        back["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"],
        json!({"cpu": "2", "memory": "1.5Gi"})
    );
    d["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = json!(true);
    assert_eq!(encode(&d).map_err(|e| e.code), Err(406));
    d["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = json!(1_u64 << 40);
    assert_eq!(encode(&d).map_err(|e| e.code), Err(406));
}

/// What Go's marshaller does: every non-pointer field is written, zero or not.
#[test]
fn explicit_zeros_follow_go_pointer_semantics() {
    let spec_desc = message_for("apps/v1", "DeploymentSpec").expect("DeploymentSpec");
    let mut spec = DynamicMessage::new(spec_desc);
    spec.set_field_by_name("replicas", PValue::I32(0)); // *int32: kept
    spec.set_field_by_name("minReadySeconds", PValue::I32(0)); // int32, omitempty: dropped
    spec.set_field_by_name("paused", PValue::Bool(false)); // bool, omitempty: dropped
    spec.set_field_by_name("revisionHistoryLimit", PValue::I32(0)); // *int32: kept
    let strategy = DynamicMessage::new(message_for("apps/v1", "DeploymentStrategy").expect("strategy"));
    spec.set_field_by_name("strategy", PValue::Message(strategy)); // struct: always `{}`
    let j = json::to_json(&spec, "spec").expect("json");
    assert_eq!(j, json!({"replicas": 0, "revisionHistoryLimit": 0, "strategy": {}}));
    // Every table entry names a real field.
    for (m, f) in go_fields::INLINE {
        let desc = pool().expect("pool").get_message_by_name(m).unwrap_or_else(|| panic!("{m}"));
        assert!(desc.get_field_by_name(f).is_some(), "{m}.{f}");
    }
    for (m, fields) in go_fields::KEEP_ZERO {
        let desc = pool().expect("pool").get_message_by_name(m).unwrap_or_else(|| panic!("{m}"));
        for f in *fields {
            assert!(desc.get_field_by_name(f).is_some(), "{m}.{f}");
        }
    }
}

/// A Namespace envelope written byte by byte from the wire format, independent of
/// prost-reflect: `k8s\0`, Unknown{1: TypeMeta{1: "v1", 2: "Namespace"}, 2: raw}, with raw
/// = Namespace{1: ObjectMeta{1: "n", 11: {"a": "b"}}, 2: NamespaceSpec{1: ["kubernetes"]}}.
fn handmade_namespace(meta_extra: &[u8], extra: &[u8]) -> Vec<u8> {
    fn field(n: u8, bytes: &[u8]) -> Vec<u8> {
        let mut v = vec![(n << 3) | 2, u8::try_from(bytes.len()).expect("short")];
        v.extend_from_slice(bytes);
        v
    }
    let label = [field(1, b"a"), field(2, b"b")].concat();
    let meta = [field(1, b"n"), field(11, &label), meta_extra.to_vec()].concat();
    let ns = [field(1, &meta), field(2, &field(1, b"kubernetes")), extra.to_vec()].concat();
    let type_meta = [field(1, b"v1"), field(2, b"Namespace")].concat();
    [b"k8s\0".to_vec(), field(1, &type_meta), field(2, &ns)].concat()
}

#[test]
fn the_envelope_matches_the_wire_format() {
    let bytes = handmade_namespace(&[], &[]);
    let obj = decode(&bytes).expect("decode");
    assert_eq!(
        obj,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "labels": {"a": "b"}}, "spec": {"finalizers": ["kubernetes"]}})
    );
    // Re-encoding gives back the same bytes (fields in number order, no extras).
    assert_eq!(encode(&obj).expect("encode"), bytes);
    let unknown =
        DynamicMessage::decode(meta_message("apimachinery.pkg.runtime.Unknown").expect("Unknown"), &bytes[4..])
            .expect("Unknown");
    assert_eq!(unknown.descriptor().full_name(), "apimachinery.pkg.runtime.Unknown");
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let good = handmade_namespace(&[], &[]);
    assert_eq!(decode(b"").map_err(|e| e.code), Err(400));
    assert_eq!(decode(b"k8s").map_err(|e| e.code), Err(400));
    assert_eq!(decode(b"{\"kind\":\"Namespace\"}").map_err(|e| e.code), Err(400));
    assert_eq!(decode(b"k8x\0\x0a\x00").map_err(|e| e.code), Err(400));
    // Every truncation of a valid body fails cleanly (or, on a field boundary, decodes).
    for cut in 0..good.len() {
        let _ = decode(&good[..cut]);
    }
    assert_eq!(decode(&good[..good.len() - 3]).map_err(|e| e.code), Err(400));
    // Garbage after the magic.
    assert_eq!(decode(b"k8s\0\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff").map_err(|e| e.code), Err(400));
    // No typeMeta.
    assert_eq!(decode(b"k8s\0\x12\x00").map_err(|e| e.code), Err(400));
    let mut e = DynamicMessage::new(meta_message("apimachinery.pkg.runtime.Unknown").expect("Unknown"));
    let mut tm = DynamicMessage::new(meta_message("apimachinery.pkg.runtime.TypeMeta").expect("TypeMeta"));
    tm.set_field_by_name("apiVersion", PValue::String("example.com/v1".into()));
    tm.set_field_by_name("kind", PValue::String("Widget".into()));
    e.set_field_by_name("typeMeta", PValue::Message(tm.clone()));
    let widget = [MAGIC.to_vec(), e.encode_to_vec()].concat();
    assert_eq!(decode(&widget).map_err(|e| e.code), Err(415));
    tm.set_field_by_name("apiVersion", PValue::String("v1".into()));
    tm.set_field_by_name("kind", PValue::String("Namespace".into()));
    e.set_field_by_name("typeMeta", PValue::Message(tm));
    e.set_field_by_name("contentEncoding", PValue::String("gzip".into()));
    assert_eq!(decode(&[MAGIC.to_vec(), e.encode_to_vec()].concat()).map_err(|e| e.code), Err(415));
}

#[test]
fn unknown_fields_are_refused_not_dropped() {
    // Namespace field 99 (varint): not in Kubernetes 1.33.
    let bytes = handmade_namespace(&[], &[0x98, 0x06, 0x01]);
    let e = decode(&bytes).expect_err("unknown field");
    assert_eq!(e.code, 415);
    assert!(e.message.contains("field number 99"), "{}", e.message);
    // A removed field at its zero value, as Go clients before 1.25 write ObjectMeta.clusterName
    // (15) as "": nothing is lost by passing over it. With a value it is refused.
    let plain = decode(&handmade_namespace(&[], &[])).expect("plain");
    assert_eq!(decode(&handmade_namespace(&[0x7a, 0x00], &[])).expect("empty clusterName"), plain);
    assert_eq!(decode(&handmade_namespace(&[0xa0, 0x06, 0x00], &[])).expect("varint 0"), plain);
    let e = decode(&handmade_namespace(&[0x7a, 0x01, b'x'], &[])).expect_err("a clusterName");
    assert!(e.message.contains("metadata: field number 15"), "{}", e.message);
    // And a JSON field the message lacks cannot be written as protobuf.
    let mut d = deployment();
    d["spec"]["template"]["spec"]["futureField"] = json!(true);
    let e = encode(&d).expect_err("unknown JSON field");
    assert_eq!(e.code, 406);
    assert!(e.message.contains("spec.template.spec.futureField"), "{}", e.message);
    let crd = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}});
    assert_eq!(encode(&crd).map_err(|e| e.code), Err(406));
}

#[test]
fn watch_frames_are_length_prefixed_watch_events() {
    let obj = deployment();
    let frame = watch_frame("MODIFIED", &obj).expect("frame");
    let len = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
    assert_eq!(len + 4, frame.len());
    let mut two = frame.to_vec();
    two.extend_from_slice(&watch_frame("ERROR", &ApiError::gone("too old").status()).expect("frame"));
    let (n, t, o) = decode_watch_frame(&two).expect("ok").expect("whole");
    assert_eq!((n, t.as_str(), o), (frame.len(), "MODIFIED", obj));
    let (_, t, o) = decode_watch_frame(&two[n..]).expect("ok").expect("whole");
    assert_eq!((t.as_str(), o["code"].clone(), o["reason"].clone()), ("ERROR", json!(410), json!("Expired")));
    assert!(decode_watch_frame(&two[..n - 1]).expect("ok").is_none());
}

#[test]
fn errors_answer_protobuf_status() {
    let resp = error_response(ApiError::bad_request("nope"));
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], MEDIA_TYPE);
}

/// Mutated and truncated bodies (flipped bytes, cut anywhere, garbage inserted) decode to an
/// error or to some object, never a panic; the same for watch frames.
#[test]
fn mutated_bodies_never_panic() {
    use rand::{Rng as _, SeedableRng as _};
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    let good = encode(&deployment()).expect("encode");
    let frame = watch_frame("ADDED", &deployment()).expect("frame").to_vec();
    let mut errors = 0;
    for _ in 0..3000 {
        for base in [&good, &frame] {
            let mut b = base.clone();
            match rng.random_range(0..3) {
                0 => {
                    let i = rng.random_range(0..b.len());
                    b[i] ^= 1 << rng.random_range(0..8);
                }
                1 => b.truncate(rng.random_range(0..b.len())),
                _ => {
                    let i = rng.random_range(0..b.len());
                    b.insert(i, rng.random());
                }
            }
            let failed = if std::ptr::eq(base, &good) {
                decode(&b).is_err()
            } else {
                !matches!(decode_watch_frame(&b), Ok(Some(_)))
            };
            errors += usize::from(failed);
        }
    }
    // Most mutations are caught; none panicked.
    assert!(errors > 1000, "{errors}");
}
