//! Test harness: kubesim + `scalekeeper serve` in-process, over real mTLS and real HTTP.
//!
//! [`start`] / [`start_with`] give an [`Env`] on kubesim. [`start_target`] gives a [`TargetEnv`]
//! on kubesim or, when `SCALEKEEPER_TEST_KUBECONFIG` is set, on that real cluster
//! (`support/cluster.rs`).
#![allow(dead_code, clippy::unwrap_used)]

#[path = "../support/cluster.rs"]
pub mod cluster;
#[path = "../support/proxy.rs"]
pub mod proxy;

use std::path::{Path, PathBuf};
use std::time::Duration;

use scalekeeper::cache::Scope;
use scalekeeper::certs;
use scalekeeper::server::{ServeConfig, Server};
use scalekeeper::tls::TlsFiles;
use scalekeeper_api::v1::scale_service_client::ScaleServiceClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

pub const SEED: &str = include_str!("../../../../examples/kubesim-seed.yaml");
/// How long a GET of `/readyz` or `/metrics` may take.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// A contexts file no test writes: every test that runs the CLI or `scalekeeper dev` points
/// `SCALEKEEPER_CONFIG` here (or at a file of its own), so a developer's file never leaks in.
pub const NO_CLIENT_CONFIG: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/no-client-config.yaml");

/// RBAC through SubjectAccessReviews, with 100 ms decision caches so that a binding a test
/// makes applies at once, and no certificate claiming a `system:` group.
pub fn rbac() -> scalekeeper::server::AuthorizationConfig {
    scalekeeper::server::AuthorizationConfig {
        mode: scalekeeper::authz::AuthorizationMode::Rbac,
        allow_ttl: Duration::from_millis(100),
        deny_ttl: Duration::from_millis(100),
        allow_system_groups: false,
        break_glass_groups: vec![],
    }
}

/// A finished CLI run as (exit code, stdout, stderr); -1 when a signal ended it.
pub fn outcome(out: std::process::Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A plain HTTP/1.1 GET of the server's HTTP port: (status, body), or (0, "") without an
/// answer within [`HTTP_TIMEOUT`].
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    testkit::http_get(addr, path, HTTP_TIMEOUT).await.unwrap_or_default()
}

/// A running kubesim + scalekeeper pair.
pub struct Env {
    pub sim: kubesim::Sim,
    pub server: Option<Server>,
    pub dir: tempfile::TempDir,
    pub certs: certs::DevCerts,
    pub grpc_addr: std::net::SocketAddr,
    pub http_addr: std::net::SocketAddr,
    /// The admission webhook's address, when [`Options::admission`].
    pub admission_addr: Option<std::net::SocketAddr>,
}

pub struct Options {
    pub scope: Scope,
    pub max_replicas: i32,
    pub clients: Vec<String>,
    pub reconcile: scalekeeper::reconciler::ReconcileConfig,
    /// [`start_target`] on a real cluster: the server reaches the API server through a
    /// [`proxy::Proxy`] ([`TargetEnv::proxy`]) the test can cut, as kubesim can go down.
    pub via_proxy: bool,
    /// Authorization: allow-any by default, so suites about other things need no RBAC
    /// objects; `tests/authz.rs` runs with RBAC.
    pub authorization: scalekeeper::server::AuthorizationConfig,
    /// The audit trail's file, if any.
    pub audit_log: Option<std::path::PathBuf>,
    /// The listener's limits.
    pub limits: scalekeeper::limits::ListenerLimits,
    /// Serve the admission guard's webhook on a free localhost port, with these break-glass
    /// groups (`--admission-break-glass-group`); `None`: no webhook.
    pub admission: Option<Vec<String>>,
    /// `--default-guard`.
    pub default_guard: scalekeeper::policy::PolicyGuard,
    /// `--scale-request-retention`.
    pub scale_request_retention: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            scope: Scope::All,
            max_replicas: 1000,
            clients: vec!["alice".into(), "spiffe://test/ns/ci/sa/bot".into()],
            reconcile: Default::default(),
            via_proxy: false,
            authorization: scalekeeper::server::AuthorizationConfig {
                mode: scalekeeper::authz::AuthorizationMode::AllowAny,
                ..Default::default()
            },
            audit_log: None,
            limits: Default::default(),
            admission: None,
            default_guard: Default::default(),
            scale_request_retention: scalekeeper_core::approval::DEFAULT_REQUEST_RETENTION,
        }
    }
}

pub async fn start() -> Env {
    start_with(Options::default()).await
}

pub async fn start_with(opts: Options) -> Env {
    start_on(start_sim().await, opts).await
}

/// [`start`] on a kubesim whose CRD `missing` (e.g. `scalerequests.scalekeeper.dev`) is not
/// installed: a cluster set up by an older version.
pub async fn start_without_crd(missing: &str) -> Env {
    start_on(start_sim_with(Some(missing)).await, Options::default()).await
}

async fn start_on(sim: kubesim::Sim, opts: Options) -> Env {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let certs = certs::write_dev_certs(&dir.path().join("certs"), &[], &opts.clients, 1).expect("certs");
    let server = start_server(sim.client().await.unwrap(), &certs, opts).await;
    let env = Env {
        grpc_addr: server.grpc_addr,
        http_addr: server.http_addr,
        admission_addr: server.admission_addr,
        sim,
        server: Some(server),
        dir,
        certs,
    };
    env.wait_ready().await;
    env
}

/// kubesim with the CRD and the seed objects.
pub async fn start_sim() -> kubesim::Sim {
    start_sim_with(None).await
}

/// kubesim with the CRDs but `missing`, and the seed objects.
async fn start_sim_with(missing: Option<&str>) -> kubesim::Sim {
    let sim =
        kubesim::Sim::start(kubesim::SimConfig { deployment_delay: Duration::from_millis(20), ..Default::default() })
            .await
            .expect("kubesim starts");
    for crd in scalekeeper::crds::all().into_iter().filter(|c| c.metadata.name.as_deref() != missing) {
        sim.apply(serde_json::to_value(crd).unwrap()).expect("CRD installs");
    }
    sim.seed_yaml(SEED).expect("seed loads");
    sim
}

/// `scalekeeper serve`, in-process, on free localhost ports.
async fn start_server(client: kube::Client, certs: &certs::DevCerts, opts: Options) -> Server {
    Server::start(
        client,
        ServeConfig {
            grpc_listen: "127.0.0.1:0".parse().unwrap(),
            http_listen: "127.0.0.1:0".parse().unwrap(),
            tls: TlsFiles {
                cert: certs.server_cert.clone(),
                key: certs.server_key.clone(),
                client_ca: certs.ca.clone(),
                client_crl: None,
            },
            client_policy: Default::default(),
            max_connection_age: Duration::from_secs(3600),
            max_connection_age_grace: Duration::from_secs(30),
            scope: opts.scope,
            max_replicas: opts.max_replicas,
            drain_timeout: Duration::from_secs(5),
            shutdown_delay: Duration::ZERO,
            stale_after: Duration::from_secs(2),
            reconcile: opts.reconcile,
            leader: None,
            authorization: opts.authorization,
            audit_log: opts.audit_log,
            limits: opts.limits,
            admission: opts.admission.map(|break_glass_groups| scalekeeper::admission::AdmissionConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                tls: scalekeeper::tls::TlsSource::ServerOnly {
                    cert: certs.server_cert.clone(),
                    key: certs.server_key.clone(),
                },
                exempt: vec![],
                break_glass_groups,
                credentials_user: None,
            }),
            default_guard: opts.default_guard,
            scale_request_retention: opts.scale_request_retention,
        },
    )
    .await
    .expect("server starts")
}

/// The Kubernetes API of a [`TargetEnv`]: kubesim in-process, or the real cluster named by
/// `SCALEKEEPER_TEST_KUBECONFIG` (see `support/cluster.rs`).
pub enum Target {
    Sim(kubesim::Sim),
    Real {
        kubeconfig: PathBuf,
        /// Appended to every namespace the test uses (`shop` becomes `shop-1a2b3c4d`).
        suffix: String,
        namespaces: cluster::Namespaces,
    },
}

/// kubesim or a real cluster with the seed Deployments (in namespaces of the test's own on a
/// real cluster), and `scalekeeper serve` in-process, scoped to them.
pub struct TargetEnv {
    pub server: Option<Server>,
    /// The proxy between the server and a real API server, when [`Options::via_proxy`].
    pub proxy: Option<proxy::Proxy>,
    pub target: Target,
    pub kube: kube::Client,
    pub dir: tempfile::TempDir,
    pub certs: certs::DevCerts,
    pub grpc_addr: std::net::SocketAddr,
    pub http_addr: std::net::SocketAddr,
}

/// Starts a [`TargetEnv`] on the target `SCALEKEEPER_TEST_KUBECONFIG` selects. On a real
/// cluster `Scope::All` means the test's namespaces, and named namespaces are mapped to the
/// test's.
pub async fn start_target(mut opts: Options) -> TargetEnv {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let certs = certs::write_dev_certs(&dir.path().join("certs"), &[], &opts.clients, 1).expect("certs");
    let mut proxy = None;
    let (target, kube, server_kube) = match cluster::real_kubeconfig() {
        None => {
            let sim = start_sim().await;
            let kube = sim.client().await.unwrap();
            (Target::Sim(sim), kube.clone(), kube)
        }
        Some(kubeconfig) => {
            let kube = cluster::client_for(&kubeconfig).await;
            for crd in scalekeeper::crds::all() {
                cluster::install_crd(&kube, serde_json::to_value(crd).unwrap()).await;
            }
            let suffix = cluster::unique_name("t").trim_start_matches("t-").to_string();
            let map = |ns: &str| format!("{ns}-{suffix}");
            let names: Vec<String> = cluster::seed_namespaces(SEED).iter().map(|n| map(n)).collect();
            let namespaces = cluster::create_namespaces(&kube, &kubeconfig, &names).await;
            cluster::seed_yaml(&kube, SEED, map).await;
            opts.scope = match opts.scope {
                Scope::All => Scope::Namespaces(names),
                Scope::Namespaces(v) => Scope::Namespaces(v.iter().map(|n| map(n)).collect()),
            };
            let server_kube = if opts.via_proxy {
                let p = proxy::Proxy::start(cluster::server_addr(&kubeconfig)).await;
                let proxied = dir.path().join("kubeconfig-via-proxy");
                cluster::kubeconfig_via(&kubeconfig, &proxied, p.addr);
                proxy = Some(p);
                cluster::client_for(&proxied).await
            } else {
                kube.clone()
            };
            (Target::Real { kubeconfig, suffix, namespaces }, kube, server_kube)
        }
    };
    let server = start_server(server_kube, &certs, opts).await;
    let env = TargetEnv {
        proxy,
        grpc_addr: server.grpc_addr,
        http_addr: server.http_addr,
        target,
        kube,
        server: Some(server),
        dir,
        certs,
    };
    testkit::wait_for_async("readyz 200", Duration::from_secs(30), testkit::POLL, || async {
        env.readyz().await == 200
    })
    .await;
    env
}

impl TargetEnv {
    /// Whether this runs against a real API server.
    pub fn is_real(&self) -> bool {
        matches!(self.target, Target::Real { .. })
    }

    /// kubesim, when that is the target: for what only kubesim can tell (its write log) or do
    /// (go down).
    pub fn sim(&self) -> Option<&kubesim::Sim> {
        match &self.target {
            Target::Sim(sim) => Some(sim),
            Target::Real { .. } => None,
        }
    }

    /// The namespace the test uses for the seed's namespace `seed_ns`.
    pub fn ns(&self, seed_ns: &str) -> String {
        match &self.target {
            Target::Sim(_) => seed_ns.to_string(),
            Target::Real { suffix, .. } => format!("{seed_ns}-{suffix}"),
        }
    }

    /// A kubeconfig for kubectl.
    pub fn kubeconfig(&self) -> PathBuf {
        match &self.target {
            Target::Sim(sim) => {
                let p = self.dir.path().join("kubeconfig");
                if !p.is_file() {
                    sim.write_kubeconfig(&p).unwrap();
                }
                p
            }
            Target::Real { kubeconfig, .. } => kubeconfig.clone(),
        }
    }

    pub async fn client_as(&self, identity: &str) -> ScaleServiceClient<Channel> {
        client_as(&self.certs, self.grpc_addr, identity).await
    }

    pub async fn client(&self) -> ScaleServiceClient<Channel> {
        self.client_as("alice").await
    }

    pub async fn readyz(&self) -> u16 {
        http_get(self.http_addr, "/readyz").await.0
    }

    pub async fn wait_ready(&self) {
        testkit::wait_for_async("readyz 200", Duration::from_secs(10), testkit::POLL, || async {
            self.readyz().await == 200
        })
        .await;
    }

    /// `spec.replicas`, read through the API.
    pub async fn spec_replicas(&self, ns: &str, name: &str) -> i64 {
        cluster::spec_replicas(&self.kube, ns, name).await
    }

    /// The ReplicaPolicy, read through the API.
    pub async fn policy(&self, ns: &str, name: &str) -> Option<serde_json::Value> {
        cluster::get_json(&self.kube, "scalekeeper.dev/v1alpha1", "ReplicaPolicy", ns, name).await
    }

    /// The value of a sample in `/metrics` (`name{labels}` exactly as exposed), 0 when absent.
    pub async fn metric(&self, sample: &str) -> f64 {
        let (code, body) = http_get(self.http_addr, "/metrics").await;
        assert_eq!(code, 200, "/metrics: {body}");
        body.lines().find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.trim().parse().ok()).unwrap_or(0.0)
    }
}

async fn client_as(
    certs: &certs::DevCerts,
    grpc_addr: std::net::SocketAddr,
    identity: &str,
) -> ScaleServiceClient<Channel> {
    let (_, cert, key) = certs.clients.iter().find(|(i, _, _)| i == identity).cloned().expect("client cert");
    ScaleServiceClient::new(channel(grpc_addr, &certs.ca, Some((&cert, &key))).await.expect("mTLS connect"))
}

pub async fn channel(
    grpc_addr: std::net::SocketAddr,
    ca: &Path,
    cert_key: Option<(&Path, &Path)>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(ca).unwrap()))
        .domain_name("localhost");
    if let Some((cert, key)) = cert_key {
        tls = tls.identity(Identity::from_pem(std::fs::read(cert).unwrap(), std::fs::read(key).unwrap()));
    }
    Endpoint::from_shared(format!("https://localhost:{}", grpc_addr.port()))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
}

impl Env {
    pub fn client_files(&self, identity: &str) -> (PathBuf, PathBuf) {
        let (_, cert, key) = self.certs.clients.iter().find(|(i, _, _)| i == identity).cloned().expect("client cert");
        (cert, key)
    }

    pub async fn channel_with(
        &self,
        ca: &Path,
        cert_key: Option<(&Path, &Path)>,
    ) -> Result<Channel, tonic::transport::Error> {
        channel(self.grpc_addr, ca, cert_key).await
    }

    pub async fn client_as(&self, identity: &str) -> ScaleServiceClient<Channel> {
        client_as(&self.certs, self.grpc_addr, identity).await
    }

    pub async fn client(&self) -> ScaleServiceClient<Channel> {
        self.client_as("alice").await
    }

    pub async fn readyz(&self) -> u16 {
        http_get(self.http_addr, "/readyz").await.0
    }

    pub async fn wait_ready(&self) {
        testkit::wait_for_async("readyz 200", Duration::from_secs(10), testkit::POLL, || async {
            self.readyz().await == 200
        })
        .await;
    }

    pub fn spec_replicas(&self, ns: &str, name: &str) -> i64 {
        self.sim.get("apps/v1", "Deployment", ns, name).expect("deployment")["spec"]["replicas"].as_i64().unwrap()
    }

    pub fn policy(&self, ns: &str, name: &str) -> Option<serde_json::Value> {
        self.sim.get("scalekeeper.dev/v1alpha1", "ReplicaPolicy", ns, name)
    }

    pub fn kubeconfig(&self) -> PathBuf {
        let p = self.dir.path().join("kubeconfig");
        self.sim.write_kubeconfig(&p).unwrap();
        p
    }

    /// The value of the sample `sample` (name and labels) in `/metrics`; 0 when absent.
    pub async fn metric(&self, sample: &str) -> f64 {
        let (code, body) = http_get(self.http_addr, "/metrics").await;
        assert_eq!(code, 200, "/metrics: {body}");
        body.lines().find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.trim().parse().ok()).unwrap_or(0.0)
    }

    /// POSTs `review` (an AdmissionReview) to the admission webhook over HTTPS, verifying its
    /// certificate with the dev CA as the API server does with the caBundle; the answer.
    pub async fn admit(&self, review: &serde_json::Value) -> serde_json::Value {
        let addr = self.admission_addr.expect("the env serves the admission webhook (Options::admission)");
        post_admission(addr, &self.certs.ca, review).await
    }
}

/// POSTs an AdmissionReview to the webhook at `addr` (its certificate checked against `ca` for
/// the name `localhost`) on the path `files/admission-webhook.yaml` names; the answer. A kube
/// client does the HTTPS: it is the client library already in the tree.
pub async fn post_admission(addr: std::net::SocketAddr, ca: &Path, review: &serde_json::Value) -> serde_json::Value {
    use rustls_pki_types::pem::PemObject as _;
    let der: Vec<Vec<u8>> =
        rustls_pki_types::CertificateDer::pem_file_iter(ca).unwrap().map(|c| c.unwrap().as_ref().to_vec()).collect();
    let mut config = kube::Config::new(format!("https://localhost:{}", addr.port()).parse().unwrap());
    config.root_cert = Some(der);
    let client = kube::Client::try_from(config).unwrap();
    let path = &scalekeeper::admission::config::webhook_file().unwrap().path;
    let req = axum::http::Request::post(path.as_str())
        .header("content-type", "application/json")
        .body(serde_json::to_vec(review).unwrap())
        .unwrap();
    client.request::<serde_json::Value>(req).await.expect("the webhook answers")
}

/// A ClusterRole granting `verbs` on replicapolicies.scalekeeper.dev, named uniquely for this
/// test (`what`, the test's namespace suffix: the cluster may be shared); an old one of the same
/// name is replaced.
pub async fn cluster_role(env: &TargetEnv, what: &str, verbs: &[&str]) -> String {
    use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
    use kube::api::{Api, DeleteParams, PostParams};
    let name = format!("scalekeeper-test-{what}-{}", env.ns("x").trim_start_matches('x'));
    let name = name.trim_end_matches('-').to_string();
    let api: Api<ClusterRole> = Api::all(env.kube.clone());
    let _ = api.delete(&name, &DeleteParams::default()).await;
    let role = ClusterRole {
        metadata: kube::api::ObjectMeta { name: Some(name.clone()), ..Default::default() },
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec!["scalekeeper.dev".into()]),
            resources: Some(vec!["replicapolicies".into()]),
            verbs: verbs.iter().map(|v| v.to_string()).collect(),
            ..Default::default()
        }]),
        ..Default::default()
    };
    api.create(&PostParams::default(), &role).await.unwrap();
    name
}

/// Binds `user` to ClusterRole `role` in namespace `ns` (a RoleBinding named `USER-ROLE`).
pub async fn bind(env: &TargetEnv, ns: &str, role: &str, user: &str) {
    use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
    use kube::api::{Api, PostParams};
    let api: Api<RoleBinding> = Api::namespaced(env.kube.clone(), ns);
    let binding = RoleBinding {
        metadata: kube::api::ObjectMeta { name: Some(format!("{user}-{role}")), ..Default::default() },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: role.into(),
        },
        subjects: Some(vec![Subject {
            kind: "User".into(),
            name: user.into(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            ..Default::default()
        }]),
    };
    api.create(&PostParams::default(), &binding).await.unwrap();
}

/// A client certificate signed by the env's dev CA for `identity`, claiming `group` in its O.
pub async fn client_with_group(
    env: &TargetEnv,
    identity: &str,
    group: &str,
) -> scalekeeper_api::v1::scale_service_client::ScaleServiceClient<tonic::transport::Channel> {
    let dir = &env.certs.dir;
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    let ca = scalekeeper::certs::Ca::from_pem(&read("ca.pem"), &read("ca-key.pem")).unwrap();
    let pair = ca.client_cert_in_group(identity, group, 1).unwrap();
    let slug = group.replace(':', "-");
    let (cert, key) =
        (dir.join(format!("group-{identity}-{slug}.pem")), dir.join(format!("group-{identity}-{slug}-key.pem")));
    std::fs::write(&cert, &pair.cert_pem).unwrap();
    std::fs::write(&key, &pair.key_pem).unwrap();
    let channel = channel(env.grpc_addr, &env.certs.ca, Some((&cert, &key))).await.unwrap();
    scalekeeper_api::v1::scale_service_client::ScaleServiceClient::new(channel)
}
