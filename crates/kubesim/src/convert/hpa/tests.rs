use super::*;
use crate::convert::tests::assert_no_nulls;

fn ann<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v["metadata"]["annotations"].get(key).and_then(Value::as_str)
}

fn ann_json(v: &Value, key: &str) -> Value {
    serde_json::from_str(ann(v, key).expect("annotation present")).expect("annotation is JSON")
}

fn v1_hpa_with_cpu() -> Value {
    json!({
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": { "name": "web", "namespace": "default", "labels": { "app": "web" } },
        "spec": {
            "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": "web" },
            "minReplicas": 2,
            "maxReplicas": 10,
            "targetCPUUtilizationPercentage": 50
        },
        "status": {
            "observedGeneration": 3,
            "lastScaleTime": "2024-05-01T10:00:00Z",
            "currentReplicas": 4,
            "desiredReplicas": 5,
            "currentCPUUtilizationPercentage": 71
        }
    })
}

fn v2_hpa_memory_only() -> Value {
    json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": { "name": "mem", "namespace": "default" },
        "spec": {
            "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": "mem" },
            "minReplicas": 1,
            "maxReplicas": 5,
            "metrics": [{
                "type": "Resource",
                "resource": { "name": "memory", "target": { "type": "Utilization", "averageUtilization": 60 } }
            }]
        }
    })
}

/// Every metric source, a behavior, current metrics and conditions; the cpu
/// utilization metric comes last, where v1 -> v2 puts it.
fn v2_hpa_full() -> Value {
    json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": "full", "namespace": "default",
            "annotations": { "owner": "team-a" }
        },
        "spec": {
            "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": "full" },
            "minReplicas": 1,
            "maxReplicas": 20,
            "metrics": [
                { "type": "Resource", "resource": { "name": "memory",
                    "target": { "type": "AverageValue", "averageValue": "500Mi" } } },
                { "type": "ContainerResource", "containerResource": { "name": "cpu", "container": "app",
                    "target": { "type": "Utilization", "averageUtilization": 70 } } },
                { "type": "Pods", "pods": {
                    "metric": { "name": "packets-per-second" },
                    "target": { "type": "AverageValue", "averageValue": "1k" } } },
                { "type": "Object", "object": {
                    "describedObject": { "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "main" },
                    "metric": { "name": "requests-per-second", "selector": { "matchLabels": { "verb": "GET" } } },
                    "target": { "type": "Value", "value": "10k" } } },
                { "type": "External", "external": {
                    "metric": { "name": "queue_messages_ready", "selector": { "matchLabels": { "queue": "work" } } },
                    "target": { "type": "AverageValue", "averageValue": "30" } } },
                { "type": "Resource", "resource": { "name": "cpu",
                    "target": { "type": "Utilization", "averageUtilization": 65 } } }
            ],
            "behavior": {
                "scaleDown": {
                    "stabilizationWindowSeconds": 300,
                    "policies": [{ "type": "Percent", "value": 100, "periodSeconds": 15 }]
                },
                "scaleUp": {
                    "stabilizationWindowSeconds": 0,
                    "selectPolicy": "Max",
                    "policies": [
                        { "type": "Percent", "value": 100, "periodSeconds": 15 },
                        { "type": "Pods", "value": 4, "periodSeconds": 15 }
                    ]
                }
            }
        },
        "status": {
            "observedGeneration": 7,
            "lastScaleTime": "2024-05-01T10:00:00Z",
            "currentReplicas": 3,
            "desiredReplicas": 4,
            "currentMetrics": [
                { "type": "Resource", "resource": { "name": "cpu",
                    "current": { "averageUtilization": 80, "averageValue": "400m" } } },
                { "type": "External", "external": {
                    "metric": { "name": "queue_messages_ready", "selector": { "matchLabels": { "queue": "work" } } },
                    "current": { "value": "120", "averageValue": "40" } } }
            ],
            "conditions": [
                { "type": "AbleToScale", "status": "True", "lastTransitionTime": "2024-05-01T09:00:00Z",
                  "reason": "ReadyForNewScale", "message": "recommended size matches current size" },
                { "type": "ScalingActive", "status": "True", "lastTransitionTime": "2024-05-01T09:00:00Z",
                  "reason": "ValidMetricFound", "message": "the HPA was able to successfully calculate a replica count" }
            ]
        }
    })
}

#[test]
fn v1_target_cpu_becomes_v2_resource_metric() {
    let v2 = hpa_v1_to_v2(v1_hpa_with_cpu());
    assert_eq!(v2["apiVersion"], "autoscaling/v2");
    assert_eq!(v2["kind"], "HorizontalPodAutoscaler");
    assert_eq!(v2["metadata"], v1_hpa_with_cpu()["metadata"]);
    assert_eq!(
        v2["spec"],
        json!({
            "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": "web" },
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [{ "type": "Resource", "resource": { "name": "cpu",
                "target": { "type": "Utilization", "averageUtilization": 50 } } }]
        })
    );
    assert_eq!(
        v2["status"],
        json!({
            "observedGeneration": 3,
            "lastScaleTime": "2024-05-01T10:00:00Z",
            "currentReplicas": 4,
            "desiredReplicas": 5,
            "currentMetrics": [{ "type": "Resource", "resource": { "name": "cpu",
                "current": { "averageUtilization": 71 } } }]
        })
    );
    assert_no_nulls(&v2, "$");
}

#[test]
fn v1_round_trips_through_storage() {
    let original = v1_hpa_with_cpu();
    let v2 = hpa_v1_to_v2(original.clone());
    let back = hpa_v2_to_v1(v2.clone());
    // The v1 view carries the raw current metrics in an annotation (upstream
    // does the same); stripping it gives the original, and writing the v1
    // view back yields the same storage object.
    assert!(ann(&back, METRIC_STATUSES_ANNOTATION).is_some());
    assert_eq!(hpa_v1_to_v2(back.clone()), v2);
    let mut stripped = back;
    if let Some(meta) = stripped["metadata"].as_object_mut() {
        meta.remove("annotations");
    }
    assert_eq!(stripped, original);
}

#[test]
fn v1_without_status_invents_no_status() {
    let mut original = v1_hpa_with_cpu();
    if let Some(o) = original.as_object_mut() {
        o.remove("status");
    }
    let v2 = hpa_v1_to_v2(original.clone());
    assert!(v2.get("status").is_none());
    assert!(v2["metadata"].get("annotations").is_none());
    assert_no_nulls(&v2, "$");
    assert_eq!(hpa_v2_to_v1(v2), original);
}

#[test]
fn v2_memory_only_keeps_metric_in_annotation() {
    let original = v2_hpa_memory_only();
    let v1 = hpa_v2_to_v1(original.clone());
    assert_eq!(v1["apiVersion"], "autoscaling/v1");
    assert!(v1["spec"].get("targetCPUUtilizationPercentage").is_none());
    assert!(v1["spec"].get("metrics").is_none());
    assert!(v1.get("status").is_none());
    assert_eq!(
        ann_json(&v1, METRIC_SPECS_ANNOTATION),
        json!([{ "type": "Resource", "resource": { "name": "memory", "targetAverageUtilization": 60 } }])
    );
    assert_no_nulls(&v1, "$");
    let back = hpa_v1_to_v2(v1);
    assert_eq!(back, original);
}

#[test]
fn v2_full_round_trips_through_v1() {
    let original = v2_hpa_full();
    let v1 = hpa_v2_to_v1(original.clone());
    assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 65);
    assert_eq!(v1["status"]["currentCPUUtilizationPercentage"], 80);
    assert!(v1["status"].get("currentMetrics").is_none());
    assert!(v1["status"].get("conditions").is_none());
    assert_eq!(ann(&v1, "owner"), Some("team-a"));
    let specs = ann_json(&v1, METRIC_SPECS_ANNOTATION);
    assert_eq!(specs.as_array().map(Vec::len), Some(5));
    assert_eq!(
        specs[3],
        json!({ "type": "Object", "object": {
        "target": { "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "main" },
        "metricName": "requests-per-second",
        "selector": { "matchLabels": { "verb": "GET" } },
        "targetValue": "10k"
    } })
    );
    assert_eq!(
        specs[4],
        json!({ "type": "External", "external": {
        "metricName": "queue_messages_ready",
        "metricSelector": { "matchLabels": { "queue": "work" } },
        "targetAverageValue": "30"
    } })
    );
    assert_eq!(
        ann_json(&v1, METRIC_STATUSES_ANNOTATION)[0],
        json!({ "type": "Resource",
        "resource": { "name": "cpu", "currentAverageUtilization": 80, "currentAverageValue": "400m" } })
    );
    assert_eq!(ann_json(&v1, CONDITIONS_ANNOTATION), original["status"]["conditions"]);
    assert!(ann(&v1, BEHAVIOR_SPECS_ANNOTATION).is_some());

    let back = hpa_v1_to_v2(v1);
    assert_eq!(back, original);
}

#[test]
fn v2_to_v1_to_v2_moves_cpu_metric_last_like_upstream() {
    let mut original = v2_hpa_memory_only();
    original["spec"]["metrics"] = json!([
        { "type": "Resource", "resource": { "name": "cpu", "target": { "type": "Utilization", "averageUtilization": 50 } } },
        { "type": "Resource", "resource": { "name": "memory", "target": { "type": "Utilization", "averageUtilization": 60 } } }
    ]);
    let back = hpa_v1_to_v2(hpa_v2_to_v1(original.clone()));
    assert_eq!(back["spec"]["metrics"][0]["resource"]["name"], "memory");
    assert_eq!(back["spec"]["metrics"][1]["resource"]["name"], "cpu");
    assert_eq!(back["spec"]["metrics"][1], original["spec"]["metrics"][0]);
}

#[test]
fn v1_without_any_metric_gets_upstream_cpu_default() {
    let mut v1 = v1_hpa_with_cpu();
    if let Some(spec) = v1["spec"].as_object_mut() {
        spec.remove("targetCPUUtilizationPercentage");
    }
    let v2 = hpa_v1_to_v2(v1);
    assert_eq!(
        v2["spec"]["metrics"],
        json!([{ "type": "Resource", "resource": { "name": "cpu",
        "target": { "type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION } } }])
    );
}

#[test]
fn stale_round_trip_annotations_are_replaced() {
    let mut stored = v2_hpa_memory_only();
    stored["metadata"]["annotations"] = json!({
        METRIC_SPECS_ANNOTATION: "[]",
        CONDITIONS_ANNOTATION: "[{\"type\":\"Stale\"}]",
        BEHAVIOR_SPECS_ANNOTATION: "{}",
        "keep": "me"
    });
    let v1 = hpa_v2_to_v1(stored);
    let annotations = v1["metadata"]["annotations"].as_object().cloned().unwrap_or_default();
    assert_eq!(annotations.len(), 2, "{annotations:?}");
    assert_eq!(ann(&v1, "keep"), Some("me"));
    assert!(ann(&v1, CONDITIONS_ANNOTATION).is_none());
    assert!(ann(&v1, METRIC_SPECS_ANNOTATION).is_some());

    // v1 -> v2 removes them all, and the map when nothing else is left.
    let v2 = hpa_v1_to_v2(v1);
    assert_eq!(v2["metadata"]["annotations"], json!({ "keep": "me" }));
    let v2 = hpa_v1_to_v2(hpa_v2_to_v1(v2_hpa_memory_only()));
    assert!(v2["metadata"].get("annotations").is_none());
}

#[test]
fn behavior_annotation_uses_go_field_names() {
    let v1 = hpa_v2_to_v1(v2_hpa_full());
    let raw = ann(&v1, BEHAVIOR_SPECS_ANNOTATION).unwrap_or_default();
    assert!(raw.starts_with("{\"ScaleUp\":{\"StabilizationWindowSeconds\":0,\"SelectPolicy\":\"Max\""), "{raw}");
    let parsed: Value = serde_json::from_str(raw).expect("behavior annotation is JSON");
    assert_eq!(
        parsed["ScaleDown"],
        json!({
            "StabilizationWindowSeconds": 300,
            "SelectPolicy": null,
            "Policies": [{ "Type": "Percent", "Value": 100, "PeriodSeconds": 15 }],
            "Tolerance": null
        })
    );
}

#[test]
fn go_written_annotations_decode() {
    // As a real API server writes them: Go zero values included, keys
    // in whatever case encoding/json accepts.
    let v1 = json!({
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": { "name": "go", "annotations": {
            BEHAVIOR_SPECS_ANNOTATION: "{\"ScaleUp\":null,\"scaledown\":{\"StabilizationWindowSeconds\":60,\"SelectPolicy\":null,\"Policies\":null,\"Tolerance\":\"50m\"}}",
            METRIC_STATUSES_ANNOTATION: "[{\"type\":\"Resource\",\"resource\":{\"name\":\"cpu\",\"currentAverageUtilization\":12,\"currentAverageValue\":\"0\"}}]",
            CONDITIONS_ANNOTATION: "[{\"type\":\"AbleToScale\",\"status\":\"True\",\"lastTransitionTime\":\"2024-05-01T09:00:00Z\",\"reason\":\"ReadyForNewScale\"}]"
        } },
        "spec": { "scaleTargetRef": { "kind": "Deployment", "name": "go" }, "maxReplicas": 3, "targetCPUUtilizationPercentage": 40 },
        "status": { "currentReplicas": 1, "desiredReplicas": 1, "currentCPUUtilizationPercentage": 12 }
    });
    let v2 = hpa_v1_to_v2(v1);
    assert_eq!(
        v2["spec"]["behavior"],
        json!({ "scaleDown": { "stabilizationWindowSeconds": 60, "tolerance": "50m" } })
    );
    assert_eq!(
        v2["status"]["currentMetrics"],
        json!([{ "type": "Resource", "resource": { "name": "cpu",
        "current": { "averageUtilization": 12, "averageValue": "0" } } }])
    );
    assert_eq!(v2["status"]["conditions"][0]["reason"], "ReadyForNewScale");
    assert!(v2["metadata"].get("annotations").is_none());
}

#[test]
fn malformed_or_zero_annotations_are_ignored_and_dropped() {
    let v1 = json!({
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": { "name": "bad", "annotations": {
            METRIC_SPECS_ANNOTATION: "not json",
            BEHAVIOR_SPECS_ANNOTATION: "{\"ScaleUp\":null,\"ScaleDown\":null}",
            METRIC_STATUSES_ANNOTATION: "{}",
            CONDITIONS_ANNOTATION: "[",
            "other": "x"
        } },
        "spec": { "scaleTargetRef": { "kind": "Deployment", "name": "bad" }, "maxReplicas": 3, "targetCPUUtilizationPercentage": 40 }
    });
    let v2 = hpa_v1_to_v2(v1);
    assert_eq!(v2["metadata"]["annotations"], json!({ "other": "x" }));
    assert_eq!(v2["spec"]["metrics"].as_array().map(Vec::len), Some(1));
    assert!(v2["spec"].get("behavior").is_none());
    assert!(v2.get("status").is_none());
    assert_eq!(behavior_from_go_json("{\"ScaleUp\":{\"StabilizationWindowSeconds\":\"x\"}}"), None);
}

#[test]
fn cpu_average_value_target_is_not_a_v1_target() {
    let mut v2 = v2_hpa_memory_only();
    v2["spec"]["metrics"] = json!([{ "type": "Resource", "resource": { "name": "cpu",
        "target": { "type": "AverageValue", "averageValue": "500m" } } }]);
    let v1 = hpa_v2_to_v1(v2.clone());
    assert!(v1["spec"].get("targetCPUUtilizationPercentage").is_none());
    assert_eq!(
        ann_json(&v1, METRIC_SPECS_ANNOTATION),
        json!([{ "type": "Resource", "resource": { "name": "cpu", "targetAverageValue": "500m" } }])
    );
    assert_eq!(hpa_v1_to_v2(v1), v2);
}
