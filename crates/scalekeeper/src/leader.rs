//! Leader election on a `coordination.k8s.io/v1` Lease, with kube-lease-manager.
//!
//! kube-lease-manager acquires, renews and releases the Lease (server-side apply, so two
//! replicas can never both hold it). What this module adds is the rule for what the replica
//! *advertises* (the `is_leader` channel that starts and stops the reconciler, and with it the
//! `scalekeeper_leader` gauge):
//!
//! > leading ⇔ the manager believes it holds the Lease **and** the Lease object, as last seen
//! > through our own watch, names this replica with a term that has not yet come within the
//! > safety margin of its end.
//!
//! Both halves matter. The manager's belief alone was once the whole rule, and an outage broke
//! it for good: a failed renewal made this module send `false`, but the manager still believed
//! it held the Lease, so when the API answered again it went on renewing silently and never
//! reported a change — a replica that held the Lease and did not reconcile, blocking every
//! successor. Now every manager error drops the manager; a fresh one (which believes nothing)
//! reads the Lease back, and if it still names this replica, reports `true` again.
//!
//! The term half is the fence for a partition: a leader whose renewals hang (black-holed
//! connections, no error ever returned) stops leading at `renewTime + leaseDurationSeconds -
//! margin` (margin = half the renew grace), by its own clock, which is the clock that wrote
//! `renewTime`. A successor cannot take the Lease before `renewTime + leaseDurationSeconds`, so
//! the old leader's reconciler is stopped `margin` before anyone else may start one.
//!
//! A watch on the Lease also serves followers: when one sees the Lease released (a leader's
//! graceful hand-over), it replaces its manager by a fresh one, which reads the Lease at once
//! and takes it within milliseconds instead of after the lease duration.
//!
//! ```text
//!   LeaseManager::changed() ──holds?──┐
//!   watch(Lease) ──renewTime, holder──┼──► leading(now) ──► watch::Sender<bool> ──► reconciler
//!   timer at the term's end - margin ─┘
//!   manager error ──► drop it, build a fresh one (after 1 s)
//!   stop token ──► release the Lease (after the reconciler has stopped)
//! ```

use std::time::{Duration, SystemTime};

use futures::StreamExt as _;
use k8s_openapi::api::coordination::v1::Lease;
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Api, Client};
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Where and how to elect.
#[derive(Debug, Clone)]
pub struct LeaderConfig {
    /// Namespace of the Lease (the server's own).
    pub namespace: String,
    /// Name of the Lease.
    pub lease_name: String,
    /// This replica's identity (its Pod name).
    pub identity: String,
    /// Lease duration in seconds: how long a dead leader blocks a successor.
    pub duration_seconds: u64,
    /// Seconds before expiry at which the holder renews (must be < duration).
    pub grace_seconds: u64,
}

impl LeaderConfig {
    /// How long before its term ends a leader that has not renewed stops leading: half the
    /// renew grace. The renewal is attempted `grace_seconds` before the end, so a healthy
    /// leader has half the grace to get it through; a partitioned one stops with half the
    /// grace to spare before a successor may take over.
    pub fn margin(&self) -> Duration {
        Duration::from_millis(self.grace_seconds.saturating_mul(500))
    }
}

/// A running election.
pub struct Election {
    /// `true` while this replica leads (see the module docs for the exact rule).
    pub is_leader: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Election {
    /// Waits until the election task has released the Lease (after its stop token).
    pub async fn stopped(self) {
        let _ = self.task.await;
    }
}

/// Starts electing. When `stop` is cancelled, the Lease is released (if held) and
/// `is_leader` turns `false`; cancel it only after the work the Lease guards has stopped.
pub fn start(client: Client, config: LeaderConfig, stop: CancellationToken) -> Election {
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(run(client, config, tx, stop));
    Election { is_leader: rx, task }
}

// === the rule ===

/// The end of this replica's current term as the Lease object states it: `renewTime` (or
/// `acquireTime`) plus `leaseDurationSeconds`, when `holderIdentity` is `identity`; `None`
/// when the Lease names someone else, nobody, or lacks the times.
pub fn own_term_end(lease: &Lease, identity: &str) -> Option<SystemTime> {
    let spec = lease.spec.as_ref()?;
    if spec.holder_identity.as_deref() != Some(identity) {
        return None;
    }
    let renewed = spec.renew_time.as_ref().or(spec.acquire_time.as_ref())?;
    let duration = u64::try_from(spec.lease_duration_seconds?).ok()?;
    SystemTime::from(renewed.0).checked_add(Duration::from_secs(duration))
}

/// Whether a replica leads at `now`: its manager believes it holds the Lease, and the term
/// the Lease object shows for it ends more than `margin` after `now`.
pub fn leading(manager_holds: bool, term_end: Option<SystemTime>, now: SystemTime, margin: Duration) -> bool {
    manager_holds && term_end.and_then(|end| end.checked_sub(margin)).is_some_and(|stop_at| now < stop_at)
}

// === the task ===

/// How long building a manager (one read of the Lease) may take before it is retried.
const BUILD_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause after a manager error before a fresh one reads the Lease.
const RETRY_AFTER: Duration = Duration::from_secs(1);

async fn build(client: &Client, config: &LeaderConfig) -> Result<LeaseManager, String> {
    let building = LeaseManagerBuilder::new(client.clone(), &config.lease_name)
        .with_namespace(&config.namespace)
        .with_identity(&config.identity)
        .with_duration(config.duration_seconds)
        .with_grace(config.grace_seconds)
        .build();
    match tokio::time::timeout(BUILD_TIMEOUT, building).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!("reading the Lease took over {}s", BUILD_TIMEOUT.as_secs())),
    }
}

/// Builds a manager, retrying every second until it works or `stop` is cancelled.
async fn build_until(client: &Client, config: &LeaderConfig, stop: &CancellationToken) -> Option<LeaseManager> {
    loop {
        match build(client, config).await {
            Ok(m) => return Some(m),
            Err(e) => tracing::warn!(error = %e, lease = %config.lease_name, "cannot read the Lease yet; retrying"),
        }
        tokio::select! {
            _ = stop.cancelled() => return None,
            _ = tokio::time::sleep(RETRY_AFTER) => {}
        }
    }
}

/// How one wait ended.
enum Step {
    Stop,
    Changed(Result<bool, LeaseManagerError>),
    /// The Lease object changed (or the watch restarted).
    Seen(Box<Lease>),
    /// The term's end minus the margin has come.
    TermRunningOut,
    /// The Lease watch failed (it retries with backoff by itself).
    WatchError(String),
}

async fn run(client: Client, config: LeaderConfig, tx: watch::Sender<bool>, stop: CancellationToken) {
    let Some(mut manager) = build_until(&client, &config, &stop).await else { return };
    let leases: Api<Lease> = Api::namespaced(client.clone(), &config.namespace);
    let watch_lease = || {
        watcher(leases.clone(), watcher::Config::default().fields(&format!("metadata.name={}", config.lease_name)))
            .backoff(crate::cache::watch_backoff())
            .applied_objects()
            .boxed()
    };
    let mut seen = watch_lease();
    let margin = config.margin();
    let mut manager_holds = false;
    let mut term_end: Option<SystemTime> = None;
    loop {
        // What the replica advertises follows from what it knows, after every step.
        let now = SystemTime::now();
        let lead = leading(manager_holds, term_end, now, margin);
        if lead != *tx.borrow() {
            tracing::info!(identity = %config.identity, leading = lead, manager_holds, "leadership changed");
            let _ = tx.send(lead);
        }
        // While leading, wake when the term runs out; otherwise never.
        let stop_at = term_end.and_then(|end| end.checked_sub(margin)).filter(|_| lead);
        let until_stop = stop_at.map(|at| at.duration_since(now).unwrap_or(Duration::ZERO));
        let step = {
            let changed = manager.changed();
            tokio::pin!(changed);
            tokio::select! {
                _ = stop.cancelled() => Step::Stop,
                r = &mut changed => Step::Changed(r),
                // Every item, errors included: a refutable pattern here would disable the
                // branch after one watch error until another branch fires, and a leader's
                // changed() never fires while it renews — the term it sees would freeze.
                item = seen.next() => match item {
                    Some(Ok(lease)) => Step::Seen(Box::new(lease)),
                    Some(Err(e)) => Step::WatchError(e.to_string()),
                    None => {
                        // A kube-runtime watcher never ends; should it, start another.
                        seen = watch_lease();
                        Step::WatchError("the Lease watch ended; watching again".into())
                    }
                },
                _ = sleep_or_never(until_stop) => Step::TermRunningOut,
                // Holding but not yet leading: confirm the term from the Lease itself rather
                // than wait for the watch, which may be backing off or re-listing after an
                // outage. Pending alongside changed(), which keeps renewing meanwhile.
                lease = confirm_or_never(manager_holds && !lead, &leases, &config, margin) => Step::Seen(Box::new(lease)),
            }
        };
        match step {
            Step::Stop => break,
            Step::Changed(Ok(holds)) => manager_holds = holds,
            Step::Changed(Err(e)) => {
                // The manager's belief can no longer be trusted: a fresh manager reads the
                // Lease back and reports what it finds, `true` included.
                tracing::warn!(error = %e, identity = %config.identity, "Lease error; reading the Lease afresh");
                manager_holds = false;
                let _ = tx.send_if_modified(|l| std::mem::replace(l, false));
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(RETRY_AFTER) => {}
                }
                let Some(m) = build_until(&client, &config, &stop).await else { break };
                manager = m;
            }
            Step::Seen(lease) => {
                term_end = own_term_end(&lease, &config.identity);
                tracing::debug!(
                    holder = ?lease.spec.as_ref().and_then(|s| s.holder_identity.as_deref()),
                    term_end = ?term_end,
                    "Lease seen"
                );
                let free = lease.spec.as_ref().is_none_or(|s| s.holder_identity.is_none());
                if free && !manager_holds {
                    // A follower's manager would read the Lease only when the term it last
                    // saw runs out; a fresh one reads it now and takes it. A follower's step
                    // holds nothing the fresh manager does not read back.
                    if let Ok(m) = build(&client, &config).await {
                        manager = m;
                    }
                }
                if term_end.is_none() && manager_holds {
                    // The Lease names someone else while our manager believes it holds it:
                    // stop at once, and let a fresh manager find out what is true.
                    tracing::warn!(identity = %config.identity, "the Lease names another holder; re-reading it");
                    manager_holds = false;
                    let _ = tx.send_if_modified(|l| std::mem::replace(l, false));
                    if let Some(m) = build_until(&client, &config, &stop).await {
                        manager = m;
                    } else {
                        break;
                    }
                }
            }
            Step::WatchError(e) => {
                tracing::debug!(error = %e, "Lease watch error; it retries with backoff");
            }
            Step::TermRunningOut => {
                // Renewals are not getting through (or not being seen): stop leading before
                // the term ends, and start over with a manager that believes nothing.
                tracing::warn!(
                    identity = %config.identity,
                    margin_ms = u64::try_from(margin.as_millis()).unwrap_or(u64::MAX),
                    "the Lease was not renewed in time; stepping down before its term ends"
                );
                manager_holds = false;
                let _ = tx.send_if_modified(|l| std::mem::replace(l, false));
                let Some(m) = build_until(&client, &config, &stop).await else { break };
                manager = m;
            }
        }
    }
    let _ = tx.send(false);
    match tokio::time::timeout(BUILD_TIMEOUT, manager.release()).await {
        Ok(Ok(())) => tracing::info!(identity = %config.identity, "Lease released"),
        Ok(Err(e)) => tracing::warn!(error = %e, "releasing the Lease failed; a successor waits for it to expire"),
        Err(_) => tracing::warn!("releasing the Lease timed out; a successor waits for it to expire"),
    }
}

/// How often a replica that holds the Lease but has not yet seen its term reads the Lease.
const CONFIRM_EVERY: Duration = Duration::from_millis(250);

/// When `wanted`, reads the Lease at once and then every [`CONFIRM_EVERY`] until it shows
/// this replica a term that lets it lead; otherwise never completes.
async fn confirm_or_never(wanted: bool, leases: &Api<Lease>, config: &LeaderConfig, margin: Duration) -> Lease {
    if !wanted {
        return std::future::pending().await;
    }
    loop {
        let read = tokio::time::timeout(BUILD_TIMEOUT, leases.get_opt(&config.lease_name)).await;
        if let Ok(Ok(Some(lease))) = read
            && leading(true, own_term_end(&lease, &config.identity), SystemTime::now(), margin)
        {
            return lease;
        }
        tokio::time::sleep(CONFIRM_EVERY).await;
    }
}

async fn sleep_or_never(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    fn lease(holder: Option<&str>, renewed: SystemTime, duration: i32) -> Lease {
        Lease {
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_owned),
                renew_time: Some(MicroTime(jiff::Timestamp::try_from(renewed).unwrap())),
                lease_duration_seconds: Some(duration),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn own_term_is_renew_time_plus_duration_for_the_holder_only() {
        let t = SystemTime::UNIX_EPOCH + 1000 * S;
        assert_eq!(own_term_end(&lease(Some("a"), t, 15), "a"), Some(t + 15 * S));
        assert_eq!(own_term_end(&lease(Some("b"), t, 15), "a"), None);
        assert_eq!(own_term_end(&lease(None, t, 15), "a"), None);
        assert_eq!(own_term_end(&Lease::default(), "a"), None);
    }

    #[test]
    fn leads_only_while_the_manager_holds_and_the_term_has_margin_left() {
        let end = SystemTime::UNIX_EPOCH + 1000 * S;
        let margin = 5 * S;
        // Holds, well inside the term.
        assert!(leading(true, Some(end), end - 10 * S, margin));
        // Holds, but within the margin of the end: a partitioned leader stops here.
        assert!(!leading(true, Some(end), end - 5 * S, margin));
        assert!(!leading(true, Some(end), end - S, margin));
        assert!(!leading(true, Some(end), end + S, margin));
        // The manager holds, the Lease names someone else (no term of ours).
        assert!(!leading(true, None, end - 10 * S, margin));
        // The Lease names us, but the manager does not believe it holds it (after an error:
        // nothing is advertised until a fresh manager says so).
        assert!(!leading(false, Some(end), end - 10 * S, margin));
    }

    #[test]
    fn margin_is_half_the_grace() {
        let c = LeaderConfig {
            namespace: "n".into(),
            lease_name: "l".into(),
            identity: "a".into(),
            duration_seconds: 15,
            grace_seconds: 10,
        };
        assert_eq!(c.margin(), 5 * S);
    }
}
