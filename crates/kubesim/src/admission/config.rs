//! `admissionregistration.k8s.io/v1` `ValidatingWebhookConfiguration`: defaulting and
//! validation of what is stored, and the parsed form ([`Webhook`]) that matching and calling
//! read.
//!
//! Sources (Kubernetes v1.20; matchConditions from 1.30):
//! - `pkg/apis/admissionregistration/v1/defaults.go` (`SetDefaults_ValidatingWebhook`,
//!   `SetDefaults_Rule`, `SetDefaults_ServiceReference`),
//! - `pkg/apis/admissionregistration/validation/validation.go`
//!   (`validateValidatingWebhookConfiguration`, `validateValidatingWebhook`,
//!   `validateRuleWithOperations`, `validateResources`, `validateAdmissionReviewVersions`,
//!   and, 1.30, `validateMatchConditions`),
//! - `staging/src/k8s.io/apiserver/pkg/util/webhook/validation.go` (`ValidateWebhookURL`,
//!   `ValidateWebhookService`),
//! - `staging/src/k8s.io/apimachinery/pkg/util/validation/validation.go`
//!   (`IsFullyQualifiedName`, `IsQualifiedName`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::error::Cause;
use crate::selectors::LabelSelector;
use crate::selectors::validation::{dns1123_subdomain_errors, is_dns1123_subdomain};
use crate::store::Objects;

/// The storage of ValidatingWebhookConfigurations.
pub const STORAGE: &str = crate::resources::WEBHOOK_CONFIGS;
/// The API group.
pub const GROUP: &str = "admissionregistration.k8s.io";
/// The kind.
pub const KIND: &str = "ValidatingWebhookConfiguration";

/// The admission review versions kubesim (like kube-apiserver 1.17+) can send.
const REVIEW_VERSIONS: [&str; 2] = ["v1", "v1beta1"];
/// The operations a rule may name.
const OPERATIONS: [&str; 5] = ["*", "CONNECT", "CREATE", "DELETE", "UPDATE"];
/// The scopes a rule may name.
const SCOPES: [&str; 3] = ["*", "Cluster", "Namespaced"];
/// The side-effect classes the v1 API allows (`noSideEffectClasses`).
const SIDE_EFFECTS: [&str; 2] = ["None", "NoneOnDryRun"];
/// The most match conditions one webhook may have.
const MAX_MATCH_CONDITIONS: usize = 64;

// === defaulting ===

/// Applies the v1 defaults to a configuration (storage shape): per webhook
/// `failurePolicy: Fail`, `matchPolicy: Equivalent`, `namespaceSelector: {}`,
/// `objectSelector: {}`, `timeoutSeconds: 10`; per rule `scope: "*"`; per service reference
/// `port: 443`.
pub fn default(obj: &mut Value) {
    let Some(hooks) = obj.get_mut("webhooks").and_then(Value::as_array_mut) else { return };
    for hook in hooks.iter_mut().filter_map(Value::as_object_mut) {
        for (field, value) in [
            ("failurePolicy", json!("Fail")),
            ("matchPolicy", json!("Equivalent")),
            ("namespaceSelector", json!({})),
            ("objectSelector", json!({})),
            ("timeoutSeconds", json!(10)),
        ] {
            if hook.get(field).is_none_or(Value::is_null) {
                hook.insert(field.into(), value);
            }
        }
        if let Some(rules) = hook.get_mut("rules").and_then(Value::as_array_mut) {
            for rule in rules.iter_mut().filter_map(Value::as_object_mut) {
                if rule.get("scope").is_none_or(Value::is_null) {
                    rule.insert("scope".into(), json!("*"));
                }
            }
        }
        if let Some(svc) =
            hook.get_mut("clientConfig").and_then(|c| c.get_mut("service")).and_then(Value::as_object_mut)
            && svc.get("port").is_none_or(Value::is_null)
        {
            svc.insert("port".into(), json!(443));
        }
    }
}

// === validation ===

fn not_supported(field: &str, value: &Value, supported: &[&str]) -> Cause {
    let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
    Cause {
        reason: "FieldValueNotSupported".into(),
        message: format!("Unsupported value: {}: supported values: {}", render(value), list.join(", ")),
        field: field.into(),
    }
}

fn required(field: &str, detail: &str) -> Cause {
    let mut c = Cause::required(field);
    if !detail.is_empty() {
        c.message = format!("Required value: {detail}");
    }
    c
}

fn duplicate(field: &str, value: &str) -> Cause {
    Cause { reason: "FieldValueDuplicate".into(), message: format!("Duplicate value: {value:?}"), field: field.into() }
}

/// A value as apimachinery's field errors print it: strings quoted, lists as Go prints a
/// `[]string` (`[a b]`), others as JSON.
fn render(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(|i| i.as_str().map(String::from).unwrap_or(i.to_string())).collect();
            format!("[{}]", items.join(" "))
        }
        other => other.to_string(),
    }
}

fn invalid(field: &str, value: &Value, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid".into(),
        message: format!("Invalid value: {}: {detail}", render(value)),
        field: field.into(),
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().map(|s| s.as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default()
}

/// Validates a defaulted configuration (storage shape), appending the causes of a 422, as
/// `ValidateValidatingWebhookConfiguration` for the v1 API: per webhook its name (a fully
/// qualified name, unique in the configuration), rules, policies, `sideEffects` (required;
/// `None` or `NoneOnDryRun`), `timeoutSeconds` (1..30), selectors, `clientConfig` (exactly
/// one of an https `url` or a `service`; `caBundle` base64), `admissionReviewVersions`
/// (must include `v1` or `v1beta1`) and `matchConditions` (names unique qualified names,
/// expressions required; kubesim does not compile the CEL).
pub fn validate(obj: &Value, causes: &mut Vec<Cause>) {
    let Some(hooks) = obj.get("webhooks").and_then(Value::as_array) else { return };
    let mut names = BTreeSet::new();
    for (i, hook) in hooks.iter().enumerate() {
        let path = format!("webhooks[{i}]");
        validate_webhook(hook, &path, causes);
        validate_review_versions(
            hook.get("admissionReviewVersions"),
            &format!("{path}.admissionReviewVersions"),
            causes,
        );
        if let Some(name) = hook.get("name").and_then(Value::as_str).filter(|n| !n.is_empty())
            && !names.insert(name.to_string())
        {
            causes.push(duplicate(&format!("{path}.name"), name));
        }
    }
}

fn validate_webhook(hook: &Value, path: &str, causes: &mut Vec<Cause>) {
    let name = hook.get("name").and_then(Value::as_str).unwrap_or("");
    fully_qualified_name(&format!("{path}.name"), name, causes);
    for (j, rule) in hook.get("rules").and_then(Value::as_array).into_iter().flatten().enumerate() {
        validate_rule(rule, &format!("{path}.rules[{j}]"), causes);
    }
    if let Some(p) = hook.get("failurePolicy")
        && !matches!(p.as_str(), Some("Fail" | "Ignore"))
    {
        causes.push(not_supported(&format!("{path}.failurePolicy"), p, &["Fail", "Ignore"]));
    }
    if let Some(p) = hook.get("matchPolicy")
        && !matches!(p.as_str(), Some("Equivalent" | "Exact"))
    {
        causes.push(not_supported(&format!("{path}.matchPolicy"), p, &["Equivalent", "Exact"]));
    }
    match hook.get("sideEffects").filter(|s| !s.is_null()) {
        None => causes.push(required(&format!("{path}.sideEffects"), "must specify one of None, NoneOnDryRun")),
        Some(s) if !s.as_str().is_some_and(|s| SIDE_EFFECTS.contains(&s)) => {
            causes.push(not_supported(&format!("{path}.sideEffects"), s, &SIDE_EFFECTS))
        }
        Some(_) => {}
    }
    if let Some(t) = hook.get("timeoutSeconds")
        && !t.as_i64().is_some_and(|t| (1..=30).contains(&t))
    {
        causes.push(invalid(
            &format!("{path}.timeoutSeconds"),
            t,
            "the timeout value must be between 1 and 30 seconds",
        ));
    }
    for sel in ["namespaceSelector", "objectSelector"] {
        if let Some(s) = hook.get(sel)
            && let Err(e) = LabelSelector::from_object(s)
        {
            causes.push(invalid(&format!("{path}.{sel}"), s, &e.to_string()));
        }
    }
    validate_client_config(hook.get("clientConfig").unwrap_or(&Value::Null), &format!("{path}.clientConfig"), causes);
    validate_match_conditions(hook.get("matchConditions"), &format!("{path}.matchConditions"), causes);
}

/// `IsFullyQualifiedName`: required, a DNS-1123 subdomain, at least three segments.
fn fully_qualified_name(field: &str, name: &str, causes: &mut Vec<Cause>) {
    if name.is_empty() {
        causes.push(Cause::required(field));
    } else if !is_dns1123_subdomain(name) {
        causes.push(invalid(field, &json!(name), &dns1123_subdomain_errors(name).join(",")));
    } else if name.split('.').count() < 3 {
        causes.push(invalid(field, &json!(name), "should be a domain with at least three segments separated by dots"));
    }
}

fn validate_rule(rule: &Value, path: &str, causes: &mut Vec<Cause>) {
    let ops = strings(rule.get("operations"));
    if ops.is_empty() {
        causes.push(Cause::required(&format!("{path}.operations")));
    }
    if ops.len() > 1 && ops.iter().any(|o| o == "*") {
        causes.push(invalid(
            &format!("{path}.operations"),
            &json!(ops),
            "if '*' is present, must not specify other operations",
        ));
    }
    for (k, op) in ops.iter().enumerate() {
        if !OPERATIONS.contains(&op.as_str()) {
            causes.push(not_supported(&format!("{path}.operations[{k}]"), &json!(op), &OPERATIONS));
        }
    }
    let groups = strings(rule.get("apiGroups"));
    if groups.is_empty() {
        causes.push(Cause::required(&format!("{path}.apiGroups")));
    }
    if groups.len() > 1 && groups.iter().any(|g| g == "*") {
        causes.push(invalid(
            &format!("{path}.apiGroups"),
            &json!(groups),
            "if '*' is present, must not specify other API groups",
        ));
    }
    let versions = strings(rule.get("apiVersions"));
    if versions.is_empty() {
        causes.push(Cause::required(&format!("{path}.apiVersions")));
    }
    if versions.len() > 1 && versions.iter().any(|v| v == "*") {
        causes.push(invalid(
            &format!("{path}.apiVersions"),
            &json!(versions),
            "if '*' is present, must not specify other API versions",
        ));
    }
    for (k, v) in versions.iter().enumerate() {
        if v.is_empty() {
            causes.push(Cause::required(&format!("{path}.apiVersions[{k}]")));
        }
    }
    validate_resources(&strings(rule.get("resources")), &format!("{path}.resources"), causes);
    if let Some(s) = rule.get("scope")
        && !s.as_str().is_some_and(|s| SCOPES.contains(&s))
    {
        causes.push(not_supported(&format!("{path}.scope"), s, &SCOPES));
    }
}

/// `validateResources`: `x`, `x/y`, `*`, `*/y`, `x/*`, `*/*`, without overlapping wildcards.
fn validate_resources(resources: &[String], path: &str, causes: &mut Vec<Cause>) {
    if resources.is_empty() {
        causes.push(Cause::required(path));
    }
    let mut with_wildcard_sub = BTreeSet::new();
    let mut sub_with_wildcard_res = BTreeSet::new();
    let (mut double, mut single, mut without_sub) = (false, false, false);
    for (i, res_sub) in resources.iter().enumerate() {
        if res_sub.is_empty() {
            causes.push(Cause::required(&format!("{path}[{i}]")));
            continue;
        }
        double |= res_sub == "*/*";
        single |= res_sub == "*";
        let Some((res, sub)) = res_sub.split_once('/') else {
            without_sub = res_sub != "*";
            continue;
        };
        if with_wildcard_sub.contains(res) {
            causes.push(invalid(
                &format!("{path}[{i}]"),
                &json!(res_sub),
                &format!("if '{res}/*' is present, must not specify {res_sub}"),
            ));
        }
        if sub_with_wildcard_res.contains(sub) {
            causes.push(invalid(
                &format!("{path}[{i}]"),
                &json!(res_sub),
                &format!("if '*/{sub}' is present, must not specify {res_sub}"),
            ));
        }
        if sub == "*" {
            with_wildcard_sub.insert(res.to_string());
        }
        if res == "*" {
            sub_with_wildcard_res.insert(sub.to_string());
        }
    }
    if resources.len() > 1 && double {
        causes.push(invalid(path, &json!(resources), "if '*/*' is present, must not specify other resources"));
    }
    if single && without_sub {
        causes.push(invalid(
            path,
            &json!(resources),
            "if '*' is present, must not specify other resources without subresources",
        ));
    }
}

fn validate_review_versions(versions: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    let versions = strings(versions);
    if versions.is_empty() {
        causes.push(required(path, "must specify one of v1, v1beta1"));
        return;
    }
    let mut seen = BTreeSet::new();
    let mut accepted = false;
    for (i, v) in versions.iter().enumerate() {
        if !seen.insert(v.clone()) {
            causes.push(invalid(&format!("{path}[{i}]"), &json!(v), "duplicate version"));
            continue;
        }
        if !is_dns1035_label(v) {
            causes.push(invalid(
                &format!("{path}[{i}]"),
                &json!(v),
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an \
                 alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', \
                 regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
            ));
        }
        accepted |= REVIEW_VERSIONS.contains(&v.as_str());
    }
    if !accepted {
        causes.push(invalid(path, &json!(versions), "must include at least one of v1, v1beta1"));
    }
}

fn is_dns1035_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-'
}

fn validate_client_config(cc: &Value, path: &str, causes: &mut Vec<Cause>) {
    let url = cc.get("url").filter(|u| !u.is_null());
    let service = cc.get("service").filter(|s| !s.is_null());
    match (url, service) {
        (Some(_), Some(_)) | (None, None) => {
            causes.push(required(path, "exactly one of url or service is required"));
        }
        (Some(u), None) => validate_url(u.as_str().unwrap_or(""), &format!("{path}.url"), causes),
        (None, Some(s)) => validate_service(s, &format!("{path}.service"), causes),
    }
    if let Some(ca) = cc.get("caBundle").filter(|c| !c.is_null())
        && ca.as_str().is_none_or(|c| base64::engine::general_purpose::STANDARD.decode(c).is_err())
    {
        // Upstream cannot even decode such a body (`[]byte` is base64 in JSON): a 400. kubesim
        // stores JSON as sent, so it answers 422 on the field instead.
        causes.push(invalid(&format!("{path}.caBundle"), ca, "must be base64-encoded PEM certificates"));
    }
}

/// The parts of a URL that `ValidateWebhookURL` checks, as Go's `url.Parse` splits them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UrlParts<'a> {
    /// `https`.
    pub scheme: &'a str,
    /// `user:pass` before `@`, if any.
    pub user: Option<&'a str>,
    /// `host[:port]`.
    pub host: &'a str,
    /// The path, with its leading `/` (may be empty).
    pub path: &'a str,
    /// The query, without `?`.
    pub query: &'a str,
    /// The fragment, without `#`.
    pub fragment: &'a str,
}

/// Splits `url` into [`UrlParts`]; a URL without `scheme://` has an empty scheme and host.
pub fn parse_url(url: &str) -> UrlParts<'_> {
    let (rest, fragment) = url.split_once('#').unwrap_or((url, ""));
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let Some((scheme, rest)) = rest.split_once("://") else {
        return UrlParts { path: rest, query, fragment, ..Default::default() };
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (user, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    UrlParts { scheme, user, host, path, query, fragment }
}

fn validate_url(url: &str, path: &str, causes: &mut Vec<Cause>) {
    const FORM: &str = "; desired format: https://host[/path]";
    let u = parse_url(url);
    if u.scheme != "https" {
        causes.push(invalid(path, &json!(u.scheme), &format!("'https' is the only allowed URL scheme{FORM}")));
    }
    if u.host.is_empty() {
        causes.push(invalid(path, &json!(u.host), &format!("host must be provided{FORM}")));
    }
    if let Some(user) = u.user {
        causes.push(invalid(path, &json!(user), "user information is not permitted in the URL"));
    }
    if !u.fragment.is_empty() {
        causes.push(invalid(path, &json!(u.fragment), "fragments are not permitted in the URL"));
    }
    if !u.query.is_empty() {
        causes.push(invalid(path, &json!(u.query), "query parameters are not permitted in the URL"));
    }
}

fn validate_service(svc: &Value, path: &str, causes: &mut Vec<Cause>) {
    if svc.get("name").and_then(Value::as_str).is_none_or(str::is_empty) {
        causes.push(required(&format!("{path}.name"), "service name is required"));
    }
    if svc.get("namespace").and_then(Value::as_str).is_none_or(str::is_empty) {
        causes.push(required(&format!("{path}.namespace"), "service namespace is required"));
    }
    let port = svc.get("port").cloned().unwrap_or(json!(443));
    if !port.as_i64().is_some_and(|p| (1..=65535).contains(&p)) {
        causes.push(invalid(
            &format!("{path}.port"),
            &port,
            "port is not valid: must be between 1 and 65535, inclusive",
        ));
    }
    let Some(url_path) = svc.get("path").and_then(Value::as_str) else { return };
    if url_path.is_empty() || url_path == "/" {
        return;
    }
    let field = format!("{path}.path");
    if url_path == "//" {
        causes.push(invalid(&field, &json!(url_path), "segment[0] may not be empty"));
        return;
    }
    if !url_path.starts_with('/') {
        causes.push(invalid(&field, &json!(url_path), "must start with a '/'"));
    }
    let check = url_path.strip_prefix('/').unwrap_or(url_path);
    let check = check.strip_suffix('/').unwrap_or(check);
    for (i, step) in check.split('/').enumerate() {
        if step.is_empty() {
            causes.push(invalid(&field, &json!(url_path), &format!("segment[{i}] may not be empty")));
            continue;
        }
        for failure in dns1123_subdomain_errors(step) {
            causes.push(invalid(&field, &json!(url_path), &format!("segment[{i}]: {failure}")));
        }
    }
}

/// `validateMatchConditions` (1.30): at most 64; each a unique qualified `name` and a
/// non-empty `expression`. The expression is not compiled: kubesim has no CEL.
fn validate_match_conditions(conditions: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    let Some(list) = conditions.and_then(Value::as_array) else { return };
    if list.len() > MAX_MATCH_CONDITIONS {
        causes.push(Cause {
            reason: "FieldValueTooMany".into(),
            message: format!("Too many: {}: must have at most {MAX_MATCH_CONDITIONS} items", list.len()),
            field: path.into(),
        });
    }
    let mut names = BTreeSet::new();
    for (i, c) in list.iter().enumerate() {
        let name = c.get("name").and_then(Value::as_str).unwrap_or("");
        let field = format!("{path}[{i}].name");
        if name.is_empty() {
            causes.push(Cause::required(&field));
        } else if !is_qualified_name(name) {
            causes.push(invalid(
                &field,
                &json!(name),
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end \
                 with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for \
                 validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain \
                 prefix and '/' (e.g. 'example.com/MyName')",
            ));
        } else if !names.insert(name.to_string()) {
            causes.push(duplicate(&field, name));
        }
        if c.get("expression").and_then(Value::as_str).is_none_or(str::is_empty) {
            causes.push(Cause::required(&format!("{path}[{i}].expression")));
        }
    }
}

/// `IsQualifiedName`: `[prefix/]name`, the name at most 63 alphanumerics, `-`, `_`, `.`,
/// starting and ending alphanumeric; the prefix a DNS-1123 subdomain.
fn is_qualified_name(s: &str) -> bool {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if prefix.is_some_and(|p| p.is_empty() || !is_dns1123_subdomain(p)) {
        return false;
    }
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

// === the parsed form ===

/// Where a webhook is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `clientConfig.url`, as given.
    Url(String),
    /// `clientConfig.service`: reached through kubesim's route table, verified as
    /// `<name>.<namespace>.svc`.
    Service {
        /// The Service's namespace.
        namespace: String,
        /// The Service's name.
        name: String,
        /// The path (default `/`).
        path: String,
        /// The port (default 443).
        port: u16,
    },
}

/// One rule of a webhook (`RuleWithOperations`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `CREATE`, `UPDATE`, `DELETE`, `CONNECT` or `*`.
    pub operations: Vec<String>,
    /// API groups (`""` is the core group), or `*`.
    pub api_groups: Vec<String>,
    /// API versions, or `*`.
    pub api_versions: Vec<String>,
    /// `resource`, `resource/subresource`, `*`, `*/sub`, `res/*`, `*/*`.
    pub resources: Vec<String>,
    /// `*`, `Cluster` or `Namespaced`.
    pub scope: String,
}

/// A webhook of a stored configuration, parsed once per change of the configurations.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// The configuration's name.
    pub configuration: String,
    /// The webhook's name.
    pub name: String,
    /// Where to call it.
    pub endpoint: Endpoint,
    /// `caBundle`, decoded (PEM); `None` means the system roots.
    pub ca_bundle: Option<Vec<u8>>,
    /// The rules.
    pub rules: Vec<Rule>,
    /// `failurePolicy: Ignore`.
    pub ignore_failures: bool,
    /// `matchPolicy: Equivalent`.
    pub match_equivalent: bool,
    /// `namespaceSelector`, or the error parsing it (answered as an internal error when
    /// the webhook's rules select a request, as upstream's `GetParsedNamespaceSelector`).
    pub namespace_selector: Result<LabelSelector, String>,
    /// `objectSelector`, likewise.
    pub object_selector: Result<LabelSelector, String>,
    /// `sideEffects`.
    pub side_effects: String,
    /// `timeoutSeconds`.
    pub timeout: Duration,
    /// `admissionReviewVersions`, in order of preference.
    pub review_versions: Vec<String>,
    /// How many `matchConditions` it has (not evaluated by kubesim).
    pub match_conditions: usize,
}

/// Every webhook of the stored configurations, configurations in name order and webhooks
/// in their order, as upstream's configuration manager lists them.
pub fn parse_all(configurations: &Objects) -> Vec<Arc<Webhook>> {
    let mut out = vec![];
    for ((_, cname), obj) in configurations.iter() {
        for hook in obj.get("webhooks").and_then(Value::as_array).into_iter().flatten() {
            out.push(Arc::new(parse(cname, hook)));
        }
    }
    out
}

fn parse(configuration: &str, hook: &Value) -> Webhook {
    let s = |p: &str| hook.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
    let endpoint = match hook.pointer("/clientConfig/url").and_then(Value::as_str) {
        Some(u) => Endpoint::Url(u.to_string()),
        None => Endpoint::Service {
            namespace: s("/clientConfig/service/namespace"),
            name: s("/clientConfig/service/name"),
            path: hook
                .pointer("/clientConfig/service/path")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
                .unwrap_or("/")
                .to_string(),
            port: hook
                .pointer("/clientConfig/service/port")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(443),
        },
    };
    let ca_bundle = hook
        .pointer("/clientConfig/caBundle")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
        .filter(|c| !c.is_empty());
    let rules = hook
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| Rule {
            operations: strings(r.get("operations")),
            api_groups: strings(r.get("apiGroups")),
            api_versions: strings(r.get("apiVersions")),
            resources: strings(r.get("resources")),
            scope: r.get("scope").and_then(Value::as_str).unwrap_or("*").to_string(),
        })
        .collect();
    let selector =
        |field: &str| LabelSelector::from_object(hook.get(field).unwrap_or(&json!({}))).map_err(|e| e.to_string());
    Webhook {
        configuration: configuration.to_string(),
        name: s("/name"),
        endpoint,
        ca_bundle,
        rules,
        ignore_failures: hook["failurePolicy"] == json!("Ignore"),
        match_equivalent: hook["matchPolicy"] != json!("Exact"),
        namespace_selector: selector("namespaceSelector"),
        object_selector: selector("objectSelector"),
        side_effects: s("/sideEffects"),
        timeout: Duration::from_secs(hook["timeoutSeconds"].as_u64().unwrap_or(10).clamp(1, 30)),
        review_versions: strings(hook.get("admissionReviewVersions")),
        match_conditions: hook.get("matchConditions").and_then(Value::as_array).map_or(0, Vec::len),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook() -> Value {
        json!({
            "name": "replicas.scalekeeper.dev",
            "clientConfig": {"url": "https://127.0.0.1:8443/validate"},
            "rules": [{"operations": ["UPDATE"], "apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments", "deployments/scale"]}],
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
        })
    }

    fn causes(obj: &Value) -> Vec<(String, String)> {
        let mut obj = obj.clone();
        default(&mut obj);
        let mut c = vec![];
        validate(&obj, &mut c);
        c.into_iter().map(|c| (c.field, c.message)).collect()
    }

    #[test]
    fn defaults_as_v1() {
        let mut obj = json!({"webhooks": [hook(), {"clientConfig": {"service": {"namespace": "ops", "name": "sk"}}, "rules": [{}]}]});
        default(&mut obj);
        let h = &obj["webhooks"][0];
        assert_eq!(
            (
                &h["failurePolicy"],
                &h["matchPolicy"],
                &h["timeoutSeconds"],
                &h["namespaceSelector"],
                &h["objectSelector"]
            ),
            (&json!("Fail"), &json!("Equivalent"), &json!(10), &json!({}), &json!({}))
        );
        assert_eq!(h["rules"][0]["scope"], "*");
        assert_eq!(obj["webhooks"][1]["clientConfig"]["service"]["port"], 443);
    }

    #[test]
    fn a_valid_configuration_has_no_causes() {
        assert_eq!(causes(&json!({"webhooks": [hook()]})), vec![]);
    }

    #[test]
    fn validation_as_upstream() {
        let mut h = hook();
        h["name"] = json!("short.name");
        h["sideEffects"] = json!("Some");
        h["timeoutSeconds"] = json!(31);
        h["admissionReviewVersions"] = json!(["v2"]);
        h["clientConfig"] = json!({"url": "http://x/y?q=1"});
        h["rules"][0]["resources"] = json!(["*", "deployments"]);
        let got = causes(&json!({"webhooks": [h, hook(), hook()]}));
        let fields: Vec<&str> = got.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "webhooks[0].name",
                "webhooks[0].rules[0].resources",
                "webhooks[0].sideEffects",
                "webhooks[0].timeoutSeconds",
                "webhooks[0].clientConfig.url",
                "webhooks[0].clientConfig.url",
                "webhooks[0].admissionReviewVersions",
                "webhooks[2].name",
            ],
            "{got:#?}"
        );
        assert_eq!(
            got[0].1,
            r#"Invalid value: "short.name": should be a domain with at least three segments separated by dots"#
        );
        assert_eq!(got[2].1, r#"Unsupported value: "Some": supported values: "None", "NoneOnDryRun""#);
        assert_eq!(got[7].1, r#"Duplicate value: "replicas.scalekeeper.dev""#);
        let mut h = hook();
        h.as_object_mut().map(|m| m.remove("sideEffects"));
        h["clientConfig"] = json!({});
        assert_eq!(
            causes(&json!({"webhooks": [h]})),
            [
                (
                    "webhooks[0].sideEffects".to_string(),
                    "Required value: must specify one of None, NoneOnDryRun".to_string()
                ),
                (
                    "webhooks[0].clientConfig".to_string(),
                    "Required value: exactly one of url or service is required".to_string()
                ),
            ]
        );
    }

    #[test]
    fn resources_wildcards() {
        let check = |r: &[&str]| {
            let mut c = vec![];
            validate_resources(&r.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "r", &mut c);
            c.len()
        };
        assert_eq!(check(&["deployments", "deployments/scale", "*/status"]), 0);
        assert_eq!(check(&["*/*"]), 0);
        assert_eq!(check(&["*/*", "x"]), 1);
        assert_eq!(check(&["x/*", "x/y"]), 1);
        assert_eq!(check(&["*/y", "x/y"]), 1);
        assert_eq!(check(&[]), 1);
    }

    #[test]
    fn urls_split_like_go() {
        let u = parse_url("https://u@127.0.0.1:8443/a/b?x=1#f");
        assert_eq!(
            u,
            UrlParts {
                scheme: "https",
                user: Some("u"),
                host: "127.0.0.1:8443",
                path: "/a/b",
                query: "x=1",
                fragment: "f"
            }
        );
        assert_eq!(parse_url("https://h").path, "");
    }

    #[test]
    fn match_conditions_are_checked_not_evaluated() {
        let mut h = hook();
        h["matchConditions"] = json!([{"name": "a", "expression": "true"}, {"name": "a", "expression": ""}]);
        let got = causes(&json!({"webhooks": [h]}));
        assert_eq!(
            got.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(),
            ["webhooks[0].matchConditions[1].name", "webhooks[0].matchConditions[1].expression"]
        );
    }
}
