//! scalekeeper's gRPC API, package `scalekeeper.v1`, generated from
//! `proto/scalekeeper/v1/scale.proto` at build time.

/// Messages, enums, and the `ScaleService` client and server of `scalekeeper.v1`.
pub mod v1 {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("scalekeeper.v1");
}

/// The encoded `FileDescriptorSet` of the API (with imports), for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/scalekeeper_descriptor.bin"));
