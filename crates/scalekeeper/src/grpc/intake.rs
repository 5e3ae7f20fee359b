//! What every call on the gRPC port goes through before a service sees it, and what the port
//! answers for a request no handler ever saw: one tower layer around tonic's router, so
//! health and reflection are held to the same limits as `scalekeeper.v1.ScaleService`.
//!
//! ```text
//!  request ─► place under the receiving limit ─► body: received within ─► tonic's router
//!             (total, per peer IP)                --request-receive-       (decodes, ≤ --max-
//!             │ RESOURCE_EXHAUSTED                timeout                  request-bytes)
//!             ▼                                   │ DEADLINE_EXCEEDED
//!   {limit="receiving_requests"|"receiving_requests_per_ip"}  {limit="request_receive_timeout"}
//!
//!  response ─► answered by a handler (x-request-id)? ─ yes ─► as it is
//!                 │ no, trailers-only (tonic refused the request itself)
//!                 ▼
//!             INTERNAL (malformed protobuf, no message, bad compression flag) ─► INVALID_ARGUMENT
//!             counted in scalekeeper_grpc_server_handled_total with its method, logged "call refused"
//! ```
//!
//! The receiving limit and the deadline bound what requests still arriving can hold: a call
//! holds its place from its first byte until its request stream ends (a unary or
//! server-streaming call) or, on a client stream (reflection), from the first byte of each
//! message to its last. tonic buffers at most `--max-request-bytes` of each message, so
//! partial requests hold at most that × `--max-receiving-requests` in all, each for at most
//! `--request-receive-timeout`.
//!
//! On a client stream the intake refuses a message over `--max-request-bytes` itself, as soon
//! as its length prefix arrives, so that the refusal is counted even where the handler ends
//! its stream without a status (reflection ends it OK on a request it cannot read).
//!
//! tonic answers a request it cannot decode INTERNAL, and the API's error table
//! (`grpc::status`) keeps INTERNAL for the server's own faults; a request that is not valid
//! protobuf, has no message or carries a bad compression flag is the caller's fault:
//! INVALID_ARGUMENT (gRPC status codes: <https://grpc.io/docs/guides/status-codes/>).

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body::Frame;
use scalekeeper_api::code_name;
use tonic::Code;
use tonic::body::Body;
use tonic::codegen::Bytes;
use tonic::codegen::http::{Request, Response};

use super::status::{Error, REQUEST_ID_HEADER, new_request_id};
use crate::limits::{Limit, ListenerLimits, Permit, ReceivingGate, Refusal};
use crate::metrics::Metrics;
use crate::tls::PeerInfo;

/// The paths of the port's only client-streaming method, reflection's ServerReflectionInfo
/// (v1 and v1alpha): their deadline runs per message, not over the whole stream.
const CLIENT_STREAMED: [&str; 2] = [
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// The layer: `tonic::transport::Server::builder().layer(IntakeLayer::new(..))`.
#[derive(Clone)]
pub struct IntakeLayer {
    shared: Arc<Shared>,
}

struct Shared {
    receiving: ReceivingGate,
    receive_timeout: Duration,
    max_request_bytes: usize,
    metrics: Arc<Metrics>,
}

impl IntakeLayer {
    /// The layer under `limits`' receiving limits and deadline, counting refusals and calls in
    /// `metrics`.
    pub fn new(limits: &ListenerLimits, metrics: Arc<Metrics>) -> Self {
        let receiving = ReceivingGate::new(
            limits.max_receiving_requests,
            limits.max_receiving_requests_per_ip,
            metrics.receiving_requests.clone(),
        );
        Self {
            shared: Arc::new(Shared {
                receiving,
                receive_timeout: limits.request_receive_timeout,
                max_request_bytes: limits.max_request_bytes,
                metrics,
            }),
        }
    }
}

impl<S> tower::Layer<S> for IntakeLayer {
    type Service = Intake<S>;

    fn layer(&self, inner: S) -> Intake<S> {
        Intake { inner, shared: self.shared.clone() }
    }
}

/// The service [`IntakeLayer`] wraps around tonic's router.
#[derive(Clone)]
pub struct Intake<S> {
    inner: S,
    shared: Arc<Shared>,
}

/// A call's facts for its log line and its metrics.
struct CallFacts {
    start: Instant,
    path: String,
    peer: String,
    identity: String,
}

impl<S> tower::Service<Request<Body>> for Intake<S>
where
    S: tower::Service<Request<Body>, Response = Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let peer_info = request.extensions().get::<PeerInfo>();
        let facts = CallFacts {
            start: Instant::now(),
            path: request.uri().path().to_owned(),
            peer: peer_info.map(|p| p.remote_addr.to_string()).unwrap_or_default(),
            identity: peer_info
                .and_then(|p| p.identity.as_ref())
                .map_or_else(|| "<no identity>".to_owned(), |i| i.to_string()),
        };
        let ip = peer_info.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.remote_addr.ip());
        let shared = self.shared.clone();
        let streamed = CLIENT_STREAMED.contains(&facts.path.as_str());
        let permit = if streamed {
            None
        } else {
            match shared.receiving.admit(&ip) {
                Ok(p) => Some(p),
                Err(refusal) => {
                    let limit = receiving_limit(refusal);
                    shared.metrics.limit_refused(limit);
                    let status = tonic::Status::from(Error::ResourceExhausted(format!(
                        "too many requests arriving at once ({}); retry",
                        limit.flag()
                    )));
                    let response = answer(&shared, &facts, status.into_http());
                    return Box::pin(std::future::ready(Ok(response)));
                }
            }
        };
        let request = request.map(|body| {
            Body::new(Receiving {
                inner: body,
                shared: shared.clone(),
                ip,
                streamed,
                permit,
                deadline: (!streamed).then(|| Box::pin(tokio::time::sleep(shared.receive_timeout))),
                framing: Framing::default(),
                done: false,
            })
        });
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            Ok(answer(&shared, &facts, response))
        })
    }
}

fn receiving_limit(refusal: Refusal) -> Limit {
    match refusal {
        Refusal::PerKey => Limit::ReceivingRequestsPerIp,
        Refusal::Total => Limit::ReceivingRequests,
    }
}

/// A response as the port sends it. One a handler answered (it carries `x-request-id`; the
/// handler counted and logged it) or that is not trailers-only passes as it is; one tonic
/// or this layer answered before any handler ran is counted, logged, given a request id, and
/// INTERNAL becomes INVALID_ARGUMENT.
fn answer(shared: &Shared, facts: &CallFacts, response: Response<Body>) -> Response<Body> {
    if response.headers().contains_key(REQUEST_ID_HEADER) {
        return response;
    }
    let Some(status) = tonic::Status::from_header_map(response.headers()) else {
        return response;
    };
    if status.code() == Code::Ok {
        return response;
    }
    let id = new_request_id();
    let (status, mut response) = if status.code() == Code::Internal {
        let status = tonic::Status::from(Error::InvalidArgument(vec![scalekeeper_core::Violation {
            field: "message".into(),
            description: format!("malformed ({})", scalekeeper_core::text::bounded_to(status.message(), 256)),
        }]));
        (status.clone(), status.into_http())
    } else {
        (status, response)
    };
    if status.code() == Code::OutOfRange {
        shared.metrics.limit_refused(Limit::RequestBytes);
    }
    if let Ok(mut v) = tonic::codegen::http::HeaderValue::from_str(&id) {
        // Not indexed by HPACK, as the handlers' ids are not (see `request_id_value`).
        v.set_sensitive(true);
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    let (service, method) = split_path(&facts.path);
    let code = status.code();
    let elapsed = facts.start.elapsed();
    shared.metrics.observe_call(service, method, code_name(code), elapsed.as_secs_f64());
    tracing::info!(
        request_id = %id,
        service,
        method,
        identity = %facts.identity,
        peer = %facts.peer,
        code = code_name(code),
        error = %scalekeeper_core::text::bounded_to(status.message(), 256),
        latency_us = elapsed.as_micros() as u64,
        "call refused"
    );
    response
}

/// `/pkg.Service/Method` as (`pkg.Service`, `Method`); a path of another shape (bounded) as
/// the service, with an empty method.
fn split_path(path: &str) -> (&str, &str) {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    match trimmed.split_once('/') {
        Some((service, method)) if !method.contains('/') => (service, method),
        _ => ("", ""),
    }
}

/// Where a client stream is in the gRPC message framing: a 1-byte compression flag and a
/// 4-byte big-endian length, then that many bytes ("Length-Prefixed-Message",
/// <https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md#requests>).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Between messages.
    #[default]
    Between,
    /// `n` (1 to 4) bytes into a prefix; `len` holds the length bytes read so far.
    Prefix { n: u8, len: u32 },
    /// In a message's body, `remaining` bytes to go.
    Message { remaining: u32 },
}

impl Framing {
    /// The framing after `data`, and the largest message length announced by a prefix that
    /// ended in `data` (0 if none did).
    fn advance(mut self, data: &[u8]) -> (Self, u32) {
        let mut announced = 0;
        let mut i = 0;
        while i < data.len() {
            self = match self {
                Framing::Between => {
                    i += 1; // the compression flag
                    Framing::Prefix { n: 1, len: 0 }
                }
                Framing::Prefix { n, len } => {
                    let len = (len << 8) | u32::from(data[i]);
                    i += 1;
                    if n + 1 == 5 {
                        announced = announced.max(len);
                    }
                    match (n + 1, len) {
                        (5, 0) => Framing::Between,
                        (5, remaining) => Framing::Message { remaining },
                        (n, len) => Framing::Prefix { n, len },
                    }
                }
                Framing::Message { remaining } => {
                    let take = (data.len() - i).min(remaining as usize);
                    i += take;
                    match remaining - take as u32 {
                        0 => Framing::Between,
                        remaining => Framing::Message { remaining },
                    }
                }
            };
        }
        (self, announced)
    }

    /// Whether a message has begun and not ended.
    fn in_message(self) -> bool {
        self != Framing::Between
    }
}

/// A request body held to the receive deadline, holding its place under the receiving limit
/// while a request (or, on a client stream, a message) is arriving.
struct Receiving {
    inner: Body,
    shared: Arc<Shared>,
    ip: IpAddr,
    streamed: bool,
    permit: Option<Permit<IpAddr>>,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    framing: Framing,
    done: bool,
}

impl Receiving {
    /// The request (or the message) has arrived: its place and its deadline go.
    fn received(&mut self) {
        self.permit = None;
        self.deadline = None;
    }

    fn fail(&mut self, status: tonic::Status) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        self.received();
        self.done = true;
        Poll::Ready(Some(Err(status)))
    }

    /// A client stream's data: a message that begins takes a place and starts the deadline,
    /// one that ends gives them back.
    fn on_streamed_data(&mut self, data: &[u8]) -> Result<(), tonic::Status> {
        if data.is_empty() {
            return Ok(());
        }
        if !self.framing.in_message() && self.permit.is_none() {
            match self.shared.receiving.admit(&self.ip) {
                Ok(p) => self.permit = Some(p),
                Err(refusal) => {
                    let limit = receiving_limit(refusal);
                    self.shared.metrics.limit_refused(limit);
                    return Err(Error::ResourceExhausted(format!(
                        "too many requests arriving at once ({}); retry",
                        limit.flag()
                    ))
                    .into());
                }
            }
            self.deadline = Some(Box::pin(tokio::time::sleep(self.shared.receive_timeout)));
        }
        let (framing, announced) = self.framing.advance(data);
        self.framing = framing;
        // tonic refuses such a message too, but a client-streaming handler may end its stream
        // without saying why (reflection does): the refusal is counted here.
        if announced as usize > self.shared.max_request_bytes {
            self.shared.metrics.limit_refused(Limit::RequestBytes);
            return Err(Error::OutOfRange(format!(
                "a request message of {announced} bytes, over the server's limit of {} bytes ({})",
                self.shared.max_request_bytes,
                Limit::RequestBytes.flag()
            ))
            .into());
        }
        if !self.framing.in_message() {
            self.received();
        }
        Ok(())
    }
}

impl http_body::Body for Receiving {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                match frame.data_ref() {
                    Some(data) if this.streamed => {
                        if let Err(status) = this.on_streamed_data(data) {
                            return this.fail(status);
                        }
                    }
                    Some(_) => {}
                    // Trailers end the request stream.
                    None => this.received(),
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                this.received();
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                this.received();
                Poll::Ready(Some(Err(e)))
            }
            Poll::Pending => {
                let expired = this.deadline.as_mut().is_some_and(|d| d.as_mut().poll(cx).is_ready());
                if !expired {
                    return Poll::Pending;
                }
                this.shared.metrics.limit_refused(Limit::RequestReceiveTimeout);
                let timeout = this.shared.receive_timeout.as_secs_f64();
                this.fail(
                    Error::DeadlineExceeded(format!(
                        "the request did not arrive within the server's limit of {timeout} s ({})",
                        Limit::RequestReceiveTimeout.flag()
                    ))
                    .into(),
                )
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_follows_length_prefixed_messages_across_chunks() {
        let f = Framing::default();
        assert!(!f.in_message());
        // A 3-byte message: flag 0, length 3, then the bytes, split anywhere.
        let (f, announced) = f.advance(&[0, 0, 0]);
        assert!(f.in_message());
        assert_eq!(announced, 0);
        let (f, announced) = f.advance(&[0, 3, b'a']);
        assert_eq!((f, announced), (Framing::Message { remaining: 2 }, 3));
        let (f, _) = f.advance(b"bc");
        assert!(!f.in_message());
        // An empty message, then half of the next one's prefix, in one chunk.
        let (f, _) = f.advance(&[0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(f, Framing::Prefix { n: 2, len: 0 });
        let (f, announced) = f.advance(&[0, 0, 1, b'x']);
        assert_eq!((f, announced), (Framing::Between, 1));
    }

    #[test]
    fn framing_reads_big_endian_lengths() {
        let (f, announced) = Framing::default().advance(&[1, 0x00, 0x01, 0x00, 0x00]);
        assert_eq!((f, announced), (Framing::Message { remaining: 65_536 }, 65_536));
        // Two messages in one chunk: the larger length is the one announced.
        let (_, announced) = Framing::default().advance(&[0, 0, 0, 0, 9, 0, 0, 0, 0, 2]);
        assert_eq!(announced, 9);
    }

    #[test]
    fn paths_split_into_service_and_method() {
        assert_eq!(
            split_path("/scalekeeper.v1.ScaleService/GetDeployment"),
            ("scalekeeper.v1.ScaleService", "GetDeployment")
        );
        assert_eq!(split_path("/grpc.health.v1.Health/Check"), ("grpc.health.v1.Health", "Check"));
        assert_eq!(split_path("/nonsense"), ("", ""));
        assert_eq!(split_path("/a/b/c"), ("", ""));
    }

    #[test]
    fn only_reflection_streams_its_requests() {
        for path in CLIENT_STREAMED {
            let (service, method) = split_path(path);
            assert!(service.starts_with("grpc.reflection."), "{path}");
            assert_eq!(method, "ServerReflectionInfo");
        }
    }
}
