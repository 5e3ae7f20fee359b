//! The client subcommands of the `scalekeeper` binary: `get`, `set`, `list`, `diff`, `watch`
//! and `clear`.
//!
//! Every command connects to the server over mutual TLS ([`connect`]): `--ca` verifies the
//! server's certificate (whose name must match the host part of `--server`), and `--cert` with
//! `--key` identify the caller. Results go to stdout, errors (and hints) to stderr.
//!
//! # Output
//!
//! `-o table` (the default) prints a `key: value` block for `get`, `set` and `clear`, aligned
//! columns for `list` and `diff`, and one line per event for `watch`. `-o json` prints one JSON
//! document per result (`watch`: one compact object per line) following the proto3 JSON mapping:
//! lowerCamelCase field names, enums as their full value names (`SYNC_STATUS_IN_SYNC`), int64
//! fields as strings, timestamps as RFC 3339, `desiredReplicas` omitted when unset, absent
//! messages omitted, every other field present even when it holds its default.
//!
//! # Exit codes
//!
//! - **0**: success. Also `diff` that found differences, `watch` ended by the server or by
//!   Ctrl-C, and stdout closed by its reader (e.g. piped into `head`).
//! - **1**: the call failed: the server answered an error status, printed as
//!   `error: CODE_NAME: message`, then one `  - field: description` line per
//!   `google.rpc.BadRequest` field violation the message does not already state, then a
//!   `hint:` line for PERMISSION_DENIED,
//!   UNAUTHENTICATED, UNAVAILABLE, DEADLINE_EXCEEDED and ABORTED. Also: no answer within
//!   `--timeout` (DEADLINE_EXCEEDED), a `watch` stream that ends with an error status, or
//!   output that could not be written.
//! - **2**: usage error: a target that is not `NAMESPACE/NAME`, a malformed `--server`.
//!   (clap's own argument errors exit 2 as well.)
//! - **3**: cannot connect: no `--ca`; no `--cert`/`--key`, or only one of them; a CA,
//!   certificate or key file that is missing, unreadable or holds no PEM (the message names
//!   the path); the server unreachable (`cannot connect to HOST:PORT: ...`); the TLS handshake
//!   failing, including the server refusing the client certificate.
//!
//! The client checks only what it must to make the call: replica counts, names and selectors
//! are validated by the server, which is the authority.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use scalekeeper_api::v1::scale_service_client::ScaleServiceClient;
use scalekeeper_api::v1::{
    ClearDesiredReplicasRequest, Deployment, DeploymentDiff, DeploymentStatus, DiffRequest, EventType,
    GetDeploymentRequest, ListDeploymentsRequest, Mode, SetReplicasRequest, SyncStatus, WatchDeploymentsRequest,
    WatchDeploymentsResponse,
};
use serde_json::{Map, Value, json};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

/// The port used when `--server` names only a host.
pub const DEFAULT_PORT: u16 = 50051;

/// How to reach the server.
#[derive(clap::Args, Debug, Clone)]
pub struct ConnectArgs {
    /// Server address HOST:PORT.
    #[arg(long, env = "SCALEKEEPER_SERVER", default_value = "localhost:50051")]
    pub server: String,
    /// CA certificate (PEM) that signed the server's certificate.
    #[arg(long, env = "SCALEKEEPER_CA")]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM).
    #[arg(long, env = "SCALEKEEPER_CERT")]
    pub cert: Option<PathBuf>,
    /// Client private key (PEM).
    #[arg(long, env = "SCALEKEEPER_KEY")]
    pub key: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, env = "SCALEKEEPER_OUTPUT", value_enum, default_value = "table")]
    pub output: Output,
    /// Seconds to wait for each call (watch: for the connection only); 0 waits forever.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
}

/// Output format of the client commands.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Human-readable tables and `key: value` blocks.
    Table,
    /// JSON in the proto3 JSON mapping; `watch` prints one object per line.
    Json,
}

/// The client subcommands. Each carries its own [`ConnectArgs`], so the connection flags
/// belong to these subcommands only (not to `serve`, `dev`, `certs` or `crd`).
#[derive(clap::Subcommand, Debug)]
pub enum ClientCommand {
    /// Show one Deployment's replica state: scalekeeper get NAMESPACE/NAME
    Get {
        /// The Deployment, as NAMESPACE/NAME.
        target: String,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// Declare and apply a replica count: scalekeeper set NAMESPACE/NAME REPLICAS
    Set {
        /// The Deployment, as NAMESPACE/NAME.
        target: String,
        /// The replica count to declare and apply (the server checks the range).
        #[arg(allow_negative_numbers = true)]
        replicas: i32,
        /// Write only if the declaration is still at this VERSION (see `get`).
        #[arg(long)]
        expected_version: Option<String>,
        /// What to do about drift; unset keeps the current mode (enforce for a new declaration).
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// List Deployments
    List {
        /// Only this namespace (default: every namespace the server serves).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// Kubernetes label selector, e.g. "app=web,tier in (frontend,backend)".
        #[arg(short = 'l', long)]
        selector: Option<String>,
        /// Deployments per call (0: the server's default); every page is fetched.
        #[arg(long, default_value_t = 0)]
        page_size: i32,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// Show what is out of sync
    Diff {
        /// Only this namespace (default: every namespace the server serves).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// Kubernetes label selector, e.g. "app=web".
        #[arg(short = 'l', long)]
        selector: Option<String>,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// Stream changes
    Watch {
        /// Only this namespace (default: every namespace the server serves).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// Kubernetes label selector, e.g. "app=web".
        #[arg(short = 'l', long)]
        selector: Option<String>,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// Stop managing a Deployment: scalekeeper clear NAMESPACE/NAME
    Clear {
        /// The Deployment, as NAMESPACE/NAME.
        target: String,
        /// Delete the declaration only if it is still at this VERSION (see `get`).
        #[arg(long)]
        expected_version: Option<String>,
        /// How to reach the server, and the output format.
        #[command(flatten)]
        conn: ConnectArgs,
    },
}

impl ClientCommand {
    /// The connection flags given to this subcommand.
    pub fn conn(&self) -> &ConnectArgs {
        match self {
            ClientCommand::Get { conn, .. }
            | ClientCommand::Set { conn, .. }
            | ClientCommand::List { conn, .. }
            | ClientCommand::Diff { conn, .. }
            | ClientCommand::Watch { conn, .. }
            | ClientCommand::Clear { conn, .. } => conn,
        }
    }
}

/// The `--mode` of `set`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeArg {
    /// Correct drift: set spec.replicas back to the declared count.
    Enforce,
    /// Report drift and never correct it.
    Observe,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Enforce => Mode::Enforce,
            ModeArg::Observe => Mode::Observe,
        }
    }
}

/// Why a client command failed; [`CliError::exit_code`] maps it to the process exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line is wrong (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// The TLS files are missing, unreadable, not PEM, or unusable (exit code 3).
    #[error("{0}")]
    TlsFiles(String),
    /// The server cannot be reached (exit code 3).
    #[error("cannot connect to {server}: {detail}")]
    Unreachable {
        /// The server as HOST:PORT.
        server: String,
        /// What went wrong.
        detail: String,
        /// What to check, when the failure suggests something.
        hint: Option<String>,
    },
    /// The TLS handshake with the server failed (exit code 3).
    #[error("cannot connect to {server}: TLS handshake failed: {detail}")]
    Tls {
        /// The server as HOST:PORT.
        server: String,
        /// What went wrong.
        detail: String,
        /// What to check, when the failure says.
        hint: Option<String>,
    },
    /// The call failed with this status: the server's answer, or a timeout (exit code 1).
    #[error("{}", status_line(.0))]
    Status(Box<Status>),
    /// Writing the result to stdout failed (exit code 1; 0 when the reader closed the pipe).
    #[error("cannot write output: {0}")]
    Output(#[from] io::Error),
}

impl From<Status> for CliError {
    fn from(s: Status) -> Self {
        CliError::Status(Box::new(s))
    }
}

impl CliError {
    /// The process exit code: 1 failed call, 2 usage, 3 cannot connect (see the module docs).
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Status(_) => 1,
            CliError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
            CliError::Output(_) => 1,
            CliError::Usage(_) => 2,
            CliError::TlsFiles(_) | CliError::Unreachable { .. } | CliError::Tls { .. } => 3,
        }
    }
}

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

/// Connects over mutual TLS to `https://HOST:PORT` from `--server`, verifying the server's
/// certificate against `--ca` for the name HOST and presenting `--cert`/`--key`. Errors name
/// the missing or unreadable file, or the unreachable server, plainly.
pub async fn connect(conn: &ConnectArgs) -> Result<ScaleServiceClient<Channel>, CliError> {
    let addr = parse_server(&conn.server)?;
    let files = load_tls_files(conn)?;
    // tonic builds the rustls config in `tls_config`, with the process-wide default provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let timeout = call_timeout(conn.timeout);
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(files.ca))
        .identity(Identity::from_pem(files.cert, files.key))
        .domain_name(addr.host.clone());
    if let Some(t) = timeout {
        tls = tls.timeout(t);
    }
    let mut endpoint = Endpoint::from_shared(addr.uri())
        .map_err(|e| CliError::Usage(format!("invalid --server {:?}: {}", conn.server, error_chain(&e))))?
        .tls_config(tls)
        .map_err(|e| {
            CliError::TlsFiles(format!(
                "cannot use the TLS files (--ca {}, --cert {}, --key {}): {}",
                files.ca_path.display(),
                files.cert_path.display(),
                files.key_path.display(),
                error_chain(&e)
            ))
        })?;
    if let Some(t) = timeout {
        endpoint = endpoint.connect_timeout(t);
    }
    let connecting = endpoint.connect();
    let channel = match timeout {
        Some(t) => tokio::time::timeout(t, connecting).await.map_err(|_| CliError::Unreachable {
            server: addr.to_string(),
            detail: format!("no connection within {}s", t.as_secs()),
            hint: None,
        })?,
        None => connecting.await,
    }
    .map_err(|e| connect_error(&addr.to_string(), &e))?;
    Ok(ScaleServiceClient::new(channel))
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
            };
            let resp = unary(timeout, &server, client.clear_desired_replicas(req)).await?;
            print_deployment(conn.output, resp.deployment)
        }
        ClientCommand::List { namespace, selector, page_size, .. } => {
            let mut client = connect(conn).await?;
            let mut deployments = Vec::new();
            let mut page_token = String::new();
            loop {
                let req = ListDeploymentsRequest {
                    namespace: namespace.clone().unwrap_or_default(),
                    label_selector: selector.clone().unwrap_or_default(),
                    page_size,
                    page_token: page_token.clone(),
                };
                let resp = unary(timeout, &server, client.list_deployments(req)).await?;
                deployments.extend(resp.deployments);
                if resp.next_page_token.is_empty() {
                    break;
                }
                if resp.next_page_token == page_token {
                    return Err(Status::internal("the server returned the same page token twice").into());
                }
                page_token = resp.next_page_token;
            }
            match conn.output {
                Output::Json => emit(&pretty(
                    &json!({ "deployments": deployments.iter().map(deployment_json).collect::<Vec<_>>() }),
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
            let mut client = connect(conn).await?;
            let req =
                DiffRequest { namespace: namespace.unwrap_or_default(), label_selector: selector.unwrap_or_default() };
            let resp = unary(timeout, &server, client.diff(req)).await?;
            match conn.output {
                Output::Json => {
                    emit(&pretty(&json!({ "diffs": resp.diffs.iter().map(diff_json).collect::<Vec<_>>() }))?)
                }
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
                        Output::Json => watch_event_json(&event).to_string(),
                    };
                    emit(&format!("{line}\n"))?;
                }
                Ok(None) => return Ok(()),
                Err(status) => return Err(status.into()),
            },
        }
    }
}

/// `--timeout` as a duration; `None` for 0 (wait forever).
fn call_timeout(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// Awaits a unary call within the timeout and unwraps its answer. The client enforces the
/// timeout itself (giving up drops the call, which resets its HTTP/2 stream and so cancels it on
/// the server); it sends no `grpc-timeout`, which tonic servers answer with CANCELLED rather than
/// DEADLINE_EXCEEDED.
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

/// Turns a call's error into a [`CliError`]. A status the server sent carries no source error;
/// one that does was made by the client from a transport failure, so the server never answered:
/// a TLS failure, or the connection failing (UNAVAILABLE, UNKNOWN, CANCELLED), is a connection
/// error (exit code 3). Everything else is the answer (exit code 1).
fn status_error(status: Status, server: &str) -> CliError {
    let Some(source) = status.source() else {
        return status.into();
    };
    if let Some(tls) = find_rustls_error(source) {
        return CliError::Tls { server: server.to_string(), detail: tls.to_string(), hint: tls_hint(tls, server) };
    }
    let text = status_text(&status);
    if let Some(at) = text.find("received fatal alert") {
        // The TLS alert, flattened into a transport error's message.
        return CliError::Tls {
            server: server.to_string(),
            detail: text[at..].to_string(),
            hint: Some(format!("the server refused {CLIENT_CERT_CHECK}")),
        };
    }
    if matches!(status.code(), Code::Unavailable | Code::Unknown | Code::Cancelled) {
        // With TLS 1.3 the server checks the client certificate after the client has finished
        // its handshake, so a refused certificate can show up as the connection closing under
        // the first call.
        return CliError::Unreachable {
            server: server.to_string(),
            detail: format!("the connection failed: {text}"),
            hint: Some(format!("if this happens on every try, the server probably refused {CLIENT_CERT_CHECK}")),
        };
    }
    status.into()
}

/// What to check when the server may have refused the client certificate.
const CLIENT_CERT_CHECK: &str = "the client certificate (--cert); check that a CA the server trusts signed it, \
     that it is still valid, and that --key is its key";

/// Classifies an error of [`Endpoint::connect`].
fn connect_error(server: &str, err: &(dyn StdError + 'static)) -> CliError {
    match find_rustls_error(err) {
        Some(tls) => CliError::Tls { server: server.to_string(), detail: tls.to_string(), hint: tls_hint(tls, server) },
        None => CliError::Unreachable { server: server.to_string(), detail: error_chain(err), hint: None },
    }
}

/// The errors in `err`'s source chain, including those wrapped inside `io::Error`s (whose
/// `source` skips the wrapped error).
fn chain_iter<'a>(err: &'a (dyn StdError + 'static)) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    let mut next = Some(err);
    std::iter::from_fn(move || {
        let cur = next?;
        next = match cur.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => cur.source(),
        };
        Some(cur)
    })
}

fn find_rustls_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    chain_iter(err).find_map(|e| e.downcast_ref::<rustls::Error>())
}

/// What to check after a TLS failure, when the failure says.
fn tls_hint(err: &rustls::Error, server: &str) -> Option<String> {
    use rustls::{AlertDescription as A, CertificateError as C};
    let host = server.rsplit_once(':').map_or(server, |(h, _)| h);
    match err {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer | C::BadSignature => {
                Some("the server's certificate is not signed by the CA given with --ca (SCALEKEEPER_CA)".to_string())
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => Some(format!(
                "the server's certificate is not valid for {host}; use a --server name that its certificate lists"
            )),
            C::Expired | C::ExpiredContext { .. } => Some("the server's certificate has expired".to_string()),
            C::NotValidYet | C::NotValidYetContext { .. } => {
                Some("the server's certificate is not valid yet; check this machine's clock".to_string())
            }
            _ => None,
        },
        rustls::Error::AlertReceived(
            A::CertificateRequired
            | A::BadCertificate
            | A::UnknownCA
            | A::CertificateUnknown
            | A::CertificateExpired
            | A::CertificateRevoked
            | A::UnsupportedCertificate
            | A::AccessDenied,
        ) => Some(format!("the server refused {CLIENT_CERT_CHECK}")),
        rustls::Error::InvalidMessage(_) => {
            Some(format!("{server} did not answer in TLS; check that --server names the scalekeeper server's port"))
        }
        _ => None,
    }
}

/// The files of the mutual TLS configuration.
struct TlsFiles {
    ca_path: PathBuf,
    cert_path: PathBuf,
    key_path: PathBuf,
    ca: Vec<u8>,
    cert: Vec<u8>,
    key: Vec<u8>,
}

fn load_tls_files(conn: &ConnectArgs) -> Result<TlsFiles, CliError> {
    let (cert_path, key_path) = match (&conn.cert, &conn.key) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        (Some(c), None) => {
            return Err(CliError::TlsFiles(format!(
                "--cert {} given without --key: pass the client certificate's private key with --key (or SCALEKEEPER_KEY)",
                c.display()
            )));
        }
        (None, Some(k)) => {
            return Err(CliError::TlsFiles(format!(
                "--key {} given without --cert: pass the client certificate with --cert (or SCALEKEEPER_CERT)",
                k.display()
            )));
        }
        (None, None) => {
            return Err(CliError::TlsFiles(
                "no client certificate: the server requires mutual TLS; pass --cert FILE and --key FILE \
                 (or set SCALEKEEPER_CERT and SCALEKEEPER_KEY)"
                    .to_string(),
            ));
        }
    };
    let Some(ca_path) = conn.ca.clone() else {
        return Err(CliError::TlsFiles(
            "no CA certificate: pass --ca FILE (or set SCALEKEEPER_CA) with the CA that signed the server's certificate"
                .to_string(),
        ));
    };
    let ca = read_certificates(&ca_path, "CA certificate (--ca)")?;
    let cert = read_certificates(&cert_path, "client certificate (--cert)")?;
    let key = read_private_key(&key_path)?;
    Ok(TlsFiles { ca_path, cert_path, key_path, ca, cert, key })
}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::TlsFiles(format!("cannot read {what} {}: {e}", path.display())))
}

/// Reads a PEM file that must hold at least one certificate.
fn read_certificates(path: &Path, what: &str) -> Result<Vec<u8>, CliError> {
    let pem = read_file(path, what)?;
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        if let Err(e) = cert {
            return Err(CliError::TlsFiles(format!("cannot parse {what} {}: {e}", path.display())));
        }
        count += 1;
    }
    if count == 0 {
        return Err(CliError::TlsFiles(format!(
            "{what} {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok(pem)
}

/// Reads a PEM file that must hold a private key.
fn read_private_key(path: &Path) -> Result<Vec<u8>, CliError> {
    let what = "client private key (--key)";
    let pem = read_file(path, what)?;
    match PrivateKeyDer::from_pem_slice(&pem) {
        Ok(_) => Ok(pem),
        Err(rustls::pki_types::pem::Error::NoItemsFound) => Err(CliError::TlsFiles(format!(
            "{what} {} holds no PEM private key (-----BEGIN PRIVATE KEY-----)",
            path.display()
        ))),
        Err(e) => Err(CliError::TlsFiles(format!("cannot parse {what} {}: {e}", path.display()))),
    }
}

/// A `--server` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddr {
    /// The host: a DNS name or an IP address (without brackets). The server's certificate must
    /// be valid for it.
    pub host: String,
    /// The TCP port.
    pub port: u16,
}

impl ServerAddr {
    /// The URI to connect to, `https://HOST:PORT`.
    pub fn uri(&self) -> String {
        format!("https://{self}")
    }
}

impl fmt::Display for ServerAddr {
    /// `HOST:PORT`, with an IPv6 host in brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Parses `--server`: `HOST:PORT`, `[IPV6]:PORT`, or `HOST` alone (port [`DEFAULT_PORT`]); an
/// `https://` prefix is accepted. Anything else is a usage error.
pub fn parse_server(server: &str) -> Result<ServerAddr, CliError> {
    let bad = |why: &str| CliError::Usage(format!("invalid --server {server:?}: {why}; expected HOST:PORT"));
    let s = server.trim();
    let s = s.strip_prefix("https://").unwrap_or(s);
    let s = s.strip_suffix('/').unwrap_or(s);
    if s.contains("://") {
        return Err(bad("only https is supported"));
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| bad("missing ']'"))?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or_else(|| bad("expected ':' after ']'"))?)),
        }
    } else {
        match s.split_once(':') {
            Some((_, port)) if port.contains(':') => return Err(bad("write an IPv6 address as [ADDRESS]:PORT")),
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if host.contains(['/', '@', '?', '#', ' ']) {
        return Err(bad("not a host name"));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p != 0 => p,
            _ => return Err(bad("the port must be a number from 1 to 65535")),
        },
    };
    Ok(ServerAddr { host: host.to_string(), port })
}

/// A Deployment named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The namespace.
    pub namespace: String,
    /// The Deployment's name.
    pub name: String,
}

/// Parses `NAMESPACE/NAME`; both parts must be non-empty and there must be exactly one `/`.
/// The server checks that they are valid Kubernetes names.
pub fn parse_target(target: &str) -> Result<Target, CliError> {
    match target.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok(Target { namespace: ns.to_string(), name: name.to_string() })
        }
        _ => Err(CliError::Usage(format!("invalid target {target:?}: expected NAMESPACE/NAME, e.g. shop/web"))),
    }
}

/// The gRPC name of a status code, e.g. `NOT_FOUND`.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A status's message, followed by the client-side cause when the client made the status.
fn status_text(status: &Status) -> String {
    let msg = status.message();
    match status.source().map(error_chain) {
        None => msg.to_string(),
        Some(cause) if cause.starts_with(msg) || msg == "transport error" => cause,
        Some(cause) if msg.contains(&cause) => msg.to_string(),
        Some(cause) => format!("{msg}: {cause}"),
    }
}

/// `CODE_NAME: message`, or `CODE_NAME` when there is no message.
fn status_line(status: &Status) -> String {
    let text = status_text(status);
    if text.is_empty() { code_name(status.code()).to_string() } else { format!("{}: {text}", code_name(status.code())) }
}

/// What to do about a status code, when there is something to say.
fn status_hint(code: Code) -> Option<&'static str> {
    match code {
        Code::PermissionDenied => Some(
            "the server identifies you by your client certificate (--cert), and that identity is not allowed \
             to do this; use a certificate whose identity is, or ask an administrator to grant it",
        ),
        Code::Unauthenticated => Some(
            "the server could not identify you from your client certificate (--cert); use a certificate \
             with an identity (SAN URI, SAN DNS name or CN) issued by a CA the server trusts",
        ),
        Code::Unavailable => Some("the server or Kubernetes is unavailable; retry in a moment"),
        Code::DeadlineExceeded => Some("no answer in time; retry, or give the call longer with --timeout"),
        Code::Aborted => Some(
            "the declaration changed since you read it; run `scalekeeper get NAMESPACE/NAME` for the current \
             VERSION and retry",
        ),
        _ => None,
    }
}

/// Renders a failed call's status for stderr: `error: CODE_NAME: message`, one
/// `  - field: description` line per `google.rpc.BadRequest` field violation that the
/// message does not already state, and a hint line for codes that call for one. Ends with
/// a newline.
pub fn render_status(status: &Status) -> String {
    let mut out = format!("error: {}\n", status_line(status));
    if let Some(bad) = status.get_error_details().bad_request() {
        // The message often repeats the violations already; list only what it lacks.
        for v in bad.field_violations.iter().filter(|v| !status.message().contains(&v.description)) {
            out.push_str(&format!("  - {}: {}\n", v.field, v.description));
        }
    }
    if let Some(hint) = status_hint(status.code()) {
        out.push_str(&format!("hint: {hint}\n"));
    }
    out
}

/// Renders any [`CliError`] for stderr, ending with a newline.
pub fn render_error(err: &CliError) -> String {
    match err {
        CliError::Status(s) => render_status(s),
        CliError::Tls { hint: Some(hint), .. } | CliError::Unreachable { hint: Some(hint), .. } => {
            format!("error: {err}\nhint: {hint}\n")
        }
        _ => format!("error: {err}\n"),
    }
}

/// An error and its sources as `a: b: c`, skipping generic or repeated parts.
fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut e = Some(err);
    while let Some(cur) = e {
        let s = cur.to_string();
        if !s.is_empty() && s != "transport error" && !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        e = cur.source();
    }
    if parts.is_empty() { err.to_string() } else { parts.join(": ") }
}

fn dash(s: &str) -> String {
    if s.is_empty() { "-".to_string() } else { s.to_string() }
}

fn desired(d: Option<i32>) -> String {
    d.map_or_else(|| "-".to_string(), |n| n.to_string())
}

/// The short name of a sync status for tables, e.g. `IN_SYNC`; unknown values as numbers.
pub fn sync_name(v: i32) -> String {
    match SyncStatus::try_from(v) {
        Ok(s) => s.as_str_name().trim_start_matches("SYNC_STATUS_").to_string(),
        Err(_) => v.to_string(),
    }
}

/// The short name of a mode for tables, e.g. `ENFORCE`; `-` when unspecified (unmanaged).
pub fn mode_name(v: i32) -> String {
    match Mode::try_from(v) {
        Ok(Mode::Unspecified) => "-".to_string(),
        Ok(m) => m.as_str_name().trim_start_matches("MODE_").to_string(),
        Err(_) => v.to_string(),
    }
}

/// The short name of a watch event type, e.g. `MODIFIED`.
pub fn event_name(v: i32) -> String {
    match EventType::try_from(v) {
        Ok(t) => t.as_str_name().trim_start_matches("EVENT_TYPE_").to_string(),
        Err(_) => v.to_string(),
    }
}

/// Aligns `rows` under `headers` like kubectl: each column as wide as its widest cell, columns
/// three spaces apart, no trailing spaces. Ends with a newline.
pub fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let n = cell.chars().count();
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(n),
                None => widths.push(n),
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                l.push_str("   ");
            }
            l.push_str(cell);
            let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(cell.chars().count());
            l.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// Renders one Deployment as a `KEY: value` block (keys aligned), ending with a newline.
pub fn render_deployment(d: &Deployment) -> String {
    let st = d.status.unwrap_or_default();
    let rows: [(&str, String); 13] = [
        ("NAMESPACE", dash(&d.namespace)),
        ("NAME", dash(&d.name)),
        ("DESIRED", desired(d.desired_replicas)),
        ("SPEC", d.spec_replicas.to_string()),
        ("READY", format!("{}/{}", st.ready_replicas, d.spec_replicas)),
        ("UPDATED", st.updated_replicas.to_string()),
        ("AVAILABLE", st.available_replicas.to_string()),
        ("SYNC", sync_name(d.sync_status)),
        ("REASON", dash(&d.reason)),
        ("MODE", mode_name(d.mode)),
        ("VERSION", dash(&d.version)),
        ("LAST SET BY", dash(&d.last_set_by)),
        ("LAST SET AT", d.last_set_at.map_or_else(|| "-".to_string(), |t| t.to_string())),
    ];
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    rows.iter().map(|(k, v)| format!("{:<width$} {v}\n", format!("{k}:"))).collect()
}

/// Renders `list` output: `NAMESPACE NAME DESIRED SPEC READY SYNC MODE`.
pub fn render_list_table(deployments: &[Deployment]) -> String {
    let rows: Vec<Vec<String>> = deployments
        .iter()
        .map(|d| {
            vec![
                d.namespace.clone(),
                d.name.clone(),
                desired(d.desired_replicas),
                d.spec_replicas.to_string(),
                format!("{}/{}", d.status.unwrap_or_default().ready_replicas, d.spec_replicas),
                sync_name(d.sync_status),
                mode_name(d.mode),
            ]
        })
        .collect();
    render_table(&["NAMESPACE", "NAME", "DESIRED", "SPEC", "READY", "SYNC", "MODE"], &rows)
}

/// Renders `diff` output: `NAMESPACE NAME SYNC DESIRED SPEC READY REASON`.
pub fn render_diff_table(diffs: &[DeploymentDiff]) -> String {
    let rows: Vec<Vec<String>> = diffs
        .iter()
        .map(|d| {
            vec![
                d.namespace.clone(),
                d.name.clone(),
                sync_name(d.sync_status),
                d.desired_replicas.to_string(),
                d.spec_replicas.to_string(),
                format!("{}/{}", d.ready_replicas, d.spec_replicas),
                dash(&d.reason),
            ]
        })
        .collect();
    render_table(&["NAMESPACE", "NAME", "SYNC", "DESIRED", "SPEC", "READY", "REASON"], &rows)
}

/// Renders one watch event as a line (no newline):
/// `TYPE NAMESPACE/NAME desired=.. spec=.. ready=.. sync=..`, or
/// `SYNCED (initial state complete)`.
pub fn render_watch_event(event: &WatchDeploymentsResponse) -> String {
    if event.r#type == EventType::Synced as i32 {
        return "SYNCED (initial state complete)".to_string();
    }
    let ty = event_name(event.r#type);
    match &event.deployment {
        Some(d) => format!(
            "{ty} {}/{} desired={} spec={} ready={} sync={}",
            d.namespace,
            d.name,
            desired(d.desired_replicas),
            d.spec_replicas,
            d.status.unwrap_or_default().ready_replicas,
            sync_name(d.sync_status),
        ),
        None => ty,
    }
}

/// An enum value as proto3 JSON: its full value name, or the number when unknown.
fn enum_json(name: Option<&'static str>, v: i32) -> Value {
    name.map_or_else(|| json!(v), |n| json!(n))
}

fn status_json(s: &DeploymentStatus) -> Value {
    json!({
        "replicas": s.replicas,
        "updatedReplicas": s.updated_replicas,
        "readyReplicas": s.ready_replicas,
        "availableReplicas": s.available_replicas,
        "observedGeneration": s.observed_generation.to_string(),
    })
}

/// A Deployment in the proto3 JSON mapping: `desiredReplicas` omitted when unset, `status` and
/// `lastSetAt` omitted when absent, int64 as strings, enums as full value names, timestamps as
/// RFC 3339, labels as an object.
pub fn deployment_json(d: &Deployment) -> Value {
    let mut m = Map::new();
    m.insert("namespace".into(), json!(d.namespace));
    m.insert("name".into(), json!(d.name));
    if let Some(n) = d.desired_replicas {
        m.insert("desiredReplicas".into(), json!(n));
    }
    m.insert("specReplicas".into(), json!(d.spec_replicas));
    if let Some(s) = &d.status {
        m.insert("status".into(), status_json(s));
    }
    let sync = SyncStatus::try_from(d.sync_status).ok().map(|s| s.as_str_name());
    m.insert("syncStatus".into(), enum_json(sync, d.sync_status));
    m.insert("reason".into(), json!(d.reason));
    m.insert("mode".into(), enum_json(Mode::try_from(d.mode).ok().map(|m| m.as_str_name()), d.mode));
    m.insert("version".into(), json!(d.version));
    m.insert("lastSetBy".into(), json!(d.last_set_by));
    if let Some(t) = &d.last_set_at {
        m.insert("lastSetAt".into(), json!(t.to_string()));
    }
    m.insert("generation".into(), json!(d.generation.to_string()));
    let labels: Map<String, Value> = d.labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    m.insert("labels".into(), Value::Object(labels));
    Value::Object(m)
}

/// A DeploymentDiff in the proto3 JSON mapping.
pub fn diff_json(d: &DeploymentDiff) -> Value {
    let sync = SyncStatus::try_from(d.sync_status).ok().map(|s| s.as_str_name());
    json!({
        "namespace": d.namespace,
        "name": d.name,
        "syncStatus": enum_json(sync, d.sync_status),
        "desiredReplicas": d.desired_replicas,
        "specReplicas": d.spec_replicas,
        "readyReplicas": d.ready_replicas,
        "mode": enum_json(Mode::try_from(d.mode).ok().map(|m| m.as_str_name()), d.mode),
        "reason": d.reason,
    })
}

/// A watch event in the proto3 JSON mapping: `{"type":"EVENT_TYPE_MODIFIED","deployment":{..}}`
/// (no `deployment` for `EVENT_TYPE_SYNCED`).
pub fn watch_event_json(event: &WatchDeploymentsResponse) -> Value {
    let mut m = Map::new();
    let ty = EventType::try_from(event.r#type).ok().map(|t| t.as_str_name());
    m.insert("type".into(), enum_json(ty, event.r#type));
    if let Some(d) = &event.deployment {
        m.insert("deployment".into(), deployment_json(d));
    }
    Value::Object(m)
}

fn pretty(v: &Value) -> Result<String, CliError> {
    let mut s = serde_json::to_string_pretty(v).map_err(io::Error::other)?;
    s.push('\n');
    Ok(s)
}

fn print_deployment(output: Output, d: Option<Deployment>) -> Result<(), CliError> {
    let d = d.ok_or_else(|| Status::internal("the server's answer holds no deployment"))?;
    match output {
        Output::Table => emit(&render_deployment(&d)),
        Output::Json => emit(&pretty(&deployment_json(&d))?),
    }
}

/// Writes to stdout and flushes.
fn emit(text: &str) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory as _, Parser};
    use scalekeeper_api::v1::DeploymentStatus;
    use tonic_types::{ErrorDetails, FieldViolation};

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(subcommand)]
        cmd: ClientCommand,
    }

    fn deployment(desired: Option<i32>) -> Deployment {
        Deployment {
            namespace: "shop".into(),
            name: "web".into(),
            desired_replicas: desired,
            spec_replicas: 3,
            status: Some(DeploymentStatus {
                replicas: 3,
                updated_replicas: 3,
                ready_replicas: 2,
                available_replicas: 2,
                observed_generation: 7,
            }),
            sync_status: SyncStatus::Progressing as i32,
            reason: "2 of 3 ready".into(),
            mode: Mode::Enforce as i32,
            version: "4711".into(),
            last_set_by: "spiffe://c/ns/ci/sa/deployer".into(),
            last_set_at: Some(prost_types::Timestamp { seconds: 1_700_000_000, nanos: 500_000_000 }),
            generation: 7,
            labels: [("app".to_string(), "web".to_string())].into_iter().collect(),
        }
    }

    #[test]
    fn clap_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn clap_parses_negative_replicas_and_connection_flags() {
        let cli = Cli::try_parse_from(["sk", "set", "shop/web", "-1", "-o", "json", "--mode", "observe"]).unwrap();
        assert_eq!(cli.cmd.conn().output, Output::Json);
        match cli.cmd {
            ClientCommand::Set { target, replicas, mode, expected_version, .. } => {
                assert_eq!(target, "shop/web");
                assert_eq!(replicas, -1);
                assert_eq!(mode, Some(ModeArg::Observe));
                assert_eq!(expected_version, None);
            }
            other => panic!("unexpected {other:?}"),
        }
        let cli = Cli::try_parse_from(["sk", "list", "--timeout", "3", "-n", "shop", "--page-size", "2"]).unwrap();
        assert_eq!(cli.cmd.conn().timeout, 3);
        assert!(matches!(cli.cmd, ClientCommand::List { page_size: 2, .. }));
    }

    #[test]
    fn parse_target_accepts_namespace_slash_name() {
        assert_eq!(parse_target("ns/name").unwrap(), Target { namespace: "ns".into(), name: "name".into() });
    }

    #[test]
    fn parse_target_rejects_other_shapes() {
        for bad in ["name", "a/b/c", "/x", "x/", "/", ""] {
            let err = parse_target(bad).unwrap_err();
            assert!(matches!(err, CliError::Usage(_)), "{bad:?}: {err:?}");
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains("NAMESPACE/NAME"), "{err}");
        }
    }

    #[test]
    fn parse_server_forms() {
        let a = parse_server("localhost:50051").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("localhost", 50051));
        assert_eq!(a.uri(), "https://localhost:50051");
        assert_eq!(parse_server("sk.example").unwrap().port, DEFAULT_PORT);
        assert_eq!(parse_server("https://sk.example:443/").unwrap().to_string(), "sk.example:443");
        let v6 = parse_server("[::1]:8443").unwrap();
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.uri(), "https://[::1]:8443");
        for bad in ["::1", "host:", "host:0", "host:99999", ":50051", "http://h:1", "[::1", "h/x:1"] {
            let err = parse_server(bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn table_columns_are_aligned() {
        let rows = vec![
            vec!["shop".to_string(), "web".to_string(), "3".to_string()],
            vec!["payments-long".to_string(), "api".to_string(), "12".to_string()],
        ];
        let out = render_table(&["NAMESPACE", "NAME", "DESIRED"], &rows);
        assert_eq!(
            out,
            "NAMESPACE       NAME   DESIRED\n\
             shop            web    3\n\
             payments-long   api    12\n"
        );
        // Every column starts at the same offset on every line, three spaces after the widest cell.
        let lines: Vec<&str> = out.lines().collect();
        for (col, at) in [("NAME", 16), ("DESIRED", 23)] {
            assert_eq!(&lines[0][at..at + col.len()], col);
            for l in &lines {
                assert_eq!(&l[at - 3..at], "   ", "{l:?}");
                assert_ne!(l.as_bytes()[at], b' ', "{l:?}");
            }
        }
    }

    #[test]
    fn list_and_diff_tables() {
        let mut unmanaged = deployment(None);
        unmanaged.name = "a-much-longer-name".into();
        unmanaged.mode = Mode::Unspecified as i32;
        unmanaged.sync_status = SyncStatus::Unmanaged as i32;
        let out = render_list_table(&[deployment(Some(3)), unmanaged]);
        assert_eq!(
            out,
            "NAMESPACE   NAME                 DESIRED   SPEC   READY   SYNC          MODE\n\
             shop        web                  3         3      2/3     PROGRESSING   ENFORCE\n\
             shop        a-much-longer-name   -         3      2/3     UNMANAGED     -\n"
        );
        let diff = DeploymentDiff {
            namespace: "shop".into(),
            name: "web".into(),
            sync_status: SyncStatus::Drifted as i32,
            desired_replicas: 3,
            spec_replicas: 5,
            ready_replicas: 5,
            mode: Mode::Observe as i32,
            reason: "spec.replicas is 5, declared 3".into(),
        };
        assert_eq!(
            render_diff_table(&[diff]),
            "NAMESPACE   NAME   SYNC      DESIRED   SPEC   READY   REASON\n\
             shop        web    DRIFTED   3         5      5/5     spec.replicas is 5, declared 3\n"
        );
    }

    #[test]
    fn deployment_block() {
        let out = render_deployment(&deployment(None));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 13);
        assert_eq!(lines[0], "NAMESPACE:   shop");
        assert_eq!(lines[2], "DESIRED:     -");
        assert_eq!(lines[4], "READY:       2/3");
        assert_eq!(lines[7], "SYNC:        PROGRESSING");
        assert_eq!(lines[9], "MODE:        ENFORCE");
        assert_eq!(lines[11], "LAST SET BY: spiffe://c/ns/ci/sa/deployer");
        assert_eq!(lines[12], "LAST SET AT: 2023-11-14T22:13:20.500Z");
        assert!(render_deployment(&deployment(Some(0))).contains("DESIRED:     0\n"));
    }

    #[test]
    fn watch_lines() {
        let ev = WatchDeploymentsResponse { r#type: EventType::Modified as i32, deployment: Some(deployment(Some(3))) };
        assert_eq!(render_watch_event(&ev), "MODIFIED shop/web desired=3 spec=3 ready=2 sync=PROGRESSING");
        let synced = WatchDeploymentsResponse { r#type: EventType::Synced as i32, deployment: None };
        assert_eq!(render_watch_event(&synced), "SYNCED (initial state complete)");
        assert_eq!(watch_event_json(&synced).to_string(), r#"{"type":"EVENT_TYPE_SYNCED"}"#);
        let j = watch_event_json(&ev);
        assert_eq!(j["type"], "EVENT_TYPE_MODIFIED");
        assert_eq!(j["deployment"]["name"], "web");
        assert!(!j.to_string().contains('\n'));
    }

    #[test]
    fn json_with_desired_replicas() {
        let j = deployment_json(&deployment(Some(3)));
        assert_eq!(
            j,
            json!({
                "namespace": "shop",
                "name": "web",
                "desiredReplicas": 3,
                "specReplicas": 3,
                "status": {
                    "replicas": 3,
                    "updatedReplicas": 3,
                    "readyReplicas": 2,
                    "availableReplicas": 2,
                    "observedGeneration": "7",
                },
                "syncStatus": "SYNC_STATUS_PROGRESSING",
                "reason": "2 of 3 ready",
                "mode": "MODE_ENFORCE",
                "version": "4711",
                "lastSetBy": "spiffe://c/ns/ci/sa/deployer",
                "lastSetAt": "2023-11-14T22:13:20.500Z",
                "generation": "7",
                "labels": { "app": "web" },
            })
        );
        // A declared 0 is still present.
        assert_eq!(deployment_json(&deployment(Some(0)))["desiredReplicas"], 0);
    }

    #[test]
    fn json_without_desired_replicas() {
        let d = Deployment {
            namespace: "shop".into(),
            name: "web".into(),
            spec_replicas: 2,
            sync_status: SyncStatus::Unmanaged as i32,
            ..Default::default()
        };
        let j = deployment_json(&d);
        assert_eq!(
            j,
            json!({
                "namespace": "shop",
                "name": "web",
                "specReplicas": 2,
                "syncStatus": "SYNC_STATUS_UNMANAGED",
                "reason": "",
                "mode": "MODE_UNSPECIFIED",
                "version": "",
                "lastSetBy": "",
                "generation": "0",
                "labels": {},
            })
        );
        assert!(j.get("desiredReplicas").is_none());
        // Unknown enum numbers stay numbers.
        let odd = Deployment { sync_status: 42, ..d };
        assert_eq!(deployment_json(&odd)["syncStatus"], 42);
    }

    #[test]
    fn diff_json_mapping() {
        let d = DeploymentDiff {
            namespace: "shop".into(),
            name: "web".into(),
            sync_status: SyncStatus::Conflict as i32,
            desired_replicas: 3,
            spec_replicas: 5,
            ready_replicas: 4,
            mode: Mode::Observe as i32,
            reason: "an HPA owns the count".into(),
        };
        assert_eq!(
            diff_json(&d),
            json!({
                "namespace": "shop", "name": "web", "syncStatus": "SYNC_STATUS_CONFLICT",
                "desiredReplicas": 3, "specReplicas": 5, "readyReplicas": 4,
                "mode": "MODE_OBSERVE", "reason": "an HPA owns the count",
            })
        );
    }

    #[test]
    fn status_with_field_violations() {
        let mut details = ErrorDetails::new();
        details.add_bad_request_violation("replicas", "must be between 0 and 100");
        details.add_bad_request_violation("name", "must be a DNS-1123 label");
        let status = Status::with_error_details(Code::InvalidArgument, "invalid SetReplicasRequest", details);
        assert_eq!(
            render_status(&status),
            "error: INVALID_ARGUMENT: invalid SetReplicasRequest\n  \
             - replicas: must be between 0 and 100\n  \
             - name: must be a DNS-1123 label\n"
        );
        let err = CliError::from(status);
        assert_eq!(err.exit_code(), 1);
        assert_eq!(
            render_error(&err),
            render_status(&Status::with_error_details(
                Code::InvalidArgument,
                "invalid SetReplicasRequest",
                ErrorDetails::with_bad_request(vec![
                    FieldViolation::new("replicas", "must be between 0 and 100"),
                    FieldViolation::new("name", "must be a DNS-1123 label"),
                ]),
            ))
        );
    }

    #[test]
    fn violations_already_in_the_message_are_not_repeated() {
        let status = Status::with_error_details(
            Code::InvalidArgument,
            "invalid request: replicas: -1 is negative",
            ErrorDetails::with_bad_request(vec![FieldViolation::new("replicas", "-1 is negative")]),
        );
        assert_eq!(render_status(&status), "error: INVALID_ARGUMENT: invalid request: replicas: -1 is negative\n");
    }

    #[test]
    fn status_hints() {
        let out = render_status(&Status::permission_denied("spiffe://c/sa/x may not set shop/web"));
        assert!(out.starts_with("error: PERMISSION_DENIED: spiffe://c/sa/x may not set shop/web\nhint: "), "{out}");
        assert!(out.contains("client certificate"), "{out}");
        let out = render_status(&Status::unavailable("kubernetes API unreachable"));
        assert!(out.starts_with("error: UNAVAILABLE: kubernetes API unreachable\n"), "{out}");
        assert!(out.contains("the server or Kubernetes is unavailable; retry"), "{out}");
        assert_eq!(render_status(&Status::not_found("")), "error: NOT_FOUND\n");
        assert_eq!(code_name(Code::FailedPrecondition), "FAILED_PRECONDITION");
    }

    #[test]
    fn exit_codes() {
        assert_eq!(CliError::from(Status::not_found("x")).exit_code(), 1);
        assert_eq!(CliError::Output(io::Error::other("disk full")).exit_code(), 1);
        assert_eq!(CliError::Output(io::Error::from(io::ErrorKind::BrokenPipe)).exit_code(), 0);
        assert_eq!(CliError::Usage("x".into()).exit_code(), 2);
        assert_eq!(CliError::TlsFiles("x".into()).exit_code(), 3);
        let unreachable = CliError::Unreachable { server: "h:1".into(), detail: "refused".into(), hint: None };
        assert_eq!(unreachable.exit_code(), 3);
        assert_eq!(render_error(&unreachable), "error: cannot connect to h:1: refused\n");
        let tls = CliError::Tls { server: "h:1".into(), detail: "bad".into(), hint: Some("check".into()) };
        assert_eq!(tls.exit_code(), 3);
        assert_eq!(render_error(&tls), "error: cannot connect to h:1: TLS handshake failed: bad\nhint: check\n");
    }

    #[test]
    fn local_transport_failures_are_connection_errors() {
        use std::sync::Arc;
        let local = |code: Code, msg: &str, cause: io::Error| {
            let mut st = Status::new(code, msg);
            st.set_source(Arc::new(cause));
            st
        };
        // The connection closing under the call: exit 3, with the cause and a hint.
        let err = status_error(
            local(Code::Unknown, "transport error", io::Error::new(io::ErrorKind::BrokenPipe, "broken pipe")),
            "h:1",
        );
        assert_eq!(err.exit_code(), 3);
        let text = render_error(&err);
        assert!(text.starts_with("error: cannot connect to h:1: the connection failed: broken pipe\nhint: "), "{text}");
        // A TLS alert flattened into a message: exit 3, named as a TLS failure.
        let err = status_error(
            local(Code::Unknown, "transport error", io::Error::other("received fatal alert: UnknownCA")),
            "h:1",
        );
        assert!(matches!(&err, CliError::Tls { detail, .. } if detail == "received fatal alert: UnknownCA"));
        // A rustls error in the chain: exit 3 with the matching hint.
        let rustls_err = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let err = status_error(
            local(Code::Unavailable, "connect", io::Error::new(io::ErrorKind::InvalidData, rustls_err)),
            "h:1",
        );
        assert!(matches!(&err, CliError::Tls { hint: Some(h), .. } if h.contains("--ca")), "{err:?}");
        // A status the client made for another reason, and any status the server sent: exit 1.
        let err = status_error(local(Code::Internal, "decode", io::Error::other("bad protobuf")), "h:1");
        assert_eq!(err.exit_code(), 1);
        assert_eq!(render_error(&err), "error: INTERNAL: decode: bad protobuf\n");
        assert_eq!(status_error(Status::unavailable("kube down"), "h:1").exit_code(), 1);
    }

    #[test]
    fn tls_file_errors_name_the_path() {
        let dir = std::env::temp_dir().join(format!("sk-cli-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let not_pem = dir.join("not.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        let args = |ca: Option<&Path>, cert: Option<&Path>, key: Option<&Path>| ConnectArgs {
            server: "localhost:50051".into(),
            ca: ca.map(Path::to_path_buf),
            cert: cert.map(Path::to_path_buf),
            key: key.map(Path::to_path_buf),
            output: Output::Table,
            timeout: 1,
        };
        let msg = |a: ConnectArgs| {
            let e = load_tls_files(&a).err().unwrap();
            assert_eq!(e.exit_code(), 3);
            e.to_string()
        };
        let m = msg(args(Some(&missing), Some(&missing), Some(&missing)));
        assert!(m.contains("cannot read CA certificate (--ca)") && m.contains("missing.pem"), "{m}");
        let m = msg(args(Some(&not_pem), Some(&missing), None));
        assert!(m.starts_with("--cert ") && m.contains("without --key"), "{m}");
        let m = msg(args(Some(&not_pem), None, Some(&missing)));
        assert!(m.contains("without --cert"), "{m}");
        let m = msg(args(None, Some(&not_pem), Some(&not_pem)));
        assert!(m.starts_with("no CA certificate"), "{m}");
        let m = msg(args(Some(&not_pem), Some(&not_pem), Some(&not_pem)));
        assert!(m.contains("holds no PEM certificate") && m.contains("not.pem"), "{m}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
