//! POST: creating an object, with generated names, system metadata, validation
//! (including custom resources against their CRD schema) and CRD acceptance.

use serde_json::{Value, json};

use crate::error::{ApiError, Cause};
use crate::managed_fields::{self, Operation, Writer};
use crate::resources::Behavior;
use crate::schema;
use crate::store::StoreInner;
use crate::validation;

use super::{
    Ctx, Operation as AdmissionOp, Proposed, Sub, Written, check_type, from_view, meta_mut, meta_str, record,
    serve_if_crd, to_view,
};

/// The longest base of a generated name: a name's 63 characters less the suffix's 5.
const MAX_GENERATED_BASE: usize = 63 - 5;

/// The name `generateName: base` gets: `base` cut to [`MAX_GENERATED_BASE`] bytes, then the
/// suffix (five characters of apimachinery's random alphabet), as the API server's
/// `names.SimpleNameGenerator` makes it, so a long base still yields a name of at most 63
/// characters.
fn generated_name(base: &str, suffix: &str) -> String {
    let mut cut = base.len().min(MAX_GENERATED_BASE);
    while !base.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{suffix}", &base[..cut])
}

/// POST: create an object.
pub fn create(store: &mut StoreInner, ctx: &Ctx, body: Value) -> Result<Written, ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request("the body of the request must be a JSON object"));
    }
    check_type(ctx, &body, &ctx.def.kind, &ctx.def.api_version(&ctx.version))?;
    let mut obj = from_view(&ctx.def, &ctx.version, body);
    let requested_name = meta_str(&obj, "name").unwrap_or("").to_string();
    let name = match (meta_str(&obj, "name"), meta_str(&obj, "generateName")) {
        (Some(n), _) => n.to_string(),
        (None, Some(g)) => generated_name(g, &ctx.name_suffix()),
        (None, None) => {
            return Err(ctx.invalid("", vec![Cause::required("metadata.name")]).with_message_name_required());
        }
    };
    if ctx.def.namespaced {
        if let Some(ns) = meta_str(&obj, "namespace")
            && ns != ctx.namespace
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        if store.get("namespaces", &(String::new(), ctx.namespace.clone())).is_none() {
            return Err(ApiError::not_found("namespaces", "", "namespaces", &ctx.namespace));
        }
    }
    let key = ctx.key(&name);
    if store.get(&ctx.def.storage, &key).is_some() {
        return Err(ApiError::already_exists(&ctx.def.qualified(), &ctx.def.group, &ctx.def.plural, &name));
    }
    {
        let m = meta_mut(&mut obj);
        m.insert("name".into(), json!(name));
        if ctx.def.namespaced {
            m.insert("namespace".into(), json!(ctx.namespace));
        } else {
            m.remove("namespace");
        }
        for f in ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink"] {
            m.remove(f);
        }
        m.insert("uid".into(), json!(ctx.new_uid()));
        m.insert("creationTimestamp".into(), json!(ctx.now()));
        if ctx.def.generation {
            m.insert("generation".into(), json!(1));
        } else {
            m.remove("generation");
        }
    }
    if ctx.def.status_subresource && ctx.def.behavior != Behavior::Namespace {
        obj.as_object_mut().map(|m| m.remove("status"));
    }
    let mut causes = validation::name(&ctx.def, &name);
    validation::default_and_validate(&ctx.def, &mut obj, None, &mut causes);
    validate_custom(ctx, &mut obj, &mut causes);
    if !causes.is_empty() {
        return Err(ctx.invalid(&name, causes));
    }
    let owned = managed_fields::field_set(&obj, false);
    let api_version = ctx.def.api_version(&ctx.version);
    managed_fields::record(
        &[],
        &mut obj,
        &owned,
        &Writer {
            manager: &ctx.manager,
            operation: Operation::Update,
            subresource: None,
            api_version: &api_version,
            time: &ctx.now(),
        },
    );
    if ctx.def.behavior == Behavior::Crd {
        crd_accept(store, &mut obj, &ctx.now())?;
    }
    ctx.admit(
        store,
        &Proposed { operation: AdmissionOp::Create, sub: Sub::Main, name: &requested_name, old: None, new: Some(&obj) },
    )?;
    if ctx.dry_run {
        record(store, ctx, "create", Sub::Main, &name, 0);
        return Ok(Written {
            object: to_view(&ctx.def, &ctx.version, &obj),
            created: true,
            rv: 0,
            deployments_changed: false,
        });
    }
    let stored =
        store.commit(&ctx.def.storage, key.clone(), Some(obj)).ok_or_else(|| ApiError::internal("commit failed"))?;
    let rv = store.rv;
    record(store, ctx, "create", Sub::Main, &name, rv);
    let deployments_changed = ctx.def.behavior == Behavior::Deployment;
    if deployments_changed {
        store.deployment_changes.push(key);
    }
    serve_if_crd(store, ctx, &stored);
    Ok(Written { object: to_view(&ctx.def, &ctx.version, &stored), created: true, rv, deployments_changed })
}

impl ApiError {
    fn with_message_name_required(mut self) -> Self {
        self.message =
            format!("{}: name or generateName is required", self.message.trim_end_matches(": Required value"));
        self
    }
}

/// Validates a CRD-registered object against its version's schema (pruning unknown fields).
pub(super) fn validate_custom(ctx: &Ctx, obj: &mut Value, causes: &mut Vec<Cause>) {
    if ctx.def.behavior != Behavior::Custom {
        return;
    }
    if let Some(s) = ctx.def.schema(&ctx.version) {
        for e in schema::prune_and_validate(s, obj) {
            causes.push(Cause { reason: e.reason.to_string(), message: e.message, field: e.field });
        }
    }
}

/// Checks a CRD's names and fills its status (NamesAccepted, Established), as the
/// apiextensions controllers do once the names are free.
pub(super) fn crd_accept(store: &StoreInner, crd: &mut Value, now: &str) -> Result<(), ApiError> {
    let group = crd.pointer("/spec/group").and_then(Value::as_str).unwrap_or("").to_string();
    let plural = crd.pointer("/spec/names/plural").and_then(Value::as_str).unwrap_or("").to_string();
    let name = meta_str(crd, "name").unwrap_or("").to_string();
    let mut causes = vec![];
    if name != format!("{plural}.{group}") {
        causes.push(Cause::invalid("metadata.name", &json!(name), "must be spec.names.plural+\".\"+spec.group"));
    }
    if crd.pointer("/spec/versions").and_then(Value::as_array).is_none_or(Vec::is_empty) {
        causes.push(Cause::required("spec.versions"));
    }
    let storage_versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|v| v.iter().filter(|v| v["storage"] == json!(true)).count())
        .unwrap_or(0);
    if storage_versions != 1 {
        causes.push(Cause::invalid(
            "spec.versions",
            &json!(storage_versions),
            "must have exactly one version marked as storage version",
        ));
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid(
            "CustomResourceDefinition.apiextensions.k8s.io",
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            &name,
            causes,
        ));
    }
    let builtin_clash =
        store.resources.iter().any(|r| r.group == group && r.plural == plural && r.behavior != Behavior::Custom);
    let t = now;
    let accepted = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
    crd["status"] = json!({
        "acceptedNames": accepted,
        "conditions": [
            {"type": "NamesAccepted", "status": if builtin_clash {"False"} else {"True"}, "reason": if builtin_clash {"NameConflict"} else {"NoConflicts"}, "message": if builtin_clash {"the name is already in use"} else {"no conflicts found"}, "lastTransitionTime": t},
            {"type": "Established", "status": if builtin_clash {"False"} else {"True"}, "reason": if builtin_clash {"NotAccepted"} else {"InitialNamesAccepted"}, "message": if builtin_clash {"not all names are accepted"} else {"the initial names have been accepted"}, "lastTransitionTime": t},
        ],
        "storedVersions": crd.pointer("/spec/versions").and_then(Value::as_array).map(|v| v.iter().filter(|v| v["storage"] == json!(true)).map(|v| v["name"].clone()).collect::<Vec<_>>()).unwrap_or_default(),
    });
    Ok(())
}
