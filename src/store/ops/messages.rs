//! Pending messages: publishing (with deduplication), reading, cancelling,
//! and what the engine's timer loads.

use std::sync::Arc;

use crate::filter::{Filter, Subject};
use crate::model::{Endpoint, Message, Millis};
use crate::store::rows::{dedup, messages as rows};
use crate::store::{steps, Store, StoreError, Tx};

pub use crate::store::rows::messages::Pending;

/// A message to publish and its deduplication keys (§9.7).
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// For a group, the template of its endpoints' messages (its `url` is
    /// the group's name).
    pub message: Message,
    pub dedup_keys: Vec<String>,
    /// The URL group it is addressed to, fanned out at publish.
    pub group: Option<String>,
}

/// What a publish did with one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The new message's id, or for a duplicate the id of the message its
    /// key (or its run's Init) first created.
    pub id: String,
    pub url: String,
    pub duplicate: bool,
}

/// What a publish did with one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishedItem {
    One(Published),
    /// An item to a URL group: one answer per endpoint, in the group's order.
    Group(Vec<Published>),
    /// An item to a URL group that does not exist: nothing was stored for it.
    NoSuchGroup(String),
}

impl Store {
    /// Publishes each message unless one of its deduplication keys was seen
    /// within its window (keys live until `expires_at`); a duplicate stores
    /// nothing and answers the first message's id (§9.7). One transaction for
    /// all, so a batch costs one commit. An item to a URL group becomes one
    /// message per endpoint, the endpoints read in this transaction; its
    /// keys apply per endpoint. Workflow messages are checked
    /// against their run first: a repeated Init is a duplicate of the run's
    /// Init message, and an append to an ended run fails the whole call, so
    /// a batch is stored entirely or not at all.
    pub async fn publish(
        &self,
        items: Vec<NewMessage>,
        expires_at: Millis,
    ) -> Result<Vec<PublishedItem>, StoreError> {
        self.write(move |tx| {
            let mut results = Vec::with_capacity(items.len());
            for NewMessage {
                message,
                dedup_keys,
                group,
            } in items
            {
                let Some(group) = group else {
                    results.push(PublishedItem::One(publish_one(
                        tx,
                        message,
                        &dedup_keys,
                        expires_at,
                    )?));
                    continue;
                };
                let Some(messages) = steps::fan_out(tx, &message, &group)? else {
                    results.push(PublishedItem::NoSuchGroup(group));
                    continue;
                };
                let mut answers = Vec::with_capacity(messages.len());
                for m in messages {
                    // A dedup id or content hash applies to each endpoint's
                    // message on its own (docs/qstash-wire.md §9.7).
                    let endpoint = Endpoint {
                        name: m
                            .delivery
                            .topic
                            .as_ref()
                            .and_then(|t| t.endpoint_name.clone()),
                        url: m.url.clone(),
                    }
                    .key();
                    // A separator no header value or URL holds; PostgreSQL's
                    // TEXT cannot hold NUL, so it has its own.
                    let sep = match tx.dialect() {
                        crate::store::db::Dialect::Sqlite => '\u{0}',
                        crate::store::db::Dialect::Postgres => '\u{1}',
                    };
                    let keys: Vec<String> = dedup_keys
                        .iter()
                        .map(|k| format!("{k}{sep}group:{group}{sep}{endpoint}"))
                        .collect();
                    answers.push(publish_one(tx, m, &keys, expires_at)?);
                }
                results.push(PublishedItem::Group(answers));
            }
            Ok(results)
        })
        .await
    }

    /// A pending message, for the API.
    pub async fn message(&self, id: &str) -> Result<Option<Message>, StoreError> {
        let id = id.to_owned();
        self.read_api(move |conn| rows::get(conn, &id)).await
    }

    /// A pending message, for its attempt.
    pub async fn message_to_attempt(&self, id: &str) -> Result<Option<Message>, StoreError> {
        let id = id.to_owned();
        self.read_engine(move |conn| rows::get(conn, &id)).await
    }

    /// What the timer is loaded with at start-up: every unqueued message
    /// due by `until`, and every queued one, queues in enqueue order (so
    /// they keep their order across restarts). Attempts in flight at a
    /// crash are among them and are made again.
    pub async fn pending_at_start(&self, until: Millis) -> Result<Vec<Pending>, StoreError> {
        self.read_engine(move |conn| {
            let mut all = rows::queued(conn)?;
            all.extend(rows::due_between(conn, Millis::MIN, until)?);
            Ok(all)
        })
        .await
    }

    /// Unqueued messages due in `(after, until]`: the next stretch of the
    /// timer's window.
    pub async fn due_between(
        &self,
        after: Millis,
        until: Millis,
    ) -> Result<Vec<Pending>, StoreError> {
        self.read_engine(move |conn| rows::due_between(conn, after, until))
            .await
    }

    /// When the first unqueued message due after `after` is due, if any:
    /// when the timer's window must move on next.
    pub async fn first_due_after(&self, after: Millis) -> Result<Option<Millis>, StoreError> {
        self.read_engine(move |conn| rows::first_due_after(conn, after))
            .await
    }

    /// Cancels pending messages: those with `ids` if given, else those
    /// matching `filter` (in publish order), at most `limit`. Each is logged
    /// CANCEL_REQUESTED → CANCELED and never delivered. Returns how many.
    ///
    /// The work is split into transactions of at most [`CANCEL_CHUNK`]
    /// messages (ids, or pending rows looked through), each dropping its
    /// messages with their log rows, so a cancel of 100,000 messages holds
    /// one chunk in memory and never holds the writer for long. Each message
    /// is either taken (deleted and logged, in one commit) or left pending;
    /// a failure part way leaves the earlier chunks cancelled and the rest
    /// pending. A filtered or "all" cancel looks only at the messages
    /// pending when it began (up to the newest rowid then); SQLite may give
    /// a message published meanwhile the rowid of one just cancelled, and
    /// that message is then cancelled (and logged) too.
    pub async fn cancel(
        &self,
        ids: Vec<String>,
        filter: Filter,
        limit: usize,
        now: Millis,
    ) -> Result<usize, StoreError> {
        if !ids.is_empty() {
            let mut cancelled = 0;
            for chunk in ids.chunks(CANCEL_CHUNK) {
                let chunk = chunk.to_vec();
                cancelled += self
                    .write(move |tx| {
                        let mut n = 0;
                        for id in &chunk {
                            n += usize::from(steps::drop_message(tx, id, now)?);
                        }
                        Ok(n)
                    })
                    .await?;
            }
            return Ok(cancelled);
        }
        let filter = Arc::new(filter);
        let mut cancelled = 0;
        let mut after = 0;
        let mut until = None;
        while cancelled < limit {
            let want = limit - cancelled;
            let filter = filter.clone();
            let (n, scanned_to, end) = self
                .write(move |tx| {
                    let end = match until {
                        Some(end) => end,
                        None => rows::last_rowid(tx)?,
                    };
                    let chunk = rows::chunk_without_bodies(tx, after, end, CANCEL_CHUNK)?;
                    let scanned_to = chunk.last().map(|(rowid, _)| *rowid);
                    let mut n = 0;
                    for (_, m) in chunk {
                        if n == want {
                            break;
                        }
                        if filter.matches(&subject(&m)) {
                            n += usize::from(steps::drop_message(tx, &m.id, now)?);
                        }
                    }
                    Ok((n, scanned_to, end))
                })
                .await?;
            cancelled += n;
            match scanned_to {
                Some(rowid) => after = rowid,
                None => break,
            }
            until = Some(end);
        }
        Ok(cancelled)
    }
}

/// Pending messages one transaction of a bulk cancel looks through (at most
/// this many are cancelled per commit, each with two log rows).
pub const CANCEL_CHUNK: usize = 1000;

/// What a cancel filter matches a pending message on.
fn subject(m: &Message) -> Subject<'_> {
    Subject {
        message_id: &m.id,
        dlq_id: None,
        url: &m.url,
        schedule_id: m.schedule_id.as_deref(),
        caller_ip: m.caller_ip.as_deref(),
        delivery: &m.delivery,
        state: None,
        response_status: None,
        time: m.created_at,
    }
}

/// Stores one message unless it is a duplicate (of its run's Init, or by
/// one of its keys).
fn publish_one(
    tx: &mut Tx,
    m: Message,
    dedup_keys: &[String],
    expires_at: Millis,
) -> Result<Published, StoreError> {
    let url = m.url.clone();
    if let Some(first) = steps::admit_to_run(tx, &m)? {
        return Ok(Published {
            id: first,
            url,
            duplicate: true,
        });
    }
    // The keys are claimed before the message is stored, each by one
    // upsert that takes a key only while it is free or expired: on
    // PostgreSQL two nodes publishing the same key at once cannot both
    // win (the second waits for the first's commit, then finds it taken).
    let id = m.id.clone();
    for (i, key) in dedup_keys.iter().enumerate() {
        if let Some(first) = dedup::claim(tx, key, &id, m.created_at, expires_at)? {
            dedup::release(tx, &dedup_keys[..i], &id)?;
            return Ok(Published {
                id: first,
                url,
                duplicate: true,
            });
        }
    }
    steps::add_message(tx, m)?;
    Ok(Published {
        id,
        url,
        duplicate: false,
    })
}
