//! The command line of the `scalekeeper` binary: clap derive, every server flag with an
//! `env = ...` twin, doc comments as help text.
//!
//! `serve`'s flags become a [`ServeConfig`] in one place, [`ServeArgs::into_config`], which
//! destructures every flag (a new one cannot be forgotten) and holds every check that spans
//! flags (Lease timing, namespaces, non-zero periods).
//!
//! Durations take a unit (`20s`, `1m30s`, `500ms`, ISO 8601 `PT20S`; parsed by jiff); a bare
//! integer is seconds, as the `--*-seconds` flags these replace took. The old flag names and
//! `SCALEKEEPER_*_SECONDS` variables still work, hidden from the help, and log a deprecation.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use scalekeeper_core::validate_namespace_filter;

use crate::admission::AdmissionConfig;
use crate::admission::config::Endpoint;
use crate::authz::AuthorizationMode;
use crate::cache::Scope;
#[cfg(feature = "dev")]
use crate::dev::DevConfig;
use crate::leader::LeaderConfig;
use crate::limits::ListenerLimits;
use crate::policy::PolicyGuard;
use crate::reconciler::ReconcileConfig;
use crate::server::{AuthorizationConfig, ServeConfig};
use crate::tls::{ClientPolicy, TlsFiles, TlsSource};
use scalekeeper_cli as cli;
use scalekeeper_core::admission::Exempt;

/// A secure gRPC API over the replica counts of Kubernetes Deployments.
#[derive(Debug, Parser)]
#[command(name = "scalekeeper", version, propagate_version = true)]
pub struct Args {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// `scalekeeper crd`'s flags.
#[derive(Debug, Clone, clap::Args)]
pub struct CrdArgs {
    /// Print only this kind's CRD (as `make generate` writes one file per CRD).
    #[arg(long, value_enum)]
    pub kind: Option<crate::crds::Kind>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (mTLS gRPC) and the probe/metrics HTTP port.
    Serve(Box<ServeArgs>),
    /// Run kubesim and the server in one process, with dev certificates.
    #[cfg(feature = "dev")]
    Dev(DevConfig),
    /// Print the CustomResourceDefinitions (ReplicaPolicy, ScaleRequest) as one YAML stream,
    /// for `scalekeeper crd | kubectl apply -f -`; `--kind` prints one.
    Crd(CrdArgs),
    /// Write a dev CA, a server certificate and client certificates.
    Certs(CertsArgs),
    /// Print the admission guard's ValidatingWebhookConfiguration (YAML), for clusters without the chart.
    AdmissionConfig(AdmissionConfigArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish) to stdout.
    Completion(super::install::CompletionArgs),
    /// Write the man pages (one per subcommand) into a directory: for packaging.
    #[command(hide = true)]
    Man(super::install::ManArgs),
    /// Manage the client's contexts (named clusters) in its configuration file, as kubectl config does.
    #[command(subcommand)]
    Config(cli::contexts::ConfigCommand),
    /// The API client: get, list, set, clear, schedule, diff, watch, version.
    #[command(flatten)]
    Client(cli::ClientCommand),
}

/// The format of the log lines on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

/// The flags of `scalekeeper serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// gRPC (mTLS) listen address.
    #[arg(long, env = "SCALEKEEPER_GRPC_LISTEN", default_value = "0.0.0.0:50051")]
    pub grpc_listen: SocketAddr,
    /// Plaintext HTTP listen address for /healthz, /readyz and /metrics.
    #[arg(long, env = "SCALEKEEPER_HTTP_LISTEN", default_value = "0.0.0.0:8080")]
    pub http_listen: SocketAddr,
    /// Server certificate chain (PEM).
    #[arg(long, env = "SCALEKEEPER_TLS_CERT")]
    pub tls_cert: PathBuf,
    /// Server private key (PEM).
    #[arg(long, env = "SCALEKEEPER_TLS_KEY")]
    pub tls_key: PathBuf,
    /// CA bundle (PEM) that client certificates must chain to.
    #[arg(long, env = "SCALEKEEPER_CLIENT_CA")]
    pub client_ca: PathBuf,
    /// Certificate revocation lists (PEM) for client certificates; reloaded like the other files.
    #[arg(long, env = "SCALEKEEPER_CLIENT_CRL")]
    pub client_crl: Option<PathBuf>,
    /// Accept only clients whose identity starts with this (repeatable or comma-separated,
    /// e.g. spiffe://prod/); none: any identity the client CA vouches for.
    #[arg(long = "allowed-identity-prefix", env = "SCALEKEEPER_ALLOWED_IDENTITY_PREFIXES", value_delimiter = ',')]
    pub allowed_identity_prefixes: Vec<String>,
    /// After this long a connection is closed gracefully (GOAWAY), so that a client
    /// certificate revoked or expired since the handshake does not live on; 0: never.
    #[arg(long, env = "SCALEKEEPER_MAX_CONNECTION_AGE", default_value = "1h", value_parser = parse_duration)]
    pub max_connection_age: Duration,
    /// How long calls may still run after that GOAWAY before the connection is cut.
    #[arg(long, env = "SCALEKEEPER_MAX_CONNECTION_AGE_GRACE", default_value = "30s", value_parser = parse_duration)]
    pub max_connection_age_grace: Duration,
    /// Kubeconfig; default: KUBECONFIG, ~/.kube/config, or the in-cluster service account.
    #[arg(long, env = "SCALEKEEPER_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Namespace to serve (repeatable, or comma-separated); none means every namespace.
    #[arg(long = "namespace", env = "SCALEKEEPER_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Largest replica count SetReplicas accepts.
    #[arg(long, env = "SCALEKEEPER_MAX_REPLICAS", default_value_t = scalekeeper_core::DEFAULT_MAX_REPLICAS)]
    pub max_replicas: i32,
    /// How long in-flight calls may finish on SIGTERM (e.g. 20s, 1m; a bare number is seconds).
    #[arg(long, env = "SCALEKEEPER_DRAIN_TIMEOUT", default_value = "20s", value_parser = parse_duration)]
    pub drain_timeout: Duration,
    /// How long to keep serving after SIGTERM while reporting not ready, before closing the
    /// listener (what a preStop sleep does); 0 closes at once.
    #[arg(long, env = "SCALEKEEPER_SHUTDOWN_DELAY", default_value = "0s", value_parser = parse_duration)]
    pub shutdown_delay: Duration,
    /// Not ready once the Kubernetes API has not answered for this long.
    #[arg(long, env = "SCALEKEEPER_STALE_AFTER", default_value = "5s", value_parser = parse_duration)]
    pub stale_after: Duration,
    /// Log format.
    #[arg(long, env = "SCALEKEEPER_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,
    /// Elect one reconciling replica with a Lease; off: this replica always reconciles.
    #[arg(long, env = "SCALEKEEPER_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// Name of the Lease.
    #[arg(long, env = "SCALEKEEPER_LEASE_NAME", default_value = "scalekeeper")]
    pub lease_name: String,
    /// Namespace of the Lease (the server's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    /// This replica's identity in the Lease and in Events; default: the host name and a random suffix.
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// How long a Lease term lasts: how long a killed leader blocks its successor (whole seconds).
    #[arg(long, env = "SCALEKEEPER_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,
    /// How long before the term ends the leader renews (whole seconds, less than --lease-duration).
    #[arg(long, env = "SCALEKEEPER_LEASE_RENEW_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub lease_renew_grace: Duration,
    /// Flap guard: more corrections than this within --flap-window suspend enforcement.
    #[arg(long, env = "SCALEKEEPER_FLAP_MAX_CORRECTIONS", default_value_t = 5)]
    pub flap_max_corrections: usize,
    /// Flap guard window.
    #[arg(long, env = "SCALEKEEPER_FLAP_WINDOW", default_value = "1m", value_parser = parse_duration)]
    pub flap_window: Duration,
    /// How long enforcement stays suspended after the flap guard trips.
    #[arg(long, env = "SCALEKEEPER_FLAP_COOL_DOWN", default_value = "5m", value_parser = parse_duration)]
    pub flap_cool_down: Duration,
    /// Time between periodic re-checks of every policy.
    #[arg(long, env = "SCALEKEEPER_RESYNC_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub resync_interval: Duration,
    /// How long a count declared through the API (SetReplicas) is left to the API's own
    /// scale write before the leader's reconciler applies it itself. A writer that crashed
    /// between writing the policy and scaling delays the count by at most this long.
    #[arg(long, env = "SCALEKEEPER_DECLARATION_GRACE", default_value = "5s", value_parser = parse_duration)]
    pub declaration_grace: Duration,
    /// At most this many policies are reconciled at once (at least 1). Bounds the leader's
    /// memory and its burst of requests when every policy is looked at together (becoming
    /// leader, a re-list, the periodic resync); a drift waits behind at most this many.
    #[arg(long, env = "SCALEKEEPER_MAX_CONCURRENT_RECONCILES", default_value_t = 16,
        value_parser = clap::value_parser!(u16).range(1..))]
    pub max_concurrent_reconciles: u16,
    /// How calls are authorized: `rbac` checks each with a SubjectAccessReview against
    /// `replicapolicies.scalekeeper.dev` (grant with the scalekeeper-viewer/-editor
    /// ClusterRoles); `allow-any` lets every valid client certificate do everything.
    #[arg(long, env = "SCALEKEEPER_AUTHORIZATION", value_enum, default_value = "rbac")]
    pub authorization: AuthorizationMode,
    /// How long an allowed authorization decision is reused: a revoked binding keeps
    /// working at most this long.
    #[arg(long, env = "SCALEKEEPER_AUTHORIZATION_ALLOW_TTL", default_value = "10s", value_parser = parse_duration)]
    pub authorization_allow_ttl: Duration,
    /// Accept client certificates whose O values claim groups with the `system:` prefix
    /// (system:masters is RBAC's superuser). Off: such calls are PERMISSION_DENIED, whatever
    /// the RBAC objects say.
    #[arg(long, env = "SCALEKEEPER_ALLOW_SYSTEM_GROUPS", default_value_t = false, action = clap::ArgAction::Set,
        num_args = 0..=1, default_missing_value = "true")]
    pub allow_system_groups: bool,
    /// A group whose members may apply a change the two-person rule holds back at once, as a
    /// hold of at most 1 hour (`scalekeeper set --break-glass --reason`; repeatable or
    /// comma-separated): audited, announced with a BreakGlassUsed Warning Event, and waiting in
    /// phase ReviewRequired for a second identity's review.
    #[arg(long = "break-glass-group", env = "SCALEKEEPER_BREAK_GLASS_GROUPS", value_delimiter = ',')]
    pub break_glass_groups: Vec<String>,
    /// How long a denied authorization decision is reused: a new binding takes at most this
    /// long to work.
    #[arg(long, env = "SCALEKEEPER_AUTHORIZATION_DENY_TTL", default_value = "5s", value_parser = parse_duration)]
    pub authorization_deny_ttl: Duration,
    /// The audit trail: one JSON line per mutating or refused call (who, what, before and
    /// after), appended to this file; `-`: stdout. Not filtered by RUST_LOG. Unset: none.
    #[arg(long, env = "SCALEKEEPER_AUDIT_LOG")]
    pub audit_log: Option<PathBuf>,
    /// Connection, handshake, stream, call and watch limits.
    #[command(flatten)]
    pub limits: LimitArgs,
    /// The admission guard's webhook.
    #[command(flatten)]
    pub admission: AdmissionArgs,
    /// The flags these replaced, still accepted.
    #[command(flatten)]
    pub deprecated: DeprecatedSecondsFlags,
}

/// The admission guard: a validating webhook that refuses (or warns about) writes of a
/// Deployment's spec.replicas that differ from the count scalekeeper enforces
/// ([`crate::admission`]).
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Admission guard")]
pub struct AdmissionArgs {
    /// HTTPS listen address of the admission webhook (e.g. 0.0.0.0:8443); unset: not served.
    /// Register it with `scalekeeper admission-config` or the Helm chart.
    #[arg(long, env = "SCALEKEEPER_ADMISSION_LISTEN")]
    pub admission_listen: Option<SocketAddr>,
    /// The webhook's serving certificate chain (PEM), reloaded when it changes; default: --tls-cert.
    #[arg(long, env = "SCALEKEEPER_ADMISSION_TLS_CERT")]
    pub admission_tls_cert: Option<PathBuf>,
    /// The webhook's private key (PEM), reloaded when it changes; default: --tls-key.
    #[arg(long, env = "SCALEKEEPER_ADMISSION_TLS_KEY")]
    pub admission_tls_key: Option<PathBuf>,
    /// user:NAME or group:NAME whose writes of spec.replicas the guard never refuses (repeatable
    /// or comma-separated), e.g. user:system:serviceaccount:kube-system:horizontal-pod-autoscaler.
    /// scalekeeper's own user is always exempt.
    #[arg(long = "admission-exempt", env = "SCALEKEEPER_ADMISSION_EXEMPT", value_delimiter = ',')]
    pub admission_exempt: Vec<Exempt>,
    /// A group whose members may write spec.replicas past the guard (repeatable or
    /// comma-separated): allowed with a warning, audited, announced with a GuardBypassed Event.
    #[arg(
        long = "admission-break-glass-group",
        env = "SCALEKEEPER_ADMISSION_BREAK_GLASS_GROUPS",
        value_delimiter = ','
    )]
    pub admission_break_glass_groups: Vec<String>,
    /// The guard a declaration through the API gets when it creates a policy without --guard:
    /// off, warn or deny. Policies written with kubectl or GitOps without spec.guard are Off.
    #[arg(long, env = "SCALEKEEPER_DEFAULT_GUARD", default_value = "warn")]
    pub default_guard: PolicyGuard,
    /// How long a finished ScaleRequest (applied, denied, expired, superseded, reviewed) is
    /// kept before the leader deletes it, e.g. 168h (7 days); the audit log keeps every step.
    #[arg(long, env = "SCALEKEEPER_SCALE_REQUEST_RETENTION", default_value = "168h", value_parser = parse_duration)]
    pub scale_request_retention: Duration,
}

/// The flags of `scalekeeper admission-config`: where the webhook is, and what it guards.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("endpoint").required(true).args(["url", "service"]))]
pub struct AdmissionConfigArgs {
    /// The webhook's base URL, https://HOST or https://HOST:PORT (the path is appended), e.g. a
    /// serve --admission-listen reachable from the API server.
    #[arg(long)]
    pub url: Option<String>,
    /// The webhook's Service, NAMESPACE/NAME or NAMESPACE/NAME:PORT (port 443 by default).
    #[arg(long)]
    pub service: Option<Endpoint>,
    /// The CA bundle (PEM) that signed the webhook's serving certificate.
    #[arg(long)]
    pub ca_file: PathBuf,
    /// A namespace to guard (repeatable); none: every namespace but kube-system and --exclude-namespace.
    #[arg(long = "namespace")]
    pub namespaces: Vec<String>,
    /// A namespace never to guard besides kube-system, e.g. scalekeeper's own (repeatable).
    #[arg(long = "exclude-namespace")]
    pub exclude_namespaces: Vec<String>,
    /// The configuration's name (it is cluster-scoped).
    #[arg(long, default_value = "scalekeeper")]
    pub name: String,
    /// How long the API server waits for an answer before it lets the write through, seconds (1-30).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=30))]
    pub timeout_seconds: u8,
    /// The Kubernetes version it is for, MAJOR.MINOR: before 1.28 the matchConditions are left out.
    #[arg(long, default_value = "1.33")]
    pub kube_version: String,
    /// scalekeeper's own user (system:serviceaccount:NS:NAME, or its kubeconfig's user): from
    /// 1.28 the API server does not send its writes (the webhook always allows them).
    #[arg(long)]
    pub self_user: Option<String>,
}

/// The listener's limits ([`ListenerLimits`]; the defaults here are its defaults, which a
/// test checks). Each refusal counts in `scalekeeper_limit_refusals_total{limit}`.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Listener limits")]
pub struct LimitArgs {
    /// Open gRPC connections, all peers together; past it new connections are closed at once.
    #[arg(long, env = "SCALEKEEPER_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Open gRPC connections from one peer IP address.
    #[arg(long, env = "SCALEKEEPER_MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: usize,
    /// TLS handshakes in progress at once.
    #[arg(long, env = "SCALEKEEPER_MAX_TLS_HANDSHAKES", default_value_t = 512)]
    pub max_tls_handshakes: usize,
    /// TLS handshakes in progress at once from one peer IP address (at most
    /// --max-tls-handshakes).
    #[arg(long, env = "SCALEKEEPER_MAX_TLS_HANDSHAKES_PER_IP", default_value_t = 32)]
    pub max_tls_handshakes_per_ip: usize,
    /// How long a new connection may stay silent before the first byte of its TLS
    /// ClientHello; it holds no handshake place while it waits.
    #[arg(long, env = "SCALEKEEPER_TLS_FIRST_BYTE_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub tls_first_byte_timeout: Duration,
    /// How long a client has to finish its TLS handshake.
    #[arg(long, env = "SCALEKEEPER_TLS_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub tls_handshake_timeout: Duration,
    /// Calls in flight on one connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS).
    #[arg(long, env = "SCALEKEEPER_MAX_CONCURRENT_STREAMS", default_value_t = 100)]
    pub max_concurrent_streams: u32,
    /// Interval of HTTP/2 keepalive PINGs.
    #[arg(long, env = "SCALEKEEPER_KEEPALIVE_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    pub keepalive_interval: Duration,
    /// A connection whose keepalive PING is unanswered this long is closed.
    #[arg(long, env = "SCALEKEEPER_KEEPALIVE_TIMEOUT", default_value = "20s", value_parser = parse_duration)]
    pub keepalive_timeout: Duration,
    /// Longest a unary call may run before DEADLINE_EXCEEDED.
    #[arg(long, env = "SCALEKEEPER_CALL_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub call_timeout: Duration,
    /// Largest request message, in bytes.
    #[arg(long, env = "SCALEKEEPER_MAX_REQUEST_BYTES", default_value_t = 65_536)]
    pub max_request_bytes: usize,
    /// How long a request may take to arrive (a unary call's whole request; each message of
    /// a client stream, from its first byte); past it the call ends DEADLINE_EXCEEDED.
    #[arg(long, env = "SCALEKEEPER_REQUEST_RECEIVE_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub request_receive_timeout: Duration,
    /// Calls whose request is still arriving, all peers together (RESOURCE_EXHAUSTED past
    /// it).
    #[arg(long, env = "SCALEKEEPER_MAX_RECEIVING_REQUESTS", default_value_t = 256)]
    pub max_receiving_requests: usize,
    /// Calls whose request is still arriving from one peer IP address.
    #[arg(long, env = "SCALEKEEPER_MAX_RECEIVING_REQUESTS_PER_IP", default_value_t = 64)]
    pub max_receiving_requests_per_ip: usize,
    /// Open WatchDeployments streams, all callers together (RESOURCE_EXHAUSTED past it).
    #[arg(long, env = "SCALEKEEPER_MAX_WATCHES", default_value_t = 1_000)]
    pub max_watches: usize,
    /// Open WatchDeployments streams of one identity.
    #[arg(long, env = "SCALEKEEPER_MAX_WATCHES_PER_IDENTITY", default_value_t = 100)]
    pub max_watches_per_identity: usize,
}

impl LimitArgs {
    /// The limits.
    ///
    /// # Errors
    ///
    /// [`ArgsError::Invalid`] for a zero count or duration (a zero limit would refuse
    /// everything), or a per-key limit above its total.
    pub fn into_limits(self) -> Result<ListenerLimits, ArgsError> {
        let Self {
            max_connections,
            max_connections_per_ip,
            max_tls_handshakes,
            max_tls_handshakes_per_ip,
            tls_first_byte_timeout,
            tls_handshake_timeout,
            max_concurrent_streams,
            keepalive_interval,
            keepalive_timeout,
            call_timeout,
            max_request_bytes,
            request_receive_timeout,
            max_receiving_requests,
            max_receiving_requests_per_ip,
            max_watches,
            max_watches_per_identity,
        } = self;
        let positive = |flag: &'static str, n: u128| {
            if n == 0 { Err(ArgsError::Invalid { flag, reason: "must be greater than 0".into() }) } else { Ok(()) }
        };
        positive("--max-connections", max_connections as u128)?;
        positive("--max-connections-per-ip", max_connections_per_ip as u128)?;
        positive("--max-tls-handshakes", max_tls_handshakes as u128)?;
        positive("--max-tls-handshakes-per-ip", max_tls_handshakes_per_ip as u128)?;
        positive("--tls-first-byte-timeout", tls_first_byte_timeout.as_millis())?;
        positive("--tls-handshake-timeout", tls_handshake_timeout.as_millis())?;
        positive("--max-concurrent-streams", u128::from(max_concurrent_streams))?;
        positive("--keepalive-interval", keepalive_interval.as_millis())?;
        positive("--keepalive-timeout", keepalive_timeout.as_millis())?;
        positive("--call-timeout", call_timeout.as_millis())?;
        positive("--max-request-bytes", max_request_bytes as u128)?;
        positive("--request-receive-timeout", request_receive_timeout.as_millis())?;
        positive("--max-receiving-requests", max_receiving_requests as u128)?;
        positive("--max-receiving-requests-per-ip", max_receiving_requests_per_ip as u128)?;
        positive("--max-watches", max_watches as u128)?;
        positive("--max-watches-per-identity", max_watches_per_identity as u128)?;
        if max_connections_per_ip > max_connections {
            return Err(ArgsError::Invalid {
                flag: "--max-connections-per-ip",
                reason: format!("{max_connections_per_ip} is more than --max-connections {max_connections}"),
            });
        }
        for (flag, per_ip, total_flag, total) in [
            ("--max-tls-handshakes-per-ip", max_tls_handshakes_per_ip, "--max-tls-handshakes", max_tls_handshakes),
            (
                "--max-receiving-requests-per-ip",
                max_receiving_requests_per_ip,
                "--max-receiving-requests",
                max_receiving_requests,
            ),
        ] {
            if per_ip > total {
                return Err(ArgsError::Invalid { flag, reason: format!("{per_ip} is more than {total_flag} {total}") });
            }
        }
        if max_watches_per_identity > max_watches {
            return Err(ArgsError::Invalid {
                flag: "--max-watches-per-identity",
                reason: format!("{max_watches_per_identity} is more than --max-watches {max_watches}"),
            });
        }
        Ok(ListenerLimits {
            max_connections,
            max_connections_per_ip,
            max_tls_handshakes,
            max_tls_handshakes_per_ip,
            tls_first_byte_timeout,
            tls_handshake_timeout,
            max_concurrent_streams,
            keepalive_interval,
            keepalive_timeout,
            call_timeout,
            max_request_bytes,
            request_receive_timeout,
            max_receiving_requests,
            max_receiving_requests_per_ip,
            max_watches,
            max_watches_per_identity,
        })
    }
}

/// The `--*-seconds` flags (and `SCALEKEEPER_*_SECONDS` variables) of earlier releases, hidden
/// from the help. Each takes what its successor takes (a bare number is seconds, as before)
/// and may not be given together with it.
#[derive(Debug, Default, clap::Args)]
pub struct DeprecatedSecondsFlags {
    /// Replaced by --drain-timeout.
    #[arg(long, env = "SCALEKEEPER_DRAIN_TIMEOUT_SECONDS", hide = true, conflicts_with = "drain_timeout", value_parser = parse_duration)]
    pub drain_timeout_seconds: Option<Duration>,
    /// Replaced by --shutdown-delay.
    #[arg(long, env = "SCALEKEEPER_SHUTDOWN_DELAY_SECONDS", hide = true, conflicts_with = "shutdown_delay", value_parser = parse_duration)]
    pub shutdown_delay_seconds: Option<Duration>,
    /// Replaced by --stale-after.
    #[arg(long, env = "SCALEKEEPER_STALE_AFTER_SECONDS", hide = true, conflicts_with = "stale_after", value_parser = parse_duration)]
    pub stale_after_seconds: Option<Duration>,
    /// Replaced by --lease-duration.
    #[arg(long, env = "SCALEKEEPER_LEASE_DURATION_SECONDS", hide = true, conflicts_with = "lease_duration", value_parser = parse_duration)]
    pub lease_duration_seconds: Option<Duration>,
    /// Replaced by --lease-renew-grace.
    #[arg(long, env = "SCALEKEEPER_LEASE_RENEW_GRACE_SECONDS", hide = true, conflicts_with = "lease_renew_grace", value_parser = parse_duration)]
    pub lease_renew_grace_seconds: Option<Duration>,
    /// Replaced by --flap-window.
    #[arg(long, env = "SCALEKEEPER_FLAP_WINDOW_SECONDS", hide = true, conflicts_with = "flap_window", value_parser = parse_duration)]
    pub flap_window_seconds: Option<Duration>,
    /// Replaced by --flap-cool-down.
    #[arg(long, env = "SCALEKEEPER_FLAP_COOL_DOWN_SECONDS", hide = true, conflicts_with = "flap_cool_down", value_parser = parse_duration)]
    pub flap_cool_down_seconds: Option<Duration>,
    /// Replaced by --resync-interval.
    #[arg(long, env = "SCALEKEEPER_RESYNC_SECONDS", hide = true, conflicts_with = "resync_interval", value_parser = parse_duration)]
    pub resync_seconds: Option<Duration>,
}

/// The flags of `scalekeeper certs`.
#[derive(Debug, clap::Args)]
pub struct CertsArgs {
    /// Output directory (an existing CA there is reused).
    #[arg(long, default_value = ".scalekeeper/certs")]
    pub dir: PathBuf,
    /// Extra server names or IPs (besides localhost, 127.0.0.1, ::1), e.g. scalekeeper.ops.svc.
    #[arg(long = "server-name")]
    pub server_names: Vec<String>,
    /// Client identities to issue certificates for (SAN URI if it has "://", else DNS + CN).
    #[arg(long = "client")]
    pub clients: Vec<String>,
    /// Client certificates whose subject also names a group (its O value), as IDENTITY=GROUP,
    /// e.g. alice=oncall-break-glass: RBAC and `--break-glass-group` read the group.
    #[arg(long = "client-in-group", value_name = "IDENTITY=GROUP", value_parser = identity_in_group)]
    pub clients_in_group: Vec<(String, String)>,
    /// Validity in days.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
}

/// Parses `IDENTITY=GROUP` (both not empty) for `--client-in-group`.
fn identity_in_group(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((identity, group)) if !identity.trim().is_empty() && !group.trim().is_empty() => {
            Ok((identity.to_owned(), group.to_owned()))
        }
        _ => Err(format!("{s:?}: expected IDENTITY=GROUP")),
    }
}

/// Flags that parse but do not make sense together (or alone).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    /// The Lease timing cannot work: the leader must renew some time before its term ends.
    #[error(
        "--lease-renew-grace ({grace}s) must be more than 0 and less than --lease-duration ({duration}s): the \
         leader renews that long before its term ends"
    )]
    LeaseTiming {
        /// `--lease-duration`, seconds.
        duration: u64,
        /// `--lease-renew-grace`, seconds.
        grace: u64,
    },
    /// One flag's value is not acceptable; `reason` says why.
    #[error("{flag}: {reason}")]
    Invalid {
        /// The flag, e.g. `--namespace`.
        flag: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
}

/// What `scalekeeper serve` runs with, once its flags are checked.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// Kubeconfig to use instead of the inferred one.
    pub kubeconfig: Option<PathBuf>,
    /// The server's configuration.
    pub config: ServeConfig,
    /// Deprecated flags (or variables) in use, each with what replaces it: logged at start.
    pub deprecated: Vec<String>,
}

impl ServeArgs {
    /// Checks every flag and every combination of flags, and builds the server's
    /// configuration. Without `--identity`, the identity is the host name with a random suffix.
    ///
    /// # Errors
    ///
    /// - [`ArgsError::LeaseTiming`]: `--lease-renew-grace` is 0 or not less than
    ///   `--lease-duration`;
    /// - [`ArgsError::Invalid`]: a Lease time that is not whole seconds, a zero period
    ///   (`--stale-after`, `--flap-window`, `--flap-cool-down`, `--resync-interval`),
    ///   `--flap-max-corrections 0`, a `--namespace` or `--lease-namespace` that is not a
    ///   namespace name, an empty `--identity` or `--allowed-identity-prefix`, a deprecated
    ///   flag given with its successor.
    pub fn into_config(self) -> Result<ServeSettings, ArgsError> {
        let Self {
            grpc_listen,
            http_listen,
            tls_cert,
            tls_key,
            client_ca,
            client_crl,
            allowed_identity_prefixes,
            max_connection_age,
            max_connection_age_grace,
            kubeconfig,
            namespaces,
            max_replicas,
            drain_timeout,
            shutdown_delay,
            stale_after,
            log_format: _,
            leader_elect,
            lease_name,
            lease_namespace,
            identity,
            lease_duration,
            lease_renew_grace,
            flap_max_corrections,
            flap_window,
            flap_cool_down,
            resync_interval,
            declaration_grace,
            max_concurrent_reconciles,
            authorization,
            authorization_allow_ttl,
            authorization_deny_ttl,
            allow_system_groups,
            break_glass_groups,
            audit_log,
            limits,
            admission,
            deprecated,
        } = self;
        let limits = limits.into_limits()?;
        let AdmissionArgs {
            admission_listen,
            admission_tls_cert,
            admission_tls_key,
            admission_exempt,
            admission_break_glass_groups,
            default_guard,
            scale_request_retention,
        } = admission;
        if admission_listen.is_none() && (admission_tls_cert.is_some() || admission_tls_key.is_some()) {
            return Err(ArgsError::Invalid {
                flag: "--admission-tls-cert",
                reason: "the webhook's certificate and key need --admission-listen".into(),
            });
        }
        if admission_break_glass_groups.iter().any(|g| g.trim().is_empty()) {
            return Err(ArgsError::Invalid {
                flag: "--admission-break-glass-group",
                reason: "must not be empty".into(),
            });
        }
        let admission = admission_listen.map(|listen| AdmissionConfig {
            listen,
            tls: TlsSource::ServerOnly {
                cert: admission_tls_cert.unwrap_or_else(|| tls_cert.clone()),
                key: admission_tls_key.unwrap_or_else(|| tls_key.clone()),
            },
            exempt: admission_exempt,
            break_glass_groups: admission_break_glass_groups,
            credentials_user: None,
        });
        let DeprecatedSecondsFlags {
            drain_timeout_seconds,
            shutdown_delay_seconds,
            stale_after_seconds,
            lease_duration_seconds,
            lease_renew_grace_seconds,
            flap_window_seconds,
            flap_cool_down_seconds,
            resync_seconds,
        } = deprecated;
        let mut notes = vec![];
        let mut successor = |old: Option<Duration>, new: Duration, old_name: &str, new_name: &str| match old {
            Some(d) => {
                let env = |flag: &str| format!("SCALEKEEPER_{}", flag.replace('-', "_").to_uppercase());
                notes.push(format!(
                    "--{old_name} ({}) is deprecated; use --{new_name} ({})",
                    env(old_name),
                    env(new_name)
                ));
                d
            }
            None => new,
        };
        let drain_timeout = successor(drain_timeout_seconds, drain_timeout, "drain-timeout-seconds", "drain-timeout");
        let shutdown_delay =
            successor(shutdown_delay_seconds, shutdown_delay, "shutdown-delay-seconds", "shutdown-delay");
        let stale_after = successor(stale_after_seconds, stale_after, "stale-after-seconds", "stale-after");
        let lease_duration =
            successor(lease_duration_seconds, lease_duration, "lease-duration-seconds", "lease-duration");
        let lease_renew_grace =
            successor(lease_renew_grace_seconds, lease_renew_grace, "lease-renew-grace-seconds", "lease-renew-grace");
        let flap_window = successor(flap_window_seconds, flap_window, "flap-window-seconds", "flap-window");
        let flap_cool_down =
            successor(flap_cool_down_seconds, flap_cool_down, "flap-cool-down-seconds", "flap-cool-down");
        let resync_interval = successor(resync_seconds, resync_interval, "resync-seconds", "resync-interval");

        // Lease times are whole seconds: the Lease's leaseDurationSeconds is an integer.
        let duration = whole_seconds("--lease-duration", lease_duration)?;
        let grace = whole_seconds("--lease-renew-grace", lease_renew_grace)?;
        if grace == 0 || grace >= duration {
            return Err(ArgsError::LeaseTiming { duration, grace });
        }
        for (flag, d) in [
            ("--stale-after", stale_after),
            ("--flap-window", flap_window),
            ("--flap-cool-down", flap_cool_down),
            ("--resync-interval", resync_interval),
        ] {
            if d.is_zero() {
                return Err(ArgsError::Invalid { flag, reason: "must be more than 0".into() });
            }
        }
        if flap_max_corrections == 0 {
            return Err(ArgsError::Invalid { flag: "--flap-max-corrections", reason: "must be at least 1".into() });
        }
        if allowed_identity_prefixes.iter().any(|p| p.trim().is_empty()) {
            return Err(ArgsError::Invalid { flag: "--allowed-identity-prefix", reason: "must not be empty".into() });
        }
        let mut scoped: Vec<String> = vec![];
        for ns in namespaces {
            namespace_name("--namespace", &ns)?;
            if !scoped.contains(&ns) {
                scoped.push(ns);
            }
        }
        if leader_elect {
            namespace_name("--lease-namespace", &lease_namespace)?;
        }
        let identity = match identity {
            Some(i) if i.trim().is_empty() => {
                return Err(ArgsError::Invalid { flag: "--identity", reason: "must not be empty".into() });
            }
            Some(i) => i,
            None => default_identity(),
        };
        let scope = if scoped.is_empty() { Scope::All } else { Scope::Namespaces(scoped) };
        Ok(ServeSettings {
            kubeconfig,
            config: ServeConfig {
                grpc_listen,
                http_listen,
                tls: TlsFiles { cert: tls_cert, key: tls_key, client_ca, client_crl },
                client_policy: ClientPolicy { allowed_identity_prefixes },
                max_connection_age,
                max_connection_age_grace,
                scope,
                max_replicas,
                drain_timeout,
                shutdown_delay,
                stale_after,
                reconcile: ReconcileConfig {
                    flap_max: flap_max_corrections,
                    flap_window,
                    cool_down: flap_cool_down,
                    resync: resync_interval,
                    declaration_grace,
                    concurrency: max_concurrent_reconciles,
                    instance: identity.clone(),
                },
                audit_log,
                limits,
                admission,
                default_guard,
                scale_request_retention,
                authorization: AuthorizationConfig {
                    mode: authorization,
                    allow_ttl: authorization_allow_ttl,
                    deny_ttl: authorization_deny_ttl,
                    allow_system_groups,
                    break_glass_groups,
                },
                leader: leader_elect.then_some(LeaderConfig {
                    namespace: lease_namespace,
                    lease_name,
                    identity,
                    duration_seconds: duration,
                    grace_seconds: grace,
                }),
            },
            deprecated: notes,
        })
    }
}

/// `d` in seconds, if it is a whole number of them.
fn whole_seconds(flag: &'static str, d: Duration) -> Result<u64, ArgsError> {
    if d.subsec_nanos() == 0 {
        Ok(d.as_secs())
    } else {
        Err(ArgsError::Invalid { flag, reason: format!("{d:?} is not a whole number of seconds") })
    }
}

fn namespace_name(flag: &'static str, ns: &str) -> Result<(), ArgsError> {
    let violations = validate_namespace_filter(ns);
    if ns.is_empty() {
        Err(ArgsError::Invalid { flag, reason: "empty namespace name".into() })
    } else if let Some(v) = violations.first() {
        Err(ArgsError::Invalid { flag, reason: v.description.clone() })
    } else {
        Ok(())
    }
}

/// The host name with a random 8-character suffix (a Pod's name when run without `POD_NAME`).
fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "scalekeeper".into());
    format!("{}-{}", host.trim(), &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// Parses a duration flag: [`scalekeeper_core::duration::parse`] (`20s`, `1m30s`, `500ms`,
/// `PT20S`; a bare integer is seconds).
///
/// # Errors
///
/// Not a duration, or a negative one; the message says which and shows an example.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    scalekeeper_core::duration::parse(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    fn serve(flags: &[&str]) -> Result<ServeArgs, clap::Error> {
        let base =
            ["scalekeeper", "serve", "--tls-cert", "c", "--tls-key", "k", "--client-ca", "ca", "--identity", "me"];
        let Args { command } = Args::try_parse_from(base.iter().chain(flags))?;
        match command {
            Command::Serve(args) => Ok(*args),
            _ => unreachable!("parsed serve"),
        }
    }

    /// `scalekeeper dev` with `flags`.
    #[cfg(feature = "dev")]
    fn dev_flags(flags: &[&str]) -> Result<DevConfig, clap::Error> {
        let args = Args::try_parse_from(["scalekeeper", "dev"].iter().chain(flags))?;
        match args.command {
            Command::Dev(config) => Ok(config),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[cfg(feature = "dev")]
    #[test]
    fn dev_bounds_what_kubesim_keeps_and_the_flags_change_it() {
        // Issue 28, defect 10: unbounded, dev mode grew about 38 MiB a minute under churn.
        let c = dev_flags(&[]).expect("the defaults parse");
        assert_eq!((c.kube_watch_history, c.kube_event_ttl), (10_000, Duration::from_secs(3600)));
        let c = dev_flags(&["--kube-watch-history", "500", "--kube-event-ttl", "10m"]).expect("parses");
        assert_eq!((c.kube_watch_history, c.kube_event_ttl), (500, Duration::from_secs(600)));
        assert_eq!(dev_flags(&["--kube-event-ttl", "0"]).expect("0: never").kube_event_ttl, Duration::ZERO);
        assert!(dev_flags(&["--kube-event-ttl", "soon"]).is_err());
    }

    fn config(flags: &[&str]) -> Result<ServeSettings, ArgsError> {
        serve(flags).expect("flags parse").into_config()
    }

    /// The reconcile defaults have one owner, `scalekeeper_core::Limits::default()` with
    /// `reconciler::DEFAULT_CONCURRENCY` (what `ReconcileConfig::default()` and dev mode use):
    /// the flags' defaults and the chart's values must say the same (issue 25: they were
    /// written in three places, tied by nothing).
    #[test]
    fn reconcile_defaults_are_the_cores_in_the_flags_and_the_chart() {
        use crate::reconciler::ReconcileConfig;
        let want = ReconcileConfig::default();
        let key = |r: &ReconcileConfig| {
            (r.flap_max, r.flap_window, r.cool_down, r.resync, r.declaration_grace, r.concurrency)
        };
        let got = config(&[]).expect("the defaults are valid").config.reconcile;
        assert_eq!(key(&got), key(&want), "serve's flag defaults");
        let values: serde_yaml::Value =
            serde_yaml::from_str(include_str!("../../../../charts/scalekeeper/values.yaml")).expect("values.yaml");
        let chart = |field: &str| values["config"][field].as_u64().unwrap_or_else(|| panic!("config.{field}"));
        assert_eq!(chart("flapMaxCorrections"), want.flap_max as u64);
        assert_eq!(chart("flapWindowSeconds"), want.flap_window.as_secs());
        assert_eq!(chart("flapCoolDownSeconds"), want.cool_down.as_secs());
        assert_eq!(chart("resyncSeconds"), want.resync.as_secs());
        assert_eq!(chart("maxConcurrentReconciles"), u64::from(want.concurrency));
    }

    #[test]
    fn the_command_line_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn durations_take_units_or_bare_seconds() {
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("PT2M"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("20"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn defaults() {
        let s = config(&[]).expect("defaults are valid");
        let c = s.config;
        assert_eq!(c.drain_timeout, Duration::from_secs(20));
        assert_eq!(c.shutdown_delay, Duration::ZERO);
        assert_eq!(c.stale_after, Duration::from_secs(5));
        assert_eq!(c.reconcile.flap_window, Duration::from_secs(60));
        assert_eq!(c.reconcile.cool_down, Duration::from_secs(300));
        assert_eq!(c.reconcile.resync, Duration::from_secs(300));
        assert_eq!(c.reconcile.concurrency, crate::reconciler::DEFAULT_CONCURRENCY);
        assert!(serve(&["--max-concurrent-reconciles", "0"]).is_err(), "at least one");
        let leader = c.leader.expect("leader election is on by default");
        assert_eq!((leader.duration_seconds, leader.grace_seconds), (15, 10));
        assert_eq!(c.scope, Scope::All);
        assert_eq!(c.max_connection_age, Duration::from_secs(3600));
        assert_eq!(c.max_connection_age_grace, Duration::from_secs(30));
        assert_eq!(c.tls.client_crl, None);
        assert!(c.client_policy.allowed_identity_prefixes.is_empty());
        assert!(s.deprecated.is_empty());
        assert_eq!(c.limits, ListenerLimits::default(), "the flags' defaults are ListenerLimits' defaults");
    }

    #[test]
    fn listener_limit_flags() {
        let c = config(&["--max-connections-per-ip", "8", "--call-timeout", "2s", "--max-request-bytes", "1024"])
            .expect("valid")
            .config;
        assert_eq!(c.limits.max_connections_per_ip, 8);
        assert_eq!(c.limits.call_timeout, Duration::from_secs(2));
        assert_eq!(c.limits.max_request_bytes, 1024);
        assert!(matches!(config(&["--max-watches", "0"]), Err(ArgsError::Invalid { flag: "--max-watches", .. })));
        assert!(matches!(
            config(&["--max-connections", "10", "--max-connections-per-ip", "11"]),
            Err(ArgsError::Invalid { flag: "--max-connections-per-ip", .. })
        ));
        assert!(matches!(
            config(&["--max-watches", "5", "--max-watches-per-identity", "6"]),
            Err(ArgsError::Invalid { flag: "--max-watches-per-identity", .. })
        ));
    }

    #[test]
    fn client_certificate_policy_flags() {
        let c = config(&[
            "--client-crl",
            "crl.pem",
            "--allowed-identity-prefix",
            "spiffe://prod/,alice",
            "--allowed-identity-prefix",
            "bob",
            "--max-connection-age",
            "0",
        ])
        .expect("valid")
        .config;
        assert_eq!(c.tls.client_crl, Some(PathBuf::from("crl.pem")));
        assert_eq!(c.client_policy.allowed_identity_prefixes, ["spiffe://prod/", "alice", "bob"]);
        assert_eq!(c.max_connection_age, Duration::ZERO);
        assert!(matches!(
            config(&["--allowed-identity-prefix", " "]),
            Err(ArgsError::Invalid { flag: "--allowed-identity-prefix", .. })
        ));
    }

    #[test]
    fn admission_guard_flags() {
        let c = config(&[]).expect("valid").config;
        assert_eq!((c.admission, c.default_guard), (None, PolicyGuard::Warn), "off unless --admission-listen");
        let c = config(&[
            "--admission-listen",
            "127.0.0.1:8443",
            "--admission-exempt",
            "user:system:serviceaccount:kube-system:horizontal-pod-autoscaler,group:system:serviceaccounts:keda",
            "--admission-break-glass-group",
            "oncall",
            "--default-guard",
            "Deny",
        ])
        .expect("valid")
        .config;
        let a = c.admission.expect("served");
        assert_eq!(a.listen, "127.0.0.1:8443".parse().unwrap());
        assert_eq!(a.tls, TlsSource::ServerOnly { cert: "c".into(), key: "k".into() }, "the gRPC port's by default");
        assert_eq!(a.exempt.len(), 2);
        assert_eq!(a.break_glass_groups, ["oncall"]);
        assert_eq!(c.default_guard, PolicyGuard::Deny);
        assert!(serve(&["--admission-exempt", "alice"]).is_err(), "user: or group: is required");
        assert!(serve(&["--default-guard", "block"]).is_err());
        assert!(!config(&[]).unwrap().config.authorization.allow_system_groups, "refused by default");
        assert!(config(&["--allow-system-groups"]).unwrap().config.authorization.allow_system_groups);
        assert!(!config(&["--allow-system-groups=false"]).unwrap().config.authorization.allow_system_groups);
        assert!(matches!(
            config(&["--admission-tls-cert", "w.pem"]),
            Err(ArgsError::Invalid { flag: "--admission-tls-cert", .. })
        ));
    }

    #[test]
    fn old_seconds_flags_still_work_and_are_reported() {
        let s = config(&["--drain-timeout-seconds", "7", "--resync-seconds", "60", "--lease-duration-seconds", "30"])
            .expect("valid");
        assert_eq!(s.config.drain_timeout, Duration::from_secs(7));
        assert_eq!(s.config.reconcile.resync, Duration::from_secs(60));
        assert_eq!(s.config.leader.expect("elect").duration_seconds, 30);
        assert_eq!(s.deprecated.len(), 3, "{:?}", s.deprecated);
        assert_eq!(
            s.deprecated[0],
            "--drain-timeout-seconds (SCALEKEEPER_DRAIN_TIMEOUT_SECONDS) is deprecated; use --drain-timeout \
             (SCALEKEEPER_DRAIN_TIMEOUT)"
        );
        let new = config(&["--drain-timeout", "1m30s", "--shutdown-delay", "2s"]).expect("valid");
        assert_eq!(new.config.drain_timeout, Duration::from_secs(90));
        assert_eq!(new.config.shutdown_delay, Duration::from_secs(2));
        let both = serve(&["--drain-timeout", "5s", "--drain-timeout-seconds", "5"]);
        assert_eq!(both.expect_err("old and new together").kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn cross_flag_checks() {
        assert_eq!(
            config(&["--lease-duration", "10s", "--lease-renew-grace", "10s"]).unwrap_err(),
            ArgsError::LeaseTiming { duration: 10, grace: 10 }
        );
        assert!(matches!(config(&["--lease-renew-grace", "0"]), Err(ArgsError::LeaseTiming { .. })));
        assert!(matches!(
            config(&["--lease-duration", "15.5s"]),
            Err(ArgsError::Invalid { flag: "--lease-duration", .. })
        ));
        assert!(matches!(config(&["--flap-max-corrections", "0"]), Err(ArgsError::Invalid { .. })));
        assert!(matches!(
            config(&["--resync-interval", "0s"]),
            Err(ArgsError::Invalid { flag: "--resync-interval", .. })
        ));
        assert!(matches!(config(&["--namespace", "Shop"]), Err(ArgsError::Invalid { flag: "--namespace", .. })));
        assert!(matches!(config(&["--namespace", "a,,b"]), Err(ArgsError::Invalid { flag: "--namespace", .. })));
        let s = config(&["--namespace", "a,b", "--namespace", "a"]).expect("valid");
        assert_eq!(s.config.scope, Scope::Namespaces(vec!["a".into(), "b".into()]));
        let single = config(&["--leader-elect", "false", "--lease-namespace", "Not A Namespace"]).expect("unused");
        assert!(single.config.leader.is_none());
    }

    #[test]
    fn client_in_group_is_identity_equals_group() {
        assert_eq!(identity_in_group("dan=oncall"), Ok(("dan".into(), "oncall".into())));
        assert_eq!(identity_in_group("spiffe://c/sa/x=sre"), Ok(("spiffe://c/sa/x".into(), "sre".into())));
        for bad in ["dan", "=oncall", "dan=", " = "] {
            assert!(identity_in_group(bad).is_err(), "{bad:?}");
        }
    }
}
