//! What `serve` sets up at start: which signing keys it uses and prints,
//! and that a start that fails half-way leaves nothing behind.

mod common;

use std::time::Duration;

use common::api::{call, publish};
use common::signature::{assert_signed, verify};
use common::sink::Sink;
use common::wait::WAIT;
use common::{ServerOptions, ServerProcess};
use cronhook::config::{DEV_CURRENT_SIGNING_KEY, DEV_NEXT_SIGNING_KEY};

fn own_token() -> ServerOptions {
    ServerOptions::default().env("QSTASH_TOKEN", "my-own-token-0123456789")
}

#[test]
fn with_a_token_of_its_own_cronhook_signs_with_generated_keys_not_the_public_ones() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cronhook.db");
    let mut server = ServerProcess::start_with(&db, own_token());
    let (current, next) = (
        server.current_signing_key.clone(),
        server.next_signing_key.clone(),
    );
    assert!(
        current.starts_with("sig_") && current != DEV_CURRENT_SIGNING_KEY,
        "printed {current}"
    );
    assert!(next != DEV_NEXT_SIGNING_KEY && next != current);
    assert!(
        !server.stdout_text().contains("my-own-token"),
        "the token is not printed"
    );
    let (_, keys) = call(&server, "GET", "/v2/keys", &[], b"");
    assert_eq!(
        (keys["current"].as_str(), keys["next"].as_str()),
        (Some(current.as_str()), Some(next.as_str()))
    );

    let sink = Sink::start();
    let url = sink.url("/signed");
    publish(&server, &url, &[], b"hello");
    let got = sink.wait_for("/signed", 1, WAIT);
    assert_signed(&got[0], &current, &url);
    // A receiver configured with the public keys must reject it: nobody
    // who knows them can forge deliveries to this app.
    for public in [DEV_CURRENT_SIGNING_KEY, DEV_NEXT_SIGNING_KEY] {
        assert!(
            verify(&got[0], public).is_err(),
            "verifies with the public key {public}"
        );
    }

    // Kept in the database: the same keys after a restart.
    server.terminate();
    let again = ServerProcess::start_with(&db, own_token());
    assert_eq!(
        (
            again.current_signing_key.as_str(),
            again.next_signing_key.as_str()
        ),
        (current.as_str(), next.as_str())
    );
}

#[test]
fn the_public_dev_keys_go_with_the_dev_token_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path().join("cronhook.db"));
    assert_eq!(server.current_signing_key, DEV_CURRENT_SIGNING_KEY);
    assert_eq!(server.next_signing_key, DEV_NEXT_SIGNING_KEY);
}

#[test]
fn only_one_configured_signing_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_cronhook"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("c.db"))
        .arg("--current-signing-key")
        .arg("sig_only_one");
    for k in common::SCRUBBED_ENV {
        cmd.env_remove(k);
    }
    let (status, _, err) = common::run_with_timeout(cmd, Duration::from_secs(30));
    assert!(!status.unwrap().success());
    assert!(err.contains("set both"), "{err}");
}

#[test]
fn a_start_that_fails_to_bind_closes_the_database_again() {
    if common::skip_on_postgres(
        "checks the SQLite file lock is released; PostgreSQL has no such lock",
    ) {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cronhook.db");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().to_string();
    let failed = runtime.block_on(cronhook::App::start(cronhook::Config::new(
        common::backend::config_db(db.as_os_str()),
        &busy,
    )));
    assert!(
        matches!(failed, Err(cronhook::StartError::Bind { .. })),
        "{:?}",
        failed.err()
    );
    // Had the failed start kept the database (its lock, its writer), this
    // one would be refused as a second cronhook on the file.
    let app = runtime
        .block_on(cronhook::App::start(cronhook::Config::new(
            common::backend::config_db(db.as_os_str()),
            "127.0.0.1:0",
        )))
        .expect("the database is free again");
    runtime.block_on(app.shutdown());
}
