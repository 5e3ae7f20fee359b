//! The two-person rule's calls: SetApproval, ListScaleRequests, ApproveScaleRequest,
//! DenyScaleRequest (issue 27). WORK IN PROGRESS on branch i27.

use scalekeeper_api::v1 as pb;

use super::{Caller, Service};
use crate::grpc::status::Error;

impl Service {
    pub(super) async fn set_approval_call(
        &self,
        _r: pb::SetApprovalRequest,
        _who: Caller,
    ) -> Result<pb::SetApprovalResponse, Error> {
        Err(Error::Internal("SetApproval: in progress".into()))
    }
    pub(super) async fn list_scale_requests_call(
        &self,
        _r: pb::ListScaleRequestsRequest,
        _who: Caller,
    ) -> Result<pb::ListScaleRequestsResponse, Error> {
        Err(Error::Internal("ListScaleRequests: in progress".into()))
    }
    pub(super) async fn approve_scale_request_call(
        &self,
        _r: pb::ApproveScaleRequestRequest,
        _who: Caller,
    ) -> Result<pb::ApproveScaleRequestResponse, Error> {
        Err(Error::Internal("ApproveScaleRequest: in progress".into()))
    }
    pub(super) async fn deny_scale_request_call(
        &self,
        _r: pb::DenyScaleRequestRequest,
        _who: Caller,
    ) -> Result<pb::DenyScaleRequestResponse, Error> {
        Err(Error::Internal("DenyScaleRequest: in progress".into()))
    }
}
