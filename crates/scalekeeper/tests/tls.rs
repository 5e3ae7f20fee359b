//! mTLS at the gRPC port: certificate rotation without a restart and the client-certificate
//! policy, against an in-process `scalekeeper serve` on kubesim.
//!
//! The server's files sit in a directory laid out as kubelet mounts a Secret: `tls.crt` →
//! `..data/tls.crt`, `..data` → `..<n>`; a rotation writes a new `..<n>` and swaps `..data`
//! atomically (a rename of a new symlink over it), as kubelet does.
//!
//! - rotation: a new handshake presents the new server certificate (by serial) within 2 s; an
//!   HTTP/2 connection opened before the swap keeps serving calls; broken files keep the old
//!   certificate and count `scalekeeper_tls_reload_total{result="error"}`;
//! - the certificate matrix: each kind of bad client certificate is refused (a valid one, the
//!   control case, is accepted);
//! - the hardened listener, with the default limits: 2,000 idle connections and 200 stalled
//!   TLS handshakes do not keep a client out for more than 1 s; the server announces 100
//!   concurrent streams; a reset flood gets GOAWAY ENHANCE_YOUR_CALM.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "support/rawgrpc.rs"]
mod rawgrpc;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams, SanType, SerialNumber, date_time_ymd,
};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use scalekeeper::server::{ServeConfig, Server};
use scalekeeper::tls::{ClientPolicy, TlsFiles};

// === test PKI ===

/// A test CA that can sign anything, with explicit serials and dates.
struct TestCa {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2090, 1, 1);
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Self { pem, issuer: Issuer::new(params, key) }
    }

    fn sign(&self, leaf: Leaf) -> CertKey {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, leaf.name.clone());
        params.subject_alt_names = vec![if leaf.name.contains("://") {
            SanType::URI(leaf.name.clone().try_into().unwrap())
        } else {
            SanType::DnsName(leaf.name.clone().try_into().unwrap())
        }];
        params.serial_number = Some(SerialNumber::from(leaf.serial));
        params.extended_key_usages = leaf.eku;
        params.is_ca = if leaf.ca { IsCa::Ca(BasicConstraints::Unconstrained) } else { IsCa::ExplicitNoCa };
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if leaf.ca {
            params.key_usages.push(KeyUsagePurpose::KeyCertSign);
        }
        params.use_authority_key_identifier_extension = true;
        let ((y0, m0, d0), (y1, m1, d1)) = leaf.validity;
        (params.not_before, params.not_after) = (date_time_ymd(y0, m0, d0), date_time_ymd(y1, m1, d1));
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn crl(&self, revoked: &[u64]) -> String {
        CertificateRevocationListParams {
            this_update: date_time_ymd(2024, 1, 1),
            next_update: date_time_ymd(2090, 1, 1),
            crl_number: SerialNumber::from(1),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|s| RevokedCertParams {
                    serial_number: SerialNumber::from(*s),
                    revocation_time: date_time_ymd(2024, 1, 1),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&self.issuer)
        .unwrap()
        .pem()
        .unwrap()
    }
}

/// A certificate and its key, PEM.
type CertKey = (String, String);

/// What to put into a leaf certificate.
struct Leaf {
    name: String,
    serial: u64,
    eku: Vec<ExtendedKeyUsagePurpose>,
    ca: bool,
    /// notBefore and notAfter as (year, month, day).
    validity: ((i32, u8, u8), (i32, u8, u8)),
}

impl Leaf {
    fn client(name: &str, serial: u64) -> Self {
        Self {
            name: name.into(),
            serial,
            eku: vec![ExtendedKeyUsagePurpose::ClientAuth],
            ca: false,
            validity: ((2020, 1, 1), (2090, 1, 1)),
        }
    }

    fn server(serial: u64) -> Self {
        Self { eku: vec![ExtendedKeyUsagePurpose::ServerAuth], ..Self::client("localhost", serial) }
    }
}

// === a Secret-like mount ===

/// A directory laid out as kubelet mounts a Secret, with `tls.crt`, `tls.key`, `ca.crt` and
/// `ca.crl`.
struct SecretMount {
    dir: PathBuf,
    version: u32,
}

const FILES: [&str; 4] = ["tls.crt", "tls.key", "ca.crt", "ca.crl"];

impl SecretMount {
    fn new(dir: PathBuf, contents: [&str; 4]) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        let mut m = Self { dir, version: 0 };
        m.publish(contents);
        for f in FILES {
            std::os::unix::fs::symlink(Path::new("..data").join(f), m.dir.join(f)).unwrap();
        }
        m
    }

    /// Writes `contents` into a new `..<n>` directory and swaps `..data` to it atomically.
    fn publish(&mut self, contents: [&str; 4]) {
        self.version += 1;
        let name = format!("..2026_11_29_00_00_0{}.000000{}", self.version, self.version);
        let versioned = self.dir.join(&name);
        std::fs::create_dir(&versioned).unwrap();
        for (f, c) in FILES.iter().zip(contents) {
            std::fs::write(versioned.join(f), c).unwrap();
        }
        let tmp = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&name, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
    }

    fn files(&self, crl: bool) -> TlsFiles {
        TlsFiles {
            cert: self.dir.join("tls.crt"),
            key: self.dir.join("tls.key"),
            client_ca: self.dir.join("ca.crt"),
            client_crl: crl.then(|| self.dir.join("ca.crl")),
        }
    }
}

// === the server and clients ===

struct Env {
    _sim: kubesim::Sim,
    server: Server,
    dir: tempfile::TempDir,
}

async fn start(files: TlsFiles, policy: ClientPolicy, dir: tempfile::TempDir) -> Env {
    start_aged(files, policy, dir, Duration::from_secs(3600), Duration::from_secs(30)).await
}

async fn start_aged(
    files: TlsFiles,
    policy: ClientPolicy,
    dir: tempfile::TempDir,
    max_connection_age: Duration,
    max_connection_age_grace: Duration,
) -> Env {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = common::start_sim().await;
    let server = Server::start(
        sim.client().await.unwrap(),
        ServeConfig {
            grpc_listen: "127.0.0.1:0".parse().unwrap(),
            http_listen: "127.0.0.1:0".parse().unwrap(),
            tls: files,
            client_policy: policy,
            max_connection_age,
            max_connection_age_grace,
            scope: scalekeeper::cache::Scope::All,
            max_replicas: 1000,
            drain_timeout: Duration::from_secs(5),
            shutdown_delay: Duration::ZERO,
            stale_after: Duration::from_secs(2),
            reconcile: Default::default(),
            leader: None,
            // The TLS layer is under test here; RBAC has its own suite (tests/authz.rs).
            authorization: scalekeeper::server::AuthorizationConfig {
                mode: scalekeeper::authz::AuthorizationMode::AllowAny,
                ..Default::default()
            },
            audit_log: None,
            limits: Default::default(),
            admission: None,
            default_guard: Default::default(),
            scale_request_retention: scalekeeper_core::approval::DEFAULT_REQUEST_RETENTION,
        },
    )
    .await
    .expect("server starts");
    Env { _sim: sim, server, dir }
}

impl Env {
    /// Writes a PEM into the test directory (for clients that take files).
    fn write(&self, name: &str, pem: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, pem).unwrap();
        p
    }

    /// A `grpc.health.v1` Check over a new mTLS connection with the client `cert`/`key`:
    /// `Err` with the reason when the connection or the call fails.
    async fn health(&self, ca: &str, cert: &str, key: &str) -> Result<(), String> {
        let ca = self.write("client-ca-view.pem", ca);
        let (c, k) = (self.write("client.pem", cert), self.write("client-key.pem", key));
        let channel =
            common::channel(self.server.grpc_addr, &ca, Some((&c, &k))).await.map_err(|e| format!("{e:?}"))?;
        tonic_health::pb::health_client::HealthClient::new(channel)
            .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
            .await
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    }

    async fn metric(&self, sample: &str) -> f64 {
        let (code, body) = common::http_get(self.server.http_addr, "/metrics").await;
        assert_eq!(code, 200, "/metrics: {body}");
        body.lines().find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.trim().parse().ok()).unwrap_or(0.0)
    }
}

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// A raw mTLS connection (ALPN h2), for what tonic hides: the server's certificate and the
/// very connection a call goes over.
async fn connect(addr: std::net::SocketAddr, ca: &str, cert: &str, key: &str) -> Tls {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(ca.as_bytes()).unwrap()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
            PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
        )
        .unwrap();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake")
}

/// The serial of the certificate the server presented on `tls`.
fn server_serial(tls: &Tls) -> u64 {
    use x509_parser::prelude::*;
    let der = &tls.get_ref().1.peer_certificates().expect("server certificate")[0];
    let (_, x509) = X509Certificate::from_der(der.as_ref()).unwrap();
    x509.raw_serial().iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// A `grpc.health.v1` Check on an open HTTP/2 connection: `Ok` when it answers SERVING's
/// grpc-status 0.
async fn h2_health(send: &h2::client::SendRequest<Bytes>) -> Result<(), String> {
    let mut send = send.clone().ready().await.map_err(|e| e.to_string())?;
    let req = hyper::Request::post("https://localhost/grpc.health.v1.Health/Check")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let (resp, mut body) = send.send_request(req, false).map_err(|e| e.to_string())?;
    // An empty HealthCheckRequest: not compressed, zero length.
    body.send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), true).map_err(|e| e.to_string())?;
    let resp = resp.await.map_err(|e| e.to_string())?;
    if resp.status() != 200 {
        return Err(format!("HTTP {}", resp.status()));
    }
    let mut body = resp.into_body();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let trailers = body.trailers().await.map_err(|e| e.to_string())?.unwrap_or_default();
    match trailers.get("grpc-status").map(|v| v.to_str().unwrap_or("?").to_string()) {
        Some(s) if s == "0" => Ok(()),
        other => Err(format!("grpc-status {other:?}")),
    }
}

// === rotation ===

#[tokio::test]
async fn rotation_swaps_the_certificate_for_new_handshakes_and_keeps_open_connections() {
    let ca = TestCa::new("rotation CA");
    let (server1, server1_key) = ca.sign(Leaf::server(1001));
    let (server2, server2_key) = ca.sign(Leaf::server(1002));
    let (client, client_key) = ca.sign(Leaf::client("alice", 7));
    let crl = ca.crl(&[]);
    let dir = tempfile::tempdir().unwrap();
    let mut mount = SecretMount::new(dir.path().join("tls"), [&server1, &server1_key, &ca.pem, &crl]);
    let env = start(mount.files(true), ClientPolicy::default(), dir).await;
    let addr = env.server.grpc_addr;

    // A connection opened before the swap, with a call on it.
    let open = connect(addr, &ca.pem, &client, &client_key).await;
    assert_eq!(server_serial(&open), 1001);
    let (send, conn) = h2::client::handshake(open).await.expect("h2 handshake");
    let conn = tokio::spawn(conn);
    h2_health(&send).await.expect("a call before the swap");

    mount.publish([&server2, &server2_key, &ca.pem, &crl]);
    let swapped = Instant::now();
    loop {
        let tls = connect(addr, &ca.pem, &client, &client_key).await;
        if server_serial(&tls) == 1002 {
            break;
        }
        assert!(swapped.elapsed() < Duration::from_secs(2), "the new certificate was not served within 2 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = swapped.elapsed();
    eprintln!("new certificate served {took:?} after the swap");
    assert_eq!(env.metric(r#"scalekeeper_tls_reload_total{result="success"}"#).await, 1.0);

    // The old connection still serves calls, and is still the old connection.
    h2_health(&send).await.expect("a call on the connection opened before the swap");
    assert!(!conn.is_finished(), "the old connection closed");

    // Broken files: the old (second) certificate stays, and the error is counted.
    mount.publish([
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
        &server2_key,
        &ca.pem,
        &crl,
    ]);
    testkit::wait_for_async("reload error counted", Duration::from_secs(3), testkit::POLL, || async {
        env.metric(r#"scalekeeper_tls_reload_total{result="error"}"#).await >= 1.0
    })
    .await;
    let tls = connect(addr, &ca.pem, &client, &client_key).await;
    assert_eq!(server_serial(&tls), 1002, "a broken certificate file must not replace a working one");

    // A key that does not match the certificate: also refused, also counted.
    let (_, other_key) = ca.sign(Leaf::server(1003));
    mount.publish([&server1, &other_key, &ca.pem, &crl]);
    testkit::wait_for_async("second reload error counted", Duration::from_secs(3), testkit::POLL, || async {
        env.metric(r#"scalekeeper_tls_reload_total{result="error"}"#).await >= 2.0
    })
    .await;
    let tls = connect(addr, &ca.pem, &client, &client_key).await;
    assert_eq!(server_serial(&tls), 1002, "a key that does not match must not replace a working pair");
    h2_health(&send).await.expect("the old connection still serves after failed reloads");

    let expiry = env.metric(r#"scalekeeper_tls_certificate_expiry_timestamp_seconds{kind="server"}"#).await;
    assert_eq!(expiry, 3_786_912_000.0, "notAfter 2090-01-01 of the certificate in use");
    env.server.shutdown().await.unwrap();
}

// === the certificate matrix ===

#[tokio::test]
async fn the_client_certificate_matrix() {
    let ca = TestCa::new("matrix CA");
    let other_ca = TestCa::new("another CA");
    let (server, server_key) = ca.sign(Leaf::server(1));
    const REVOKED: u64 = 666;
    let crl = ca.crl(&[REVOKED]);
    let dir = tempfile::tempdir().unwrap();
    let mount = SecretMount::new(dir.path().join("tls"), [&server, &server_key, &ca.pem, &crl]);
    let policy = ClientPolicy { allowed_identity_prefixes: vec!["spiffe://prod/".into(), "alice".into()] };
    let env = start(mount.files(true), policy, dir).await;

    let ok = "spiffe://prod/ns/ci/sa/deployer";
    // (case, client certificate and key, the TLS alert the server sends)
    let cases: Vec<(&str, &str, Option<CertKey>)> = vec![
        ("no certificate", "CertificateRequired", None),
        (
            "expired",
            "CertificateExpired",
            Some(ca.sign(Leaf { validity: ((2000, 1, 1), (2001, 1, 1)), ..Leaf::client(ok, 10) })),
        ),
        (
            "not yet valid",
            "CertificateExpired",
            Some(ca.sign(Leaf { validity: ((2080, 1, 1), (2081, 1, 1)), ..Leaf::client(ok, 11) })),
        ),
        ("wrong CA", "UnknownCA", Some(other_ca.sign(Leaf::client(ok, 12)))),
        (
            "serverAuth-only EKU",
            "UnsupportedCertificate",
            Some(ca.sign(Leaf { eku: vec![ExtendedKeyUsagePurpose::ServerAuth], ..Leaf::client(ok, 13) })),
        ),
        ("no EKU", "UnsupportedCertificate", Some(ca.sign(Leaf { eku: vec![], ..Leaf::client(ok, 14) }))),
        ("revoked by the CRL", "CertificateRevoked", Some(ca.sign(Leaf::client(ok, REVOKED)))),
        ("a CA certificate as leaf", "CertificateUnknown", Some(ca.sign(Leaf { ca: true, ..Leaf::client(ok, 15) }))),
        (
            "identity outside the allowed prefixes",
            "AccessDenied",
            Some(ca.sign(Leaf::client("spiffe://staging/ns/ci/sa/deployer", 16))),
        ),
    ];

    // The control cases: a good certificate, and one matching the other prefix.
    for (name, identity) in [("valid SPIFFE identity", ok), ("valid DNS identity", "alice")] {
        let (cert, key) = ca.sign(Leaf::client(identity, 20));
        env.health(&ca.pem, &cert, &key).await.unwrap_or_else(|e| panic!("{name}: refused: {e}"));
    }
    let mut wrong = vec![];
    for (name, alert, cert_key) in &cases {
        let result = match cert_key {
            Some((cert, key)) => env.health(&ca.pem, cert, key).await,
            None => {
                let ca_file = env.write("ca-only.pem", &ca.pem);
                match common::channel(env.server.grpc_addr, &ca_file, None).await {
                    Err(e) => Err(format!("{e:?}")),
                    Ok(ch) => tonic_health::pb::health_client::HealthClient::new(ch)
                        .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("{e:?}")),
                }
            }
        };
        match result {
            Ok(()) => wrong.push(format!("{name}: accepted")),
            Err(e) if e.contains(&format!("received fatal alert: {alert}")) => eprintln!("{name}: refused ({alert})"),
            Err(e) => wrong.push(format!("{name}: refused, but not with {alert}: {e}")),
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_new_crl_is_picked_up_without_a_restart() {
    let ca = TestCa::new("crl CA");
    let (server, server_key) = ca.sign(Leaf::server(1));
    let (client, client_key) = ca.sign(Leaf::client("alice", 42));
    let dir = tempfile::tempdir().unwrap();
    let mut mount = SecretMount::new(dir.path().join("tls"), [&server, &server_key, &ca.pem, &ca.crl(&[])]);
    let env = start(mount.files(true), ClientPolicy::default(), dir).await;
    env.health(&ca.pem, &client, &client_key).await.expect("not revoked yet");
    mount.publish([&server, &server_key, &ca.pem, &ca.crl(&[42])]);
    testkit::wait_for_async("CRL reloaded", Duration::from_secs(3), testkit::POLL, || async {
        env.metric(r#"scalekeeper_tls_reload_total{result="success"}"#).await >= 1.0
    })
    .await;
    assert!(env.health(&ca.pem, &client, &client_key).await.is_err(), "revoked after the CRL changed");
    env.server.shutdown().await.unwrap();
}

// === maximum connection age ===

#[tokio::test]
async fn connections_are_closed_after_the_maximum_age() {
    let ca = TestCa::new("age CA");
    let (server, server_key) = ca.sign(Leaf::server(1));
    let (client, client_key) = ca.sign(Leaf::client("alice", 2));
    let dir = tempfile::tempdir().unwrap();
    let mount = SecretMount::new(dir.path().join("tls"), [&server, &server_key, &ca.pem, &ca.crl(&[])]);
    let (age, grace) = (Duration::from_millis(800), Duration::from_millis(700));
    let env = start_aged(mount.files(false), ClientPolicy::default(), dir, age, grace).await;

    // An idle connection: a GOAWAY at the age, and the connection ends.
    let opened = Instant::now();
    let (send, conn) = h2::client::handshake(connect(env.server.grpc_addr, &ca.pem, &client, &client_key).await)
        .await
        .expect("h2 handshake");
    let conn = tokio::spawn(conn);
    h2_health(&send).await.expect("a call while young");
    let ended = tokio::time::timeout(Duration::from_secs(5), conn).await.expect("the connection closed");
    let lived = opened.elapsed();
    assert!(lived >= age && lived < age + grace, "closed after {lived:?}: {ended:?}");

    // A connection with a stream that never ends (a Watch): cut after age + grace.
    let opened = Instant::now();
    let (send, conn) = h2::client::handshake(connect(env.server.grpc_addr, &ca.pem, &client, &client_key).await)
        .await
        .expect("h2 handshake");
    let conn = tokio::spawn(conn);
    let mut send = send.ready().await.unwrap();
    let req = hyper::Request::post("https://localhost/grpc.health.v1.Health/Watch")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let (resp, mut body) = send.send_request(req, false).unwrap();
    body.send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), true).unwrap();
    let _watch = resp.await.expect("Watch answers");
    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await.expect("the connection was cut");
    let lived = opened.elapsed();
    assert!(lived >= age + grace && lived < age + grace + Duration::from_secs(1), "cut after {lived:?}");
    env.server.shutdown().await.unwrap();
}

// === SIGHUP ===

/// `scalekeeper serve` as a process (signals reach the whole test process otherwise): SIGHUP
/// reloads the files even when they have not changed.
#[cfg(unix)]
#[tokio::test]
async fn sighup_reloads_the_files() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = common::start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let certs = scalekeeper::certs::write_dev_certs(&dir.path().join("certs"), &[], &[], 1).unwrap();
    let http: std::net::SocketAddr = format!("127.0.0.1:{}", testkit::free_port()).parse().unwrap();
    let grpc = format!("127.0.0.1:{}", testkit::free_port());
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_scalekeeper"));
    cmd.arg("serve")
        .args(["--grpc-listen", &grpc, "--http-listen", &http.to_string()])
        .arg("--tls-cert")
        .arg(&certs.server_cert)
        .arg("--tls-key")
        .arg(&certs.server_key)
        .arg("--client-ca")
        .arg(&certs.ca)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["--log-format", "text", "--leader-elect", "false", "--identity", "hup"])
        .env("NO_COLOR", "1");
    let log = dir.path().join("serve.log");
    let mut child = testkit::Child::spawn("serve", &mut cmd, &log, testkit::Stdout::Discard);
    testkit::wait_http_ok(http, "/readyz", Duration::from_secs(20), testkit::POLL).await;
    let reloads = || async {
        let (_, body) = common::http_get(http, "/metrics").await;
        body.lines()
            .find_map(|l| {
                l.strip_prefix(r#"scalekeeper_tls_reload_total{result="success"} "#)?.trim().parse::<f64>().ok()
            })
            .unwrap_or(-1.0)
    };
    assert_eq!(reloads().await, 0.0);
    child.signal("HUP");
    testkit::wait_for_async("a reload after SIGHUP", Duration::from_secs(5), testkit::POLL, || async {
        reloads().await == 1.0
    })
    .await;
    assert!(child.try_wait().is_none(), "SIGHUP must not stop the server");
    child.terminate(Duration::from_secs(10));
}

// === the hardened listener ===

/// A certificate authority, a server and a client certificate, mounted; the server started
/// with the default limits.
async fn listener_env(name: &str) -> (Env, TestCa, CertKey) {
    let ca = TestCa::new(name);
    let (server, server_key) = ca.sign(Leaf::server(1));
    let client = ca.sign(Leaf::client("alice", 2));
    let dir = tempfile::tempdir().unwrap();
    let mount = SecretMount::new(dir.path().join("tls"), [&server, &server_key, &ca.pem, ""]);
    let env = start(mount.files(false), ClientPolicy::default(), dir).await;
    (env, ca, client)
}

/// A TCP connection to `addr` from the loopback address `from` (any of 127/8 is this host),
/// so that a test can play several peers.
async fn connect_from(from: &str, addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    rawgrpc::tcp_from(from, addr).await.unwrap()
}

#[tokio::test]
async fn idle_connections_and_stalled_handshakes_do_not_keep_a_client_out() {
    use tokio::io::AsyncWriteExt as _;
    let (env, ca, (cert, key)) = listener_env("overload CA").await;
    let addr = env.server.grpc_addr;
    let limits = scalekeeper::limits::ListenerLimits::default();
    const IDLE: usize = 600;
    const STALLED: usize = 100;
    let idle_peers = ["127.0.0.2", "127.0.0.3"];
    let stalled_peers = ["127.0.0.4", "127.0.0.5"];

    // Two peers open 600 connections each and send nothing: with the default limits, as many
    // as the server takes handshakes at once (2 × 256 = 512).
    let mut idle = Vec::new();
    for peer in idle_peers {
        for _ in 0..IDLE {
            idle.push(connect_from(peer, addr).await);
        }
    }
    // Two more start 100 handshakes each and stall: a TLS record header that promises a
    // ClientHello of 512 bytes, and one byte of it.
    let mut stalled = Vec::new();
    for peer in stalled_peers {
        for _ in 0..STALLED {
            let mut s = connect_from(peer, addr).await;
            s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).await.unwrap();
            stalled.push(s);
        }
    }
    let per_ip = limits.max_connections_per_ip;
    let refused_per_ip = (2 * (IDLE - per_ip)) as f64;
    let handshaking = (2 * limits.max_tls_handshakes_per_ip) as f64;
    let handshakes_refused = (2 * (STALLED - limits.max_tls_handshakes_per_ip)) as f64;
    testkit::wait_for_async("the server has seen every connection", Duration::from_secs(10), testkit::POLL, || async {
        env.metric(r#"scalekeeper_limit_refusals_total{limit="connections_per_ip"}"#).await >= refused_per_ip
            && env.metric(r#"scalekeeper_limit_refusals_total{limit="tls_handshakes_per_ip"}"#).await
                >= handshakes_refused
    })
    .await;
    assert_eq!(
        env.metric(r#"scalekeeper_limit_refusals_total{limit="connections_per_ip"}"#).await,
        refused_per_ip,
        "every connection of an idle peer past --max-connections-per-ip is refused"
    );
    assert_eq!(
        env.metric("scalekeeper_tls_handshakes_in_progress").await,
        handshaking,
        "idle sockets hold no handshake place; a stalling peer holds --max-tls-handshakes-per-ip"
    );
    assert_eq!(env.metric(r#"scalekeeper_limit_refusals_total{limit="tls_handshakes"}"#).await, 0.0);

    // A legitimate client still connects and calls, within 1 s.
    let started = Instant::now();
    env.health(&ca.pem, &cert, &key).await.expect("a legitimate client still gets in");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "connect and call took {took:?}");

    // The idle sockets are closed at the first-byte deadline, the stalled handshakes at theirs.
    testkit::wait_for_async("idle sockets closed", limits.tls_first_byte_timeout * 3, testkit::POLL, || async {
        env.metric(r#"scalekeeper_limit_refusals_total{limit="tls_first_byte_timeout"}"#).await == (2 * per_ip) as f64
    })
    .await;
    assert_eq!(env.metric("scalekeeper_grpc_open_connections").await, (2 * STALLED) as f64 - handshakes_refused);
    drop(idle);
    drop(stalled);
    testkit::wait_for_async("connections given back", Duration::from_secs(10), testkit::POLL, || async {
        env.metric("scalekeeper_grpc_open_connections").await == 0.0
            && env.metric("scalekeeper_tls_handshakes_in_progress").await == 0.0
    })
    .await;
}

#[tokio::test]
async fn the_server_announces_100_concurrent_streams_per_connection() {
    let (env, ca, (cert, key)) = listener_env("streams CA").await;
    let tls = connect(env.server.grpc_addr, &ca.pem, &cert, &key).await;
    let (send, conn) = h2::client::handshake(tls).await.expect("HTTP/2");
    let conn = tokio::spawn(conn);
    // The server's SETTINGS arrive with the first exchange.
    h2_health(&send).await.expect("a call");
    assert_eq!(send.current_max_send_streams(), 100, "SETTINGS_MAX_CONCURRENT_STREAMS");
    conn.abort();
}

#[tokio::test]
async fn a_reset_flood_gets_goaway_enhance_your_calm() {
    use tokio::io::AsyncWriteExt as _;
    let (env, ca, (cert, key)) = listener_env("reset flood CA").await;
    let tls = connect(env.server.grpc_addr, &ca.pem, &cert, &key).await;
    let (mut rd, mut wr) = tokio::io::split(tls);
    // "MadeYouReset" (CVE-2025-8671): each stream is opened, then made to fail by a
    // WINDOW_UPDATE that overflows its window, so the server itself must reset it.
    let flood = tokio::spawn(async move {
        wr.write_all(&rawgrpc::preface()).await?;
        let headers = rawgrpc::health_check_headers();
        for i in 0..3_000u32 {
            let id = 2 * i + 1;
            let mut batch = rawgrpc::frame(0x1, 0x4, id, &headers); // HEADERS, END_HEADERS
            batch.extend(rawgrpc::frame(0x8, 0, id, &0x7fff_ffffu32.to_be_bytes())); // WINDOW_UPDATE
            wr.write_all(&batch).await?;
        }
        wr.flush().await?;
        Ok::<_, std::io::Error>(wr)
    });
    // Read the server's frames until its GOAWAY.
    let goaway = tokio::time::timeout(Duration::from_secs(20), rawgrpc::read_goaway(&mut rd))
        .await
        .expect("the server answers the flood within 20 s");
    assert_eq!(goaway, Some(rawgrpc::ENHANCE_YOUR_CALM), "the flood ends with GOAWAY ENHANCE_YOUR_CALM");
    flood.abort();
}
