//! Client connections cannot lock the API out: slow and idle connections
//! are closed, and at the connection limit the ones without a request in
//! progress make room, so a client with a request is still served, also
//! with the systemd default of 1024 file descriptors.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::api::call;
use common::wait::{wait_until, WAIT};
use common::{ServerOptions, ServerProcess};

fn start(opts: ServerOptions) -> (tempfile::TempDir, ServerProcess) {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with(dir.path().join("cronhook.db"), opts);
    (dir, server)
}

/// Whether the server closed `stream` within `within` (read sees the end).
fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // a response (or a 408): keep reading
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
    false
}

#[test]
fn a_connection_that_sends_nothing_or_half_a_request_is_closed() {
    let (_dir, server) = start(ServerOptions::default().arg("--header-timeout").arg("1s"));
    let mut silent = TcpStream::connect(server.addr).unwrap();
    let mut slow = TcpStream::connect(server.addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow:")
        .unwrap();
    assert!(
        closed_by_server(&mut silent, WAIT),
        "a silent connection stayed open"
    );
    assert!(
        closed_by_server(&mut slow, WAIT),
        "a slowloris connection stayed open"
    );
}

#[test]
fn an_idle_keep_alive_connection_is_closed() {
    let (_dir, server) = start(ServerOptions::default().arg("--idle-timeout").arg("1s"));
    let mut conn = TcpStream::connect(server.addr).unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut head = [0u8; 12];
    conn.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    assert!(
        closed_by_server(&mut conn, WAIT),
        "the idle connection stayed open"
    );
}

#[test]
fn with_1024_descriptors_1100_silent_connections_do_not_lock_a_client_out() {
    // This process holds 1100 sockets itself.
    rlimit::increase_nofile_limit(4096).unwrap();
    let (_dir, server) = start(ServerOptions::default().nofile(1024));
    let mut silent = Vec::with_capacity(1100);
    for _ in 0..1100 {
        match TcpStream::connect_timeout(&server.addr, Duration::from_secs(5)) {
            Ok(s) => silent.push(s),
            // The server's backlog may be full for a moment: that is fine,
            // what matters is the request below.
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    assert!(
        silent.len() > 1000,
        "only {} connections opened",
        silent.len()
    );
    let asked = Instant::now();
    let (status, json) = call(&server, "GET", "/v2/schedules", &[], b"");
    let took = asked.elapsed();
    assert_eq!(status, 200, "{json}");
    // Locked out, the request would never be answered.
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
    let log = wait_until(WAIT, "the limit to be logged", || {
        let log = server.stderr_text();
        log.contains("connection limit reached").then_some(log)
    });
    assert!(log.contains("max_connections=480"), "{log}");
    drop(silent);
}
