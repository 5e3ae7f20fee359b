//! `make bench` (kubesim part): measures what the kubesim issue asks for, with kube-rs as
//! the client, and prints the figures.
//!
//! 1. Time for kube-rs to list 10,000 Deployments in pages of 500 (median of 5 runs).
//! 2. Watch latency: a write (PATCH of the scale subresource) until its event arrives at a
//!    watcher, p50/p99 over 1,000 sequential writes.
//! 3. Fan-out: 200 concurrent watchers, 100 writes; latency from each write to its arrival
//!    at every watcher, p50/p99, and that every watcher saw every event.
//! 4. Resident memory of the process holding the 10,000 Deployments.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams, Patch, PatchParams, WatchEvent, WatchParams};
use serde_json::json;

const DEPLOYMENTS: usize = 10_000;
const WRITES: usize = 1_000;
const WATCHERS: usize = 200;
const FANOUT_WRITES: usize = 100;

fn deployment(ns: &str, i: usize) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": format!("app-{i:05}"), "namespace": ns, "labels": {"app": format!("app-{i:05}"), "bench": "true"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": format!("app-{i:05}")}},
                 "template": {"metadata": {"labels": {"app": format!("app-{i:05}")}},
                              "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.0"}]}}}
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(String::from))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sim =
        kubesim::Sim::start(kubesim::SimConfig { deployment_delay: Duration::from_millis(10), ..Default::default() })
            .await?;
    let client = sim.client().await?;
    let rss_before = rss_mib();
    let t = Instant::now();
    for i in 0..DEPLOYMENTS {
        let ns = if i % 2 == 0 { "bench-a" } else { "bench-b" };
        sim.apply(deployment(ns, i))?;
    }
    println!("seeded {DEPLOYMENTS} Deployments in {:.2?}", t.elapsed());
    // Let the Deployment controller finish its status writes before measuring.
    let api: Api<Deployment> = Api::all(client.clone());
    let mut settle = 0;
    while settle < 100 {
        let page = api.list(&ListParams::default().limit(1)).await?;
        let rv = page.metadata.resource_version.unwrap_or_default();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let again = api.list(&ListParams::default().limit(1)).await?.metadata.resource_version.unwrap_or_default();
        if rv == again {
            break;
        }
        settle += 1;
    }
    println!(
        "kubesim RSS with {DEPLOYMENTS} Deployments: {:.1} MiB (process, before seeding: {:.1} MiB)",
        rss_mib(),
        rss_before
    );

    // 1. Paginated list.
    let mut runs = vec![];
    for _ in 0..5 {
        let t = Instant::now();
        let mut n = 0;
        let mut lp = ListParams::default().limit(500);
        loop {
            let page = api.list(&lp).await?;
            n += page.items.len();
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(c) => lp = lp.continue_token(&c),
                None => break,
            }
        }
        anyhow::ensure!(n == DEPLOYMENTS, "listed {n}, expected {DEPLOYMENTS}");
        runs.push(t.elapsed());
    }
    runs.sort();
    println!(
        "list {DEPLOYMENTS} Deployments, pages of 500 (kube-rs): median {:.1?}, min {:.1?}, max {:.1?}",
        runs[2], runs[0], runs[4]
    );

    // 2. Watch latency, one watcher, sequential writes.
    let ns_api: Api<Deployment> = Api::namespaced(client.clone(), "bench-a");
    let rv = ns_api.list(&ListParams::default().limit(1)).await?.metadata.resource_version.unwrap_or_default();
    let mut stream = ns_api.watch(&WatchParams::default().fields("metadata.name=app-00000"), &rv).await?.boxed();
    let pp = PatchParams::default();
    let mut lat = Vec::with_capacity(WRITES);
    for i in 0..WRITES {
        let replicas = 2 + (i % 50) as i32;
        let t = Instant::now();
        ns_api.patch_scale("app-00000", &pp, &Patch::Merge(json!({"spec": {"replicas": replicas}}))).await?;
        loop {
            match stream.try_next().await? {
                Some(WatchEvent::Modified(d)) if d.spec.as_ref().and_then(|s| s.replicas) == Some(replicas) => break,
                Some(_) => continue,
                None => anyhow::bail!("watch ended"),
            }
        }
        lat.push(t.elapsed());
    }
    lat.sort();
    println!(
        "watch latency (write sent → event received), {WRITES} writes: p50 {:.0?}, p99 {:.0?}, max {:.0?}",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat[lat.len() - 1]
    );
    drop(stream);

    // 3. Fan-out to 200 watchers.
    let rv = ns_api.list(&ListParams::default().limit(1)).await?.metadata.resource_version.unwrap_or_default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    let mut handles = vec![];
    for w in 0..WATCHERS {
        let api = ns_api.clone();
        let rv = rv.clone();
        let tx = tx.clone();
        handles.push(tokio::spawn(async move {
            let mut s =
                api.watch(&WatchParams::default().fields("metadata.name=app-00002").timeout(120), &rv).await?.boxed();
            let mut seen = 0;
            let mut last = None;
            while seen < FANOUT_WRITES {
                match s.try_next().await? {
                    // Status writes of the Deployment controller also arrive; count spec changes.
                    Some(WatchEvent::Modified(d)) if d.spec.as_ref().and_then(|s| s.replicas) != last => {
                        last = d.spec.as_ref().and_then(|s| s.replicas);
                        seen += 1;
                        let _ = tx.send((w, Instant::now()));
                    }
                    Some(_) => {}
                    None => anyhow::bail!("watch {w} ended after {seen}"),
                }
            }
            anyhow::Ok(seen)
        }));
    }
    drop(tx);
    // Wait until every watcher is connected.
    let deadline = Instant::now() + Duration::from_secs(30);
    while sim.watcher_count() < WATCHERS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("open watches: {}", sim.watcher_count());
    let mut fan = Vec::with_capacity(WATCHERS * FANOUT_WRITES);
    let t_all = Instant::now();
    for i in 0..FANOUT_WRITES {
        let t = Instant::now();
        ns_api.patch_scale("app-00002", &pp, &Patch::Merge(json!({"spec": {"replicas": 10 + i as i32}}))).await?;
        for _ in 0..WATCHERS {
            let (_, at) = rx.recv().await.ok_or_else(|| anyhow::anyhow!("watchers gone"))?;
            fan.push(at.duration_since(t));
        }
    }
    let elapsed = t_all.elapsed();
    let mut ok = 0;
    for h in handles {
        if h.await?? == FANOUT_WRITES {
            ok += 1;
        }
    }
    fan.sort();
    println!(
        "{WATCHERS} watchers × {FANOUT_WRITES} writes: every event delivered to {ok}/{WATCHERS} watchers in {elapsed:.2?}; \
         write → event p50 {:.1?}, p99 {:.1?}",
        percentile(&fan, 0.5),
        percentile(&fan, 0.99)
    );
    let _ = client;
    sim.shutdown().await;
    Ok(())
}
