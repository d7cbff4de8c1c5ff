//! TLS both ways and the protocols the proxy speaks: HTTPS upstreams (verification against CA
//! certificates, mTLS with a client certificate), the 8443 listener choosing certificates by SNI
//! from the Admin API's Certificate/SNI objects (hot-swapped), HTTP/2 by ALPN and as h2c, SNI
//! route matching, WebSocket upgrades passed through, and pipelined HTTP/1.1.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use reqwest::Method;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{client, create, full, hyper_upstream, TestApp};

/// A throwaway CA that issues server and client certificates.
struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

struct Leaf {
    cert: String,
    key: String,
}

impl Pki {
    fn new() -> Pki {
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        p.distinguished_name
            .push(DnType::CommonName, "Gatehouse test CA");
        let key = KeyPair::generate().expect("ca key");
        Pki {
            ca: CertifiedIssuer::self_signed(p, key).expect("ca"),
        }
    }

    fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    fn leaf(&self, names: &[&str], client: bool) -> Leaf {
        let mut p = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("params");
        p.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        p.distinguished_name.push(DnType::CommonName, names[0]);
        let key = KeyPair::generate().expect("leaf key");
        let cert = p.signed_by(&key, &self.ca).expect("signed");
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("pem certs")
}

fn roots(ca_pem: &str) -> rustls::RootCertStore {
    let mut r = rustls::RootCertStore::empty();
    for c in certs(ca_pem) {
        r.add(c).expect("root");
    }
    r
}

/// An HTTPS upstream answering "secure <client cert CN or ->"; with `client_ca`, it demands a
/// client certificate issued by that CA.
async fn tls_upstream(leaf: &Leaf, client_ca: Option<&str>) -> SocketAddr {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions");
    let builder = match client_ca {
        Some(ca) => builder.with_client_cert_verifier(
            rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots(ca)),
                provider(),
            )
            .build()
            .expect("verifier"),
        ),
        None => builder.with_no_client_auth(),
    };
    let cfg = builder
        .with_single_cert(
            certs(&leaf.cert),
            PrivateKeyDer::from_pem_slice(leaf.key.as_bytes()).expect("key"),
        )
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let has_client_cert = tls.get_ref().1.peer_certificates().is_some();
                let svc = service_fn(move |_req: Request<Incoming>| async move {
                    let who = if has_client_cert { "client-cert" } else { "-" };
                    Ok::<_, std::convert::Infallible>(Response::new(full(format!("secure {who}"))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    addr
}

struct TlsAnswer {
    status: u16,
    version: http::Version,
    body: String,
    peer_cert: Vec<u8>,
}

/// One GET over TLS to `addr` with `sni`, trusting only `ca_pem`, offering `alpn`.
async fn tls_get(
    addr: SocketAddr,
    sni: &str,
    ca_pem: &str,
    alpn: &[&[u8]],
    path: &str,
) -> Result<TlsAnswer, String> {
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots(ca_pem))
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from(sni.to_string()).map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let peer_cert = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .unwrap_or_default();
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let uri = format!("https://{sni}{path}");
    let resp = if h2 {
        let (mut send, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let req = Request::get(uri)
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        send.send_request(req).await.map_err(|e| e.to_string())?
    } else {
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let req = Request::get(path)
            .header("host", sni)
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        send.send_request(req).await.map_err(|e| e.to_string())?
    };
    let status = resp.status().as_u16();
    let version = resp.version();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(TlsAnswer {
        status,
        version,
        body: String::from_utf8_lossy(&body).into_owned(),
        peer_cert,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_upstreams_verify_against_ca_certificates_and_present_client_certificates() {
    let app = TestApp::spawn().await;
    let pki = Pki::new();
    let server = pki.leaf(&["localhost"], false);
    let client_leaf = pki.leaf(&["gatehouse-client"], true);
    let mtls = tls_upstream(&server, Some(&pki.ca_pem())).await;
    let plain_tls = tls_upstream(&server, None).await;

    let ca = create(&app, "/ca_certificates", json!({"cert": pki.ca_pem()})).await;
    assert_eq!(ca["cert_digest"].as_str().map(str::len), Some(64));
    let (status, dup) = app
        .admin_json(
            Method::POST,
            "/ca_certificates",
            json!({"cert": pki.ca_pem()}),
        )
        .await;
    assert_eq!(
        status, 409,
        "Kong keeps CA certificates unique by digest: {dup}"
    );
    let cert = create(
        &app,
        "/certificates",
        json!({"cert": client_leaf.cert, "key": client_leaf.key}),
    )
    .await;
    let (status, bad) = app
        .admin_json(
            Method::POST,
            "/certificates",
            json!({"cert": "nope", "key": client_leaf.key}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(bad["fields"]["cert"].is_string(), "{bad}");

    // Verified, with the client certificate: the mTLS upstream answers.
    let ca_id = ca["id"].as_str().unwrap_or("").to_string();
    let cert_id = cert["id"].as_str().unwrap_or("").to_string();
    for (name, url, extra, path) in [
        (
            "mtls",
            format!("https://localhost:{}", mtls.port()),
            json!({"tls_verify": true, "ca_certificates": [ca_id], "client_certificate": {"id": cert_id}}),
            "/mtls",
        ),
        (
            "no-client-cert",
            format!("https://localhost:{}", mtls.port()),
            json!({"tls_verify": true, "ca_certificates": [ca_id]}),
            "/no-client-cert",
        ),
        (
            "unverified",
            format!("https://localhost:{}", plain_tls.port()),
            json!({}),
            "/unverified",
        ),
        (
            "unknown-ca",
            format!("https://localhost:{}", plain_tls.port()),
            json!({"tls_verify": true}),
            "/unknown-ca",
        ),
    ] {
        let mut svc = json!({"name": name, "url": url});
        if let (Some(s), Some(e)) = (svc.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        create(&app, "/services", svc).await;
        create(
            &app,
            "/routes",
            json!({"paths": [path], "service": {"name": name}}),
        )
        .await;
    }
    let r = app.wait_for_proxy("/mtls", 200).await;
    assert_eq!(r.text().await.expect("body"), "secure client-cert");
    let r = app.wait_for_proxy("/unverified", 200).await;
    assert_eq!(
        r.text().await.expect("body"),
        "secure -",
        "Kong's default: TLS without verification"
    );
    // The routes were saved one after another and the proxy follows each commit on its own:
    // wait for the last ones rather than assume they came with the first.
    for path in ["/no-client-cert", "/unknown-ca"] {
        app.wait_for_proxy(path, 502).await;
    }

    // A service naming a CA certificate that does not exist is refused.
    let (status, body) = app
        .admin_json(
            Method::POST,
            "/upstreams",
            json!({"name": "u", "client_certificate": {"id": uuid::Uuid::new_v4()}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["name"], "foreign key violation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tls_listener_picks_certificates_by_sni_and_speaks_http2() {
    let app = TestApp::spawn().await;
    let pki = Pki::new();
    let site = pki.leaf(&["api.example.test"], false);
    let wild = pki.leaf(&["*.wild.test"], false);
    let echo = format!("http://{}", app.echo_addr);
    create(&app, "/services", json!({"name": "web", "url": echo})).await;
    create(
        &app,
        "/routes",
        json!({"name": "secure-only", "protocols": ["https"], "paths": ["/"], "service": {"name": "web"}}),
    )
    .await;
    let cert = create(
        &app,
        "/certificates",
        json!({"cert": site.cert, "key": site.key, "snis": ["api.example.test"]}),
    )
    .await;
    assert_eq!(cert["snis"], json!(["api.example.test"]));
    // Kong's docs upload certificates with curl -F: multipart bodies work too.
    let mut form = String::new();
    for (name, value) in [
        ("cert", &wild.cert),
        ("key", &wild.key),
        ("snis[]", &"*.wild.test".to_string()),
    ] {
        form.push_str(&format!(
            "--gh-boundary\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"f.pem\"\r\n\r\n{value}\r\n"
        ));
    }
    form.push_str("--gh-boundary--\r\n");
    let r = app
        .admin(Method::POST, "/certificates")
        .header("content-type", "multipart/form-data; boundary=gh-boundary")
        .body(form)
        .send()
        .await
        .expect("multipart post");
    assert_eq!(
        r.status().as_u16(),
        201,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let (status, dup) = app
        .admin_json(
            Method::POST,
            "/certificates",
            json!({"cert": site.cert, "key": site.key, "snis": ["api.example.test"]}),
        )
        .await;
    assert_eq!(status, 409, "an SNI belongs to one certificate: {dup}");
    let (status, snis) = app.admin_json(Method::GET, "/snis", Value::Null).await;
    assert_eq!(
        (status, snis["data"].as_array().map(Vec::len)),
        (200, Some(2))
    );

    let tls = app.proxy_tls_addr;
    let ca = pki.ca_pem();
    let answer = crate::helpers::eventually(
        std::time::Duration::from_secs(5),
        "the certificate to be served",
        || async {
            tls_get(tls, "api.example.test", &ca, &[b"http/1.1"], "/")
                .await
                .ok()
        },
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.version, http::Version::HTTP_11);
    assert_eq!(answer.peer_cert, certs(&site.cert)[0].to_vec());

    // ALPN h2: the same route over HTTP/2; the upstream still gets HTTP/1.1 with a Host header.
    let answer = tls_get(
        tls,
        "api.example.test",
        &ca,
        &[b"h2", b"http/1.1"],
        "/request",
    )
    .await
    .expect("h2");
    assert_eq!(
        (answer.status, answer.version),
        (200, http::Version::HTTP_2)
    );
    let echoed: Value = serde_json::from_str(&answer.body).expect("echo json");
    assert_eq!(echoed["headers"]["x-forwarded-proto"], "https");

    // Wildcard SNI, and a name nothing covers gets the fallback certificate (not trusted here).
    let answer = tls_get(tls, "a.wild.test", &ca, &[b"http/1.1"], "/")
        .await
        .expect("wildcard");
    assert_eq!(answer.peer_cert, certs(&wild.cert)[0].to_vec());
    assert!(tls_get(tls, "other.test", &ca, &[b"http/1.1"], "/")
        .await
        .is_err());

    // The https-only route refuses plain HTTP with Kong's 426.
    let r = client()
        .get(format!("{}/", app.proxy))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 426);

    // Replacing the certificate is live on the next handshake, no restart.
    let renewed = pki.leaf(&["api.example.test"], false);
    let (status, body) = app
        .admin_json(
            Method::PATCH,
            &format!("/certificates/{}", cert["id"].as_str().unwrap_or("")),
            json!({"cert": renewed.cert, "key": renewed.key}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["snis"],
        json!(["api.example.test"]),
        "a PATCH without snis keeps them"
    );
    crate::helpers::eventually(
        std::time::Duration::from_secs(5),
        "the renewed certificate",
        || async {
            let a = tls_get(tls, "api.example.test", &ca, &[b"http/1.1"], "/")
                .await
                .ok()?;
            (a.peer_cert == certs(&renewed.cert)[0].to_vec()).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_with_snis_match_only_that_tls_server_name() {
    let app = TestApp::spawn().await;
    let pki = Pki::new();
    let leaf = pki.leaf(&["a.sni.test", "b.sni.test"], false);
    create(
        &app,
        "/certificates",
        json!({"cert": leaf.cert, "key": leaf.key, "snis": ["a.sni.test", "b.sni.test"]}),
    )
    .await;
    let up = hyper_upstream(|_req| async { Response::new(full("sni-a")) }).await;
    create(
        &app,
        "/services",
        json!({"name": "sni", "url": format!("http://{up}")}),
    )
    .await;
    create(
        &app,
        "/routes",
        json!({"protocols": ["https"], "snis": ["a.sni.test"], "service": {"name": "sni"}}),
    )
    .await;
    let ca = pki.ca_pem();
    let a = crate::helpers::eventually(
        std::time::Duration::from_secs(5),
        "the sni route",
        || async {
            tls_get(app.proxy_tls_addr, "a.sni.test", &ca, &[b"http/1.1"], "/x")
                .await
                .ok()
                .filter(|a| a.status == 200)
        },
    )
    .await;
    assert_eq!(a.body, "sni-a");
    let b = tls_get(app.proxy_tls_addr, "b.sni.test", &ca, &[b"http/1.1"], "/x")
        .await
        .expect("b");
    assert_eq!(b.status, 404);
    let r = client()
        .get(format!("{}/x", app.proxy))
        .send()
        .await
        .expect("plain");
    assert_eq!(r.status().as_u16(), 404, "no SNI over plain HTTP");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_prior_knowledge_is_served_on_the_plain_listener() {
    let app = TestApp::spawn().await;
    create(
        &app,
        "/services",
        json!({"name": "echo", "url": format!("http://{}", app.echo_addr)}),
    )
    .await;
    create(
        &app,
        "/routes",
        json!({"paths": ["/h2c"], "service": {"name": "echo"}}),
    )
    .await;
    app.wait_for_proxy("/h2c", 200).await;
    let tcp = TcpStream::connect(app.proxy_addr).await.expect("connect");
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2c handshake");
    tokio::spawn(conn);
    let req = Request::get(format!(
        "http://localhost:{}/h2c/request",
        app.proxy_addr.port()
    ))
    .body(Empty::<Bytes>::new())
    .expect("request");
    let resp = send.send_request(req).await.expect("h2c response");
    assert_eq!(
        (resp.status().as_u16(), resp.version()),
        (200, http::Version::HTTP_2)
    );
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    let echoed: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(echoed["path"], "/request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrades_pass_through_both_ways() {
    let app = TestApp::spawn().await;
    // An upstream that accepts the upgrade and then echoes raw bytes back, upper-cased.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let up = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let svc = service_fn(|mut req: Request<Incoming>| async move {
                let upgrade = hyper::upgrade::on(&mut req);
                tokio::spawn(async move {
                    if let Ok(io) = upgrade.await {
                        let mut io = TokioIo::new(io);
                        let mut buf = [0u8; 1024];
                        while let Ok(n) = io.read(&mut buf).await {
                            if n == 0 || io.write_all(&buf[..n].to_ascii_uppercase()).await.is_err()
                            {
                                break;
                            }
                        }
                    }
                });
                let resp = Response::builder()
                    .status(101)
                    .header("connection", "upgrade")
                    .header("upgrade", "websocket")
                    .header("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
                    .body(full(""))
                    .expect("101");
                Ok::<_, std::convert::Infallible>(resp)
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    create(
        &app,
        "/services",
        json!({"name": "ws", "url": format!("http://{up}")}),
    )
    .await;
    create(
        &app,
        "/routes",
        json!({"paths": ["/ws"], "service": {"name": "ws"}}),
    )
    .await;
    crate::helpers::eventually(
        std::time::Duration::from_secs(5),
        "the ws route",
        || async {
            let r = client()
                .get(format!("{}/ws", app.proxy))
                .send()
                .await
                .ok()?;
            (r.status().as_u16() != 404).then_some(())
        },
    )
    .await;

    let mut s = TcpStream::connect(app.proxy_addr).await.expect("connect");
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .expect("write handshake");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut byte).await.expect("read head"),
            1,
            "closed during the handshake"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    for msg in [&b"hello"[..], b"second frame"] {
        s.write_all(msg).await.expect("write");
        let mut got = vec![0u8; msg.len()];
        s.read_exact(&mut got).await.expect("read echo");
        assert_eq!(got, msg.to_ascii_uppercase());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_http1_requests_are_answered_in_order() {
    let app = TestApp::spawn().await;
    create(
        &app,
        "/services",
        json!({"name": "echo", "url": format!("http://{}", app.echo_addr)}),
    )
    .await;
    create(
        &app,
        "/routes",
        json!({"paths": ["/p"], "service": {"name": "echo"}}),
    )
    .await;
    app.wait_for_proxy("/p", 200).await;
    let mut s = TcpStream::connect(app.proxy_addr).await.expect("connect");
    // Three requests in one write; the answers must come back in the same order.
    s.write_all(
        b"GET /p/request?n=1 HTTP/1.1\r\nHost: a\r\n\r\n\
          GET /p/status/404 HTTP/1.1\r\nHost: a\r\n\r\n\
          GET /p/request?n=3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await
    .expect("write");
    let mut all = Vec::new();
    s.read_to_end(&mut all).await.expect("read");
    let text = String::from_utf8_lossy(&all);
    let statuses: Vec<&str> = text
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &text[i + 9..i + 12])
        .collect();
    assert_eq!(statuses, vec!["200", "404", "200"], "{text}");
    let first = text.find("n=1").expect("first echo");
    let third = text.find("n=3").expect("third echo");
    assert!(first < third, "answers out of order: {text}");
}
