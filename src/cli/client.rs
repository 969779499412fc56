//! A small blocking HTTP client for the CLI, on the hyper-util client the
//! engine already uses (rustls for `https://` servers), driven by a
//! current-thread runtime of its own: a command makes a few requests one
//! after another, so nothing here needs to be concurrent.

use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{connect::HttpConnector, Client as Hyper};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::{CliError, CliResult, Remote};

/// How long one API call may take, connect to last byte. A backup's
/// download has no such bound (it may be large), only the connect one.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The server at `--url`, with the token.
pub struct Client {
    runtime: tokio::runtime::Runtime,
    http: Hyper<HttpsConnector<HttpConnector>, Full<Bytes>>,
    base: String,
    token: String,
}

/// A request beyond method and path.
#[derive(Default)]
pub struct Call {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Client {
    pub fn new(remote: &Remote) -> CliResult<Client> {
        let base = remote.url.trim().trim_end_matches('/').to_owned();
        let uri: Uri = base
            .parse()
            .map_err(|e| CliError::Local(format!("--url {base:?}: not a URL ({e})")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(CliError::Local(format!(
                "--url {base:?}: expected http://HOST:PORT or https://HOST"
            )));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CliError::Local(format!("cannot start the runtime: {e}")))?;
        let mut connector = HttpConnector::new();
        connector.enforce_http(false);
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let http = Hyper::builder(TokioExecutor::new()).build(https);
        Ok(Client {
            runtime,
            http,
            base,
            token: remote.token(),
        })
    }

    /// `method path` with no body; the reply's JSON (`null` for an empty
    /// reply), or the server's error.
    pub fn get(&self, path: &str) -> CliResult<Value> {
        self.call(Method::GET, path, Call::default())
    }

    /// One API call; the reply's JSON, or the server's error.
    pub fn call(&self, method: Method, path: &str, call: Call) -> CliResult<Value> {
        let request = self.request(method, path, call)?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| self.unreachable(&e))?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| self.unreachable(&e))?
                .to_bytes();
            Ok::<_, CliError>((status, body))
        };
        let (status, body) = self.runtime.block_on(async {
            tokio::time::timeout(CALL_TIMEOUT, exchange)
                .await
                .unwrap_or_else(|_| {
                    Err(CliError::Unreachable {
                        url: self.base.clone(),
                        why: format!("no answer within {} s", CALL_TIMEOUT.as_secs()),
                    })
                })
        })?;
        if !(200..300).contains(&status) {
            return Err(server_error(status, &body));
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&body).map_err(|e| {
            CliError::Local(format!(
                "the server at {} answered {status} with something that is not JSON ({e}); \
                 is --url a cronhook?",
                self.base
            ))
        })
    }

    /// A call whose successful reply body is streamed into `out`; the
    /// bytes written. The reply's `Content-Length`, when given, must be
    /// met, so a cut connection is an error and not a short file.
    pub fn download(&self, method: Method, path: &str, out: &mut impl Write) -> CliResult<u64> {
        let request = self.request(method, path, Call::default())?;
        self.runtime.block_on(async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| self.unreachable(&e))?;
            let status = response.status().as_u16();
            let expected = response
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let mut body = response.into_body();
            if !(200..300).contains(&status) {
                let bytes = body
                    .collect()
                    .await
                    .map_err(|e| self.unreachable(&e))?
                    .to_bytes();
                return Err(server_error(status, &bytes));
            }
            let mut written = 0u64;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| CliError::Unreachable {
                    url: self.base.clone(),
                    why: format!(
                        "the download broke off after {written} bytes: {}",
                        chain(&e)
                    ),
                })?;
                if let Ok(data) = frame.into_data() {
                    out.write_all(&data)
                        .map_err(|e| CliError::Local(format!("cannot write the file: {e}")))?;
                    written += data.len() as u64;
                }
            }
            if let Some(n) = expected.filter(|&n| n != written) {
                return Err(CliError::Unreachable {
                    url: self.base.clone(),
                    why: format!("the download broke off after {written} of {n} bytes"),
                });
            }
            Ok(written)
        })
    }

    fn request(&self, method: Method, path: &str, call: Call) -> CliResult<Request<Full<Bytes>>> {
        let url = format!("{}{path}", self.base);
        let uri: Uri = url
            .parse()
            .map_err(|e| CliError::Local(format!("cannot make a request URL of {url:?}: {e}")))?;
        let mut builder = Request::builder()
            .method(method)
            .uri(uri)
            .header("Authorization", format!("Bearer {}", self.token))
            .header(
                "User-Agent",
                concat!("cronhook-cli/", env!("CARGO_PKG_VERSION")),
            );
        for (k, v) in &call.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        builder
            .body(Full::new(Bytes::from(call.body)))
            .map_err(|e| CliError::Local(format!("cannot send that request: {e}")))
    }

    fn unreachable(&self, e: &(dyn std::error::Error + 'static)) -> CliError {
        CliError::Unreachable {
            url: self.base.clone(),
            why: chain(e),
        }
    }
}

/// An error and its causes in one line ("client error (Connect): tcp
/// connect error: Connection refused").
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// The server's `{"error"}` text, or the start of whatever else came back
/// (a proxy's HTML page, say).
fn server_error(status: u16, body: &[u8]) -> CliError {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                "the server gave no reason".to_owned()
            } else {
                crate::duration::clip(text, 200)
            }
        });
    CliError::Server { status, message }
}
