//! Leader election on a `coordination.k8s.io/v1` Lease, with kube-lease-manager.
//!
//! kube-lease-manager acquires, renews and releases the Lease (server-side apply, so two
//! replicas can never both hold it). On its own, a follower only reads the Lease again
//! when the term it last saw would expire, so a leader that *releases* the Lease on SIGTERM
//! would still be replaced only after the lease duration. We add a watch on the Lease: when
//! a follower sees it released, it replaces its manager by a fresh one, which reads the
//! Lease at once and takes it, within milliseconds. Other changes leave the running
//! `changed()` step alone: dropping one halfway (say, between a renewal and the read that
//! follows it) makes the manager renew again at once, over and over. A killed leader renews
//! no more and is replaced once its term expires (the lease duration).
//!
//! ```text
//!   watch(Lease) ──released──► fresh LeaseManager ──► changed() ──► watch::Sender<bool>
//!   stop token ──────────────► release the Lease (after the reconciler has stopped)
//! ```

use std::time::Duration;

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

/// A running election.
pub struct Election {
    /// `true` while this replica holds the Lease.
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

async fn build(client: &Client, config: &LeaderConfig) -> Result<LeaseManager, LeaseManagerError> {
    LeaseManagerBuilder::new(client.clone(), &config.lease_name)
        .with_namespace(&config.namespace)
        .with_identity(&config.identity)
        .with_duration(config.duration_seconds)
        .with_grace(config.grace_seconds)
        .build()
        .await
}

/// How one `changed()` step ended.
enum Step {
    Stop,
    Changed(Result<bool, LeaseManagerError>),
    /// A follower saw the Lease released.
    Released,
}

async fn run(client: Client, config: LeaderConfig, tx: watch::Sender<bool>, stop: CancellationToken) {
    let mut manager = loop {
        match build(&client, &config).await {
            Ok(m) => break m,
            Err(e) => {
                tracing::warn!(error = %e, lease = %config.lease_name, "cannot set up the Lease yet; retrying");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    };
    let leases: Api<Lease> = Api::namespaced(client.clone(), &config.namespace);
    let mut changes =
        watcher(leases, watcher::Config::default().fields(&format!("metadata.name={}", config.lease_name)))
            .default_backoff()
            .applied_objects()
            .boxed();
    loop {
        let step = {
            let changed = manager.changed();
            tokio::pin!(changed);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break Step::Stop,
                    r = &mut changed => break Step::Changed(r),
                    Some(Ok(lease)) = changes.next() => {
                        let free = lease.spec.as_ref().is_none_or(|s| s.holder_identity.is_none());
                        if free && !*tx.borrow() {
                            break Step::Released;
                        }
                    }
                }
            }
        };
        match step {
            Step::Stop => break,
            Step::Changed(Ok(leading)) => {
                tracing::info!(identity = %config.identity, leading, "leadership changed");
                let _ = tx.send(leading);
            }
            Step::Changed(Err(e)) => {
                tracing::warn!(error = %e, "Lease error; retrying");
                if *tx.borrow() {
                    // We cannot prove we still hold it: stop acting as leader.
                    let _ = tx.send(false);
                }
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
            // The manager would read the Lease only when the term it last saw runs out; a
            // fresh one reads it now. A follower's step holds nothing the fresh manager does
            // not read back (even an acquisition under way: it finds itself the holder).
            Step::Released => match build(&client, &config).await {
                Ok(m) => manager = m,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the released Lease failed; taking it once its last term ends")
                }
            },
        }
    }
    let _ = tx.send(false);
    match manager.release().await {
        Ok(()) => tracing::info!(identity = %config.identity, "Lease released"),
        Err(e) => tracing::warn!(error = %e, "releasing the Lease failed; a successor waits for it to expire"),
    }
}
