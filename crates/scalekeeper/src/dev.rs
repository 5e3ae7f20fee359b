//! `scalekeeper dev`: the whole thing on a laptop with no cluster.
//!
//! Starts kubesim in-process (sample Deployments in two namespaces, the ReplicaPolicy CRD
//! installed), writes dev certificates, a kubeconfig and a CLI environment file into one
//! directory, adds a context for this instance to the client configuration file (`--context`,
//! default `dev`; `scalekeeper config get-contexts`), and serves the API on localhost until
//! SIGINT/SIGTERM.
//!
//! Only in builds with the `dev` cargo feature (`make run`, the black-box test): kubesim is an
//! optional dependency, so release builds and the image carry no API server simulator.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use crate::cache::Scope;
use crate::certs;
use crate::reconciler::ReconcileConfig;
use crate::server::{self, AuthorizationConfig, ServeConfig, Server};
use crate::tls::{ClientPolicy, TlsFiles};

/// The sample objects dev mode starts with.
pub const SAMPLE: &str = include_str!("../../../examples/kubesim-seed.yaml");

/// The client identity of the dev certificate the env file points at: an editor (it may
/// read and set every replica count).
pub const DEV_IDENTITY: &str = "dev-admin";

/// The identity of the second dev certificate (`client-dev-viewer.pem`): a viewer (it may
/// read but not set), so the walkthrough can show a refusal.
pub const DEV_VIEWER: &str = "dev-viewer";

/// The identity of the third dev certificate (`client-dev-approver.pem`): an approver of the
/// two-person rule (ClusterRole `scalekeeper-approver`: it may read, and approve or deny
/// ScaleRequests, but not set), so the walkthrough can show a change approved by a second
/// identity.
pub const DEV_APPROVER: &str = "dev-approver";

/// The identity of the fourth dev certificate (`client-dev-oncall.pem`): an editor and approver
/// in the break-glass group [`DEV_BREAK_GLASS_GROUP`] (its certificate's O), so the walkthrough
/// can show a break-glass change and its review.
pub const DEV_ONCALL: &str = "dev-oncall";

/// The break-glass group of dev mode (`--break-glass-group`): [`DEV_ONCALL`]'s.
pub const DEV_BREAK_GLASS_GROUP: &str = "dev-break-glass";

/// The Kubernetes user scalekeeper itself is in dev mode (its ServiceAccount, as the chart
/// would make it), distinct from the user of the kubeconfig dev mode writes for kubectl
/// (kubesim's admin): the admission guard exempts scalekeeper's own writes, not kubectl's.
pub const DEV_SERVICE_ACCOUNT: &str = "system:serviceaccount:scalekeeper:scalekeeper";

/// The sample Deployment whose `spec.replicas` a GitOps tool also owns: dev mode server-side
/// applies it as [`SAMPLE_GITOPS_MANAGER`], so `scalekeeper explain shop/cart` shows the fight
/// it would have with scalekeeper and the setting that stops it.
pub const SAMPLE_GITOPS_DEPLOYMENT: (&str, &str) = ("shop", "cart");

/// The field manager of [`SAMPLE_GITOPS_DEPLOYMENT`]'s `spec.replicas`: Argo CD's, as its
/// server-side apply names itself.
pub const SAMPLE_GITOPS_MANAGER: &str = "argocd-controller";

/// Server-side applies [`SAMPLE_GITOPS_DEPLOYMENT`]'s current `spec.replicas` and an
/// `app.kubernetes.io/instance` label as [`SAMPLE_GITOPS_MANAGER`], as an Argo CD sync would,
/// so that manager owns the field. The label keeps the manager in managedFields after another
/// writer takes `spec.replicas` from it, as a real Argo CD's manifest would (its next sync
/// takes the count back), so explain still names it.
///
/// Errors: the Deployment cannot be read or the apply is refused.
pub async fn apply_as_gitops(client: kube::Client) -> anyhow::Result<()> {
    use k8s_openapi::api::apps::v1::Deployment;
    use kube::api::{Api, Patch, PatchParams};
    let (namespace, name) = SAMPLE_GITOPS_DEPLOYMENT;
    let api: Api<Deployment> = Api::namespaced(client, namespace);
    let replicas = api.get(name).await?.spec.and_then(|s| s.replicas).unwrap_or(1);
    let applied = serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/instance": name}},
        "spec": {"replicas": replicas},
    });
    api.patch(name, &PatchParams::apply(SAMPLE_GITOPS_MANAGER), &Patch::Apply(&applied)).await?;
    Ok(())
}

/// The name of the ValidatingWebhookConfiguration dev mode registers in kubesim.
pub const DEV_WEBHOOK_CONFIGURATION: &str = "scalekeeper-dev";

/// The rules of the callers' ClusterRoles, `viewer`, `editor` and `approver`: the chart's file, the one
/// source of these rules (the chart renders it, `tools/validate_chart.py` checks against it).
pub const USER_ROLES: &str = include_str!("../../../charts/scalekeeper/files/user-roles.yaml");

/// The RBAC objects dev mode starts with: the chart's viewer, editor and approver
/// ClusterRoles (named `scalekeeper-viewer`, `scalekeeper-editor` and `scalekeeper-approver`,
/// as a release named scalekeeper names them), and [`DEV_IDENTITY`] bound as editor and
/// approver, [`DEV_VIEWER`] as viewer and [`DEV_APPROVER`] as approver in every namespace.
///
/// Errors: [`USER_ROLES`] is not a map with the rule lists `viewer`, `editor` and `approver`.
pub fn dev_rbac() -> anyhow::Result<Vec<serde_json::Value>> {
    let mut roles: std::collections::BTreeMap<String, serde_json::Value> =
        serde_yaml::from_str(USER_ROLES).context("parsing charts/scalekeeper/files/user-roles.yaml")?;
    let mut objects = Vec::new();
    for role in ["viewer", "editor", "approver"] {
        let rules = roles
            .remove(role)
            .with_context(|| format!("charts/scalekeeper/files/user-roles.yaml has no {role} rules"))?;
        objects.push(serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": format!("scalekeeper-{role}")},
            "rules": rules,
        }));
    }
    // dev-admin may approve too, so that approving its own request shows the two-person
    // rule's refusal rather than RBAC's.
    let bindings = [
        ("viewer", DEV_VIEWER),
        ("editor", DEV_IDENTITY),
        ("approver", DEV_APPROVER),
        ("approver", DEV_IDENTITY),
        ("editor", DEV_ONCALL),
        ("approver", DEV_ONCALL),
    ];
    for (role, user) in bindings {
        let name = format!("scalekeeper-{role}");
        objects.push(serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": format!("{user}-{name}")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        }));
    }
    Ok(objects)
}

/// Settings of `scalekeeper dev`, which are also its flags.
#[derive(Debug, Clone, clap::Args)]
pub struct DevConfig {
    /// Directory for certificates, kubeconfig and the env file.
    #[arg(long, default_value = ".scalekeeper/dev")]
    pub dir: PathBuf,
    /// gRPC listen address.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub grpc_listen: SocketAddr,
    /// HTTP listen address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http_listen: SocketAddr,
    /// kubesim (Kubernetes API) listen address.
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub kube_listen: SocketAddr,
    /// The admission guard's webhook listen address (registered in kubesim).
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub admission_listen: SocketAddr,
    /// Largest replica count SetReplicas accepts.
    #[arg(long, default_value_t = scalekeeper_core::DEFAULT_MAX_REPLICAS)]
    pub max_replicas: i32,
    /// Changes kubesim keeps for watches to resume from (older resourceVersions get 410 Gone,
    /// and watchers re-list): with the Event TTL, what bounds dev mode's memory under churn.
    #[arg(long, default_value_t = DEV_WATCH_HISTORY)]
    pub kube_watch_history: usize,
    /// How long kubesim keeps an Event after its last write, as kube-apiserver's --event-ttl
    /// (e.g. 1h, 10m; 0 keeps Events until deleted).
    #[arg(long, default_value = "1h", value_parser = scalekeeper_core::duration::parse)]
    pub kube_event_ttl: Duration,
    /// The context to write (or replace) in the client configuration file (SCALEKEEPER_CONFIG,
    /// default ~/.config/scalekeeper/config.yaml), pointing at this instance; it becomes the
    /// current context only when the file has none.
    #[arg(long, value_name = "NAME", default_value = "dev", value_parser = parse_context_name)]
    pub context: String,
}

/// Checks `--context`'s name as the configuration file does (non-empty, no whitespace or '/').
fn parse_context_name(name: &str) -> Result<String, String> {
    scalekeeper_cli::contexts::file::check_name(name).map(|()| name.to_string())
}

/// The default of `scalekeeper dev --kube-watch-history`: 10,000 changes, a tenth of kubesim's
/// own default. Each change holds the object before and after it; under churn the history is
/// full all the time, and at 100,000 it alone held hundreds of MiB (issue 28, defect 10).
pub const DEV_WATCH_HISTORY: usize = 10_000;

/// Everything dev mode started.
pub struct Dev {
    /// The simulated cluster.
    pub sim: kubesim::Sim,
    /// The API server.
    pub server: Server,
    /// The env file (`source` it to point the CLI at this server).
    pub env_file: PathBuf,
    /// The kubeconfig for kubectl.
    pub kubeconfig: PathBuf,
    /// The context written to the client configuration file; `None` when it could not be
    /// written (dev mode warned and went on).
    pub context: Option<DevContext>,
}

/// The context dev mode wrote for itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevContext {
    /// Its name (`--context`).
    pub name: String,
    /// The configuration file it is in.
    pub file: PathBuf,
    /// Whether it is the file's current context.
    pub current: bool,
}

/// Writes (or replaces) the context `name` for a dev instance on `localhost:port` with these
/// absolute certificate paths and the label `env: dev`, and makes it the current context when
/// the file has none.
///
/// # Errors
///
/// The file cannot be read, is malformed (it is then left as it is), or cannot be written.
pub fn write_dev_context(
    name: &str,
    port: u16,
    ca: &Path,
    cert: &Path,
    key: &Path,
) -> Result<DevContext, scalekeeper_cli::CliError> {
    use scalekeeper_cli::contexts::{ConfigFile, Context};
    let mut file = ConfigFile::load_default()?;
    file.put_context(Context {
        name: name.to_string(),
        server: Some(format!("localhost:{port}")),
        certificate_authority: Some(ca.to_path_buf()),
        client_certificate: Some(cert.to_path_buf()),
        client_key: Some(key.to_path_buf()),
        labels: [("env".to_string(), "dev".to_string())].into(),
        ..Context::default()
    });
    if file.config.current_context.is_none() {
        file.config.current_context = Some(name.to_string());
    }
    file.save()?;
    Ok(DevContext {
        name: name.to_string(),
        current: file.config.current_context.as_deref() == Some(name),
        file: file.path.unwrap_or_default(),
    })
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

/// `scalekeeper dev`: starts everything, prints [`instructions`], and serves until
/// SIGINT/SIGTERM, then shuts the server down and kubesim after it.
///
/// Errors: as [`start`], or the server's shutdown failed.
pub async fn run(config: DevConfig) -> anyhow::Result<()> {
    let dev = start(&config).await?;
    println!("{}", instructions(&dev));
    server::shutdown_signal().await;
    let Dev { sim, server, .. } = dev;
    server.shutdown().await?;
    sim.shutdown().await;
    Ok(())
}

/// Starts kubesim and the server as [`DevConfig`] says.
///
/// Errors: a port cannot be bound, or the directory cannot be written.
pub async fn start(config: &DevConfig) -> anyhow::Result<Dev> {
    std::fs::create_dir_all(&config.dir).with_context(|| format!("creating {}", config.dir.display()))?;
    let dir = config.dir.canonicalize().with_context(|| format!("resolving {}", config.dir.display()))?;
    let sim = kubesim::Sim::start(kubesim::SimConfig {
        listen: config.kube_listen,
        deployment_delay: Duration::from_millis(500),
        history: config.kube_watch_history,
        event_ttl: Some(config.kube_event_ttl).filter(|ttl| !ttl.is_zero()),
        users: vec![kubesim::SimUser {
            name: DEV_SERVICE_ACCOUNT.into(),
            token: uuid::Uuid::new_v4().simple().to_string(),
            groups: vec![
                "system:serviceaccounts".into(),
                "system:serviceaccounts:scalekeeper".into(),
                "system:authenticated".into(),
            ],
        }],
        ..Default::default()
    })
    .await
    .context("starting kubesim")?;
    for crd in crate::crds::all() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        sim.apply(serde_json::to_value(crd)?).with_context(|| format!("installing the CRD {name}"))?;
    }
    sim.seed_yaml(SAMPLE).context("loading the sample Deployments")?;
    for object in dev_rbac()? {
        sim.apply(object).context("loading the dev RBAC objects")?;
    }
    apply_as_gitops(sim.client().await?).await.context("applying the sample GitOps ownership of shop/cart")?;
    let kubeconfig = dir.join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig)?;

    let identities = [DEV_IDENTITY, DEV_VIEWER, DEV_APPROVER].map(String::from);
    let certs = certs::write_dev_certs(&dir.join("certs"), &[], &identities, 30).context("writing dev certificates")?;
    let (_, client_cert, client_key) = certs.clients.first().cloned().context("no client certificate was written")?;
    certs::write_group_client_cert(&certs.dir, DEV_ONCALL, DEV_BREAK_GLASS_GROUP, 30)
        .context("writing the break-glass dev certificate")?;

    let client = sim.client_as(DEV_SERVICE_ACCOUNT).await?;
    let server = Server::start(
        client,
        ServeConfig {
            grpc_listen: config.grpc_listen,
            http_listen: config.http_listen,
            tls: TlsFiles {
                cert: certs.server_cert.clone(),
                key: certs.server_key.clone(),
                client_ca: certs.ca.clone(),
                client_crl: None,
            },
            client_policy: ClientPolicy::default(),
            max_connection_age: Duration::from_secs(3600),
            max_connection_age_grace: Duration::from_secs(30),
            scope: Scope::All,
            max_replicas: config.max_replicas,
            drain_timeout: Duration::from_secs(5),
            shutdown_delay: Duration::ZERO,
            stale_after: Duration::from_secs(5),
            reconcile: ReconcileConfig { instance: "scalekeeper-dev".into(), ..Default::default() },
            // One process: it always leads.
            leader: None,
            authorization: AuthorizationConfig {
                break_glass_groups: vec![DEV_BREAK_GLASS_GROUP.into()],
                ..AuthorizationConfig::default()
            },
            audit_log: Some(dir.join("audit.log")),
            limits: Default::default(),
            admission: Some(crate::admission::AdmissionConfig {
                listen: config.admission_listen,
                tls: crate::tls::TlsSource::ServerOnly {
                    cert: certs.server_cert.clone(),
                    key: certs.server_key.clone(),
                },
                exempt: vec![],
                break_glass_groups: vec![],
                credentials_user: None,
            }),
            default_guard: crate::policy::PolicyGuard::Warn,
            scale_request_retention: scalekeeper_core::approval::DEFAULT_REQUEST_RETENTION,
        },
    )
    .await?;
    let admission_addr = server.admission_addr.context("the admission webhook is served")?;
    let webhook = crate::admission::config::render(&crate::admission::config::Rendering {
        name: DEV_WEBHOOK_CONFIGURATION.into(),
        endpoint: crate::admission::config::Endpoint::Url(format!("https://localhost:{}", admission_addr.port())),
        ca_bundle: std::fs::read(&certs.ca).context("reading the dev CA")?,
        namespaces: vec![],
        exclude: vec![],
        timeout_seconds: 2,
        kube_minor: kubesim::api::KUBE_MINOR.parse().unwrap_or(33),
        // kubesim stores matchConditions but does not evaluate them.
        self_user: None,
    })?;
    sim.apply(webhook).context("registering the admission guard's webhook in kubesim")?;

    let env_file = dir.join("env");
    let env = format!(
        "# Source this file to point the scalekeeper CLI and kubectl at `scalekeeper dev`.\n\
         export SCALEKEEPER_SERVER=localhost:{port}\n\
         export SCALEKEEPER_CA={ca}\n\
         export SCALEKEEPER_CERT={cert}\n\
         export SCALEKEEPER_KEY={key}\n\
         export KUBECONFIG={kc}\n",
        port = server.grpc_addr.port(),
        ca = shell_quote(&certs.ca),
        cert = shell_quote(&client_cert),
        key = shell_quote(&client_key),
        kc = shell_quote(&kubeconfig),
    );
    std::fs::write(&env_file, env).with_context(|| format!("writing {}", env_file.display()))?;
    // Never a reason not to start: the env file works without it.
    let context = write_dev_context(&config.context, server.grpc_addr.port(), &certs.ca, &client_cert, &client_key)
        .inspect_err(|e| tracing::warn!("the client configuration file was not updated: {e}; use the env file instead"))
        .ok();
    Ok(Dev { sim, server, env_file, kubeconfig, context })
}

/// The text dev mode prints: where things are and what to try.
pub fn instructions(dev: &Dev) -> String {
    let env = dev.env_file.display();
    let (context, use_it) = match &dev.context {
        Some(DevContext { name, file, current: true }) => (
            format!("{name} in {} (the current context)", file.display()),
            format!(
                "\x20 scalekeeper config get-contexts       # the context {name} points here: no env file needed\n"
            ),
        ),
        Some(DevContext { name, file, current: false }) => (
            format!("{name} in {}", file.display()),
            format!(
                "\x20 scalekeeper config get-contexts       # then: scalekeeper config use-context {name}\n\
                 \x20 scalekeeper list --context {name}     # or name it on each command\n"
            ),
        ),
        None => ("not written (see the warning above)".to_string(), format!("\x20 source {env}\n")),
    };
    let second = "\x20 scalekeeper dev --dir .scalekeeper/dev2 --grpc-listen 127.0.0.1:50061 --http-listen 127.0.0.1:8091 \\\n\
                  \x20   --kube-listen 127.0.0.1:6453 --admission-listen 127.0.0.1:8453 --context dev2\n\
                  \x20 scalekeeper list --context dev2       # the second instance, by its context\n\
                  \x20 scalekeeper list --all-contexts       # both at once, a CONTEXT column first\n\
                  \x20 scalekeeper set shop/web 5 --contexts env=dev   # a fleet write: the plan, then y/N\n";
    format!(
        "\nscalekeeper dev is running.\n\
         \x20 gRPC (mTLS):      localhost:{grpc}\n\
         \x20 HTTP (probes):    http://{http}/readyz  http://{http}/metrics\n\
         \x20 admission guard:  https://{admission} (registered in kubesim)\n\
         \x20 Kubernetes API:   {kube} (kubesim)\n\
         \x20 env file:         {env}  (`source` it to use SCALEKEEPER_* variables instead)\n\
         \x20 context:          {context}\n\n\
         In another shell:\n\
         {use_it}\
         \x20 scalekeeper list                      # or: cargo run -q -p scalekeeper --features dev -- list\n\
         \x20 scalekeeper set shop/web 5            # declare and apply\n\
         \x20 kubectl get deploy -n shop web        # READY 5/5\n\
         \x20 kubectl scale -n shop deploy/web --replicas 7   # Warning: ... will be set back to 5; and it is, at once\n\
         \x20 kubectl describe -n shop deploy/web   # Event DriftCorrected, by kubectl\n\
         \x20 scalekeeper set shop/web 5 --guard deny\n\
         \x20 kubectl scale -n shop deploy/web --replicas 0   # refused by the admission guard: no Pod deleted\n\
         \x20 scalekeeper set payments/ledger 2 --mode observe\n\
         \x20 kubectl scale -n payments deploy/ledger --replicas 7\n\
         \x20 scalekeeper diff                      # payments/ledger DRIFTED: declared 2, spec 7\n\
         \x20 scalekeeper watch                     # changes as they happen\n\
         \x20 scalekeeper set shop/web 8 --for 2m --reason INC-123   # a hold: back to 5 by itself in 2 minutes\n\
         \x20 scalekeeper schedule set shop/web --window \"Sat-Sun 00:00-24:00 Europe/Berlin\" --replicas 1\n\
         \x20 scalekeeper explain shop/web          # why this count: every rule, who writes spec.replicas\n\
         \x20 scalekeeper explain shop/cart         # Argo CD owns its spec.replicas: the fight, and the setting that stops it\n\
         \x20 scalekeeper plan shop/web             # every change ahead; history, undo, freeze, thaw: see the README\n\
         \x20 kubectl get replicapolicies -A\n\
         \x20 SCALEKEEPER_CERT={dir}/certs/client-dev-viewer.pem SCALEKEEPER_KEY={dir}/certs/client-dev-viewer-key.pem \\\n\
         \x20   scalekeeper set shop/web 1          # PERMISSION_DENIED: dev-viewer may read, not set\n\
         \x20 scalekeeper approval set payments/ledger --below 2   # the two-person rule: under 2 needs approval\n\
         \x20 scalekeeper set payments/ledger 0     # FAILED_PRECONDITION: held as ScaleRequest payments/ledger-XXXXX\n\
         \x20 scalekeeper requests                  # what waits for approval\n\
         \x20 scalekeeper approve payments/ledger-XXXXX --yes   # refused: dev-admin asked; another identity must approve\n\
         \x20 SCALEKEEPER_CERT={dir}/certs/client-dev-approver.pem SCALEKEEPER_KEY={dir}/certs/client-dev-approver-key.pem \\\n\
         \x20   scalekeeper approve payments/ledger-XXXXX   # dev-approver: shows the change, asks y/N, applies it\n\
         \x20 SCALEKEEPER_CERT={dir}/certs/client-dev-oncall.pem SCALEKEEPER_KEY={dir}/certs/client-dev-oncall-key.pem \\\n\
         \x20   scalekeeper set payments/ledger 0 --break-glass --reason INC-1   # dev-oncall: at once, for 1h; waits for review\n\n\
         A second instance next to this one (another cluster, as its own context):\n\
         {second}\n\
         Ctrl-C stops it.\n",
        grpc = dev.server.grpc_addr.port(),
        http = dev.server.http_addr,
        admission = dev.server.admission_addr.map(|a| a.to_string()).unwrap_or_default(),
        kube = dev.sim.url(),
        dir = dev.env_file.parent().map(|d| d.display().to_string()).unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use scalekeeper_core::authz::{GROUP, RESOURCE, SCALE_REQUESTS, Verb};
    use serde_json::Value;

    use super::*;

    /// The verbs `role`'s rules grant on `resource`.scalekeeper.dev.
    fn granted(objects: &[Value], role: &str, resource: &str) -> Vec<&'static str> {
        let role = objects
            .iter()
            .find(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == role)
            .unwrap_or_else(|| panic!("no ClusterRole {role}"));
        let has = |list: &Value, want: &str| list.as_array().is_some_and(|l| l.iter().any(|v| v == want));
        [Verb::Get, Verb::List, Verb::Watch, Verb::Update, Verb::Delete, Verb::Approve]
            .into_iter()
            .map(Verb::as_str)
            .filter(|verb| {
                role["rules"]
                    .as_array()
                    .expect("rules")
                    .iter()
                    .any(|r| has(&r["apiGroups"], GROUP) && has(&r["resources"], resource) && has(&r["verbs"], verb))
            })
            .collect()
    }

    #[test]
    fn dev_roles_come_from_the_chart_and_grant_what_each_role_is_for() {
        let objects = dev_rbac().expect("the chart's files/user-roles.yaml parses");
        assert_eq!(granted(&objects, "scalekeeper-viewer", RESOURCE), ["get", "list", "watch"]);
        assert_eq!(granted(&objects, "scalekeeper-viewer", SCALE_REQUESTS), ["get", "list", "watch"]);
        assert_eq!(granted(&objects, "scalekeeper-editor", RESOURCE), ["get", "list", "watch", "update", "delete"]);
        assert_eq!(granted(&objects, "scalekeeper-editor", SCALE_REQUESTS), ["get", "list", "watch"]);
        assert_eq!(granted(&objects, "scalekeeper-approver", RESOURCE), ["get", "list", "watch"]);
        assert_eq!(granted(&objects, "scalekeeper-approver", SCALE_REQUESTS), ["get", "list", "watch", "approve"]);
        let bindings: Vec<(&str, &str)> = objects
            .iter()
            .filter(|o| o["kind"] == "ClusterRoleBinding")
            .map(|b| (b["subjects"][0]["name"].as_str().unwrap_or(""), b["roleRef"]["name"].as_str().unwrap_or("")))
            .collect();
        assert_eq!(
            bindings,
            [
                (DEV_VIEWER, "scalekeeper-viewer"),
                (DEV_IDENTITY, "scalekeeper-editor"),
                (DEV_APPROVER, "scalekeeper-approver"),
                (DEV_IDENTITY, "scalekeeper-approver"),
                (DEV_ONCALL, "scalekeeper-editor"),
                (DEV_ONCALL, "scalekeeper-approver")
            ]
        );
    }
}
