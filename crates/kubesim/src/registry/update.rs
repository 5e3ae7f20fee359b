//! The write path shared by update and patch ([`write_existing`]): preconditions,
//! subresource isolation, system metadata, validation, generation and managedFields;
//! PUT on top of it, and the `scale` subresource view.

use serde_json::{Map, Value, json};

use crate::error::{ApiError, Cause};
use crate::managed_fields::{self, Operation, Writer};
use crate::resources::{Behavior, ResourceDef};
use crate::selectors::LabelSelector;
use crate::store::StoreInner;
use crate::validation;

use super::create::{crd_accept, validate_custom};
use super::delete::delete_now;
use super::{
    Ctx, Operation as AdmissionOp, Proposed, Sub, Written, check_type, from_view, meta, meta_mut, meta_str, record,
    serve_if_crd, to_view,
};

/// The autoscaling/v1 `Scale` view of a stored object with a scale subresource
/// (`scaleFromDeployment` in pkg/registry/apps/deployment/storage/storage.go: name,
/// namespace, uid, resourceVersion and creationTimestamp; spec and status replicas; the
/// selector as a string), serialized as the Go type is (`spec.replicas` omitted at 0).
pub fn scale_view(def: &ResourceDef, stored: &Value) -> Result<Value, ApiError> {
    let (spec_path, status_path, selector_path) = def.scale.clone().ok_or_else(ApiError::no_such_resource)?;
    let at = |path: &str| stored.pointer(&json_pointer(path)).cloned();
    let mut status = json!({"replicas": at(&status_path).and_then(|v| v.as_i64()).unwrap_or(0)});
    let selector = match (def.behavior, selector_path) {
        (Behavior::Deployment, _) => {
            stored.pointer("/spec/selector").and_then(|s| LabelSelector::from_object(s).ok()).map(|s| s.to_string())
        }
        (_, Some(p)) => at(&p).and_then(|v| v.as_str().map(String::from)),
        _ => None,
    };
    if let Some(sel) = selector {
        status["selector"] = json!(sel);
    }
    let m = meta(stored);
    let mut metadata = json!({
        "name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
        "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"],
    });
    if !def.namespaced {
        metadata.as_object_mut().map(|o| o.remove("namespace"));
    }
    // autoscaling/v1 `ScaleSpec.Replicas` is `omitempty`: a Scale of 0 has `"spec": {}`.
    let replicas = at(&spec_path).and_then(|v| v.as_i64()).unwrap_or(0);
    let spec = if replicas == 0 { json!({}) } else { json!({"replicas": replicas}) };
    Ok(json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": spec,
        "status": status,
    }))
}

/// `.spec.replicas` → `/spec/replicas`.
pub fn json_pointer(path: &str) -> String {
    path.trim_start_matches('.').split('.').fold(String::new(), |acc, p| format!("{acc}/{p}"))
}

fn set_at(obj: &mut Value, path: &str, v: Value) {
    let parts: Vec<&str> = path.trim_start_matches('.').split('.').collect();
    let mut cur = obj;
    for (i, p) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let Some(m) = cur.as_object_mut() else { return };
        if i + 1 == parts.len() {
            m.insert((*p).to_string(), v);
            return;
        }
        cur = m.entry((*p).to_string()).or_insert_with(|| json!({}));
    }
}

/// The parts of an object that decide whether `metadata.generation` moves: everything
/// but metadata and status.
fn spec_of(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        for k in ["metadata", "status", "apiVersion", "kind"] {
            m.remove(k);
        }
    }
    v
}

/// Writes a new state of an existing object: `mutate` turns the current view (of the
/// version and subresource addressed) into the requested one. Applies preconditions,
/// subresource isolation, system metadata, validation, generation and managedFields.
pub fn write_existing(
    store: &mut StoreInner,
    ctx: &Ctx,
    name: &str,
    sub: Sub,
    verb: &str,
    operation: Operation,
    mutate: impl FnOnce(Value) -> Result<Value, ApiError>,
) -> Result<Written, ApiError> {
    let key = ctx.key(name);
    let cur = store.get(&ctx.def.storage, &key).ok_or_else(|| ctx.not_found(name))?;
    let cur_view = match sub {
        Sub::Scale => scale_view(&ctx.def, &cur)?,
        _ => to_view(&ctx.def, &ctx.version, &cur),
    };
    let new_view = mutate(cur_view)?;
    if !new_view.is_object() {
        return Err(ApiError::bad_request("the body of the request must be a JSON object"));
    }
    // Preconditions carried in the object: resourceVersion and uid.
    if let Some(rv) = meta_str(&new_view, "resourceVersion")
        && Some(rv) != meta_str(&cur, "resourceVersion")
    {
        return Err(ctx.conflict(name, ApiError::STALE));
    }
    if let Some(uid) = meta_str(&new_view, "uid")
        && Some(uid) != meta_str(&cur, "uid")
    {
        return Err(ctx.conflict(
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta_str(&cur, "uid").unwrap_or("")
            ),
        ));
    }
    if let Some(n) = meta_str(&new_view, "name")
        && n != name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        )));
    }
    if ctx.def.namespaced
        && let Some(ns) = meta_str(&new_view, "namespace")
        && ns != ctx.namespace
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let mut causes = vec![];
    let mut new = match sub {
        Sub::Scale => {
            let replicas = new_view.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
            if replicas.as_i64().is_none_or(|r| r < 0) {
                return Err(ApiError::invalid(
                    "Scale.autoscaling",
                    "autoscaling",
                    "Scale",
                    name,
                    vec![Cause::invalid("spec.replicas", &replicas, "must be greater than or equal to 0")],
                ));
            }
            let mut n = (*cur).clone();
            let spec_path = ctx.def.scale.as_ref().map(|s| s.0.clone()).unwrap_or_else(|| ".spec.replicas".into());
            set_at(&mut n, &spec_path, replicas);
            n
        }
        Sub::Status => {
            let mut n = (*cur).clone();
            let status = from_view(&ctx.def, &ctx.version, new_view).get("status").cloned();
            match status {
                Some(s) => n["status"] = s,
                None => {
                    n.as_object_mut().map(|m| m.remove("status"));
                }
            }
            n
        }
        Sub::Main => {
            check_type(ctx, &new_view, &ctx.def.kind, &ctx.def.api_version(&ctx.version))?;
            let mut n = from_view(&ctx.def, &ctx.version, new_view);
            if ctx.def.status_subresource {
                match cur.get("status") {
                    Some(s) => n["status"] = s.clone(),
                    None => {
                        n.as_object_mut().map(|m| m.remove("status"));
                    }
                }
            }
            n
        }
    };
    // System metadata comes from the stored object, whatever the body said.
    {
        let cur_meta = meta(&cur).clone();
        let m = meta_mut(&mut new);
        for f in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "resourceVersion",
        ] {
            match cur_meta.get(f) {
                Some(v) => m.insert(f.into(), v.clone()),
                None => m.remove(f),
            };
        }
        if sub != Sub::Main {
            // Subresource writes never change labels, annotations or owners.
            for f in ["labels", "annotations", "ownerReferences", "finalizers"] {
                match cur_meta.get(f) {
                    Some(v) => m.insert(f.into(), v.clone()),
                    None => m.remove(f),
                };
            }
        }
        match cur_meta.get("managedFields") {
            Some(v) => m.insert("managedFields".into(), v.clone()),
            None => m.remove("managedFields"),
        };
    }
    if sub != Sub::Status {
        validation::default_and_validate(&ctx.def, &mut new, Some(&cur), &mut causes);
        validate_custom(ctx, &mut new, &mut causes);
    } else if ctx.def.behavior == Behavior::Deployment {
        validation::deployment_status(&new, &mut causes);
    } else {
        // A custom resource's status write is pruned and validated against its version's
        // schema too, as kube-apiserver's status strategy for custom resources does: a field
        // the CRD does not declare is dropped, not stored.
        validate_custom(ctx, &mut new, &mut causes);
    }
    if !causes.is_empty() {
        return Err(ctx.invalid(name, causes));
    }
    if ctx.def.behavior == Behavior::Crd && sub == Sub::Main {
        crd_accept(store, &mut new, &ctx.now())?;
    }
    let spec_changed = spec_of(&new) != spec_of(&cur)
        || (ctx.def.generation_on_annotations && meta(&new).get("annotations") != meta(&cur).get("annotations"));
    // Nothing changed: the real server does not write, and the resourceVersion stays. Its
    // admission still sees the update (the storage's no-op check comes after it).
    let unchanged = new == *cur;
    if !unchanged {
        if ctx.def.generation && spec_changed && sub != Sub::Status {
            let g = meta(&cur).get("generation").and_then(Value::as_i64).unwrap_or(0);
            meta_mut(&mut new).insert("generation".into(), json!(g + 1));
        }
        let owned = match operation {
            Operation::Update => managed_fields::changed(&cur, &new, sub == Sub::Status),
            Operation::Apply => Map::new(), // apply records its own set after the write
        };
        let api_version = if sub == Sub::Scale {
            ctx.def.api_version(ctx.def.storage_version())
        } else {
            ctx.def.api_version(&ctx.version)
        };
        managed_fields::record(
            &managed_fields::of(&cur),
            &mut new,
            &owned,
            &Writer {
                manager: &ctx.manager,
                operation,
                subresource: sub.name(),
                api_version: &api_version,
                time: &ctx.now(),
            },
        );
        if operation == Operation::Update {
            managed_fields::prune(&mut new);
        }
    }
    ctx.admit(store, &Proposed { operation: AdmissionOp::Update, sub, name, old: Some(&cur), new: Some(&new) })?;
    if unchanged {
        record(store, ctx, verb, sub, name, 0);
        return Ok(Written { object: respond(ctx, sub, &cur)?, created: false, rv: 0, deployments_changed: false });
    }
    // An object being deleted goes once its last finalizer is removed.
    let finalized = meta(&new).get("deletionTimestamp").is_some()
        && meta(&new).get("finalizers").and_then(Value::as_array).is_none_or(Vec::is_empty);
    if ctx.dry_run {
        record(store, ctx, verb, sub, name, 0);
        return Ok(Written { object: respond(ctx, sub, &new)?, created: false, rv: 0, deployments_changed: false });
    }
    let deployments_changed = ctx.def.behavior == Behavior::Deployment && spec_changed;
    if finalized {
        let w = delete_now(store, ctx, &key, true)?;
        record(store, ctx, verb, sub, name, store.rv);
        return Ok(w);
    }
    let stored =
        store.commit(&ctx.def.storage, key.clone(), Some(new)).ok_or_else(|| ApiError::internal("commit failed"))?;
    let rv = store.rv;
    record(store, ctx, verb, sub, name, rv);
    if deployments_changed {
        store.deployment_changes.push(key);
    }
    serve_if_crd(store, ctx, &stored);
    Ok(Written { object: respond(ctx, sub, &stored)?, created: false, rv, deployments_changed })
}

pub(super) fn respond(ctx: &Ctx, sub: Sub, stored: &Value) -> Result<Value, ApiError> {
    match sub {
        Sub::Scale => scale_view(&ctx.def, stored),
        _ => Ok(to_view(&ctx.def, &ctx.version, stored)),
    }
}

/// PUT: replace an object (or its subresource).
pub fn update(store: &mut StoreInner, ctx: &Ctx, name: &str, sub: Sub, body: Value) -> Result<Written, ApiError> {
    if ctx.def.behavior == Behavior::Custom && sub == Sub::Main && meta_str(&body, "resourceVersion").is_none() {
        // CustomResources do not allow unconditional updates (apiextensions' strategy).
        return Err(ctx.invalid(
            name,
            vec![Cause::invalid("metadata.resourceVersion", &json!("0x0"), "must be specified for an update")],
        ));
    }
    write_existing(store, ctx, name, sub, "update", Operation::Update, |_| Ok(body))
}
