//! Explain and Plan: not built yet.

use scalekeeper_api::v1 as pb;

use super::{Caller, Service};
use crate::grpc::status::Error;

impl Service {
    /// Explain: answers UNIMPLEMENTED until it is built.
    pub(super) async fn explain_call(
        &self,
        _r: pb::ExplainRequest,
        _who: Caller,
    ) -> Result<pb::ExplainResponse, Error> {
        Err(Error::Internal("Explain is not built yet".into()))
    }

    /// Plan: answers UNIMPLEMENTED until it is built.
    pub(super) async fn plan_call(&self, _r: pb::PlanRequest, _who: Caller) -> Result<pb::PlanResponse, Error> {
        Err(Error::Internal("Plan is not built yet".into()))
    }
}
