//! URL groups (QStash "topics", §4.7): a named list of endpoints that a
//! publish or a schedule fans out to, one message per endpoint.

use serde::{Deserialize, Serialize};

use super::{Message, Millis};

/// A URL group as stored (§6.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlGroup {
    pub name: String,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// In the order they were first added.
    pub endpoints: Vec<Endpoint>,
}

/// One endpoint of a group. It is known by its name when it has one, else
/// by its URL (`key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub name: Option<String>,
    pub url: String,
}

impl Endpoint {
    /// The endpoint's identity within its group: `name:<name>` or `url:<url>`.
    pub fn key(&self) -> String {
        match &self.name {
            Some(n) => format!("name:{n}"),
            None => format!("url:{}", self.url),
        }
    }
}

/// Which endpoints a remove request means: the one with this name, every
/// one with this URL, or the one with both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSelector {
    pub name: Option<String>,
    pub url: Option<String>,
}

impl EndpointSelector {
    pub fn matches(&self, e: &Endpoint) -> bool {
        self.name
            .as_ref()
            .is_none_or(|n| e.name.as_ref() == Some(n))
            && self.url.as_ref().is_none_or(|u| &e.url == u)
            && (self.name.is_some() || self.url.is_some())
    }
}

/// Where a message, delivered through a group, came from: kept in its
/// delivery JSON so the message, its log entries and its DLQ entry show
/// `topicName` / `endpointName` (§6.1, §6.6) and the request carries
/// `Upstash-Topic-Name` (§7.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicLink {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub endpoint_name: Option<String>,
}

/// A publish or schedule destination (§2.2): an http(s) URL, or anything
/// else, which names a URL group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Url(String),
    Group(String),
}

impl Destination {
    /// How a stored schedule destination reads: it was checked at create, so
    /// a value that starts like a URL is one, anything else is a group name.
    pub fn of_stored(destination: &str) -> Destination {
        let lower = destination
            .get(..6)
            .unwrap_or(destination)
            .to_ascii_lowercase();
        if lower.starts_with("http:") || lower.starts_with("https") {
            Destination::Url(destination.to_owned())
        } else {
            Destination::Group(destination.to_owned())
        }
    }

    /// The text as stored and shown (`destination`, or a message's `url`
    /// before it is fanned out).
    pub fn as_str(&self) -> &str {
        match self {
            Destination::Url(u) | Destination::Group(u) => u,
        }
    }
}

/// Whether `name` is a valid group (or endpoint) name: `[A-Za-z0-9._-]+` (§2.2).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Message {
    /// The copy of `self` (a message addressed to group `group`) that goes
    /// to endpoint `e`: its own id, the endpoint's URL, the group link.
    pub fn for_endpoint(&self, group: &str, e: &Endpoint) -> Message {
        let mut m = self.clone();
        m.id = crate::ids::message_id();
        m.url = e.url.clone();
        m.delivery.topic = Some(TopicLink {
            name: group.to_owned(),
            endpoint_name: e.name.clone(),
        });
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_is_known_by_its_name_else_its_url() {
        let named = Endpoint {
            name: Some("a".into()),
            url: "http://x.test/".into(),
        };
        let plain = Endpoint {
            name: None,
            url: "http://x.test/".into(),
        };
        assert_eq!(named.key(), "name:a");
        assert_eq!(plain.key(), "url:http://x.test/");
        let by_url = EndpointSelector {
            name: None,
            url: Some("http://x.test/".into()),
        };
        assert!(by_url.matches(&named) && by_url.matches(&plain));
        let by_name = EndpointSelector {
            name: Some("a".into()),
            url: None,
        };
        assert!(by_name.matches(&named) && !by_name.matches(&plain));
        let nothing = EndpointSelector {
            name: None,
            url: None,
        };
        assert!(!nothing.matches(&named));
    }

    #[test]
    fn stored_destinations_are_urls_or_group_names() {
        assert_eq!(
            Destination::of_stored("https://a.test/"),
            Destination::Url("https://a.test/".into())
        );
        assert_eq!(
            Destination::of_stored("HTTP://a.test/"),
            Destination::Url("HTTP://a.test/".into())
        );
        assert_eq!(
            Destination::of_stored("my-group"),
            Destination::Group("my-group".into())
        );
        assert!(valid_name("a.b_c-1") && !valid_name("") && !valid_name("a/b"));
    }
}
