//! `HorizontalPodAutoscaler`: stored as `autoscaling/v2`, also served as
//! `autoscaling/v1` (k8s.io/kubernetes/pkg/apis/autoscaling/v1/conversion.go),
//! with the v1 round-trip annotations (pkg/apis/autoscaling/annotations.go and
//! `DropRoundTripHorizontalPodAutoscalerAnnotations` in
//! pkg/apis/autoscaling/helpers.go), the metric conversions, and the behavior
//! annotation in Go field names.

use serde_json::{Map, Value, json};

use super::{Object, copy_if, get_ci, object_at, present, set_type_meta, str_at};

/// `autoscaling.MetricSpecsAnnotation`
/// (k8s.io/kubernetes/pkg/apis/autoscaling/annotations.go): the `autoscaling/v1`
/// annotation holding, as a JSON list of `autoscaling/v1` `MetricSpec`s, every
/// v2 metric except the CPU-utilization one that `targetCPUUtilizationPercentage`
/// expresses.
pub const METRIC_SPECS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/metrics";

/// `autoscaling.MetricStatusesAnnotation`
/// (k8s.io/kubernetes/pkg/apis/autoscaling/annotations.go): the `autoscaling/v1`
/// annotation holding all v2 `status.currentMetrics` as `autoscaling/v1`
/// `MetricStatus`es.
pub const METRIC_STATUSES_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/current-metrics";

/// `autoscaling.HorizontalPodAutoscalerConditionsAnnotation`
/// (k8s.io/kubernetes/pkg/apis/autoscaling/annotations.go): the `autoscaling/v1`
/// annotation holding v2 `status.conditions`.
pub const CONDITIONS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/conditions";

/// `autoscaling.BehaviorSpecsAnnotation`
/// (k8s.io/kubernetes/pkg/apis/autoscaling/annotations.go): the `autoscaling/v1`
/// annotation holding v2 `spec.behavior`, encoded as Go's `json.Marshal` of the
/// *internal* `autoscaling.HorizontalPodAutoscalerBehavior` (no json tags, so Go
/// field names such as `ScaleUp`/`StabilizationWindowSeconds`).
pub const BEHAVIOR_SPECS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/behavior";

/// `autoscaling.DefaultCPUUtilization`
/// (k8s.io/kubernetes/pkg/apis/autoscaling/annotations.go): the CPU utilization
/// target that `Convert_v1_HorizontalPodAutoscaler_To_autoscaling_HorizontalPodAutoscaler`
/// (pkg/apis/autoscaling/v1/conversion.go) puts in place when an `autoscaling/v1`
/// HPA expresses no metric at all.
pub const DEFAULT_CPU_UTILIZATION: i64 = 80;

/// The annotations `DropRoundTripHorizontalPodAutoscalerAnnotations`
/// (pkg/apis/autoscaling/helpers.go) removes.
const ROUND_TRIP_ANNOTATIONS: [&str; 4] =
    [METRIC_SPECS_ANNOTATION, BEHAVIOR_SPECS_ANNOTATION, METRIC_STATUSES_ANNOTATION, CONDITIONS_ANNOTATION];

const AUTOSCALING_V1: &str = "autoscaling/v1";
const AUTOSCALING_V2: &str = "autoscaling/v2";
const HPA_KIND: &str = "HorizontalPodAutoscaler";

// ---------------------------------------------------------------------------
// HorizontalPodAutoscaler: annotations
// ---------------------------------------------------------------------------

fn annotations_mut(obj: &mut Object) -> Option<&mut Object> {
    obj.get_mut("metadata")?.as_object_mut()?.get_mut("annotations")?.as_object_mut()
}

fn annotation<'a>(obj: &'a Object, key: &str) -> Option<&'a str> {
    object_at(obj, "metadata").and_then(|m| object_at(m, "annotations")).and_then(|a| str_at(a, key))
}

/// An annotation that holds a JSON list; `None` when absent or malformed.
fn annotation_list(obj: &Object, key: &str) -> Option<Vec<Value>> {
    match serde_json::from_str(annotation(obj, key)?) {
        Ok(Value::Array(items)) => Some(items),
        _ => None,
    }
}

/// `DropRoundTripHorizontalPodAutoscalerAnnotations` (pkg/apis/autoscaling/helpers.go).
/// An annotation map it empties is removed, as Go's `omitempty` would.
fn drop_round_trip_annotations(obj: &mut Object) {
    let Some(annotations) = annotations_mut(obj) else {
        return;
    };
    let mut removed = false;
    for key in ROUND_TRIP_ANNOTATIONS {
        removed |= annotations.remove(key).is_some();
    }
    if removed
        && annotations.is_empty()
        && let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut)
    {
        meta.remove("annotations");
    }
}

fn set_annotations(obj: &mut Object, new: Vec<(&str, String)>) {
    if new.is_empty() {
        return;
    }
    let meta = obj.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    let Some(meta) = meta.as_object_mut() else {
        return;
    };
    let annotations = meta.entry("annotations").or_insert_with(|| Value::Object(Map::new()));
    if !annotations.is_object() {
        *annotations = Value::Object(Map::new());
    }
    if let Some(annotations) = annotations.as_object_mut() {
        for (key, value) in new {
            annotations.insert(key.to_owned(), Value::String(value));
        }
    }
}

// ---------------------------------------------------------------------------
// HorizontalPodAutoscaler: metrics
// ---------------------------------------------------------------------------

fn is_cpu_resource(metric: &Object) -> Option<&Object> {
    if str_at(metric, "type") != Some("Resource") {
        return None;
    }
    object_at(metric, "resource").filter(|r| str_at(r, "name") == Some("cpu"))
}

/// The filter in `Convert_autoscaling_HorizontalPodAutoscaler_To_v1_HorizontalPodAutoscaler`:
/// a Resource/cpu metric with a utilization target is what v1 can express.
fn is_cpu_utilization_metric(metric: &Value) -> bool {
    metric
        .as_object()
        .and_then(is_cpu_resource)
        .and_then(|r| object_at(r, "target"))
        .and_then(|t| present(t, "averageUtilization"))
        .is_some()
}

/// `Convert_autoscaling_HorizontalPodAutoscalerSpec_To_v1_HorizontalPodAutoscalerSpec`:
/// the first Resource/cpu metric decides (the Go loop `break`s on it).
fn target_cpu_utilization(metrics: &[Value]) -> Option<Value> {
    let cpu = metrics.iter().filter_map(Value::as_object).find_map(is_cpu_resource)?;
    object_at(cpu, "target").and_then(|t| present(t, "averageUtilization")).cloned()
}

/// `Convert_autoscaling_HorizontalPodAutoscalerStatus_To_v1_HorizontalPodAutoscalerStatus`:
/// the Go loop has no `break`, so the last Resource/cpu utilization wins.
fn current_cpu_utilization(current: &[Value]) -> Option<Value> {
    current
        .iter()
        .filter_map(Value::as_object)
        .filter_map(is_cpu_resource)
        .filter_map(|r| object_at(r, "current").and_then(|c| present(c, "averageUtilization")))
        .next_back()
        .cloned()
}

fn cpu_utilization_metric(utilization: Value) -> Value {
    json!({
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "target": { "type": "Utilization", "averageUtilization": utilization },
        },
    })
}

/// v2 `metric: {name, selector}` -> v1 `metricName` + `<selector_key>`.
fn metric_identifier_to_v1(dst: &mut Object, src: &Object, selector_key: &str) {
    if let Some(metric) = object_at(src, "metric") {
        copy_if(dst, "metricName", metric, "name");
        copy_if(dst, selector_key, metric, "selector");
    }
}

/// v1 `metricName` + `<selector_key>` -> v2 `metric: {name, selector}`.
fn metric_identifier_from_v1(src: &Object, selector_key: &str) -> Value {
    let mut metric = Map::new();
    copy_if(&mut metric, "name", src, "metricName");
    copy_if(&mut metric, "selector", src, selector_key);
    Value::Object(metric)
}

/// v2 `target`/`current` sub-object of a metric source, or an empty one.
fn sub_object<'a>(src: &'a Object, key: &str) -> &'a Object {
    static EMPTY: std::sync::OnceLock<Object> = std::sync::OnceLock::new();
    object_at(src, key).unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

/// `Convert_autoscaling_MetricSpec_To_v1_MetricSpec` with the per-source
/// functions of pkg/apis/autoscaling/v1/conversion.go
/// (`Convert_autoscaling_{Object,Pods,Resource,External}MetricSource_To_v1_...`).
fn metric_spec_v2_to_v1(metric: &Value) -> Value {
    let Some(m) = metric.as_object() else {
        return metric.clone();
    };
    let mut out = Map::new();
    copy_if(&mut out, "type", m, "type");
    if let Some(src) = object_at(m, "object") {
        let target = sub_object(src, "target");
        let mut v = Map::new();
        copy_if(&mut v, "target", src, "describedObject");
        metric_identifier_to_v1(&mut v, src, "selector");
        copy_if(&mut v, "targetValue", target, "value");
        copy_if(&mut v, "averageValue", target, "averageValue");
        out.insert("object".to_owned(), Value::Object(v));
    }
    if let Some(src) = object_at(m, "pods") {
        let mut v = Map::new();
        metric_identifier_to_v1(&mut v, src, "selector");
        copy_if(&mut v, "targetAverageValue", sub_object(src, "target"), "averageValue");
        out.insert("pods".to_owned(), Value::Object(v));
    }
    for key in ["resource", "containerResource"] {
        if let Some(src) = object_at(m, key) {
            let target = sub_object(src, "target");
            let mut v = Map::new();
            copy_if(&mut v, "name", src, "name");
            copy_if(&mut v, "container", src, "container");
            copy_if(&mut v, "targetAverageUtilization", target, "averageUtilization");
            copy_if(&mut v, "targetAverageValue", target, "averageValue");
            out.insert(key.to_owned(), Value::Object(v));
        }
    }
    if let Some(src) = object_at(m, "external") {
        let target = sub_object(src, "target");
        let mut v = Map::new();
        metric_identifier_to_v1(&mut v, src, "metricSelector");
        copy_if(&mut v, "targetValue", target, "value");
        copy_if(&mut v, "targetAverageValue", target, "averageValue");
        out.insert("external".to_owned(), Value::Object(v));
    }
    Value::Object(out)
}

/// `Convert_v1_MetricSpec_To_autoscaling_MetricSpec` with the per-source
/// functions of pkg/apis/autoscaling/v1/conversion.go, including their choice of
/// the v2 `target.type` from which v1 fields are set.
fn metric_spec_v1_to_v2(metric: &Value) -> Value {
    let Some(m) = metric.as_object() else {
        return metric.clone();
    };
    let mut out = Map::new();
    copy_if(&mut out, "type", m, "type");
    if let Some(src) = object_at(m, "object") {
        let kind = if present(src, "averageValue").is_none() { "Value" } else { "AverageValue" };
        let mut target = Map::new();
        target.insert("type".to_owned(), json!(kind));
        copy_if(&mut target, "value", src, "targetValue");
        copy_if(&mut target, "averageValue", src, "averageValue");
        let mut v = Map::new();
        copy_if(&mut v, "describedObject", src, "target");
        v.insert("metric".to_owned(), metric_identifier_from_v1(src, "selector"));
        v.insert("target".to_owned(), Value::Object(target));
        out.insert("object".to_owned(), Value::Object(v));
    }
    if let Some(src) = object_at(m, "pods") {
        let mut target = Map::new();
        target.insert("type".to_owned(), json!("AverageValue"));
        copy_if(&mut target, "averageValue", src, "targetAverageValue");
        let mut v = Map::new();
        v.insert("metric".to_owned(), metric_identifier_from_v1(src, "selector"));
        v.insert("target".to_owned(), Value::Object(target));
        out.insert("pods".to_owned(), Value::Object(v));
    }
    for key in ["resource", "containerResource"] {
        if let Some(src) = object_at(m, key) {
            let kind = if present(src, "targetAverageUtilization").is_none() { "AverageValue" } else { "Utilization" };
            let mut target = Map::new();
            target.insert("type".to_owned(), json!(kind));
            copy_if(&mut target, "averageUtilization", src, "targetAverageUtilization");
            copy_if(&mut target, "averageValue", src, "targetAverageValue");
            let mut v = Map::new();
            copy_if(&mut v, "name", src, "name");
            copy_if(&mut v, "container", src, "container");
            v.insert("target".to_owned(), Value::Object(target));
            out.insert(key.to_owned(), Value::Object(v));
        }
    }
    if let Some(src) = object_at(m, "external") {
        let kind = if present(src, "targetValue").is_none() { "AverageValue" } else { "Value" };
        let mut target = Map::new();
        target.insert("type".to_owned(), json!(kind));
        copy_if(&mut target, "value", src, "targetValue");
        copy_if(&mut target, "averageValue", src, "targetAverageValue");
        let mut v = Map::new();
        v.insert("metric".to_owned(), metric_identifier_from_v1(src, "metricSelector"));
        v.insert("target".to_owned(), Value::Object(target));
        out.insert("external".to_owned(), Value::Object(v));
    }
    Value::Object(out)
}

/// `Convert_autoscaling_MetricStatus_To_v1_MetricStatus` with the per-source
/// status functions of pkg/apis/autoscaling/v1/conversion.go.
fn metric_status_v2_to_v1(metric: &Value) -> Value {
    let Some(m) = metric.as_object() else {
        return metric.clone();
    };
    let mut out = Map::new();
    copy_if(&mut out, "type", m, "type");
    if let Some(src) = object_at(m, "object") {
        let current = sub_object(src, "current");
        let mut v = Map::new();
        copy_if(&mut v, "target", src, "describedObject");
        metric_identifier_to_v1(&mut v, src, "selector");
        copy_if(&mut v, "currentValue", current, "value");
        copy_if(&mut v, "averageValue", current, "averageValue");
        out.insert("object".to_owned(), Value::Object(v));
    }
    if let Some(src) = object_at(m, "pods") {
        let mut v = Map::new();
        metric_identifier_to_v1(&mut v, src, "selector");
        copy_if(&mut v, "currentAverageValue", sub_object(src, "current"), "averageValue");
        out.insert("pods".to_owned(), Value::Object(v));
    }
    for key in ["resource", "containerResource"] {
        if let Some(src) = object_at(m, key) {
            let current = sub_object(src, "current");
            let mut v = Map::new();
            copy_if(&mut v, "name", src, "name");
            copy_if(&mut v, "container", src, "container");
            copy_if(&mut v, "currentAverageUtilization", current, "averageUtilization");
            copy_if(&mut v, "currentAverageValue", current, "averageValue");
            out.insert(key.to_owned(), Value::Object(v));
        }
    }
    if let Some(src) = object_at(m, "external") {
        let current = sub_object(src, "current");
        let mut v = Map::new();
        metric_identifier_to_v1(&mut v, src, "metricSelector");
        copy_if(&mut v, "currentValue", current, "value");
        copy_if(&mut v, "currentAverageValue", current, "averageValue");
        out.insert("external".to_owned(), Value::Object(v));
    }
    Value::Object(out)
}

/// `Convert_v1_MetricStatus_To_autoscaling_MetricStatus` with the per-source
/// status functions of pkg/apis/autoscaling/v1/conversion.go.
fn metric_status_v1_to_v2(metric: &Value) -> Value {
    let Some(m) = metric.as_object() else {
        return metric.clone();
    };
    let mut out = Map::new();
    copy_if(&mut out, "type", m, "type");
    if let Some(src) = object_at(m, "object") {
        let mut current = Map::new();
        copy_if(&mut current, "value", src, "currentValue");
        copy_if(&mut current, "averageValue", src, "averageValue");
        let mut v = Map::new();
        copy_if(&mut v, "describedObject", src, "target");
        v.insert("metric".to_owned(), metric_identifier_from_v1(src, "selector"));
        v.insert("current".to_owned(), Value::Object(current));
        out.insert("object".to_owned(), Value::Object(v));
    }
    if let Some(src) = object_at(m, "pods") {
        let mut current = Map::new();
        copy_if(&mut current, "averageValue", src, "currentAverageValue");
        let mut v = Map::new();
        v.insert("metric".to_owned(), metric_identifier_from_v1(src, "selector"));
        v.insert("current".to_owned(), Value::Object(current));
        out.insert("pods".to_owned(), Value::Object(v));
    }
    for key in ["resource", "containerResource"] {
        if let Some(src) = object_at(m, key) {
            let mut current = Map::new();
            copy_if(&mut current, "averageUtilization", src, "currentAverageUtilization");
            copy_if(&mut current, "averageValue", src, "currentAverageValue");
            let mut v = Map::new();
            copy_if(&mut v, "name", src, "name");
            copy_if(&mut v, "container", src, "container");
            v.insert("current".to_owned(), Value::Object(current));
            out.insert(key.to_owned(), Value::Object(v));
        }
    }
    if let Some(src) = object_at(m, "external") {
        let mut current = Map::new();
        copy_if(&mut current, "value", src, "currentValue");
        copy_if(&mut current, "averageValue", src, "currentAverageValue");
        let mut v = Map::new();
        v.insert("metric".to_owned(), metric_identifier_from_v1(src, "metricSelector"));
        v.insert("current".to_owned(), Value::Object(current));
        out.insert("external".to_owned(), Value::Object(v));
    }
    Value::Object(out)
}

// ---------------------------------------------------------------------------
// HorizontalPodAutoscaler: behavior annotation (Go field names)
// ---------------------------------------------------------------------------

/// `(Go field name, v2 json name)` of `autoscaling.HPAScalingRules`, in Go
/// declaration order (pkg/apis/autoscaling/types.go).
const RULES_FIELDS: [(&str, &str); 4] = [
    ("StabilizationWindowSeconds", "stabilizationWindowSeconds"),
    ("SelectPolicy", "selectPolicy"),
    ("Policies", "policies"),
    ("Tolerance", "tolerance"),
];

/// `(Go field name, v2 json name)` of `autoscaling.HPAScalingPolicy`.
const POLICY_FIELDS: [(&str, &str); 3] = [("Type", "type"), ("Value", "value"), ("PeriodSeconds", "periodSeconds")];

fn go_object(fields: impl IntoIterator<Item = (&'static str, String)>) -> String {
    let body: Vec<String> = fields.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    format!("{{{}}}", body.join(","))
}

fn policy_to_go_json(policy: &Value) -> String {
    let Some(p) = policy.as_object() else {
        return "{}".to_owned();
    };
    go_object(POLICY_FIELDS.iter().filter_map(|(go, js)| present(p, js).map(|v| (*go, v.to_string()))))
}

fn rules_to_go_json(rules: Option<&Value>) -> String {
    let Some(r) = rules.and_then(Value::as_object) else {
        return "null".to_owned();
    };
    go_object(RULES_FIELDS.iter().map(|(go, js)| {
        let encoded = match (*js, present(r, js)) {
            ("policies", Some(Value::Array(ps))) => {
                let items: Vec<String> = ps.iter().map(policy_to_go_json).collect();
                format!("[{}]", items.join(","))
            }
            (_, Some(v)) => v.to_string(),
            (_, None) => "null".to_owned(),
        };
        (*go, encoded)
    }))
}

/// `json.Marshal(in.Spec.Behavior)` of the internal type, as
/// `Convert_autoscaling_HorizontalPodAutoscaler_To_v1_HorizontalPodAutoscaler` writes it.
fn behavior_to_go_json(behavior: &Value) -> String {
    format!(
        "{{\"ScaleUp\":{},\"ScaleDown\":{}}}",
        rules_to_go_json(behavior.get("scaleUp")),
        rules_to_go_json(behavior.get("scaleDown")),
    )
}

fn is_int(v: &Value) -> bool {
    v.is_i64() || v.is_u64()
}

fn is_quantity(v: &Value) -> bool {
    v.is_string() || v.is_number()
}

/// Copies a Go-named field to its json name if it has the type Go's
/// `json.Unmarshal` would accept; `None` when it would fail.
fn take_go_field(dst: &mut Object, src: &Object, go: &str, js: &str, ok: fn(&Value) -> bool) -> Option<()> {
    match get_ci(src, go) {
        None | Some(Value::Null) => Some(()),
        Some(v) if ok(v) => {
            dst.insert(js.to_owned(), v.clone());
            Some(())
        }
        Some(_) => None,
    }
}

fn policy_from_go_json(policy: &Value) -> Option<Value> {
    let p = policy.as_object()?;
    let mut out = Map::new();
    take_go_field(&mut out, p, "Type", "type", Value::is_string)?;
    take_go_field(&mut out, p, "Value", "value", is_int)?;
    take_go_field(&mut out, p, "PeriodSeconds", "periodSeconds", is_int)?;
    Some(Value::Object(out))
}

fn rules_from_go_json(rules: &Object) -> Option<Value> {
    let mut out = Map::new();
    take_go_field(&mut out, rules, "StabilizationWindowSeconds", "stabilizationWindowSeconds", is_int)?;
    take_go_field(&mut out, rules, "SelectPolicy", "selectPolicy", Value::is_string)?;
    take_go_field(&mut out, rules, "Tolerance", "tolerance", is_quantity)?;
    match get_ci(rules, "Policies") {
        None | Some(Value::Null) => {}
        Some(Value::Array(ps)) => {
            let policies = ps.iter().map(policy_from_go_json).collect::<Option<Vec<_>>>()?;
            out.insert("policies".to_owned(), Value::Array(policies));
        }
        Some(_) => return None,
    }
    Some(Value::Object(out))
}

/// The behavior annotation read back as `Convert_v1_HorizontalPodAutoscaler_To_autoscaling_HorizontalPodAutoscaler`
/// does: keys matched case-insensitively (`encoding/json`), and `None` when it
/// does not decode or decodes to the zero behavior.
fn behavior_from_go_json(raw: &str) -> Option<Value> {
    let parsed: Value = serde_json::from_str(raw).ok()?;
    let top = parsed.as_object()?;
    let mut out = Map::new();
    for (go, js) in [("ScaleUp", "scaleUp"), ("ScaleDown", "scaleDown")] {
        match get_ci(top, go) {
            None | Some(Value::Null) => {}
            Some(Value::Object(rules)) => {
                out.insert(js.to_owned(), rules_from_go_json(rules)?);
            }
            Some(_) => return None,
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

// ---------------------------------------------------------------------------
// HorizontalPodAutoscaler: public conversions
// ---------------------------------------------------------------------------

/// autoscaling/v1 HPA -> autoscaling/v2 HPA (storage shape).
///
/// Port of `Convert_v1_HorizontalPodAutoscaler_To_autoscaling_HorizontalPodAutoscaler`,
/// `Convert_v1_HorizontalPodAutoscalerSpec_To_autoscaling_HorizontalPodAutoscalerSpec` and
/// `Convert_v1_HorizontalPodAutoscalerStatus_To_autoscaling_HorizontalPodAutoscalerStatus`
/// (k8s.io/kubernetes/pkg/apis/autoscaling/v1/conversion.go):
///
/// * `spec.scaleTargetRef`, `minReplicas`, `maxReplicas` are copied;
///   `targetCPUUtilizationPercentage: N` becomes the Resource/cpu metric
///   `{type: Utilization, averageUtilization: N}`, placed *after* the metrics
///   decoded from [`METRIC_SPECS_ANNOTATION`] (upstream order);
/// * when that leaves no metric at all, the metric is cpu at
///   [`DEFAULT_CPU_UTILIZATION`] percent, as upstream's conversion does;
/// * [`BEHAVIOR_SPECS_ANNOTATION`] becomes `spec.behavior` unless it fails to
///   decode or is the zero behavior;
/// * `status.observedGeneration`, `lastScaleTime`, `currentReplicas`,
///   `desiredReplicas` are copied; `currentCPUUtilizationPercentage` becomes a
///   Resource/cpu `currentMetrics` entry, replaced wholesale by
///   [`METRIC_STATUSES_ANNOTATION`] when present; [`CONDITIONS_ANNOTATION`]
///   becomes `status.conditions`;
/// * the round-trip annotations are then removed (`metadata.annotations` itself
///   goes when that empties it).
///
/// Deviations: absent fields stay absent (upstream fills Go zero values such as
/// `currentReplicas: 0`, and its defaulting sets `minReplicas: 1`, which is not
/// conversion and is left to the caller); a `status` is only created when the
/// input has one or the annotations carry status data; a malformed annotation
/// is ignored and dropped where upstream fails the request.
pub fn hpa_v1_to_v2(hpa: Value) -> Value {
    let Value::Object(mut obj) = hpa else {
        return hpa;
    };
    set_type_meta(&mut obj, AUTOSCALING_V2, HPA_KIND);

    let other_metrics = annotation_list(&obj, METRIC_SPECS_ANNOTATION)
        .map(|ms| ms.iter().map(metric_spec_v1_to_v2).collect::<Vec<_>>());
    let behavior = annotation(&obj, BEHAVIOR_SPECS_ANNOTATION).and_then(behavior_from_go_json);
    let current_metrics = annotation_list(&obj, METRIC_STATUSES_ANNOTATION)
        .map(|ms| ms.iter().map(metric_status_v1_to_v2).collect::<Vec<_>>());
    let conditions = annotation_list(&obj, CONDITIONS_ANNOTATION);
    drop_round_trip_annotations(&mut obj);

    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        // v2-only names are unknown fields in an autoscaling/v1 request.
        spec.remove("metrics");
        spec.remove("behavior");
        let mut metrics = other_metrics.unwrap_or_default();
        if let Some(pct) = spec.remove("targetCPUUtilizationPercentage").filter(|v| !v.is_null()) {
            metrics.push(cpu_utilization_metric(pct));
        }
        if metrics.is_empty() {
            metrics.push(cpu_utilization_metric(json!(DEFAULT_CPU_UTILIZATION)));
        }
        spec.insert("metrics".to_owned(), Value::Array(metrics));
        if let Some(behavior) = behavior {
            spec.insert("behavior".to_owned(), behavior);
        }
    }

    let has_status = obj.get("status").is_some_and(Value::is_object);
    let annotated_status =
        current_metrics.as_ref().is_some_and(|c| !c.is_empty()) || conditions.as_ref().is_some_and(|c| !c.is_empty());
    if has_status || annotated_status {
        let status = obj.entry("status").or_insert_with(|| Value::Object(Map::new()));
        if !status.is_object() {
            *status = Value::Object(Map::new());
        }
        if let Some(status) = status.as_object_mut() {
            status.remove("currentMetrics");
            status.remove("conditions");
            let cpu = status.remove("currentCPUUtilizationPercentage").filter(|v| !v.is_null());
            let current = match (current_metrics, cpu) {
                // "ignore any existing status values -- the ones here have more information"
                (Some(from_annotation), _) => from_annotation,
                (None, Some(pct)) => vec![json!({
                    "type": "Resource",
                    "resource": { "name": "cpu", "current": { "averageUtilization": pct } },
                })],
                (None, None) => Vec::new(),
            };
            if !current.is_empty() {
                status.insert("currentMetrics".to_owned(), Value::Array(current));
            }
            if let Some(conditions) = conditions.filter(|c| !c.is_empty()) {
                status.insert("conditions".to_owned(), Value::Array(conditions));
            }
        }
    }
    Value::Object(obj)
}

/// autoscaling/v2 HPA -> autoscaling/v1 HPA.
///
/// Port of `Convert_autoscaling_HorizontalPodAutoscaler_To_v1_HorizontalPodAutoscaler`,
/// `Convert_autoscaling_HorizontalPodAutoscalerSpec_To_v1_HorizontalPodAutoscalerSpec` and
/// `Convert_autoscaling_HorizontalPodAutoscalerStatus_To_v1_HorizontalPodAutoscalerStatus`
/// (k8s.io/kubernetes/pkg/apis/autoscaling/v1/conversion.go):
///
/// * stale round-trip annotations are dropped first
///   (`DropRoundTripHorizontalPodAutoscalerAnnotations`, pkg/apis/autoscaling/helpers.go);
/// * `spec.scaleTargetRef`, `minReplicas`, `maxReplicas` are copied; the first
///   Resource/cpu metric sets `targetCPUUtilizationPercentage` from its
///   `target.averageUtilization`;
/// * every metric other than a Resource/cpu utilization one is written, as
///   autoscaling/v1 `MetricSpec`s, to [`METRIC_SPECS_ANNOTATION`];
///   `spec.behavior` goes to [`BEHAVIOR_SPECS_ANNOTATION`] in Go field names;
/// * `status.observedGeneration`, `lastScaleTime`, `currentReplicas`,
///   `desiredReplicas` are copied; the last Resource/cpu `currentMetrics` entry
///   with a utilization sets `currentCPUUtilizationPercentage`; all
///   `currentMetrics` go to [`METRIC_STATUSES_ANNOTATION`] and `conditions` to
///   [`CONDITIONS_ANNOTATION`].
///
/// [`hpa_v1_to_v2`] reverses all of it, so v2 -> v1 -> v2 is the identity for
/// valid objects, except that upstream's layout moves the cpu-utilization
/// metric behind the other metrics.
///
/// Deviation: quantities and other fields absent from the v2 object are left out
/// of the annotations instead of being written as Go zero values (`"0"`), so
/// that they stay absent on the way back.
pub fn hpa_v2_to_v1(hpa: Value) -> Value {
    let Value::Object(mut obj) = hpa else {
        return hpa;
    };
    set_type_meta(&mut obj, AUTOSCALING_V1, HPA_KIND);
    drop_round_trip_annotations(&mut obj);

    let mut new_annotations: Vec<(&str, String)> = Vec::new();

    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("targetCPUUtilizationPercentage");
        let metrics = spec.remove("metrics");
        let metrics = metrics.as_ref().and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
        if let Some(pct) = target_cpu_utilization(metrics) {
            spec.insert("targetCPUUtilizationPercentage".to_owned(), pct);
        }
        let others: Vec<Value> =
            metrics.iter().filter(|m| !is_cpu_utilization_metric(m)).map(metric_spec_v2_to_v1).collect();
        if !others.is_empty() {
            new_annotations.push((METRIC_SPECS_ANNOTATION, Value::Array(others).to_string()));
        }
        if let Some(behavior) = spec.remove("behavior").filter(|b| !b.is_null()) {
            new_annotations.push((BEHAVIOR_SPECS_ANNOTATION, behavior_to_go_json(&behavior)));
        }
    }

    if let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut) {
        status.remove("currentCPUUtilizationPercentage");
        let current = status.remove("currentMetrics");
        let current = current.as_ref().and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
        if let Some(pct) = current_cpu_utilization(current) {
            status.insert("currentCPUUtilizationPercentage".to_owned(), pct);
        }
        if !current.is_empty() {
            let v1: Vec<Value> = current.iter().map(metric_status_v2_to_v1).collect();
            new_annotations.push((METRIC_STATUSES_ANNOTATION, Value::Array(v1).to_string()));
        }
        if let Some(Value::Array(conditions)) = status.remove("conditions")
            && !conditions.is_empty()
        {
            new_annotations.push((CONDITIONS_ANNOTATION, Value::Array(conditions).to_string()));
        }
    }

    set_annotations(&mut obj, new_annotations);
    Value::Object(obj)
}

#[cfg(test)]
mod tests;
