//! Query strings of the list and bulk endpoints: repeated keys or
//! comma-separated values, filters (§4.4, §4.8, §4.9), `count` and `cursor`.
//!
//! Bulk calls that delete, cancel or re-publish are strict: a key they do
//! not know, a selector given with no value, or a body that is not the one
//! documented shape is a 400 that names it. Only a request that names no
//! selector at all means "all", because that is how the SDKs send it; a
//! typo must never widen an action to everything.

use serde_json::Value;

use super::ApiError;
use crate::filter::Filter;
use crate::model::StateFilter;

/// The filter keys of pending messages (§4.4) and of the log (§4.9).
pub const MESSAGE_FILTERS: [&str; 13] = [
    "messageId",
    "url",
    "host",
    "path",
    "label",
    "scheduleId",
    "queueName",
    "topicName",
    "flowControlKey",
    "callerIp",
    "callerIP",
    "fromDate",
    "toDate",
];

/// The filter keys of the DLQ (§4.8): the message ones and the last status.
pub fn dlq_filters() -> Vec<&'static str> {
    let mut keys = MESSAGE_FILTERS.to_vec();
    keys.push("responseStatus");
    keys
}

/// The key the API takes the token from; it is never a selector.
const TOKEN_KEY: &str = "qstash_token";

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

    /// Whether `key` was given at all.
    pub fn has(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == key)
    }

    /// Whether any of `keys` was given.
    pub fn has_any(&self, keys: &[&str]) -> bool {
        keys.iter().any(|k| self.has(k))
    }

    /// Refuses every key not in `allowed` (the token aside) and every key
    /// given without a value, naming it; `what` names the endpoint.
    pub fn only(&self, allowed: &[&str], what: &str) -> Result<(), ApiError> {
        for (key, value) in &self.pairs {
            if key == TOKEN_KEY {
                continue;
            }
            if !allowed.contains(&key.as_str()) {
                return Err(ApiError::BadRequest(format!(
                    "{key}: not a parameter of {what}; use {}",
                    allowed.join(", ")
                )));
            }
            if value.split(',').all(|v| v.trim().is_empty()) {
                return Err(ApiError::BadRequest(format!(
                    "{key}: no value given (leave the key out instead)"
                )));
            }
        }
        Ok(())
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

    /// `key` as `true` or `false` (any case), if given.
    pub fn boolean(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.one(key) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(ApiError::BadRequest(format!(
                "{key}: \"{v}\" is not true or false"
            ))),
        }
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
        let states = self
            .all("state")
            .iter()
            .map(|s| {
                StateFilter::parse(s).ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "state: \"{s}\" is not one of {}",
                        StateFilter::names().join(", ")
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
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

/// The ids of a JSON body `{"<key>": ["a", "b"]}` (the older SDKs' bulk
/// form); `None` when there is no body. Any other body is refused: an empty
/// list, another key, another shape (`{}`, `null`, `[]`).
pub fn ids_from_body(body: &[u8], key: &str) -> Result<Option<Vec<String>>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let shape = || format!("request body: expected {{\"{key}\": [\"…\"]}}");
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("request body is not valid JSON: {e}")))?;
    let Value::Object(o) = value else {
        return Err(ApiError::BadRequest(shape()));
    };
    if let Some(other) = o.keys().find(|k| *k != key) {
        return Err(ApiError::BadRequest(format!(
            "request body: \"{other}\" is not a field; {}",
            shape().trim_start_matches("request body: ")
        )));
    }
    let Some(list) = o.get(key) else {
        return Err(ApiError::BadRequest(shape()));
    };
    let ids = list
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .map(|v| v.as_str().map(str::to_owned).filter(|s| !s.is_empty()))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| {
            ApiError::BadRequest(format!("{key}: must be an array of non-empty strings"))
        })?;
    if ids.is_empty() {
        return Err(ApiError::BadRequest(format!("{key}: the list is empty")));
    }
    Ok(Some(ids))
}

/// A page cursor for the response: present only when there is a next page.
pub fn cursor_json(next: Option<i64>) -> Option<Value> {
    next.map(|n| Value::String(n.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Query {
        Query::parse(Some(s)).unwrap()
    }

    #[test]
    fn strict_queries_refuse_unknown_and_empty_keys() {
        let allowed = ["messageIds", "url", "count"];
        let table: [(&str, Option<&str>); 7] = [
            ("", None),
            ("messageIds=a,b&count=5", None),
            ("qstash_token=t&url=http://x", None),
            ("messageid=x", Some("messageid: not a parameter")),
            ("foo=bar", Some("foo: not a parameter")),
            ("messageIds=", Some("messageIds: no value given")),
            ("messageIds=,", Some("messageIds: no value given")),
        ];
        for (query, want) in table {
            match (q(query).only(&allowed, "DELETE /v2/messages"), want) {
                (Ok(()), None) => {}
                (Err(e), Some(needle)) => assert!(e.to_string().contains(needle), "{query}: {e}"),
                (got, want) => panic!("{query}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn only_the_documented_body_names_ids() {
        let ok = ids_from_body(br#"{"messageIds":["a","b"]}"#, "messageIds").unwrap();
        assert_eq!(ok, Some(vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!(ids_from_body(b"  ", "messageIds").unwrap(), None);
        for bad in [
            &br#"{"messageIds":[]}"#[..],
            br#"{}"#,
            b"null",
            b"[]",
            br#"{"messageIds":["a"],"x":1}"#,
            br#"{"messageIds":"a"}"#,
            br#"{"messageIds":[""]}"#,
            b"{not json",
        ] {
            let err = ids_from_body(bad, "messageIds").unwrap_err().to_string();
            assert!(
                err.contains("messageIds") || err.contains("JSON") || err.contains("\"x\""),
                "{}: {err}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
