//! A TCP proxy a test puts between one `scalekeeper serve` and the Kubernetes API server, to
//! cut that one replica off (a partition) without touching the server or the other replicas.
//! It forwards bytes and knows nothing of HTTP or TLS, so it works in front of kubesim (plain
//! HTTP) and of a real kube-apiserver (HTTPS: the certificate is valid for 127.0.0.1 whatever
//! the port).
//!
//! Every change of [`Link`] closes the connections open at that moment (as a real partition
//! or an API server restart would end them), so clients re-connect and re-watch under the
//! new link:
//!
//! | link | new connections | bytes |
//! |---|---|---|
//! | `Pass` | forwarded | forwarded |
//! | `Cut` | accepted and closed at once (like a refused connection) | — |
//! | `Blackhole` | accepted and held open, nothing forwarded, until the link changes | — |
//! | `Slow(d)` | forwarded | every chunk from the server is delayed by `d` |
//!
//! [`Proxy::refuse_next`] closes the next few connections whatever the link: a client's
//! connection attempts that meet a pod going away.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Forward everything.
    Pass,
    /// Refuse: close every connection at once.
    Cut,
    /// Hold connections open and forward nothing: requests hang, no error comes back.
    Blackhole,
    /// Forward, delaying every chunk the server sends by this much.
    Slow(Duration),
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    link: watch::Sender<(Link, u64)>,
    task: tokio::task::JoinHandle<()>,
    /// Connections accepted so far.
    accepted: Arc<AtomicU64>,
    /// How many of the next connections to close at once, whatever the link.
    refuse: Arc<AtomicU64>,
}

impl Proxy {
    /// Listens on a free localhost port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().unwrap();
        let (link, rx) = watch::channel((Link::Pass, 0));
        let accepted = Arc::new(AtomicU64::new(0));
        let refuse = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn({
            let (accepted, refuse) = (accepted.clone(), refuse.clone());
            async move {
                loop {
                    let Ok((client, _)) = listener.accept().await else { continue };
                    accepted.fetch_add(1, Ordering::SeqCst);
                    if refuse.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
                        // Closed at once, like a pod that accepts and then goes away.
                        continue;
                    }
                    tokio::spawn(serve(client, upstream, rx.clone()));
                }
            }
        });
        Proxy { addr, link, task, accepted, refuse }
    }

    /// Closes the next `n` connections as soon as they are accepted (the client sees the
    /// connection closed in its TLS handshake), then goes on as the link says.
    pub fn refuse_next(&self, n: u64) {
        self.refuse.store(n, Ordering::SeqCst);
    }

    /// The connections accepted so far, refused ones included.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Sets the link, closing every connection open now.
    pub fn set(&self, link: Link) {
        self.link.send_modify(|(l, epoch)| {
            *l = link;
            *epoch += 1;
        });
    }

    /// Closes every connection open now and keeps the link as it is (a cut watch).
    pub fn reset(&self) {
        let link = self.link.borrow().0;
        self.set(link);
    }

    /// The link in force.
    pub fn link(&self) -> Link {
        self.link.borrow().0
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        // Ends every connection task too: they stop when the link changes or closes.
        self.set(Link::Cut);
    }
}

async fn serve(client: TcpStream, upstream: SocketAddr, mut rx: watch::Receiver<(Link, u64)>) {
    let (link, _) = *rx.borrow_and_update();
    match link {
        Link::Cut => {}
        Link::Blackhole => {
            let _ = rx.changed().await;
        }
        Link::Pass | Link::Slow(_) => {
            let Ok(server) = TcpStream::connect(upstream).await else { return };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let delay = match link {
                Link::Slow(d) => d,
                _ => Duration::ZERO,
            };
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            let up = async {
                let _ = tokio::io::copy(&mut cr, &mut sw).await;
                let _ = sw.shutdown().await;
            };
            // Every chunk from the server is delivered `delay` after it was read, and chunks
            // read meanwhile keep flowing behind it: a latency, not a narrower pipe (kube-rs
            // multiplexes all its requests and watches over one HTTP/2 connection, so delaying
            // each chunk one after another would stall them all behind each other).
            let (chunks, mut queued) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
            let read = async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match sr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if chunks.send((tokio::time::Instant::now() + delay, buf[..n].to_vec())).is_err() {
                                break;
                            }
                        }
                    }
                }
            };
            let write = async move {
                while let Some((due, chunk)) = queued.recv().await {
                    tokio::time::sleep_until(due).await;
                    if cw.write_all(&chunk).await.is_err() {
                        break;
                    }
                }
                let _ = cw.shutdown().await;
            };
            let down = async {
                tokio::join!(read, write);
            };
            tokio::select! {
                _ = async { tokio::join!(up, down) } => {}
                _ = rx.changed() => {}
            }
        }
    }
}
