//! Shared helpers for integration tests: a `cronhook serve` child process.
//!
//! `ServerProcess::start(db)` spawns the binary built by cargo for this test
//! run with `serve --listen 127.0.0.1:0 --db <db>`, reads its stdout until the
//! `QSTASH_URL=` line (the server prints `QSTASH_URL`, `QSTASH_TOKEN`,
//! `QSTASH_CURRENT_SIGNING_KEY` and `QSTASH_NEXT_SIGNING_KEY`, one
//! `KEY=value` per line), keeps draining stdout and stderr in background
//! threads so the child never blocks on a full pipe, and polls `/healthz`
//! until it answers 200. The child is killed when the value is dropped.
//!
//! The database is SQLite or PostgreSQL, as `backend` says: a test names it
//! by a path either way (see `backend.rs`).
#![allow(dead_code)]

pub mod api;
pub mod backend;
pub mod db;
pub mod dev_mode;
pub mod hang;
pub mod inproc;
pub mod signature;
pub mod sink;
pub mod wait;

#[allow(unused_imports)]
pub use backend::{on_postgres, skip_on_postgres, skip_on_sqlite};

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long to wait for the `QSTASH_URL=` line.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for `/healthz` to answer 200 once the URL is known.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(30);

/// Environment variables removed from the child so a developer's shell cannot
/// change what the server does (its defaults are the §11.2 dev user 1).
pub const SCRUBBED_ENV: &[&str] = &[
    "RUST_LOG",
    "QSTASH_URL",
    "QSTASH_TOKEN",
    "QSTASH_CURRENT_SIGNING_KEY",
    "QSTASH_NEXT_SIGNING_KEY",
    "QSTASH_DEV",
    "QSTASH_REGION",
];

/// The caller's proxy settings: a program a test runs talks to 127.0.0.1
/// only, so none of them may apply to it.
pub const PROXY_ENV: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
];

/// Removes the caller's proxy settings from `cmd` and sends loopback
/// addresses past any proxy.
pub fn loopback_only(cmd: &mut std::process::Command) {
    for k in PROXY_ENV {
        cmd.env_remove(k);
    }
    cmd.env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
}

/// Options for [`ServerProcess::start_with`].
#[derive(Default, Clone, Debug)]
pub struct ServerOptions {
    /// Extra command-line arguments appended after `serve --listen .. --db ..`.
    pub args: Vec<OsString>,
    /// Extra environment variables for the child.
    pub env: Vec<(OsString, OsString)>,
    /// `--listen`; `127.0.0.1:0` when not set.
    pub listen: Option<String>,
    /// The child's open-files limit (soft and hard), as `ulimit -n` sets it.
    pub nofile: Option<u64>,
    /// The database is the SQLite file at the path even when the suite runs
    /// on PostgreSQL (a migration's source, say).
    pub sqlite: bool,
    /// On PostgreSQL: parameters added to the database URL's query
    /// (`sslmode=…&sslrootcert=…`).
    pub db_query: Option<String>,
}

impl ServerOptions {
    pub fn listen(mut self, addr: &str) -> Self {
        self.listen = Some(addr.to_owned());
        self
    }

    pub fn nofile(mut self, limit: u64) -> Self {
        self.nofile = Some(limit);
        self
    }

    /// A SQLite file whatever the backend (see [`ServerOptions::sqlite`]).
    pub fn sqlite(mut self) -> Self {
        self.sqlite = true;
        self
    }

    pub fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn env(mut self, k: impl Into<OsString>, v: impl Into<OsString>) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
}

pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`, from the `QSTASH_URL=` line.
    pub url: String,
    /// `127.0.0.1:<port>`.
    pub addr: SocketAddr,
    pub token: String,
    pub current_signing_key: String,
    pub next_signing_key: String,
    pub pid: u32,
    /// The database's name in the test: a SQLite file, or on PostgreSQL
    /// the key of its schema (`backend::for_path`).
    pub db: PathBuf,
    /// On PostgreSQL, the schema `db` stands for (held while the server is).
    pub schema: Option<Arc<backend::PgSchema>>,
    /// Every `KEY=value` line the server printed on stdout before `QSTASH_URL=`
    /// and shortly after it.
    pub vars: HashMap<String, String>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    exited: Option<ExitStatus>,
}

/// Spawns a thread that copies a pipe into `buf`, and sends each complete
/// line on `lines` (if given) until the receiver hangs up.
fn drain<R: Read + Send + 'static>(
    pipe: R,
    buf: Arc<Mutex<String>>,
    lines: Option<mpsc::Sender<String>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        let mut lines = lines;
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line).into_owned();
                    buf.lock().unwrap().push_str(&text);
                    if let Some(tx) = &lines {
                        if tx
                            .send(text.trim_end_matches(['\r', '\n']).to_string())
                            .is_err()
                        {
                            lines = None;
                        }
                    }
                }
            }
        }
    })
}

impl ServerProcess {
    /// Starts `cronhook serve --listen 127.0.0.1:0 --db <db>` (on
    /// PostgreSQL `--db` is the URL of `db`'s schema).
    pub fn start(db: impl AsRef<Path>) -> ServerProcess {
        Self::start_with(db, ServerOptions::default())
    }

    /// Starts `cronhook serve` on the SQLite file `db`, also when the suite
    /// runs on PostgreSQL.
    pub fn start_sqlite(db: impl AsRef<Path>) -> ServerProcess {
        Self::start_with(db, ServerOptions::default().sqlite())
    }

    /// Starts the server with extra arguments and environment variables.
    pub fn start_with(db: impl AsRef<Path>, opts: ServerOptions) -> ServerProcess {
        let db = db.as_ref().to_path_buf();
        let (mut db_arg, schema) = if opts.sqlite {
            (db.as_os_str().to_owned(), None)
        } else {
            backend::db_arg(&db)
        };
        if let (Some(query), Some(_)) = (&opts.db_query, &schema) {
            db_arg.push(format!("&{query}"));
        }
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cronhook"));
        cmd.arg("serve")
            .arg("--listen")
            .arg(opts.listen.as_deref().unwrap_or("127.0.0.1:0"))
            .arg("--db")
            .arg(&db_arg)
            .args(&opts.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for k in SCRUBBED_ENV {
            cmd.env_remove(k);
        }
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        if let Some(limit) = opts.nofile {
            use std::os::unix::process::CommandExt;
            // SAFETY: between fork and exec only setrlimit runs, which is
            // async-signal-safe and allocates nothing.
            unsafe {
                cmd.pre_exec(move || rlimit::setrlimit(rlimit::Resource::NOFILE, limit, limit));
            }
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", env!("CARGO_BIN_EXE_cronhook")));
        let pid = child.id();

        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        drain(child.stdout.take().unwrap(), stdout.clone(), Some(tx));
        drain(child.stderr.take().unwrap(), stderr.clone(), None);

        let mut server = ServerProcess {
            child,
            url: String::new(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: String::new(),
            current_signing_key: String::new(),
            next_signing_key: String::new(),
            pid,
            db,
            schema,
            vars: HashMap::new(),
            stdout,
            stderr,
            exited: None,
        };

        // Read stdout until the QSTASH_URL= line.
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => {
                    server.record_var(&line);
                    if line.starts_with("QSTASH_URL=") {
                        break;
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    server.fail("stdout closed before a QSTASH_URL= line was printed")
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = server.child.try_wait() {
                        server.exited = Some(status);
                        // Give the drain threads a moment to collect output.
                        thread::sleep(Duration::from_millis(100));
                        server.fail(&format!(
                            "server exited with {status} before printing QSTASH_URL="
                        ));
                    }
                    if Instant::now() >= deadline {
                        server.fail(&format!(
                            "no QSTASH_URL= line on stdout within {STARTUP_TIMEOUT:?}"
                        ));
                    }
                }
            }
        }
        // The other variables are printed next to QSTASH_URL (before or
        // after it): collect the lines that follow within a short window.
        let wanted = [
            "QSTASH_TOKEN",
            "QSTASH_CURRENT_SIGNING_KEY",
            "QSTASH_NEXT_SIGNING_KEY",
        ];
        // Secrets the test configured itself are not printed: do not wait
        // for them.
        let printed: Vec<&str> = wanted
            .iter()
            .copied()
            .filter(|k| !opts.env.iter().any(|(name, _)| name == k))
            .collect();
        let var_deadline = Instant::now() + Duration::from_secs(5);
        while !printed.iter().all(|k| server.vars.contains_key(*k)) {
            let left = var_deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match rx.recv_timeout(left) {
                Ok(line) => server.record_var(&line),
                Err(_) => break,
            }
        }
        // Keep draining stdout (the thread stops sending once rx is dropped).
        drop(rx);

        server.url = server.vars["QSTASH_URL"].clone();
        // Take the secrets the test configured from the environment it gave.
        for k in wanted {
            if server.vars.contains_key(k) {
                continue;
            }
            match opts.env.iter().find(|(name, _)| name == k) {
                Some((_, v)) => {
                    server
                        .vars
                        .insert(k.to_owned(), v.to_string_lossy().into_owned());
                }
                None => server.fail(&format!("stdout has no {k}= line")),
            }
        }
        server.token = server.vars["QSTASH_TOKEN"].clone();
        server.current_signing_key = server.vars["QSTASH_CURRENT_SIGNING_KEY"].clone();
        server.next_signing_key = server.vars["QSTASH_NEXT_SIGNING_KEY"].clone();

        let hostport = server
            .url
            .strip_prefix("http://")
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_string());
        let addr = hostport
            .as_deref()
            .and_then(|hp| hp.to_socket_addrs().ok())
            .and_then(|mut it| it.next());
        match addr {
            Some(a) => server.addr = a,
            None => server.fail(&format!("cannot parse QSTASH_URL={:?}", server.url)),
        }

        server.wait_healthy();
        server
    }

    fn record_var(&mut self, line: &str) {
        if let Some((k, v)) = line.split_once('=') {
            let k = k.trim();
            if !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                self.vars.insert(k.to_string(), v.trim().to_string());
            }
        }
    }

    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + HEALTH_TIMEOUT;
        let mut last = String::from("no attempt");
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exited = Some(status);
                thread::sleep(Duration::from_millis(100));
                self.fail(&format!(
                    "server exited with {status} before /healthz answered 200"
                ));
            }
            match self.get("/healthz") {
                Ok((200, _)) => return,
                Ok((status, body)) => last = format!("status {status}, body {body:?}"),
                Err(e) => last = format!("error {e}"),
            }
            thread::sleep(Duration::from_millis(50));
        }
        self.fail(&format!(
            "GET /healthz did not answer 200 within {HEALTH_TIMEOUT:?} (last: {last})"
        ));
    }

    /// Panics with a message that includes everything the server printed.
    fn fail(&mut self, what: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        thread::sleep(Duration::from_millis(50));
        panic!(
            "cronhook serve (pid {}): {what}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.pid,
            self.stdout_text(),
            self.stderr_text()
        );
    }

    /// A plain blocking HTTP/1.1 GET without auth: (status, body).
    pub fn get(&self, path: &str) -> std::io::Result<(u16, String)> {
        self.raw_request("GET", path, &[], b"")
    }

    /// A plain blocking HTTP/1.1 request (`Connection: close`): (status, body).
    /// `headers` are extra `(name, value)` pairs; add `Authorization` yourself.
    pub fn raw_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<(u16, String)> {
        request(self.addr, method, path, headers, body)
    }
    /// Environment variables for an SDK program: QSTASH_URL, QSTASH_TOKEN and
    /// both signing keys.
    pub fn sdk_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("QSTASH_URL", self.url.clone()),
            ("QSTASH_TOKEN", self.token.clone()),
            (
                "QSTASH_CURRENT_SIGNING_KEY",
                self.current_signing_key.clone(),
            ),
            ("QSTASH_NEXT_SIGNING_KEY", self.next_signing_key.clone()),
        ]
    }

    /// Everything the server printed on stdout so far.
    pub fn stdout_text(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Everything the server printed on stderr (its logs) so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        if self.exited.is_some() {
            return false;
        }
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.exited = Some(status);
                false
            }
            _ => true,
        }
    }

    /// SIGKILL (no chance to clean up) and reap the child.
    pub fn kill9(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            let _ = self.child.kill();
            self.exited = self.child.wait().ok();
        }
        self.exited
    }

    /// SIGTERM via `kill -TERM <pid>` and wait for the child to exit, up to
    /// `timeout`; SIGKILL after that. Returns the exit status and whether the
    /// child exited by itself within the timeout.
    pub fn terminate_timeout(&mut self, timeout: Duration) -> (Option<ExitStatus>, bool) {
        if let Some(status) = self.exited {
            return (Some(status), true);
        }
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !matches!(sent, Ok(s) if s.success()) {
            // Already gone (or no kill command): fall back to try_wait / SIGKILL.
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exited = Some(status);
                return (self.exited, true);
            }
        }
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exited = Some(status);
                return (self.exited, true);
            }
            thread::sleep(Duration::from_millis(20));
        }
        (self.kill9(), false)
    }

    /// SIGTERM and wait (up to 30 s, then SIGKILL). Returns the exit status.
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        self.terminate_timeout(Duration::from_secs(30)).0
    }
}

/// A server on a fresh database in its own temporary directory, and a sink
/// for it to deliver to. Keep the directory alive as long as the server.
pub fn start() -> (tempfile::TempDir, ServerProcess, sink::Sink) {
    start_with(ServerOptions::default())
}

/// Like [`start`], with extra arguments or environment for the server.
pub fn start_with(opts: ServerOptions) -> (tempfile::TempDir, ServerProcess, sink::Sink) {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with(dir.path().join("cronhook.db"), opts);
    (dir, server, sink::Sink::start())
}

/// A plain blocking HTTP/1.1 request to `addr` (`Connection: close`):
/// (status, body). `headers` are extra `(name, value)` pairs.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        addr,
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad response: {text:?}"),
            )
        })?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((status, body))
}

/// Anything tests send API requests to: a `ServerProcess`, or an
/// `inproc::InProcess` app on a manual clock.
pub trait Target {
    fn addr(&self) -> SocketAddr;
    fn token(&self) -> &str;
}

impl Target for ServerProcess {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn token(&self) -> &str {
        &self.token
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size_line, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].strip_prefix("\r\n").unwrap_or(&after[size..]);
    }
    out
}

/// Runs a command with a timeout, collecting stdout and stderr. Returns
/// (exit status or None on timeout, stdout, stderr). The command is killed
/// on timeout.
pub fn run_with_timeout(
    mut cmd: Command,
    timeout: Duration,
) -> (Option<ExitStatus>, String, String) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
    let out = Arc::new(Mutex::new(String::new()));
    let err = Arc::new(Mutex::new(String::new()));
    let readers = [
        drain(child.stdout.take().unwrap(), out.clone(), None),
        drain(child.stderr.take().unwrap(), err.clone(), None),
    ];
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(50));
    };
    // Let the drain threads read what is left in the pipes (bounded: a
    // grandchild could keep a pipe open).
    let drain_deadline = Instant::now() + Duration::from_secs(5);
    while readers.iter().any(|h| !h.is_finished()) && Instant::now() < drain_deadline {
        thread::sleep(Duration::from_millis(20));
    }
    let o = out.lock().unwrap().clone();
    let e = err.lock().unwrap().clone();
    (status, o, e)
}

/// Runs `sdk-tests/<script>` (an idempotent installer of a test's SDK) and
/// panics with its output if it fails or takes longer than 10 minutes.
pub fn run_setup(script: &str) {
    const SETUP_TIMEOUT: Duration = Duration::from_secs(600);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sdk-tests")
        .join(script);
    let mut cmd = Command::new("bash");
    cmd.arg(&path);
    let (status, out, err) = run_with_timeout(cmd, SETUP_TIMEOUT);
    match status {
        Some(s) if s.success() => eprint!("{out}{err}"),
        other => panic!(
            "{} failed ({}):\n--- stdout ---\n{out}\n--- stderr ---\n{err}",
            path.display(),
            match other {
                Some(s) => format!("{s}"),
                None => format!("timed out after {SETUP_TIMEOUT:?}"),
            }
        ),
    }
}
