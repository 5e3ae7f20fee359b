//! Generated and copied artifacts stay equal to their source: the CRD YAML checked in under
//! `deploy/crds/` (one file per CRD) equals `scalekeeper crd --kind`, and the proto in
//! docs/design.md's appendix equals `proto/`. Regenerate with `make generate`.

use std::path::PathBuf;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

#[test]
fn checked_in_crds_equal_generated() {
    use scalekeeper::crds::{Kind, file_name, yaml};
    for kind in Kind::ALL {
        let file = format!("deploy/crds/{}", file_name(kind));
        let generated = yaml(kind).expect("CRD serializes");
        assert!(read(&file) == generated, "{file} is stale: run `make generate`");
    }
    let mut checked_in: Vec<String> = std::fs::read_dir(repo("deploy/crds"))
        .expect("deploy/crds")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    checked_in.sort();
    let mut want: Vec<String> = Kind::ALL.into_iter().map(file_name).collect();
    want.sort();
    assert_eq!(checked_in, want, "deploy/crds/ holds one file per CRD and nothing else");
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

/// The rows of a markdown decision table: the leading `| N |` numbers, in order.
fn table_rows(text: &str) -> Vec<u32> {
    text.lines()
        .filter_map(|l| l.trim_start_matches("//!").trim().strip_prefix('|'))
        .filter_map(|rest| rest.split('|').next()?.trim().parse().ok())
        .collect()
}

/// The section of a markdown document under `## {heading}`, up to the next `## `.
fn section<'a>(doc: &'a str, heading: &str) -> &'a str {
    let start = doc.find(&format!("\n## {heading}\n")).unwrap_or_else(|| panic!("no section \"{heading}\""));
    let rest = &doc[start + 1..];
    rest[3..].find("\n## ").map_or(rest, |end| &rest[..end + 3])
}

/// A table of numbered rows that exists three times by nature — the code's module docs, the
/// architecture doc's section, and one table test per row — must agree: same rows, and a
/// `row_NN_` test for each.
fn table_agrees(heading: &str, code: &str, tests: &[&str]) {
    let architecture = read("docs/architecture.md");
    let doc = table_rows(section(&architecture, heading));
    assert!(!doc.is_empty(), "docs/architecture.md's \"{heading}\" has a numbered table");
    assert_eq!(
        doc,
        table_rows(&read(code)),
        "docs/architecture.md's \"{heading}\" and {code}'s docs list different rows"
    );
    let tests: String = tests.iter().map(|t| read(t)).collect();
    for row in doc {
        assert!(tests.contains(&format!("fn row_{row:02}_")), "{heading}: row {row} has no table test row_{row:02}_*");
    }
}

/// The reconciler's decision: `scalekeeper_core::plan`.
#[test]
fn every_row_of_the_decision_table_has_a_table_test() {
    table_agrees("The decision", "crates/scalekeeper-core/src/plan.rs", &["crates/scalekeeper-core/src/plan/tests.rs"]);
}

/// The writer's decision: `scalekeeper_core::write::plan` (issue 25).
#[test]
fn every_row_of_the_write_plan_has_a_table_test() {
    table_agrees(
        "The write plan",
        "crates/scalekeeper-core/src/write.rs",
        &["crates/scalekeeper-core/src/write/tests.rs", "crates/scalekeeper-core/src/write/tests/two_person.rs"],
    );
}
