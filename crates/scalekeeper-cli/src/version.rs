//! `scalekeeper version`: the client's version and, unless `--client`, the server's (the
//! GetVersion call), as `kubectl version` prints both.
//!
//! - `-o table`: `Client Version: 0.1.0`, then `Server Version: 0.1.0`; a known git commit
//!   follows its version as ` (git commit SHA)`.
//! - `-o json`: `{"clientVersion": {"version": .., "gitCommit": ..}, "serverVersion": {..}}`,
//!   each object a GetVersionResponse in the proto3 JSON mapping (`gitCommit` is `""` when the
//!   build recorded none); `serverVersion` is left out when there is none to print.
//!
//! A server that does not answer: the client's version is printed, then the error, with its
//! exit code (3: cannot connect). A server older than GetVersion (UNIMPLEMENTED): `Server
//! Version: unknown (older than GetVersion)` and exit 0.

use scalekeeper_api::v1::{GetVersionRequest, GetVersionResponse};
use scalekeeper_core::build_info;
use serde_json::{Map, Value};
use tonic::Code;

use super::CliError;
use super::args::{ConnectArgs, Output};
use super::contexts::resolve_one;
use super::render::{emit, pretty, proto_json};
use super::session::{Idempotency, Session};

/// What is known of the server's version.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerVersion {
    /// Not asked (`--client`), or the server did not answer (the error follows the output).
    NotAsked,
    /// The server answered GetVersion.
    Known(GetVersionResponse),
    /// The server answered UNIMPLEMENTED: it predates GetVersion.
    Older,
}

/// This binary's version, as the message the server answers with.
pub fn client_version() -> GetVersionResponse {
    GetVersionResponse {
        version: build_info::VERSION.to_owned(),
        git_commit: build_info::git_commit().unwrap_or_default().to_owned(),
    }
}

/// `version` in the table format: one `Client Version:` line, and a `Server Version:` line
/// unless the server was not asked or did not answer.
pub fn render_version(client: &GetVersionResponse, server: &ServerVersion) -> String {
    let line = |who: &str, v: &GetVersionResponse| match v.git_commit.as_str() {
        "" => format!("{who} Version: {}\n", v.version),
        commit => format!("{who} Version: {} (git commit {commit})\n", v.version),
    };
    let mut out = line("Client", client);
    match server {
        ServerVersion::NotAsked => {}
        ServerVersion::Known(v) => out.push_str(&line("Server", v)),
        ServerVersion::Older => out.push_str("Server Version: unknown (older than GetVersion)\n"),
    }
    out
}

/// `version` in the JSON format: `{"clientVersion": {..}, "serverVersion": {..}}`, without
/// `serverVersion` when the server's version is not known.
///
/// # Errors
/// A message that cannot be printed as JSON (INTERNAL; not expected).
pub fn version_json(client: &GetVersionResponse, server: &ServerVersion) -> Result<Value, CliError> {
    const NAME: &str = "scalekeeper.v1.GetVersionResponse";
    let mut doc = Map::new();
    doc.insert("clientVersion".into(), proto_json(client, NAME)?);
    if let ServerVersion::Known(v) = server {
        doc.insert("serverVersion".into(), proto_json(v, NAME)?);
    }
    Ok(Value::Object(doc))
}

/// Runs `scalekeeper version`: asks the server of `conn` (its context, flags and environment)
/// unless `client_only`, prints, and returns the server's error (after printing the client's
/// version) when it could not be resolved or did not answer.
///
/// # Errors
/// The endpoint's or the call's error ([`CliError`]; UNIMPLEMENTED is not one); output that
/// cannot be written.
pub(super) async fn run(conn: &ConnectArgs, client_only: bool) -> Result<(), CliError> {
    let output = conn.output;
    let (server, failure) = if client_only {
        (ServerVersion::NotAsked, None)
    } else {
        let answer = match resolve_one(conn) {
            Ok(endpoint) => {
                Session::new(endpoint, conn.timeout)
                    .call(Idempotency::Read, |mut c| async move { c.get_version(GetVersionRequest {}).await })
                    .await
            }
            Err(e) => Err(e),
        };
        match answer {
            Ok(v) => (ServerVersion::Known(v), None),
            Err(CliError::Status(s)) if s.code() == Code::Unimplemented => (ServerVersion::Older, None),
            Err(e) => (ServerVersion::NotAsked, Some(e)),
        }
    };
    let client = client_version();
    match output {
        Output::Table => emit(&render_version(&client, &server))?,
        Output::Json => emit(&pretty(&version_json(&client, &server)?)?)?,
    }
    failure.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(version: &str, commit: &str) -> GetVersionResponse {
        GetVersionResponse { version: version.into(), git_commit: commit.into() }
    }

    #[test]
    fn table_prints_client_then_server() {
        let server = ServerVersion::Known(v("0.9.0", "0123abcd"));
        assert_eq!(
            render_version(&v("1.0.0", ""), &server),
            "Client Version: 1.0.0\nServer Version: 0.9.0 (git commit 0123abcd)\n"
        );
        assert_eq!(
            render_version(&v("1.0.0", "ff"), &ServerVersion::NotAsked),
            "Client Version: 1.0.0 (git commit ff)\n"
        );
        assert_eq!(
            render_version(&v("1.0.0", ""), &ServerVersion::Older),
            "Client Version: 1.0.0\nServer Version: unknown (older than GetVersion)\n"
        );
    }

    #[test]
    fn json_has_client_and_server_objects() {
        let doc = version_json(&v("1.0.0", ""), &ServerVersion::Known(v("0.9.0", "abc"))).unwrap();
        assert_eq!(
            doc,
            serde_json::json!({
                "clientVersion": {"version": "1.0.0", "gitCommit": ""},
                "serverVersion": {"version": "0.9.0", "gitCommit": "abc"},
            })
        );
        for server in [ServerVersion::NotAsked, ServerVersion::Older] {
            let doc = version_json(&v("1.0.0", ""), &server).unwrap();
            assert_eq!(doc, serde_json::json!({"clientVersion": {"version": "1.0.0", "gitCommit": ""}}));
        }
    }

    #[test]
    fn the_client_version_is_this_build() {
        assert_eq!(client_version().version, env!("CARGO_PKG_VERSION"));
    }
}
