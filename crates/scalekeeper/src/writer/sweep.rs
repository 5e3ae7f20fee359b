//! The ScaleRequest sweeper (the two-person rule): the leader records requests that expired
//! unapproved as Expired, with an Event, and deletes finished requests after the retention
//! (`--scale-request-retention`), so that etcd, `history` and `requests --all` hold a bounded
//! number. What it does about each request is the domain's ([`approval::sweep`]); this reads
//! the cache and writes.
//!
//! ```text
//!  every SWEEP_INTERVAL, while leading: cache's ScaleRequests ─► approval::sweep
//!     Expire ─► PUT status Expired (resourceVersion precondition) · Event ScaleRequestExpired
//!     Delete ─► DELETE (uid and resourceVersion preconditions: never a request changed since)
//! ```

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use kube::api::{DeleteParams, Preconditions};
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt as _};
use scalekeeper_core::approval::{self, Sweep};
use tokio_util::sync::CancellationToken;

use super::Writer;
use super::requests::state;
use crate::cache::Cache;
use crate::scalerequest::ScaleRequest;

/// How often the leader sweeps (seconds of wall time between two looks at the cache).
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Event reason: a pending ScaleRequest expired without enough approvals.
pub const REASON_SCALE_REQUEST_EXPIRED: &str = "ScaleRequestExpired";

/// What one sweep did: how many requests it recorded as Expired and deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Recorded as Expired.
    pub expired: usize,
    /// Deleted.
    pub deleted: usize,
}

impl Writer {
    /// Sweeps every `SWEEP_INTERVAL` until `stop`: each request of `cache` that
    /// [`approval::sweep`] says to expire or delete (finished longer than `retention` ago).
    /// Failures are logged and tried again on the next sweep.
    pub async fn sweep_requests(&self, cache: Cache, retention: Duration, stop: CancellationToken) {
        let mut tick = tokio::time::interval(SWEEP_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let swept = self.sweep_once(&cache.all_scale_requests(), retention, Timestamp::now()).await;
            if swept != Swept::default() {
                tracing::info!(expired = swept.expired, deleted = swept.deleted, "ScaleRequests swept");
            }
        }
    }

    /// One sweep of `requests` at `now`.
    pub async fn sweep_once(&self, requests: &[Arc<ScaleRequest>], retention: Duration, now: Timestamp) -> Swept {
        let mut swept = Swept::default();
        for sr in requests {
            let ended = sr.status.as_ref().and_then(|s| s.decided_at.as_deref()).and_then(|t| t.parse().ok());
            let namespace = sr.namespace().unwrap_or_default();
            let api: Api<ScaleRequest> = Api::namespaced(self.client.clone(), &namespace);
            match approval::sweep(&state(sr, &[]), ended, now, retention) {
                Sweep::Keep => {}
                Sweep::Expire => {
                    if self.expired(&api, (**sr).clone()).await {
                        swept.expired += 1;
                    }
                }
                Sweep::Delete => {
                    let dp = DeleteParams {
                        preconditions: Some(Preconditions { uid: sr.uid(), resource_version: sr.resource_version() }),
                        ..DeleteParams::default()
                    };
                    match api.delete(&sr.name_any(), &dp).await {
                        Ok(_) => swept.deleted += 1,
                        // Gone already, or changed since the cache saw it: the next sweep decides again.
                        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                        Err(e) => {
                            tracing::warn!(request = %sr.name_any(), namespace, error = %e, "deleting a finished ScaleRequest failed")
                        }
                    }
                }
            }
        }
        swept
    }

    /// Records `sr` (pending past its expiry) as Expired and announces it; whether this call
    /// recorded it.
    pub(super) async fn expired(&self, api: &Api<ScaleRequest>, sr: ScaleRequest) -> bool {
        let Some(stored) = self.mark_expired(api, sr).await else { return false };
        let note = format!(
            "{} expired at {} with {} of {} approvals; nothing was applied",
            stored.spec.summary,
            stored.spec.expires_at,
            super::counted(&stored).len(),
            stored.spec.approvals_needed
        );
        self.announce(&stored, EventType::Normal, REASON_SCALE_REQUEST_EXPIRED, &note).await;
        true
    }
}
