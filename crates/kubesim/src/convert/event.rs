//! `Event`: stored as `core/v1`, also served as `events.k8s.io/v1`
//! (k8s.io/kubernetes/pkg/apis/events/v1/conversion.go and its
//! zz_generated.conversion.go).

use serde_json::{Value, json};

use super::{Object, present, rename_fields, set_type_meta, str_at};

const CORE_V1: &str = "v1";
const EVENTS_V1: &str = "events.k8s.io/v1";
const EVENT_KIND: &str = "Event";

/// `(events.k8s.io/v1 name, core/v1 name)` for every field whose name differs.
/// Everything else (`reason`, `type`, `action`, `eventTime`, `series`,
/// `related`, `reportingInstance`, `metadata`) has the same name and shape in
/// both versions and passes through: see `autoConvert_v1_Event_To_core_Event`
/// in pkg/apis/events/v1/zz_generated.conversion.go.
const EVENT_RENAMES: [(&str, &str); 7] = [
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

fn event_renames_reversed() -> [(&'static str, &'static str); 7] {
    EVENT_RENAMES.map(|(v1, core)| (core, v1))
}

/// Whether a core `source` (Go `EventSource` struct) carries nothing.
fn source_is_empty(source: Option<&Value>) -> bool {
    match source {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(_) => false,
    }
}

/// The non-empty `reportingComponent` of a core event.
fn reporting_component(core: &Object) -> Option<&str> {
    str_at(core, "reportingComponent").filter(|s| !s.is_empty())
}

/// Whether `source` is exactly what [`event_v1_to_core`] synthesizes for this
/// event, i.e. the events.k8s.io/v1 writer sent no `deprecatedSource`.
/// Events written through events.k8s.io/v1 always carry `eventTime` (required
/// by pkg/apis/core/validation/events.go); legacy core/v1 events from
/// client-go's `tools/record` usually do not, which keeps their `source`
/// visible as `deprecatedSource`.
fn source_was_synthesized(core: &Object) -> bool {
    let Some(component) = reporting_component(core) else {
        return false;
    };
    present(core, "eventTime").is_some() && core.get("source") == Some(&json!({ "component": component }))
}

/// events.k8s.io/v1 Event -> core/v1 Event (the storage shape).
///
/// Port of `Convert_v1_Event_To_core_Event`
/// (k8s.io/kubernetes/pkg/apis/events/v1/conversion.go) plus the generated
/// `autoConvert_v1_Event_To_core_Event` (pkg/apis/events/v1/zz_generated.conversion.go):
/// `regarding`->`involvedObject`, `note`->`message`,
/// `reportingController`->`reportingComponent`, `deprecatedSource`->`source`,
/// `deprecatedFirstTimestamp`->`firstTimestamp`,
/// `deprecatedLastTimestamp`->`lastTimestamp`, `deprecatedCount`->`count`;
/// `reason`, `type`, `action`, `eventTime`, `series`, `related`,
/// `reportingInstance` are copied as they are.
///
/// Deviation (kubesim-specific): when the event has no `deprecatedSource` (absent,
/// `null` or `{}`) but a non-empty `reportingController`, the core view gets
/// `source: {component: <reportingController>}` so that consumers that only
/// read `source.component` (older kubectl, printers keyed on `source`) show who
/// emitted it. Upstream leaves `source` empty and kubectl's `DescribeEvents`
/// (staging/src/k8s.io/kubectl/pkg/describe/describe.go) falls back to
/// `reportingController` itself. `source.host` is not synthesized: no upstream
/// code maps `reportingInstance` there. [`event_core_to_v1`] removes the
/// synthesized source again, so v1 -> core -> v1 is the identity.
///
/// No `firstTimestamp`/`lastTimestamp`/`count` are invented from `eventTime` or
/// `series`: kubectl describe/get already read `eventTime` when
/// `firstTimestamp` is zero and `series` before `count`.
pub fn event_v1_to_core(ev: Value) -> Value {
    let Value::Object(mut obj) = ev else {
        return ev;
    };
    rename_fields(&mut obj, &EVENT_RENAMES);
    if source_is_empty(obj.get("source"))
        && let Some(component) = reporting_component(&obj).map(str::to_owned)
    {
        obj.insert("source".to_owned(), json!({ "component": component }));
    }
    set_type_meta(&mut obj, CORE_V1, EVENT_KIND);
    Value::Object(obj)
}

/// core/v1 Event -> events.k8s.io/v1 Event.
///
/// Port of `Convert_core_Event_To_v1_Event`
/// (k8s.io/kubernetes/pkg/apis/events/v1/conversion.go) plus the generated
/// `autoConvert_core_Event_To_v1_Event` (pkg/apis/events/v1/zz_generated.conversion.go):
/// `involvedObject`->`regarding`, `message`->`note`,
/// `reportingComponent`->`reportingController`, `source`->`deprecatedSource`,
/// `firstTimestamp`->`deprecatedFirstTimestamp`,
/// `lastTimestamp`->`deprecatedLastTimestamp`, `count`->`deprecatedCount`;
/// every other field is copied as it is.
///
/// Deviation: a `source` that is exactly `{component: <reportingComponent>}` on an
/// event with an `eventTime` is taken to be the one [`event_v1_to_core`]
/// synthesized and is not shown as `deprecatedSource`.
pub fn event_core_to_v1(ev: Value) -> Value {
    let Value::Object(mut obj) = ev else {
        return ev;
    };
    if source_was_synthesized(&obj) {
        obj.remove("source");
    }
    rename_fields(&mut obj, &event_renames_reversed());
    set_type_meta(&mut obj, EVENTS_V1, EVENT_KIND);
    Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::tests::assert_no_nulls;

    fn kube_rs_event() -> Value {
        json!({
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {
                "name": "web-0.17c2a5e1b3f4a8d0",
                "namespace": "default"
            },
            "action": "Reconcile",
            "eventTime": "2024-05-01T10:00:00.123456Z",
            "note": "Scaled web to 3 replicas",
            "reason": "Scaled",
            "regarding": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "web",
                "namespace": "default",
                "uid": "5f0c7a1e-3c1e-4a57-9d0b-2f4f5b8a6c11"
            },
            "reportingController": "example.com/web-operator",
            "reportingInstance": "web-operator-6d9c8b7f5-x2x9k",
            "type": "Normal"
        })
    }

    fn kube_rs_event_with_series() -> Value {
        let mut ev = kube_rs_event();
        ev["series"] = json!({ "count": 4, "lastObservedTime": "2024-05-01T10:05:00.000001Z" });
        ev["related"] = json!({ "apiVersion": "v1", "kind": "Pod", "name": "web-0", "namespace": "default" });
        ev
    }

    /// What client-go's legacy `tools/record` recorder posts to core/v1 (Go
    /// writes the zero `eventTime` as `null`).
    fn kubelet_event() -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": { "name": "web-0.17c2a5e1b3f4a8d1", "namespace": "default", "resourceVersion": "42" },
            "involvedObject": { "apiVersion": "v1", "kind": "Pod", "name": "web-0", "namespace": "default", "fieldPath": "spec.containers{web}" },
            "reason": "Pulled",
            "message": "Container image \"nginx:1.25\" already present on machine",
            "source": { "component": "kubelet", "host": "node-1" },
            "firstTimestamp": "2024-05-01T09:00:00Z",
            "lastTimestamp": "2024-05-01T09:30:00Z",
            "count": 3,
            "type": "Normal",
            "eventTime": null,
            "reportingComponent": "kubelet",
            "reportingInstance": "node-1"
        })
    }

    #[test]
    fn kube_rs_event_core_view_has_what_kubectl_describe_shows() {
        let original = kube_rs_event();
        let core = event_v1_to_core(original.clone());
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["kind"], "Event");
        assert_eq!(core["metadata"], original["metadata"]);
        // kubectl describe: Type, Reason, Age (eventTime), From (source.component), Message.
        assert_eq!(core["type"], "Normal");
        assert_eq!(core["reason"], "Scaled");
        assert_eq!(core["message"], "Scaled web to 3 replicas");
        assert_eq!(core["eventTime"], "2024-05-01T10:00:00.123456Z");
        assert_eq!(core["source"], json!({ "component": "example.com/web-operator" }));
        assert_eq!(core["involvedObject"], original["regarding"]);
        assert_eq!(core["reportingComponent"], "example.com/web-operator");
        assert_eq!(core["reportingInstance"], "web-operator-6d9c8b7f5-x2x9k");
        assert_eq!(core["action"], "Reconcile");
        for gone in ["regarding", "note", "reportingController", "firstTimestamp", "lastTimestamp", "count", "series"] {
            assert!(core.get(gone).is_none(), "{gone} should be absent");
        }
        assert_no_nulls(&core, "$");
    }

    #[test]
    fn kube_rs_event_round_trips_through_storage() {
        for original in [kube_rs_event(), kube_rs_event_with_series()] {
            let back = event_core_to_v1(event_v1_to_core(original.clone()));
            assert_eq!(back, original);
        }
    }

    #[test]
    fn series_and_related_carry_over_unchanged() {
        let original = kube_rs_event_with_series();
        let core = event_v1_to_core(original.clone());
        assert_eq!(core["series"], original["series"]);
        assert_eq!(core["related"], original["related"]);
        // No count/lastTimestamp invented: kubectl reads series first.
        assert!(core.get("count").is_none());
        assert!(core.get("lastTimestamp").is_none());
    }

    #[test]
    fn legacy_core_event_maps_to_deprecated_fields_and_back() {
        let original = kubelet_event();
        let v1 = event_core_to_v1(original.clone());
        assert_eq!(v1["apiVersion"], "events.k8s.io/v1");
        assert_eq!(v1["regarding"], original["involvedObject"]);
        assert_eq!(v1["note"], original["message"]);
        assert_eq!(v1["reportingController"], "kubelet");
        assert_eq!(v1["reportingInstance"], "node-1");
        assert_eq!(v1["deprecatedSource"], json!({ "component": "kubelet", "host": "node-1" }));
        assert_eq!(v1["deprecatedFirstTimestamp"], "2024-05-01T09:00:00Z");
        assert_eq!(v1["deprecatedLastTimestamp"], "2024-05-01T09:30:00Z");
        assert_eq!(v1["deprecatedCount"], 3);
        for gone in
            ["involvedObject", "message", "source", "firstTimestamp", "lastTimestamp", "count", "reportingComponent"]
        {
            assert!(v1.get(gone).is_none(), "{gone} should be absent");
        }
        assert_eq!(event_v1_to_core(v1), original);
    }

    #[test]
    fn core_event_with_only_event_time_keeps_it_and_invents_nothing() {
        let original = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": { "name": "e1", "namespace": "default" },
            "involvedObject": { "kind": "Pod", "name": "p", "namespace": "default" },
            "reason": "Started",
            "message": "started",
            "type": "Normal",
            "eventTime": "2024-05-01T10:00:00.000000Z",
            "reportingComponent": "my-ctrl",
            "reportingInstance": "my-ctrl-1",
            "action": "Start"
        });
        let v1 = event_core_to_v1(original.clone());
        assert_eq!(v1["eventTime"], "2024-05-01T10:00:00.000000Z");
        for absent in ["deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedCount", "deprecatedSource"] {
            assert!(v1.get(absent).is_none(), "{absent} should be absent");
        }
        assert_no_nulls(&v1, "$");
        // Storing it back synthesizes source.component for kubectl, nothing else.
        let core = event_v1_to_core(v1);
        assert_eq!(core["source"], json!({ "component": "my-ctrl" }));
        assert!(core.get("firstTimestamp").is_none());
        assert!(core.get("lastTimestamp").is_none());
        assert!(core.get("count").is_none());
        assert_eq!(core["eventTime"], original["eventTime"]);
    }

    #[test]
    fn explicit_deprecated_source_is_kept() {
        let mut ev = kube_rs_event();
        ev["deprecatedSource"] = json!({ "component": "legacy", "host": "node-9" });
        let core = event_v1_to_core(ev.clone());
        assert_eq!(core["source"], json!({ "component": "legacy", "host": "node-9" }));
        assert_eq!(event_core_to_v1(core), ev);
    }

    #[test]
    fn no_source_without_reporting_controller() {
        let ev = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": { "name": "x" },
            "eventTime": "2024-05-01T10:00:00.000000Z",
            "note": "n"
        });
        let core = event_v1_to_core(ev.clone());
        assert!(core.get("source").is_none());
        assert_eq!(event_core_to_v1(core), ev);
    }

    #[test]
    fn other_versions_field_names_are_dropped_not_mixed_in() {
        let mut ev = kube_rs_event();
        ev["message"] = json!("stale");
        ev["involvedObject"] = json!({ "kind": "Stale" });
        let core = event_v1_to_core(ev);
        assert_eq!(core["message"], "Scaled web to 3 replicas");
        assert_eq!(core["involvedObject"]["kind"], "Deployment");

        let mut core = kubelet_event();
        core["note"] = json!("stale");
        let v1 = event_core_to_v1(core);
        assert_eq!(v1["note"], "Container image \"nginx:1.25\" already present on machine");
    }
}
