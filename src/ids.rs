//! Random identifiers in QStash's style (`msg_…`, `scd_…`).

use rand::{distr::Alphanumeric, Rng};

fn random_id(prefix: &str, len: usize) -> String {
    let mut id = String::with_capacity(prefix.len() + len);
    id.push_str(prefix);
    id.extend(
        rand::rng()
            .sample_iter(&Alphanumeric)
            .take(len)
            .map(char::from),
    );
    id
}

/// A new message id: 160+ bits of randomness, so ids never collide across
/// restarts without any coordination.
pub fn message_id() -> String {
    random_id("msg_", 32)
}

/// A new schedule id, for creates that do not name one.
pub fn schedule_id() -> String {
    random_id("scd_", 24)
}

/// A JWT id (`jti`), new for every signed request.
pub fn jwt_id() -> String {
    random_id("jwt_", 24)
}
