//! The client configuration file (`config.yaml`): where it is, its format, loading with every
//! check, and the atomic write.
//!
//! ```yaml
//! apiVersion: scalekeeper.dev/v1alpha1
//! kind: Config
//! current-context: dev
//! contexts:
//! - name: prod-eu
//!   server: scalekeeper.prod-eu.example:443
//!   certificate-authority: /path/ca.pem     # or certificate-authority-data (PEM, or base64 of PEM)
//!   client-certificate: certs/me.pem        # relative to the file's directory, as kubeconfig does
//!   client-key: certs/me-key.pem            # or client-key-data
//!   tls-server-name: scalekeeper.prod-eu.internal
//!   labels: {env: prod, region: eu-west-1}
//! ```
//!
//! Unknown fields are refused, so a typo is an error rather than a setting silently ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::CliError;

/// The `apiVersion` of the file.
pub const API_VERSION: &str = "scalekeeper.dev/v1alpha1";
/// The `kind` of the file.
pub const KIND: &str = "Config";
/// The environment variable naming the file; it wins over the XDG default.
pub const CONFIG_ENV: &str = "SCALEKEEPER_CONFIG";

/// The file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Always [`API_VERSION`].
    #[serde(rename = "apiVersion", default = "api_version")]
    pub api_version: String,
    /// Always [`KIND`].
    #[serde(default = "kind")]
    pub kind: String,
    /// The context used when neither `--context` nor `SCALEKEEPER_CONTEXT` names one; an empty
    /// string in the file (as kubectl writes) reads as none.
    #[serde(rename = "current-context", default, skip_serializing_if = "Option::is_none")]
    pub current_context: Option<String>,
    /// The contexts, in the file's order.
    #[serde(default)]
    pub contexts: Vec<Context>,
}

fn api_version() -> String {
    API_VERSION.to_string()
}

fn kind() -> String {
    KIND.to_string()
}

impl Default for Config {
    fn default() -> Self {
        Config { api_version: api_version(), kind: kind(), current_context: None, contexts: Vec::new() }
    }
}

/// One named cluster: where its server is, the TLS material to reach it, and labels to select
/// it by. Every field but the name is optional; what is missing falls back to the default
/// (server `localhost:50051`) or to the errors a missing flag gives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Context {
    /// The context's name: non-empty, without whitespace or `/`, unique in the file.
    pub name: String,
    /// The server, `HOST:PORT` (as `--server`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The CA certificate file (PEM); relative to the file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<PathBuf>,
    /// The CA certificate inline: PEM text, or base64 of PEM (as kubeconfig holds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority_data: Option<String>,
    /// The client certificate file (PEM); relative to the file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<PathBuf>,
    /// The client certificate inline: PEM text, or base64 of PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate_data: Option<String>,
    /// The client private key file (PEM); relative to the file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
    /// The client private key inline: PEM text, or base64 of PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_data: Option<String>,
    /// The name to check in the server's certificate instead of the host of `server` (used only
    /// when the server comes from this context too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_server_name: Option<String>,
    /// Labels to select the context by (`--contexts env=prod`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// The configuration file as loaded: its path (`None` when no location is known: no
/// `SCALEKEEPER_CONFIG`, `XDG_CONFIG_HOME` or `HOME`) and its content (empty when the file does
/// not exist).
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    /// Where the file is (or would be).
    pub path: Option<PathBuf>,
    /// What it holds.
    pub config: Config,
}

/// The file's location: `$SCALEKEEPER_CONFIG`, else `$XDG_CONFIG_HOME/scalekeeper/config.yaml`,
/// else `$HOME/.config/scalekeeper/config.yaml` (the XDG base directory rule); empty variables
/// count as unset. `None` when none of them is set.
pub fn config_path() -> Option<PathBuf> {
    config_path_from(|k| std::env::var_os(k))
}

fn config_path_from(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |k: &str| var(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    set(CONFIG_ENV)
        .or_else(|| set("XDG_CONFIG_HOME").map(|d| d.join("scalekeeper").join("config.yaml")))
        .or_else(|| set("HOME").map(|d| d.join(".config").join("scalekeeper").join("config.yaml")))
}

impl ConfigFile {
    /// Loads the file at [`config_path`].
    ///
    /// # Errors
    ///
    /// As [`ConfigFile::load`].
    pub fn load_default() -> Result<ConfigFile, CliError> {
        ConfigFile::load(config_path())
    }

    /// Loads and checks the file at `path`; a missing file (or no path) is an empty config.
    ///
    /// # Errors
    ///
    /// [`CliError::Config`] naming the file: unreadable, not YAML of this format (with the
    /// line and column), an unknown field, another apiVersion or kind, a context name that is
    /// empty, holds whitespace or `/`, or appears twice, a context with both a path and
    /// `-data` for the same item.
    pub fn load(path: Option<PathBuf>) -> Result<ConfigFile, CliError> {
        let Some(path) = path else { return Ok(ConfigFile::default()) };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ConfigFile { path: Some(path), config: Config::default() });
            }
            Err(e) => return Err(CliError::Config(format!("cannot read {}: {e}", path.display()))),
        };
        let config = parse(&text).map_err(|e| CliError::Config(format!("{}: {e}", path.display())))?;
        Ok(ConfigFile { path: Some(path), config })
    }

    /// The directory relative paths in the file are relative to (the file's own; `.` without a
    /// path).
    pub fn dir(&self) -> PathBuf {
        self.path.as_deref().and_then(Path::parent).map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }

    /// The file's path for messages (`(no configuration file)` when none is known).
    pub fn display(&self) -> String {
        self.path.as_ref().map_or_else(|| "(no configuration file)".to_string(), |p| p.display().to_string())
    }

    /// The context called `name`.
    pub fn context(&self, name: &str) -> Option<&Context> {
        self.config.contexts.iter().find(|c| c.name == name)
    }

    /// The context names, sorted, for messages.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.config.contexts.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        names
    }

    /// Adds `context`, or replaces the context of the same name in place; returns whether it
    /// was new.
    pub fn put_context(&mut self, context: Context) -> bool {
        match self.config.contexts.iter_mut().find(|c| c.name == context.name) {
            Some(old) => {
                *old = context;
                false
            }
            None => {
                self.config.contexts.push(context);
                true
            }
        }
    }

    /// Writes the file atomically: a temporary file in the same directory (created with mode
    /// 0600, as it may hold private keys), then a rename over the old one. Parent directories
    /// are created.
    ///
    /// # Errors
    ///
    /// [`CliError::Config`] naming the file when no location is known, the config does not
    /// pass the checks of [`ConfigFile::load`], or any step of the write fails.
    pub fn save(&self) -> Result<(), CliError> {
        let Some(path) = &self.path else {
            return Err(CliError::Config(format!(
                "no configuration file location: set {CONFIG_ENV}, XDG_CONFIG_HOME or HOME"
            )));
        };
        let fail =
            |what: &str, e: &dyn std::fmt::Display| CliError::Config(format!("cannot {what} {}: {e}", path.display()));
        check(&self.config).map_err(|e| fail("write", &e))?;
        let text = serde_yaml::to_string(&self.config).map_err(|e| fail("write", &e))?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(|e| fail("create the directory of", &e))?;
        // tempfile creates the file 0600 on Unix.
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| fail("write", &e))?;
        tmp.write_all(text.as_bytes()).map_err(|e| fail("write", &e))?;
        tmp.as_file().sync_all().map_err(|e| fail("write", &e))?;
        tmp.persist(path).map_err(|e| fail("write", &e.error))?;
        Ok(())
    }
}

/// Parses and checks the file's text (see [`ConfigFile::load`]).
fn parse(text: &str) -> Result<Config, String> {
    // An empty file (or only comments) is an empty config.
    if text.trim().is_empty() || serde_yaml::from_str::<serde_yaml::Value>(text).is_ok_and(|v| v.is_null()) {
        return Ok(Config::default());
    }
    let mut config: Config = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    if config.current_context.as_deref() == Some("") {
        config.current_context = None;
    }
    check(&config)?;
    Ok(config)
}

/// The checks every loaded and every written config passes.
fn check(config: &Config) -> Result<(), String> {
    if config.api_version != API_VERSION {
        return Err(format!("apiVersion {:?} is not {API_VERSION}", config.api_version));
    }
    if config.kind != KIND {
        return Err(format!("kind {:?} is not {KIND}", config.kind));
    }
    let mut seen = BTreeSet::new();
    for c in &config.contexts {
        check_name(&c.name)?;
        if !seen.insert(c.name.as_str()) {
            return Err(format!("context {:?} appears more than once", c.name));
        }
        for (path, data, field) in [
            (c.certificate_authority.is_some(), c.certificate_authority_data.is_some(), "certificate-authority"),
            (c.client_certificate.is_some(), c.client_certificate_data.is_some(), "client-certificate"),
            (c.client_key.is_some(), c.client_key_data.is_some(), "client-key"),
        ] {
            if path && data {
                return Err(format!("context {:?} has both {field} and {field}-data; keep one", c.name));
            }
        }
    }
    Ok(())
}

/// Checks a context name: non-empty, no whitespace, no `/`.
///
/// # Errors
///
/// What is wrong with it, naming it.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a context has an empty name".to_string());
    }
    if name.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(format!("context name {name:?} holds whitespace or '/'"));
    }
    Ok(())
}

/// Decodes a `-data` field: PEM text as it is, or base64 of PEM (what kubeconfig's
/// `certificate-authority-data` holds).
///
/// # Errors
///
/// Why it is neither, for a message that names the field.
pub fn decode_data(data: &str) -> Result<Vec<u8>, String> {
    if data.contains("-----BEGIN") {
        return Ok(data.as_bytes().to_vec());
    }
    let compact: String = data.chars().filter(|c| !c.is_whitespace()).collect();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| format!("neither PEM nor base64 ({e})"))?;
    if !decoded.windows(10).any(|w| w == b"-----BEGIN") {
        return Err("base64 of something that is not PEM".to_string());
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_location_follows_the_xdg_rule() {
        fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| OsString::from(v))
        }
        let all = [("SCALEKEEPER_CONFIG", "/x/c.yaml"), ("XDG_CONFIG_HOME", "/xdg"), ("HOME", "/home/me")];
        assert_eq!(config_path_from(vars(&all)), Some(PathBuf::from("/x/c.yaml")));
        let no_env = [("SCALEKEEPER_CONFIG", ""), ("XDG_CONFIG_HOME", "/xdg"), ("HOME", "/home/me")];
        assert_eq!(config_path_from(vars(&no_env)), Some(PathBuf::from("/xdg/scalekeeper/config.yaml")));
        assert_eq!(
            config_path_from(vars(&[("HOME", "/home/me")])),
            Some(PathBuf::from("/home/me/.config/scalekeeper/config.yaml"))
        );
        assert_eq!(config_path_from(vars(&[])), None);
    }

    #[test]
    fn parses_the_documented_format() {
        let text = r#"
apiVersion: scalekeeper.dev/v1alpha1
kind: Config
current-context: dev
contexts:
- name: prod-eu
  server: scalekeeper.prod-eu.example:443
  certificate-authority: /path/ca.pem
  client-certificate: certs/me.pem
  client-key: certs/me-key.pem
  tls-server-name: scalekeeper.prod-eu.internal
  labels: {env: prod, region: eu-west-1}
- name: dev
"#;
        let c = parse(text).unwrap();
        assert_eq!(c.current_context.as_deref(), Some("dev"));
        assert_eq!(c.contexts.len(), 2);
        let p = &c.contexts[0];
        assert_eq!(p.client_certificate.as_deref(), Some(Path::new("certs/me.pem")));
        assert_eq!(p.tls_server_name.as_deref(), Some("scalekeeper.prod-eu.internal"));
        assert_eq!(p.labels.get("region").map(String::as_str), Some("eu-west-1"));
        // Round trip.
        assert_eq!(parse(&serde_yaml::to_string(&c).unwrap()).unwrap(), c);
        // Empty files and kubectl's empty current-context.
        assert_eq!(parse("").unwrap(), Config::default());
        assert_eq!(parse("# nothing yet\n").unwrap(), Config::default());
        assert_eq!(parse("current-context: \"\"\n").unwrap().current_context, None);
    }

    #[test]
    fn refuses_typos_duplicates_bad_names_and_path_with_data() {
        let err = parse("contexts:\n- name: a\n  sever: h:1\n").unwrap_err();
        assert!(err.contains("unknown field `sever`") && err.contains("line 3"), "{err}");
        let err = parse("contexts:\n- name: a\n- name: a\n").unwrap_err();
        assert!(err.contains("\"a\" appears more than once"), "{err}");
        for bad in ["''", "'a b'", "a/b"] {
            let err = parse(&format!("contexts:\n- name: {bad}\n")).unwrap_err();
            assert!(err.contains("empty name") || err.contains("whitespace or '/'"), "{bad}: {err}");
        }
        let err = parse("contexts:\n- name: a\n  client-key: k.pem\n  client-key-data: xx\n").unwrap_err();
        assert!(err.contains("both client-key and client-key-data"), "{err}");
        let err = parse("apiVersion: v1\n").unwrap_err();
        assert!(err.contains("apiVersion"), "{err}");
        let err = parse("contexts: [").unwrap_err();
        assert!(err.contains("line 2 column 1"), "{err}");
    }

    #[test]
    fn data_is_pem_or_base64_of_pem() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        assert_eq!(decode_data(pem).unwrap(), pem.as_bytes());
        let b64 = base64::engine::general_purpose::STANDARD.encode(pem);
        // Wrapped over lines, as some tools write it.
        let wrapped = format!("{}\n{}", &b64[..20], &b64[20..]);
        assert_eq!(decode_data(&wrapped).unwrap(), pem.as_bytes());
        assert!(decode_data("not base64 !").unwrap_err().contains("neither PEM nor base64"));
        let not_pem = base64::engine::general_purpose::STANDARD.encode("hello");
        assert!(decode_data(&not_pem).unwrap_err().contains("not PEM"));
    }

    #[test]
    fn loads_missing_as_empty_and_names_the_file_on_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = ConfigFile::load(Some(dir.path().join("none.yaml"))).unwrap();
        assert!(missing.config.contexts.is_empty());
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, "contexts:\n  - name: [\n").unwrap();
        let err = ConfigFile::load(Some(bad.clone())).unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert!(err.to_string().starts_with(&bad.display().to_string()), "{err}");
        let err = ConfigFile::load(Some(dir.path().to_path_buf())).unwrap_err();
        assert!(err.to_string().starts_with("cannot read"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn writes_atomically_with_mode_0600_and_creates_directories() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/config.yaml");
        let mut file = ConfigFile { path: Some(path.clone()), config: Config::default() };
        file.config.contexts.push(Context { name: "x".into(), server: Some("h:1".into()), ..Context::default() });
        file.save().unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(ConfigFile::load(Some(path.clone())).unwrap().config, file.config);
        // A rewrite replaces the file and leaves no temporary file behind.
        file.config.current_context = Some("x".into());
        file.save().unwrap();
        assert_eq!(ConfigFile::load(Some(path.clone())).unwrap().config.current_context.as_deref(), Some("x"));
        assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
        // An invalid config is not written.
        file.config.contexts.push(Context { name: "x".into(), ..Context::default() });
        assert!(file.save().is_err());
    }
}
