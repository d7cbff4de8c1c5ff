//! The HTTP client of one http-log queue: one connection kept for `keepalive`, every request
//! bounded by `timeout`. User info in the endpoint becomes Basic authorization. HTTPS
//! endpoints are verified against the web's roots (Kong does not verify them).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderName, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

pub struct Endpoint {
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls_pki_types::ServerName<'static>,
    )>,
    host: String,
    port: u16,
    host_header: HeaderValue,
    path_and_query: String,
    authorization: Option<HeaderValue>,
}

impl Endpoint {
    pub fn parse(s: &str) -> Result<Endpoint, String> {
        let u = url::Url::parse(s).map_err(|e| e.to_string())?;
        let host = u.host_str().ok_or("no host in http_endpoint")?.to_string();
        let port = u
            .port_or_known_default()
            .ok_or("no port for http_endpoint")?;
        let default_port = u.port().is_none();
        let host_header = if default_port {
            host.clone()
        } else {
            format!("{host}:{port}")
        };
        let tls = match u.scheme() {
            "http" => None,
            "https" => {
                let mut roots = rustls::RootCertStore::empty();
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
                let name = rustls_pki_types::ServerName::try_from(
                    host.trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_string(),
                )
                .map_err(|e| e.to_string())?;
                Some((tokio_rustls::TlsConnector::from(Arc::new(cfg)), name))
            }
            other => return Err(format!("unsupported scheme '{other}'")),
        };
        let mut path_and_query = u.path().to_string();
        if let Some(q) = u.query() {
            path_and_query.push('?');
            path_and_query.push_str(q);
        }
        let authorization = if u.username().is_empty() && u.password().is_none() {
            None
        } else {
            let raw = format!("{}:{}", u.username(), u.password().unwrap_or(""));
            HeaderValue::from_str(&format!("Basic {}", base64(raw.as_bytes()))).ok()
        };
        Ok(Endpoint {
            tls,
            host,
            port,
            host_header: HeaderValue::from_str(&host_header).map_err(|e| e.to_string())?,
            path_and_query,
            authorization,
        })
    }
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub struct Client {
    pub endpoint: Endpoint,
    pub method: Method,
    pub content_type: HeaderValue,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub timeout: Duration,
    pub keepalive: Duration,
    /// The kept connection and when it last finished a request.
    pub conn: Option<(SendRequest<Full<Bytes>>, Instant)>,
}

async fn handshake<S>(stream: S) -> Result<SendRequest<Full<Bytes>>, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

impl Client {
    async fn connection(&mut self) -> Result<SendRequest<Full<Bytes>>, String> {
        if let Some((mut sender, idle_since)) = self.conn.take() {
            if idle_since.elapsed() < self.keepalive && sender.ready().await.is_ok() {
                return Ok(sender);
            }
        }
        let e = &self.endpoint;
        let tcp =
            TcpStream::connect((e.host.trim_start_matches('[').trim_end_matches(']'), e.port))
                .await
                .map_err(|err| format!("failed request to {}:{}: {err}", e.host, e.port))?;
        let _ = tcp.set_nodelay(true);
        match &e.tls {
            None => handshake(tcp).await,
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|err| format!("TLS to {}: {err}", e.host))?;
                handshake(tls).await
            }
        }
    }

    /// One attempt: `Ok` on a status below 300, as Kong counts success.
    pub async fn send(&mut self, body: Bytes) -> Result<(), String> {
        let limit = self.timeout;
        timeout(limit, self.attempt(body))
            .await
            .unwrap_or_else(|_| Err(format!("timed out after {} ms", limit.as_millis())))
    }

    async fn attempt(&mut self, body: Bytes) -> Result<(), String> {
        let mut sender = self.connection().await?;
        let e = &self.endpoint;
        let mut req = Request::new(Full::new(body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = e.path_and_query.parse().map_err(|err| format!("{err}"))?;
        let h = req.headers_mut();
        for (k, v) in &self.headers {
            h.insert(k.clone(), v.clone());
        }
        // Kong's own headers win over configured ones.
        h.insert(header::HOST, e.host_header.clone());
        h.insert(header::CONTENT_TYPE, self.content_type.clone());
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        if let Some(a) = &e.authorization {
            h.insert(header::AUTHORIZATION, a.clone());
        }
        let res = sender
            .send_request(req)
            .await
            .map_err(|err| err.to_string())?;
        let status = res.status();
        // The body is always read, so the connection can serve the next batch.
        let text = res
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        self.conn = Some((sender, Instant::now()));
        if status.as_u16() < 300 {
            Ok(())
        } else {
            Err(format!(
                "request to {}:{} returned status code {} and body {}",
                e.host,
                e.port,
                status.as_u16(),
                String::from_utf8_lossy(&text)
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn user_info_becomes_basic_authorization() {
        assert_eq!(super::base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(super::base64(b"ab"), "YWI=");
        assert_eq!(super::base64(b"a"), "YQ==");
        let e = super::Endpoint::parse("http://user:pass@127.0.0.1:9000/log?x=1").expect("url");
        assert_eq!(
            e.authorization.as_ref().map(|v| v.as_bytes()),
            Some(&b"Basic dXNlcjpwYXNz"[..])
        );
        assert_eq!(e.path_and_query, "/log?x=1");
        assert_eq!(e.host_header, "127.0.0.1:9000");
    }
}
