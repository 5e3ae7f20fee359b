//! The listener: plain HTTP or TLS on loopback, HTTP/1.1 and HTTP/2, one task per
//! connection. Going down closes the listener and every connection (clients get
//! "connection refused"); coming back binds the same address again.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::state::State;

/// Builds the axum router: every path goes to [`crate::api::handle`].
pub fn router(state: Arc<State>) -> Router {
    Router::new().fallback(move |method, uri, headers, body| {
        let state = state.clone();
        async move { crate::api::handle(state, method, uri, headers, body).await }
    })
}

/// Accepts connections on `listener` until `down` is cancelled.
pub fn spawn_accept_loop(listener: TcpListener, router: Router, tls: Option<TlsAcceptor>, down: CancellationToken) {
    tokio::spawn(async move {
        loop {
            let (stream, _peer) = tokio::select! {
                _ = down.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let service = TowerToHyperService::new(router.clone());
            let tls = tls.clone();
            let down = down.clone();
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                match tls {
                    Some(acceptor) => {
                        let handshake =
                            tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(stream));
                        let Ok(Ok(stream)) = handshake.await else { return };
                        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                        tokio::select! { _ = conn => {}, _ = down.cancelled() => {} }
                    }
                    None => {
                        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                        tokio::select! { _ = conn => {}, _ = down.cancelled() => {} }
                    }
                }
            });
        }
    });
}

/// Binds `addr` (retrying briefly: the port was just released when coming back up).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let mut last = None;
    for _ in 0..50 {
        match TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("bind failed")))
}
