//! Which value each connection setting takes: the one rule, as a pure function ([`choose`]).
//!
//! Per field: command-line flag > `SCALEKEEPER_*` environment variable > the chosen context >
//! the default (server `localhost:50051`; no CA, certificate or key). This is kubectl's order
//! (its flags win over the kubeconfig), with the environment variables scalekeeper had before
//! contexts in between, so existing scripts keep working.
//!
//! A context's `tls-server-name` belongs to its server: it applies only when the server comes
//! from the context too, so `SCALEKEEPER_SERVER=other:443` is not checked against a name meant
//! for another host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::file::Context;

/// The default server when no flag, variable or context gives one.
pub const DEFAULT_SERVER: &str = "localhost:50051";

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A command-line flag (`--server`, `--ca`, `--cert`, `--key`).
    Flag,
    /// An environment variable (`SCALEKEEPER_SERVER`, ...).
    Env,
    /// The context of this name in the configuration file.
    Context(String),
    /// The built-in default.
    Default,
}

/// One of the three TLS items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// The CA certificate that signed the server's certificate.
    Ca,
    /// The client certificate.
    Cert,
    /// The client private key.
    Key,
}

impl Item {
    /// The flag, e.g. `--ca`.
    pub fn flag(self) -> &'static str {
        match self {
            Item::Ca => "--ca",
            Item::Cert => "--cert",
            Item::Key => "--key",
        }
    }

    /// The environment variable, e.g. `SCALEKEEPER_CA`.
    pub fn env(self) -> &'static str {
        match self {
            Item::Ca => "SCALEKEEPER_CA",
            Item::Cert => "SCALEKEEPER_CERT",
            Item::Key => "SCALEKEEPER_KEY",
        }
    }

    /// The context's path field, e.g. `certificate-authority` (the inline one adds `-data`).
    pub fn field(self) -> &'static str {
        match self {
            Item::Ca => "certificate-authority",
            Item::Cert => "client-certificate",
            Item::Key => "client-key",
        }
    }

    /// What it is, for messages: `CA certificate`.
    pub fn what(self) -> &'static str {
        match self {
            Item::Ca => "CA certificate",
            Item::Cert => "client certificate",
            Item::Key => "client private key",
        }
    }

    /// Where a value of this item from `origin` was set, for messages: `--ca`,
    /// `SCALEKEEPER_CA`, `context prod-eu, certificate-authority`.
    pub fn setting(self, origin: &Origin) -> String {
        match origin {
            Origin::Flag | Origin::Default => self.flag().to_string(),
            Origin::Env => self.env().to_string(),
            Origin::Context(name) => format!("context {name}, {}", self.field()),
        }
    }

    /// The context's path and inline values of this item.
    fn of(self, c: &Context) -> (Option<&PathBuf>, Option<&String>) {
        match self {
            Item::Ca => (c.certificate_authority.as_ref(), c.certificate_authority_data.as_ref()),
            Item::Cert => (c.client_certificate.as_ref(), c.client_certificate_data.as_ref()),
            Item::Key => (c.client_key.as_ref(), c.client_key_data.as_ref()),
        }
    }
}

/// The four connection settings as one source (the flags, or the environment) gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// `--server` / `SCALEKEEPER_SERVER`.
    pub server: Option<String>,
    /// `--ca` / `SCALEKEEPER_CA`.
    pub ca: Option<PathBuf>,
    /// `--cert` / `SCALEKEEPER_CERT`.
    pub cert: Option<PathBuf>,
    /// `--key` / `SCALEKEEPER_KEY`.
    pub key: Option<PathBuf>,
}

impl Settings {
    fn item(&self, item: Item) -> Option<&PathBuf> {
        match item {
            Item::Ca => self.ca.as_ref(),
            Item::Cert => self.cert.as_ref(),
            Item::Key => self.key.as_ref(),
        }
    }

    /// The names of the settings given, as `names` spells them (in the order server, CA,
    /// certificate, key).
    pub fn given<'a>(&self, names: [&'a str; 4]) -> Vec<&'a str> {
        [self.server.is_some(), self.ca.is_some(), self.cert.is_some(), self.key.is_some()]
            .into_iter()
            .zip(names)
            .filter_map(|(set, name)| set.then_some(name))
            .collect()
    }
}

/// Where one TLS item's PEM comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Material {
    /// A file; `origin` says which setting named it.
    File {
        /// The path (a context's relative path already joined to the file's directory).
        path: PathBuf,
        /// Which setting named it.
        origin: Origin,
    },
    /// A context's `-data` field.
    Inline {
        /// The context's name.
        context: String,
        /// The field's value, as written (PEM or base64 of PEM).
        data: String,
    },
}

/// The outcome of [`choose`]: each setting with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// The context used, if any.
    pub context: Option<String>,
    /// The server as written, and where it came from.
    pub server: (String, Origin),
    /// The CA certificate.
    pub ca: Option<Material>,
    /// The client certificate.
    pub cert: Option<Material>,
    /// The client private key.
    pub key: Option<Material>,
    /// The context's TLS server name, when the server is the context's too.
    pub tls_server_name: Option<String>,
    /// The context's labels.
    pub labels: BTreeMap<String, String>,
    /// The environment variables that replaced a value the context has (for the warning when
    /// the context was named explicitly), with the context's field.
    pub env_overrides: Vec<(&'static str, &'static str)>,
}

/// Applies the precedence: per field, `flags` > `env` > `context` > the default. `dir` is the
/// configuration file's directory, which a context's relative paths are relative to.
pub fn choose(flags: &Settings, env: &Settings, context: Option<&Context>, dir: &Path) -> Chosen {
    let ctx_name = || context.map(|c| c.name.clone()).unwrap_or_default();
    let mut env_overrides = Vec::new();
    let context_has_server = context.is_some_and(|c| c.server.is_some());
    let server = if let Some(s) = &flags.server {
        (s.clone(), Origin::Flag)
    } else if let Some(s) = &env.server {
        if context_has_server {
            env_overrides.push(("SCALEKEEPER_SERVER", "server"));
        }
        (s.clone(), Origin::Env)
    } else if let Some(s) = context.and_then(|c| c.server.clone()) {
        (s, Origin::Context(ctx_name()))
    } else {
        (DEFAULT_SERVER.to_string(), Origin::Default)
    };
    let mut material = |item: Item| -> Option<Material> {
        if let Some(p) = flags.item(item) {
            return Some(Material::File { path: p.clone(), origin: Origin::Flag });
        }
        let (ctx_path, ctx_data) = context.map_or((None, None), |c| item.of(c));
        if let Some(p) = env.item(item) {
            if ctx_path.is_some() || ctx_data.is_some() {
                env_overrides.push((item.env(), item.field()));
            }
            return Some(Material::File { path: p.clone(), origin: Origin::Env });
        }
        if let Some(p) = ctx_path {
            return Some(Material::File { path: dir.join(p), origin: Origin::Context(ctx_name()) });
        }
        ctx_data.map(|d| Material::Inline { context: ctx_name(), data: d.clone() })
    };
    let (ca, cert, key) = (material(Item::Ca), material(Item::Cert), material(Item::Key));
    Chosen {
        context: context.map(|c| c.name.clone()),
        tls_server_name: match server.1 {
            Origin::Context(_) => context.and_then(|c| c.tls_server_name.clone()),
            _ => None,
        },
        server,
        ca,
        cert,
        key,
        labels: context.map(|c| c.labels.clone()).unwrap_or_default(),
        env_overrides,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(origin: Origin, path: &str) -> Option<Material> {
        Some(Material::File { path: PathBuf::from(path), origin })
    }

    /// Every field follows flag > env > context > default on its own: one table row per
    /// combination of sources for the server and the CA, the certificate and key riding along.
    #[test]
    fn flag_beats_env_beats_context_beats_default_per_field() {
        let ctx = Context {
            name: "prod".into(),
            server: Some("ctx:1".into()),
            certificate_authority: Some("ca.pem".into()),
            client_certificate_data: Some("PEM".into()),
            client_key: Some("/abs/key.pem".into()),
            tls_server_name: Some("internal".into()),
            labels: [("env".to_string(), "prod".to_string())].into(),
            ..Context::default()
        };
        let dir = Path::new("/cfg");
        let flags = Settings { server: Some("flag:1".into()), ca: Some("flag-ca.pem".into()), ..Settings::default() };
        let env = Settings { server: Some("env:1".into()), ca: Some("env-ca.pem".into()), ..Settings::default() };
        let none = Settings::default();
        let c = || Origin::Context("prod".into());
        // (flags, env, context) -> (server, ca)
        type Row<'a> = (&'a Settings, &'a Settings, Option<&'a Context>, (&'a str, Origin), Option<Material>);
        let rows: [Row; 6] = [
            (&flags, &env, Some(&ctx), ("flag:1", Origin::Flag), file(Origin::Flag, "flag-ca.pem")),
            (&flags, &none, Some(&ctx), ("flag:1", Origin::Flag), file(Origin::Flag, "flag-ca.pem")),
            (&none, &env, Some(&ctx), ("env:1", Origin::Env), file(Origin::Env, "env-ca.pem")),
            (&none, &none, Some(&ctx), ("ctx:1", c()), file(c(), "/cfg/ca.pem")),
            (&none, &env, None, ("env:1", Origin::Env), file(Origin::Env, "env-ca.pem")),
            (&none, &none, None, (DEFAULT_SERVER, Origin::Default), None),
        ];
        for (i, (f, e, context, (server, origin), ca)) in rows.into_iter().enumerate() {
            let got = choose(f, e, context, dir);
            assert_eq!(got.server, (server.to_string(), origin), "row {i}");
            assert_eq!(got.ca, ca, "row {i}");
            if context.is_some() {
                // Neither flags nor env give a certificate or key here: the context's apply.
                assert_eq!(got.cert, Some(Material::Inline { context: "prod".into(), data: "PEM".into() }), "row {i}");
                assert_eq!(got.key, file(c(), "/abs/key.pem"), "row {i}");
                assert_eq!(got.labels.get("env").map(String::as_str), Some("prod"), "row {i}");
            } else {
                assert_eq!((got.cert, got.key, got.context), (None, None, None), "row {i}");
            }
        }
    }

    #[test]
    fn tls_server_name_applies_only_with_the_contexts_server() {
        let ctx = Context {
            name: "p".into(),
            server: Some("ctx:1".into()),
            tls_server_name: Some("internal".into()),
            ..Context::default()
        };
        let none = Settings::default();
        let env = Settings { server: Some("env:1".into()), ..Settings::default() };
        assert_eq!(choose(&none, &none, Some(&ctx), Path::new(".")).tls_server_name.as_deref(), Some("internal"));
        assert_eq!(choose(&none, &env, Some(&ctx), Path::new(".")).tls_server_name, None);
    }

    #[test]
    fn env_overrides_of_a_contexts_fields_are_reported() {
        let ctx = Context {
            name: "p".into(),
            server: Some("ctx:1".into()),
            client_key_data: Some("PEM".into()),
            ..Context::default()
        };
        let env = Settings {
            server: Some("env:1".into()),
            ca: Some("ca.pem".into()),
            key: Some("k.pem".into()),
            ..Settings::default()
        };
        let got = choose(&Settings::default(), &env, Some(&ctx), Path::new("."));
        // The CA: the context has none, so the variable overrides nothing.
        assert_eq!(got.env_overrides, vec![("SCALEKEEPER_SERVER", "server"), ("SCALEKEEPER_KEY", "client-key")]);
        // A flag wins over both: the variable overrides nothing.
        let flags = Settings { server: Some("f:1".into()), key: Some("f.pem".into()), ..Settings::default() };
        assert!(choose(&flags, &env, Some(&ctx), Path::new(".")).env_overrides.is_empty());
    }
}
