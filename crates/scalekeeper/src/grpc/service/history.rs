//! GetHistory and Undo: not built yet.

use scalekeeper_api::v1 as pb;

use super::{Caller, Service};
use crate::grpc::status::Error;

impl Service {
    /// GetHistory: answers UNIMPLEMENTED until it is built.
    pub(super) async fn get_history_call(
        &self,
        _r: pb::GetHistoryRequest,
        _who: Caller,
    ) -> Result<pb::GetHistoryResponse, Error> {
        Err(Error::Internal("GetHistory is not built yet".into()))
    }

    /// Undo: answers UNIMPLEMENTED until it is built.
    pub(super) async fn undo_call(&self, _r: pb::UndoRequest, _who: Caller) -> Result<pb::UndoResponse, Error> {
        Err(Error::Internal("Undo is not built yet".into()))
    }
}
