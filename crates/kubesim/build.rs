//! Compiles Kubernetes' protobuf definitions (the `generated.proto` files of `k8s.io/api` and
//! `k8s.io/apimachinery`) with protox (a pure-Rust protobuf compiler: no system `protoc`) into
//! one encoded `FileDescriptorSet`, which `src/protobuf` loads into a prost-reflect
//! `DescriptorPool`.
//!
//! # Where the `.proto` files come from
//!
//! Not from this repository: it holds only what this project wrote. They are read from the
//! crates.io package `k8s-rs-pb` (Apache-2.0, <https://github.com/DMoscicki/k8s-rs-pb>), which
//! ships go-to-protobuf's output unchanged (license headers included) for each Kubernetes
//! version it supports, under `src/v1_XX/`, for its own build. kubesim takes
//! `src/v1_{KUBERNETES_MINOR}/`, the version it reports at `/version`. That package shortened
//! the proto package names (`api.apps.v1` instead of `k8s.io.api.apps.v1`) and the import
//! paths; package names never appear on the wire, so the encoding is Kubernetes' own, and
//! `src/protobuf` uses the short names.
//!
//! # How this script finds them
//!
//! `k8s-rs-pb` is a build-dependency with its default features off: cargo then downloads it,
//! pins it in `Cargo.lock` and checks its checksum like any other crate, and `--locked
//! --offline` builds work once it is fetched. Without a version feature its library compiles
//! to nothing (its generated Rust code, tens of MB, is behind `v1_XX` features); only its
//! small dependencies (protobuf, chrono, cfg-if, serde_json) are built, about 9 s once on the
//! 2-core dev machine. It has no `links` key, so cargo tells this script nothing about where
//! its sources are: the script asks `cargo metadata` (the cargo running the build, `$CARGO`,
//! with `--locked`), which resolves the workspace as the build did and reports the unpacked
//! package's manifest path, wherever it is (the registry cache, a `cargo vendor` directory, a
//! source replacement). `--filter-platform $HOST` limits the packages `cargo metadata` needs
//! on disk to those of the platform the build already fetched for (without it, an `--offline`
//! build would need the Windows and macOS crates too). It still needs the other workspace
//! members' packages for that platform, as `cargo fetch` or any earlier workspace build leaves
//! them; when one is missing and the network is there, it downloads it, as any cargo command
//! in the workspace would.
//!
//! To move to another Kubernetes version: change [`KUBERNETES_MINOR`] (with a newer
//! `k8s-rs-pb` if the current one lacks it) and `KUBE_MINOR` in `src/api.rs` (a unit test
//! checks they agree), and review `src/protobuf/go_fields.rs` for the fields the new version
//! adds.

use std::path::{Path, PathBuf};
use std::process::Command;

use prost::Message as _;

/// The package that ships the `.proto` files (its name on crates.io).
const PACKAGE: &str = "k8s-rs-pb";

/// The Kubernetes minor version whose files kubesim compiles (`1.33`): `src/v1_33/` of
/// [`PACKAGE`]. Exported to the crate as `KUBESIM_PROTOS_KUBERNETES_VERSION`.
const KUBERNETES_MINOR: u32 = 33;

/// The files kubesim needs: the served kinds and what they import.
const FILES: &[&str] = &[
    "api/admissionregistration/v1/generated.proto",
    "api/apps/v1/generated.proto",
    "api/authentication/v1/generated.proto",
    "api/authorization/v1/generated.proto",
    "api/autoscaling/v1/generated.proto",
    "api/autoscaling/v2/generated.proto",
    "api/coordination/v1/generated.proto",
    "api/core/v1/generated.proto",
    "api/events/v1/generated.proto",
    "api/rbac/v1/generated.proto",
    "apimachinery/pkg/apis/meta/v1/generated.proto",
];

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let root = package_dir(PACKAGE)?.join(format!("src/v1_{KUBERNETES_MINOR}"));
    if !root.is_dir() {
        return Err(
            format!("{} has no Kubernetes 1.{KUBERNETES_MINOR} protos: a newer {PACKAGE}?", root.display()).into()
        );
    }
    let fds = protox::Compiler::new([&root])?
        .include_imports(true)
        .include_source_info(false)
        .open_files(FILES.iter().map(|f| root.join(f)))?
        .file_descriptor_set();
    // Registry sources do not change under a version, but a vendored or patched copy can.
    for file in &fds.file {
        println!("cargo:rerun-if-changed={}", root.join(file.name()).display());
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-env=KUBESIM_PROTOS_KUBERNETES_VERSION=1.{KUBERNETES_MINOR}");
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("kubernetes_descriptor.bin"), fds.encode_to_vec())?;
    Ok(())
}

/// The source directory of `name`, the build-dependency of this package, as cargo resolved
/// it for this build.
fn package_dir(name: &str) -> Result<PathBuf, Error> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("Cargo.toml");
    let output = Command::new(std::env::var("CARGO")?)
        .args(["metadata", "--format-version", "1", "--locked", "--filter-platform"])
        .arg(std::env::var("HOST")?)
        .arg("--manifest-path")
        .arg(&manifest)
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "`cargo metadata` (to find the {name} package's .proto files) failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let packages = metadata["packages"].as_array().ok_or("cargo metadata: no packages")?;
    let this = packages
        .iter()
        .find(|p| manifest_of(p) == Some(manifest.as_path()))
        .and_then(|p| p["id"].as_str())
        .ok_or("cargo metadata does not list kubesim")?;
    // This package's node in the resolved graph names the exact package of the dependency.
    let nodes = metadata["resolve"]["nodes"].as_array().ok_or("cargo metadata: no resolve graph")?;
    let dep_id = nodes
        .iter()
        .find(|n| n["id"] == this)
        .and_then(|n| n["deps"].as_array())
        .into_iter()
        .flatten()
        .map(|d| &d["pkg"])
        .find(|id| packages.iter().any(|p| p["id"] == **id && p["name"] == name))
        .ok_or_else(|| format!("kubesim does not depend on {name} (Cargo.toml's build-dependencies)"))?;
    let dep_manifest = packages
        .iter()
        .find(|p| p["id"] == *dep_id)
        .and_then(manifest_of)
        .ok_or_else(|| format!("cargo metadata has no manifest path for {name}"))?;
    Ok(dep_manifest.parent().ok_or("a manifest path without a directory")?.to_path_buf())
}

/// The manifest path of a `cargo metadata` package.
fn manifest_of(package: &serde_json::Value) -> Option<&Path> {
    package["manifest_path"].as_str().map(Path::new)
}
