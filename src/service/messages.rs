//! Messages (§4.1–4.4): publish, enqueue, batch, get, cancel.

use sha2::{Digest, Sha256};

use super::{Service, ServiceError, ServiceResult};
use crate::filter::Filter;
use crate::model::{Delivery, Destination, Message, Millis};
use crate::retry::RetryDelayExpr;
use crate::store::{NewMessage, PublishedItem};

/// A parsed publish request (one batch item, one enqueue).
#[derive(Debug, Clone)]
pub struct PublishRequest {
    /// A checked http(s) URL, or a URL group to fan out to (§2.2).
    pub destination: Destination,
    pub delivery: Delivery,
    pub body: Vec<u8>,
    /// `Upstash-Not-Before` in ms; overrides the delivery's delay (§5.1).
    pub not_before: Option<Millis>,
    pub deduplication_id: Option<String>,
    pub content_based_deduplication: bool,
    pub caller_ip: Option<String>,
    /// The queue of an enqueue or of a batch item with `queue` (§4.2).
    pub queue: Option<String>,
}

/// Which pending messages a bulk cancel means (§4.4).
#[derive(Debug, Clone)]
pub enum MessageSelector {
    Ids(Vec<String>),
    /// Those matching, oldest first, at most `limit`.
    Filter {
        filter: Box<Filter>,
        limit: usize,
    },
    /// Every pending message, at most `limit`: only for a request that names
    /// no selector at all, as the SDKs' "cancel all" sends it.
    All {
        limit: usize,
    },
}

fn invalid(field: &str, problem: impl std::fmt::Display) -> ServiceError {
    ServiceError::Invalid(format!("{field}: {problem}"))
}

/// A retry-delay expression must give a delay of 0 or more for every retry
/// the message (and each of its callbacks) may make; a negative or NaN one
/// would be clamped silently at attempt time, which is not what was asked.
pub(super) fn check_retry_delays(d: &Delivery) -> ServiceResult<()> {
    let check = |field: &str, expr: Option<&String>, retries: u32| -> ServiceResult<()> {
        let Some(src) = expr else { return Ok(()) };
        let expr = RetryDelayExpr::parse(src).map_err(|e| invalid(field, e))?;
        expr.check(retries).map_err(|e| invalid(field, e))
    };
    check("Upstash-Retry-Delay", d.retry_delay.as_ref(), d.retries)?;
    for (field, o) in [
        ("Upstash-Callback-Retry-Delay", &d.callback_options),
        (
            "Upstash-Failure-Callback-Retry-Delay",
            &d.failure_callback_options,
        ),
    ] {
        check(
            field,
            o.retry_delay.as_ref(),
            o.retries.unwrap_or(d.retries),
        )?;
    }
    Ok(())
}

/// §9.7: destination, body, and the forwarded headers (Content-Type included).
fn content_hash(m: &Message) -> String {
    let mut h = Sha256::new();
    h.update(m.url.as_bytes());
    h.update([0]);
    h.update(serde_json::to_vec(&m.delivery.headers).expect("JSON of strings"));
    h.update([0]);
    h.update(&m.body);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn not_found(id: &str) -> ServiceError {
    ServiceError::NotFound(format!(
        "message {id:?} not found (it may have been delivered, cancelled or moved to the DLQ)"
    ))
}

impl Service {
    /// Builds the message of a publish request and its deduplication keys,
    /// checking the rules between its fields. Nothing is stored yet: a batch
    /// prepares every item, then publishes the valid ones together.
    pub fn prepare_message(&self, r: PublishRequest) -> ServiceResult<NewMessage> {
        let mut delivery = r.delivery;
        if r.queue.is_some() && (r.not_before.is_some() || delivery.delay_ms > 0) {
            // §4.2: the server rejects delays on enqueue.
            return Err(invalid(
                "Upstash-Delay",
                "delay and not-before are not supported for enqueue",
            ));
        }
        check_retry_delays(&delivery)?;
        let group = match &r.destination {
            Destination::Url(_) => None,
            Destination::Group(_) if delivery.workflow.is_some() => {
                // A workflow step has one run to report to (§2.2).
                return Err(invalid(
                    "destination",
                    "a workflow message needs a URL, not a URL group",
                ));
            }
            Destination::Group(g) => Some(g.clone()),
        };
        if let Some(q) = r.queue {
            delivery.queue_name = Some(q);
        }
        let now = self.now();
        let due = r.not_before.unwrap_or(now + delivery.delay_ms as Millis);
        let url = r.destination.as_str().to_owned();
        let message = Message::new(url, delivery, r.body, now, due).from_caller(r.caller_ip);
        let mut dedup_keys = Vec::new();
        if let Some(id) = r.deduplication_id {
            dedup_keys.push(format!("id:{id}"));
        }
        if r.content_based_deduplication {
            dedup_keys.push(format!("content:{}", content_hash(&message)));
        }
        Ok(NewMessage {
            message,
            dedup_keys,
            group,
        })
    }

    /// Stores prepared messages in one transaction; answers each in order
    /// (a duplicate with the first message's id, §9.7; an item to a URL
    /// group with one answer per endpoint, or that the group does not exist).
    pub async fn publish(&self, items: Vec<NewMessage>) -> ServiceResult<Vec<PublishedItem>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let expires = self.now() + self.settings.dedup_window_ms;
        Ok(self.store.publish(items, expires).await?)
    }

    /// A message not yet delivered (delayed, retrying).
    pub async fn message(&self, id: &str) -> ServiceResult<Message> {
        self.store.message(id).await?.ok_or_else(|| not_found(id))
    }

    /// Cancels one pending message.
    pub async fn cancel_message(&self, id: &str) -> ServiceResult<()> {
        let cancelled = self
            .store
            .cancel(vec![id.to_owned()], Filter::default(), 1, self.now())
            .await?;
        if cancelled == 0 {
            return Err(not_found(id));
        }
        Ok(())
    }

    /// Cancels the selected pending messages; returns how many.
    pub async fn cancel_messages(&self, selector: MessageSelector) -> ServiceResult<usize> {
        let (ids, filter, limit) = match selector {
            MessageSelector::Ids(ids) if ids.is_empty() => {
                return Err(invalid("messageIds", "the list is empty"))
            }
            MessageSelector::Filter { filter, .. } if *filter == Filter::default() => {
                return Err(invalid("filter", "no filter value given"))
            }
            MessageSelector::Ids(ids) => (ids, Filter::default(), usize::MAX),
            MessageSelector::Filter { filter, limit } => (Vec::new(), *filter, limit),
            MessageSelector::All { limit } => (Vec::new(), Filter::default(), limit),
        };
        Ok(self.store.cancel(ids, filter, limit, self.now()).await?)
    }
}
