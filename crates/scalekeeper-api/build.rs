//! Compiles `proto/` with protox (a pure-Rust protobuf compiler: no system `protoc`), keeps
//! the encoded descriptor set for gRPC server reflection, and generates tonic code.

use std::path::PathBuf;

use prost::Message as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let file = root.join("scalekeeper/v1/scale.proto");
    println!("cargo:rerun-if-changed={}", root.display());
    let fds = protox::Compiler::new([&root])?
        .include_imports(true)
        .include_source_info(true)
        .open_files([&file])?
        .file_descriptor_set();
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("scalekeeper_descriptor.bin"), fds.encode_to_vec())?;
    // Map fields (a Deployment's labels) as BTreeMap: the server fills them from labels the
    // cache keeps sorted, so there is no hashing per label and the encoding is in key order.
    tonic_prost_build::configure().btree_map(".").build_server(true).build_client(true).compile_fds(fds)?;
    Ok(())
}
