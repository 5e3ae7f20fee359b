//! Leader election on a `coordination.k8s.io/v1` Lease, with kube-lease-manager.
//!
//! kube-lease-manager acquires, renews and releases the Lease (server-side apply, so two
//! replicas can never both hold it). On its own, a follower only looks at the Lease again
//! when the holder's term would expire, so a leader that *releases* the Lease on SIGTERM
//! would still be replaced only after the lease duration. We add a watch on the Lease: any
//! change restarts the manager's `changed()` step, so a released Lease is taken within
//! milliseconds. A killed leader renews no more and is replaced once its term expires
//! (the lease duration).
//!
//! ```text
//!   watch(Lease) ──change──► restart ──► LeaseManager::changed() ──► watch::Sender<bool>
//!   stop token ────────────► release the Lease (after the reconciler has stopped)
//! ```

use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::coordination::v1::Lease;
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Api, Client};
use kube_lease_manager::LeaseManagerBuilder;
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

async fn run(client: Client, config: LeaderConfig, tx: watch::Sender<bool>, stop: CancellationToken) {
    let manager = loop {
        let built = LeaseManagerBuilder::new(client.clone(), &config.lease_name)
            .with_namespace(&config.namespace)
            .with_identity(&config.identity)
            .with_duration(config.duration_seconds)
            .with_grace(config.grace_seconds)
            .build()
            .await;
        match built {
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
    let leases: Api<Lease> = Api::namespaced(client, &config.namespace);
    let mut changes =
        watcher(leases, watcher::Config::default().fields(&format!("metadata.name={}", config.lease_name)))
            .default_backoff()
            .applied_objects()
            .boxed();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            r = manager.changed() => match r {
                Ok(leading) => {
                    tracing::info!(identity = %config.identity, leading, "leadership changed");
                    let _ = tx.send(leading);
                }
                Err(e) => {
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
            },
            // The Lease changed (renewed, released, taken): look again now.
            _ = changes.next() => {}
        }
    }
    let _ = tx.send(false);
    match manager.release().await {
        Ok(()) => tracing::info!(identity = %config.identity, "Lease released"),
        Err(e) => tracing::warn!(error = %e, "releasing the Lease failed; a successor waits for it to expire"),
    }
}
