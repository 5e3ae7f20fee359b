//! The command runner: checks the command line, connects, makes the call(s) and prints the
//! result.

use std::future::Future;
use std::io::{self, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use scalekeeper_api::v1::scale_service_client::ScaleServiceClient;
use scalekeeper_api::v1::{
    ClearDesiredReplicasRequest, DiffRequest, DiffResponse, GetDeploymentRequest, ListDeploymentsRequest, Mode,
    SetReplicasRequest, WatchDeploymentsRequest,
};
use serde_json::json;
use tonic::Status;
use tonic::transport::Channel;

use scalekeeper_core::MAX_PAGE_SIZE;

use super::CliError;
use super::args::{ClientCommand, Output, parse_target};
use super::connect::{call_timeout, connect, parse_server, status_error};
use super::render::{
    deployment_json, diff_response_json, emit, pretty, print_deployment, render_diff_table, render_error,
    render_list_table, render_watch_event, watch_event_json,
};

/// Runs a client command; prints results to stdout and errors to stderr; returns the process
/// exit code (see the module docs).
pub async fn run(cmd: ClientCommand) -> ExitCode {
    match execute(cmd).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = e.exit_code();
            if code != 0 {
                let mut err = io::stderr().lock();
                let _ = err.write_all(render_error(&e).as_bytes());
                let _ = err.flush();
            }
            ExitCode::from(code)
        }
    }
}

async fn execute(cmd: ClientCommand) -> Result<(), CliError> {
    let conn = &cmd.conn().clone();
    let timeout = call_timeout(conn.timeout);
    // Check the command line before touching the network or the TLS files.
    let server = parse_server(&conn.server)?.to_string();
    match cmd {
        ClientCommand::Get { target, .. } => {
            let t = parse_target(&target)?;
            let mut client = connect(conn).await?;
            let req = GetDeploymentRequest { namespace: t.namespace, name: t.name };
            let resp = unary(timeout, &server, client.get_deployment(req)).await?;
            print_deployment(conn.output, resp.deployment)
        }
        ClientCommand::Set { target, replicas, expected_version, mode, .. } => {
            let t = parse_target(&target)?;
            let mut client = connect(conn).await?;
            let req = SetReplicasRequest {
                namespace: t.namespace,
                name: t.name,
                replicas,
                expected_version: expected_version.unwrap_or_default(),
                mode: mode.map_or(Mode::Unspecified, Mode::from) as i32,
                ..Default::default()
            };
            let resp = unary(timeout, &server, client.set_replicas(req)).await?;
            print_deployment(conn.output, resp.deployment)
        }
        ClientCommand::Clear { target, expected_version, .. } => {
            let t = parse_target(&target)?;
            let mut client = connect(conn).await?;
            let req = ClearDesiredReplicasRequest {
                namespace: t.namespace,
                name: t.name,
                expected_version: expected_version.unwrap_or_default(),
                ..Default::default()
            };
            let resp = unary(timeout, &server, client.clear_desired_replicas(req)).await?;
            print_deployment(conn.output, resp.deployment)
        }
        ClientCommand::List { namespace, selector, page_size, .. } => {
            let client = connect(conn).await?;
            let deployments = all_pages(|page_token| {
                let mut client = client.clone();
                let req = ListDeploymentsRequest {
                    namespace: namespace.clone().unwrap_or_default(),
                    label_selector: selector.clone().unwrap_or_default(),
                    page_size,
                    page_token,
                };
                let server = &server;
                async move {
                    let resp = unary(timeout, server, client.list_deployments(req)).await?;
                    Ok((resp.deployments, resp.next_page_token))
                }
            })
            .await?;
            match conn.output {
                Output::Json => emit(&pretty(
                    &json!({ "deployments": deployments.iter().map(deployment_json).collect::<Result<Vec<_>, _>>()? }),
                )?),
                Output::Table if deployments.is_empty() => {
                    let mut err = io::stderr().lock();
                    let _ = match &namespace {
                        Some(ns) => writeln!(err, "no deployments found in namespace {ns}"),
                        None => writeln!(err, "no deployments found"),
                    };
                    Ok(())
                }
                Output::Table => emit(&render_list_table(&deployments)),
            }
        }
        ClientCommand::Diff { namespace, selector, .. } => {
            let client = connect(conn).await?;
            let diffs = all_pages(|page_token| {
                let mut client = client.clone();
                let req = DiffRequest {
                    namespace: namespace.clone().unwrap_or_default(),
                    label_selector: selector.clone().unwrap_or_default(),
                    page_size: MAX_PAGE_SIZE,
                    page_token,
                };
                let server = &server;
                async move {
                    let page = unary(timeout, server, client.diff(req)).await?;
                    Ok((page.diffs, page.next_page_token))
                }
            })
            .await?;
            let resp = DiffResponse { diffs, next_page_token: String::new() };
            match conn.output {
                Output::Json => emit(&pretty(&diff_response_json(&resp)?)?),
                Output::Table if resp.diffs.is_empty() => emit("no differences\n"),
                Output::Table => emit(&render_diff_table(&resp.diffs)),
            }
        }
        ClientCommand::Watch { namespace, selector, .. } => {
            let mut client = connect(conn).await?;
            let req = WatchDeploymentsRequest {
                namespace: namespace.unwrap_or_default(),
                label_selector: selector.unwrap_or_default(),
            };
            watch(&mut client, req, conn.output, &server).await
        }
    }
}

/// Streams watch events until the server ends the stream (Ok), it fails (Err), or Ctrl-C (Ok).
async fn watch(
    client: &mut ScaleServiceClient<Channel>,
    req: WatchDeploymentsRequest,
    output: Output,
    server: &str,
) -> Result<(), CliError> {
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut ctrl_c_armed = true;
    let call = client.watch_deployments(tonic::Request::new(req));
    tokio::pin!(call);
    let mut stream = loop {
        tokio::select! {
            res = &mut ctrl_c, if ctrl_c_armed => match res {
                Ok(()) => return Ok(()),
                Err(_) => ctrl_c_armed = false,
            },
            res = &mut call => break res.map_err(|s| status_error(s, server))?.into_inner(),
        }
    };
    loop {
        tokio::select! {
            res = &mut ctrl_c, if ctrl_c_armed => match res {
                Ok(()) => return Ok(()),
                Err(_) => ctrl_c_armed = false,
            },
            msg = stream.message() => match msg {
                Ok(Some(event)) => {
                    let line = match output {
                        Output::Table => render_watch_event(&event),
                        Output::Json => watch_event_json(&event)?.to_string(),
                    };
                    emit(&format!("{line}\n"))?;
                }
                Ok(None) => return Ok(()),
                Err(status) => return Err(status.into()),
            },
        }
    }
}

/// Awaits a unary call within the timeout and unwraps its answer. The client enforces the
/// timeout itself (giving up drops the call, which resets its HTTP/2 stream and so cancels it on
/// the server); it sends no `grpc-timeout`, which tonic servers answer with CANCELLED rather than
/// DEADLINE_EXCEEDED.
/// Every item of a paged listing: calls `page` with each page token in turn, from the first
/// page (an empty token) until the server answers an empty next token.
///
/// # Errors
///
/// The first failed call's, or INTERNAL when the server hands back the token it was given
/// (which would loop for ever).
async fn all_pages<T, F, Fut>(mut page: F) -> Result<Vec<T>, CliError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, String), CliError>>,
{
    let mut items = Vec::new();
    let mut token = String::new();
    loop {
        let (batch, next) = page(token.clone()).await?;
        items.extend(batch);
        if next.is_empty() {
            return Ok(items);
        }
        if next == token {
            return Err(Status::internal("the server returned the same page token twice").into());
        }
        token = next;
    }
}

async fn unary<T>(
    timeout: Option<Duration>,
    server: &str,
    call: impl Future<Output = Result<tonic::Response<T>, Status>>,
) -> Result<T, CliError> {
    let res = match timeout {
        Some(t) => tokio::time::timeout(t, call)
            .await
            .map_err(|_| Status::deadline_exceeded(format!("no answer within {}s", t.as_secs())))?,
        None => call.await,
    };
    res.map(tonic::Response::into_inner).map_err(|s| status_error(s, server))
}
