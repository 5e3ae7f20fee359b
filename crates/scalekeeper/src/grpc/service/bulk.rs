//! Freeze and Thaw: not built yet.

use scalekeeper_api::v1 as pb;

use super::{Caller, Service};
use crate::grpc::status::Error;

impl Service {
    /// Freeze: answers UNIMPLEMENTED until it is built.
    pub(super) async fn freeze_call(&self, _r: pb::FreezeRequest, _who: Caller) -> Result<pb::FreezeResponse, Error> {
        Err(Error::Internal("Freeze is not built yet".into()))
    }

    /// Thaw: answers UNIMPLEMENTED until it is built.
    pub(super) async fn thaw_call(&self, _r: pb::ThawRequest, _who: Caller) -> Result<pb::ThawResponse, Error> {
        Err(Error::Internal("Thaw is not built yet".into()))
    }
}
