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

/// The `domain` of the `google.rpc.ErrorInfo` details scalekeeper's errors carry.
pub const ERROR_DOMAIN: &str = "scalekeeper.dev";

/// ErrorInfo `reason` of a FAILED_PRECONDITION: the write needs approval under the policy's
/// approval rule (the two-person rule). Metadata `scaleRequest` (`NAMESPACE/NAME`) names the
/// ScaleRequest the write was recorded as; absent for a dry run, which records none.
pub const REASON_APPROVAL_REQUIRED: &str = "APPROVAL_REQUIRED";

/// ErrorInfo `reason` of a FAILED_PRECONDITION: an approval, a review or a denial of a
/// ScaleRequest was refused (the requester's own, a second by one identity, a changed digest,
/// a request that is not open). Metadata `scaleRequest` names it.
pub const REASON_SCALE_REQUEST_REFUSED: &str = "SCALE_REQUEST_REFUSED";

/// The ErrorInfo metadata key naming a ScaleRequest, `NAMESPACE/NAME`.
pub const METADATA_SCALE_REQUEST: &str = "scaleRequest";

/// The canonical name of a gRPC status code, e.g. `NOT_FOUND`, as the gRPC spec spells it
/// (<https://grpc.github.io/grpc/core/md_doc_statuscodes.html>). The one vocabulary of the
/// server's metrics (`grpc_code`), logs and audit records and of the CLI's errors.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The encoded `FileDescriptorSet` of the API (with imports), for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/scalekeeper_descriptor.bin"));
