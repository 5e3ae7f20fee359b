//! A steady GetDeployment (and optionally SetReplicas) load through one address (in `make upgrade-test` and
//! `make rollback-test`: a Kubernetes Service), under the documented client retry policy
//! (`docs/operations.md`, "Client retry policy"; the code is `scalekeeper::retry`, which the CLI
//! and the drain test use too). It counts every call that still fails after the policy's
//! attempts, and judges the rollout window (`tests/support/window.rs`, the drain test's verdict).
//!
//! ```sh
//! cargo run --locked -p scalekeeper --example steady_get -- --server localhost:30051 \
//!   --ca ca.pem --cert client.pem --key client-key.pem --target shop/web --target shop/cart
//! ```
//!
//! With `--write-every N`, every Nth call of each worker is a SetReplicas declaring
//! `--write-replicas` for `--write-target` (the same count each time) instead of a read.
//!
//! Each of `--workers` tasks has its own connection, so behind a Service the workers spread over
//! the pods, and starts a call every `--interval-ms`. It runs for `--duration-secs`, or (0, the
//! default) until SIGINT or SIGTERM; progress goes to stderr every 5 s, a one-line summary to
//! stdout and, with `--summary FILE`, a JSON summary (`calls`, `failed`, `retries`,
//! `max_latency_ms`, `p99_latency_ms`, `retried`, `failures`, `window`) to FILE.
//!
//! **The rollout window.** SIGUSR1 opens it (the script is about to start the rollout), SIGUSR2
//! closes it (every new pod is ready and every old pod is gone). Only the calls that overlap it
//! are judged: no failure, at least `--window-min-rate` calls started per second, none slower
//! than `--window-max-latency-ms`, and never more than `--window-max-gap-ms` without a
//! successful call. `--require-window` makes a window that was never opened and closed an error.
//!
//! Exit status: 0 when at least one call was made, none failed and the window (if any) passed;
//! 1 otherwise; 2 for a usage or setup error.

#[path = "../tests/support/window.rs"]
mod window;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use scalekeeper::retry;
use scalekeeper_api::v1::scale_service_client::ScaleServiceClient;
use scalekeeper_api::v1::{GetDeploymentRequest, SetReplicasRequest};
use tokio::signal::unix::{SignalKind, signal};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// Steady GetDeployment calls under the client retry policy; exits 1 if any call failed.
#[derive(Parser, Debug)]
struct Args {
    /// Server address HOST:PORT; the server's certificate must be valid for HOST.
    #[arg(long, default_value = "localhost:30051")]
    server: String,
    /// CA certificate (PEM) that signed the server's certificate.
    #[arg(long)]
    ca: PathBuf,
    /// Client certificate (PEM).
    #[arg(long)]
    cert: PathBuf,
    /// Client private key (PEM).
    #[arg(long)]
    key: PathBuf,
    /// Deployments to read, NAMESPACE/NAME, in turn (repeatable).
    #[arg(long = "target", default_value = "shop/web")]
    targets: Vec<String>,
    /// Concurrent workers, each with its own connection.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Milliseconds between the starts of a worker's calls.
    #[arg(long, default_value_t = 5)]
    interval_ms: u64,
    /// Seconds to run; 0: until SIGINT or SIGTERM.
    #[arg(long, default_value_t = 0)]
    duration_secs: u64,
    /// Deadline of each attempt, milliseconds.
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
    /// Write a JSON summary here.
    #[arg(long)]
    summary: Option<PathBuf>,
    /// The rollout window must start at least this many calls per second.
    #[arg(long, default_value_t = 100.0)]
    window_min_rate: f64,
    /// No call overlapping the rollout window may take longer (milliseconds, retries included).
    #[arg(long, default_value_t = 2000)]
    window_max_latency_ms: u64,
    /// The rollout window may not go longer than this without a successful call (milliseconds).
    #[arg(long, default_value_t = 1000)]
    window_max_gap_ms: u64,
    /// Fail unless a rollout window was opened (SIGUSR1) and closed (SIGUSR2).
    #[arg(long)]
    require_window: bool,
    /// Every Nth call of each worker is a SetReplicas of --write-target instead of a read;
    /// 0: reads only.
    #[arg(long, default_value_t = 0)]
    write_every: u64,
    /// The Deployment the writes declare a count for, NAMESPACE/NAME.
    #[arg(long, default_value = "shop/web")]
    write_target: String,
    /// The count the writes declare (the same each time, so the writes change nothing after
    /// the first and cause no rollout of their own).
    #[arg(long, default_value_t = 3)]
    write_replicas: i32,
}

/// What the workers write, when they write.
#[derive(Clone)]
struct Writes {
    every: u64,
    namespace: String,
    name: String,
    replicas: i32,
}

#[derive(Default)]
struct Stats {
    calls: AtomicU64,
    /// Of the calls, the SetReplicas.
    writes: AtomicU64,
    failed: AtomicU64,
    retries: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
    /// Every call, for the rollout window's verdict.
    log: Mutex<Vec<window::Call>>,
    retried: Mutex<BTreeMap<String, u64>>,
    failures: Mutex<Vec<String>>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the load; `Ok(true)` when every call succeeded.
async fn run(args: Args) -> anyhow::Result<bool> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let targets: Vec<(String, String)> = args
        .targets
        .iter()
        .map(|t| t.split_once('/').map(|(n, d)| (n.to_string(), d.to_string())))
        .collect::<Option<_>>()
        .context("--target must be NAMESPACE/NAME")?;
    let host = args.server.rsplit_once(':').map(|(h, _)| h).context("--server must be HOST:PORT")?;
    let read = |p: &PathBuf| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read(&args.ca)?))
        .identity(Identity::from_pem(read(&args.cert)?, read(&args.key)?))
        .domain_name(host);
    let endpoint = Endpoint::from_shared(format!("https://{}", args.server))?
        .tls_config(tls)?
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_millis(args.timeout_ms))
        // A connection to a pod that vanished without closing it fails fast (UNAVAILABLE).
        .http2_keep_alive_interval(Duration::from_secs(1))
        .keep_alive_timeout(Duration::from_secs(2));

    let writes = {
        let (namespace, name) = args.write_target.split_once('/').context("--write-target must be NAMESPACE/NAME")?;
        Writes {
            every: args.write_every,
            namespace: namespace.into(),
            name: name.into(),
            replicas: args.write_replicas,
        }
    };
    let stats = Arc::new(Stats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let targets = Arc::new(targets);
    let workers: Vec<_> = (0..args.workers)
        .map(|id| {
            // connect_lazy: a connection per worker, (re)made when a call needs it.
            let client = ScaleServiceClient::new(endpoint.connect_lazy());
            tokio::spawn(worker(
                id,
                client,
                targets.clone(),
                writes.clone(),
                Duration::from_millis(args.interval_ms),
                stats.clone(),
                stop.clone(),
            ))
        })
        .collect();

    let deadline = async {
        if args.duration_secs == 0 {
            std::future::pending::<()>().await
        } else {
            tokio::time::sleep(Duration::from_secs(args.duration_secs)).await
        }
    };
    let progress = async {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        tick.tick().await;
        loop {
            tick.tick().await;
            eprintln!(
                "steady_get: {:>4}s calls={} failed={} retries={}",
                started.elapsed().as_secs(),
                stats.calls.load(Ordering::Relaxed),
                stats.failed.load(Ordering::Relaxed),
                stats.retries.load(Ordering::Relaxed)
            );
        }
    };
    // The rollout window's edges, from SIGUSR1 and SIGUSR2.
    let mut open = signal(SignalKind::user_defined1()).context("installing the SIGUSR1 handler")?;
    let mut close = signal(SignalKind::user_defined2()).context("installing the SIGUSR2 handler")?;
    let (mut opened, mut closed) = (None::<Instant>, None::<Instant>);
    let run = async {
        tokio::select! {
            _ = deadline => {}
            _ = scalekeeper::server::shutdown_signal() => {}
            _ = progress => {}
        }
    };
    tokio::pin!(run);
    loop {
        tokio::select! {
            // The window's signals first: a SIGUSR2 sent just before SIGINT still closes it.
            biased;
            Some(()) = open.recv() => {
                opened = Some(Instant::now());
                closed = None;
                eprintln!("steady_get: {:>4}s rollout window opened", started.elapsed().as_secs());
            }
            Some(()) = close.recv() => {
                closed = Some(Instant::now());
                eprintln!("steady_get: {:>4}s rollout window closed", started.elapsed().as_secs());
            }
            _ = &mut run => break,
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.context("a worker panicked")?;
    }
    let bounds = window::Bounds {
        min_rate: args.window_min_rate,
        max_latency: Duration::from_millis(args.window_max_latency_ms),
        max_gap: Duration::from_millis(args.window_max_gap_ms),
    };
    let log = std::mem::take(&mut *stats.log.lock().unwrap_or_else(|e| e.into_inner()));
    let report = match (opened, closed) {
        (Some(from), Some(to)) => Some(window::evaluate(&log, from, to, &bounds)),
        _ => None,
    };
    let window_error = match (opened, closed, &report) {
        (_, _, Some(r)) => {
            println!("steady_get: {}", r.summary());
            for v in &r.violations {
                println!("  WINDOW: {v}");
            }
            !r.passed()
        }
        (Some(_), None, _) => {
            println!("steady_get: the rollout window was opened (SIGUSR1) but never closed (SIGUSR2)");
            true
        }
        _ if args.require_window => {
            println!("steady_get: no rollout window was marked (SIGUSR1, then SIGUSR2), and --require-window");
            true
        }
        _ => false,
    };

    let calls = stats.calls.load(Ordering::Relaxed);
    let failed = stats.failed.load(Ordering::Relaxed);
    let retries = stats.retries.load(Ordering::Relaxed);
    let mut latencies = std::mem::take(&mut *stats.latencies_us.lock().unwrap_or_else(|e| e.into_inner()));
    latencies.sort_unstable();
    let ms = |us: u64| us as f64 / 1000.0;
    let max = latencies.last().copied().unwrap_or(0);
    let p99 = latencies.get(latencies.len().saturating_sub(1) * 99 / 100).copied().unwrap_or(0);
    let retried = stats.retried.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let failures = stats.failures.lock().unwrap_or_else(|e| e.into_inner()).clone();
    println!(
        "steady_get: {calls} calls ({} SetReplicas) in {:.1}s, {failed} failed, {retries} retries, max latency {:.1} ms, p99 {:.1} ms",
        stats.writes.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
        ms(max),
        ms(p99)
    );
    for (why, n) in &retried {
        println!("  retried {n}x: {why}");
    }
    for f in &failures {
        println!("  FAILED: {f}");
    }
    if let Some(path) = &args.summary {
        let summary = serde_json::json!({
            "calls": calls,
            "writes": stats.writes.load(Ordering::Relaxed),
            "failed": failed,
            "retries": retries,
            "max_latency_ms": ms(max),
            "p99_latency_ms": ms(p99),
            "duration_s": started.elapsed().as_secs_f64(),
            "retried": retried,
            "failures": failures,
            "window": report.as_ref().map(|r| serde_json::json!({
                "seconds": r.window.as_secs_f64(),
                "calls": r.calls,
                "failed": r.failed,
                "rate_per_second": r.rate,
                "max_latency_ms": ms(r.max_latency.as_micros() as u64),
                "longest_gap_ms": ms(r.longest_gap.as_micros() as u64),
                "bounds": {
                    "min_rate_per_second": bounds.min_rate,
                    "max_latency_ms": args.window_max_latency_ms,
                    "max_gap_ms": args.window_max_gap_ms,
                },
                "violations": r.violations,
            })),
        });
        std::fs::write(path, serde_json::to_string_pretty(&summary)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(calls > 0 && failed == 0 && !window_error)
}

/// One worker: a GetDeployment every `interval` until `stop`, under the retry policy.
async fn worker(
    id: usize,
    client: ScaleServiceClient<Channel>,
    targets: Arc<Vec<(String, String)>>,
    writes: Writes,
    interval: Duration,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n = id;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let write = writes.every > 0 && (n as u64).is_multiple_of(writes.every);
        let (namespace, name) = if write {
            (&writes.namespace, &writes.name)
        } else {
            (&targets[n % targets.len()].0, &targets[n % targets.len()].1)
        };
        n += 1;
        let t = Instant::now();
        // Writes declare the same count each time: the documented policy retries them too
        // (docs/operations.md, "Writes").
        let (result, retries) = retry::call_with_retry(
            |_attempt| {
                let mut client = client.clone();
                let (namespace, name) = (namespace.clone(), name.clone());
                let replicas = writes.replicas;
                async move {
                    if write {
                        let request = SetReplicasRequest { namespace, name, replicas, ..Default::default() };
                        client.set_replicas(request).await.map(|_| ())
                    } else {
                        client.get_deployment(GetDeploymentRequest { namespace, name }).await.map(|_| ())
                    }
                }
            },
            |status| {
                let why = format!("{:?}: {}", status.code(), status.message());
                *stats.retried.lock().unwrap_or_else(|e| e.into_inner()).entry(why).or_default() += 1;
            },
        )
        .await;
        let end = Instant::now();
        let latency = end - t;
        stats.calls.fetch_add(1, Ordering::Relaxed);
        if write {
            stats.writes.fetch_add(1, Ordering::Relaxed);
        }
        stats.retries.fetch_add(u64::from(retries), Ordering::Relaxed);
        stats.latencies_us.lock().unwrap_or_else(|e| e.into_inner()).push(latency.as_micros() as u64);
        stats.log.lock().unwrap_or_else(|e| e.into_inner()).push(window::Call { start: t, end, ok: result.is_ok() });
        if let Err(status) = result {
            stats.failed.fetch_add(1, Ordering::Relaxed);
            let mut failures = stats.failures.lock().unwrap_or_else(|e| e.into_inner());
            if failures.len() < 20 {
                failures.push(format!(
                    "{} {namespace}/{name} after {} attempt(s), {latency:?}: {:?}: {}",
                    if write { "SetReplicas" } else { "GetDeployment" },
                    retries + 1,
                    status.code(),
                    status.message()
                ));
            }
        }
    }
}
