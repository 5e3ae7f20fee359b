//! Contexts: named clusters in the client configuration file ([`file`](mod@file)), and the resolver that
//! turns the command line, the `SCALEKEEPER_*` environment and the file into the
//! [`Endpoint`]s a command calls.
//!
//! ```text
//!  flags (--server --ca --cert --key --context)  ─┐
//!  SCALEKEEPER_SERVER/CA/CERT/KEY/CONTEXT         ─┼─► precedence::choose ─► pem::load ─► Endpoint
//!  config.yaml (the chosen context)               ─┘        (pure)          (reads, checks)
//! ```
//!
//! [`resolve_one`] serves every single-cluster command: the context is `--context NAME`
//! (`SCALEKEEPER_CONTEXT`), else the file's `current-context`, else none; each setting then
//! follows flag > environment > context > default ([`precedence`]). [`resolve_fleet`] selects
//! several contexts by their labels (`--contexts SELECTOR`) or all of them; each uses its own
//! settings only.

pub mod command;
pub mod file;
pub mod pem;
pub mod precedence;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;

use kube_selectors::LabelSelector;

pub use command::{ConfigCommand, ContextsOutput, SetContextArgs, run_config};
pub use file::{Config, ConfigFile, Context, config_path};
pub use pem::{Pem, PemSource};
pub use precedence::{Chosen, DEFAULT_SERVER, Item, Material, Origin, Settings, choose};

use crate::CliError;
use crate::args::ConnectArgs;
use crate::connect::{ServerAddr, parse_server_as};

/// The environment variable naming the context (as `--context`).
pub const CONTEXT_ENV: &str = "SCALEKEEPER_CONTEXT";

/// One cluster to call, after precedence: a context's name (None when no context is used),
/// the server, the TLS material, the optional TLS server name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The context this endpoint comes from; `None` when no context is used.
    pub context: Option<String>,
    /// The server to connect to.
    pub server: ServerAddr,
    /// The name to check in the server's certificate; `None`: the host of `server`.
    pub tls_server_name: Option<String>,
    /// The CA certificate(s) that signed the server's certificate.
    pub ca: Pem,
    /// The client certificate.
    pub cert: Pem,
    /// The client private key.
    pub key: Pem,
    /// The context's labels (empty without a context).
    pub labels: BTreeMap<String, String>,
}

impl Endpoint {
    /// The name checked in the server's certificate: `tls_server_name`, else the server's host.
    pub fn server_name(&self) -> &str {
        self.tls_server_name.as_deref().unwrap_or(&self.server.host)
    }
}

/// The endpoint of a single-cluster command: the context is `--context` (or
/// `SCALEKEEPER_CONTEXT`), else the file's current-context, else none; each setting follows
/// flag > environment > context > default. When a context named explicitly has a field that a
/// `SCALEKEEPER_*` variable overrides, one warning line per variable goes to stderr.
///
/// # Errors
///
/// - [`CliError::Usage`]: `--context` names no context (the message lists the existing ones);
///   the server (from any source) is malformed;
/// - [`CliError::Config`]: the configuration file is unreadable or malformed, or its
///   current-context names no context;
/// - [`CliError::TlsFiles`]: no CA, no certificate or key (or only one of them), a file
///   missing, unreadable or holding no PEM; the message names the path and the setting.
pub fn resolve_one(conn: &ConnectArgs) -> Result<Endpoint, CliError> {
    let file = ConfigFile::load_default()?;
    let env = env_settings();
    let named = conn.context.clone().or_else(|| env_var(CONTEXT_ENV));
    let context = match &named {
        Some(name) => Some(file.context(name).ok_or_else(|| unknown_context(&file, name))?),
        None => match &file.config.current_context {
            Some(current) => Some(file.context(current).ok_or_else(|| {
                CliError::Config(format!(
                    "{}: current-context {current:?} names no context; `scalekeeper config use-context NAME` picks one \
                     of: {}",
                    file.display(),
                    list(&file)
                ))
            })?),
            None => None,
        },
    };
    let chosen = choose(&flag_settings(conn), &env, context, &file.dir());
    if let (Some(_), Some(name)) = (&named, &chosen.context) {
        let mut err = std::io::stderr().lock();
        for (var, field) in &chosen.env_overrides {
            let _ = writeln!(err, "warning: {var} overrides the {field} of context {name}");
        }
    }
    endpoint(chosen)
}

/// One selected context of a fleet: its name, and its endpoint or why it does not resolve.
pub type FleetMember = (String, Result<Endpoint, CliError>);

/// The contexts of a fleet command: those whose labels match `selector` (a Kubernetes label
/// selector), or every context with `all`, sorted by name, each with its endpoint or why it
/// does not resolve (the message naming the context), so a fan-out reports a context whose TLS
/// files are missing in its own row and still calls the others. Each uses its own settings
/// only: `SCALEKEEPER_SERVER/CA/CERT/KEY/CONTEXT` set in the environment are ignored, with one
/// warning line on stderr naming them (a sourced dev env file must not redirect a fleet write
/// to one server).
///
/// # Errors
///
/// [`CliError::Usage`]: neither `selector` nor `all` given, or both; `--server`, `--ca`,
/// `--cert`, `--key` or `--context` given with them; a malformed selector; no context matches.
/// [`CliError::Config`]: the configuration file is unreadable or malformed.
pub fn resolve_fleet(conn: &ConnectArgs, selector: Option<&str>, all: bool) -> Result<Vec<FleetMember>, CliError> {
    let selection = parse_selection(selector, all)?;
    let mut flags = flag_settings(conn).given(["--server", "--ca", "--cert", "--key"]);
    if conn.context.is_some() {
        flags.push("--context");
    }
    if !flags.is_empty() {
        return Err(CliError::Usage(format!(
            "{} cannot be used with --contexts or --all-contexts: each context uses its own settings",
            flags.join(", ")
        )));
    }
    let mut ignored =
        env_settings().given(["SCALEKEEPER_SERVER", "SCALEKEEPER_CA", "SCALEKEEPER_CERT", "SCALEKEEPER_KEY"]);
    if env_var(CONTEXT_ENV).is_some() {
        ignored.push(CONTEXT_ENV);
    }
    if !ignored.is_empty() {
        let _ = writeln!(
            std::io::stderr().lock(),
            "warning: ignoring {} for --contexts/--all-contexts: each context uses its own settings",
            ignored.join(", ")
        );
    }
    let file = ConfigFile::load_default()?;
    let selected = select(&file, selection.as_ref())?;
    let dir = file.dir();
    Ok(selected
        .into_iter()
        .map(|c| {
            let chosen = choose(&Settings::default(), &Settings::default(), Some(c), &dir);
            (c.name.clone(), endpoint(chosen).map_err(|e| in_context(&c.name, e)))
        })
        .collect())
}

/// What `--contexts SELECTOR` / `--all-contexts` select: `None` for every context.
///
/// # Errors
///
/// [`CliError::Usage`]: neither or both given, or a malformed selector.
pub fn parse_selection(selector: Option<&str>, all: bool) -> Result<Option<LabelSelector>, CliError> {
    match (selector, all) {
        (Some(_), true) => Err(CliError::Usage("--contexts and --all-contexts exclude each other".into())),
        (None, false) => Err(CliError::Usage("choose the contexts: --contexts SELECTOR or --all-contexts".into())),
        (Some(s), false) => LabelSelector::parse(s)
            .map(Some)
            .map_err(|e| CliError::Usage(format!("invalid --contexts selector {s:?}: {e}"))),
        (None, true) => Ok(None),
    }
}

/// The contexts of `file` whose labels `selection` matches (all with `None`), sorted by name.
///
/// # Errors
///
/// [`CliError::Usage`] when none is selected, naming the selector.
pub fn select<'a>(file: &'a ConfigFile, selection: Option<&LabelSelector>) -> Result<Vec<&'a Context>, CliError> {
    let mut selected: Vec<&Context> =
        file.config.contexts.iter().filter(|c| selection.is_none_or(|s| s.matches_labels(Some(&c.labels)))).collect();
    if selected.is_empty() {
        return Err(CliError::Usage(match selection {
            Some(s) => format!("no context matches {s}; scalekeeper config get-contexts lists them"),
            None => format!("no contexts in {}; scalekeeper config set-context NAME creates one", file.display()),
        }));
    }
    selected.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(selected)
}

/// Reads and checks what [`choose`] picked.
fn endpoint(chosen: Chosen) -> Result<Endpoint, CliError> {
    let (server, origin) = &chosen.server;
    let setting = match origin {
        Origin::Flag | Origin::Default => "--server".to_string(),
        Origin::Env => "SCALEKEEPER_SERVER".to_string(),
        Origin::Context(name) => format!("server of context {name}"),
    };
    let server = parse_server_as(server, &setting)?;
    let (cert, key) = match (&chosen.cert, &chosen.key) {
        (Some(c), Some(k)) => (c, k),
        (Some(c), None) => {
            return Err(CliError::TlsFiles(format!(
                "{} given without --key: pass the client certificate's private key with --key (or SCALEKEEPER_KEY, \
                 or client-key in the context)",
                pem::describe(Item::Cert, c)
            )));
        }
        (None, Some(k)) => {
            return Err(CliError::TlsFiles(format!(
                "{} given without --cert: pass the client certificate with --cert (or SCALEKEEPER_CERT, or \
                 client-certificate in the context)",
                pem::describe(Item::Key, k)
            )));
        }
        (None, None) => {
            return Err(CliError::TlsFiles(
                "no client certificate: the server requires mutual TLS; pass --cert FILE and --key FILE \
                 (or set SCALEKEEPER_CERT and SCALEKEEPER_KEY, or use a context: scalekeeper config set-context)"
                    .to_string(),
            ));
        }
    };
    let Some(ca) = &chosen.ca else {
        return Err(CliError::TlsFiles(
            "no CA certificate: pass --ca FILE (or set SCALEKEEPER_CA, or use a context) with the CA that signed the \
             server's certificate"
                .to_string(),
        ));
    };
    Ok(Endpoint {
        ca: pem::load(Item::Ca, ca)?,
        cert: pem::load(Item::Cert, cert)?,
        key: pem::load(Item::Key, key)?,
        context: chosen.context,
        server,
        tls_server_name: chosen.tls_server_name,
        labels: chosen.labels,
    })
}

/// The connection flags given on the command line.
fn flag_settings(conn: &ConnectArgs) -> Settings {
    Settings { server: conn.server.clone(), ca: conn.ca.clone(), cert: conn.cert.clone(), key: conn.key.clone() }
}

/// `SCALEKEEPER_SERVER/CA/CERT/KEY` (empty values count as unset).
fn env_settings() -> Settings {
    Settings {
        server: env_var("SCALEKEEPER_SERVER"),
        ca: env_var("SCALEKEEPER_CA").map(PathBuf::from),
        cert: env_var("SCALEKEEPER_CERT").map(PathBuf::from),
        key: env_var("SCALEKEEPER_KEY").map(PathBuf::from),
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The usage error for a `--context` that names no context.
fn unknown_context(file: &ConfigFile, name: &str) -> CliError {
    CliError::Usage(format!("no context {name:?} in {}; the contexts are: {}", file.display(), list(file)))
}

/// The context names for messages, or what to do when there is none.
fn list(file: &ConfigFile) -> String {
    let names = file.names();
    if names.is_empty() {
        "none (scalekeeper config set-context NAME creates one)".to_string()
    } else {
        names.join(", ")
    }
}

/// `err` about the context `name`, with the name in front of its message when the message does
/// not already say it (same exit code).
fn in_context(name: &str, err: CliError) -> CliError {
    let named = |m: String| if m.contains(name) { m } else { format!("context {name}: {m}") };
    match err {
        CliError::TlsFiles(m) => CliError::TlsFiles(named(m)),
        CliError::Usage(m) => CliError::Usage(named(m)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn ctx(name: &str, labels: &[(&str, &str)]) -> Context {
        Context {
            name: name.into(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Context::default()
        }
    }

    #[test]
    fn selectors_match_the_contexts_labels() {
        let file = ConfigFile {
            path: Some("/cfg/config.yaml".into()),
            config: Config {
                contexts: vec![
                    ctx("prod-us", &[("env", "prod"), ("region", "us-east-1")]),
                    ctx("dev", &[("env", "dev")]),
                    ctx("prod-eu", &[("env", "prod"), ("region", "eu-west-1")]),
                    ctx("bare", &[]),
                ],
                ..Config::default()
            },
        };
        let names = |selector: Option<&str>, all: bool| -> Result<Vec<String>, CliError> {
            let selection = parse_selection(selector, all)?;
            Ok(select(&file, selection.as_ref())?.into_iter().map(|c| c.name.clone()).collect())
        };
        assert_eq!(names(Some("env=prod"), false).unwrap(), ["prod-eu", "prod-us"]);
        assert_eq!(names(Some("env=prod,region=eu-west-1"), false).unwrap(), ["prod-eu"]);
        assert_eq!(names(Some("env notin (prod)"), false).unwrap(), ["bare", "dev"]);
        assert_eq!(names(Some("!env"), false).unwrap(), ["bare"]);
        assert_eq!(names(None, true).unwrap(), ["bare", "dev", "prod-eu", "prod-us"]);
        let err = names(Some("env=staging"), false).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert_eq!(err.to_string(), "no context matches env=staging; scalekeeper config get-contexts lists them");
        for (selector, all, says) in [
            (None, false, "choose the contexts"),
            (Some("env=prod"), true, "exclude each other"),
            (Some("env in (prod"), false, "invalid --contexts selector"),
        ] {
            let err = names(selector, all).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{selector:?}");
            assert!(err.to_string().contains(says), "{err}");
        }
        let empty = ConfigFile::default();
        assert!(select(&empty, None).unwrap_err().to_string().contains("set-context"));
    }

    /// Missing, unreadable and non-PEM material is refused before connecting (exit code 3),
    /// naming the path and the setting it came from.
    #[test]
    fn tls_errors_name_the_path_and_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        let flags = |ca: Option<&Path>, cert: Option<&Path>, key: Option<&Path>| Settings {
            server: None,
            ca: ca.map(Path::to_path_buf),
            cert: cert.map(Path::to_path_buf),
            key: key.map(Path::to_path_buf),
        };
        let msg = |flags: Settings, env: Settings, context: Option<&Context>| {
            let e = endpoint(choose(&flags, &env, context, dir.path())).unwrap_err();
            assert_eq!(e.exit_code(), 3, "{e}");
            e.to_string()
        };
        let none = Settings::default();
        let m = msg(flags(Some(&missing), Some(&missing), Some(&missing)), none.clone(), None);
        assert!(m.contains("cannot read CA certificate (--ca)") && m.contains("missing.pem"), "{m}");
        let m = msg(flags(Some(&not_pem), Some(&missing), None), none.clone(), None);
        assert!(m.starts_with("--cert ") && m.contains("without --key"), "{m}");
        let m = msg(flags(Some(&not_pem), None, Some(&missing)), none.clone(), None);
        assert!(m.contains("without --cert"), "{m}");
        let m = msg(flags(None, Some(&not_pem), Some(&not_pem)), none.clone(), None);
        assert!(m.starts_with("no CA certificate"), "{m}");
        let m = msg(none.clone(), none.clone(), None);
        assert!(m.starts_with("no client certificate"), "{m}");
        let m = msg(flags(Some(&not_pem), Some(&not_pem), Some(&not_pem)), none.clone(), None);
        assert!(m.contains("holds no PEM certificate") && m.contains("not.pem"), "{m}");
        // From the environment: the variable is named.
        let m = msg(none.clone(), flags(Some(&missing), Some(&not_pem), Some(&not_pem)), None);
        assert!(m.contains("CA certificate (SCALEKEEPER_CA)") && m.contains("missing.pem"), "{m}");
        // From a context: the context and its field, the path joined to the file's directory.
        let c = Context {
            name: "prod".into(),
            certificate_authority: Some("rel/ca.pem".into()),
            client_certificate_data: Some("garbage!".into()),
            client_key_data: Some("garbage!".into()),
            ..Context::default()
        };
        let m = msg(none.clone(), none.clone(), Some(&c));
        assert!(m.contains("(context prod, certificate-authority)"), "{m}");
        assert!(m.contains(&dir.path().join("rel/ca.pem").display().to_string()), "{m}");
        let c = Context { certificate_authority: Some(not_pem.clone()), ..c };
        let m = msg(none.clone(), none.clone(), Some(&c));
        assert!(m.contains("holds no PEM certificate"), "{m}");
        let c = Context { certificate_authority: None, certificate_authority_data: Some("%%%".into()), ..c };
        let m = msg(none.clone(), none.clone(), Some(&c));
        assert!(
            m.contains("(context prod, certificate-authority-data)") && m.contains("neither PEM nor base64"),
            "{m}"
        );
        let c = Context { client_key_data: None, ..c };
        let m = msg(none.clone(), none, Some(&c));
        assert!(m.starts_with("client-certificate-data of context prod given without --key"), "{m}");
    }

    #[test]
    fn a_malformed_server_names_its_setting() {
        let c = Context { name: "prod".into(), server: Some("h:0".into()), ..Context::default() };
        let none = Settings::default();
        let err = endpoint(choose(&none, &none, Some(&c), Path::new("."))).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().starts_with("invalid server of context prod \"h:0\""), "{err}");
        let env = Settings { server: Some("a:b:c".into()), ..Settings::default() };
        let err = endpoint(choose(&none, &env, Some(&c), Path::new("."))).unwrap_err();
        assert!(err.to_string().starts_with("invalid SCALEKEEPER_SERVER"), "{err}");
    }
}
