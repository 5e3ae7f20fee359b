//! The listener's limits: what one client, and all of them together, may hold open.
//!
//! ```text
//!  accept ─► connections ─► first byte within ─► TLS handshakes ─► handshake finished
//!            (total, per IP)  --tls-first-byte-   in flight (total,  within --tls-
//!                             timeout             per IP)            handshake-timeout
//!            │ closed at once │ closed            │ closed at once   │ closed
//!            ▼                ▼                   ▼                  ▼
//!   {limit="connections"|"connections_per_ip"|"tls_first_byte_timeout"|"tls_handshakes"|
//!          "tls_handshakes_per_ip"|"tls_handshake_timeout"}
//!
//!  HTTP/2 (h2 and hyper): concurrent streams per connection, keepalive PING and its
//!  timeout, reset floods (GOAWAY ENHANCE_YOUR_CALM)
//!  every call (grpc::intake): requests arriving at once, total and per IP
//!        (RESOURCE_EXHAUSTED)                                  ─► {limit="receiving_requests"|"receiving_requests_per_ip"}
//!        the request received within a deadline (DEADLINE_EXCEEDED) ─► {limit="request_receive_timeout"}
//!  tonic, every service: request size (OUT_OF_RANGE, tonic's code) ─► {limit="request_bytes"}
//!  calls: unary call timeout (DEADLINE_EXCEEDED)               ─► {limit="call_timeout"}
//!         watches, total and per identity (RESOURCE_EXHAUSTED) ─► {limit="watches"|"watches_per_identity"}
//! ```
//!
//! A refused connection is closed before any TLS byte is read, so a flood of idle sockets
//! from one address costs one accept and one close each, not a task and a handshake buffer
//! for ten seconds. A socket that sends nothing holds no handshake place: it waits for its
//! first byte outside the handshake limit and is closed after `--tls-first-byte-timeout`.
//! The per-IP limits are what keep one noisy peer from starving the others; the totals bound
//! the process. Memory held by requests still arriving is at most `--max-request-bytes` ×
//! `--max-concurrent-streams` per connection and `--max-request-bytes` ×
//! `--max-receiving-requests` in all (64 KiB × 256 = 16 MiB by default), each for at most
//! `--request-receive-timeout`. Each limit is a flag of `scalekeeper serve` (see
//! [`ListenerLimits`] for the defaults) and each refusal counts in
//! `scalekeeper_limit_refusals_total{limit}`.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;

/// The listener's limits, with the defaults of `scalekeeper serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Open gRPC connections, all peers together (`--max-connections`).
    pub max_connections: usize,
    /// Open gRPC connections from one peer IP address (`--max-connections-per-ip`).
    pub max_connections_per_ip: usize,
    /// TLS handshakes in progress at once (`--max-tls-handshakes`).
    pub max_tls_handshakes: usize,
    /// TLS handshakes in progress at once from one peer IP address
    /// (`--max-tls-handshakes-per-ip`): well below the total, so that a few peers cannot take
    /// every handshake place.
    pub max_tls_handshakes_per_ip: usize,
    /// How long an accepted connection may stay silent before its first byte (the start of
    /// a TLS ClientHello) arrives (`--tls-first-byte-timeout`); it holds no handshake place
    /// meanwhile.
    pub tls_first_byte_timeout: Duration,
    /// How long a client has to finish its TLS handshake (`--tls-handshake-timeout`).
    pub tls_handshake_timeout: Duration,
    /// HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: calls in flight on one connection
    /// (`--max-concurrent-streams`; RFC 9113 §6.5.2).
    pub max_concurrent_streams: u32,
    /// Interval of HTTP/2 keepalive PINGs on an idle connection (`--keepalive-interval`).
    pub keepalive_interval: Duration,
    /// A connection whose PING is not answered within this is closed (`--keepalive-timeout`).
    pub keepalive_timeout: Duration,
    /// Longest a unary call may run before DEADLINE_EXCEEDED (`--call-timeout`); a shorter
    /// `grpc-timeout` from the client applies too.
    pub call_timeout: Duration,
    /// Largest request message, in bytes (`--max-request-bytes`), on every service of the
    /// port (health and reflection too).
    pub max_request_bytes: usize,
    /// How long a request may take to arrive (`--request-receive-timeout`): a unary or
    /// server-streaming call's whole request stream, each message of a client stream,
    /// counted from its first byte. Past it the call ends DEADLINE_EXCEEDED.
    pub request_receive_timeout: Duration,
    /// Calls whose request is still arriving, all peers together
    /// (`--max-receiving-requests`); past it a new call is RESOURCE_EXHAUSTED. With
    /// `max_request_bytes` it bounds the memory partial requests hold.
    pub max_receiving_requests: usize,
    /// Calls whose request is still arriving from one peer IP address
    /// (`--max-receiving-requests-per-ip`).
    pub max_receiving_requests_per_ip: usize,
    /// Open WatchDeployments streams, all callers together (`--max-watches`).
    pub max_watches: usize,
    /// Open WatchDeployments streams of one identity (`--max-watches-per-identity`).
    pub max_watches_per_identity: usize,
}

/// HTTP/2 streams a peer may reset before the server accepted them, before the connection
/// gets GOAWAY ENHANCE_YOUR_CALM (the "rapid reset" flood, CVE-2023-44487); h2's default.
pub const MAX_PENDING_ACCEPT_RESET_STREAMS: usize = 20;

/// HTTP/2 streams the server may have to reset because of the peer's protocol errors before
/// the connection gets GOAWAY ENHANCE_YOUR_CALM (the "MadeYouReset" flood, CVE-2025-8671);
/// hyper's default. tonic 0.14 passes `None` to hyper unless set, which turns the check off.
pub const MAX_LOCAL_ERROR_RESET_STREAMS: usize = 1024;

impl Default for ListenerLimits {
    /// 10,000 connections, 256 per peer IP, 512 handshakes in flight and 32 per peer IP, 2 s
    /// to the first byte and 10 s to finish a handshake, 100 streams per connection, a PING
    /// every 60 s answered within 20 s, 30 s per unary call, 64 KiB per request received
    /// within 5 s, 256 requests arriving at once and 64 per peer IP, 1,000 watches, 100 per
    /// identity.
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_connections_per_ip: 256,
            max_tls_handshakes: 512,
            max_tls_handshakes_per_ip: 32,
            tls_first_byte_timeout: Duration::from_secs(2),
            tls_handshake_timeout: Duration::from_secs(10),
            max_concurrent_streams: 100,
            keepalive_interval: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(20),
            call_timeout: Duration::from_secs(30),
            max_request_bytes: 64 * 1024,
            request_receive_timeout: Duration::from_secs(5),
            max_receiving_requests: 256,
            max_receiving_requests_per_ip: 64,
            max_watches: 1_000,
            max_watches_per_identity: 100,
        }
    }
}

/// Which limit refused something: the `limit` label of `scalekeeper_limit_refusals_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// `--max-connections`.
    Connections,
    /// `--max-connections-per-ip`.
    ConnectionsPerIp,
    /// `--max-tls-handshakes`.
    TlsHandshakes,
    /// `--max-tls-handshakes-per-ip`.
    TlsHandshakesPerIp,
    /// `--tls-first-byte-timeout` passed (or the peer closed) before a TLS byte arrived.
    TlsFirstByteTimeout,
    /// `--tls-handshake-timeout` passed.
    TlsHandshakeTimeout,
    /// `--call-timeout` passed.
    CallTimeout,
    /// `--max-request-bytes`: a request message too large (counted from tonic's answer).
    RequestBytes,
    /// `--request-receive-timeout` passed before the request arrived.
    RequestReceiveTimeout,
    /// `--max-receiving-requests`.
    ReceivingRequests,
    /// `--max-receiving-requests-per-ip`.
    ReceivingRequestsPerIp,
    /// `--max-watches`.
    Watches,
    /// `--max-watches-per-identity`.
    WatchesPerIdentity,
}

impl Limit {
    /// Every limit, for metrics that show zeros.
    pub const ALL: [Limit; 13] = [
        Limit::Connections,
        Limit::ConnectionsPerIp,
        Limit::TlsHandshakes,
        Limit::TlsHandshakesPerIp,
        Limit::TlsFirstByteTimeout,
        Limit::TlsHandshakeTimeout,
        Limit::CallTimeout,
        Limit::RequestBytes,
        Limit::RequestReceiveTimeout,
        Limit::ReceivingRequests,
        Limit::ReceivingRequestsPerIp,
        Limit::Watches,
        Limit::WatchesPerIdentity,
    ];

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Connections => "connections",
            Limit::ConnectionsPerIp => "connections_per_ip",
            Limit::TlsHandshakes => "tls_handshakes",
            Limit::TlsHandshakesPerIp => "tls_handshakes_per_ip",
            Limit::TlsFirstByteTimeout => "tls_first_byte_timeout",
            Limit::TlsHandshakeTimeout => "tls_handshake_timeout",
            Limit::CallTimeout => "call_timeout",
            Limit::RequestBytes => "request_bytes",
            Limit::RequestReceiveTimeout => "request_receive_timeout",
            Limit::ReceivingRequests => "receiving_requests",
            Limit::ReceivingRequestsPerIp => "receiving_requests_per_ip",
            Limit::Watches => "watches",
            Limit::WatchesPerIdentity => "watches_per_identity",
        }
    }

    /// The flag that sets it.
    pub fn flag(self) -> &'static str {
        match self {
            Limit::Connections => "--max-connections",
            Limit::ConnectionsPerIp => "--max-connections-per-ip",
            Limit::TlsHandshakes => "--max-tls-handshakes",
            Limit::TlsHandshakesPerIp => "--max-tls-handshakes-per-ip",
            Limit::TlsFirstByteTimeout => "--tls-first-byte-timeout",
            Limit::TlsHandshakeTimeout => "--tls-handshake-timeout",
            Limit::CallTimeout => "--call-timeout",
            Limit::RequestBytes => "--max-request-bytes",
            Limit::RequestReceiveTimeout => "--request-receive-timeout",
            Limit::ReceivingRequests => "--max-receiving-requests",
            Limit::ReceivingRequestsPerIp => "--max-receiving-requests-per-ip",
            Limit::Watches => "--max-watches",
            Limit::WatchesPerIdentity => "--max-watches-per-identity",
        }
    }
}

/// Why a [`Gate`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The total is reached.
    Total,
    /// This key's share is reached.
    PerKey,
}

struct GateState<K> {
    total: usize,
    per_key: HashMap<K, usize>,
}

/// Counts what is open, in total and per key (a peer IP, an identity), and admits one more
/// only under both limits. A [`Permit`] holds one place until dropped.
pub struct Gate<K> {
    state: Arc<Mutex<GateState<K>>>,
    max_total: usize,
    max_per_key: usize,
    open: Gauge,
}

impl<K> Clone for Gate<K> {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
            max_total: self.max_total,
            max_per_key: self.max_per_key,
            open: self.open.clone(),
        }
    }
}

/// One admitted connection or watch; its place is given back when dropped.
pub struct Permit<K: Hash + Eq> {
    state: Arc<Mutex<GateState<K>>>,
    key: Option<K>,
    open: Gauge,
}

impl<K: Hash + Eq + Clone> Gate<K> {
    /// A gate admitting at most `max_total` in all and `max_per_key` per key; `open` follows
    /// the number admitted.
    pub fn new(max_total: usize, max_per_key: usize, open: Gauge) -> Self {
        Self {
            state: Arc::new(Mutex::new(GateState { total: 0, per_key: HashMap::new() })),
            max_total,
            max_per_key,
            open,
        }
    }

    /// Admits one more for `key`.
    ///
    /// # Errors
    ///
    /// [`Refusal::PerKey`] when `key` holds `max_per_key` already, [`Refusal::Total`] when
    /// all keys together hold `max_total`.
    pub fn admit(&self, key: &K) -> Result<Permit<K>, Refusal> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let held = state.per_key.get(key).copied().unwrap_or(0);
        if held >= self.max_per_key {
            return Err(Refusal::PerKey);
        }
        if state.total >= self.max_total {
            return Err(Refusal::Total);
        }
        state.total += 1;
        *state.per_key.entry(key.clone()).or_insert(0) += 1;
        drop(state);
        self.open.inc();
        Ok(Permit { state: self.state.clone(), key: Some(key.clone()), open: self.open.clone() })
    }

    /// How many are admitted now.
    pub fn open(&self) -> usize {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).total
    }
}

impl<K: Hash + Eq> Drop for Permit<K> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.total = state.total.saturating_sub(1);
        if let Some(n) = state.per_key.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                state.per_key.remove(&key);
            }
        }
        drop(state);
        self.open.dec();
    }
}

/// Lets one log line a period through and counts the rest, for what a flood can repeat
/// thousands of times a second (refused handshakes): the log stays readable and bounded,
/// the counter metric next to it has the full count.
pub struct LogSampler {
    period: Duration,
    state: Mutex<(Option<std::time::Instant>, u64)>,
}

impl LogSampler {
    /// A sampler letting one line through each `period`.
    pub fn new(period: Duration) -> Self {
        Self { period, state: Mutex::new((None, 0)) }
    }

    /// `Some(n)` when a line may be logged now, `n` being how many were held back since the
    /// last one; `None` (and one more held back) otherwise.
    pub fn sample(&self) -> Option<u64> {
        self.sample_at(std::time::Instant::now())
    }

    /// [`LogSampler::sample`] at `now`.
    fn sample_at(&self, now: std::time::Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match state.0 {
            Some(last) if now.duration_since(last) < self.period => {
                state.1 += 1;
                None
            }
            _ => {
                let suppressed = state.1;
                *state = (Some(now), 0);
                Some(suppressed)
            }
        }
    }
}

/// Open gRPC connections, keyed by the peer's IP address.
pub type ConnectionGate = Gate<IpAddr>;

/// Open WatchDeployments streams, keyed by the caller's identity.
pub type WatchGate = Gate<String>;

/// TLS handshakes in progress, keyed by the peer's IP address.
pub type HandshakeGate = Gate<IpAddr>;

/// Calls whose request is still arriving, keyed by the peer's IP address.
pub type ReceivingGate = Gate<IpAddr>;

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_gate_admits_up_to_the_per_key_limit_and_gives_places_back() {
        let open = Gauge::default();
        let gate = Gate::new(10, 2, open.clone());
        let a1 = gate.admit(&ip("10.0.0.1")).unwrap();
        let _a2 = gate.admit(&ip("10.0.0.1")).unwrap();
        assert_eq!(gate.admit(&ip("10.0.0.1")).err(), Some(Refusal::PerKey));
        let _b = gate.admit(&ip("10.0.0.2")).unwrap();
        assert_eq!(open.get(), 3);
        drop(a1);
        assert_eq!(open.get(), 2);
        assert!(gate.admit(&ip("10.0.0.1")).is_ok());
    }

    #[test]
    fn a_gate_refuses_past_the_total_whatever_the_key() {
        let gate = Gate::new(2, 5, Gauge::default());
        let _a = gate.admit(&"a".to_string()).unwrap();
        let _b = gate.admit(&"b".to_string()).unwrap();
        assert_eq!(gate.admit(&"c".to_string()).err(), Some(Refusal::Total));
        assert_eq!(gate.open(), 2);
    }

    #[test]
    fn a_sampler_lets_one_line_a_period_through_and_counts_the_rest() {
        let sampler = LogSampler::new(Duration::from_secs(3600));
        assert_eq!(sampler.sample(), Some(0));
        assert_eq!((sampler.sample(), sampler.sample()), (None, None));
        let sampler = LogSampler::new(Duration::ZERO);
        assert_eq!((sampler.sample(), sampler.sample()), (Some(0), Some(0)));
    }

    #[test]
    fn a_sampler_reports_what_it_held_back() {
        let sampler = LogSampler::new(Duration::from_secs(1));
        let t0 = std::time::Instant::now();
        assert_eq!(sampler.sample_at(t0), Some(0));
        for ms in [1, 500, 999] {
            assert_eq!(sampler.sample_at(t0 + Duration::from_millis(ms)), None);
        }
        assert_eq!(sampler.sample_at(t0 + Duration::from_millis(1000)), Some(3));
        assert_eq!(sampler.sample_at(t0 + Duration::from_millis(1001)), None);
    }

    #[test]
    fn every_limit_has_a_distinct_label_and_a_flag() {
        let labels: std::collections::BTreeSet<_> = Limit::ALL.iter().map(|l| l.as_str()).collect();
        assert_eq!(labels.len(), Limit::ALL.len());
        assert!(Limit::ALL.iter().all(|l| l.flag().starts_with("--")));
    }
}
