//! What this build of scalekeeper is: the release version and, when the build recorded it, the
//! git commit. One owner for both, read by `scalekeeper version` (the client's side) and by
//! the server's GetVersion.
//!
//! The commit is embedded only when the build sets `SCALEKEEPER_GIT_COMMIT` (the release
//! workflow and the Dockerfile pass the tagged commit); nothing runs git at build time, so a
//! build from a source archive without `.git` works and reports no commit.

/// The release version: the workspace's Cargo package version (e.g. `0.1.0`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit this binary was built from, as `SCALEKEEPER_GIT_COMMIT` said at build time
/// (trimmed); `None` when the build did not set it or set it empty.
pub fn git_commit() -> Option<&'static str> {
    option_env!("SCALEKEEPER_GIT_COMMIT").map(str::trim).filter(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_the_cargo_package_version() {
        assert_eq!(VERSION, env!("CARGO_PKG_VERSION"));
        assert!(VERSION.split('.').count() >= 3, "{VERSION}");
    }

    #[test]
    fn a_commit_when_given_is_never_empty() {
        assert!(git_commit().is_none_or(|c| !c.is_empty() && c.trim() == c));
    }
}
