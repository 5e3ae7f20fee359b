//! What kubesim holds under churn, over time: the resident memory of the process, the changes
//! in its watch history and the Events stored, sampled every 10 s while clients keep writing
//! through the API as `scalekeeper dev` under a soak does — a Deployment scaled (`PATCH
//! .../scale`) and an Event recorded about it (a new Event each time, the worst case: distinct
//! notes never aggregate).
//!
//! ```sh
//! cargo run --profile bench-harness -p kubesim --example kubesim_churn -- --seconds 300
//! cargo run --profile bench-harness -p kubesim --example kubesim_churn -- --seconds 300 --history 100000 --event-ttl 0
//! ```
//!
//! The first run keeps what `scalekeeper dev` keeps by default (10,000 changes) with the TTL
//! shortened so that the Events reach their steady state within the run; the second what
//! kubesim kept before issue 28 (100,000 changes, Events for ever). docs/kubesim.md has the
//! figures.

use std::time::{Duration, Instant};

use clap::Parser;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

/// Churns a kubesim and prints what it holds.
#[derive(Parser)]
struct Args {
    /// How long to churn, in seconds.
    #[arg(long, default_value_t = 300)]
    seconds: u64,
    /// Corrections per second (each a scale write and an Event).
    #[arg(long, default_value_t = 100)]
    rate: u64,
    /// Deployments scaled in turn.
    #[arg(long, default_value_t = 20)]
    deployments: usize,
    /// `SimConfig::history`: changes kept for watches.
    #[arg(long, default_value_t = 10_000)]
    history: usize,
    /// `SimConfig::event_ttl` in seconds; 0 keeps Events for ever.
    #[arg(long, default_value_t = 60)]
    event_ttl: u64,
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(String::from))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn deployment(i: usize) -> serde_json::Value {
    let name = format!("app-{i:03}");
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "churn", "labels": {"app": name}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.0"}]}}}
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let event_ttl = (args.event_ttl > 0).then(|| Duration::from_secs(args.event_ttl));
    let sim = kubesim::Sim::start(kubesim::SimConfig {
        deployment_delay: Duration::from_millis(50),
        history: args.history,
        event_ttl,
        ..Default::default()
    })
    .await?;
    for i in 0..args.deployments {
        sim.apply(deployment(i))?;
    }
    let client = sim.client().await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "churn");
    let events: Api<Event> = Api::namespaced(client, "churn");
    println!(
        "history {} changes, event TTL {event_ttl:?}, {} corrections/s over {} Deployments, {} s",
        args.history, args.rate, args.deployments, args.seconds
    );
    println!("{:>6} {:>9} {:>9} {:>9} {:>8}", "t (s)", "writes", "RSS MiB", "retained", "events");
    let start = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / args.rate.max(1) as u32);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut next_sample = Duration::ZERO;
    let rv0 = sim.resource_version();
    let mut n: u64 = 0;
    while start.elapsed() < Duration::from_secs(args.seconds) {
        if start.elapsed() >= next_sample {
            println!(
                "{:>6} {:>9} {:>9.1} {:>9} {:>8}",
                next_sample.as_secs(),
                sim.resource_version() - rv0,
                rss_mib(),
                sim.retained_changes(),
                sim.stored_events()
            );
            next_sample += Duration::from_secs(10);
        }
        ticker.tick().await;
        let name = format!("app-{:03}", n as usize % args.deployments);
        let replicas = 2 + (n % 7) as i32;
        deployments
            .patch_scale(&name, &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": replicas}})))
            .await?;
        let e: Event = serde_json::from_value(json!({
            "metadata": {"name": format!("{name}.{n:x}")},
            "eventTime": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            "reportingController": "scalekeeper", "reportingInstance": "scalekeeper-dev",
            "action": format!("Reconcile-{n:016x}"), "reason": "DriftCorrected", "type": "Normal",
            "note": format!("spec.replicas {replicas} -> 1 (it had been changed by churn, correction {n})"),
            "regarding": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "namespace": "churn"}
        }))?;
        events.create(&PostParams::default(), &e).await?;
        n += 1;
    }
    println!(
        "{:>6} {:>9} {:>9.1} {:>9} {:>8}",
        start.elapsed().as_secs(),
        sim.resource_version() - rv0,
        rss_mib(),
        sim.retained_changes(),
        sim.stored_events()
    );
    Ok(())
}
