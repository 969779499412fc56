//! TLS to PostgreSQL: a URL with `sslmode=verify-full` and `sslrootcert`
//! makes every connection of the real binary encrypted, and a server whose
//! certificate is not signed by a trusted authority is refused at start,
//! with the reason.
//!
//! PostgreSQL only, and only where the test cluster takes TLS
//! (`scripts/pg-cluster.sh` makes a throwaway CA and exports its file as
//! `CRONHOOK_TEST_POSTGRES_CA`); otherwise each test says why and returns.

mod common;

use std::process::Command;
use std::time::Duration;

use common::api::{call, create_schedule};
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
    let (status, cluster) = call(&server, "GET", "/cronhook/v1/cluster", &[], b"");
    assert_eq!(status, 200, "{cluster}");
    let node = cluster["node"].as_str().expect("a node id").to_owned();

    // Every connection of the server and how many use TLS, by name: the
    // store's carry the URL's application_name, the lease's and the
    // listener's name themselves after the node.
    let connections = |names: &[String]| -> (i64, i64) {
        let row = schema
            .client()
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a \
                 JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = ANY($1)",
                &[&names],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    let (store, store_tls) = connections(&[tag]);
    assert!(store > 0, "the server's store connections are there");
    assert_eq!(store_tls, store, "every one of them uses TLS");
    let roles = [
        format!("cronhook-lease {node}"),
        format!("cronhook-listen {node}"),
    ];
    assert_eq!(
        connections(&roles),
        (2, 2),
        "the lease's and the listener's connections, both with TLS"
    );
}

#[test]
fn a_server_certificate_no_trusted_authority_signed_is_refused_at_start() {
    let Some(_ca) = test_ca() else { return };
    let dir = tempfile::tempdir().unwrap();
    let schema = backend::for_path(&dir.path().join("untrusted.db"));
    // No sslrootcert: the built-in roots, which never signed the test CA.
    let url = format!("{}&sslmode=verify-full", schema.url);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cronhook"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--db", &url]);
    for k in common::SCRUBBED_ENV {
        cmd.env_remove(k);
    }
    let (status, _, stderr) = common::run_with_timeout(cmd, Duration::from_secs(60));
    let status = status.expect("cronhook kept running on a server it cannot trust");
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("certificate"),
        "the reason names the certificate: {stderr}"
    );
}
