//! The HTTP surface: URL routing, discovery, content negotiation, watch streams, auth and
//! fault injection, on top of [`crate::registry`].
//!
//! Paths follow the API server's layout
//! (<https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-uris>):
//! `/api/v1/...` for the core group and `/apis/{group}/{version}/...` for the others, with
//! `namespaces/{ns}/` before namespaced resources and `/{subresource}` after a name.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::admission::{self, Admission, Warnings};
use crate::error::ApiError;
use crate::identity::{self, UserInfo};
use crate::protobuf;
use crate::registry::{self, Ctx, DeleteOptions, Gate, ListOptions, PatchType, Pins, Sub};
use crate::resources::{Behavior, ResourceDef};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::state::State;
use crate::store::StoreInner;
use crate::table::{self, IncludeObject};

/// The Kubernetes version kubesim reports at `/version`.
pub const KUBE_MINOR: &str = "33";

fn ok_json<T: serde::Serialize + ?Sized>(code: StatusCode, v: &T) -> Response {
    let mut resp = (code, axum::Json(v)).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-cache, private"));
    resp
}

/// Who makes a request, and what it collects for the response besides its body.
#[derive(Debug)]
struct Caller {
    /// The authenticated (and possibly impersonated) user.
    user: UserInfo,
    /// Warnings of admission webhooks, sent as `Warning` headers.
    warnings: Warnings,
}

/// The one handler behind every path.
pub async fn handle(state: Arc<State>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_string();
    let query: HashMap<String, String> =
        uri.query().map(|q| url_decode_pairs(q).into_iter().collect()).unwrap_or_default();
    let health = matches!(path.as_str(), "/healthz" | "/livez" | "/readyz");
    let user = if health {
        UserInfo::admin()
    } else {
        let uri_text = uri.path_and_query().map_or(path.as_str(), |p| p.as_str());
        match identity::authenticate(&state.config, &headers).and_then(|u| identity::impersonate(u, &headers, uri_text))
        {
            Ok(u) => u,
            Err(e) => return e.into_response(),
        }
    };
    if let Err(e) = state.faults.before_request().await {
        return e.into_response();
    }
    let caller = Caller { user, warnings: Warnings::default() };
    let mut resp = match route(&state, &method, &path, &query, &headers, body, &caller).await {
        Ok(resp) => resp,
        Err(e) if negotiate(&headers, &query, state.config.protobuf_first).is_ok_and(|r| r.proto) => {
            protobuf::error_response(e)
        }
        Err(e) => e.into_response(),
    };
    for v in caller.warnings.header_values() {
        if let Ok(v) = HeaderValue::from_bytes(v.as_bytes()) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

/// Splits and percent-decodes a query string.
fn url_decode_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn route(
    state: &Arc<State>,
    method: &Method,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Bytes,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["healthz" | "livez" | "readyz"] => Ok((StatusCode::OK, "ok").into_response()),
        ["version"] => Ok(ok_json(StatusCode::OK, &version())),
        ["api"] => Ok(ok_json(
            StatusCode::OK,
            &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": state.addr().to_string()}]}),
        )),
        ["apis"] => Ok(ok_json(StatusCode::OK, &group_list(&state.resources()))),
        ["apis", group] => {
            let list = group_list(&state.resources());
            let g = list["groups"].as_array().and_then(|gs| gs.iter().find(|g| g["name"] == json!(group))).cloned();
            let mut g = g.ok_or_else(ApiError::no_such_resource)?;
            g["kind"] = json!("APIGroup");
            g["apiVersion"] = json!("v1");
            Ok(ok_json(StatusCode::OK, &g))
        }
        ["api", "v1"] => Ok(ok_json(StatusCode::OK, &resource_list(&state.resources(), "", "v1")?)),
        ["apis", group, version] => Ok(ok_json(StatusCode::OK, &resource_list(&state.resources(), group, version)?)),
        ["openapi", "v3"] => Ok(ok_json(StatusCode::OK, &openapi_v3_root(&state.resources()))),
        ["openapi", "v3", "api", "v1"] => Ok(ok_json(StatusCode::OK, &openapi_v3_doc(&state.resources(), "", "v1")?)),
        ["openapi", "v3", "apis", group, version] => {
            Ok(ok_json(StatusCode::OK, &openapi_v3_doc(&state.resources(), group, version)?))
        }
        ["api", "v1", rest @ ..] => resource_request(state, method, "", "v1", rest, query, headers, body, caller).await,
        ["apis", group, version, rest @ ..] => {
            resource_request(state, method, group, version, rest, query, headers, body, caller).await
        }
        _ => Err(ApiError::no_such_resource()),
    }
}

fn version() -> Value {
    json!({
        "major": "1", "minor": KUBE_MINOR, "gitVersion": format!("v1.{KUBE_MINOR}.0-kubesim"),
        "gitCommit": "kubesim", "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24", "compiler": "gc", "platform": format!("{}/{}", std::env::consts::OS, match std::env::consts::ARCH { "x86_64" => "amd64", "aarch64" => "arm64", a => a }),
    })
}

fn group_list(resources: &[ResourceDef]) -> Value {
    let mut groups: Vec<(String, Vec<String>)> = vec![];
    for r in resources.iter().filter(|r| !r.group.is_empty()) {
        match groups.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, vs)) => {
                for v in &r.versions {
                    if !vs.contains(v) {
                        vs.push(v.clone());
                    }
                }
            }
            None => groups.push((r.group.clone(), r.versions.clone())),
        }
    }
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(g, vs)| {
            let versions: Vec<Value> =
                vs.iter().map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v})).collect();
            json!({"name": g, "versions": versions, "preferredVersion": versions[0]})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resource_list(resources: &[ResourceDef], group: &str, version: &str) -> Result<Value, ApiError> {
    let mut out = vec![];
    for r in resources.iter().filter(|r| r.group == group && r.versions.iter().any(|v| v == version)) {
        let mut verbs = if r.behavior.is_review() {
            vec!["create"]
        } else {
            vec!["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
        };
        verbs.sort_unstable();
        let mut e = json!({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind, "verbs": verbs});
        if !r.short_names.is_empty() {
            e["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            e["categories"] = json!(r.categories);
        }
        out.push(e);
        if r.status_subresource {
            out.push(json!({"name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"]}));
        }
        if r.scale.is_some() {
            out.push(json!({"name": format!("{}/scale", r.plural), "singularName": "", "namespaced": r.namespaced, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
        }
    }
    if out.is_empty() {
        return Err(ApiError::no_such_resource());
    }
    let gv = crate::resources::api_version(group, version);
    Ok(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}))
}

/// The OpenAPI v3 discovery root: one entry per served group/version.
fn openapi_v3_root(resources: &[ResourceDef]) -> Value {
    let mut paths = serde_json::Map::new();
    for r in resources {
        for v in &r.versions {
            let p = crate::resources::group_version_path(&r.group, v);
            let url = format!("/openapi/v3/{p}?hash=kubesim");
            paths.insert(p, json!({"serverRelativeURL": url}));
        }
    }
    json!({"paths": paths})
}

/// A minimal OpenAPI v3 document for one group/version. It carries no schemas: it
/// declares, for each kind, the PATCH operation with the `fieldValidation` query
/// parameter, which is how kubectl learns that the server validates fields itself
/// (server-side field validation) instead of downloading schemas to validate client-side.
fn openapi_v3_doc(resources: &[ResourceDef], group: &str, version: &str) -> Result<Value, ApiError> {
    let mut paths = serde_json::Map::new();
    for r in resources.iter().filter(|r| r.group == group && r.versions.iter().any(|v| v == version)) {
        let prefix = format!("/{}", crate::resources::group_version_path(group, version));
        let path = if r.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("{prefix}/{}/{{name}}", r.plural)
        };
        let gvk = json!({"group": group, "version": version, "kind": r.kind});
        let params = json!([
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        ]);
        let op = |id: &str| json!({"operationId": id, "x-kubernetes-group-version-kind": gvk, "parameters": params, "responses": {"200": {"description": "OK"}}});
        paths.insert(
            path,
            json!({"get": op("read"), "put": op("replace"), "patch": op("patch"), "delete": op("delete")}),
        );
    }
    if paths.is_empty() {
        return Err(ApiError::no_such_resource());
    }
    Ok(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (kubesim)", "version": format!("v1.{KUBE_MINOR}.0")},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

/// How the client wants the response rendered.
#[derive(Debug, Clone, Copy)]
struct Render {
    table: bool,
    include: IncludeObject,
    /// `as=PartialObjectMetadata` (`false`) or `as=PartialObjectMetadataList` (`true`).
    partial_list: Option<bool>,
    /// Answer protobuf: the client accepts nothing else kubesim can write.
    proto: bool,
}

/// The `as=PartialObjectMetadata[List];g=meta.k8s.io;v=v1` of one `Accept` choice, as
/// client-go's metadata client and kube-rs' `*_metadata` calls and `metadata_watcher` ask:
/// `Some(is_list)`, or `None` for any other choice.
fn partial_metadata_choice(part: &str) -> Option<bool> {
    let (mut as_, mut g, mut v) = (None, None, None);
    for (k, val) in part.split(';').skip(1).filter_map(|kv| kv.split_once('=')) {
        match k.trim() {
            "as" => as_ = Some(val.trim()),
            "g" => g = Some(val.trim()),
            "v" => v = Some(val.trim()),
            _ => {}
        }
    }
    if g != Some("meta.k8s.io") || v != Some("v1") {
        return None;
    }
    match as_ {
        Some("PartialObjectMetadata") => Some(false),
        Some("PartialObjectMetadataList") => Some(true),
        _ => None,
    }
}

/// Shapes one object for `render`: as is, or as a meta.k8s.io/v1 `PartialObjectMetadata`
/// (what the apiserver's `asPartialObjectMetadata` keeps: type meta and metadata). Asking
/// for a `PartialObjectMetadataList` of a single object is 406, as on the real server.
fn shape_object(render: Render, obj: Value) -> Result<Value, ApiError> {
    match render.partial_list {
        None => Ok(obj),
        Some(false) => Ok(partial_object(&obj)),
        Some(true) => Err(not_acceptable_partial(
            "you requested PartialObjectMetadataList, but the requested object is not a list",
        )),
    }
}

fn partial_object(obj: &Value) -> Value {
    registry::partial_object(obj.get("metadata"))
}

fn not_acceptable_partial(message: &str) -> ApiError {
    let mut e = ApiError::not_acceptable("");
    e.message = message.to_string();
    e
}

/// `protobuf_first`: take a protobuf choice that comes before any JSON one (the real
/// server's behaviour); otherwise protobuf only when no JSON choice fits.
fn negotiate(headers: &HeaderMap, query: &HashMap<String, String>, protobuf_first: bool) -> Result<Render, ApiError> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("*/*");
    let mut table = false;
    let mut partial_list = None;
    let mut acceptable = false;
    let mut proto: Option<Option<bool>> = None;
    for part in accept.split(',') {
        let p = part.trim();
        let media = p.split(';').next().unwrap_or("").trim();
        if media == protobuf::MEDIA_TYPE && proto.is_none() {
            match partial_metadata_choice(p) {
                Some(list) => proto = Some(Some(list)),
                None if !p.contains("as=") => proto = Some(None),
                None => {}
            }
            if protobuf_first && proto.is_some() {
                break;
            }
            continue;
        }
        if !matches!(media, "application/json" | "*/*" | "application/*" | "application/yaml" | "") {
            continue;
        }
        if p.contains("as=Table") {
            if p.contains("g=meta.k8s.io") {
                table = true;
                acceptable = true;
                break;
            }
            continue;
        }
        if let Some(list) = partial_metadata_choice(p) {
            partial_list = Some(list);
            acceptable = true;
            break;
        }
        if p.contains("as=") {
            // APIGroupDiscoveryList and the like: not offered; fall through to the next
            // choice, as the real server would for an unsupported `as`.
            continue;
        }
        acceptable = true;
        break;
    }
    let include = IncludeObject::parse(query.get("includeObject").map(String::as_str));
    match (acceptable, proto) {
        (true, _) => Ok(Render { table, include, partial_list, proto: false }),
        (false, Some(partial_list)) => Ok(Render { table: false, include, partial_list, proto: true }),
        (false, None) => Err(ApiError::not_acceptable(accept)),
    }
}

/// An object or list as JSON, or as protobuf when the client asked only for that.
fn respond(render: Render, code: StatusCode, v: &Value) -> Result<Response, ApiError> {
    if render.proto { protobuf::response(code, v) } else { Ok(ok_json(code, v)) }
}

fn field_manager(query: &HashMap<String, String>, headers: &HeaderMap) -> String {
    if let Some(m) = query.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.clone();
    }
    // As the real server: the user agent up to its first '/' (client-go's default).
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.split('/').next().unwrap_or(ua).to_string())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn list_options(def: &ResourceDef, query: &HashMap<String, String>) -> Result<ListOptions, ApiError> {
    let label_selector =
        LabelSelector::parse(query.get("labelSelector").map(String::as_str).unwrap_or("")).map_err(|e| {
            ApiError::bad_request(
                format!("unable to parse requirement: {e}").replace(
                    "unable to parse requirement: unable to parse requirement: ",
                    "unable to parse requirement: ",
                ),
            )
        })?;
    let field_selector = FieldSelector::parse(query.get("fieldSelector").map(String::as_str).unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    registry::check_field_selector(def, &field_selector)?;
    let limit = match query.get("limit") {
        Some(l) if !l.is_empty() => {
            l.parse::<i64>().map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?.max(0) as usize
        }
        _ => 0,
    };
    Ok(ListOptions {
        label_selector,
        field_selector,
        limit,
        continue_token: query.get("continue").filter(|c| !c.is_empty()).cloned(),
    })
}

#[allow(clippy::too_many_arguments)]
async fn resource_request(
    state: &Arc<State>,
    method: &Method,
    group: &str,
    version: &str,
    rest: &[&str],
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Bytes,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let lookup = |plural: &str| state.resource(group, version, plural).ok_or_else(ApiError::no_such_resource);
    // (def, namespace, name, subresource)
    let (def, namespace, name, sub): (ResourceDef, String, Option<String>, Option<String>) = match rest {
        ["namespaces", ns, plural, tail @ ..] if state.resource(group, version, plural).is_some() => {
            let def = lookup(plural)?;
            if !def.namespaced {
                return Err(ApiError::no_such_resource());
            }
            match tail {
                [] => (def, ns.to_string(), None, None),
                [name] => (def, ns.to_string(), Some(name.to_string()), None),
                [name, sub] => (def, ns.to_string(), Some(name.to_string()), Some(sub.to_string())),
                _ => return Err(ApiError::no_such_resource()),
            }
        }
        [plural, tail @ ..] => {
            let def = lookup(plural)?;
            match tail {
                [] => (def, String::new(), None, None),
                [_, ..] if def.namespaced => return Err(ApiError::no_such_resource()),
                [name] => (def, String::new(), Some(name.to_string()), None),
                [name, sub] => (def, String::new(), Some(name.to_string()), Some(sub.to_string())),
                _ => return Err(ApiError::no_such_resource()),
            }
        }
        _ => return Err(ApiError::no_such_resource()),
    };
    let sub = match sub.as_deref() {
        None => Sub::Main,
        Some("status") if def.status_subresource => Sub::Status,
        Some("scale") if def.scale.is_some() => Sub::Scale,
        Some("finalize") if def.plural == "namespaces" => Sub::Main,
        Some(_) => return Err(ApiError::no_such_resource()),
    };
    let render = negotiate(headers, query, state.config.protobuf_first)?;
    if def.behavior.is_review() {
        // Create-only and never stored (the review kinds' REST has only `Create`).
        if name.is_some() || sub != Sub::Main || *method != Method::POST {
            return Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({method})"
            )));
        }
        let review = match def.behavior {
            Behavior::SelfSubjectReview => identity::self_subject_review(&parse_body(headers, &body)?, &caller.user)?,
            _ => crate::rbac::review(&state.store.lock(), parse_body(headers, &body)?)?,
        };
        return respond(render, StatusCode::CREATED, &review);
    }
    // A write's admission, when webhook configurations exist (without any, writes go
    // straight to the registry, as before).
    let is_write = matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
    let admission = if is_write && state.store.lock().webhook_configs > 0 {
        let delete_body = if *method == Method::DELETE && !body.is_empty() {
            Some(serde_json::from_slice(&json_bytes(headers, body.clone())?).unwrap_or(Value::Null))
        } else {
            None
        };
        Some(Arc::new(Admission::new(state.admission.clone(), caller.user.clone(), query.clone(), delete_body)))
    } else {
        None
    };
    let ctx = Ctx {
        def: def.clone(),
        version: version.to_string(),
        namespace,
        manager: field_manager(query, headers),
        dry_run: query.get("dryRun").is_some_and(|d| d == "All"),
        gate: admission.as_ref().map(|a| Gate { admit: a.clone(), pins: Arc::new(Pins::new()) }),
    };
    let admitted = Admitted { state, admission: admission.as_deref(), warnings: &caller.warnings };
    let written = |w: registry::Written, state: &Arc<State>| -> Result<Response, ApiError> {
        state.publish(w.rv, w.deployments_changed);
        let code = if w.created { StatusCode::CREATED } else { StatusCode::OK };
        respond(render, code, &shape_object(render, w.object)?)
    };
    match (name, method.clone()) {
        (None, Method::GET) => {
            let opts = list_options(&def, query)?;
            if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
                return watch(state, ctx, opts, query, render);
            }
            // Only the page's selection runs under the store lock; its items are shared with
            // the store and written out after the lock is released.
            let page = registry::list_page(&mut state.store.lock(), &ctx, &opts)?;
            if render.table {
                return Ok(ok_json(
                    StatusCode::OK,
                    &table::render(&def, &page.views(), page.metadata.clone(), render.include),
                ));
            }
            match (render.partial_list, render.proto) {
                (None, false) => Ok(ok_json(StatusCode::OK, &page)),
                (None, true) => protobuf::response(StatusCode::OK, &page.to_value()),
                (Some(true), false) => Ok(ok_json(StatusCode::OK, &page.partial())),
                (Some(true), true) => protobuf::response(StatusCode::OK, &page.partial().to_value()),
                (Some(false), _) => Err(not_acceptable_partial(
                    "you requested PartialObjectMetadata, but the requested object is a list",
                )),
            }
        }
        (None, Method::POST) => {
            let mut body: Value = parse_body(headers, &body)?;
            let again = admitted.admission.is_some();
            let w = admitted
                .write(|store| {
                    let body = if again { body.clone() } else { std::mem::take(&mut body) };
                    registry::create(store, &ctx, body)
                })
                .await?;
            written(w, state)
        }
        (None, Method::DELETE) => {
            let opts = list_options(&def, query)?;
            let del =
                DeleteOptions::parse(&json_bytes(headers, body)?, query.get("propagationPolicy").map(String::as_str))?;
            let list = admitted.write(|store| registry::delete_collection(store, &ctx, &opts, &del)).await?;
            let rv = state.store.lock().rv;
            state.publish(rv, false);
            respond(render, StatusCode::OK, &list)
        }
        (None, m) => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({m})"
        ))),
        (Some(name), Method::GET) => {
            if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
                return Err(ApiError::bad_request(
                    "watch is only supported on collections; use fieldSelector=metadata.name=",
                ));
            }
            let obj = registry::get(&state.store.lock(), &ctx, &name, sub)?;
            if render.table && sub == Sub::Main {
                let rv = obj.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!(""));
                return Ok(ok_json(
                    StatusCode::OK,
                    &table::render(&def, &[obj], json!({"resourceVersion": rv}), render.include),
                ));
            }
            respond(render, StatusCode::OK, &shape_object(render, obj)?)
        }
        (Some(name), Method::PUT) => {
            let mut body: Value = parse_body(headers, &body)?;
            let again = admitted.admission.is_some();
            let w = admitted
                .write(|store| {
                    let body = if again { body.clone() } else { std::mem::take(&mut body) };
                    registry::update(store, &ctx, &name, sub, body)
                })
                .await?;
            written(w, state)
        }
        (Some(name), Method::PATCH) => {
            let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
            let pt = PatchType::from_content_type(ct).ok_or_else(|| ApiError::unsupported_media_type(ct))?;
            let force = query.get("force").is_some_and(|f| f == "true");
            let w = admitted.write(|store| registry::patch(store, &ctx, &name, sub, pt, &body, force)).await?;
            written(w, state)
        }
        (Some(name), Method::DELETE) => {
            if sub != Sub::Main {
                return Err(ApiError::method_not_allowed(
                    "the server does not allow this method on the requested resource",
                ));
            }
            let del =
                DeleteOptions::parse(&json_bytes(headers, body)?, query.get("propagationPolicy").map(String::as_str))?;
            let w = admitted.write(|store| registry::delete(store, &ctx, &name, &del)).await?;
            // As the generic registry's `finalizeDelete`: an object removed at once is
            // answered with a `Status` naming it (`details.kind` is the resource); one only
            // marked for deletion (finalizers pending) with the object. A Namespace always
            // answers with the object: the real server first makes it `Terminating`.
            if w.object.pointer("/metadata/deletionTimestamp").is_none() && def.behavior != Behavior::Namespace {
                state.publish(w.rv, w.deployments_changed);
                let m = &w.object["metadata"];
                return respond(
                    render,
                    StatusCode::OK,
                    &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                            "details": {"name": m["name"], "group": def.group, "kind": def.plural, "uid": m["uid"]}}),
                );
            }
            written(w, state)
        }
        (Some(_), m) => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({m})"
        ))),
    }
}

/// How a request's writes run: straight under the store lock, or under admission.
struct Admitted<'a> {
    state: &'a Arc<State>,
    admission: Option<&'a Admission>,
    warnings: &'a Warnings,
}

impl Admitted<'_> {
    /// Runs `write` under the store lock, through admission when the request has one
    /// ([`admission::run`]: the lock is never held while webhooks are called).
    ///
    /// Errors: `write`'s, and admission's (a denial, a failed call, too many conflicts).
    async fn write<T>(&self, mut write: impl FnMut(&mut StoreInner) -> Result<T, ApiError>) -> Result<T, ApiError> {
        match self.admission {
            None => write(&mut self.state.store.lock()),
            Some(a) => admission::run(&self.state.store, a, self.warnings, write).await,
        }
    }
}

fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    let media = ct.split(';').next().unwrap_or("").trim();
    match media {
        "application/json" | "" => {
            serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding body: {e}")))
        }
        "application/yaml" => {
            serde_yaml::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding YAML body: {e}")))
        }
        m if protobuf::is_protobuf(m) => protobuf::decode(body),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

/// A DELETE body (`DeleteOptions`) as JSON bytes, whatever its `Content-Type`.
fn json_bytes(headers: &HeaderMap, body: Bytes) -> Result<Bytes, ApiError> {
    if body.is_empty() {
        return Ok(body);
    }
    let v = parse_body(headers, &body)?;
    serde_json::to_vec(&v).map(Bytes::from).map_err(|e| ApiError::internal(e.to_string()))
}

/// One watch event: a JSON line, or a protobuf frame (an object that has no protobuf form
/// becomes an `ERROR` event carrying the 406 `Status`).
fn watch_line(proto: bool, kind: &str, object: Value) -> Bytes {
    if proto {
        return protobuf::watch_frame(kind, &object)
            .or_else(|e| protobuf::watch_frame("ERROR", &e.status()))
            .unwrap_or_default();
    }
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

fn table_event(def: &ResourceDef, render: Render, obj: Value) -> Value {
    if render.table {
        let rv = obj.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!(""));
        table::render(def, &[obj], json!({"resourceVersion": rv}), render.include)
    } else if render.partial_list.is_some() {
        // A metadata-only watch: every event carries a PartialObjectMetadata.
        partial_object(&obj)
    } else {
        obj
    }
}

/// A watch: synthetic ADDED events for the current state (when resourceVersion is "" or
/// "0", or `sendInitialEvents=true`), then every matching change, bookmarks when allowed,
/// until `timeoutSeconds`, a closed watch, the server going down, or the client leaving.
fn watch(
    state: &Arc<State>,
    ctx: Ctx,
    opts: ListOptions,
    query: &HashMap<String, String>,
    render: Render,
) -> Result<Response, ApiError> {
    let rv_param = query.get("resourceVersion").cloned().unwrap_or_default();
    let bookmarks = query.get("allowWatchBookmarks").is_some_and(|b| b == "true");
    let send_initial = query.get("sendInitialEvents").is_some_and(|b| b == "true");
    let timeout = match query.get("timeoutSeconds") {
        Some(t) => Some(Duration::from_secs(
            t.parse::<u64>().map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds {t:?}")))?,
        )),
        None => None,
    };
    let start_rv: Option<u64> = match rv_param.as_str() {
        "" | "0" => None,
        n => Some(n.parse().map_err(|_| ApiError::bad_request(format!("invalid resource version: {n:?}")))?),
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::convert::Infallible>>(64);
    let mut initial = vec![];
    let (cursor, too_old) = {
        let store = state.store.lock();
        match start_rv {
            Some(rv) if !send_initial => (rv, rv < store.oldest_watchable()),
            _ => {
                let ns = if ctx.def.namespaced { ctx.namespace.as_str() } else { "" };
                for (_, obj) in store.snapshot(&ctx.def.storage).iter() {
                    if registry::matches(obj, ns, &opts) {
                        initial.push(registry::to_view(&ctx.def, &ctx.version, obj));
                    }
                }
                (store.rv, false)
            }
        }
    };
    let state = state.clone();
    let mut rv_rx = state.store.subscribe();
    // Catch up at once: a watch resuming from an older resourceVersion must first replay
    // the changes committed since then (as the watch cache does), and changes committed
    // between reading `cursor` and subscribing must not wait for the next write.
    rv_rx.mark_changed();
    let mut close_rx = state.watch_closer.subscribe();
    let down = state.down_token();
    state.watchers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let bookmark_every = state.config.bookmark_interval;
    let proto = render.proto;
    tokio::spawn(async move {
        let _guard = WatcherGuard(state.clone());
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let kind_for_bookmark = (ctx.def.api_version(&ctx.version), ctx.def.kind.clone());
        let bookmark = |rv: u64| json!({"kind": kind_for_bookmark.1, "apiVersion": kind_for_bookmark.0, "metadata": {"resourceVersion": rv.to_string(), "creationTimestamp": null}});
        if too_old {
            let oldest = state.store.lock().oldest_watchable();
            let status = ApiError::gone(format!("too old resource version: {cursor} ({oldest})")).status();
            let _ = tx.send(Ok(watch_line(proto, "ERROR", status))).await;
            return;
        }
        for obj in initial {
            if tx.send(Ok(watch_line(proto, "ADDED", table_event(&ctx.def, render, obj)))).await.is_err() {
                return;
            }
        }
        if send_initial {
            let mut b = bookmark(cursor);
            b["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            if tx.send(Ok(watch_line(proto, "BOOKMARK", b))).await.is_err() {
                return;
            }
        }
        let mut cursor = cursor;
        let mut ticker = tokio::time::interval(bookmark_every);
        ticker.tick().await;
        loop {
            let sleep_until = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = rv_rx.changed() => {
                    if changed.is_err() { return; }
                    let (changes, head) = {
                        let store = state.store.lock();
                        (store.changes_since(cursor, &ctx.def.storage), store.rv)
                    };
                    let Some(changes) = changes else {
                        let status = ApiError::gone(format!("too old resource version: {cursor}")).status();
                        let _ = tx.send(Ok(watch_line(proto, "ERROR", status))).await;
                        return;
                    };
                    let delay = Duration::from_millis(state.faults.get().watch_delay_ms);
                    for c in changes {
                        if !delay.is_zero() {
                            tokio::time::sleep_until(c.at + delay).await;
                        }
                        if let Some((t, obj)) = registry::watch_event(&ctx, &opts, c.kind, &c.object, c.previous.as_deref())
                            && tx.send(Ok(watch_line(proto, t, table_event(&ctx.def, render, obj)))).await.is_err()
                        {
                            return;
                        }
                    }
                    cursor = cursor.max(head);
                }
                _ = ticker.tick() => {
                    if bookmarks && tx.send(Ok(watch_line(proto, "BOOKMARK", bookmark(cursor)))).await.is_err() {
                        return;
                    }
                }
                _ = sleep_until => return,
                _ = close_rx.changed() => return,
                _ = down.cancelled() => return,
                _ = tx.closed() => return,
            }
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, if proto { protobuf::WATCH_MEDIA_TYPE } else { "application/json" })
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(Body::from_stream(stream))
        .map_err(|e| ApiError::internal(e.to_string()))
}

struct WatcherGuard(Arc<State>);

impl Drop for WatcherGuard {
    fn drop(&mut self) {
        self.0.watchers.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
