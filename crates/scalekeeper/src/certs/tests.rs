//! Unit tests of [`super`]: issuing, loading and checking certificates.

#![allow(clippy::unwrap_used)]

use super::*;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::X509Certificate;

const DAY: i64 = 86_400;

fn der(pem: &str) -> Vec<u8> {
    let (_, pem) = parse_x509_pem(pem.as_bytes()).unwrap();
    assert_eq!(pem.label, "CERTIFICATE");
    pem.contents
}

fn parse(der: &[u8]) -> X509Certificate<'_> {
    X509Certificate::from_der(der).unwrap().1
}

fn cn(cert: &X509Certificate<'_>) -> String {
    let mut cns = cert.subject().iter_common_name();
    let cn = cns.next().unwrap().as_str().unwrap().to_owned();
    assert!(cns.next().is_none());
    cn
}

#[derive(Debug, PartialEq)]
enum San {
    Dns(String),
    Uri(String),
    Ip(IpAddr),
}

fn sans(cert: &X509Certificate<'_>) -> Vec<San> {
    let Some(ext) = cert.subject_alternative_name().unwrap() else {
        return Vec::new();
    };
    ext.value
        .general_names
        .iter()
        .map(|name| match name {
            GeneralName::DNSName(n) => San::Dns((*n).to_owned()),
            GeneralName::URI(u) => San::Uri((*u).to_owned()),
            GeneralName::IPAddress(b) => San::Ip(match b.len() {
                4 => IpAddr::from(<[u8; 4]>::try_from(*b).unwrap()),
                16 => IpAddr::from(<[u8; 16]>::try_from(*b).unwrap()),
                n => panic!("IP SAN of {n} bytes"),
            }),
            other => panic!("unexpected SAN {other:?}"),
        })
        .collect()
}

fn dns(n: &str) -> San {
    San::Dns(n.to_owned())
}

fn ip(n: &str) -> San {
    San::Ip(n.parse().unwrap())
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|&n| n.to_owned()).collect()
}

/// Asserts validity ≈ `days` days starting about now.
fn assert_validity(cert: &X509Certificate<'_>, days: u32) {
    let now = ASN1Time::now().timestamp();
    let v = cert.validity();
    let (nb, na) = (v.not_before.timestamp(), v.not_after.timestamp());
    assert!(nb <= now && nb > now - 3600, "not_before {nb}, now {now}");
    let expected = now + i64::from(days) * DAY;
    assert!((na - expected).abs() < 120, "not_after {na}, expected {expected}");
}

/// Asserts a leaf is signed by `ca`: issuer = CA subject, AKI = CA SKI, and
/// the signature verifies with the CA key.
fn assert_issued_by(leaf: &X509Certificate<'_>, ca: &X509Certificate<'_>) {
    assert_eq!(leaf.issuer().as_raw(), ca.subject().as_raw());
    leaf.verify_signature(Some(ca.public_key())).unwrap();
    let ski = ca
        .iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0),
            _ => None,
        })
        .unwrap();
    let aki = leaf
        .iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0)
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(aki, ski);
}

fn assert_leaf(cert: &X509Certificate<'_>, server: bool) {
    let bc = cert.basic_constraints().unwrap();
    assert!(bc.is_none_or(|bc| !bc.value.ca));
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert_eq!(eku.server_auth, server);
    assert_eq!(eku.client_auth, !server);
    let ku = cert.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature());
    assert!(!ku.key_cert_sign());
}

#[test]
fn ca_is_a_self_signed_ca() {
    let ca = Ca::generate("test CA", 30).unwrap();
    let cert_der = der(&ca.cert_pem());
    let cert = parse(&cert_der);
    assert_eq!(cn(&cert), "test CA");
    assert_eq!(cert.issuer().as_raw(), cert.subject().as_raw());
    cert.verify_signature(None).unwrap();
    let bc = cert.basic_constraints().unwrap().unwrap().value;
    assert!(bc.ca);
    assert_eq!(bc.path_len_constraint, None);
    let ku = cert.key_usage().unwrap().unwrap().value;
    assert!(ku.key_cert_sign() && ku.crl_sign());
    assert_validity(&cert, 30);
    assert!(ca.key_pem().contains("-----BEGIN PRIVATE KEY-----"));
    assert!(!format!("{ca:?}").contains("PRIVATE KEY"));
}

#[test]
fn server_cert_has_sans_eku_and_issuer() {
    let ca = Ca::generate("test CA", 10).unwrap();
    let names = strings(&["api.example.com", "10.1.2.3", "::1", "*.svc.local", "api.example.com"]);
    let pair = ca.server_cert(&names, 7).unwrap();
    let cert_der = der(&pair.cert_pem);
    let cert = parse(&cert_der);
    assert_eq!(cn(&cert), "api.example.com");
    assert_eq!(sans(&cert), vec![dns("api.example.com"), ip("10.1.2.3"), ip("::1"), dns("*.svc.local")]);
    assert_leaf(&cert, true);
    let ca_der = der(&ca.cert_pem());
    assert_issued_by(&cert, &parse(&ca_der));
    assert_validity(&cert, 7);
    KeyPair::from_pem(&pair.key_pem).unwrap();
    assert!(!format!("{pair:?}").contains("PRIVATE KEY"));
}

#[test]
fn server_cert_rejects_bad_names() {
    let ca = Ca::generate("test CA", 10).unwrap();
    for bad in ["", "not a name", "bad_ünïcode.com", "trailing.", "-x.com", "1.2.3"] {
        let err = ca.server_cert(&strings(&["localhost", bad]), 1).unwrap_err();
        assert!(matches!(err, CertError::InvalidServerName(_)), "{bad}: {err}");
    }
    assert!(matches!(ca.server_cert(&[], 1), Err(CertError::InvalidServerName(_))));
}

#[test]
fn spiffe_client_gets_uri_san_and_cn() {
    let ca = Ca::generate("test CA", 10).unwrap();
    let pair = ca.client_cert("spiffe://x/ns/a/sa/b", 3).unwrap();
    let cert_der = der(&pair.cert_pem);
    let cert = parse(&cert_der);
    assert_eq!(sans(&cert), vec![San::Uri("spiffe://x/ns/a/sa/b".to_owned())]);
    assert_eq!(cn(&cert), "spiffe://x/ns/a/sa/b");
    assert_leaf(&cert, false);
    let ca_der = der(&ca.cert_pem());
    assert_issued_by(&cert, &parse(&ca_der));
    assert_validity(&cert, 3);
}

#[test]
fn plain_client_gets_dns_san_and_cn() {
    let ca = Ca::generate("test CA", 10).unwrap();
    let pair = ca.client_cert("alice", 3).unwrap();
    let cert_der = der(&pair.cert_pem);
    let cert = parse(&cert_der);
    assert_eq!(sans(&cert), vec![dns("alice")]);
    assert_eq!(cn(&cert), "alice");
    assert_leaf(&cert, false);
}

#[test]
fn client_without_dns_name_gets_cn_only_truncated() {
    let ca = Ca::generate("test CA", 10).unwrap();
    let identity = format!("Ünïcode user {}", "x".repeat(100));
    let pair = ca.client_cert(&identity, 3).unwrap();
    let cert_der = der(&pair.cert_pem);
    let cert = parse(&cert_der);
    assert_eq!(sans(&cert), vec![]);
    let expected: String = identity.chars().take(64).collect();
    assert_eq!(cn(&cert), expected);
    assert_eq!(cn(&cert).chars().count(), 64);
}

#[test]
fn client_rejects_bad_identities() {
    let ca = Ca::generate("test CA", 10).unwrap();
    for bad in ["", "a\nb", "://x", "1x://y", "spiffe://", "spiffe://a b", "spiffe://ü"] {
        let err = ca.client_cert(bad, 1).unwrap_err();
        assert!(matches!(err, CertError::InvalidIdentity(_)), "{bad:?}: {err}");
    }
}

#[test]
fn validity_is_bounded() {
    assert!(matches!(Ca::generate("c", 0), Err(CertError::InvalidValidity(0))));
    let too_long = MAX_VALIDITY_DAYS + 1;
    assert!(matches!(Ca::generate("c", too_long), Err(CertError::InvalidValidity(_))));
    let ca = Ca::generate("c", MAX_VALIDITY_DAYS).unwrap();
    let cert_der = der(&ca.cert_pem());
    assert_validity(&parse(&cert_der), MAX_VALIDITY_DAYS);
    assert!(matches!(ca.client_cert("a", 0), Err(CertError::InvalidValidity(0))));
    assert!(matches!(Ca::generate("", 1), Err(CertError::InvalidCa(_))));
}

#[test]
fn from_pem_round_trips_and_signs() {
    let ca = Ca::generate("round trip CA", 10).unwrap();
    let loaded = Ca::from_pem(&ca.cert_pem(), &ca.key_pem()).unwrap();
    assert_eq!(loaded.cert_pem(), ca.cert_pem());
    assert_eq!(loaded.key_pem(), ca.key_pem());
    let pair = loaded.client_cert("bob", 1).unwrap();
    let cert_der = der(&pair.cert_pem);
    let ca_der = der(&ca.cert_pem());
    assert_issued_by(&parse(&cert_der), &parse(&ca_der));
}

#[test]
fn from_pem_rejects_unusable_cas() {
    let ca = Ca::generate("a CA", 10).unwrap();
    let other = Ca::generate("another CA", 10).unwrap();
    let leaf = ca.server_cert(&strings(&["localhost"]), 1).unwrap();
    let cases = [
        ("key mismatch", ca.cert_pem(), other.key_pem()),
        ("not a CA", leaf.cert_pem, leaf.key_pem),
        ("garbage cert", "nope".to_owned(), ca.key_pem()),
        ("garbage key", ca.cert_pem(), "nope".to_owned()),
        ("key as cert", ca.key_pem(), ca.key_pem()),
    ];
    for (what, cert, key) in cases {
        let err = Ca::from_pem(&cert, &key).unwrap_err();
        assert!(matches!(err, CertError::InvalidCa(_)), "{what}: {err}");
    }
}

#[test]
fn from_pem_rejects_expired_ca() {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.not_before = rcgen::date_time_ymd(2000, 1, 1);
    params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    let err = Ca::from_pem(&cert.pem(), &key.serialize_pem()).unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
}

#[test]
fn slugs() {
    assert_eq!(slug("alice"), "alice");
    assert_eq!(slug("spiffe://x/ns/a/sa/b"), "spiffe___x_ns_a_sa_b");
    assert_eq!(slug("a.b_c-D9"), "a.b_c-D9");
    assert_eq!(slug("é ü"), "___");
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn write_dev_certs_writes_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("certs");
    let ids = strings(&["alice", "spiffe://cluster/ns/ci/sa/deployer", "alice"]);
    let out = write_dev_certs(&dir, &strings(&["scalekeeper.svc"]), &ids, 5).unwrap();

    assert_eq!(out.dir, dir);
    assert_eq!(out.ca, dir.join("ca.pem"));
    assert_eq!(out.server_cert, dir.join("server.pem"));
    assert_eq!(out.server_key, dir.join("server-key.pem"));
    assert_eq!(
        out.clients,
        vec![
            ("alice".to_owned(), dir.join("client-alice.pem"), dir.join("client-alice-key.pem")),
            (
                "spiffe://cluster/ns/ci/sa/deployer".to_owned(),
                dir.join("client-spiffe___cluster_ns_ci_sa_deployer.pem"),
                dir.join("client-spiffe___cluster_ns_ci_sa_deployer-key.pem"),
            ),
        ]
    );

    let ca_der = der(&fs::read_to_string(&out.ca).unwrap());
    let ca = parse(&ca_der);
    assert_eq!(cn(&ca), DEV_CA_COMMON_NAME);
    assert!(ca.basic_constraints().unwrap().unwrap().value.ca);
    assert_validity(&ca, 5);

    let server_der = der(&fs::read_to_string(&out.server_cert).unwrap());
    let server = parse(&server_der);
    assert_eq!(cn(&server), "localhost");
    assert_eq!(sans(&server), vec![dns("localhost"), ip("127.0.0.1"), ip("::1"), dns("scalekeeper.svc")]);
    assert_leaf(&server, true);
    assert_issued_by(&server, &ca);
    assert_validity(&server, 5);
    KeyPair::from_pem(&fs::read_to_string(&out.server_key).unwrap()).unwrap();

    for (identity, cert, key) in &out.clients {
        let client_der = der(&fs::read_to_string(cert).unwrap());
        let client = parse(&client_der);
        assert_eq!(&cn(&client), identity);
        assert_leaf(&client, false);
        assert_issued_by(&client, &ca);
        assert_validity(&client, 5);
        KeyPair::from_pem(&fs::read_to_string(key).unwrap()).unwrap();
    }
}

#[cfg(unix)]
#[test]
fn key_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A pre-existing, world-readable key file is tightened too.
    let stale = dir.join("server-key.pem");
    fs::write(&stale, "old").unwrap();
    fs::set_permissions(&stale, fs::Permissions::from_mode(0o644)).unwrap();

    let out = write_dev_certs(dir, &[], &strings(&["bob"]), 1).unwrap();
    assert_eq!(mode(&dir.join("ca-key.pem")), 0o600);
    assert_eq!(mode(&out.server_key), 0o600);
    assert_eq!(mode(&out.clients[0].2), 0o600);
}

#[test]
fn write_dev_certs_reuses_an_existing_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let first = write_dev_certs(dir, &[], &strings(&["alice"]), 2).unwrap();
    let ca_pem = fs::read_to_string(&first.ca).unwrap();
    let ca_key_pem = fs::read_to_string(dir.join("ca-key.pem")).unwrap();
    let alice_pem = fs::read_to_string(&first.clients[0].1).unwrap();

    let second = write_dev_certs(dir, &[], &strings(&["bob"]), 2).unwrap();
    assert_eq!(fs::read_to_string(&second.ca).unwrap(), ca_pem);
    assert_eq!(fs::read_to_string(dir.join("ca-key.pem")).unwrap(), ca_key_pem);
    // alice's certificate is left alone and bob's is issued by the same CA.
    assert_eq!(fs::read_to_string(&first.clients[0].1).unwrap(), alice_pem);
    let ca_der = der(&ca_pem);
    let ca = parse(&ca_der);
    let bob_der = der(&fs::read_to_string(&second.clients[0].1).unwrap());
    assert_issued_by(&parse(&bob_der), &ca);
    let server_der = der(&fs::read_to_string(&second.server_cert).unwrap());
    assert_issued_by(&parse(&server_der), &ca);

    // Without its key the CA is replaced.
    fs::remove_file(dir.join("ca-key.pem")).unwrap();
    let third = write_dev_certs(dir, &[], &[], 2).unwrap();
    assert_ne!(fs::read_to_string(&third.ca).unwrap(), ca_pem);
    assert!(dir.join("ca-key.pem").is_file());
}

#[test]
fn write_dev_certs_validates_before_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let err = write_dev_certs(&dir, &[], &strings(&["a/b", "a_b"]), 1).unwrap_err();
    assert!(matches!(err, CertError::InvalidIdentity(_)), "{err}");
    let err = write_dev_certs(&dir, &strings(&["bad name"]), &[], 1).unwrap_err();
    assert!(matches!(err, CertError::InvalidServerName(_)), "{err}");
    let err = write_dev_certs(&dir, &[], &strings(&[""]), 1).unwrap_err();
    assert!(matches!(err, CertError::InvalidIdentity(_)), "{err}");
    assert!(matches!(write_dev_certs(&dir, &[], &[], 0), Err(CertError::InvalidValidity(0))));
    let written = fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(written, 0);
}

#[test]
fn write_dev_certs_reports_unusable_existing_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::write(dir.join("ca.pem"), "garbage").unwrap();
    fs::write(dir.join("ca-key.pem"), "garbage").unwrap();
    let err = write_dev_certs(dir, &[], &[], 1).unwrap_err();
    assert!(matches!(err, CertError::InvalidCa(_)), "{err}");
    assert!(err.to_string().contains("delete both files"), "{err}");
}

#[test]
fn io_errors_name_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    fs::write(&file, "").unwrap();
    let err = write_dev_certs(&file.join("sub"), &[], &[], 1).unwrap_err();
    match &err {
        CertError::Io { path, .. } => assert_eq!(path, &file.join("sub")),
        other => panic!("expected Io, got {other}"),
    }
    assert!(err.to_string().contains("a-file"), "{err}");
}

/// Full mutual-TLS handshakes over in-memory buffers with rustls.
mod handshake {
    use super::*;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{PrivateKeyDer, ServerName};
    use rustls::server::WebPkiClientVerifier;
    use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
    use std::io::Read;
    use std::sync::Arc;

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn roots(ca_pem: &str) -> Arc<RootCertStore> {
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap()).unwrap();
        Arc::new(roots)
    }

    fn chain(pair: &CertPair) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        (
            vec![CertificateDer::from_pem_slice(pair.cert_pem.as_bytes()).unwrap()],
            PrivateKeyDer::from_pem_slice(pair.key_pem.as_bytes()).unwrap(),
        )
    }

    /// Runs a handshake; returns the client certificate the server saw.
    fn handshake(
        trusted_ca_pem: &str,
        server: &CertPair,
        client: &CertPair,
        server_name: &str,
    ) -> Result<CertificateDer<'static>, rustls::Error> {
        let verifier = WebPkiClientVerifier::builder_with_provider(roots(trusted_ca_pem), provider()).build().unwrap();
        let (certs, key) = chain(server);
        let server_config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)
            .unwrap();
        let (certs, key) = chain(client);
        let client_config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots(trusted_ca_pem))
            .with_client_auth_cert(certs, key)
            .unwrap();
        let mut s = ServerConnection::new(Arc::new(server_config)).unwrap();
        let mut c =
            ClientConnection::new(Arc::new(client_config), ServerName::try_from(server_name.to_owned()).unwrap())
                .unwrap();

        c.writer().write_all(b"ping").unwrap();
        let mut received = Vec::new();
        for _ in 0..20 {
            let mut buf = Vec::new();
            while c.wants_write() {
                c.write_tls(&mut buf).unwrap();
            }
            s.read_tls(&mut buf.as_slice()).unwrap();
            s.process_new_packets()?;
            let mut buf = Vec::new();
            while s.wants_write() {
                s.write_tls(&mut buf).unwrap();
            }
            c.read_tls(&mut buf.as_slice()).unwrap();
            c.process_new_packets()?;
            let mut chunk = [0u8; 16];
            if let Ok(n) = s.reader().read(&mut chunk) {
                received.extend_from_slice(&chunk[..n]);
            }
            if received == b"ping" {
                let seen = s.peer_certificates().unwrap()[0].clone().into_owned();
                return Ok(seen);
            }
        }
        panic!("handshake did not complete");
    }

    #[test]
    fn mutual_tls_works_and_survives_ca_reuse() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write_dev_certs(dir, &[], &strings(&["alice"]), 1).unwrap();
        // Second run: the CA comes from the files.
        let out = write_dev_certs(dir, &[], &strings(&["spiffe://c/ns/ci/sa/d"]), 1).unwrap();
        let read = |p: &Path| fs::read_to_string(p).unwrap();
        let ca_pem = read(&out.ca);
        let server = CertPair { cert_pem: read(&out.server_cert), key_pem: read(&out.server_key) };
        let alice = CertPair {
            cert_pem: read(&dir.join("client-alice.pem")),
            key_pem: read(&dir.join("client-alice-key.pem")),
        };
        let (_, cert, key) = &out.clients[0];
        let deployer = CertPair { cert_pem: read(cert), key_pem: read(key) };

        for name in ["localhost", "127.0.0.1", "::1"] {
            let seen = handshake(&ca_pem, &server, &alice, name).unwrap();
            assert_eq!(seen.as_ref(), der(&alice.cert_pem).as_slice());
        }
        let seen = handshake(&ca_pem, &server, &deployer, "localhost").unwrap();
        assert_eq!(seen.as_ref(), der(&deployer.cert_pem).as_slice());

        // Wrong name, and a client from another CA, are refused.
        assert!(handshake(&ca_pem, &server, &alice, "example.com").is_err());
        let stranger = Ca::generate("stranger", 1).unwrap().client_cert("eve", 1).unwrap();
        assert!(handshake(&ca_pem, &server, &stranger, "localhost").is_err());
        // A client certificate cannot serve, nor a server certificate authenticate a client.
        assert!(handshake(&ca_pem, &alice, &alice, "alice").is_err());
        assert!(handshake(&ca_pem, &server, &server, "localhost").is_err());
    }
}

#[test]
fn dns_names_are_host_names_not_dns1123_subdomains() {
    // Host names (rustls), unlike Kubernetes object names, allow upper case and '_'...
    for ok in ["Example.COM", "my_host.local", "a-1.b"] {
        assert!(is_dns_name(ok), "{ok}");
    }
    // ...refuse a last label that looks like a number, a trailing dot, and labels over 63 bytes.
    for bad in ["1.2.3.4", "123", "0x1f", "a.", "", &"a".repeat(64)] {
        assert!(!is_dns_name(bad), "{bad}");
    }
}

#[test]
fn a_group_client_certificate_names_its_group_and_replaces_an_older_one() {
    let dir = tempfile::tempdir().unwrap();
    let written = write_dev_certs(dir.path(), &[], &[], 1).unwrap();
    let orgs = |path: &Path| {
        let pem = std::fs::read_to_string(path).unwrap();
        let der = der(&pem);
        let cert = parse(&der);
        let o: Vec<String> = cert.subject().iter_organization().map(|o| o.as_str().unwrap().to_owned()).collect();
        (cn(&cert), o)
    };
    let (cert, key) = write_group_client_cert(&written.dir, "dev-oncall", "dev-break-glass", 1).unwrap();
    assert_eq!(cert, dir.path().join("client-dev-oncall.pem"));
    assert_eq!(orgs(&cert), ("dev-oncall".to_string(), vec!["dev-break-glass".to_string()]));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // Asked again with another group: the file says the group asked for now.
    write_group_client_cert(&written.dir, "dev-oncall", "sre", 1).unwrap();
    assert_eq!(orgs(&cert).1, ["sre"]);
    // Signed by the dev CA: it verifies against ca.pem.
    let ca_pem = std::fs::read_to_string(&written.ca).unwrap();
    let ca_der = der(&ca_pem);
    let leaf_pem = std::fs::read_to_string(&cert).unwrap();
    let leaf_der = der(&leaf_pem);
    assert!(parse(&leaf_der).verify_signature(Some(parse(&ca_der).public_key())).is_ok());
}
