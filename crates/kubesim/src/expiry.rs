//! Event expiry, kube-apiserver's `--event-ttl`: a background sweep deletes every Event whose
//! last write is older than the TTL ([`crate::store::StoreInner::expire_events`]), so a
//! long-running kubesim (`scalekeeper dev` under churn) does not keep every Event for ever.
//!
//! ```text
//!  every min(ttl / 10, 1 s) ─► lock ─► delete ≤ 1,000 due Events (DELETED to watchers) ─► unlock ─► publish
//!                                 └─ more due: again at once, the lock released in between
//! ```

use std::sync::Weak;
use std::time::Duration;

use crate::state::State;

/// How many Events one hold of the store's lock deletes at most, so that a backlog of expired
/// Events (a TTL shortened at start, a burst an hour ago) never stalls requests.
pub const BATCH: usize = 1_000;

/// How often the sweep looks for due Events with this `ttl`: a tenth of it, between 10 ms and
/// 1 s. An Event therefore goes between `ttl` and `ttl` + that period after its last write
/// (etcd's lease expiry is no more exact).
pub fn period(ttl: Duration) -> Duration {
    (ttl / 10).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// Sweeps expired Events every [`period`] until the server's state is dropped.
pub async fn run(state: Weak<State>, ttl: Duration) {
    let mut ticker = tokio::time::interval(period(ttl));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(state) = state.upgrade() else { return };
        loop {
            let (deleted, rv) = {
                let mut store = state.store.lock();
                let deleted = store.expire_events(tokio::time::Instant::now(), BATCH);
                (deleted, store.rv)
            };
            if deleted > 0 {
                state.publish(rv, false);
                tracing::debug!(deleted, "expired Events (event TTL)");
            }
            if deleted < BATCH {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_period_is_a_tenth_of_the_ttl_within_bounds() {
        assert_eq!(period(Duration::from_secs(3600)), Duration::from_secs(1));
        assert_eq!(period(Duration::from_millis(500)), Duration::from_millis(50));
        assert_eq!(period(Duration::from_millis(1)), Duration::from_millis(10));
    }
}
