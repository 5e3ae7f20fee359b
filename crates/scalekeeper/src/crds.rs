//! Every CustomResourceDefinition scalekeeper serves from, in one list: what `scalekeeper crd`
//! prints (one multi-document YAML stream, or one CRD with `--kind`), what `make generate`
//! writes into `deploy/crds/` and the chart's `crds/` (one file per CRD, [`file_name`]), and
//! what dev mode and the tests install ([`all`]).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt as _;

use crate::policy::{ReplicaPolicy, quote_yaml11_booleans};
use crate::scalerequest::ScaleRequest;

/// One of scalekeeper's custom resources (`scalekeeper crd --kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "PascalCase")]
pub enum Kind {
    /// `replicapolicies.scalekeeper.dev`: the declared counts.
    ReplicaPolicy,
    /// `scalerequests.scalekeeper.dev`: changes waiting for approval (the two-person rule).
    ScaleRequest,
}

impl Kind {
    /// Every kind, in the order `scalekeeper crd` prints them (ReplicaPolicy first).
    pub const ALL: [Kind; 2] = [Kind::ReplicaPolicy, Kind::ScaleRequest];

    /// The kind's CRD, generated from its Rust type.
    pub fn crd(self) -> CustomResourceDefinition {
        match self {
            Kind::ReplicaPolicy => ReplicaPolicy::crd(),
            Kind::ScaleRequest => ScaleRequest::crd(),
        }
    }
}

/// Every CRD, ReplicaPolicy first: what an API server needs before scalekeeper starts.
pub fn all() -> Vec<CustomResourceDefinition> {
    Kind::ALL.into_iter().map(Kind::crd).collect()
}

/// The file a CRD is written to in `deploy/crds/` and the chart's `crds/`: its name and
/// `.yaml`, e.g. `scalerequests.scalekeeper.dev.yaml`.
pub fn file_name(kind: Kind) -> String {
    format!("{}.yaml", kind.crd().metadata.name.unwrap_or_default())
}

/// One CRD as YAML, every plain scalar YAML 1.1 reads as a boolean quoted
/// ([`quote_yaml11_booleans`]): the content of its file in `deploy/crds/`.
///
/// # Errors
///
/// serde_yaml cannot serialize the CRD.
pub fn yaml(kind: Kind) -> Result<String, serde_yaml::Error> {
    Ok(quote_yaml11_booleans(&serde_yaml::to_string(&kind.crd())?))
}

/// What `scalekeeper crd` prints: the CRD of `kind`, or (`None`) every CRD as one
/// multi-document YAML stream (documents separated by `---`, ReplicaPolicy first), so
/// `scalekeeper crd | kubectl apply -f -` installs them all.
///
/// # Errors
///
/// serde_yaml cannot serialize a CRD.
pub fn stream(kind: Option<Kind>) -> Result<String, serde_yaml::Error> {
    let kinds = kind.map_or(Kind::ALL.to_vec(), |k| vec![k]);
    let docs = kinds.into_iter().map(yaml).collect::<Result<Vec<_>, _>>()?;
    Ok(docs.join("---\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `default` in `v` (a schema), with its JSON path.
    fn defaults(v: &serde_json::Value, path: &str, out: &mut Vec<(String, serde_json::Value)>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, child) in m {
                    if k == "default" {
                        out.push((path.to_string(), child.clone()));
                    } else {
                        defaults(child, &format!("{path}.{k}"), out);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|c| defaults(c, path, out)),
            _ => {}
        }
    }

    /// Kubernetes 1.20 refuses a CRD whose schema defaults a string to "" ("must be of type
    /// string: \"null\""); current versions accept it, and so does kubesim. Neither CRD has one.
    #[test]
    fn no_crd_defaults_a_string_to_empty_which_kubernetes_1_20_refuses() {
        for crd in [
            serde_json::to_value(ScaleRequest::crd()).unwrap(),
            serde_json::to_value(crate::policy::ReplicaPolicy::crd()).unwrap(),
        ] {
            let mut found = vec![];
            defaults(&crd["spec"], "spec", &mut found);
            let empty: Vec<_> = found.iter().filter(|(_, d)| d == &serde_json::json!("")).collect();
            assert!(empty.is_empty(), "{}: {empty:?}", crd["metadata"]["name"]);
        }
    }

    #[test]
    fn the_stream_holds_every_crd_replica_policy_first() {
        let text = stream(None).unwrap();
        let docs: Vec<serde_json::Value> =
            serde_yaml::Deserializer::from_str(&text).map(|d| serde::Deserialize::deserialize(d).unwrap()).collect();
        let names: Vec<&str> = docs.iter().filter_map(|d| d["metadata"]["name"].as_str()).collect();
        assert_eq!(names, ["replicapolicies.scalekeeper.dev", "scalerequests.scalekeeper.dev"]);
        assert_eq!(docs, all().iter().map(|c| serde_json::to_value(c).unwrap()).collect::<Vec<_>>());
        assert_eq!(text, format!("{}---\n{}", yaml(Kind::ReplicaPolicy).unwrap(), yaml(Kind::ScaleRequest).unwrap()));
        assert_eq!(stream(Some(Kind::ScaleRequest)).unwrap(), yaml(Kind::ScaleRequest).unwrap());
        assert_eq!(yaml(Kind::ReplicaPolicy).unwrap(), crate::policy::crd_yaml().unwrap());
        assert_eq!(yaml(Kind::ScaleRequest).unwrap(), crate::scalerequest::crd_yaml().unwrap());
    }

    #[test]
    fn file_names_are_the_crd_names() {
        assert_eq!(file_name(Kind::ReplicaPolicy), "replicapolicies.scalekeeper.dev.yaml");
        assert_eq!(file_name(Kind::ScaleRequest), "scalerequests.scalekeeper.dev.yaml");
    }
}
