//! PATCH: merge, JSON, strategic-merge and server-side apply patches, and the
//! apply conflict messages as the API server words them.

use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::managed_fields::{self, Operation, Writer};
use crate::store::StoreInner;

use super::create::create;
use super::update::respond;
use super::update::write_existing;
use super::{Ctx, Sub, Written, meta_mut, to_view};

/// The patch formats of `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// RFC 7386 JSON merge patch.
    Merge,
    /// RFC 6902 JSON patch.
    Json,
    /// Strategic merge patch; kubesim applies it with merge semantics (lists replace).
    Strategic,
    /// Server-side apply (YAML or JSON body).
    Apply,
}

impl PatchType {
    /// Parses a `Content-Type`; `None` answers 415.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/json-patch+json" => Some(Self::Json),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// Removes `$patch`, `$retainKeys`, `$setElementOrder/...` and `$deleteFromPrimitiveList/...`
/// directives of a strategic merge patch, which merge semantics cannot honour.
fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            m.values_mut().for_each(strip_directives);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

fn apply_patch(pt: PatchType, target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    match pt {
        PatchType::Merge | PatchType::Strategic => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("the patch must be a JSON object"));
            }
            let mut p = patch.clone();
            if pt == PatchType::Strategic {
                strip_directives(&mut p);
            }
            json_patch::merge(target, &p);
            Ok(())
        }
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|e| {
                ApiError::bad_request(format!("the server rejected our request due to an error in our request: {e}"))
            })?;
            json_patch::patch(target, &ops).map_err(|_| ApiError::invalid_patch())
        }
        PatchType::Apply => {
            json_patch::merge(target, patch);
            Ok(())
        }
    }
}

impl ApiError {
    /// A JSON patch that does not apply (a failed `test`, a missing path). The API server
    /// answers `NewGenericServerResponse(422, ...)`, which drops the patch library's text:
    /// a generic message and empty details, so kubectl prints "The request is invalid: the
    /// server rejected our request due to an error in our request".
    fn invalid_patch() -> Self {
        let mut e = ApiError::bad_request("the server rejected our request due to an error in our request");
        e.code = 422;
        e.reason = "Invalid";
        e.details = Some(json!({}));
        e
    }
}

/// PATCH an object (or its subresource). A server-side apply of an object that does not
/// exist creates it.
pub fn patch(
    store: &mut StoreInner,
    ctx: &Ctx,
    name: &str,
    sub: Sub,
    pt: PatchType,
    body: &[u8],
    force: bool,
) -> Result<Written, ApiError> {
    let patch: Value = match pt {
        PatchType::Apply => {
            serde_yaml::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
        }
        _ => serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?,
    };
    if pt != PatchType::Apply {
        return write_existing(store, ctx, name, sub, "patch", Operation::Update, |mut cur| {
            apply_patch(pt, &mut cur, &patch)?;
            Ok(cur)
        });
    }
    // Server-side apply.
    if ctx.manager.is_empty() || ctx.manager == "unknown" {
        return Err(ApiError::bad_request("PATCH, fieldManager is required for apply requests"));
    }
    let mut applied = patch.clone();
    if let Some(m) = applied.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    let applied_set = managed_fields::field_set(&applied, sub == Sub::Status);
    let key = ctx.key(name);
    let existing = store.get(&ctx.def.storage, &key);
    let Some(cur) = existing else {
        if sub != Sub::Main {
            return Err(ctx.not_found(name));
        }
        let mut body = patch.clone();
        meta_mut(&mut body).insert("name".into(), json!(name));
        let mut w = create(store, ctx, body)?;
        if w.rv > 0 {
            // Re-record the create as an Apply owning exactly the applied fields.
            let stored = store.get(&ctx.def.storage, &key).ok_or_else(|| ApiError::internal("lost create"))?;
            let mut obj = (*stored).clone();
            let api_version = ctx.def.api_version(&ctx.version);
            managed_fields::record(
                &[],
                &mut obj,
                &applied_set,
                &Writer {
                    manager: &ctx.manager,
                    operation: Operation::Apply,
                    subresource: None,
                    api_version: &api_version,
                    time: &ctx.now(),
                },
            );
            let stored =
                store.commit(&ctx.def.storage, key, Some(obj)).ok_or_else(|| ApiError::internal("commit failed"))?;
            w.rv = store.rv;
            w.object = to_view(&ctx.def, &ctx.version, &stored);
        }
        return Ok(w);
    };
    // The applier's own entry. A manager is its name, operation and subresource together
    // (the API server's BuildManagerIdentifier): `kubectl scale` (kubectl, Update, scale) is
    // another manager than `kubectl apply --server-side` (kubectl, Apply).
    let own_apply = |e: &Value| {
        e["manager"] == json!(ctx.manager)
            && e["operation"] == json!("Apply")
            && e.get("subresource").and_then(Value::as_str) == sub.name()
    };
    // Conflicts: fields in the applied config owned by another manager with another value.
    let cur_view = to_view(&ctx.def, &ctx.version, &cur);
    let mut merged = cur_view.clone();
    json_patch::merge(&mut merged, &patch);
    // Fields this manager applied last time but no longer applies go, unless another
    // manager owns them too.
    let entries = managed_fields::of(&cur);
    let fields = |e: &Value| e.get("fieldsV1").and_then(Value::as_object).cloned().unwrap_or_default();
    let previous = entries.iter().find(|e| own_apply(e)).map(fields).unwrap_or_default();
    let others: Vec<Map<String, Value>> = entries.iter().filter(|e| !own_apply(e)).map(fields).collect();
    for path in managed_fields::dropped(&previous, &applied_set, &others) {
        managed_fields::remove_path(&mut merged, &path);
    }
    let changed = managed_fields::changed(&cur_view, &merged, sub == Sub::Status);
    if !force {
        let mut conflicts = vec![];
        for e in managed_fields::of(&cur) {
            if own_apply(&e) {
                continue;
            }
            if let Some(fields) = e.get("fieldsV1").and_then(Value::as_object) {
                let mut paths = vec![];
                managed_fields::overlap(fields, &changed, "", &mut paths);
                for p in paths {
                    conflicts.push((print_manager(&e), p));
                }
            }
        }
        if !conflicts.is_empty() {
            let mut err = ctx.conflict(name, "");
            err.message = conflict_message(&conflicts);
            err.details = Some(json!({
                "causes": conflicts.iter().map(|(m, p)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {m}"), "field": p})).collect::<Vec<_>>()
            }));
            return Err(err);
        }
    }
    let mut w = write_existing(store, ctx, name, sub, "patch", Operation::Apply, |_| Ok(merged.clone()))?;
    // Record the apply: the manager owns exactly its applied set; others lose what changed.
    if w.rv > 0 || !managed_fields::of(&cur).iter().any(own_apply) {
        let stored = store.get(&ctx.def.storage, &key).ok_or_else(|| ApiError::internal("lost write"))?;
        let mut obj = (*stored).clone();
        let mut others = managed_fields::of(&cur);
        others.retain(|e| !own_apply(e));
        let api_version = ctx.def.api_version(&ctx.version);
        // Others lose what the apply changed; then the applier owns exactly its applied set.
        let rest = managed_fields::take(&others, &changed);
        managed_fields::record(
            &rest,
            &mut obj,
            &applied_set,
            &Writer {
                manager: &ctx.manager,
                operation: Operation::Apply,
                subresource: sub.name(),
                api_version: &api_version,
                time: &ctx.now(),
            },
        );
        if !ctx.dry_run && obj != *stored {
            let stored =
                store.commit(&ctx.def.storage, key, Some(obj)).ok_or_else(|| ApiError::internal("commit failed"))?;
            w.rv = store.rv;
            w.object = respond(ctx, sub, &stored)?;
        }
    }
    Ok(w)
}

/// A manager as apply conflicts name it (the API server's `printManager`): the quoted name,
/// ` with subresource "…"` when it wrote one, and ` using <apiVersion>` for an Update.
fn print_manager(entry: &Value) -> String {
    let mut s = format!("{:?}", entry["manager"].as_str().unwrap_or(""));
    if let Some(sub) = entry.get("subresource").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        s.push_str(&format!(" with subresource {sub:?}"));
    }
    if entry["operation"] == json!("Update") {
        s.push_str(&format!(" using {}", entry["apiVersion"].as_str().unwrap_or("")));
    }
    s
}

/// The message of an apply conflict (the API server's `getConflictMessage`): one conflict
/// inline, several grouped by manager (sorted), one `- path` line each.
fn conflict_message(conflicts: &[(String, String)]) -> String {
    if let [(manager, path)] = conflicts {
        return format!("Apply failed with 1 conflict: conflict with {manager}: {path}");
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|(m, _)| m.as_str()).collect();
    managers.sort_unstable();
    managers.dedup();
    let mut lines = vec![];
    for m in managers {
        lines.push(format!("conflicts with {m}:"));
        lines.extend(conflicts.iter().filter(|(cm, _)| cm == m).map(|(_, p)| format!("- {p}")));
    }
    format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_patch_that_does_not_apply_is_a_generic_422() {
        let mut target = json!({"spec": {"replicas": 3}});
        let patch = json!([{"op": "test", "path": "/spec/replicas", "value": 9}]);
        let e = apply_patch(PatchType::Json, &mut target, &patch).expect_err("test op fails");
        let status = e.status();
        assert_eq!((status["code"].clone(), status["reason"].clone()), (json!(422), json!("Invalid")));
        assert_eq!(status["message"], "the server rejected our request due to an error in our request");
        assert_eq!(status["details"], json!({}));
        assert_eq!(target["spec"]["replicas"], 3);
    }

    #[test]
    fn apply_conflicts_name_managers_as_the_api_server_does() {
        let scale =
            json!({"manager": "kubectl", "operation": "Update", "subresource": "scale", "apiVersion": "apps/v1"});
        let applier = json!({"manager": "ci", "operation": "Apply", "apiVersion": "apps/v1"});
        assert_eq!(print_manager(&scale), r#""kubectl" with subresource "scale" using apps/v1"#);
        assert_eq!(print_manager(&applier), r#""ci""#);
        let one = [(print_manager(&scale), ".spec.replicas".to_string())];
        assert_eq!(
            conflict_message(&one),
            r#"Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" using apps/v1: .spec.replicas"#
        );
        let two = [
            (print_manager(&scale), ".spec.replicas".to_string()),
            (print_manager(&applier), ".metadata.labels.a".to_string()),
        ];
        assert_eq!(
            conflict_message(&two),
            "Apply failed with 2 conflicts: conflicts with \"ci\":\n- .metadata.labels.a\nconflicts with \"kubectl\" \
             with subresource \"scale\" using apps/v1:\n- .spec.replicas"
        );
    }
}
