//! What a `postgres://` URL asks for, TLS included, ready to connect.
//!
//! The `postgres` crate reads libpq's URL syntax but knows only three
//! `sslmode`s and no `sslrootcert`, so those two are read here first:
//!
//! - no `sslmode`, or `disable`, `allow`, `prefer`: no TLS, as before;
//! - `require`, `verify-ca`, `verify-full`: TLS, and the server's
//!   certificate is verified, chain and name alike (stricter than libpq's
//!   `require`, which checks nothing): a database reached over a network
//!   must prove who it is, or the token and every message would go to
//!   whoever answers;
//! - `sslrootcert=<PEM file>`: the authorities to trust (a managed
//!   database's CA bundle, or a self-signed server's certificate); without
//!   it, or with `sslrootcert=system`, the Mozilla roots built in.
//!
//! The file is read at every connect, so a renewed CA bundle is used from
//! the next reconnect on; the store connects when it opens, so a bad one
//! is refused at start, naming the file.

use std::str::FromStr;
use std::sync::Arc;

use percent_encoding::percent_decode_str;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::DbError;

/// A parsed URL and the TLS it asks for.
pub struct PgUrl {
    /// Everything but TLS, for the caller to add timeouts and names to.
    pub config: postgres::Config,
    tls: Option<MakeRustlsConnect>,
}

impl std::fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgUrl")
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl PgUrl {
    /// Reads `url`; refuses one the client cannot read, an `sslmode` it does
    /// not know, and an `sslrootcert` that holds no certificate.
    pub fn parse(url: &str) -> Result<PgUrl, DbError> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        let mut mode = None;
        let mut root = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded = percent_decode_str(value).decode_utf8_lossy().into_owned();
            match key {
                "sslmode" => mode = Some(decoded),
                "sslrootcert" => root = Some(decoded),
                _ => kept.push(pair),
            }
        }
        let tls = match mode.as_deref() {
            None | Some("disable" | "allow" | "prefer") => false,
            Some("require" | "verify-ca" | "verify-full") => true,
            Some(other) => {
                return Err(DbError::Tls(format!(
                    "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                )))
            }
        };
        if tls {
            kept.push("sslmode=require");
        } else if root.is_some() {
            return Err(DbError::Tls(
                "sslrootcert is given but sslmode does not ask for TLS (add sslmode=verify-full)"
                    .into(),
            ));
        }
        let rebuilt = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let config = postgres::Config::from_str(&rebuilt)?;
        let tls = tls.then(|| connector(root.as_deref())).transpose()?;
        Ok(PgUrl { config, tls })
    }

    /// Whether connections use TLS.
    #[cfg(test)]
    pub fn uses_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Connects with `config` (the URL's, with what the caller added).
    /// Blocking: call it off the async threads.
    pub fn connect(&self) -> Result<postgres::Client, DbError> {
        Ok(match &self.tls {
            None => self.config.connect(postgres::NoTls)?,
            Some(tls) => self.config.connect(tls.clone())?,
        })
    }
}

/// A TLS connector trusting the authorities in PEM file `root` (`None` or
/// `"system"`: the Mozilla roots built in).
fn connector(root: Option<&str>) -> Result<MakeRustlsConnect, DbError> {
    let mut roots = rustls::RootCertStore::empty();
    match root {
        None | Some("system") => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| DbError::Tls(format!("sslrootcert {path}: {e}")))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(DbError::Tls(format!(
                    "sslrootcert {path}: no certificate in it (a PEM file of CA certificates)"
                )));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DbError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str) -> String {
        PgUrl::parse(url).expect_err(url).to_string()
    }

    #[test]
    fn sslmode_decides_whether_tls_is_used() {
        for (query, tls) in [
            ("", false),
            ("?sslmode=disable", false),
            ("?sslmode=allow", false),
            ("?sslmode=prefer", false),
            ("?sslmode=require", true),
            ("?sslmode=verify-ca", true),
            ("?sslmode=verify-full&connect_timeout=3", true),
            (
                "?connect_timeout=3&sslmode=require&sslrootcert=system",
                true,
            ),
        ] {
            let url = format!("postgres://u@db.internal:5432/cron{query}");
            let parsed = PgUrl::parse(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(parsed.uses_tls(), tls, "{url}");
            assert_eq!(parsed.config.get_dbname(), Some("cron"), "{url}");
        }
    }

    #[test]
    fn the_other_parameters_reach_the_client() {
        let parsed = PgUrl::parse(
            "postgres://u@db:5432/cron?sslmode=require&connect_timeout=7&application_name=x",
        )
        .unwrap();
        assert_eq!(
            parsed.config.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(7))
        );
        assert_eq!(parsed.config.get_application_name(), Some("x"));
    }

    #[test]
    fn bad_tls_settings_are_refused_naming_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let missing = dir.path().join("missing.pem");
        for (query, names) in [
            ("sslmode=sometimes".to_owned(), "sslmode=sometimes"),
            (
                format!("sslmode=verify-full&sslrootcert={}", missing.display()),
                "missing.pem",
            ),
            (
                format!("sslmode=verify-full&sslrootcert={}", empty.display()),
                "no certificate",
            ),
            (
                format!("sslrootcert={}", empty.display()),
                "sslmode does not ask for TLS",
            ),
        ] {
            let error = refused(&format!("postgres://u@db/cron?{query}"));
            assert!(error.contains(names), "{query}: {error}");
        }
    }
}
