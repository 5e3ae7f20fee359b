//! The admission guard's ValidatingWebhookConfiguration, from one source: the chart's
//! `files/admission-webhook.yaml` holds the path the webhook serves and the webhook entry
//! (rules, `failurePolicy: Ignore`, `sideEffects: None`, matchConditions); the chart renders it,
//! the server serves its path, and `scalekeeper admission-config` prints a configuration from it
//! for clusters without the chart ([`render`]).
//!
//! What `render` adds is what depends on where the webhook runs: the `clientConfig` (a URL, or a
//! Service), the CA bundle, `timeoutSeconds`, and a `namespaceSelector` limited to the managed
//! namespaces that never includes `kube-system`.
//!
//! Sources: `ValidatingWebhookConfiguration` (`admissionregistration.k8s.io/v1`) and
//! "Matching requests: matchConditions" (beta and on by default from 1.28) in
//! <https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/>;
//! the `kubernetes.io/metadata.name` namespace label (set by the API server from 1.21),
//! <https://kubernetes.io/docs/reference/labels-annotations-taints/#kubernetes-io-metadata-name>.

use std::sync::LazyLock;

use base64::Engine as _;
use serde_json::{Value, json};

/// The chart's `files/admission-webhook.yaml`, embedded.
pub const WEBHOOK_FILE: &str = include_str!("../../../../charts/scalekeeper/files/admission-webhook.yaml");

/// The namespace the webhook never guards: the control plane's own.
pub const NEVER_GUARDED: &str = "kube-system";

/// The label the API server sets on every Namespace to its name (1.21 and newer).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The first Kubernetes minor version (1.x) whose API server applies `matchConditions` by
/// default (beta in 1.28).
pub const MATCH_CONDITIONS_SINCE_MINOR: u32 = 28;

/// What `files/admission-webhook.yaml` holds.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct WebhookFile {
    /// The HTTP path the webhook serves, e.g. `/validate/deployments`.
    pub path: String,
    /// The webhook entry without `clientConfig`, `namespaceSelector` and `timeoutSeconds`.
    pub webhook: Value,
}

/// The embedded file, parsed once; `Err` carries the parse error (a test keeps it parsing).
static PARSED: LazyLock<Result<WebhookFile, String>> = LazyLock::new(|| {
    let file: WebhookFile = serde_yaml::from_str(WEBHOOK_FILE).map_err(|e| e.to_string())?;
    if !file.path.starts_with('/') || file.webhook.get("name").and_then(Value::as_str).is_none() {
        return Err("files/admission-webhook.yaml needs a path starting with / and a webhook with a name".into());
    }
    Ok(file)
});

/// The parsed `files/admission-webhook.yaml`.
///
/// # Errors
///
/// The embedded file does not parse, or lacks its path or the webhook's name (a build with a
/// broken chart file; the tests refuse it).
pub fn webhook_file() -> Result<&'static WebhookFile, ConfigError> {
    PARSED.as_ref().map_err(|e| ConfigError::File(e.clone()))
}

/// Where the API server reaches the webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// An `https://HOST[:PORT]` base URL; the webhook's path is appended.
    Url(String),
    /// A Service in the cluster, on `port` (443 by default).
    Service {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// Its port.
        port: u16,
    },
}

impl std::str::FromStr for Endpoint {
    type Err = String;

    /// Parses `--service NAMESPACE/NAME[:PORT]` (see [`Endpoint::Service`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?}: expected NAMESPACE/NAME[:PORT]");
        let (namespace, rest) = s.split_once('/').ok_or_else(bad)?;
        let (name, port) = match rest.split_once(':') {
            Some((n, p)) => (n, p.parse::<u16>().map_err(|_| bad())?),
            None => (rest, 443),
        };
        if namespace.is_empty() || name.is_empty() {
            return Err(bad());
        }
        Ok(Endpoint::Service { namespace: namespace.into(), name: name.into(), port })
    }
}

/// What [`render`] needs beyond the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendering {
    /// The configuration's `metadata.name` (cluster-scoped: unique in the cluster).
    pub name: String,
    /// Where the webhook is.
    pub endpoint: Endpoint,
    /// The CA bundle (PEM) that signed the webhook's serving certificate.
    pub ca_bundle: Vec<u8>,
    /// The namespaces to guard; empty: every namespace but `kube-system` and `exclude`.
    pub namespaces: Vec<String>,
    /// Namespaces never to guard besides `kube-system` (e.g. scalekeeper's own).
    pub exclude: Vec<String>,
    /// How long the API server waits for an answer, in seconds (1..=30).
    pub timeout_seconds: u8,
    /// The Kubernetes minor version (1.x) the configuration is for: below
    /// [`MATCH_CONDITIONS_SINCE_MINOR`] the `matchConditions` are left out.
    pub kube_minor: u32,
    /// scalekeeper's own user (`system:serviceaccount:NS:NAME`, or its kubeconfig's user): from
    /// [`MATCH_CONDITIONS_SINCE_MINOR`] its writes are not sent ([`not_self_condition`]), as
    /// the chart does for its ServiceAccount.
    pub self_user: Option<String>,
}

/// The matchCondition that leaves out `user`'s writes (scalekeeper's own, which the webhook
/// always allows): named `not-scalekeeper`, as the chart's
/// (templates/admission-webhook.yaml, which tools/validate_chart.py checks).
///
/// # Errors
///
/// [`ConfigError::Invalid`]: `user` is empty or holds a quote or a backslash (it is put in a
/// CEL string literal as it is).
pub fn not_self_condition(user: &str) -> Result<Value, ConfigError> {
    if user.is_empty() || user.contains(['\'', '"', '\\']) {
        return Err(ConfigError::Invalid(format!(
            "--self-user {user:?}: want a user name without quotes or backslashes"
        )));
    }
    Ok(json!({"name": "not-scalekeeper", "expression": format!("request.userInfo.username != '{user}'")}))
}

/// Why a configuration cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The embedded chart file is broken.
    #[error("the embedded files/admission-webhook.yaml: {0}")]
    File(String),
    /// An argument is not acceptable; the message says which and why.
    #[error("{0}")]
    Invalid(String),
}

/// The ValidatingWebhookConfiguration (`admissionregistration.k8s.io/v1`) for `r`.
///
/// # Errors
///
/// [`ConfigError::Invalid`]: a URL that is not `https://`, an empty CA bundle, a timeout
/// outside 1..=30 s, `kube-system` (or an excluded namespace) among the namespaces to guard, a
/// `self_user` [`not_self_condition`] refuses;
/// [`ConfigError::File`] as [`webhook_file`].
pub fn render(r: &Rendering) -> Result<Value, ConfigError> {
    let file = webhook_file()?;
    let invalid = |m: String| Err(ConfigError::Invalid(m));
    if r.ca_bundle.iter().all(u8::is_ascii_whitespace) {
        return invalid("the CA bundle is empty".into());
    }
    if !(1..=30).contains(&r.timeout_seconds) {
        return invalid(format!("timeoutSeconds {} is outside 1..=30", r.timeout_seconds));
    }
    let never: Vec<&str> = std::iter::once(NEVER_GUARDED).chain(r.exclude.iter().map(String::as_str)).collect();
    if let Some(ns) = r.namespaces.iter().find(|ns| never.contains(&ns.as_str())) {
        return invalid(format!("namespace {ns} is never guarded (kube-system and the excluded namespaces)"));
    }
    let client_config = match &r.endpoint {
        Endpoint::Url(base) => {
            if !base.starts_with("https://") {
                return invalid(format!("{base:?}: the API server calls webhooks over https:// only"));
            }
            json!({"url": format!("{}{}", base.trim_end_matches('/'), file.path)})
        }
        Endpoint::Service { namespace, name, port } => {
            json!({"service": {"namespace": namespace, "name": name, "port": port, "path": file.path}})
        }
    };
    let selector = if r.namespaces.is_empty() {
        json!({"matchExpressions": [{"key": NAMESPACE_NAME_LABEL, "operator": "NotIn", "values": never}]})
    } else {
        json!({"matchExpressions": [{"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": r.namespaces}]})
    };
    let mut webhook = file.webhook.clone();
    if let Some(w) = webhook.as_object_mut() {
        if r.kube_minor < MATCH_CONDITIONS_SINCE_MINOR {
            w.remove("matchConditions");
        } else if let Some(user) = &r.self_user
            && let Some(Value::Array(conditions)) = w.get_mut("matchConditions")
        {
            conditions.insert(0, not_self_condition(user)?);
        }
        let mut client_config = client_config;
        client_config["caBundle"] = json!(base64::engine::general_purpose::STANDARD.encode(&r.ca_bundle));
        w.insert("clientConfig".into(), client_config);
        w.insert("namespaceSelector".into(), selector);
        w.insert("timeoutSeconds".into(), json!(r.timeout_seconds));
    }
    Ok(json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {
            "name": r.name,
            "labels": {"app.kubernetes.io/name": "scalekeeper", "app.kubernetes.io/component": "admission-guard"},
        },
        "webhooks": [webhook],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendering() -> Rendering {
        Rendering {
            name: "scalekeeper".into(),
            endpoint: Endpoint::Url("https://127.0.0.1:8443".into()),
            ca_bundle: b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec(),
            namespaces: vec![],
            exclude: vec!["scalekeeper".into()],
            timeout_seconds: 2,
            kube_minor: 32,
            self_user: None,
        }
    }

    #[test]
    fn scalekeepers_own_writes_are_left_out_from_1_28() {
        let user = "system:serviceaccount:ops:scalekeeper";
        let v = render(&Rendering { self_user: Some(user.into()), ..rendering() }).expect("renders");
        let conditions = v["webhooks"][0]["matchConditions"].as_array().expect("conditions");
        assert_eq!(
            conditions[0],
            json!({"name": "not-scalekeeper", "expression": format!("request.userInfo.username != '{user}'")})
        );
        assert_eq!(conditions[1..], webhook_file().unwrap().webhook["matchConditions"].as_array().unwrap()[..]);
        let old = render(&Rendering { self_user: Some(user.into()), kube_minor: 20, ..rendering() }).expect("renders");
        assert!(old["webhooks"][0].get("matchConditions").is_none(), "1.20 does not serve them");
        for bad in ["", "it's", "a\\b"] {
            let e = render(&Rendering { self_user: Some(bad.into()), ..rendering() }).expect_err(bad).to_string();
            assert!(e.contains("--self-user"), "{e}");
        }
    }

    #[test]
    fn the_chart_file_parses_and_fails_open() {
        let f = webhook_file().expect("files/admission-webhook.yaml parses");
        assert_eq!(f.path, "/validate/deployments");
        assert_eq!(f.webhook["failurePolicy"], "Ignore", "the reconciler is the backstop: fail open");
        assert_eq!(f.webhook["sideEffects"], "None", "dry runs get the same answer");
        assert_eq!(f.webhook["rules"][0]["resources"], json!(["deployments", "deployments/scale"]));
        assert_eq!(f.webhook["rules"][0]["operations"], json!(["UPDATE"]));
        // The two-person rule's door for kubectl edit, apply and delete of a policy.
        assert_eq!(f.webhook["rules"][1]["apiGroups"], json!([crate::admission::policy::GROUP]));
        assert_eq!(f.webhook["rules"][1]["resources"], json!([crate::admission::policy::RESOURCE]));
        assert_eq!(f.webhook["rules"][1]["operations"], json!(["UPDATE", "DELETE"]));
    }

    #[test]
    fn a_url_configuration_guards_every_namespace_but_the_excluded() {
        let v = render(&rendering()).expect("renders");
        let w = &v["webhooks"][0];
        assert_eq!(w["clientConfig"]["url"], "https://127.0.0.1:8443/validate/deployments");
        assert_eq!(
            base64::engine::general_purpose::STANDARD.decode(w["clientConfig"]["caBundle"].as_str().unwrap()).unwrap(),
            rendering().ca_bundle
        );
        assert_eq!(
            w["namespaceSelector"]["matchExpressions"][0],
            json!({"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system", "scalekeeper"]})
        );
        assert_eq!(w["timeoutSeconds"], 2);
        assert!(w["matchConditions"].is_array(), "1.32 applies matchConditions");
        let old = render(&Rendering { kube_minor: 20, ..rendering() }).expect("renders");
        assert!(old["webhooks"][0].get("matchConditions").is_none(), "1.20 does not serve them");
    }

    #[test]
    fn a_service_configuration_guards_the_listed_namespaces() {
        let r = Rendering {
            endpoint: "ops/scalekeeper-admission".parse().expect("endpoint"),
            namespaces: vec!["shop".into(), "payments".into()],
            ..rendering()
        };
        let v = render(&r).expect("renders");
        let w = &v["webhooks"][0];
        assert_eq!(
            w["clientConfig"]["service"],
            json!({"namespace": "ops", "name": "scalekeeper-admission", "port": 443, "path": "/validate/deployments"})
        );
        assert_eq!(w["namespaceSelector"]["matchExpressions"][0]["operator"], "In");
        assert_eq!(w["namespaceSelector"]["matchExpressions"][0]["values"], json!(["shop", "payments"]));
        assert_eq!(
            "ops/x:8443".parse::<Endpoint>(),
            Ok(Endpoint::Service { namespace: "ops".into(), name: "x".into(), port: 8443 })
        );
        assert!("ops".parse::<Endpoint>().is_err());
        assert!("ops/x:http".parse::<Endpoint>().is_err());
    }

    #[test]
    fn what_cannot_be_rendered_is_refused() {
        for (r, why) in [
            (Rendering { namespaces: vec!["kube-system".into()], ..rendering() }, "never guarded"),
            (Rendering { namespaces: vec!["scalekeeper".into()], ..rendering() }, "never guarded"),
            (Rendering { endpoint: Endpoint::Url("http://127.0.0.1".into()), ..rendering() }, "https"),
            (Rendering { ca_bundle: b"\n".to_vec(), ..rendering() }, "CA bundle"),
            (Rendering { timeout_seconds: 31, ..rendering() }, "1..=30"),
        ] {
            let e = render(&r).expect_err(why).to_string();
            assert!(e.contains(why), "{e}");
        }
    }
}
