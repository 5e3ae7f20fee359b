//! The output of the commands over a fleet of contexts: the tables of one server with a
//! CONTEXT column first (each table's columns and cells stay owned by its own function, e.g.
//! [`super::list_row`]), a row per context that did not answer, the JSON documents with a
//! `context` on each object and the failed contexts in `contexts`, and a fleet write's plan and
//! report.

use scalekeeper_api::v1::ExplainResponse;
use serde_json::{Value, json};

use super::super::CliError;
use super::{code_name, explain_json, render_explain, render_table, status_line, status_text};

/// One context's part of a fleet table: its rows (without the context), or why it has none.
pub(crate) struct Part<'a> {
    /// The context's name.
    pub context: &'a str,
    /// Its rows, or its error.
    pub rows: Result<Vec<Vec<String>>, &'a CliError>,
}

/// `columns` with CONTEXT first, then each part's rows with its context first, in the order
/// given; a part that failed is one row: the context, then [`failure_cell`] spanning the other
/// columns (it widens none of them).
pub(crate) fn render_fleet_table(columns: &[&str], parts: &[Part<'_>]) -> String {
    let headers: Vec<&str> = std::iter::once("CONTEXT").chain(columns.iter().copied()).collect();
    let mut rows = Vec::new();
    for part in parts {
        match &part.rows {
            Ok(own) => rows.extend(own.iter().map(|r| {
                let mut row = Vec::with_capacity(r.len() + 1);
                row.push(part.context.to_string());
                row.extend(r.iter().cloned());
                row
            })),
            Err(e) => rows.push(vec![part.context.to_string(), failure_cell(e)]),
        }
    }
    render_table(&headers, &rows)
}

/// A context's error on one line, for a table cell: `error: CODE: message` for an error status,
/// the connection error as it is (`cannot connect to HOST:PORT: ...`) otherwise.
pub(crate) fn failure_cell(err: &CliError) -> String {
    let text = match err {
        CliError::Status(s) => format!("error: {}", status_line(s)),
        CliError::DiffFailed(inner) => return failure_cell(inner),
        e => e.to_string(),
    };
    one_line(&text)
}

/// `text` with its line breaks as spaces: a server's message is data, and a table row is a line.
fn one_line(text: &str) -> String {
    text.split(['\n', '\r']).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The gRPC canonical code name that stands for a context's error in JSON: the status's code;
/// `UNAVAILABLE` for no connection (unreachable, TLS, the TLS files), as gRPC clients report
/// it; `INVALID_ARGUMENT` for a context's unusable settings; `UNIMPLEMENTED` for a server that
/// ignored a flag it predates; `INTERNAL` otherwise.
pub(crate) fn error_code(err: &CliError) -> &'static str {
    match err {
        CliError::Status(s) => code_name(s.code()),
        CliError::DiffFailed(inner) => error_code(inner),
        CliError::Unreachable { .. } | CliError::Tls { .. } | CliError::TlsFiles(_) => "UNAVAILABLE",
        CliError::Usage(_) => "INVALID_ARGUMENT",
        CliError::Ignored(_) => "UNIMPLEMENTED",
        _ => "INTERNAL",
    }
}

/// A context's error in JSON: `{"code": "UNAVAILABLE", "message": "..."}` ([`error_code`]; the
/// message without the code).
pub(crate) fn error_json(err: &CliError) -> Value {
    let message = match err {
        CliError::Status(s) => status_text(s),
        CliError::DiffFailed(inner) => return error_json(inner),
        e => e.to_string(),
    };
    json!({ "code": error_code(err), "message": message })
}

/// The JSON document of a fleet read: `{KEY: [objects, each with "context": NAME], "contexts":
/// [{"context": NAME, "error": {"code", "message"}} for each context that did not answer]}`,
/// contexts in the order given. `contexts` is there (empty) when every context answered.
pub(crate) fn fleet_json(key: &str, parts: Vec<(&str, Result<Vec<Value>, &CliError>)>) -> Value {
    let mut items = Vec::new();
    let mut failed = Vec::new();
    for (context, result) in parts {
        match result {
            Ok(objects) => items.extend(objects.into_iter().map(|mut v| {
                if let Value::Object(map) = &mut v {
                    map.insert("context".into(), Value::String(context.to_string()));
                }
                v
            })),
            Err(e) => failed.push(json!({ "context": context, "error": error_json(e) })),
        }
    }
    json!({ key: items, "contexts": failed })
}

/// `explain` over a fleet, for `-o table`: each context's block ([`render_explain`]) under a
/// `== CONTEXT ==` header, or its error line, blocks an empty line apart.
pub(crate) fn render_fleet_explain(parts: &[(&str, Result<&ExplainResponse, &CliError>)]) -> String {
    parts
        .iter()
        .map(|(context, result)| {
            let body = match result {
                Ok(resp) => render_explain(resp),
                Err(e) => format!("{}\n", failure_cell(e)),
            };
            format!("== {context} ==\n{body}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `explain` over a fleet, for `-o json`: `[{"context": NAME, "explain": {..}}` or
/// `{"context": NAME, "error": {"code", "message"}}, ...]`.
///
/// # Errors
///
/// INTERNAL when an answer cannot be printed as JSON ([`explain_json`]).
pub(crate) fn fleet_explain_json(parts: &[(&str, Result<&ExplainResponse, &CliError>)]) -> Result<Value, CliError> {
    let mut out = Vec::with_capacity(parts.len());
    for (context, result) in parts {
        out.push(match result {
            Ok(resp) => json!({ "context": context, "explain": explain_json(resp)? }),
            Err(e) => json!({ "context": context, "error": error_json(e) }),
        });
    }
    Ok(Value::Array(out))
}

/// What a fleet write's dry run says it would do in one context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    /// The effective count before.
    pub from: i32,
    /// The effective count after.
    pub to: i32,
    /// The rule that gives the count after (`declared`, `hold`, `schedule`, `-`).
    pub rule: String,
}

/// One row of a fleet write's plan.
pub(crate) struct PlanRow<'a> {
    /// The context's name.
    pub context: &'a str,
    /// The Deployment, as NAMESPACE/NAME.
    pub deployment: &'a str,
    /// What the dry run says, or why the context refused it.
    pub change: Result<&'a Change, &'a CliError>,
}

/// How the plan names a context whose dry run failed: `unreachable` when no call could be made
/// (a connection or TLS error, exit code 3: the cluster said nothing), else `refused` (the
/// cluster answered no: RBAC, bounds, an HPA).
fn plan_verdict(e: &CliError) -> &'static str {
    if e.exit_code() == 3 { "unreachable" } else { "refused" }
}

/// A fleet write's plan for `-o table`: `CONTEXT DEPLOYMENT EFFECTIVE RULE RESULT`, EFFECTIVE as
/// `4 -> 10`, RESULT `ok`, `refused: CODE: message` or `unreachable: cannot connect to ...`.
pub(crate) fn render_fleet_plan(rows: &[PlanRow<'_>]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| match r.change {
            Ok(c) => vec![
                r.context.to_string(),
                r.deployment.to_string(),
                format!("{} -> {}", c.from, c.to),
                c.rule.clone(),
                "ok".to_string(),
            ],
            Err(e) => vec![
                r.context.to_string(),
                r.deployment.to_string(),
                "-".to_string(),
                "-".to_string(),
                format!("{}: {}", plan_verdict(e), failure_cell(e).trim_start_matches("error: ")),
            ],
        })
        .collect();
    render_table(&["CONTEXT", "DEPLOYMENT", "EFFECTIVE", "RULE", "RESULT"], &cells)
}

/// A fleet write's plan for `-o json`: `{"plan": [{"context", "deployment", "result": "ok",
/// "from", "to", "rule"} or {"context", "deployment", "result": "refused" or "unreachable",
/// "error": {"code", "message"}}, ...]}`.
pub(crate) fn fleet_plan_json(rows: &[PlanRow<'_>]) -> Value {
    let plan: Vec<Value> = rows
        .iter()
        .map(|r| match r.change {
            Ok(c) => json!({
                "context": r.context, "deployment": r.deployment, "result": "ok",
                "from": c.from, "to": c.to, "rule": c.rule,
            }),
            Err(e) => json!({
                "context": r.context, "deployment": r.deployment, "result": plan_verdict(e), "error": error_json(e),
            }),
        })
        .collect();
    json!({ "plan": plan })
}

/// What a fleet write did in one context.
pub(crate) enum Written<'a> {
    /// Written: the effective count before and after.
    Applied(&'a Change),
    /// Not written: the context refused the dry run.
    Skipped,
    /// The write failed.
    Failed(&'a CliError),
}

/// One row of a fleet write's report.
pub(crate) struct ReportRow<'a> {
    /// The context's name.
    pub context: &'a str,
    /// The Deployment, as NAMESPACE/NAME.
    pub deployment: &'a str,
    /// What was done.
    pub written: Written<'a>,
}

/// A fleet write's report for `-o table`: `CONTEXT DEPLOYMENT RESULT`, RESULT `applied 4 -> 10`,
/// `skipped (refused)` or `failed: CODE: message`.
pub(crate) fn render_fleet_report(rows: &[ReportRow<'_>]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let result = match &r.written {
                Written::Applied(c) => format!("applied {} -> {}", c.from, c.to),
                Written::Skipped => "skipped (refused)".to_string(),
                Written::Failed(e) => format!("failed: {}", failure_cell(e).trim_start_matches("error: ")),
            };
            vec![r.context.to_string(), r.deployment.to_string(), result]
        })
        .collect();
    render_table(&["CONTEXT", "DEPLOYMENT", "RESULT"], &cells)
}

/// A fleet write's report for `-o json`: `{"results": [{"context", "deployment", "result":
/// "applied", "from", "to", "rule"} or {.., "result": "skipped"} or {.., "result": "failed",
/// "error": {"code", "message"}}, ...]}`.
pub(crate) fn fleet_report_json(rows: &[ReportRow<'_>]) -> Value {
    let results: Vec<Value> = rows
        .iter()
        .map(|r| match &r.written {
            Written::Applied(c) => json!({
                "context": r.context, "deployment": r.deployment, "result": "applied",
                "from": c.from, "to": c.to, "rule": c.rule,
            }),
            Written::Skipped => json!({ "context": r.context, "deployment": r.deployment, "result": "skipped" }),
            Written::Failed(e) => json!({
                "context": r.context, "deployment": r.deployment, "result": "failed", "error": error_json(e),
            }),
        })
        .collect();
    json!({ "results": results })
}

#[cfg(test)]
mod tests {
    use super::super::{LIST_COLUMNS, list_row};
    use super::*;
    use scalekeeper_api::v1::Deployment;
    use tonic::Status;

    fn deployment(name: &str, spec: i32) -> Deployment {
        Deployment { namespace: "shop".into(), name: name.into(), spec_replicas: spec, ..Default::default() }
    }

    fn unreachable() -> CliError {
        CliError::Unreachable { server: "sk.us:443".into(), detail: "connection refused".into(), hint: None }
    }

    #[test]
    fn a_fleet_table_has_a_context_column_and_a_row_per_failed_context() {
        let denied = CliError::from(Status::permission_denied("alice may not list"));
        let gone = unreachable();
        let parts = [
            Part { context: "eu", rows: Ok(vec![list_row(&deployment("web", 3)), list_row(&deployment("cart", 2))]) },
            Part { context: "staging", rows: Err(&denied) },
            Part { context: "us", rows: Err(&gone) },
        ];
        let out = render_fleet_table(LIST_COLUMNS, &parts);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 5, "{out}");
        assert!(lines[0].starts_with("CONTEXT   NAMESPACE   NAME   DESIRED"), "{out}");
        assert!(lines[1].starts_with("eu        shop        web    -"), "{out}");
        assert!(lines[2].starts_with("eu        shop        cart"), "{out}");
        assert_eq!(lines[3], "staging   error: PERMISSION_DENIED: alice may not list");
        assert_eq!(lines[4], "us        cannot connect to sk.us:443: connection refused");
        // The error cells widen no column: the single server's table, shifted by CONTEXT.
        let single = crate::render_list_table(&[deployment("web", 3), deployment("cart", 2)]);
        assert_eq!(lines[1].trim_start_matches("eu        "), single.lines().nth(1).unwrap());
    }

    #[test]
    fn fleet_json_adds_the_context_and_lists_the_failed_contexts() {
        let gone = unreachable();
        let doc = fleet_json(
            "deployments",
            vec![
                ("eu", Ok(vec![crate::deployment_json(&deployment("web", 3)).unwrap()])),
                ("us", Err(&gone)),
                ("zz", Ok(vec![])),
            ],
        );
        assert_eq!(doc["deployments"][0]["context"], "eu");
        assert_eq!(doc["deployments"][0]["name"], "web");
        assert_eq!(doc["deployments"].as_array().unwrap().len(), 1);
        assert_eq!(
            doc["contexts"],
            json!([{"context": "us", "error": {"code": "UNAVAILABLE",
                "message": "cannot connect to sk.us:443: connection refused"}}])
        );
        let all = fleet_json("diffs", vec![("eu", Ok(vec![]))]);
        assert_eq!(all, json!({"diffs": [], "contexts": []}), "contexts is there when none failed");
        let denied = CliError::from(Status::permission_denied("no"));
        assert_eq!(error_json(&denied), json!({"code": "PERMISSION_DENIED", "message": "no"}));
    }

    #[test]
    fn a_failure_cell_is_one_line() {
        let multi = CliError::from(Status::invalid_argument("bad\nworse"));
        assert_eq!(failure_cell(&multi), "error: INVALID_ARGUMENT: bad worse");
    }

    #[test]
    fn fleet_explain_puts_each_context_under_its_header() {
        let gone = unreachable();
        let resp = ExplainResponse::default();
        let parts = [("eu", Ok(&resp)), ("us", Err(&gone))];
        let out = render_fleet_explain(&parts);
        assert!(out.starts_with("== eu ==\n"), "{out}");
        assert!(out.ends_with("\n\n== us ==\ncannot connect to sk.us:443: connection refused\n"), "{out}");
        let doc = fleet_explain_json(&parts).unwrap();
        assert_eq!(doc[0]["context"], "eu");
        assert!(doc[0]["explain"].is_object(), "{doc}");
        assert_eq!(doc[1]["error"]["code"], "UNAVAILABLE");
    }

    #[test]
    fn plan_and_report() {
        let change = Change { from: 4, to: 10, rule: "declared".into() };
        let denied = CliError::from(Status::permission_denied("dev-viewer may not update"));
        let rows = [
            PlanRow { context: "eu", deployment: "shop/web", change: Ok(&change) },
            PlanRow { context: "us", deployment: "shop/web", change: Err(&denied) },
        ];
        let out = render_fleet_plan(&rows);
        assert_eq!(
            out,
            "CONTEXT   DEPLOYMENT   EFFECTIVE   RULE       RESULT\n\
             eu        shop/web     4 -> 10     declared   ok\n\
             us        shop/web     -           -          refused: PERMISSION_DENIED: dev-viewer may not update\n"
        );
        let doc = fleet_plan_json(&rows);
        assert_eq!(
            doc["plan"][0],
            json!({"context": "eu", "deployment": "shop/web", "result": "ok", "from": 4, "to": 10, "rule": "declared"})
        );
        assert_eq!(doc["plan"][1]["result"], "refused");
        assert_eq!(doc["plan"][1]["error"]["code"], "PERMISSION_DENIED");
        // A cluster that said nothing did not refuse: it is unreachable.
        let down =
            CliError::Unreachable { server: "sk.ap:443".into(), detail: "connection refused".into(), hint: None };
        let rows = [PlanRow { context: "ap", deployment: "shop/web", change: Err(&down) }];
        assert!(
            render_fleet_plan(&rows).ends_with("   unreachable: cannot connect to sk.ap:443: connection refused\n"),
            "{}",
            render_fleet_plan(&rows)
        );
        assert_eq!(fleet_plan_json(&rows)["plan"][0]["result"], "unreachable");
        let aborted = CliError::from(Status::aborted("changed"));
        let report = [
            ReportRow { context: "eu", deployment: "shop/web", written: Written::Applied(&change) },
            ReportRow { context: "us", deployment: "shop/web", written: Written::Skipped },
            ReportRow { context: "zz", deployment: "shop/web", written: Written::Failed(&aborted) },
        ];
        let out = render_fleet_report(&report);
        assert_eq!(
            out,
            "CONTEXT   DEPLOYMENT   RESULT\n\
             eu        shop/web     applied 4 -> 10\n\
             us        shop/web     skipped (refused)\n\
             zz        shop/web     failed: ABORTED: changed\n"
        );
        let doc = fleet_report_json(&report);
        assert_eq!(doc["results"][0]["result"], "applied");
        assert_eq!(doc["results"][1], json!({"context": "us", "deployment": "shop/web", "result": "skipped"}));
        assert_eq!(doc["results"][2]["error"], json!({"code": "ABORTED", "message": "changed"}));
    }
}
