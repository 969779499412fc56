//! Random identifiers in QStash's style (`msg_…`, `scd_…`).

use rand::{distr::Alphanumeric, Rng};

use crate::clock::{Clock, SystemClock};

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

/// A new message id: the creation time in milliseconds (12 hex digits,
/// fixed width, so ids sort by time) and then 20 random characters (119
/// bits, so ids never collide across restarts without coordination).
///
/// Why time first: message ids key the `messages` table and the log's
/// message index. Random keys scatter each commit's inserts over the whole
/// B-tree, and every touched page is written to the WAL; time-ordered keys
/// land on the same few rightmost pages. Receivers treat ids as opaque.
pub fn message_id() -> String {
    use std::fmt::Write as _;
    let now = SystemClock.now_ms().max(0) as u64;
    let mut id = String::with_capacity(4 + 12 + 20);
    id.push_str("msg_");
    let _ = write!(id, "{:012x}", now & 0xffff_ffff_ffff);
    id.extend(
        rand::rng()
            .sample_iter(&Alphanumeric)
            .take(20)
            .map(char::from),
    );
    id
}

/// A new schedule id, for creates that do not name one.
pub fn schedule_id() -> String {
    random_id("scd_", 24)
}

/// This process's node id among several cronhooks on one database: new at
/// every start, so a restarted node is a new node (its old lease expires).
pub fn node_id() -> String {
    random_id("node_", 12)
}

/// A JWT id (`jti`), new for every signed request.
pub fn jwt_id() -> String {
    random_id("jwt_", 24)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_sort_by_creation_time_and_do_not_repeat() {
        let first = message_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = message_id();
        assert!(first < second, "{first} !< {second}");
        assert_eq!(first.len(), "msg_".len() + 32);
        assert!(first[4..16].chars().all(|c| c.is_ascii_hexdigit()));
        let many: std::collections::HashSet<String> = (0..10_000).map(|_| message_id()).collect();
        assert_eq!(many.len(), 10_000);
    }
}
