//! The outgoing HTTP client: hyper-util with rustls, connection reuse, and a
//! per-attempt deadline covering connect, headers and body.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

/// Most bytes of a response body kept (for the DLQ and callbacks).
pub const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// One outgoing request. The headers are already in the form hyper sends,
/// so nothing is parsed or copied again on the way out.
pub struct Outgoing<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub timeout: Duration,
}

/// What came back: a response (any status), or why none did.
#[derive(Debug, Clone)]
pub enum Reply {
    Response {
        status: u16,
        headers: HeaderMap,
        /// At most `MAX_RESPONSE_BODY` bytes.
        body: Bytes,
    },
    NoResponse(String),
}

#[derive(Clone)]
pub struct HttpClient {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new(64)
    }
}

impl HttpClient {
    /// A client keeping up to `max_idle_per_host` idle connections per
    /// destination. Pass the in-flight bound: fewer idle slots than requests
    /// in flight makes every burst close and reopen connections.
    pub fn new(max_idle_per_host: usize) -> HttpClient {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(max_idle_per_host)
            // Receivers see canonical names (`Upstash-Message-Id`), as from QStash (§7.2).
            .http1_title_case_headers(true)
            .build(https);
        HttpClient { inner }
    }

    /// Sends one request; never fails, a transport error is a `NoResponse`.
    pub async fn send(&self, out: Outgoing<'_>) -> Reply {
        let timeout = out.timeout;
        let request = match build(out) {
            Ok(r) => r,
            Err(e) => return Reply::NoResponse(e),
        };
        let exchange = async {
            let response = self
                .inner
                .request(request)
                .await
                .map_err(|e| format!("request failed: {}", error_chain(&e)))?;
            let (parts, mut body) = response.into_parts();
            let mut kept = Vec::new();
            while kept.len() < MAX_RESPONSE_BODY {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            let room = MAX_RESPONSE_BODY - kept.len();
                            kept.extend_from_slice(&data[..data.len().min(room)]);
                        }
                    }
                    Some(Err(e)) => return Err(format!("reading the response body failed: {e}")),
                    None => break,
                }
            }
            Ok::<_, String>(Reply::Response {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body: Bytes::from(kept),
            })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => Reply::NoResponse(e),
            Err(_) => Reply::NoResponse(format!("timed out after {} ms", timeout.as_millis())),
        }
    }
}

fn build(out: Outgoing<'_>) -> Result<Request<Full<Bytes>>, String> {
    let method = match out.method {
        "POST" => Method::POST,
        other => Method::from_bytes(other.as_bytes()).map_err(|_| format!("bad method {other}"))?,
    };
    let mut request = Request::builder()
        .method(method)
        .uri(out.url)
        .body(Full::new(out.body))
        .map_err(|e| format!("bad request to {}: {e}", out.url))?;
    *request.headers_mut() = out.headers;
    Ok(request)
}

/// The header map of `(name, value)` pairs, in order; `Err` names the
/// first header that cannot be sent.
pub fn header_map<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            return Err(format!("header {name} cannot be sent"));
        };
        map.append(n, v);
    }
    Ok(map)
}

/// "connection refused" is more useful than "client error (Connect)".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
