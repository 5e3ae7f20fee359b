//! The admission webhook's HTTPS listener (`--admission-listen`).
//!
//! ```text
//!  TcpListener ─accept─► task: TLS handshake (timeout; the config current at accept, reloaded
//!                        from its files) ─► hyper (HTTP/1.1 or HTTP/2 by ALPN) ─► axum router
//!                        POST <path of files/admission-webhook.yaml> ─► Webhook::admit
//! ```
//!
//! No client certificate is asked for: kube-apiserver presents none unless an
//! AdmissionConfiguration gives it one. Who may reach the port is the NetworkPolicy's to say
//! (`docs/security.md`). The listener closes with the gRPC port (the `closing` token), and
//! reviews in flight finish within the drain timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::routing::post;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::Webhook;

/// The largest AdmissionReview body accepted, in bytes: 8 MiB, room for a Deployment and its old
/// version at etcd's default request limit (1.5 MiB each) with the review around them.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// How long a client has to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one request may take, reading its body included, before the connection's task
/// gives up on it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Reviews answered at once, all connections together; more wait for a place.
pub const MAX_CONCURRENT_REVIEWS: usize = 512;

/// The webhook's routes: `POST path` answers AdmissionReviews with `webhook`. The router expects
/// `ConnectInfo<SocketAddr>` (as [`serve`] provides).
pub fn router(webhook: Webhook, path: &str) -> axum::Router {
    axum::Router::new()
        .route(path, post(review))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(MAX_CONCURRENT_REVIEWS))
        .with_state(webhook)
}

/// `POST path`: one AdmissionReview in, one out (always HTTP 200: a refusal is an answer, and an
/// unreadable review is answered allowed).
async fn review(
    State(webhook): State<Webhook>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> axum::Json<kube::core::admission::AdmissionReview<kube::core::DynamicObject>> {
    let (answer, _) = webhook.admit(&body, Some(peer)).await;
    axum::Json(answer)
}

/// Serves `router` over TLS on `listener` until `closing` is cancelled: then the listener
/// closes, every connection is told to finish (HTTP/2 GOAWAY, HTTP/1.1 close after the
/// response), and this returns once they have, or after `drain_timeout`. Each handshake takes
/// the configuration current at its accept (`tls` is swapped by the reloader).
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    tls: Arc<ArcSwap<ServerConfig>>,
    closing: CancellationToken,
    drain_timeout: Duration,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = closing.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "admission: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let acceptor = TlsAcceptor::from(tls.load_full());
        let service = router.clone().layer(axum::Extension(ConnectInfo(peer)));
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(peer = %peer, error = %e, "admission: TLS handshake refused");
                    return;
                }
                Err(_) => {
                    tracing::debug!(peer = %peer, "admission: TLS handshake timed out");
                    return;
                }
            };
            let service =
                tower::ServiceBuilder::new().layer(tower::timeout::TimeoutLayer::new(REQUEST_TIMEOUT)).service(service);
            let conn = auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(tls), TowerToHyperService::new(service))
                .into_owned();
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(peer = %peer, error = %e, "admission: connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(drain_timeout, graceful.shutdown()).await.is_err() {
        tracing::warn!("admission: drain timeout; closing with reviews in flight");
    }
}
