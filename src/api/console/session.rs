//! Console sessions: the token asked for once, then an `HttpOnly`,
//! `SameSite=Strict` cookie, never the token in a URL or in the browser's
//! storage. Each session has a CSRF token the console sends back in
//! `X-Cronhook-Csrf` with every state-changing request; a request that
//! authenticates by cookie without it is refused, so another site cannot
//! make the browser act with the session.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::distr::Alphanumeric;
use rand::Rng;

/// The session cookie's name.
pub const COOKIE: &str = "cronhook_session";

/// The header that carries a session's CSRF token.
pub const CSRF_HEADER: &str = "x-cronhook-csrf";

/// How long a session lasts without use.
pub const IDLE: Duration = Duration::from_secs(12 * 3600);

/// Most sessions kept; the least recently used go first beyond it.
const MAX_SESSIONS: usize = 1000;

struct Session {
    csrf: String,
    last_used: Instant,
}

/// The open sessions, in memory: a restart logs everybody out.
#[derive(Default)]
pub struct Sessions {
    open: Mutex<HashMap<String, Session>>,
}

fn random(n: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

impl Sessions {
    /// Opens a session: its id (the cookie's value) and its CSRF token.
    pub fn open(&self) -> (String, String) {
        let (id, csrf) = (random(43), random(43));
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|_, s| s.last_used.elapsed() < IDLE);
        if open.len() >= MAX_SESSIONS {
            if let Some(oldest) = open
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone())
            {
                open.remove(&oldest);
            }
        }
        open.insert(
            id.clone(),
            Session {
                csrf: csrf.clone(),
                last_used: Instant::now(),
            },
        );
        (id, csrf)
    }

    /// The CSRF token of session `id`, if it is open (and marks it used).
    pub fn csrf_of(&self, id: &str) -> Option<String> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let s = open.get_mut(id)?;
        if s.last_used.elapsed() >= IDLE {
            open.remove(id);
            return None;
        }
        s.last_used = Instant::now();
        Some(s.csrf.clone())
    }

    pub fn close(&self, id: &str) {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}

/// The session id in a request's `Cookie` headers.
pub fn session_cookie(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// The `Set-Cookie` value that gives the browser session `id`.
pub fn set_cookie(id: &str) -> String {
    format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        IDLE.as_secs()
    )
}

/// The `Set-Cookie` value that removes it.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_has_its_own_csrf_token_until_closed() {
        let sessions = Sessions::default();
        let (a, csrf_a) = sessions.open();
        let (b, csrf_b) = sessions.open();
        assert_ne!(a, b);
        assert_ne!(csrf_a, csrf_b);
        assert_eq!(sessions.csrf_of(&a).as_deref(), Some(csrf_a.as_str()));
        sessions.close(&a);
        assert_eq!(sessions.csrf_of(&a), None);
        assert!(sessions.csrf_of(&b).is_some());
        assert_eq!(sessions.csrf_of("made-up"), None);
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = http::HeaderMap::new();
        h.append(
            http::header::COOKIE,
            "a=1; cronhook_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(session_cookie(&h).as_deref(), Some("abc"));
        assert!(set_cookie("x").contains("HttpOnly; SameSite=Strict"));
    }
}
