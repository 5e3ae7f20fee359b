//! What the `make bench` harnesses share: the seeded Deployment, a `scalekeeper serve`
//! process guard, and the measurements of a process (RSS, CPU time) and of latencies.
#![allow(dead_code)]

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

/// The Deployment every bench seeds, `svc-<i>` in `namespace`: a pod template with two
/// environment variables and resource requests, and an 800-byte
/// `last-applied-configuration` annotation, as `kubectl apply` leaves one.
pub fn deployment(i: usize, namespace: &str) -> Value {
    let name = format!("svc-{i:06}");
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"app": name, "team": namespace},
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "x".repeat(800)}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.0",
                                       "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                                       "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}}
    })
}

/// The workspace's root directory.
pub fn workspace_root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `scalekeeper` binary to measure: `SCALEKEEPER_BIN`, else the release build under `root`.
///
/// # Errors
///
/// The file does not exist.
pub fn server_binary(root: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let bin: std::path::PathBuf =
        std::env::var("SCALEKEEPER_BIN").map(Into::into).unwrap_or_else(|_| root.join("target/release/scalekeeper"));
    anyhow::ensure!(bin.exists(), "{} not found: build it with `cargo build --release -p scalekeeper`", bin.display());
    Ok(bin)
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Resident memory of a process (`self` for this one), from `/proc/<pid>/status` (`VmRSS`), in MiB.
pub fn rss_mib(pid: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Clock ticks per second, the unit of `/proc/<pid>/stat` CPU times.
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// User plus system CPU time of a process so far (`self` for this one), from
/// `/proc/<pid>/stat` (utime and stime, fields 14 and 15), in seconds.
pub fn cpu_seconds(pid: &str, ticks: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3, the state.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks)
}

/// The `p` quantile (0..=1) of sorted latencies; zero for none.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

/// One measured phase: one call on every channel for one duration.
#[derive(Default)]
pub struct Phase {
    /// Successful calls' latencies, sorted.
    pub latencies: Vec<Duration>,
    /// Failed calls.
    pub errors: usize,
    /// Items the calls returned (Deployments or diffs), over every call.
    pub items: usize,
    /// How long the phase ran.
    pub elapsed: Duration,
    /// CPU seconds the server used during the phase.
    pub server_cpu: Option<f64>,
    /// CPU seconds this process (clients and kubesim) used during the phase.
    pub bench_cpu: Option<f64>,
}

impl Phase {
    /// The server's CPU time per successful call, in microseconds.
    pub fn server_us_per_call(&self) -> Option<f64> {
        self.server_cpu.filter(|_| !self.latencies.is_empty()).map(|c| c * 1e6 / self.latencies.len() as f64)
    }

    /// Successful calls per second.
    pub fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// The 99th percentile latency.
    pub fn p99(&self) -> Duration {
        percentile(&self.latencies, 0.99)
    }
}

/// A child process, sent SIGTERM and reaped when dropped.
pub struct Child(pub std::process::Child);

impl Child {
    /// Its process id, as `/proc` names it.
    pub fn pid(&self) -> String {
        self.0.id().to_string()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

/// The machine, for a figure's method line: CPU model, online CPUs, memory, load average.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split(':').nth(1).map(str::trim))
        .unwrap_or("unknown CPU")
        .to_string();
    // Every CPU of the machine: this process may be pinned to fewer (see `pin`).
    let cpus = cpuinfo.lines().filter(|l| l.starts_with("processor")).count();
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| l.strip_prefix("MemTotal:")?.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    format!("{cpus} CPUs ({model}), {mem_gib:.0} GiB, load average {load}")
}

/// Restricts every thread of process `pid` (`self` for this one) to the CPUs in `cpus` (a
/// `taskset` list such as `0` or `1-3`); threads it starts later inherit the set.
///
/// # Errors
///
/// `taskset` is missing or refuses (a CPU that does not exist).
pub fn pin(pid: &str, cpus: &str) -> anyhow::Result<()> {
    let pid = if pid == "self" { std::process::id().to_string() } else { pid.to_string() };
    let out = Command::new("taskset").args(["--all-tasks", "--cpu-list", "--pid", cpus, &pid]).output()?;
    anyhow::ensure!(out.status.success(), "taskset {cpus} {pid}: {}", String::from_utf8_lossy(&out.stderr).trim());
    Ok(())
}

/// A splitmix64 stream (Steele, Lea and Flood, "Fast splittable pseudorandom number
/// generators", OOPSLA 2014): random-looking numbers without a dependency, the same every run
/// for the same seed.
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Open file descriptors of a process, from `/proc/<pid>/fd`.
pub fn open_fds(pid: &str) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// Threads of a process, from `/proc/<pid>/status` (`Threads`).
pub fn threads(pid: &str) -> Option<usize> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("Threads:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// A `scalekeeper serve` the load harnesses (probe, soak) started: the release binary on two
/// free loopback ports with the dev certificates, authorization allow-any, JSON logs at warn.
pub struct Served {
    /// The process (killed when dropped).
    pub child: Child,
    /// Its pid, for RSS, fds and threads.
    pub pid: String,
    /// The gRPC port on 127.0.0.1.
    pub grpc_port: u16,
    /// The HTTP address (probes, metrics).
    pub http: std::net::SocketAddr,
}

/// Starts [`Served`] against the cluster of `kubeconfig` with `certs`, and waits until its
/// `/readyz` answers 200.
///
/// # Errors
///
/// No release binary, no free port, the process does not start, or it is not ready within
/// 60 s.
pub async fn start_serve(kubeconfig: &std::path::Path, certs: &scalekeeper::certs::DevCerts) -> anyhow::Result<Served> {
    use anyhow::Context as _;
    let bin = server_binary(&workspace_root())?;
    let (grpc_port, http_port) = (free_port()?, free_port()?);
    let child = Child(
        Command::new(&bin)
            .args(["serve", "--log-format", "json", "--authorization=allow-any"])
            .arg(format!("--grpc-listen=127.0.0.1:{grpc_port}"))
            .arg(format!("--http-listen=127.0.0.1:{http_port}"))
            .arg("--tls-cert")
            .arg(&certs.server_cert)
            .arg("--tls-key")
            .arg(&certs.server_key)
            .arg("--client-ca")
            .arg(&certs.ca)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?,
    );
    let pid = child.pid();
    let http: std::net::SocketAddr = ([127, 0, 0, 1], http_port).into();
    testkit::try_wait_for_async(
        "the server ready (GET /readyz 200)",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || async {
            testkit::http_get(http, "/readyz", Duration::from_secs(1)).await.is_some_and(|(code, _)| code == 200)
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Served { child, pid, grpc_port, http })
}
