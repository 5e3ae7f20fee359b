//! Shared server state: the store, configuration, faults, and the signals that close
//! watches and take the server down.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::faults::Faults;
use crate::resources::ResourceDef;
use crate::store::Store;

/// Server settings that requests read.
#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    /// Bearer token every request must carry, when set; it authenticates as
    /// [`crate::identity::ADMIN_USER`].
    pub token: Option<String>,
    /// Further users, each authenticated by its own bearer token.
    pub users: Vec<crate::identity::SimUser>,
    /// How often a watch that allows bookmarks gets one.
    pub bookmark_interval: Duration,
    /// How long the Deployment controller takes to make status match a new spec.
    pub deployment_delay: Duration,
    /// Answer protobuf whenever the client lists it before JSON (see [`crate::SimConfig`]).
    pub protobuf_first: bool,
}

/// Everything a request handler needs.
pub struct State {
    /// The object store.
    pub store: Store,
    /// Settings.
    pub config: RuntimeConfig,
    /// Injected faults.
    pub faults: Faults,
    /// Bumped to close every open watch.
    pub watch_closer: watch::Sender<u64>,
    /// Open watch streams.
    pub watchers: AtomicUsize,
    /// Admission state: the Service route table ([`crate::Sim::route_service`]; kubesim has
    /// no Services or Endpoints) and the parsed webhooks.
    pub admission: Arc<crate::admission::Shared>,
    addr: Mutex<SocketAddr>,
    down: Mutex<CancellationToken>,
}

impl State {
    /// New state around `store`.
    pub fn new(store: Store, config: RuntimeConfig, addr: SocketAddr) -> Self {
        Self {
            store,
            config,
            faults: Faults::default(),
            watch_closer: watch::channel(0).0,
            watchers: AtomicUsize::new(0),
            admission: Arc::new(crate::admission::Shared::default()),
            addr: Mutex::new(addr),
            down: Mutex::new(CancellationToken::new()),
        }
    }

    /// The address the API listens on.
    pub fn addr(&self) -> SocketAddr {
        *self.addr.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The token cancelled when the server goes down (connections and watches end).
    pub fn down_token(&self) -> CancellationToken {
        self.down.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Cancels the current "up" period and starts a new one; returns the cancelled token.
    pub(crate) fn take_down(&self) -> CancellationToken {
        let mut g = self.down.lock().unwrap_or_else(|e| e.into_inner());
        let old = std::mem::replace(&mut *g, CancellationToken::new());
        old.cancel();
        old
    }

    /// A snapshot of the served resources.
    pub fn resources(&self) -> Vec<ResourceDef> {
        self.store.lock().resources.clone()
    }

    /// The served resource for `group`/`version`/`plural`.
    pub fn resource(&self, group: &str, version: &str, plural: &str) -> Option<ResourceDef> {
        self.store.lock().resource(group, version, plural).cloned()
    }

    /// Wakes watchers after a commit at `rv`.
    pub fn publish(&self, rv: u64, deployments_changed: bool) {
        if rv > 0 {
            self.store.publish(rv, deployments_changed);
        }
    }

    /// Closes every open watch (clients see the stream end and re-watch).
    pub fn close_watches(&self) {
        self.watch_closer.send_modify(|v| *v += 1);
    }

    /// How many watch streams are open.
    pub fn watcher_count(&self) -> usize {
        self.watchers.load(Ordering::Relaxed)
    }
}

/// Shared pointer to [`State`].
pub type SharedState = Arc<State>;
