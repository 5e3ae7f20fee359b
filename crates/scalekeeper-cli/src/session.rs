//! One connection to the server for the length of a command, and the client retry policy
//! (`crate::retry`, `docs/operations.md` "Client retry policy") applied to each call according
//! to what a second attempt could do ([`Idempotency`]).

use std::future::Future;
use std::time::Duration;

use scalekeeper_api::v1::scale_service_client::ScaleServiceClient;
use tokio::sync::OnceCell;
use tokio::time::Instant;
use tonic::transport::Channel;
use tonic::{Code, Status};

use super::CliError;
use super::connect::{call_timeout, connect_within, status_error};
use super::contexts::Endpoint;
use crate::retry;

/// What a second attempt of a call could do, which decides what the CLI retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Idempotency {
    /// A read (get, list, diff, watch, the read of `schedule set --append`): any number of
    /// attempts has the effect of one. Retried on UNAVAILABLE and on any connection failure,
    /// even one after the request was sent.
    Read,
    /// A write that carries an expected version: a second attempt after the first took effect
    /// fails the version check (ABORTED), so the write can never apply twice. Retried as a read.
    Conditional,
    /// A write without an expected version: retried only when it provably never reached the
    /// server (no connection could be made, or gRFC A6's transparent-retry cases), never on
    /// UNAVAILABLE or a connection lost under the call, after which it may have been applied.
    Unconditional,
}

impl Idempotency {
    /// [`Idempotency::Conditional`] when `expected_version` is set, else
    /// [`Idempotency::Unconditional`].
    pub(super) fn of_write(expected_version: &str) -> Idempotency {
        if expected_version.is_empty() { Idempotency::Unconditional } else { Idempotency::Conditional }
    }
}

/// Why one attempt failed.
#[derive(Debug)]
pub(super) enum AttemptError {
    /// No connection: nothing was sent.
    Connect(CliError),
    /// The call failed: the server's status, or one tonic made from a transport failure.
    Call(Status),
    /// `--timeout` passed.
    Deadline,
}

/// Whether the policy makes another attempt after `err` for a call of this kind.
pub(super) fn should_retry(kind: Idempotency, err: &AttemptError) -> bool {
    match err {
        // A refused, reset or closed connection (e.g. "tls handshake eof" from a pod that is
        // going away): nothing was sent. A certificate problem does not go away by retrying.
        AttemptError::Connect(e) => matches!(e, CliError::Unreachable { .. }),
        AttemptError::Call(status) if retry::never_sent(status) => true,
        AttemptError::Call(status) => {
            kind != Idempotency::Unconditional
                && (status.code() == Code::Unavailable
                    || matches!(status_error(status.clone(), ""), CliError::Unreachable { .. }))
        }
        AttemptError::Deadline => false,
    }
}

/// The server connection of one command, made on the first call (and again by tonic's channel
/// when it is lost), and the per-call deadline from `--timeout`.
pub(crate) struct Session {
    endpoint: Endpoint,
    /// The server as HOST:PORT, for messages.
    server: String,
    timeout: Option<Duration>,
    client: OnceCell<ScaleServiceClient<Channel>>,
}

impl Session {
    /// A session with `endpoint`, each call within `timeout_secs` seconds (`--timeout`; 0: no
    /// limit); connects on the first call.
    pub(crate) fn new(endpoint: Endpoint, timeout_secs: u64) -> Session {
        Session {
            server: endpoint.server.to_string(),
            endpoint,
            timeout: call_timeout(timeout_secs),
            client: OnceCell::new(),
        }
    }

    /// Makes a call under the retry policy for `kind`: every attempt, connecting included, ends
    /// within `--timeout` of the first; at most [`retry::MAX_ATTEMPTS`] attempts.
    ///
    /// # Errors
    ///
    /// The last attempt's failure as a [`CliError`]: `Unreachable`/`Tls` when no connection
    /// could be made (the detail says how many attempts), the status otherwise
    /// (DEADLINE_EXCEEDED when `--timeout` passed). An ABORTED or FAILED_PRECONDITION answer to
    /// a retried write says that an earlier attempt may have taken effect.
    pub(crate) async fn call<T, F, Fut>(&self, kind: Idempotency, call: F) -> Result<T, CliError>
    where
        F: Fn(ScaleServiceClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let (result, retries) =
            retry::retry_until(deadline, |_| self.attempt(deadline, &call), |e| should_retry(kind, e), |_, _| {}).await;
        result.map_err(|e| self.error(e, retries, kind))
    }

    async fn attempt<T, F, Fut>(&self, deadline: Option<Instant>, call: &F) -> Result<T, AttemptError>
    where
        F: Fn(ScaleServiceClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let remaining = || deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let client = self
            .client
            .get_or_try_init(|| connect_within(&self.endpoint, remaining()))
            .await
            .map_err(AttemptError::Connect)?
            .clone();
        let response = match deadline {
            // The client enforces the timeout itself (giving up drops the call, which resets its
            // HTTP/2 stream and so cancels it on the server); it sends no `grpc-timeout`, which
            // tonic servers answer with CANCELLED rather than DEADLINE_EXCEEDED.
            Some(d) => tokio::time::timeout_at(d, call(client)).await.map_err(|_| AttemptError::Deadline)?,
            None => call(client).await,
        };
        response.map(tonic::Response::into_inner).map_err(AttemptError::Call)
    }

    /// The [`CliError`] for the last attempt's failure after `retries` retries.
    fn error(&self, err: AttemptError, retries: u32, kind: Idempotency) -> CliError {
        let attempts = retries + 1;
        match err {
            AttemptError::Connect(CliError::Unreachable { server, detail, hint }) if retries > 0 => {
                CliError::Unreachable { server, detail: format!("{detail} ({attempts} attempts)"), hint }
            }
            AttemptError::Connect(e) => e,
            AttemptError::Deadline => Status::deadline_exceeded(format!(
                "no answer within {}s{}",
                self.timeout.map_or(0, |t| t.as_secs()),
                if retries > 0 { format!(" ({attempts} attempts)") } else { String::new() }
            ))
            .into(),
            AttemptError::Call(status)
                if retries > 0
                    && kind != Idempotency::Read
                    && matches!(status.code(), Code::Aborted | Code::FailedPrecondition) =>
            {
                Status::with_details(
                    status.code(),
                    format!(
                        "{} (this was attempt {attempts}: an earlier one may have taken effect before its \
                         connection failed; check with `scalekeeper get`)",
                        status.message()
                    ),
                    status.details().to_vec().into(),
                )
                .into()
            }
            AttemptError::Call(status) => match status_error(status, &self.server) {
                CliError::Unreachable { server, detail, hint } if retries > 0 => {
                    CliError::Unreachable { server, detail: format!("{detail} ({attempts} attempts)"), hint }
                }
                e => e,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::Arc;

    /// A status tonic makes from a transport failure: it carries the cause as its source.
    fn transport(code: Code, cause: io::Error) -> Status {
        let mut st = Status::new(code, "transport error");
        st.set_source(Arc::new(cause));
        st
    }

    #[test]
    fn what_each_kind_of_call_retries() {
        use Idempotency::*;
        let refused = || {
            AttemptError::Connect(CliError::Unreachable {
                server: "h:1".into(),
                detail: "tls handshake eof".into(),
                hint: None,
            })
        };
        let bad_cert = || {
            AttemptError::Connect(CliError::Tls { server: "h:1".into(), detail: "UnknownIssuer".into(), hint: None })
        };
        let server_unavailable = || AttemptError::Call(Status::unavailable("the Kubernetes API did not answer"));
        let lost_under_call =
            || AttemptError::Call(transport(Code::Unknown, io::Error::new(io::ErrorKind::ConnectionReset, "reset")));
        let answer = || AttemptError::Call(Status::not_found("no such deployment"));
        let aborted = || AttemptError::Call(Status::aborted("version changed"));
        for kind in [Read, Conditional, Unconditional] {
            // Nothing was sent: every kind retries.
            assert!(should_retry(kind, &refused()), "{kind:?}");
            // Never: a certificate problem, an answer, a deadline.
            assert!(!should_retry(kind, &bad_cert()), "{kind:?}");
            assert!(!should_retry(kind, &answer()), "{kind:?}");
            assert!(!should_retry(kind, &aborted()), "{kind:?}");
            assert!(!should_retry(kind, &AttemptError::Deadline), "{kind:?}");
        }
        // The request may have been acted on: reads and versioned writes only.
        for (kind, retried) in [(Read, true), (Conditional, true), (Unconditional, false)] {
            assert_eq!(should_retry(kind, &server_unavailable()), retried, "{kind:?}");
            assert_eq!(should_retry(kind, &lost_under_call()), retried, "{kind:?}");
        }
        assert_eq!(Idempotency::of_write(""), Unconditional);
        assert_eq!(Idempotency::of_write("42"), Conditional);
    }

    #[test]
    fn a_retried_write_that_conflicts_says_an_earlier_attempt_may_have_applied() {
        let pem = || crate::contexts::Pem {
            bytes: Vec::new(),
            source: crate::contexts::PemSource::Inline { context: "t".into(), field: "f".into() },
        };
        let endpoint = Endpoint {
            context: None,
            server: crate::connect::parse_server("h:1").unwrap(),
            tls_server_name: None,
            ca: pem(),
            cert: pem(),
            key: pem(),
            labels: Default::default(),
        };
        let session = Session::new(endpoint, 3);
        let err = session.error(AttemptError::Call(Status::aborted("version 4 is not 5")), 1, Idempotency::Conditional);
        let text = err.to_string();
        assert!(
            text.contains("version 4 is not 5 (this was attempt 2: an earlier one may have taken effect"),
            "{text}"
        );
        // The first attempt's conflict is just a conflict.
        let err = session.error(AttemptError::Call(Status::aborted("version 4 is not 5")), 0, Idempotency::Conditional);
        assert_eq!(err.to_string(), "ABORTED: version 4 is not 5");
        let err = session.error(AttemptError::Deadline, 2, Idempotency::Read);
        assert_eq!(err.to_string(), "DEADLINE_EXCEEDED: no answer within 3s (3 attempts)");
        let err = session.error(
            AttemptError::Connect(CliError::Unreachable { server: "h:1".into(), detail: "refused".into(), hint: None }),
            4,
            Idempotency::Read,
        );
        assert_eq!(err.to_string(), "cannot connect to h:1: refused (5 attempts)");
        // The same when the channel was up and its reconnection is what failed.
        let err = session.error(
            AttemptError::Call(transport(Code::Unavailable, io::Error::from(io::ErrorKind::ConnectionRefused))),
            4,
            Idempotency::Read,
        );
        assert!(err.to_string().ends_with("(5 attempts)"), "{err}");
        assert_eq!(err.exit_code(), 3);
    }
}
