//! The `scalekeeper` process: its arguments ([`args`]), its logging, and what each
//! subcommand runs. `main.rs` only parses, starts logging and the async runtime, and calls
//! [`run`].
//!
//! ```text
//!  main ─► Args::parse ─► init_logging ─► run(command)
//!                                          ├─ serve: ServeArgs::into_config (every check) ─► server::Server
//!                                          ├─ dev:   dev::run (kubesim + server; `dev` feature)
//!                                          ├─ crd, certs, completion, man (install)
//!                                          ├─ config: cli::contexts::run_config
//!                                          └─ client subcommands: cli::run
//! ```

pub mod args;
pub mod install;

use std::process::ExitCode;

use anyhow::Context as _;

pub use args::{
    AdmissionArgs, AdmissionConfigArgs, Args, ArgsError, CertsArgs, Command, LogFormat, ServeArgs, ServeSettings,
    parse_duration,
};
pub use install::parse_args;

use crate::certs;
use crate::server::{self, Server};
use scalekeeper_cli as cli;

/// The default log filter of the servers (`RUST_LOG` overrides it).
const SERVER_LOG_FILTER: &str = "info,kube=warn,tower=warn,h2=warn,hyper=warn";

/// Starts logging to stderr as `command` wants it: `serve` in its `--log-format` (JSON by
/// default), everything else as text; `RUST_LOG` overrides the default filter (info for the
/// servers, warn for the client and the one-shot commands).
pub fn init_logging(command: &Command) {
    let (format, default) = match command {
        Command::Serve(args) => (args.log_format, SERVER_LOG_FILTER),
        #[cfg(feature = "dev")]
        Command::Dev(_) => (LogFormat::Text, SERVER_LOG_FILTER),
        Command::Crd(_)
        | Command::Certs(_)
        | Command::AdmissionConfig(_)
        | Command::Completion(_)
        | Command::Man(_)
        | Command::Client(_)
        | Command::Config(_) => (LogFormat::Text, "warn"),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).init(),
        LogFormat::Text => builder.fmt_fields(text_fields()).init(),
    }
}

/// The text format's fields: as tracing-subscriber's default writes them (the message bare,
/// the others `name=value`, separated by spaces), with every control character of every value
/// escaped (`\n`, `\u{1b}`; [`scalekeeper_core::text::escape_controls`]). Values carry what
/// callers wrote (a hold's reason, a selector, a certificate's name), and a raw newline would
/// forge a log line, a raw ESC drive the reader's terminal. The JSON format escapes them as
/// JSON does.
pub fn text_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + Send + Sync + 'static {
    use tracing_subscriber::field::MakeExt as _;
    tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
        let name = field.name();
        // tracing-log's `log.*` fields, as the default skips them.
        if name.starts_with("log.") {
            return Ok(());
        }
        let text = scalekeeper_core::text::escape_controls(&format!("{value:?}"));
        match name {
            "message" => write!(w, "{text}"),
            _ => write!(w, "{}={text}", name.strip_prefix("r#").unwrap_or(name)),
        }
    })
    .delimited(" ")
}

/// Runs `command` to completion (a server: until SIGINT or SIGTERM, then a graceful shutdown).
/// A client subcommand's failure is its exit code (the client prints its own errors).
///
/// # Errors
///
/// `serve`: the flags do not fit together ([`ArgsError`]), no Kubernetes client, the server
/// could not start or stop cleanly; `dev`: as `dev::run`; `crd`: the CRD does not serialize;
/// `certs`: the certificates cannot be written; `completion`, `man`: the output cannot be
/// written.
pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Client(cmd) => return Ok(cli::run(cmd).await),
        Command::Config(cmd) => return Ok(cli::contexts::run_config(cmd)),
        Command::Crd(args) => print!("{}", crate::crds::stream(args.kind)?),
        Command::Completion(args) => install::print_completion(args)?,
        Command::Man(args) => install::print_man_pages(args)?,
        Command::Certs(args) => write_certs(args)?,
        Command::AdmissionConfig(args) => print!("{}", admission_config(args)?),
        Command::Serve(args) => serve(args.into_config()?).await?,
        #[cfg(feature = "dev")]
        Command::Dev(config) => crate::dev::run(config).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `scalekeeper serve`: serves until SIGINT or SIGTERM, then shuts down gracefully.
///
/// # Errors
///
/// No Kubernetes client can be built, the server cannot start, or it failed.
pub async fn serve(settings: ServeSettings) -> anyhow::Result<()> {
    let ServeSettings { kubeconfig, mut config, deprecated } = settings;
    for note in deprecated {
        tracing::warn!("{note}");
    }
    let kube_config = server::kube_config(kubeconfig.as_deref()).await?;
    if let Some(admission) = config.admission.as_mut() {
        admission.credentials_user = crate::whoami::user_of_credentials(&kube_config);
    }
    let client = kube::Client::try_from(kube_config).context("building the Kubernetes client")?;
    let server = Server::start(client, config).await?;
    server::shutdown_signal().await;
    tracing::info!("signal received: shutting down");
    server.shutdown().await
}

/// `scalekeeper admission-config`: the ValidatingWebhookConfiguration as YAML.
///
/// # Errors
///
/// The CA file cannot be read, `--kube-version` is not MAJOR.MINOR, or the arguments cannot be
/// rendered (see [`crate::admission::config::render`]).
pub fn admission_config(args: AdmissionConfigArgs) -> anyhow::Result<String> {
    use crate::admission::config::{Endpoint, Rendering, render};
    let AdmissionConfigArgs {
        url,
        service,
        ca_file,
        namespaces,
        exclude_namespaces,
        name,
        timeout_seconds,
        kube_version,
        self_user,
    } = args;
    let ca_bundle = std::fs::read(&ca_file).with_context(|| format!("reading {}", ca_file.display()))?;
    let kube_minor = kube_version
        .trim_start_matches('v')
        .split_once('.')
        .filter(|(major, _)| *major == "1")
        .and_then(|(_, minor)| minor.split('.').next()?.parse::<u32>().ok())
        .with_context(|| format!("--kube-version {kube_version:?}: expected 1.MINOR, e.g. 1.32"))?;
    let endpoint = match (url, service) {
        (Some(u), _) => Endpoint::Url(u),
        (None, Some(s)) => s,
        (None, None) => anyhow::bail!("give --url or --service"),
    };
    let rendering = Rendering {
        name,
        endpoint,
        ca_bundle,
        namespaces,
        exclude: exclude_namespaces,
        timeout_seconds,
        kube_minor,
        self_user,
    };
    Ok(serde_yaml::to_string(&render(&rendering)?)?)
}

/// `scalekeeper certs`: writes the dev PKI and prints where.
fn write_certs(args: CertsArgs) -> anyhow::Result<()> {
    let CertsArgs { dir, server_names, clients, clients_in_group, days } = args;
    if let Some((identity, _)) = clients_in_group.iter().find(|(i, _)| clients.contains(i)) {
        anyhow::bail!("{identity:?} is given with --client and --client-in-group: one certificate file each, give one");
    }
    let written = certs::write_dev_certs(&dir, &server_names, &clients, days)?;
    println!("CA:          {}", written.ca.display());
    println!("server cert: {}", written.server_cert.display());
    println!("server key:  {}", written.server_key.display());
    for (identity, cert, key) in &written.clients {
        println!("client {identity}: {} {}", cert.display(), key.display());
    }
    for (identity, group) in &clients_in_group {
        let (cert, key) = certs::write_group_client_cert(&dir, identity, group, days)?;
        println!("client {identity} (group {group}): {} {}", cert.display(), key.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(f: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .with_writer(move || writer.clone())
            .fmt_fields(super::text_fields())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn text_fields_escape_newlines_and_terminal_controls_in_every_value() {
        let reason = "INC-1\n2026-12-07T00:00:00Z  INFO forged: all good\u{1b}[2J\u{7}\0";
        let out = logged(|| {
            tracing::info!(rule = %reason, selector = ?reason, count = 3, "hold placed: {reason}");
        });
        assert_eq!(out.lines().count(), 1, "one event, one line: {out:?}");
        assert!(!out.trim_end_matches('\n').chars().any(char::is_control), "{out:?}");
        assert!(out.contains(r"hold placed: INC-1\n2026-12-07T00:00:00Z  INFO forged: all good\u{1b}[2J"), "{out}");
        assert!(out.contains(r"rule=INC-1\n"), "{out}");
        assert!(out.contains(" count=3"), "{out}");
    }

    #[test]
    fn text_fields_write_what_the_default_writes_for_plain_values() {
        let out = logged(|| tracing::info!(namespace = %"shop", name = "web", from = 3, to = 5, "drift corrected"));
        assert!(out.ends_with("drift corrected namespace=shop name=\"web\" from=3 to=5\n"), "{out:?}");
    }
}
