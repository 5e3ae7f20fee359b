//! scalekeeper's gRPC API, package `scalekeeper.v1`, generated from
//! `proto/scalekeeper/v1/scale.proto` at build time.

/// Messages, enums, and the `ScaleService` client and server of `scalekeeper.v1`.
pub mod v1 {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("scalekeeper.v1");
}

/// The full name of the gRPC service, `scalekeeper.v1.ScaleService`: the one tonic generated
/// from the proto, so it cannot drift from what the server serves. The health service reports
/// on it, and the metrics label its calls with it.
pub const SERVICE_NAME: &str = v1::scale_service_server::SERVICE_NAME;

/// The encoded `FileDescriptorSet` of the API (with imports), for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/scalekeeper_descriptor.bin"));
