//! `kubesim serve`: runs an in-memory Kubernetes API server until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// An in-memory Kubernetes API server that kubectl and kube-rs accept.
#[derive(Parser)]
#[command(name = "kubesim", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API until SIGINT or SIGTERM.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the kubeconfig carries the real one).
    #[arg(long, env = "KUBESIM_LISTEN", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Where to write a kubeconfig for kubectl and kube-rs.
    #[arg(long, env = "KUBESIM_KUBECONFIG")]
    kubeconfig: PathBuf,
    /// Multi-document YAML files of objects to load at start (repeatable).
    #[arg(long)]
    seed: Vec<PathBuf>,
    /// Serve HTTPS with a generated CA (written into the kubeconfig).
    #[arg(long)]
    tls: bool,
    /// Require this bearer token (written into the kubeconfig); it authenticates as
    /// kubesim-admin (groups system:masters, system:authenticated).
    #[arg(long, env = "KUBESIM_TOKEN")]
    token: Option<String>,
    /// A further user, authenticated by its own bearer token: NAME:TOKEN[:GROUP,...]
    /// (repeatable). `--user-kubeconfig-dir` writes a kubeconfig for each.
    #[arg(long = "user", value_name = "NAME:TOKEN[:GROUP,...]")]
    users: Vec<kubesim::SimUser>,
    /// Where to write one kubeconfig per `--user` (`<dir>/<name>.kubeconfig`).
    #[arg(long)]
    user_kubeconfig_dir: Option<PathBuf>,
    /// Where a webhook's `clientConfig.service` is reached: NAMESPACE/NAME:PORT=HOST:PORT
    /// (repeatable); its certificate is verified for NAME.NAMESPACE.svc.
    #[arg(long = "service-route", value_name = "NAMESPACE/NAME:PORT=ADDR")]
    service_routes: Vec<kubesim::ServiceRoute>,
    /// Milliseconds the Deployment controller takes to make status match spec.
    #[arg(long, default_value_t = 200)]
    deployment_delay_ms: u64,
    /// Changes kept for watches to resume from; older resourceVersions get 410 Gone.
    #[arg(long, default_value_t = 100_000)]
    history: usize,
    /// Address of the admin endpoint (faults, down/up); off when not given.
    #[arg(long, env = "KUBESIM_ADMIN_LISTEN")]
    admin_listen: Option<SocketAddr>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let Cli { command: Command::Serve(args) } = Cli::parse();
    let ServeArgs {
        listen,
        kubeconfig,
        seed,
        tls,
        token,
        users,
        user_kubeconfig_dir,
        service_routes,
        deployment_delay_ms,
        history,
        admin_listen,
    } = args;
    let user_names: Vec<String> = users.iter().map(|u| u.name.clone()).collect();
    let sim = kubesim::Sim::start(kubesim::SimConfig {
        listen,
        tls,
        token,
        users,
        service_routes,
        deployment_delay: Duration::from_millis(deployment_delay_ms),
        history,
        admin_listen,
        ..Default::default()
    })
    .await?;
    for file in &seed {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading seed {}", file.display()))?;
        let n = sim.seed_yaml(&text).with_context(|| format!("loading seed {}", file.display()))?;
        tracing::info!(file = %file.display(), objects = n, "seeded");
    }
    sim.write_kubeconfig(&kubeconfig).with_context(|| format!("writing kubeconfig {}", kubeconfig.display()))?;
    if let Some(dir) = &user_kubeconfig_dir {
        for name in &user_names {
            sim.write_kubeconfig_for(name, &dir.join(format!("{name}.kubeconfig")))?;
        }
    }
    tracing::info!(url = %sim.url(), kubeconfig = %kubeconfig.display(), admin = ?sim.admin_addr(), "kubesim serving");
    println!("kubesim serving at {} (kubeconfig: {})", sim.url(), kubeconfig.display());
    shutdown_signal().await;
    tracing::info!("shutting down");
    sim.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
