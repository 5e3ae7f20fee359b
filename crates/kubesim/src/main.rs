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
    #[arg(long, default_value_t = kubesim::DEFAULT_HISTORY)]
    history: usize,
    /// How long an Event lives after its last write, as kube-apiserver's --event-ttl (e.g.
    /// 1h, 10m, 30s; a bare number is seconds); 0 keeps Events until deleted.
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    event_ttl: Ttl,
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
        event_ttl,
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
        event_ttl: event_ttl.0,
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

/// An Event TTL as `--event-ttl` gives it: `None` for 0 (never expire).
#[derive(Debug, Clone, Copy)]
struct Ttl(Option<Duration>);

/// Parses `--event-ttl`: a duration as jiff reads it (`1h`, `1h0m0s`, `90s`, `PT1H`), or a
/// bare number of seconds; 0 means Events never expire.
fn parse_ttl(s: &str) -> Result<Ttl, String> {
    let s = s.trim();
    let d = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        Duration::from_secs(s.parse::<u64>().map_err(|e| format!("{s:?}: {e}"))?)
    } else {
        let signed: jiff::SignedDuration =
            s.parse().map_err(|e| format!("{s:?} is not a duration (e.g. 1h, 10m, 30s): {e}"))?;
        Duration::try_from(signed).map_err(|_| format!("{s:?} is negative"))?
    };
    Ok(Ttl(Some(d).filter(|d| !d.is_zero())))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ttl_reads_durations_and_zero_is_never() {
        assert_eq!(parse_ttl("1h").map(|t| t.0), Ok(Some(Duration::from_secs(3600))));
        assert_eq!(parse_ttl("1h0m0s").map(|t| t.0), Ok(Some(Duration::from_secs(3600))), "kube-apiserver's form");
        assert_eq!(parse_ttl("90").map(|t| t.0), Ok(Some(Duration::from_secs(90))));
        assert_eq!(parse_ttl("500ms").map(|t| t.0), Ok(Some(Duration::from_millis(500))));
        assert_eq!(parse_ttl("0").map(|t| t.0), Ok(None));
        assert_eq!(parse_ttl("0s").map(|t| t.0), Ok(None));
        assert!(parse_ttl("-1m").is_err());
        assert!(parse_ttl("soon").is_err());
    }

    #[test]
    fn serve_defaults_keep_100000_changes_and_events_for_an_hour() {
        let Cli { command: Command::Serve(args) } =
            Cli::try_parse_from(["kubesim", "serve", "--kubeconfig", "k"]).expect("parses");
        assert_eq!(args.history, 100_000);
        assert_eq!(args.event_ttl.0, Some(Duration::from_secs(3600)));
    }
}
