//! Server-side `Table` rendering (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`),
//! which is how kubectl gets its columns: READY/UP-TO-DATE/AVAILABLE for Deployments and a
//! CRD's additionalPrinterColumns for custom resources.
//! Source: <https://kubernetes.io/docs/reference/using-api/api-concepts/#receiving-resources-as-tables>.

use serde_json::{Value, json};

use crate::resources::{Behavior, ResourceDef};

/// What each row carries besides its cells (`?includeObject=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    /// No object.
    None,
    /// `PartialObjectMetadata` (the default).
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Parses `?includeObject=`.
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("None") => Self::None,
            Some("Object") => Self::Object,
            _ => Self::Metadata,
        }
    }
}

/// Formats an age like apimachinery's `duration.HumanDuration` (`45s`, `5m10s`, `3h`, `2d`).
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        s if s < 60 * 2 => format!("{s}s"),
        s if s < 60 * 10 => {
            let (m, r) = (s / 60, s % 60);
            if r == 0 { format!("{m}m") } else { format!("{m}m{r}s") }
        }
        s if s < 60 * 60 * 3 => format!("{}m", s / 60),
        s if s < 60 * 60 * 8 => {
            let (h, m) = (s / 3600, (s % 3600) / 60);
            if m == 0 { format!("{h}h") } else { format!("{h}h{m}m") }
        }
        s if s < 60 * 60 * 48 => format!("{}h", s / 3600),
        s if s < 60 * 60 * 24 * 8 => {
            let (d, h) = (s / 86400, (s % 86400) / 3600);
            if h == 0 { format!("{d}d") } else { format!("{d}d{h}h") }
        }
        s if s < 60 * 60 * 24 * 365 * 2 => format!("{}d", s / 86400),
        s => format!("{}y", s / (86400 * 365)),
    }
}

fn age(ts: Option<&str>) -> Value {
    let Some(ts) = ts else { return json!("<unknown>") };
    match ts.parse::<jiff::Timestamp>() {
        Ok(t) => json!(human_duration(jiff::Timestamp::now().as_second() - t.as_second())),
        Err(_) => json!("<invalid>"),
    }
}

/// Resolves a simple JSONPath (`.a.b`, `.a[0].b`, `.a[?(@.type=="X")].b`) in `obj`.
pub fn json_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}').trim_start_matches('$');
    let mut cur = obj;
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            cur = cur.get(&r[..end])?;
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = &r[..end];
            rest = &r[end + 1..];
            if let Some(filter) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                let (field, want) = filter.split_once("==")?;
                let want = want.trim().trim_matches(['"', '\'']);
                cur = cur.as_array()?.iter().find(|e| e.get(field.trim()).and_then(Value::as_str) == Some(want))?;
            } else {
                cur = cur.get(inner.parse::<usize>().ok()?)?;
            }
        } else {
            return None;
        }
    }
    Some(cur)
}

/// Whether `def`'s table starts with a `Name` column. Events' does not: the API server's
/// event table leads with Last Seen and lists the name last, with `-o wide`.
fn name_first(def: &ResourceDef) -> bool {
    def.behavior != Behavior::Event
}

/// A binding's subjects of one kind, as the API server's binding printer lists them
/// (`printRoleBinding` via `SubjectsStrings`: users and groups by name, service accounts
/// as `namespace/name` even when the namespace is empty, joined with `, `).
fn binding_subjects(obj: &Value, column: &str) -> String {
    let kind = match column {
        "Users" => "User",
        "Groups" => "Group",
        _ => "ServiceAccount",
    };
    let names: Vec<String> = obj
        .get("subjects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|s| s["kind"] == json!(kind))
        .map(|s| {
            let name = s["name"].as_str().unwrap_or("");
            if kind == "ServiceAccount" {
                format!("{}/{name}", s["namespace"].as_str().unwrap_or(""))
            } else {
                name.to_string()
            }
        })
        .collect();
    names.join(", ")
}

fn cells(def: &ResourceDef, obj: &Value) -> Vec<Value> {
    // The API server prints both Event APIs from the internal (core-shaped) object, so an
    // events.k8s.io/v1 row shows `regarding` as Object and `note` as Message too.
    let core;
    let obj = if def.behavior == Behavior::Event && obj["apiVersion"] == "events.k8s.io/v1" {
        core = crate::convert::event_v1_to_core(obj.clone());
        &core
    } else {
        obj
    };
    let mut out = vec![];
    if name_first(def) {
        out.push(obj.pointer("/metadata/name").cloned().unwrap_or(json!("")));
    }
    let int = |p: &str| obj.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let text = |p: &str| obj.pointer(p).and_then(Value::as_str).filter(|s| !s.is_empty());
    for c in &def.columns {
        let v = match (def.behavior, c.name.as_str()) {
            (Behavior::Deployment, "Ready") => {
                json!(format!("{}/{}", int("/status/readyReplicas"), int("/spec/replicas")))
            }
            (Behavior::Deployment, "Up-to-date") => json!(int("/status/updatedReplicas")),
            (Behavior::Deployment, "Available") => json!(int("/status/availableReplicas")),
            (Behavior::Deployment, "Containers" | "Images") => {
                let field = if c.name == "Containers" { "name" } else { "image" };
                let list: Vec<&str> = obj
                    .pointer("/spec/template/spec/containers")
                    .and_then(Value::as_array)
                    .map(|cs| cs.iter().filter_map(|c| c.get(field).and_then(Value::as_str)).collect())
                    .unwrap_or_default();
                json!(list.join(","))
            }
            (Behavior::Deployment, "Selector") => json!(
                obj.pointer("/spec/selector")
                    .and_then(|s| crate::selectors::LabelSelector::from_object(s).ok())
                    .map(|s| s.to_string())
                    .unwrap_or_default()
            ),
            (Behavior::Event, "Last Seen") => {
                let ts = ["/series/lastObservedTime", "/lastTimestamp", "/firstTimestamp", "/eventTime"]
                    .iter()
                    .find_map(|p| text(p));
                age(ts)
            }
            (Behavior::Event, "First Seen") => age(text("/firstTimestamp").or_else(|| text("/eventTime"))),
            (Behavior::Event, "Count") => {
                json!(obj.pointer("/series/count").or(obj.get("count")).and_then(Value::as_i64).unwrap_or(1))
            }
            (Behavior::Event, "Source") => {
                // formatEventSource: component (else reportingController), then ", host"
                // (else reportingInstance) when there is one.
                let component = text("/source/component").or_else(|| text("/reportingComponent")).unwrap_or_default();
                match text("/source/host").or_else(|| text("/reportingInstance")) {
                    Some(instance) => json!(format!("{component}, {instance}")),
                    None => json!(component),
                }
            }
            (Behavior::Event, "Object") => json!(format!(
                "{}/{}",
                obj.pointer("/involvedObject/kind").and_then(Value::as_str).unwrap_or("").to_lowercase(),
                obj.pointer("/involvedObject/name").and_then(Value::as_str).unwrap_or("")
            )),
            (Behavior::Rbac, "Role") => json!(format!(
                "{}/{}",
                obj.pointer("/roleRef/kind").and_then(Value::as_str).unwrap_or(""),
                obj.pointer("/roleRef/name").and_then(Value::as_str).unwrap_or("")
            )),
            (Behavior::Rbac, "Users" | "Groups" | "ServiceAccounts") => json!(binding_subjects(obj, &c.name)),
            (Behavior::WebhookConfig, "Webhooks") => {
                json!(obj.get("webhooks").and_then(Value::as_array).map_or(0, Vec::len))
            }
            (Behavior::Hpa, "Reference") => json!(format!(
                "{}/{}",
                obj.pointer("/spec/scaleTargetRef/kind").and_then(Value::as_str).unwrap_or(""),
                obj.pointer("/spec/scaleTargetRef/name").and_then(Value::as_str).unwrap_or("")
            )),
            _ => {
                let v = json_path(obj, &c.json_path);
                match (c.type_.as_str(), v) {
                    ("date", Some(Value::String(s))) => age(Some(s)),
                    (_, Some(v)) if !v.is_null() => v.clone(),
                    _ => Value::Null,
                }
            }
        };
        out.push(v);
    }
    out
}

/// Renders `items` (already in the requested version) as a `meta.k8s.io/v1` Table.
pub fn render(def: &ResourceDef, items: &[Value], list_meta: Value, include: IncludeObject) -> Value {
    let mut columns = vec![];
    if name_first(def) {
        columns.push(json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}));
    }
    for c in &def.columns {
        let type_ = if c.type_ == "date" { "string" } else { c.type_.as_str() };
        let format = if c.json_path == ".metadata.name" { "name" } else { "" };
        columns.push(
            json!({"name": c.name, "type": type_, "format": format, "description": c.description, "priority": c.priority}),
        );
    }
    let rows: Vec<Value> = items
        .iter()
        .map(|obj| {
            let mut row = json!({"cells": cells(def, obj)});
            match include {
                IncludeObject::None => {}
                IncludeObject::Object => row["object"] = obj.clone(),
                IncludeObject::Metadata => {
                    row["object"] = json!({
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
                    })
                }
            }
            row
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "columnDefinitions": columns, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_match_apimachinery() {
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(310), "5m10s");
        assert_eq!(human_duration(3 * 3600 + 60), "3h1m");
        assert_eq!(human_duration(3 * 86400), "3d");
    }

    #[test]
    fn json_paths() {
        let o = json!({"spec": {"replicas": 3}, "status": {"conditions": [{"type": "A", "status": "False"}, {"type": "Synced", "status": "True"}]}});
        assert_eq!(json_path(&o, ".spec.replicas"), Some(&json!(3)));
        assert_eq!(json_path(&o, ".status.conditions[1].type"), Some(&json!("Synced")));
        assert_eq!(json_path(&o, ".status.conditions[?(@.type==\"Synced\")].status"), Some(&json!("True")));
        assert_eq!(json_path(&o, ".spec.missing"), None);
    }

    #[test]
    fn event_rows_match_the_api_servers_event_table_in_both_apis() {
        let defs = crate::resources::builtins();
        let core_def = defs.iter().find(|d| d.group.is_empty() && d.plural == "events").expect("events");
        let v1_def = defs.iter().find(|d| d.group == "events.k8s.io").expect("events.k8s.io");
        let v1 = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "web.1", "namespace": "shop"}, "eventTime": "2020-01-01T00:00:00.000000Z",
            "reportingController": "ctl", "reportingInstance": "ctl-0", "action": "Scale", "reason": "Scaled",
            "note": "scaled web", "type": "Normal", "regarding": {"kind": "Deployment", "name": "web"}});
        let core = crate::convert::event_v1_to_core(v1.clone());
        for (def, obj) in [(core_def, core), (v1_def, v1)] {
            let t = render(def, &[obj], json!({}), IncludeObject::None);
            let names: Vec<&str> =
                t["columnDefinitions"].as_array().expect("columns").iter().filter_map(|c| c["name"].as_str()).collect();
            assert_eq!(
                names,
                [
                    "Last Seen",
                    "Type",
                    "Reason",
                    "Object",
                    "Subobject",
                    "Source",
                    "Message",
                    "First Seen",
                    "Count",
                    "Name"
                ]
            );
            let cells = &t["rows"][0]["cells"];
            assert_eq!(cells[1], "Normal");
            assert_eq!(cells[2], "Scaled");
            assert_eq!(cells[3], "deployment/web");
            assert_eq!(cells[5], "ctl, ctl-0");
            assert_eq!(cells[6], "scaled web");
            assert_eq!(cells[8], 1);
            assert_eq!(cells[9], "web.1");
        }
    }

    #[test]
    fn deployment_rows_show_ready_over_spec() {
        let def = crate::resources::builtins().into_iter().find(|d| d.plural == "deployments").expect("deployments");
        let d = json!({"metadata": {"name": "web", "creationTimestamp": "2020-01-01T00:00:00Z"}, "spec": {"replicas": 3}, "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
        let t = render(&def, &[d], json!({}), IncludeObject::Metadata);
        assert_eq!(t["rows"][0]["cells"][0], "web");
        assert_eq!(t["rows"][0]["cells"][1], "2/3");
        assert_eq!(t["rows"][0]["cells"][2], 3);
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    }
}
