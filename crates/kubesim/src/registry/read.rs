//! Reads: GET of one object, LIST with selectors and continue tokens, and the
//! filtering of watch events by the same options.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::error::ApiError;
use crate::resources::{Behavior, ResourceDef};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::{ChangeType, ObjKey, StoreInner};

use super::update::scale_view;
use super::{Ctx, Sub, to_view};

/// GET one object.
pub fn get(store: &StoreInner, ctx: &Ctx, name: &str, sub: Sub) -> Result<Value, ApiError> {
    let stored = store.get(&ctx.def.storage, &ctx.key(name)).ok_or_else(|| ctx.not_found(name))?;
    Ok(match sub {
        Sub::Scale => scale_view(&ctx.def, &stored)?,
        _ => to_view(&ctx.def, &ctx.version, &stored),
    })
}

/// List options from the query string.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// `labelSelector`.
    pub label_selector: LabelSelector,
    /// `fieldSelector`.
    pub field_selector: FieldSelector,
    /// `limit` (0 = no limit).
    pub limit: usize,
    /// `continue` token.
    pub continue_token: Option<String>,
}

/// Whether `obj` passes the namespace and selectors of a list or watch.
pub fn matches(obj: &Value, namespace: &str, opts: &ListOptions) -> bool {
    (namespace.is_empty() || obj.pointer("/metadata/namespace").and_then(Value::as_str) == Some(namespace))
        && opts.label_selector.matches_object(obj)
        && opts.field_selector.matches(obj)
}

/// Field paths a field selector may name for `def` (as the real server's field label
/// conversion functions allow). Others answer 400.
pub fn check_field_selector(def: &ResourceDef, sel: &FieldSelector) -> Result<(), ApiError> {
    for f in sel.fields() {
        let ok = matches!(f, "metadata.name" | "metadata.namespace")
            || (def.behavior == Behavior::Event
                && (f.starts_with("involvedObject.")
                    || f.starts_with("regarding.")
                    || matches!(f, "reason" | "type" | "source" | "reportingComponent" | "reportingController")))
            || (def.behavior == Behavior::Namespace && f == "status.phase");
        if !ok {
            return Err(ApiError::bad_request(format!(
                "\"{f}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
            )));
        }
    }
    Ok(())
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    rv: u64,
    start: (String, String),
}

/// LIST a collection: one page of at most `limit` objects, served from one snapshot.
pub fn list(store: &mut StoreInner, ctx: &Ctx, opts: &ListOptions) -> Result<Value, ApiError> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let storage = ctx.def.storage.clone();
    let (snapshot, rv, start) = match &opts.continue_token {
        Some(token) => {
            let bytes =
                b64.decode(token).map_err(|_| ApiError::bad_request("continue key is not valid: illegal base64"))?;
            let t: ContinueToken = serde_json::from_slice(&bytes).map_err(|_| {
                ApiError::bad_request("continue key is not valid: incorrect encoded start resourceVersion")
            })?;
            let snap = store.kept_snapshot(&storage, t.rv).ok_or_else(|| {
                ApiError::expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start \
                     a new list without the continue parameter.",
                )
            })?;
            (snap, t.rv, Some(t.start))
        }
        None => (store.snapshot(&storage), store.rv, None),
    };
    let ns = if ctx.def.namespaced { ctx.namespace.as_str() } else { "" };
    let iter: Box<dyn Iterator<Item = (&ObjKey, &Arc<Value>)>> = match (&start, ns.is_empty()) {
        (Some(s), _) => Box::new(snapshot.range(s.clone()..)),
        (None, false) => Box::new(snapshot.range((ns.to_string(), String::new())..)),
        (None, true) => Box::new(snapshot.iter()),
    };
    let mut items = vec![];
    let mut next: Option<ObjKey> = None;
    for (key, obj) in iter {
        if !ns.is_empty() && key.0 != ns {
            break;
        }
        if !matches(obj, "", opts) {
            continue;
        }
        if opts.limit > 0 && items.len() == opts.limit {
            next = Some(key.clone());
            break;
        }
        items.push(to_view(&ctx.def, &ctx.version, obj));
    }
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some(start) = next {
        if opts.continue_token.is_none() {
            store.keep_snapshot(&storage, snapshot);
        }
        let token = serde_json::to_vec(&ContinueToken { rv, start }).map_err(|e| ApiError::internal(e.to_string()))?;
        metadata["continue"] = json!(b64.encode(token));
    }
    Ok(json!({
        "apiVersion": ctx.def.api_version(&ctx.version),
        "kind": format!("{}List", ctx.def.kind),
        "metadata": metadata,
        "items": items,
    }))
}

/// A watch event's object in the requested version; `None` when the change does not pass
/// the watch's filters. Objects leaving the selection are sent as DELETED and objects
/// entering it as ADDED, as the watch cache does.
pub fn watch_event(
    ctx: &Ctx,
    opts: &ListOptions,
    kind: ChangeType,
    obj: &Value,
    prev: Option<&Value>,
) -> Option<(&'static str, Value)> {
    let ns = if ctx.def.namespaced { ctx.namespace.as_str() } else { "" };
    let now_in = matches(obj, ns, opts);
    let was_in = prev.is_some_and(|p| matches(p, ns, opts));
    let t = match kind {
        ChangeType::Added if now_in => "ADDED",
        ChangeType::Modified if now_in && was_in => "MODIFIED",
        ChangeType::Modified if now_in => "ADDED",
        ChangeType::Modified if was_in => "DELETED",
        ChangeType::Deleted if now_in || was_in => "DELETED",
        _ => return None,
    };
    Some((t, to_view(&ctx.def, &ctx.version, obj)))
}
