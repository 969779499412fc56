//! Selecting messages, DLQ entries and log entries by the QStash filter keys
//! (§4.4, §4.8, §4.9): values within one key are ORed, keys are ANDed, and a
//! key given no value does not constrain.

use crate::model::{Delivery, LogState, Millis, StateFilter};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub message_ids: Vec<String>,
    pub dlq_ids: Vec<String>,
    pub urls: Vec<String>,
    pub hosts: Vec<String>,
    pub paths: Vec<String>,
    pub labels: Vec<String>,
    pub schedule_ids: Vec<String>,
    pub queue_names: Vec<String>,
    pub topic_names: Vec<String>,
    pub flow_control_keys: Vec<String>,
    pub caller_ips: Vec<String>,
    /// Log states; `IN_PROGRESS` stands for ACTIVE, RETRY and ERROR.
    pub states: Vec<StateFilter>,
    pub response_statuses: Vec<u16>,
    /// Inclusive bounds on the item's time (creation, failure or log time).
    pub from: Option<Millis>,
    pub to: Option<Millis>,
}

/// What a filter looks at in one item.
pub struct Subject<'a> {
    pub message_id: &'a str,
    pub dlq_id: Option<&'a str>,
    pub url: &'a str,
    pub schedule_id: Option<&'a str>,
    pub caller_ip: Option<&'a str>,
    pub delivery: &'a Delivery,
    pub state: Option<LogState>,
    pub response_status: Option<u16>,
    pub time: Millis,
}

fn any_of(wanted: &[String], value: Option<&str>) -> bool {
    wanted.is_empty() || value.is_some_and(|v| wanted.iter().any(|w| w == v))
}

/// Host and path of an http(s) URL, without parsing more than needed.
fn host_and_path(url: &str) -> (&str, &str) {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let path = path.split(['?', '#']).next().unwrap_or("");
    (host, if path.is_empty() { "/" } else { path })
}

impl Filter {
    pub fn matches(&self, s: &Subject) -> bool {
        let (host, path) = host_and_path(s.url);
        let host_no_port = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
        let d = s.delivery;
        any_of(&self.message_ids, Some(s.message_id))
            && any_of(&self.dlq_ids, s.dlq_id)
            && any_of(&self.urls, Some(s.url))
            && (self.hosts.is_empty() || self.hosts.iter().any(|h| h == host || h == host_no_port))
            && any_of(&self.paths, Some(path))
            && (self.labels.is_empty() || d.labels.iter().any(|l| self.labels.contains(l)))
            && any_of(&self.schedule_ids, s.schedule_id)
            && any_of(&self.queue_names, d.queue_name.as_deref())
            && any_of(&self.topic_names, d.topic.as_ref().map(|t| t.name.as_str()))
            && any_of(
                &self.flow_control_keys,
                d.flow_control.as_ref().map(|f| f.key.as_str()),
            )
            && any_of(&self.caller_ips, s.caller_ip)
            && (self.states.is_empty()
                || s.state
                    .is_some_and(|st| self.states.iter().any(|f| f.matches(st))))
            && (self.response_statuses.is_empty()
                || s.response_status
                    .is_some_and(|st| self.response_statuses.contains(&st)))
            && self.from.is_none_or(|f| s.time >= f)
            && self.to.is_none_or(|t| s.time <= t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject<'a>(d: &'a Delivery, url: &'a str) -> Subject<'a> {
        Subject {
            message_id: "msg_1",
            dlq_id: Some("1-1"),
            url,
            schedule_id: Some("scd_1"),
            caller_ip: Some("127.0.0.1"),
            delivery: d,
            state: Some(LogState::Retry),
            response_status: Some(500),
            time: 1000,
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn each_key_selects_and_keys_combine() {
        let d = Delivery {
            labels: strings(&["a", "b"]),
            queue_name: Some("q".into()),
            ..Delivery::default()
        };
        let url = "https://api.test:8443/hooks/x?y=1";
        let table: Vec<(&str, Filter, bool)> = vec![
            ("empty matches all", Filter::default(), true),
            (
                "message id",
                Filter {
                    message_ids: strings(&["msg_0", "msg_1"]),
                    ..Default::default()
                },
                true,
            ),
            (
                "other message id",
                Filter {
                    message_ids: strings(&["msg_0"]),
                    ..Default::default()
                },
                false,
            ),
            (
                "dlq id",
                Filter {
                    dlq_ids: strings(&["1-1"]),
                    ..Default::default()
                },
                true,
            ),
            (
                "url",
                Filter {
                    urls: strings(&[url]),
                    ..Default::default()
                },
                true,
            ),
            (
                "host with port",
                Filter {
                    hosts: strings(&["api.test:8443"]),
                    ..Default::default()
                },
                true,
            ),
            (
                "host without port",
                Filter {
                    hosts: strings(&["api.test"]),
                    ..Default::default()
                },
                true,
            ),
            (
                "path",
                Filter {
                    paths: strings(&["/hooks/x"]),
                    ..Default::default()
                },
                true,
            ),
            (
                "label, one of",
                Filter {
                    labels: strings(&["z", "b"]),
                    ..Default::default()
                },
                true,
            ),
            (
                "label missing",
                Filter {
                    labels: strings(&["z"]),
                    ..Default::default()
                },
                false,
            ),
            (
                "schedule",
                Filter {
                    schedule_ids: strings(&["scd_1"]),
                    ..Default::default()
                },
                true,
            ),
            (
                "queue",
                Filter {
                    queue_names: strings(&["q"]),
                    ..Default::default()
                },
                true,
            ),
            (
                "topic unset",
                Filter {
                    topic_names: strings(&["t"]),
                    ..Default::default()
                },
                false,
            ),
            (
                "flow key unset",
                Filter {
                    flow_control_keys: strings(&["k"]),
                    ..Default::default()
                },
                false,
            ),
            (
                "caller ip",
                Filter {
                    caller_ips: strings(&["127.0.0.1"]),
                    ..Default::default()
                },
                true,
            ),
            (
                "state",
                Filter {
                    states: vec![StateFilter::Is(LogState::Retry)],
                    ..Default::default()
                },
                true,
            ),
            (
                "IN_PROGRESS alias",
                Filter {
                    states: vec![StateFilter::InProgress],
                    ..Default::default()
                },
                true,
            ),
            (
                "other state",
                Filter {
                    states: vec![StateFilter::Is(LogState::Delivered)],
                    ..Default::default()
                },
                false,
            ),
            (
                "status",
                Filter {
                    response_statuses: vec![500],
                    ..Default::default()
                },
                true,
            ),
            (
                "inclusive range",
                Filter {
                    from: Some(1000),
                    to: Some(1000),
                    ..Default::default()
                },
                true,
            ),
            (
                "after range",
                Filter {
                    to: Some(999),
                    ..Default::default()
                },
                false,
            ),
            (
                "AND across keys",
                Filter {
                    labels: strings(&["a"]),
                    paths: strings(&["/nope"]),
                    ..Default::default()
                },
                false,
            ),
        ];
        for (name, filter, want) in table {
            assert_eq!(filter.matches(&subject(&d, url)), want, "{name}");
        }
    }

    #[test]
    fn host_and_path_are_read_from_urls() {
        assert_eq!(host_and_path("http://a.test"), ("a.test", "/"));
        assert_eq!(
            host_and_path("http://u@a.test:1/p/q?x#f"),
            ("a.test:1", "/p/q")
        );
    }
}
