//! `scalekeeper config ...`: the contexts of the configuration file, with kubectl's names and
//! behaviour (`kubectl config get-contexts | current-context | use-context | set-context |
//! delete-context | view`).
//!
//! Exit codes: 0 done; 1 the file cannot be read or written (the message names it), or
//! `current-context` with none set (as kubectl); 2 usage: an unknown context, an invalid name,
//! label, server or flag combination.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use kube_selectors::validation::{is_label_key, is_label_value};

use super::file::{ConfigFile, Context, check_name};
use crate::CliError;
use crate::connect::parse_server;
use crate::render::{emit, render_error, render_table};

/// `scalekeeper config ...`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum ConfigCommand {
    /// List the contexts: CURRENT (`*`), NAME, SERVER, LABELS.
    GetContexts {
        /// `name`: the names alone, one a line.
        #[arg(short = 'o', long, value_enum)]
        output: Option<ContextsOutput>,
    },
    /// Print the current context's name.
    CurrentContext,
    /// Make NAME the current context.
    UseContext {
        /// The context.
        name: String,
    },
    /// Create a context, or update the fields given of an existing one (paths are stored
    /// absolute): scalekeeper config set-context NAME --server HOST:PORT --ca F --cert F --key F
    SetContext(SetContextArgs),
    /// Delete a context (and clear current-context if it was the current one).
    DeleteContext {
        /// The context.
        name: String,
    },
    /// Print the configuration file (YAML); inline certificates show as DATA+OMITTED and
    /// inline keys as REDACTED unless --raw.
    View {
        /// Print inline certificate and key data as they are.
        #[arg(long)]
        raw: bool,
    },
}

/// The `-o` of `get-contexts`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextsOutput {
    /// The context names, one a line.
    Name,
}

/// The flags of `config set-context`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SetContextArgs {
    /// The context to create or update.
    pub name: String,
    /// The server, HOST:PORT.
    #[arg(long)]
    pub server: Option<String>,
    /// The CA certificate file (PEM); stored as an absolute path.
    #[arg(long, value_name = "FILE", conflicts_with = "ca_data_file")]
    pub ca: Option<PathBuf>,
    /// Store this CA certificate file's content inline (certificate-authority-data).
    #[arg(long, value_name = "FILE")]
    pub ca_data_file: Option<PathBuf>,
    /// The client certificate file (PEM); stored as an absolute path.
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// The client private key file (PEM); stored as an absolute path.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// The name to check in the server's certificate instead of the server's host.
    #[arg(long, value_name = "NAME")]
    pub tls_server_name: Option<String>,
    /// Set a label, KEY=VALUE (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Remove a label (repeatable).
    #[arg(long = "remove-label", value_name = "KEY")]
    pub remove_labels: Vec<String>,
}

/// Runs a `config` subcommand on the file at [`super::config_path`]; prints results to stdout
/// and errors to stderr; returns the exit code.
pub fn run_config(cmd: ConfigCommand) -> ExitCode {
    match ConfigFile::load_default().and_then(|mut file| execute(&mut file, cmd)) {
        Ok(text) => match emit(&text) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        },
        Err(e) => fail(&e),
    }
}

fn fail(e: &CliError) -> ExitCode {
    let _ = std::io::stderr().lock().write_all(render_error(e).as_bytes());
    ExitCode::from(e.exit_code())
}

/// Runs `cmd` on `file` (saving it when the command changes it) and returns what to print.
///
/// # Errors
///
/// [`CliError::Usage`] for an unknown context or invalid input, [`CliError::Config`] when the
/// file cannot be written, or `current-context` has none to print.
pub fn execute(file: &mut ConfigFile, cmd: ConfigCommand) -> Result<String, CliError> {
    match cmd {
        ConfigCommand::GetContexts { output: Some(ContextsOutput::Name) } => {
            Ok(file.config.contexts.iter().map(|c| format!("{}\n", c.name)).collect())
        }
        ConfigCommand::GetContexts { output: None } => Ok(render_contexts(file)),
        ConfigCommand::CurrentContext => match &file.config.current_context {
            Some(name) => Ok(format!("{name}\n")),
            None => Err(CliError::Config("current-context is not set".to_string())),
        },
        ConfigCommand::UseContext { name } => {
            existing(file, &name)?;
            file.config.current_context = Some(name.clone());
            file.save()?;
            Ok(format!("Switched to context \"{name}\".\n"))
        }
        ConfigCommand::SetContext(args) => {
            let name = args.name.clone();
            let old = file.context(&name).cloned();
            let created = old.is_none();
            let context = set_context(old.unwrap_or_default(), args, &current_dir()?)?;
            file.put_context(context);
            file.save()?;
            Ok(format!("Context \"{name}\" {}.\n", if created { "created" } else { "modified" }))
        }
        ConfigCommand::DeleteContext { name } => {
            existing(file, &name)?;
            file.config.contexts.retain(|c| c.name != name);
            let was_current = file.config.current_context.as_deref() == Some(name.as_str());
            if was_current {
                file.config.current_context = None;
            }
            file.save()?;
            if was_current {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "warning: this removed your current context; `scalekeeper config use-context NAME` selects another"
                );
            }
            Ok(format!("deleted context {name} from {}\n", file.display()))
        }
        ConfigCommand::View { raw } => {
            let mut config = file.config.clone();
            if !raw {
                for c in &mut config.contexts {
                    for data in [&mut c.certificate_authority_data, &mut c.client_certificate_data] {
                        if data.is_some() {
                            *data = Some("DATA+OMITTED".to_string());
                        }
                    }
                    if c.client_key_data.is_some() {
                        c.client_key_data = Some("REDACTED".to_string());
                    }
                }
            }
            serde_yaml::to_string(&config).map_err(|e| CliError::Config(format!("cannot print the configuration: {e}")))
        }
    }
}

/// Checks that `name` is a context of `file`.
fn existing(file: &ConfigFile, name: &str) -> Result<(), CliError> {
    if file.context(name).is_some() {
        return Ok(());
    }
    let names = file.names();
    Err(CliError::Usage(format!(
        "no context {name:?} in {}; the contexts are: {}",
        file.display(),
        if names.is_empty() { "none".to_string() } else { names.join(", ") }
    )))
}

fn current_dir() -> Result<PathBuf, CliError> {
    std::env::current_dir().map_err(|e| CliError::Config(format!("cannot read the current directory: {e}")))
}

/// `context` with the fields `args` gives set; relative paths are made absolute against `cwd`.
///
/// # Errors
///
/// [`CliError::Usage`]: an invalid name, server or label; [`CliError::Config`]: the
/// `--ca-data-file` cannot be read.
fn set_context(mut context: Context, args: SetContextArgs, cwd: &Path) -> Result<Context, CliError> {
    let SetContextArgs { name, server, ca, ca_data_file, cert, key, tls_server_name, labels, remove_labels } = args;
    check_name(&name).map_err(CliError::Usage)?;
    context.name = name;
    if let Some(server) = server {
        parse_server(&server)?;
        context.server = Some(server);
    }
    let absolute = |p: PathBuf| cwd.join(p);
    if let Some(ca) = ca {
        context.certificate_authority = Some(absolute(ca));
        context.certificate_authority_data = None;
    }
    if let Some(f) = ca_data_file {
        let pem = std::fs::read_to_string(&f)
            .map_err(|e| CliError::Config(format!("cannot read --ca-data-file {}: {e}", f.display())))?;
        context.certificate_authority_data = Some(pem);
        context.certificate_authority = None;
    }
    if let Some(cert) = cert {
        context.client_certificate = Some(absolute(cert));
        context.client_certificate_data = None;
    }
    if let Some(key) = key {
        context.client_key = Some(absolute(key));
        context.client_key_data = None;
    }
    if let Some(n) = tls_server_name {
        context.tls_server_name = Some(n).filter(|n| !n.is_empty());
    }
    for key in remove_labels {
        context.labels.remove(&key);
    }
    context.labels.extend(parse_labels(&labels)?);
    Ok(context)
}

/// Parses `--label KEY=VALUE` flags; keys and values follow Kubernetes' label syntax, so a
/// selector can match them.
fn parse_labels(labels: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    labels
        .iter()
        .map(|l| {
            let bad = |why: &str| CliError::Usage(format!("invalid --label {l:?}: {why}"));
            let (k, v) = l.split_once('=').ok_or_else(|| bad("expected KEY=VALUE"))?;
            if !is_label_key(k) {
                return Err(bad("not a Kubernetes label key"));
            }
            if !is_label_value(v) {
                return Err(bad("not a Kubernetes label value"));
            }
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

/// The `get-contexts` table: CURRENT NAME SERVER LABELS, in the file's order.
fn render_contexts(file: &ConfigFile) -> String {
    let rows: Vec<Vec<String>> = file
        .config
        .contexts
        .iter()
        .map(|c| {
            let current = file.config.current_context.as_deref() == Some(c.name.as_str());
            vec![
                if current { "*" } else { "" }.to_string(),
                c.name.clone(),
                c.server.clone().unwrap_or_default(),
                c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
            ]
        })
        .collect();
    render_table(&["CURRENT", "NAME", "SERVER", "LABELS"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path) -> ConfigFile {
        ConfigFile { path: Some(dir.join("config.yaml")), config: Default::default() }
    }

    #[test]
    fn set_use_get_view_delete_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = file(dir.path());
        let ca_pem = dir.path().join("ca.pem");
        std::fs::write(&ca_pem, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").unwrap();
        let set = |name: &str| SetContextArgs { name: name.into(), ..SetContextArgs::default() };
        let out = execute(
            &mut f,
            ConfigCommand::SetContext(SetContextArgs {
                server: Some("sk.prod:443".into()),
                ca_data_file: Some(ca_pem.clone()),
                cert: Some("me.pem".into()),
                labels: vec!["env=prod".into(), "region=eu-west-1".into()],
                ..set("prod")
            }),
        )
        .unwrap();
        assert_eq!(out, "Context \"prod\" created.\n");
        let prod = f.context("prod").unwrap();
        assert!(prod.client_certificate.as_ref().unwrap().is_absolute());
        assert!(prod.certificate_authority_data.as_ref().unwrap().starts_with("-----BEGIN"));
        // Updating changes only the fields given.
        let out = execute(
            &mut f,
            ConfigCommand::SetContext(SetContextArgs {
                remove_labels: vec!["region".into()],
                labels: vec!["tier=gold".into()],
                ..set("prod")
            }),
        )
        .unwrap();
        assert_eq!(out, "Context \"prod\" modified.\n");
        assert_eq!(f.context("prod").unwrap().server.as_deref(), Some("sk.prod:443"));
        execute(&mut f, ConfigCommand::SetContext(SetContextArgs { server: Some("localhost:1".into()), ..set("dev") }))
            .unwrap();
        execute(&mut f, ConfigCommand::UseContext { name: "dev".into() }).unwrap();
        assert_eq!(execute(&mut f, ConfigCommand::CurrentContext).unwrap(), "dev\n");
        let table = execute(&mut f, ConfigCommand::GetContexts { output: None }).unwrap();
        assert_eq!(
            table,
            "CURRENT   NAME   SERVER        LABELS\n          prod   sk.prod:443   env=prod,tier=gold\n\
             *         dev    localhost:1\n"
        );
        assert_eq!(
            execute(&mut f, ConfigCommand::GetContexts { output: Some(ContextsOutput::Name) }).unwrap(),
            "prod\ndev\n"
        );
        // Saved on each change.
        let saved = ConfigFile::load(f.path.clone()).unwrap();
        assert_eq!(saved.config, f.config);
        let view = execute(&mut f, ConfigCommand::View { raw: false }).unwrap();
        assert!(view.contains("certificate-authority-data: DATA+OMITTED"), "{view}");
        let raw = execute(&mut f, ConfigCommand::View { raw: true }).unwrap();
        assert!(raw.contains("BEGIN CERTIFICATE"), "{raw}");
        execute(&mut f, ConfigCommand::DeleteContext { name: "dev".into() }).unwrap();
        assert_eq!(f.config.current_context, None);
        assert_eq!(execute(&mut f, ConfigCommand::CurrentContext).unwrap_err().exit_code(), 1);
    }

    #[test]
    fn refuses_unknown_contexts_and_bad_input_as_usage_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = file(dir.path());
        let usage = |f: &mut ConfigFile, cmd: ConfigCommand| {
            let e = execute(f, cmd).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{e}");
            e.to_string()
        };
        assert!(usage(&mut f, ConfigCommand::UseContext { name: "x".into() }).contains("no context \"x\""));
        assert!(usage(&mut f, ConfigCommand::DeleteContext { name: "x".into() }).contains("none"));
        let set = |name: &str| SetContextArgs { name: name.into(), ..SetContextArgs::default() };
        assert!(usage(&mut f, ConfigCommand::SetContext(set("a b"))).contains("whitespace"));
        let bad_server = SetContextArgs { server: Some("h:0".into()), ..set("a") };
        assert!(usage(&mut f, ConfigCommand::SetContext(bad_server)).contains("--server"));
        for label in ["env", "env=a b", "-x=1"] {
            let args = SetContextArgs { labels: vec![label.into()], ..set("a") };
            assert!(usage(&mut f, ConfigCommand::SetContext(args)).contains("--label"), "{label}");
        }
        // Nothing was written.
        assert!(!dir.path().join("config.yaml").exists());
        let view = execute(&mut f, ConfigCommand::View { raw: false }).unwrap();
        assert!(view.contains("apiVersion: scalekeeper.dev/v1alpha1"), "{view}");
    }

    #[test]
    fn view_redacts_inline_keys() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = file(dir.path());
        f.put_context(Context { name: "a".into(), client_key_data: Some("secret".into()), ..Context::default() });
        let view = execute(&mut f, ConfigCommand::View { raw: false }).unwrap();
        assert!(view.contains("client-key-data: REDACTED") && !view.contains("secret"), "{view}");
    }
}
