//! The environment of a program that uses the JS SDK's dev mode against a
//! cronhook (docs/qstash-wire.md §11.3): `QSTASH_DEV=true` and
//! `QSTASH_DEV_PORT`, no `QSTASH_URL`, token or keys, and nothing that could
//! let the SDK fetch its own dev server: a scratch `HOME` (no cached binary),
//! no proxies. The programs also import sdk-tests/node/no-download.mjs, which
//! makes any download or spawn throw.

use std::path::Path;
use std::process::Command;

/// Variables of the caller's shell that would change where the SDK goes
/// (the proxies are [`super::loopback_only`]'s).
const SCRUB: &[&str] = &[
    "QSTASH_URL",
    "QSTASH_TOKEN",
    "QSTASH_CURRENT_SIGNING_KEY",
    "QSTASH_NEXT_SIGNING_KEY",
    "QSTASH_DEV",
    "QSTASH_DEV_PORT",
    "QSTASH_REGION",
    "UPSTASH_REGION",
    "UPSTASH_WORKFLOW_URL",
    "NODE_ENV",
    "NEXT_PHASE",
];

/// Sets `cmd` up for dev mode on 127.0.0.1:`port` with `home` as HOME.
pub fn dev_mode_env(cmd: &mut Command, port: u16, home: &Path) {
    for k in SCRUB {
        cmd.env_remove(k);
    }
    cmd.env("QSTASH_DEV", "true")
        .env("QSTASH_DEV_PORT", port.to_string())
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join(".cache"));
    super::loopback_only(cmd);
}

/// A 127.0.0.1 port where nothing listens (bound, then released).
pub fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}
