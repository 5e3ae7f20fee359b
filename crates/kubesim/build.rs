//! Compiles the vendored Kubernetes `generated.proto` files (`src/protobuf/proto/`) with
//! protox (a pure-Rust protobuf compiler: no system `protoc`) into one encoded
//! `FileDescriptorSet`, which `src/protobuf` loads into a prost-reflect `DescriptorPool`.

use std::path::PathBuf;

use prost::Message as _;

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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("src/protobuf/proto");
    println!("cargo:rerun-if-changed={}", root.display());
    let fds = protox::Compiler::new([&root])?
        .include_imports(true)
        .include_source_info(false)
        .open_files(FILES.iter().map(|f| root.join(f)))?
        .file_descriptor_set();
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("kubernetes_descriptor.bin"), fds.encode_to_vec())?;
    Ok(())
}
