//! `make probe`: the adversarial probe's load cases against a `scalekeeper serve` process on
//! loopback, one after the other, and a table of what was sent, what came back, the server's
//! resident memory before, at its peak during and after the case, and whether the server was
//! healthy after it (a new mTLS connection gets SERVING from a health Check within 2 s and
//! `/readyz` answers 200). It fails when the server is not healthy after a case, or when slow
//! bodies raise its RSS past [`SLOW_BODY_RSS_BOUND_MIB`].
//!
//! The cases: slow bodies (100 health checks on 2 connections that never finish arriving,
//! announcing 4 MB, then announcing 60 KiB), handshake lockout (idle sockets and stalled
//! handshakes from six addresses while a new client connects), reset floods (rapid reset,
//! CVE-2023-44487, and "MadeYouReset", CVE-2025-8671), 2,000 idle mTLS connections, an 8 MiB
//! message, 1,000 messages of random bytes. The limits are the defaults of `scalekeeper serve`
//! (`crates/scalekeeper/src/limits.rs`); `docs/security.md` quotes the figures.
//!
//! kubesim runs in this process; the server is the release binary (`SCALEKEEPER_BIN` or
//! `target/release/scalekeeper`) in a process of its own, so that its RSS is its own. Every
//! loop is bounded and every socket is on 127/8.

mod common;
#[path = "../tests/support/probe.rs"]
mod probe;
#[path = "../tests/support/rawgrpc.rs"]
mod rawgrpc;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Child, SplitMix, rss_mib};
use hyper::body::Bytes;
use tokio::io::AsyncWriteExt as _;

const CHECK: &str = "/grpc.health.v1.Health/Check";
/// The most a slow-body case may add to the server's RSS at its peak, in MiB: the 16 MiB
/// partial requests may hold with the default limits, and 8 MiB for connections and buffers.
const SLOW_BODY_RSS_BOUND_MIB: f64 = 24.0;
const GET: &str = "/scalekeeper.v1.ScaleService/GetDeployment";

struct Server {
    _child: Child,
    pid: String,
    grpc: SocketAddr,
    http: SocketAddr,
    certs: scalekeeper::certs::DevCerts,
    tls: Arc<rustls::ClientConfig>,
}

impl Server {
    fn rss(&self) -> f64 {
        rss_mib(&self.pid).unwrap_or(f64::NAN)
    }

    async fn connect(&self, from: &str) -> h2::client::SendRequest<Bytes> {
        let (_, cert, key) = &self.certs.clients[0];
        rawgrpc::connect(self.grpc, &self.certs.ca, cert, key, from).await
    }

    /// A new connection gets SERVING within 2 s, and `/readyz` answers 200.
    async fn healthy(&self) -> bool {
        let check = async {
            let tls = rawgrpc::tls(self.grpc, self.tls.clone(), "127.0.0.1").await.ok()?;
            let (send, conn) = h2::client::handshake(tls).await.ok()?;
            tokio::spawn(conn);
            let (resp, _body) = rawgrpc::start_call(&send, CHECK, &rawgrpc::message(&[]), true).await;
            Some(rawgrpc::status_of(resp).await.0.code() == tonic::Code::Ok)
        };
        let serving = tokio::time::timeout(Duration::from_secs(2), check).await.ok().flatten() == Some(true);
        let ready = probe::http_get(self.http, "/readyz").await.is_some_and(|(code, _)| code == 200);
        serving && ready
    }

    async fn metric(&self, sample: &str) -> f64 {
        let Some((200, body)) = probe::http_get(self.http, "/metrics").await else { return f64::NAN };
        body.lines().find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.trim().parse().ok()).unwrap_or(0.0)
    }

    async fn refusals(&self, limit: &str) -> f64 {
        self.metric(&format!(r#"scalekeeper_limit_refusals_total{{limit="{limit}"}}"#)).await
    }
}

/// Samples a process's RSS every 20 ms until dropped; `peak` is the largest seen.
struct PeakRss {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<f64>,
}

impl PeakRss {
    fn start(pid: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (pid, flag) = (pid.to_owned(), stop.clone());
        let task = tokio::spawn(async move {
            let mut peak = 0.0f64;
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(rss_mib(&pid).unwrap_or(0.0));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            peak.max(rss_mib(&pid).unwrap_or(0.0))
        });
        Self { stop, task }
    }

    async fn peak(self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap_or(f64::NAN)
    }
}

struct Row {
    case: &'static str,
    sent: String,
    came_back: String,
    rss: (f64, f64, f64),
    healthy: bool,
}

/// Runs one case: its RSS before, at its peak and after (once what it held is let go and
/// the server settled), and the health check after it.
async fn case<F, Fut>(server: &Server, rows: &mut Vec<Row>, name: &'static str, sent: String, run: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = String>,
{
    let before = server.rss();
    let peak = PeakRss::start(&server.pid);
    let started = Instant::now();
    let came_back = run().await;
    let took = started.elapsed();
    let peak = peak.peak().await;
    // Let the server give back what the case held (connections closing, timers firing).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let healthy = server.healthy().await;
    let after = server.rss();
    println!(
        "{name}: {came_back} ({took:.1?}); RSS {before:.1} -> peak {peak:.1} -> {after:.1} MiB; healthy: {healthy}"
    );
    rows.push(Row { case: name, sent, came_back, rss: (before, peak, after), healthy });
}

/// Counts of status codes, as `12 DeadlineExceeded, 3 ResourceExhausted`.
fn tally(codes: impl IntoIterator<Item = String>) -> String {
    let mut counts = BTreeMap::<String, usize>::new();
    for c in codes {
        *counts.entry(c).or_default() += 1;
    }
    counts.iter().map(|(code, n)| format!("{n} {code}")).collect::<Vec<_>>().join(", ")
}

/// `calls` health checks on `connections` connections, each announcing a message of
/// `announced` bytes and sending `sent` of them, never ending its stream; the status each
/// ends with (or `no answer in 30 s`).
async fn slow_bodies(server: &Server, connections: usize, calls: usize, announced: u32, sent: usize) -> String {
    let mut conns = Vec::new();
    for _ in 0..connections {
        conns.push(server.connect("127.0.0.1").await);
    }
    let mut body = vec![0u8];
    body.extend_from_slice(&announced.to_be_bytes());
    body.resize(5 + sent, b's');
    let mut pending = Vec::new();
    for i in 0..calls {
        let (resp, stream) = rawgrpc::start_call(&conns[i % connections], CHECK, &body, false).await;
        pending.push(tokio::spawn(async move {
            let status = tokio::time::timeout(Duration::from_secs(30), rawgrpc::status_of(resp)).await;
            drop(stream);
            status.map_or_else(|_| "no answer in 30 s".to_string(), |(s, _)| format!("{:?}", s.code()))
        }));
    }
    let mut codes = Vec::new();
    for p in pending {
        codes.push(p.await.unwrap_or_else(|e| format!("task failed: {e}")));
    }
    tally(codes)
}

async fn start_server(kubeconfig: &std::path::Path, certs: scalekeeper::certs::DevCerts) -> anyhow::Result<Server> {
    let served = common::start_serve(kubeconfig, &certs).await?;
    let (_, cert, key) = &certs.clients[0];
    let tls = rawgrpc::client_config(&certs.ca, cert, key);
    let common::Served { child, pid, grpc_port, http } = served;
    Ok(Server { _child: child, pid, grpc: ([127, 0, 0, 1], grpc_port).into(), http, certs, tls })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = kubesim::Sim::start(kubesim::SimConfig::default()).await?;
    for crd in scalekeeper::crds::all() {
        sim.apply(serde_json::to_value(crd)?)?;
    }
    for i in 0..100 {
        sim.apply(common::deployment(i, "shop"))?;
    }
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig)?;
    let certs = scalekeeper::certs::write_dev_certs(&dir.path().join("certs"), &[], &["prober".into()], 1)?;
    let server = start_server(&kubeconfig, certs).await?;
    println!("{}", common::machine());
    println!("scalekeeper serve (pid {}) ready, RSS {:.1} MiB, default limits", server.pid, server.rss());
    let mut rows = Vec::new();

    case(
        &server,
        &mut rows,
        "slow bodies, 4 MB",
        "100 health checks on 2 connections announcing 4,000,000 bytes, 64 KiB sent, never ended".into(),
        || slow_bodies(&server, 2, 100, 4_000_000, 65_536),
    )
    .await;

    case(
        &server,
        &mut rows,
        "slow bodies, 60 KiB",
        "100 health checks on 2 connections announcing 61,440 bytes, all but 1 sent, never ended".into(),
        || slow_bodies(&server, 2, 100, 61_440, 61_439),
    )
    .await;

    case(
        &server,
        &mut rows,
        "handshake lockout",
        "300 silent sockets from each of 127.0.0.2-.5, 100 handshakes stalled after 1 byte from each of .6-.7; then a new client".into(),
        || async {
            let before = (
                server.refusals("connections_per_ip").await,
                server.refusals("tls_handshakes_per_ip").await,
                server.refusals("tls_handshakes").await,
            );
            let mut held = Vec::new();
            for peer in ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"] {
                for _ in 0..300 {
                    if let Ok(s) = rawgrpc::tcp_from(peer, server.grpc).await {
                        held.push(s);
                    }
                }
            }
            for peer in ["127.0.0.6", "127.0.0.7"] {
                for _ in 0..100 {
                    if let Ok(mut s) = rawgrpc::tcp_from(peer, server.grpc).await {
                        let _ = s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).await;
                        held.push(s);
                    }
                }
            }
            let started = Instant::now();
            let new_client = server.healthy().await;
            let took = started.elapsed();
            let after = (
                server.refusals("connections_per_ip").await,
                server.refusals("tls_handshakes_per_ip").await,
                server.refusals("tls_handshakes").await,
            );
            drop(held);
            format!(
                "new client {} in {:.0} ms; refused: {} past the per-IP connection limit, {} past the per-IP handshake limit, {} past the total",
                if new_client { "connected and called" } else { "FAILED" },
                took.as_secs_f64() * 1000.0,
                after.0 - before.0,
                after.1 - before.1,
                after.2 - before.2,
            )
        },
    )
    .await;

    for (name, variant) in [("reset flood: rapid reset", 0x3u8), ("reset flood: MadeYouReset", 0x8u8)] {
        let sent = if variant == 0x3 {
            "10,000 streams on one connection, each HEADERS then RST_STREAM(CANCEL)"
        } else {
            "10,000 streams on one connection, each HEADERS then a WINDOW_UPDATE that overflows it"
        };
        case(&server, &mut rows, name, sent.into(), || async {
            let Ok(tls) = rawgrpc::tls(server.grpc, server.tls.clone(), "127.0.0.1").await else {
                return "TLS handshake failed".into();
            };
            let (mut rd, mut wr) = tokio::io::split(tls);
            let flood = tokio::spawn(async move {
                wr.write_all(&rawgrpc::preface()).await?;
                let headers = rawgrpc::health_check_headers();
                for i in 0..10_000u32 {
                    let id = 2 * i + 1;
                    let mut batch = rawgrpc::frame(0x1, 0x4, id, &headers);
                    let payload = if variant == 0x3 { 0x8u32 } else { 0x7fff_ffff };
                    batch.extend(rawgrpc::frame(variant, 0, id, &payload.to_be_bytes()));
                    wr.write_all(&batch).await?;
                }
                wr.flush().await?;
                Ok::<_, std::io::Error>(wr)
            });
            let goaway = tokio::time::timeout(Duration::from_secs(30), rawgrpc::read_goaway(&mut rd)).await;
            flood.abort();
            match goaway {
                Ok(Some(rawgrpc::ENHANCE_YOUR_CALM)) => "GOAWAY ENHANCE_YOUR_CALM".into(),
                Ok(Some(code)) => format!("GOAWAY with error code {code:#x}"),
                Ok(None) => "the connection closed without GOAWAY".into(),
                Err(_) => "no GOAWAY within 30 s".into(),
            }
        })
        .await;
    }

    case(
        &server,
        &mut rows,
        "idle connections",
        "2,000 mTLS + HTTP/2 connections from 127.0.0.2-.9 (250 each), held idle".into(),
        || async {
            let mut held = Vec::new();
            let mut failed = 0;
            for i in 0..2_000 {
                let from = format!("127.0.0.{}", 2 + i % 8);
                match rawgrpc::tls(server.grpc, server.tls.clone(), &from).await {
                    Ok(tls) => match h2::client::handshake(tls).await {
                        Ok((send, conn)) => held.push((send, tokio::spawn(conn))),
                        Err(_) => failed += 1,
                    },
                    Err(_) => failed += 1,
                }
            }
            let open = server.metric("scalekeeper_grpc_open_connections").await;
            let healthy_meanwhile = server.healthy().await;
            for (_, conn) in &held {
                conn.abort();
            }
            drop(held);
            format!(
                "{open} open, {failed} failed; a new client meanwhile: {}",
                if healthy_meanwhile { "served" } else { "FAILED" }
            )
        },
    )
    .await;

    case(&server, &mut rows, "8 MiB message", "one GetDeployment of 8 MiB, sent whole".into(), || async {
        let send = server.connect("127.0.0.1").await;
        let (resp, _body) = rawgrpc::start_call(&send, GET, &rawgrpc::message(&vec![b'x'; 8 << 20]), true).await;
        let (status, _) = rawgrpc::status_of(resp).await;
        format!("{:?}", status.code())
    })
    .await;

    case(
        &server,
        &mut rows,
        "random messages",
        "1,000 GetDeployment messages of 1-512 random bytes on one connection".into(),
        || async {
            let send = server.connect("127.0.0.1").await;
            let mut rng = SplitMix(28);
            let mut codes = Vec::new();
            for _ in 0..1_000 {
                let len = 1 + rng.below(512) as usize;
                let (resp, _body) = rawgrpc::start_call(&send, GET, &rawgrpc::message(&rng.bytes(len)), true).await;
                codes.push(format!("{:?}", rawgrpc::status_of(resp).await.0.code()));
            }
            tally(codes)
        },
    )
    .await;

    println!();
    println!("| case | sent | came back | RSS before → peak → after (MiB) | healthy after |");
    println!("|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.1} → {:.1} → {:.1} | {} |",
            r.case,
            r.sent,
            r.came_back,
            r.rss.0,
            r.rss.1,
            r.rss.2,
            if r.healthy { "yes" } else { "**no**" }
        );
    }
    let unhealthy: Vec<_> = rows.iter().filter(|r| !r.healthy).map(|r| r.case).collect();
    // Partial requests hold at most --max-request-bytes x --max-receiving-requests (16 MiB
    // with the defaults); the slow-body cases may add that and the buffers of their 2
    // connections, never the 383 MiB they once did.
    let over: Vec<_> = rows
        .iter()
        .filter(|r| r.case.starts_with("slow bodies") && r.rss.1 - r.rss.0 > SLOW_BODY_RSS_BOUND_MIB)
        .map(|r| format!("{}: +{:.1} MiB", r.case, r.rss.1 - r.rss.0))
        .collect();
    drop(server);
    sim.shutdown().await;
    anyhow::ensure!(unhealthy.is_empty(), "the server was not healthy after: {}", unhealthy.join(", "));
    anyhow::ensure!(
        over.is_empty(),
        "slow bodies grew RSS past the bound of {SLOW_BODY_RSS_BOUND_MIB} MiB: {}",
        over.join(", ")
    );
    println!("slow bodies stayed within their RSS bound of +{SLOW_BODY_RSS_BOUND_MIB} MiB");
    Ok(())
}
