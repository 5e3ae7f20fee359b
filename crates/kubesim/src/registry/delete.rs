//! DELETE: preconditions, finalizers, propagation and garbage collection of
//! dependents, and deletecollection.

use serde_json::{Value, json};

use crate::error::ApiError;
use crate::resources::Behavior;
use crate::store::{ObjKey, StoreInner};

use super::read::{ListOptions, matches};
use super::{Ctx, Operation, Proposed, Sub, Written, meta, meta_mut, meta_str, record, to_view, unserve};

/// `DeleteOptions` that kubesim honours.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub resource_version: Option<String>,
    /// `propagationPolicy` is `Orphan` (or `orphanDependents: true`).
    pub orphan: bool,
}

impl DeleteOptions {
    /// Reads a `DeleteOptions` body and the `propagationPolicy` query parameter.
    pub fn parse(body: &[u8], propagation: Option<&str>) -> Result<Self, ApiError> {
        let mut o = DeleteOptions { orphan: propagation == Some("Orphan"), ..Default::default() };
        if !body.is_empty() {
            let v: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?;
            o.uid = v.pointer("/preconditions/uid").and_then(Value::as_str).map(String::from);
            o.resource_version = v.pointer("/preconditions/resourceVersion").and_then(Value::as_str).map(String::from);
            o.orphan |= v["propagationPolicy"] == json!("Orphan") || v["orphanDependents"] == json!(true);
        }
        Ok(o)
    }
}

/// DELETE an object: with finalizers it is only marked (deletionTimestamp); otherwise it
/// goes at once and its dependents are garbage-collected.
pub fn delete(store: &mut StoreInner, ctx: &Ctx, name: &str, opts: &DeleteOptions) -> Result<Written, ApiError> {
    let key = ctx.key(name);
    let cur = store.get(&ctx.def.storage, &key).ok_or_else(|| ctx.not_found(name))?;
    if let Some(uid) = &opts.uid
        && Some(uid.as_str()) != meta_str(&cur, "uid")
    {
        return Err(ctx.conflict(
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta_str(&cur, "uid").unwrap_or("")
            ),
        ));
    }
    if let Some(rv) = &opts.resource_version
        && Some(rv.as_str()) != meta_str(&cur, "resourceVersion")
    {
        return Err(ctx.conflict(
            name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                meta_str(&cur, "resourceVersion").unwrap_or("")
            ),
        ));
    }
    ctx.admit(store, &Proposed { operation: Operation::Delete, sub: Sub::Main, name, old: Some(&cur), new: None })?;
    if ctx.dry_run {
        record(store, ctx, "delete", Sub::Main, name, 0);
        return Ok(Written {
            object: to_view(&ctx.def, &ctx.version, &cur),
            created: false,
            rv: 0,
            deployments_changed: false,
        });
    }
    let has_finalizers = meta(&cur).get("finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
    if has_finalizers {
        if meta(&cur).get("deletionTimestamp").is_some() {
            return Ok(Written {
                object: to_view(&ctx.def, &ctx.version, &cur),
                created: false,
                rv: 0,
                deployments_changed: false,
            });
        }
        let mut n = (*cur).clone();
        let m = meta_mut(&mut n);
        m.insert("deletionTimestamp".into(), json!(ctx.now()));
        m.insert("deletionGracePeriodSeconds".into(), json!(0));
        let stored = store.commit(&ctx.def.storage, key, Some(n)).ok_or_else(|| ApiError::internal("commit failed"))?;
        let rv = store.rv;
        record(store, ctx, "delete", Sub::Main, name, rv);
        return Ok(Written {
            object: to_view(&ctx.def, &ctx.version, &stored),
            created: false,
            rv,
            deployments_changed: false,
        });
    }
    let w = delete_now(store, ctx, &key, !opts.orphan)?;
    record(store, ctx, "delete", Sub::Main, name, w.rv);
    Ok(w)
}

/// Removes an object now, then what depended on it: dependents whose every owner is gone
/// (or, when `cascade` is false, only their ownerReferences), a CRD's objects, a
/// Namespace's contents.
pub(super) fn delete_now(store: &mut StoreInner, ctx: &Ctx, key: &ObjKey, cascade: bool) -> Result<Written, ApiError> {
    let last = store.commit(&ctx.def.storage, key.clone(), None).ok_or_else(|| ctx.not_found(&key.1))?;
    let uid = meta_str(&last, "uid").unwrap_or("").to_string();
    let mut deployments_changed = false;
    match ctx.def.behavior {
        Behavior::Crd => {
            if let Some(def) = crate::resources::from_crd(&last) {
                for k in store.keys(&def.storage) {
                    store.commit(&def.storage, k, None);
                }
                unserve(store, &def);
            }
        }
        Behavior::Namespace => {
            for storage in store.storages() {
                for k in store.keys_in_namespace(&storage, &key.1) {
                    store.commit(&storage, k, None);
                }
            }
        }
        _ => {}
    }
    collect_garbage(store, &uid, cascade);
    if ctx.def.behavior == Behavior::Deployment {
        deployments_changed = false;
    }
    Ok(Written { object: to_view(&ctx.def, &ctx.version, &last), created: false, rv: store.rv, deployments_changed })
}

/// The garbage collector: dependents of a deleted owner `uid` lose that ownerReference;
/// those left with no owner are deleted (recursively), unless orphaning.
/// Source: <https://kubernetes.io/docs/concepts/architecture/garbage-collection/>.
fn collect_garbage(store: &mut StoreInner, uid: &str, cascade: bool) {
    if uid.is_empty() {
        return;
    }
    for (storage, key) in store.dependents_of(uid) {
        let Some(obj) = store.get(&storage, &key) else { continue };
        let mut n = (*obj).clone();
        let remaining = match n.pointer_mut("/metadata/ownerReferences").and_then(Value::as_array_mut) {
            Some(refs) => {
                refs.retain(|r| r["uid"].as_str() != Some(uid));
                refs.len()
            }
            None => 0,
        };
        if remaining == 0 && cascade {
            if let Some(last) = store.commit(&storage, key, None) {
                let dep_uid = meta_str(&last, "uid").unwrap_or("").to_string();
                collect_garbage(store, &dep_uid, cascade);
            }
        } else {
            if remaining == 0 {
                meta_mut(&mut n).remove("ownerReferences");
            }
            store.commit(&storage, key, Some(n));
        }
    }
}

/// DELETE a collection: every object the selectors match.
pub fn delete_collection(
    store: &mut StoreInner,
    ctx: &Ctx,
    opts: &ListOptions,
    del: &DeleteOptions,
) -> Result<Value, ApiError> {
    let snapshot = store.snapshot(&ctx.def.storage);
    let ns = if ctx.def.namespaced { ctx.namespace.as_str() } else { "" };
    let selected = || snapshot.iter().filter(|(key, obj)| (ns.is_empty() || key.0 == ns) && matches(obj, "", opts));
    // Admission sees every item before any is deleted (named "", as upstream's
    // deletecollection attributes are), so that a pending or refused item deletes nothing;
    // the webhook calls of all pending items are made together.
    let mut pending = None;
    for (key, obj) in selected() {
        let item_ctx = Ctx { namespace: key.0.clone(), ..ctx.clone() };
        let proposed = Proposed { operation: Operation::Delete, sub: Sub::Main, name: "", old: Some(obj), new: None };
        match item_ctx.admit(store, &proposed) {
            Err(e) if e.is_admission_pending() => pending = Some(e),
            other => other?,
        }
    }
    if let Some(e) = pending {
        return Err(e);
    }
    let mut items = vec![];
    for (key, _) in selected() {
        let w = delete(store, &Ctx { namespace: key.0.clone(), gate: None, ..ctx.clone() }, &key.1, del)?;
        items.push(w.object);
    }
    Ok(json!({
        "apiVersion": ctx.def.api_version(&ctx.version),
        "kind": format!("{}List", ctx.def.kind),
        "metadata": {"resourceVersion": store.rv.to_string()},
        "items": items,
    }))
}
