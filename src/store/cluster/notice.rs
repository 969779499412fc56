//! The payloads of the change notices (several nodes on PostgreSQL).
//!
//! Each write transaction with timer changes sends them, before its COMMIT,
//! as `pg_notify(<the schema's channel>, payload)`; PostgreSQL delivers them at
//! the commit, in commit order, and the leader arms what other nodes
//! committed. Pure encode and decode, no SQL: the writer's pre-COMMIT hook
//! calls [`encode`], the listener thread [`decode`].
//!
//! A payload is compact JSON, `{"n":node,"s":seq,"c":[change,…]}`, each
//! under [`MAX_PAYLOAD`] bytes (PostgreSQL refuses 8000 and more): changes
//! that do not fit in one go to several payloads, in order. A pending
//! message travels without its body (id, URL for its destination's lane,
//! due time, queue, flow-control key): the leader reads the message when it
//! attempts it, as it does for one the window brings in. Signing keys never
//! travel: a notice says only that they changed, and the leader reads them.
//! A single change too big for a payload (a giant id or URL) is replaced by
//! a "re-read" marker ([`Remote::Resync`]), so nothing is lost silently.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::model::{FlowSettings, Millis};
use crate::store::{Change, Pending};

/// Most bytes of one payload (PostgreSQL's limit is 8000, less its own
/// framing).
pub const MAX_PAYLOAD: usize = 7900;

/// One decoded notice: who committed it, and what the leader must arm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub node: String,
    pub changes: Vec<Remote>,
}

/// A change another node committed, as the leader's engine arms it
/// (`engine::Remote::arm`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    /// A message is pending, due at `due_at` (its row without the body).
    Pending(Pending),
    /// Schedule `id` next fires at `next` (`None`: not at all).
    Schedule { id: String, next: Option<Millis> },
    /// Message `id` is no longer pending.
    Gone(String),
    /// A queue's settings, as stored.
    Queue {
        name: String,
        parallelism: u32,
        paused: bool,
    },
    /// A queue was deleted.
    QueueGone(String),
    /// The signing keys changed: read them from the store.
    KeysChanged,
    /// A flow-control key's settings, as stored.
    Flow {
        settings: FlowSettings,
        reset_rate: bool,
    },
    /// Something could not travel (too big, or unknown): re-read what is
    /// due, as after a lost connection.
    Resync,
}

/// A change on the wire: short tags and field names, payloads are small.
#[derive(Serialize, Deserialize)]
#[serde(tag = "t")]
enum Wire {
    #[serde(rename = "m")]
    Pending {
        id: String,
        u: String,
        d: Millis,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        q: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        f: Option<String>,
    },
    #[serde(rename = "s")]
    Schedule { id: String, x: Option<Millis> },
    #[serde(rename = "g")]
    Gone { id: String },
    #[serde(rename = "q")]
    Queue { n: String, p: u32, z: bool },
    #[serde(rename = "Q")]
    QueueGone { n: String },
    #[serde(rename = "k")]
    Keys,
    #[serde(rename = "f")]
    Flow {
        k: String,
        p: Option<u32>,
        r: Option<u32>,
        d: u64,
        z: bool,
        /// `pinned_parallelism` as `null` / `[limit]` (a bare `null` could
        /// not tell "not pinned" from "pinned unlimited").
        pp: Option<(Option<u32>,)>,
        pr: Option<(Option<u32>, u64)>,
        c: Millis,
        w: Millis,
        reset: bool,
    },
    #[serde(rename = "r")]
    Resync,
}

impl Wire {
    fn of(change: &Change) -> Wire {
        match change {
            Change::Pending(m) => Wire::Pending {
                id: m.id.clone(),
                u: m.url.clone(),
                d: m.due_at,
                q: m.delivery.queue_name.clone(),
                f: m.delivery.flow_control.as_ref().map(|f| f.key.clone()),
            },
            Change::Schedule { id, next } => Wire::Schedule {
                id: id.clone(),
                x: *next,
            },
            Change::Gone(id) => Wire::Gone { id: id.clone() },
            Change::Queue {
                name,
                parallelism,
                paused,
            } => Wire::Queue {
                n: name.clone(),
                p: *parallelism,
                z: *paused,
            },
            Change::QueueGone(name) => Wire::QueueGone { n: name.clone() },
            Change::Keys(_) => Wire::Keys,
            Change::Flow {
                settings: s,
                reset_rate,
            } => Wire::Flow {
                k: s.key.clone(),
                p: s.parallelism,
                r: s.rate,
                d: s.period,
                z: s.paused,
                pp: s.pinned_parallelism.map(|p| (p,)),
                pr: s.pinned_rate,
                c: s.created_at,
                w: s.updated_at,
                reset: *reset_rate,
            },
        }
    }

    fn into_remote(self) -> Remote {
        match self {
            Wire::Pending { id, u, d, q, f } => Remote::Pending(Pending {
                id,
                url: u,
                due_at: d,
                queue: q,
                flow: f,
            }),
            Wire::Schedule { id, x } => Remote::Schedule { id, next: x },
            Wire::Gone { id } => Remote::Gone(id),
            Wire::Queue { n, p, z } => Remote::Queue {
                name: n,
                parallelism: p,
                paused: z,
            },
            Wire::QueueGone { n } => Remote::QueueGone(n),
            Wire::Keys => Remote::KeysChanged,
            Wire::Flow {
                k,
                p,
                r,
                d,
                z,
                pp,
                pr,
                c,
                w,
                reset,
            } => Remote::Flow {
                settings: FlowSettings {
                    key: k,
                    parallelism: p,
                    rate: r,
                    period: d,
                    paused: z,
                    pinned_parallelism: pp.map(|(p,)| p),
                    pinned_rate: pr,
                    created_at: c,
                    updated_at: w,
                },
                reset_rate: reset,
            },
            Wire::Resync => Remote::Resync,
        }
    }
}

#[derive(Serialize)]
struct Header<'a> {
    n: &'a str,
    s: u64,
}

#[derive(Deserialize)]
struct Whole {
    n: String,
    c: Vec<Wire>,
}

/// Numbers every payload of this process: PostgreSQL folds identical
/// payloads sent in one transaction into one, and the writer commits many
/// jobs in one transaction (two identical "schedule X next at S" around a
/// pause must both arrive).
static SEQ: AtomicU64 = AtomicU64::new(0);

/// The payloads announcing `changes`, committed by `node`, in order; none
/// when there are no changes. Each is under [`MAX_PAYLOAD`] bytes.
pub fn encode(node: &str, changes: &[Change]) -> Vec<String> {
    encode_all(node, changes)
}

/// [`encode`] over the changes of several jobs at once (the writer's whole
/// batch, before its COMMIT), without collecting them first.
pub fn encode_all<'a>(node: &str, changes: impl IntoIterator<Item = &'a Change>) -> Vec<String> {
    let mut payloads = Vec::new();
    let mut changes = changes.into_iter().peekable();
    if changes.peek().is_none() {
        return payloads;
    }
    let resync = serde_json::to_string(&Wire::Resync).expect("a unit variant serialises");
    let mut current = String::new();
    let open = |out: &mut String| {
        let header = Header {
            n: node,
            s: SEQ.fetch_add(1, Ordering::Relaxed),
        };
        let mut head = serde_json::to_string(&header).expect("a header serialises");
        head.pop(); // the closing brace
        out.push_str(&head);
        out.push_str(",\"c\":[");
    };
    // `]}` closes a payload.
    const CLOSE: usize = 2;
    for change in changes {
        let mut item = serde_json::to_string(&Wire::of(change)).expect("a change serialises");
        if current.is_empty() {
            open(&mut current);
        }
        let fits = |current: &String, item: &String| {
            let comma = usize::from(!current.ends_with('['));
            current.len() + comma + item.len() + CLOSE < MAX_PAYLOAD
        };
        if !fits(&current, &item) && !current.ends_with('[') {
            current.push_str("]}");
            payloads.push(std::mem::take(&mut current));
            open(&mut current);
        }
        if !fits(&current, &item) {
            item = resync.clone();
        }
        if !current.ends_with('[') {
            current.push(',');
        }
        current.push_str(&item);
    }
    current.push_str("]}");
    payloads.push(current);
    payloads
}

/// A payload read back; `None` if it is not one (the listener then asks
/// for a re-read, so a notice it cannot read is not lost).
pub fn decode(payload: &str) -> Option<Notice> {
    let whole: Whole = serde_json::from_str(payload).ok()?;
    Some(Notice {
        node: whole.n,
        changes: whole.c.into_iter().map(Wire::into_remote).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Message;
    use proptest::prelude::*;

    fn message(id: &str, url: &str, due_at: Millis, queue: Option<&str>) -> Message {
        let mut m = Message::new(url.into(), Default::default(), Vec::new(), 0, due_at);
        m.id = id.into();
        m.delivery.queue_name = queue.map(Into::into);
        m
    }

    fn flow(key: &str) -> FlowSettings {
        FlowSettings {
            key: key.into(),
            parallelism: Some(3),
            rate: None,
            period: 60,
            paused: true,
            pinned_parallelism: Some(None),
            pinned_rate: Some((Some(10), 5)),
            created_at: 1,
            updated_at: 2,
        }
    }

    /// Every kind of change, and what the leader gets of it.
    fn table() -> Vec<(Change, Remote)> {
        vec![
            (
                Change::Pending(Box::new(message("msg_1", "http://a:1/x", 42, Some("q1")))),
                Remote::Pending(Pending {
                    id: "msg_1".into(),
                    url: "http://a:1/x".into(),
                    due_at: 42,
                    queue: Some("q1".into()),
                    flow: None,
                }),
            ),
            (
                Change::Schedule {
                    id: "scd_1".into(),
                    next: Some(7),
                },
                Remote::Schedule {
                    id: "scd_1".into(),
                    next: Some(7),
                },
            ),
            (
                Change::Schedule {
                    id: "scd_2".into(),
                    next: None,
                },
                Remote::Schedule {
                    id: "scd_2".into(),
                    next: None,
                },
            ),
            (Change::Gone("msg_2".into()), Remote::Gone("msg_2".into())),
            (
                Change::Queue {
                    name: "q\"\\é".into(),
                    parallelism: 4,
                    paused: true,
                },
                Remote::Queue {
                    name: "q\"\\é".into(),
                    parallelism: 4,
                    paused: true,
                },
            ),
            (
                Change::QueueGone("q2".into()),
                Remote::QueueGone("q2".into()),
            ),
            (
                Change::Keys(crate::model::SigningKeys {
                    current: "secret".into(),
                    next: "secret2".into(),
                }),
                Remote::KeysChanged,
            ),
            (
                Change::Flow {
                    settings: flow("k1"),
                    reset_rate: true,
                },
                Remote::Flow {
                    settings: flow("k1"),
                    reset_rate: true,
                },
            ),
        ]
    }

    #[test]
    fn every_kind_of_change_round_trips() {
        for (change, remote) in table() {
            let payloads = encode("node_a", std::slice::from_ref(&change));
            assert_eq!(payloads.len(), 1, "{change:?}");
            let notice = decode(&payloads[0]).expect("decodes");
            assert_eq!(notice.node, "node_a");
            assert_eq!(notice.changes, vec![remote], "{change:?}");
        }
    }

    #[test]
    fn a_pending_message_travels_without_its_body_and_keys_without_secrets() {
        let mut m = message("msg_b", "http://a:1/", 1, None);
        m.body = b"the body".to_vec();
        let payloads = encode("n", &[Change::Pending(Box::new(m))]);
        assert!(!payloads[0].contains("the body"), "{}", payloads[0]);
        let keys = encode(
            "n",
            &[Change::Keys(crate::model::SigningKeys {
                current: "sig_secret".into(),
                next: "sig_next".into(),
            })],
        );
        assert!(!keys[0].contains("sig_"), "{}", keys[0]);
    }

    #[test]
    fn identical_changes_in_one_transaction_make_distinct_payloads() {
        let change = || Change::Gone("msg_same".into());
        let first = encode("n", &[change()]);
        let second = encode("n", &[change()]);
        assert_ne!(first, second, "PostgreSQL would fold identical payloads");
    }

    #[test]
    fn the_changes_of_several_jobs_encode_as_one_list_in_order() {
        let first = [Change::Gone("a".into()), Change::Gone("b".into())];
        let second = [Change::QueueGone("q".into())];
        let payloads = encode_all("n", first.iter().chain(&second));
        let changes: Vec<Remote> = payloads
            .iter()
            .flat_map(|p| decode(p).unwrap().changes)
            .collect();
        assert_eq!(
            changes,
            [
                Remote::Gone("a".into()),
                Remote::Gone("b".into()),
                Remote::QueueGone("q".into())
            ]
        );
        assert!(encode_all("n", first.iter().take(0)).is_empty());
    }

    #[test]
    fn no_changes_no_payload() {
        assert!(encode("n", &[]).is_empty());
    }

    #[test]
    fn a_change_too_big_for_a_payload_becomes_a_re_read() {
        let huge = "h".repeat(MAX_PAYLOAD);
        let payloads = encode(
            "n",
            &[
                Change::Gone("before".into()),
                Change::Gone(huge),
                Change::Gone("after".into()),
            ],
        );
        let changes: Vec<Remote> = payloads
            .iter()
            .flat_map(|p| {
                assert!(p.len() < MAX_PAYLOAD);
                decode(p).unwrap().changes
            })
            .collect();
        assert_eq!(
            changes,
            [
                Remote::Gone("before".into()),
                Remote::Resync,
                Remote::Gone("after".into())
            ]
        );
    }

    #[test]
    fn what_is_not_a_notice_decodes_to_none() {
        for bad in ["", "{}", "[1]", r#"{"n":"a","c":[{"t":"zz"}]}"#, "not json"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// However many changes, of whatever size: every payload fits, and
        /// the payloads read in order give back every change in order.
        #[test]
        fn splitting_keeps_every_change_in_order(
            ids in proptest::collection::vec("[a-z0-9_\"\\\\é]{1,300}", 0..120),
            nexts in proptest::collection::vec(proptest::option::of(0i64..i64::MAX), 120),
        ) {
            let changes: Vec<Change> = ids
                .iter()
                .zip(&nexts)
                .enumerate()
                .map(|(i, (id, next))| match i % 3 {
                    0 => Change::Gone(id.clone()),
                    1 => Change::Schedule { id: id.clone(), next: *next },
                    _ => Change::Pending(Box::new(message(id, id, next.unwrap_or(0), Some(id)))),
                })
                .collect();
            let want: Vec<Remote> = changes
                .iter()
                .map(|c| decode(&encode("node_p", std::slice::from_ref(c))[0]).unwrap().changes.remove(0))
                .collect();
            let payloads = encode("node_p", &changes);
            let mut got = Vec::new();
            for p in &payloads {
                prop_assert!(p.len() < MAX_PAYLOAD, "{} bytes", p.len());
                let notice = decode(p).unwrap();
                prop_assert_eq!(&notice.node, "node_p");
                prop_assert!(!notice.changes.is_empty());
                got.extend(notice.changes);
            }
            prop_assert_eq!(got, want);
        }
    }
}
