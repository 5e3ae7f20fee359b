//! The arguments of the two-person rule's commands: `approval set|clear` (a Deployment's
//! approval rule), and the rule's band and step as flags.

use scalekeeper_api::v1::ApprovalRule;

use super::ConnectArgs;

/// The subcommands of `scalekeeper approval`.
#[derive(clap::Subcommand, Debug)]
pub enum ApprovalCommand {
    /// Set the approval rule (the two-person rule): which changes of the declared, held and
    /// scheduled counts need another identity's approval:
    /// scalekeeper approval set NAMESPACE/NAME --above 20 --below 3 --max-step-percent 50.
    /// Once a rule is set, changing it needs approval itself (FAILED_PRECONDITION names the
    /// scale request the server made; `scalekeeper approve` approves it).
    Set {
        /// The Deployment, as NAMESPACE/NAME.
        target: String,
        /// The band and the step (at least one).
        #[command(flatten)]
        rule: ApprovalRuleArgs,
        /// How many approvals a change needs, each from another identity than the requester's
        /// (the server takes 1 to 5).
        #[arg(long, value_name = "K", default_value_t = 1, allow_negative_numbers = true)]
        approvers: i32,
        /// Why, recorded on the scale request when the change needs approval (at most 256
        /// bytes).
        #[arg(long)]
        reason: Option<String>,
        /// Write only if the declaration is still at this VERSION (see `get`).
        #[arg(long)]
        expected_version: Option<String>,
        /// Check everything and show what the write would do, without writing. With -o json
        /// prints {"deployment": .., "outcome": ..} instead of the Deployment alone.
        #[arg(long)]
        dry_run: bool,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// Remove the approval rule: scalekeeper approval clear NAMESPACE/NAME (needs approval
    /// itself, as changing it does).
    Clear {
        /// The Deployment, as NAMESPACE/NAME.
        target: String,
        /// Why, recorded on the scale request (at most 256 bytes).
        #[arg(long)]
        reason: Option<String>,
        /// Write only if the declaration is still at this VERSION (see `get`).
        #[arg(long)]
        expected_version: Option<String>,
        /// Check everything and show what the write would do, without writing. With -o json
        /// prints {"deployment": .., "outcome": ..} instead of the Deployment alone.
        #[arg(long)]
        dry_run: bool,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
}

impl ApprovalCommand {
    /// The connection flags given to this subcommand.
    pub fn conn(&self) -> &ConnectArgs {
        match self {
            ApprovalCommand::Set { conn, .. } | ApprovalCommand::Clear { conn, .. } => conn,
        }
    }

    /// The `NAMESPACE/NAME` of the Deployment.
    pub fn target(&self) -> &str {
        match self {
            ApprovalCommand::Set { target, .. } | ApprovalCommand::Clear { target, .. } => target,
        }
    }
}

/// The band and the step of `approval set`: at least one is required. The server checks the
/// values (counts from 0; a step of 1 to 1000 percent).
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
#[group(required = true, multiple = true)]
pub struct ApprovalRuleArgs {
    /// Counts above N need approval (the band's upper edge).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub above: Option<i32>,
    /// Counts below M need approval (the band's lower edge).
    #[arg(long, value_name = "M", allow_negative_numbers = true)]
    pub below: Option<i32>,
    /// Steps larger than P percent of the count in force need approval (any step from 0).
    #[arg(long, value_name = "P", allow_negative_numbers = true)]
    pub max_step_percent: Option<i32>,
}

impl ApprovalRuleArgs {
    /// The rule as the API takes it, with `approvers`.
    pub fn to_proto(&self, approvers: i32) -> ApprovalRule {
        let ApprovalRuleArgs { above, below, max_step_percent } = *self;
        ApprovalRule { above, below, max_step_percent, approvers }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::super::{ClientCommand, Output};
    use super::*;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(subcommand)]
        cmd: ClientCommand,
    }

    fn parse(args: &[&str]) -> Result<ClientCommand, clap::Error> {
        Cli::try_parse_from(["sk"].iter().chain(args)).map(|c| c.cmd)
    }

    fn usage_error(args: &[&str]) -> String {
        let err = parse(args).expect_err("a usage error");
        assert_eq!(err.exit_code(), 2, "{err}");
        err.to_string()
    }

    #[test]
    fn approval_set_needs_an_edge_or_a_step() {
        let cmd =
            parse(&["approval", "set", "shop/web", "--below", "3", "--above", "-1", "--context", "prod"]).unwrap();
        assert_eq!(cmd.conn().context.as_deref(), Some("prod"));
        match cmd {
            ClientCommand::Approval { command: ApprovalCommand::Set { target, rule, approvers, dry_run, .. } } => {
                assert_eq!(target, "shop/web");
                assert_eq!(rule, ApprovalRuleArgs { above: Some(-1), below: Some(3), max_step_percent: None });
                assert_eq!((approvers, dry_run), (1, false));
            }
            other => panic!("unexpected {other:?}"),
        }
        let err = usage_error(&["approval", "set", "shop/web", "--approvers", "2"]);
        assert!(err.contains("--above") && err.contains("--max-step-percent"), "{err}");
        usage_error(&["approval", "set", "shop/web", "--above", "5", "--contexts", "env=prod"]);
        usage_error(&["approval", "clear", "shop/web", "--above", "5"]);
        usage_error(&["approval", "shop/web"]);
        let cmd = parse(&["approval", "clear", "shop/web", "--reason", "r", "--expected-version", "4", "--dry-run"]);
        assert!(matches!(
            cmd.unwrap(),
            ClientCommand::Approval { command: ApprovalCommand::Clear { dry_run: true, expected_version: Some(v), .. } }
                if v == "4"
        ));
    }

    #[test]
    fn requests_approve_and_deny() {
        match parse(&["requests", "-n", "shop", "--all", "-o", "json"]).unwrap() {
            ClientCommand::Requests { namespace, all_namespaces, all, conn } => {
                assert_eq!((namespace.as_deref(), all_namespaces, all), (Some("shop"), false, true));
                assert_eq!(conn.output, Output::Json);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            parse(&["requests", "-A"]).unwrap(),
            ClientCommand::Requests { namespace: None, all_namespaces: true, all: false, .. }
        ));
        assert!(matches!(parse(&["requests"]).unwrap(), ClientCommand::Requests { namespace: None, .. }));
        usage_error(&["requests", "-A", "-n", "shop"]);
        usage_error(&["requests", "--all-contexts"]);
        match parse(&["approve", "shop/web-7f3k2", "--yes", "--context", "prod"]).unwrap() {
            ClientCommand::Approve { target, yes, conn } => {
                assert_eq!((target.as_str(), yes), ("shop/web-7f3k2", true));
                assert_eq!(conn.context.as_deref(), Some("prod"));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(parse(&["approve", "shop/x"]).unwrap(), ClientCommand::Approve { yes: false, .. }));
        usage_error(&["approve"]);
        match parse(&["deny", "shop/web-7f3k2", "--reason", "not during the sale"]).unwrap() {
            ClientCommand::Deny { target, reason, .. } => {
                assert_eq!((target.as_str(), reason.as_str()), ("shop/web-7f3k2", "not during the sale"));
            }
            other => panic!("unexpected {other:?}"),
        }
        let err = usage_error(&["deny", "shop/web-7f3k2"]);
        assert!(err.contains("--reason"), "{err}");
    }
}
