//! Signing keys (§4.10, §8): rotation signs with the old next key, and the
//! rotated keys survive a restart.
//!
//! § numbers cite docs/qstash-wire.md, the wire contract.
//!
//! The real binary, a real database and a real sink on 127.0.0.1.

mod common;

use common::api::{call, publish};
use common::signature::{assert_signed, verify};
use common::wait::WAIT;
use common::{start, ServerProcess};
use serde_json::json;

#[test]
fn rotating_keys_signs_with_the_old_next_key_and_survives_a_restart() {
    let (dir, mut server, sink) = start();
    let (status, keys) = call(&server, "GET", "/v2/keys", &[], b"");
    assert_eq!(status, 200);
    assert_eq!(keys["current"], server.current_signing_key);
    assert_eq!(keys["next"], server.next_signing_key);
    let old_current = server.current_signing_key.clone();
    let old_next = server.next_signing_key.clone();

    let (status, rotated) = call(&server, "POST", "/v2/keys/rotate", &[], b"");
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(rotated["current"], old_next.as_str());
    let new_next = rotated["next"].as_str().unwrap().to_owned();
    assert!(
        new_next.starts_with("sig_") && new_next.len() == 32,
        "{new_next}"
    );
    assert!(new_next[4..]
        .chars()
        .all(|c| c.is_ascii_alphanumeric() && !"0OIl".contains(c)));
    assert!(new_next != old_current && new_next != old_next);
    let (_, keys) = call(&server, "GET", "/v2/keys", &[], b"");
    assert_eq!(keys, json!({ "current": old_next, "next": new_next }));

    let url = sink.url("/signed");
    publish(&server, &url, &[], b"after rotation");
    let got = sink.wait_for("/signed", 1, WAIT);
    assert_signed(&got[0], &old_next, &url);
    assert!(
        verify(&got[0], &old_current).is_err(),
        "still signed with the old key"
    );

    // A restart on the same database keeps the rotated keys.
    server.terminate();
    let server = ServerProcess::start(dir.path().join("cronhook.db"));
    let (_, keys) = call(&server, "GET", "/v2/keys", &[], b"");
    assert_eq!(keys, json!({ "current": old_next, "next": new_next }));
    assert_eq!(
        server.current_signing_key, old_next,
        "the printed env agrees"
    );
    assert_eq!(server.next_signing_key, new_next);
    publish(&server, &url, &[], b"after restart");
    let got = sink.wait_for("/signed", 2, WAIT);
    let r = got
        .iter()
        .find(|r| &r.body[..] == b"after restart")
        .unwrap();
    assert_signed(r, &old_next, &url);
    assert!(verify(r, &old_current).is_err());
}
