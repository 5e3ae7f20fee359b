//! Generated and copied artifacts stay equal to their source: the CRD YAML checked in under
//! `deploy/crds/` equals `scalekeeper crd`, and the proto in docs/design.md's appendix
//! equals `proto/`. Regenerate with `make generate`.

use std::path::PathBuf;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

#[test]
fn checked_in_crd_equals_generated() {
    let generated = scalekeeper::policy::crd_yaml().expect("CRD serializes");
    assert!(
        read("deploy/crds/replicapolicies.scalekeeper.dev.yaml") == generated,
        "deploy/crds/replicapolicies.scalekeeper.dev.yaml is stale: run `make generate`"
    );
}

#[test]
fn design_doc_carries_the_full_proto_and_stays_in_budget() {
    let doc = read("docs/design.md");
    let (body, appendix) = doc.split_once("## Appendix").expect("design.md has an appendix");
    let proto = appendix
        .split_once("```proto\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .map(|(p, _)| format!("{p}\n"))
        .expect("appendix has a proto block");
    assert!(
        proto == read("proto/scalekeeper/v1/scale.proto"),
        "docs/design.md's appendix differs from proto/: run `make generate`"
    );
    let words = body.split_whitespace().count();
    assert!((500..=1500).contains(&words), "design.md body has {words} words; the RFD budget is 500-1500");
}
