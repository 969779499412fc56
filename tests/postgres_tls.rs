//! TLS to PostgreSQL: a URL with `sslmode=verify-full` and `sslrootcert`
//! makes every connection of the real binary encrypted, and a server whose
//! certificate is not signed by a trusted authority is refused at start,
//! with the reason.
//!
//! PostgreSQL only, and only where the test cluster takes TLS
//! (`scripts/pg-cluster.sh` makes a throwaway CA and exports its file as
//! `CRONHOOK_TEST_POSTGRES_CA`); otherwise each test says why and returns.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::api::create_schedule;
use common::backend;
use common::sink::Sink;
use common::{ServerOptions, ServerProcess};

/// The CA file of the test cluster, or None (after saying why).
fn test_ca() -> Option<String> {
    if common::skip_on_sqlite("TLS to PostgreSQL") {
        return None;
    }
    let ca = std::env::var("CRONHOOK_TEST_POSTGRES_CA").ok();
    if ca.is_none() {
        eprintln!("skipped: CRONHOOK_TEST_POSTGRES_CA is not set (the test cluster takes no TLS)");
    }
    ca
}

#[test]
fn a_verify_full_url_with_the_servers_ca_serves_over_tls_connections_only() {
    let Some(ca) = test_ca() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tls.db");
    let schema = backend::for_path(&db);
    let tag = format!("tls_{}", schema.name);
    let server = ServerProcess::start_with(
        &db,
        ServerOptions {
            db_query: Some(format!(
                "sslmode=verify-full&sslrootcert={ca}&application_name={tag}"
            )),
            ..ServerOptions::default()
        },
    );
    let sink = Sink::start();
    create_schedule(
        &server,
        &sink.url("/tls"),
        &[("Upstash-Cron", "* * * * *")],
        b"",
    );
    let (status, _) = server.get("/healthz").unwrap();
    assert_eq!(status, 200);

    // The store's connections carry the URL's application_name; the lease
    // and the listener name themselves after their node.
    let (all, encrypted): (i64, i64) = {
        let row = schema
            .client()
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a \
                 JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = $1",
                &[&tag],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert!(all > 0, "the server's store connections are there");
    assert_eq!(encrypted, all, "every one of them uses TLS");
}

#[test]
fn a_server_certificate_no_trusted_authority_signed_is_refused_at_start() {
    let Some(_ca) = test_ca() else { return };
    let dir = tempfile::tempdir().unwrap();
    let schema = backend::for_path(&dir.path().join("untrusted.db"));
    // No sslrootcert: the built-in roots, which never signed the test CA.
    let url = format!("{}&sslmode=verify-full", schema.url);
    let mut child = Command::new(env!("CARGO_BIN_EXE_cronhook"))
        .args(["serve", "--listen", "127.0.0.1:0", "--db", &url])
        .env_remove("CRONHOOK_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("cronhook kept running on a server it cannot trust");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("certificate"),
        "the reason names the certificate: {stderr}"
    );
}
