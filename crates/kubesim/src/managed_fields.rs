//! `metadata.managedFields`: which field manager last set which fields.
//!
//! Field sets use the `FieldsV1` encoding (`{"f:spec":{"f:replicas":{}}}`). kubesim tracks
//! object fields down to the leaves and treats lists as atomic leaves (the real server keys
//! some lists by merge key; kubesim does not need that precision). Semantics follow
//! <https://kubernetes.io/docs/reference/using-api/server-side-apply/#field-management>:
//! an `Update` takes ownership of the fields it *changed* away from every other manager; an
//! `Apply` owns exactly the fields in its applied configuration.

use serde_json::{Map, Value, json};

/// The operation recorded in a managedFields entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A create, update or non-apply patch.
    Update,
    /// A server-side apply patch.
    Apply,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Update => "Update",
            Operation::Apply => "Apply",
        }
    }
}

/// Metadata fields the server owns; they are never part of a field set.
const SYSTEM_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
    "generateName",
];

/// The field set of `obj` (leaves only), skipping system metadata, `apiVersion`, `kind`
/// and — unless `with_status` — `status`.
pub fn field_set(obj: &Value, with_status: bool) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(map) = obj.as_object() else { return out };
    for (k, v) in map {
        if k == "apiVersion" || k == "kind" || (k == "status" && !with_status) {
            continue;
        }
        if k == "metadata" {
            let mut meta = Map::new();
            if let Some(m) = v.as_object() {
                for (mk, mv) in m {
                    if !SYSTEM_METADATA.contains(&mk.as_str()) {
                        meta.insert(format!("f:{mk}"), leaves(mv));
                    }
                }
            }
            if !meta.is_empty() {
                out.insert("f:metadata".into(), Value::Object(meta));
            }
            continue;
        }
        out.insert(format!("f:{k}"), leaves(v));
    }
    out
}

fn leaves(v: &Value) -> Value {
    match v {
        Value::Object(m) if !m.is_empty() => {
            Value::Object(m.iter().map(|(k, v)| (format!("f:{k}"), leaves(v))).collect())
        }
        _ => json!({}),
    }
}

/// The leaf paths (as field sets) whose values differ between `old` and `new`.
pub fn changed(old: &Value, new: &Value, with_status: bool) -> Map<String, Value> {
    let old_set = field_set(old, with_status);
    let new_set = field_set(new, with_status);
    let mut out = Map::new();
    diff_into(&old_set, &new_set, old, new, &mut out);
    out
}

fn strip(k: &str) -> &str {
    k.strip_prefix("f:").unwrap_or(k)
}

fn diff_into(
    old_set: &Map<String, Value>,
    new_set: &Map<String, Value>,
    old: &Value,
    new: &Value,
    out: &mut Map<String, Value>,
) {
    let mut keys: Vec<&String> = old_set.keys().chain(new_set.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let name = strip(k);
        let (ov, nv) = (old.get(name).unwrap_or(&Value::Null), new.get(name).unwrap_or(&Value::Null));
        if ov == nv {
            continue;
        }
        let (os, ns) = (old_set.get(k).and_then(Value::as_object), new_set.get(k).and_then(Value::as_object));
        match (os, ns) {
            (Some(os), Some(ns)) if !os.is_empty() || !ns.is_empty() => {
                let mut sub = Map::new();
                diff_into(os, ns, ov, nv, &mut sub);
                if !sub.is_empty() {
                    out.insert(k.clone(), Value::Object(sub));
                }
            }
            (None, Some(ns)) if !ns.is_empty() => {
                out.insert(k.clone(), Value::Object(ns.clone()));
            }
            (Some(os), None) if !os.is_empty() => {
                out.insert(k.clone(), Value::Object(os.clone()));
            }
            _ => {
                out.insert(k.clone(), json!({}));
            }
        }
    }
}

/// Removes every leaf of `remove` from `set`, pruning emptied branches. Returns whether
/// `set` still has leaves.
fn subtract(set: &mut Map<String, Value>, remove: &Map<String, Value>) -> bool {
    for (k, rv) in remove {
        let rm = rv.as_object().filter(|m| !m.is_empty());
        let drop = match (set.get_mut(k).and_then(Value::as_object_mut), rm) {
            (Some(sub), Some(rm)) if !sub.is_empty() => !subtract(sub, rm),
            (Some(_), _) => true,
            (None, _) => false,
        };
        if drop {
            set.remove(k);
        }
    }
    !set.is_empty()
}

/// Adds every leaf of `add` to `set`.
fn union(set: &mut Map<String, Value>, add: &Map<String, Value>) {
    for (k, av) in add {
        match (set.get_mut(k), av.as_object()) {
            (Some(Value::Object(sub)), Some(am)) if !am.is_empty() && !sub.is_empty() => union(sub, am),
            _ => {
                set.insert(k.clone(), av.clone());
            }
        }
    }
}

/// Whether the leaf paths of `a` and `b` overlap; returns the overlapping dotted paths.
pub fn overlap(a: &Map<String, Value>, b: &Map<String, Value>, prefix: &str, out: &mut Vec<String>) {
    for (k, av) in a {
        let Some(bv) = b.get(k) else { continue };
        let path = format!("{prefix}.{}", strip(k));
        match (av.as_object().filter(|m| !m.is_empty()), bv.as_object().filter(|m| !m.is_empty())) {
            (Some(am), Some(bm)) => overlap(am, bm, &path, out),
            _ => out.push(path),
        }
    }
}

/// Server-side apply's removal of fields: the leaf paths (field names, without `f:`) of
/// `previous` — what a manager applied last time — that its new applied set `applied` no
/// longer names and that no field set in `others` owns. Apply removes them from the object
/// (defaulting then restores a default where the kind has one), as
/// <https://kubernetes.io/docs/reference/using-api/server-side-apply/#field-management>
/// describes: "If you remove a field from a manifest and apply that manifest, Server-Side
/// Apply checks if there are any other field managers that also own the field. If the
/// field is not owned by any other field managers, it is either deleted from the live
/// object or reset to its default value".
pub fn dropped(
    previous: &Map<String, Value>,
    applied: &Map<String, Value>,
    others: &[Map<String, Value>],
) -> Vec<Vec<String>> {
    fn walk(set: &Map<String, Value>, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        for (k, v) in set {
            let Some(name) = k.strip_prefix("f:") else { continue };
            path.push(name.to_string());
            match v.as_object().filter(|m| !m.is_empty()) {
                Some(children) => walk(children, path, out),
                None => out.push(path.clone()),
            }
            path.pop();
        }
    }
    // Whether `set` owns `path`: the path itself, something under it, or an atomic ancestor.
    fn covers(set: &Map<String, Value>, path: &[String]) -> bool {
        let mut cur = set;
        for p in path {
            match cur.get(&format!("f:{p}")).and_then(Value::as_object) {
                Some(next) if next.is_empty() => return true,
                Some(next) => cur = next,
                None => return false,
            }
        }
        true
    }
    let mut leaves = vec![];
    walk(previous, &mut vec![], &mut leaves);
    leaves.retain(|p| !covers(applied, p) && !others.iter().any(|o| covers(o, p)));
    leaves
}

/// Removes the field at `path` (field names) from `obj`, if present.
pub fn remove_path(obj: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut cur = obj;
    for p in parents {
        match cur.get_mut(p.as_str()) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(last.as_str());
    }
}

/// Who records a write: the manager, its operation, the subresource and when.
#[derive(Debug, Clone)]
pub struct Writer<'a> {
    /// Field manager name.
    pub manager: &'a str,
    /// Update or Apply.
    pub operation: Operation,
    /// `status`, `scale`, or `None` for the main resource.
    pub subresource: Option<&'a str>,
    /// `apiVersion` the write was made in.
    pub api_version: &'a str,
    /// RFC 3339 time of the write.
    pub time: &'a str,
}

fn entries(obj: &Value) -> Vec<Value> {
    obj.pointer("/metadata/managedFields").and_then(Value::as_array).cloned().unwrap_or_default()
}

fn same_writer(e: &Value, w: &Writer<'_>) -> bool {
    e["manager"] == json!(w.manager)
        && e["operation"] == json!(w.operation.as_str())
        && e.get("subresource").and_then(Value::as_str) == w.subresource
}

/// Records on `new` (in place) that `writer` set the fields in `owned`: those fields are
/// taken from every other manager. For an `Apply`, the writer's set is replaced by `owned`;
/// for an `Update`, `owned` is added to what it already had. `existing` is the managedFields
/// list before the write.
pub fn record(existing: &[Value], new: &mut Value, owned: &Map<String, Value>, writer: &Writer<'_>) {
    if owned.is_empty() && !existing.iter().any(|e| same_writer(e, writer)) {
        set_entries(new, existing.to_vec());
        return;
    }
    let (mine, others): (Vec<Value>, Vec<Value>) = existing.iter().cloned().partition(|e| same_writer(e, writer));
    let mut out = take(&others, owned);
    // An Apply owns exactly `owned`; an Update adds `owned` to what it had.
    let mut set = match (writer.operation, mine.first()) {
        (Operation::Update, Some(e)) => e.get("fieldsV1").and_then(Value::as_object).cloned().unwrap_or_default(),
        _ => Map::new(),
    };
    union(&mut set, owned);
    if !set.is_empty() {
        let mut entry = json!({
            "manager": writer.manager,
            "operation": writer.operation.as_str(),
            "apiVersion": writer.api_version,
            "time": writer.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": Value::Object(set),
        });
        if let Some(sub) = writer.subresource {
            entry["subresource"] = json!(sub);
        }
        out.push(entry);
    }
    set_entries(new, out);
}

/// `existing` with the fields in `taken` removed from every entry (entries left with no
/// fields are dropped): what other managers keep when someone changes those fields.
pub fn take(existing: &[Value], taken: &Map<String, Value>) -> Vec<Value> {
    existing
        .iter()
        .filter_map(|e| {
            let mut e = e.clone();
            let keep = match e.get_mut("fieldsV1").and_then(Value::as_object_mut) {
                Some(fields) => subtract(fields, taken),
                None => false,
            };
            keep.then_some(e)
        })
        .collect()
}

/// Drops from every entry the fields `obj` no longer has. After an `Update` that removed
/// fields, nobody owns them any more — the updater included (structured-merge-diff's
/// `Updater.Update`: its set is `old ∪ modified ∪ added − removed`, and every other
/// manager's loses `removed`). Otherwise an apply of a field someone cleared conflicts
/// with whoever cleared it.
pub fn prune(obj: &mut Value) {
    fn intersect(set: &mut Map<String, Value>, present: &Map<String, Value>) -> bool {
        set.retain(|k, v| match present.get(k) {
            None => false,
            // A field present in the object: keep what of its children is present too.
            Some(p) => match v.as_object_mut() {
                Some(sub) if !sub.is_empty() => intersect(sub, p.as_object().unwrap_or(&Map::new())),
                _ => true,
            },
        });
        !set.is_empty()
    }
    let present = field_set(obj, true);
    let mut list = entries(obj);
    list.retain_mut(|e| match e.get_mut("fieldsV1").and_then(Value::as_object_mut) {
        Some(f) => intersect(f, &present),
        None => true,
    });
    set_entries(obj, list);
}

fn set_entries(obj: &mut Value, list: Vec<Value>) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// The managedFields list of `obj`.
pub fn of(obj: &Value) -> Vec<Value> {
    entries(obj)
}

/// The manager that owns `path` (a list of field names, e.g. `["spec", "replicas"]`) in
/// `obj`'s managedFields, if any.
pub fn owner_of(obj: &Value, path: &[&str]) -> Option<String> {
    entries(obj).into_iter().find_map(|e| {
        let mut cur = e.get("fieldsV1")?;
        for p in path {
            cur = cur.get(format!("f:{p}"))?;
        }
        e["manager"].as_str().map(String::from)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w<'a>(manager: &'a str, sub: Option<&'a str>) -> Writer<'a> {
        Writer { manager, operation: Operation::Update, subresource: sub, api_version: "apps/v1", time: "t" }
    }

    #[test]
    fn create_owns_all_non_system_fields() {
        let obj = json!({"apiVersion": "apps/v1", "metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"replicas": 1, "template": {}}, "status": {"replicas": 1}});
        let set = field_set(&obj, false);
        assert_eq!(
            set,
            json!({"f:metadata": {"f:labels": {"f:x": {}}}, "f:spec": {"f:replicas": {}, "f:template": {}}})
                .as_object()
                .cloned()
                .unwrap_or_default()
        );
    }

    #[test]
    fn update_moves_changed_field_to_new_manager() {
        let old = json!({"metadata": {"name": "a"}, "spec": {"replicas": 1, "paused": false}});
        let mut v1 = old.clone();
        record(&[], &mut v1, &field_set(&old, false), &w("creator", None));
        assert_eq!(owner_of(&v1, &["spec", "replicas"]).as_deref(), Some("creator"));

        let mut v2 = v1.clone();
        v2["spec"]["replicas"] = json!(7);
        let ch = changed(&v1, &v2, false);
        assert_eq!(Value::Object(ch.clone()), json!({"f:spec": {"f:replicas": {}}}));
        record(&of(&v1), &mut v2, &ch, &w("kubectl", Some("scale")));
        assert_eq!(owner_of(&v2, &["spec", "replicas"]).as_deref(), Some("kubectl"));
        assert_eq!(owner_of(&v2, &["spec", "paused"]).as_deref(), Some("creator"));
        let scale_entry = of(&v2).into_iter().find(|e| e["manager"] == "kubectl").unwrap_or_default();
        assert_eq!(scale_entry["subresource"], "scale");
    }

    #[test]
    fn manager_losing_all_fields_is_dropped() {
        let mut v1 = json!({"metadata": {"name": "a"}, "spec": {"replicas": 1}});
        let set = field_set(&v1, false);
        record(&[], &mut v1, &set, &w("a", None));
        let mut v2 = v1.clone();
        v2["spec"]["replicas"] = json!(2);
        let ch = changed(&v1, &v2, false);
        record(&of(&v1), &mut v2, &ch, &w("b", None));
        let managers: Vec<String> = of(&v2).iter().filter_map(|e| e["manager"].as_str().map(String::from)).collect();
        assert_eq!(managers, vec!["b"]);
    }

    #[test]
    fn apply_drops_fields_no_longer_applied_and_unowned() {
        let set = |v: Value| v.as_object().cloned().unwrap_or_default();
        let previous =
            set(json!({"f:metadata": {"f:labels": {"f:a": {}, "f:b": {}, "f:c": {}}}, "f:spec": {"f:paused": {}}}));
        let applied = set(json!({"f:metadata": {"f:labels": {"f:a": {}}}}));
        let others = [set(json!({"f:metadata": {"f:labels": {"f:c": {}}}}))];
        let gone = dropped(&previous, &applied, &others);
        assert_eq!(gone, vec![vec!["metadata", "labels", "b"], vec!["spec", "paused"]]);
        let mut obj =
            json!({"metadata": {"labels": {"a": "1", "b": "2", "c": "3"}}, "spec": {"paused": true, "replicas": 2}});
        for p in &gone {
            remove_path(&mut obj, p);
        }
        assert_eq!(obj, json!({"metadata": {"labels": {"a": "1", "c": "3"}}, "spec": {"replicas": 2}}));
        // An atomic ancestor owned by another manager covers everything under it.
        let others = [set(json!({"f:spec": {}}))];
        assert_eq!(dropped(&set(json!({"f:spec": {"f:paused": {}}})), &Map::new(), &others), Vec::<Vec<String>>::new());
    }

    #[test]
    fn overlap_names_conflicting_paths() {
        let a = json!({"f:spec": {"f:replicas": {}, "f:x": {}}});
        let b = json!({"f:spec": {"f:replicas": {}}});
        let mut out = vec![];
        overlap(a.as_object().unwrap_or(&Map::new()), b.as_object().unwrap_or(&Map::new()), "", &mut out);
        assert_eq!(out, vec![".spec.replicas"]);
    }

    #[test]
    fn update_removing_fields_leaves_nobody_owning_them() {
        let mut v1 = json!({"metadata": {"name": "l"}, "spec": {"holderIdentity": "a", "renewTime": "t"}});
        let set = field_set(&v1, false);
        let applier = Writer { operation: Operation::Apply, ..w("a", None) };
        record(&[], &mut v1, &set, &applier);
        let mut v2 = v1.clone();
        v2["spec"] = json!({});
        let ch = changed(&v1, &v2, false);
        record(&of(&v1), &mut v2, &ch, &w("a", None));
        prune(&mut v2);
        assert!(of(&v2).is_empty(), "{:?}", of(&v2));
        assert_eq!(owner_of(&v2, &["spec", "holderIdentity"]), None);
    }
}
