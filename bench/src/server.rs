//! The cronhook child process, its temporary directory, and what /proc says
//! about it.
//!
//! Every child and directory is registered while alive so that Ctrl-C can
//! remove them too; normally their guards do it on drop (also on error and on
//! panic). A child is only ever signalled by its own PID.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::api;

/// What Ctrl-C must clean up.
#[derive(Default)]
struct Live {
    pids: Vec<u32>,
    dirs: Vec<PathBuf>,
}

fn live() -> &'static Mutex<Live> {
    static LIVE: OnceLock<Mutex<Live>> = OnceLock::new();
    LIVE.get_or_init(Default::default)
}

fn lock_live() -> std::sync::MutexGuard<'static, Live> {
    live().lock().unwrap_or_else(|p| p.into_inner())
}

/// Kills every child still running (by its PID) and removes every temporary
/// directory still present. For Ctrl-C; the guards do this on drop otherwise.
pub fn cleanup_all() {
    let live = std::mem::take(&mut *lock_live());
    for pid in live.pids {
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(pid.to_string())
            .stderr(Stdio::null())
            .status();
    }
    for dir in live.dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A directory under the system temp dir with a random name, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> Result<TempDir, String> {
        let path = std::env::temp_dir().join(format!(
            "cronhook-bench-{tag}-{:016x}",
            rand::random::<u64>()
        ));
        std::fs::create_dir(&path).map_err(|e| format!("creating {}: {e}", path.display()))?;
        lock_live().dirs.push(path.clone());
        Ok(TempDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
        lock_live().dirs.retain(|d| d != &self.path);
    }
}

/// The last lines of the child's stderr, and how many warnings and errors it
/// logged.
#[derive(Default)]
pub struct Log {
    tail: VecDeque<String>,
    pub warnings: u64,
    pub errors: u64,
    /// The first few WARN/ERROR lines, as evidence.
    pub notable: Vec<String>,
    /// `armed=` of the last "engine: timer loaded" line.
    pub armed_at_start: Option<u64>,
}

const TAIL_LINES: usize = 40;
const NOTABLE_LINES: usize = 5;

impl Log {
    fn push(&mut self, line: String) {
        match line.split_whitespace().nth(1) {
            Some("WARN") => self.warnings += 1,
            Some("ERROR") => self.errors += 1,
            _ => {}
        }
        if matches!(line.split_whitespace().nth(1), Some("WARN" | "ERROR"))
            && self.notable.len() < NOTABLE_LINES
        {
            self.notable.push(line.clone());
        }
        if line.contains("timer loaded") {
            self.armed_at_start = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("armed="))
                .and_then(|n| n.parse().ok());
        }
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }

    pub fn tail(&self) -> String {
        self.tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

/// A running `cronhook serve`; SIGKILLed (by PID) and reaped on drop.
pub struct Server {
    child: Option<Child>,
    pub pid: u32,
    pub addr: SocketAddr,
    /// From spawn until `/healthz` answered 200.
    pub ready: Duration,
    /// From spawn until the `QSTASH_URL=` line.
    pub url_line: Duration,
    pub log: Arc<Mutex<Log>>,
}

/// How long a start may take (a restart loads every schedule first).
const START_TIMEOUT: Duration = Duration::from_secs(600);

impl Server {
    /// Starts `<bin> serve --listen 127.0.0.1:0 --db <db> <extra>` and waits
    /// until `/healthz` answers 200.
    pub async fn start(
        bin: &Path,
        db: impl AsRef<std::ffi::OsStr>,
        extra: &[&str],
    ) -> Result<Server, String> {
        let started = Instant::now();
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--db")
            .arg(db.as_ref())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("NO_COLOR", "1");
        for k in [
            "QSTASH_URL",
            "QSTASH_TOKEN",
            "QSTASH_CURRENT_SIGNING_KEY",
            "QSTASH_NEXT_SIGNING_KEY",
            "CRONHOOK_LISTEN",
            "CRONHOOK_DB",
            "RUST_LOG",
        ] {
            cmd.env_remove(k);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let pid = child.id();
        lock_live().pids.push(pid);
        let log = Arc::new(Mutex::new(Log::default()));
        let (url_tx, mut url_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("QSTASH_URL=") {
                    let _ = url_tx.send(url.trim().to_owned());
                }
            }
        });
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        let mut server = Server {
            child: Some(child),
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            ready: Duration::ZERO,
            url_line: Duration::ZERO,
            log,
        };

        let deadline = started + START_TIMEOUT;
        let url = loop {
            server.check_alive("before printing QSTASH_URL=")?;
            if Instant::now() > deadline {
                return Err(server.failure("no QSTASH_URL= line in time"));
            }
            match tokio::time::timeout(Duration::from_millis(5), url_rx.recv()).await {
                Ok(Some(url)) => break url,
                Ok(None) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    server.check_alive("before printing QSTASH_URL=")?;
                    return Err(server.failure("stdout closed without a QSTASH_URL= line"));
                }
                Err(_) => {}
            }
        };
        server.url_line = started.elapsed();
        server.addr = url
            .strip_prefix("http://")
            .and_then(|hp| hp.split('/').next())
            .and_then(|hp| hp.parse().ok())
            .ok_or_else(|| format!("cannot parse QSTASH_URL={url}"))?;
        loop {
            server.check_alive("before /healthz answered 200")?;
            if Instant::now() > deadline {
                return Err(server.failure("/healthz did not answer 200 in time"));
            }
            if let Ok(200) = api::healthz(server.addr).await {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        server.ready = started.elapsed();
        Ok(server)
    }

    fn check_alive(&mut self, when: &str) -> Result<(), String> {
        let status = match self.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(Some(status))) => status,
            Some(Ok(None)) => return Ok(()),
            Some(Err(e)) => return Err(format!("waiting for cronhook: {e}")),
            None => return Err("cronhook was already stopped".into()),
        };
        self.child = None;
        lock_live().pids.retain(|p| *p != self.pid);
        std::thread::sleep(Duration::from_millis(100));
        Err(self.failure(&format!("cronhook exited with {status} {when}")))
    }

    /// An error message with the end of cronhook's log.
    pub fn failure(&self, what: &str) -> String {
        format!(
            "cronhook (pid {}): {what}\n--- last lines of its stderr ---\n{}",
            self.pid,
            self.log().tail()
        )
    }

    pub fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        lock_live().pids.retain(|p| *p != self.pid);
    }

    /// SIGTERM, then wait up to `timeout` for the exit (SIGKILL after that).
    /// Returns how long the exit took and whether it was clean (exit 0).
    pub fn terminate(&mut self, timeout: Duration) -> Result<(Duration, bool), String> {
        let Some(mut child) = self.child.take() else {
            return Err("cronhook is not running".into());
        };
        let t0 = Instant::now();
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status();
        if !matches!(sent, Ok(s) if s.success()) {
            let _ = child.kill();
            let _ = child.wait();
            lock_live().pids.retain(|p| *p != self.pid);
            return Err("kill -TERM failed".into());
        }
        let result = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok((t0.elapsed(), status.success())),
                Ok(None) if t0.elapsed() < timeout => std::thread::sleep(Duration::from_millis(5)),
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(format!(
                        "cronhook did not exit within {timeout:?} of SIGTERM"
                    ));
                }
                Err(e) => break Err(format!("waiting for cronhook: {e}")),
            }
        };
        lock_live().pids.retain(|p| *p != self.pid);
        result
    }

    pub fn stats(&self) -> Result<ProcStats, String> {
        ProcStats::read(self.pid)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Memory and CPU of a process, from /proc.
#[derive(Debug, Clone, Copy)]
pub struct ProcStats {
    pub rss_kb: u64,
    pub hwm_kb: u64,
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    pub threads: u64,
}

impl ProcStats {
    pub fn read(pid: u32) -> Result<ProcStats, String> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .map_err(|e| format!("reading /proc/{pid}/status: {e}"))?;
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        Ok(ProcStats {
            rss_kb: field("VmRSS:"),
            hwm_kb: field("VmHWM:"),
            threads: field("Threads:"),
            cpu_ticks: cpu_ticks(&format!("/proc/{pid}/stat"))?,
        })
    }

    pub fn rss_mb(&self) -> f64 {
        self.rss_kb as f64 / 1024.0
    }

    pub fn hwm_mb(&self) -> f64 {
        self.hwm_kb as f64 / 1024.0
    }

    /// CPU seconds used between `earlier` and `self`.
    pub fn cpu_s_since(&self, earlier: &ProcStats) -> f64 {
        self.cpu_ticks.saturating_sub(earlier.cpu_ticks) as f64 / clock_ticks_per_s()
    }
}

/// utime + stime (fields 14 and 15) of a /proc stat file.
fn cpu_ticks(path: &str) -> Result<u64, String> {
    let stat = std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))?;
    // The command name (field 2) may contain spaces; it ends at the last ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| format!("unexpected {path}"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state), so field n is at index n - 3.
    let num = |i: usize| -> Result<u64, String> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("unexpected {path}"))
    };
    Ok(num(11)? + num(12)?)
}

/// CPU ticks per thread name (threads of one name summed), for finding
/// which part of cronhook is busy.
pub fn thread_ticks(pid: u32) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let dir = task.path();
        let name = std::fs::read_to_string(dir.join("comm"))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        if let Ok(t) = cpu_ticks(&dir.join("stat").display().to_string()) {
            *out.entry(name).or_insert(0) += t;
        }
    }
    out
}

/// Context switches (voluntary and not) of all threads so far: how often
/// the process woke up.
pub fn context_switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    let mut total = 0;
    for task in tasks.flatten() {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue;
        };
        for line in status.lines() {
            if let Some(rest) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += rest.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    total
}

/// CPU seconds per thread name between two `thread_ticks` samples, busiest first.
pub fn thread_cpu_s(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = after
        .iter()
        .map(|(name, t)| {
            let d = t.saturating_sub(before.get(name).copied().unwrap_or(0));
            (name.clone(), d as f64 / clock_ticks_per_s())
        })
        .filter(|(_, s)| *s > 0.0)
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out
}

pub fn clock_ticks_per_s() -> f64 {
    static TCK: OnceLock<f64> = OnceLock::new();
    *TCK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// Size of a file in bytes, 0 when absent.
pub fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The database file plus its WAL.
pub fn db_bytes(db: &Path) -> (u64, u64) {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    (file_size(db), file_size(Path::new(&wal)))
}
