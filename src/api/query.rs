//! Query strings of the list and bulk endpoints: repeated keys or
//! comma-separated values, filters (§4.4, §4.8, §4.9), `count` and `cursor`.

use serde_json::Value;

use super::ApiError;
use crate::filter::Filter;
use crate::model::state;

pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(query: Option<&str>) -> Result<Query, ApiError> {
        serde_urlencoded::from_str(query.unwrap_or(""))
            .map(|pairs| Query { pairs })
            .map_err(|e| ApiError::BadRequest(format!("query string: {e}")))
    }

    /// Every value of `key`: repeated keys and comma-separated values.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The keys given, in order (repeats included).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(k, _)| k.as_str())
    }

    /// The first value of `key`, trimmed, if not empty.
    pub fn one(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// `key` as a whole number, if given.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        self.one(key)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    ApiError::BadRequest(format!("{key}: \"{v}\" is not a whole number"))
                })
            })
            .transpose()
    }

    /// `count`, 1 to `max`, or `default` when absent.
    pub fn count(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        match self.int("count")? {
            None => Ok(default),
            Some(n) if n >= 1 && n as usize <= max => Ok(n as usize),
            Some(n) => Err(ApiError::BadRequest(format!(
                "count: {n} is not from 1 to {max}"
            ))),
        }
    }

    /// The opaque cursor: the position where the previous page stopped.
    pub fn cursor(&self) -> Result<Option<i64>, ApiError> {
        match self.one("cursor") {
            None => Ok(None),
            Some(c) => c.parse::<i64>().map(Some).map_err(|_| {
                ApiError::BadRequest(format!(
                    "cursor: \"{c}\" is not a cursor this server gave out"
                ))
            }),
        }
    }

    /// The filter keys the SDKs send.
    pub fn filter(&self) -> Result<Filter, ApiError> {
        let mut message_ids = self.all("messageIds");
        message_ids.extend(self.all("messageId"));
        let mut caller_ips = self.all("callerIp");
        caller_ips.extend(self.all("callerIP"));
        let states = self.all("state");
        if let Some(bad) = states.iter().find(|s| !state::ALL.contains(&s.as_str())) {
            return Err(ApiError::BadRequest(format!(
                "state: \"{bad}\" is not one of {}",
                state::ALL.join(", ")
            )));
        }
        let response_statuses = self
            .all("responseStatus")
            .iter()
            .map(|s| {
                s.parse::<u16>().map_err(|_| {
                    ApiError::BadRequest(format!("responseStatus: \"{s}\" is not a status code"))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Filter {
            message_ids,
            dlq_ids: self.all("dlqIds"),
            urls: self.all("url"),
            hosts: self.all("host"),
            paths: self.all("path"),
            labels: self.all("label"),
            schedule_ids: self.all("scheduleId"),
            queue_names: self.all("queueName"),
            topic_names: self.all("topicName"),
            flow_control_keys: self.all("flowControlKey"),
            caller_ips,
            states,
            response_statuses,
            from: self.int("fromDate")?,
            to: self.int("toDate")?,
        })
    }
}

/// The ids in a JSON body like `{"messageIds": ["a", "b"]}` (the older SDKs'
/// bulk form); empty when there is no body.
pub fn ids_from_body(body: &[u8], key: &str) -> Result<Vec<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("request body is not valid JSON: {e}")))?;
    let Some(list) = value.get(key) else {
        return Ok(Vec::new());
    };
    list.as_array()
        .and_then(|items| {
            items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| ApiError::BadRequest(format!("{key} must be an array of strings")))
}

/// A page cursor for the response: present only when there is a next page.
pub fn cursor_json(next: Option<i64>) -> Option<Value> {
    next.map(|n| Value::String(n.to_string()))
}
