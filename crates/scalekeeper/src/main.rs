//! The `scalekeeper` binary: parses arguments and wires the library together.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use scalekeeper::cache::Scope;
#[cfg(feature = "dev")]
use scalekeeper::dev;
use scalekeeper::leader::LeaderConfig;
use scalekeeper::reconciler::ReconcileConfig;
use scalekeeper::server::{self, ServeConfig, Server};
use scalekeeper::tls::TlsFiles;
use scalekeeper::{certs, cli, policy};

/// A secure gRPC API over the replica counts of Kubernetes Deployments.
#[derive(Parser)]
#[command(name = "scalekeeper", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (mTLS gRPC) and the probe/metrics HTTP port.
    Serve(Box<ServeArgs>),
    /// Run kubesim and the server in one process, with dev certificates.
    #[cfg(feature = "dev")]
    Dev(dev::DevConfig),
    /// Print the ReplicaPolicy CustomResourceDefinition (YAML).
    Crd,
    /// Write a dev CA, a server certificate and client certificates.
    Certs(CertsArgs),
    #[command(flatten)]
    Client(cli::ClientCommand),
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Json,
    Text,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// gRPC (mTLS) listen address.
    #[arg(long, env = "SCALEKEEPER_GRPC_LISTEN", default_value = "0.0.0.0:50051")]
    grpc_listen: SocketAddr,
    /// Plaintext HTTP listen address for /healthz, /readyz and /metrics.
    #[arg(long, env = "SCALEKEEPER_HTTP_LISTEN", default_value = "0.0.0.0:8080")]
    http_listen: SocketAddr,
    /// Server certificate chain (PEM).
    #[arg(long, env = "SCALEKEEPER_TLS_CERT")]
    tls_cert: PathBuf,
    /// Server private key (PEM).
    #[arg(long, env = "SCALEKEEPER_TLS_KEY")]
    tls_key: PathBuf,
    /// CA bundle (PEM) that client certificates must chain to.
    #[arg(long, env = "SCALEKEEPER_CLIENT_CA")]
    client_ca: PathBuf,
    /// Kubeconfig; default: KUBECONFIG, ~/.kube/config, or the in-cluster service account.
    #[arg(long, env = "SCALEKEEPER_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Namespace to serve (repeatable); none means every namespace.
    #[arg(long = "namespace", env = "SCALEKEEPER_NAMESPACES", value_delimiter = ',')]
    namespaces: Vec<String>,
    /// Largest replica count SetReplicas accepts.
    #[arg(long, env = "SCALEKEEPER_MAX_REPLICAS", default_value_t = scalekeeper_core::DEFAULT_MAX_REPLICAS)]
    max_replicas: i32,
    /// Seconds to let in-flight calls finish on SIGTERM.
    #[arg(long, env = "SCALEKEEPER_DRAIN_TIMEOUT_SECONDS", default_value_t = 20)]
    drain_timeout_seconds: u64,
    /// Seconds to keep serving after SIGTERM while reporting not ready, before closing the
    /// listener (what a preStop sleep does); 0 closes at once.
    #[arg(long, env = "SCALEKEEPER_SHUTDOWN_DELAY_SECONDS", default_value_t = 0)]
    shutdown_delay_seconds: u64,
    /// Seconds without an answer from the Kubernetes API before reporting not ready.
    #[arg(long, env = "SCALEKEEPER_STALE_AFTER_SECONDS", default_value_t = 5)]
    stale_after_seconds: u64,
    /// Log format.
    #[arg(long, env = "SCALEKEEPER_LOG_FORMAT", value_enum, default_value = "json")]
    log_format: LogFormat,
    /// Elect one reconciling replica with a Lease; off: this replica always reconciles.
    #[arg(long, env = "SCALEKEEPER_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// Name of the Lease.
    #[arg(long, env = "SCALEKEEPER_LEASE_NAME", default_value = "scalekeeper")]
    lease_name: String,
    /// Namespace of the Lease (the server's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// This replica's identity in the Lease and in Events; default: the host name and a random suffix.
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Seconds a Lease term lasts: how long a killed leader blocks its successor.
    #[arg(long, env = "SCALEKEEPER_LEASE_DURATION_SECONDS", default_value_t = 15)]
    lease_duration_seconds: u64,
    /// Seconds before the term ends at which the leader renews (less than the duration).
    #[arg(long, env = "SCALEKEEPER_LEASE_RENEW_GRACE_SECONDS", default_value_t = 10)]
    lease_renew_grace_seconds: u64,
    /// Flap guard: more corrections than this within the window suspend enforcement.
    #[arg(long, env = "SCALEKEEPER_FLAP_MAX_CORRECTIONS", default_value_t = 5)]
    flap_max_corrections: usize,
    /// Flap guard window, seconds.
    #[arg(long, env = "SCALEKEEPER_FLAP_WINDOW_SECONDS", default_value_t = 60)]
    flap_window_seconds: u64,
    /// Seconds enforcement stays suspended after the flap guard trips.
    #[arg(long, env = "SCALEKEEPER_FLAP_COOL_DOWN_SECONDS", default_value_t = 300)]
    flap_cool_down_seconds: u64,
    /// Seconds between periodic re-checks of every policy.
    #[arg(long, env = "SCALEKEEPER_RESYNC_SECONDS", default_value_t = 300)]
    resync_seconds: u64,
}

#[derive(clap::Args)]
struct CertsArgs {
    /// Output directory (an existing CA there is reused).
    #[arg(long, default_value = ".scalekeeper/certs")]
    dir: PathBuf,
    /// Extra server names or IPs (besides localhost, 127.0.0.1, ::1), e.g. scalekeeper.ops.svc.
    #[arg(long = "server-name")]
    server_names: Vec<String>,
    /// Client identities to issue certificates for (SAN URI if it has "://", else DNS + CN).
    #[arg(long = "client")]
    clients: Vec<String>,
    /// Validity in days.
    #[arg(long, default_value_t = 365)]
    days: u32,
}

fn init_logs(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Cli { command } = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let result = match command {
            Command::Client(cmd) => {
                init_logs(LogFormat::Text, "warn");
                return cli::run(cmd).await;
            }
            Command::Crd => policy::crd_yaml().map(|y| print!("{y}")).map_err(anyhow::Error::from),
            Command::Certs(args) => certs_cmd(args),
            Command::Serve(args) => serve(*args).await,
            #[cfg(feature = "dev")]
            Command::Dev(config) => {
                init_logs(LogFormat::Text, "info,kube=warn,tower=warn,h2=warn,hyper=warn");
                dev::run(config).await
            }
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}

fn certs_cmd(args: CertsArgs) -> anyhow::Result<()> {
    let CertsArgs { dir, server_names, clients, days } = args;
    let written = certs::write_dev_certs(&dir, &server_names, &clients, days)?;
    println!("CA:          {}", written.ca.display());
    println!("server cert: {}", written.server_cert.display());
    println!("server key:  {}", written.server_key.display());
    for (identity, cert, key) in &written.clients {
        println!("client {identity}: {} {}", cert.display(), key.display());
    }
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let ServeArgs {
        grpc_listen,
        http_listen,
        tls_cert,
        tls_key,
        client_ca,
        kubeconfig,
        namespaces,
        max_replicas,
        drain_timeout_seconds,
        shutdown_delay_seconds,
        stale_after_seconds,
        log_format,
        leader_elect,
        lease_name,
        lease_namespace,
        identity,
        lease_duration_seconds,
        lease_renew_grace_seconds,
        flap_max_corrections,
        flap_window_seconds,
        flap_cool_down_seconds,
        resync_seconds,
    } = args;
    anyhow::ensure!(
        lease_renew_grace_seconds > 0 && lease_renew_grace_seconds < lease_duration_seconds,
        "--lease-renew-grace-seconds must be more than 0 and less than --lease-duration-seconds"
    );
    anyhow::ensure!(flap_max_corrections > 0, "--flap-max-corrections must be at least 1");
    let identity = identity.unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "scalekeeper".into());
        format!("{}-{}", host.trim(), &uuid::Uuid::new_v4().simple().to_string()[..8])
    });
    init_logs(log_format, "info,kube=warn,tower=warn,h2=warn,hyper=warn");
    let client = server::kube_client(kubeconfig.as_deref()).await?;
    let scope = if namespaces.is_empty() { Scope::All } else { Scope::Namespaces(namespaces) };
    let server = Server::start(
        client,
        ServeConfig {
            grpc_listen,
            http_listen,
            tls: TlsFiles { cert: tls_cert, key: tls_key, client_ca },
            scope,
            max_replicas,
            drain_timeout: Duration::from_secs(drain_timeout_seconds),
            shutdown_delay: Duration::from_secs(shutdown_delay_seconds),
            stale_after: Duration::from_secs(stale_after_seconds),
            reconcile: ReconcileConfig {
                flap_max: flap_max_corrections,
                flap_window: Duration::from_secs(flap_window_seconds),
                cool_down: Duration::from_secs(flap_cool_down_seconds),
                resync: Duration::from_secs(resync_seconds),
                declaration_grace: scalekeeper::reconciler::DECLARATION_GRACE,
                instance: identity.clone(),
            },
            leader: leader_elect.then_some(LeaderConfig {
                namespace: lease_namespace,
                lease_name,
                identity,
                duration_seconds: lease_duration_seconds,
                grace_seconds: lease_renew_grace_seconds,
            }),
        },
    )
    .await?;
    server::shutdown_signal().await;
    tracing::info!("signal received: shutting down");
    server.shutdown().await
}
