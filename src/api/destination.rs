//! Destinations in the request path (§1 rule 1, §2.2).

use crate::model::{valid_name, Destination};

/// QStash's own wording for a destination that is not a URL (§2.2).
pub const INVALID_SCHEME: &str =
    "invalid destination url: endpoint has invalid scheme, add http:// or https://";

/// Checks an absolute http(s) URL and returns it as it will be used.
/// `https:/host` (a proxy collapsed the `//`) is repaired.
pub fn validate_url(raw: &str) -> Result<String, String> {
    let lower = raw.get(..8).unwrap_or(raw).to_ascii_lowercase();
    let url = if lower.starts_with("http://") || lower.starts_with("https://") {
        raw.to_owned()
    } else if let Some(rest) = lower
        .strip_prefix("https:/")
        .map(|_| &raw[7..])
        .or_else(|| lower.strip_prefix("http:/").map(|_| &raw[6..]))
    {
        let scheme = if lower.starts_with("https") {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{rest}")
    } else {
        return Err(INVALID_SCHEME.into());
    };
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("invalid destination url {url:?}: {e}"))?;
    match uri.host() {
        Some(h) if !h.is_empty() => Ok(url),
        _ => Err(format!("invalid destination url {url:?}: it has no host")),
    }
}

/// Whether a path's rest starts like an http(s) URL (rather than a schedule
/// id or a URL group name).
pub fn looks_like_url(rest: &str) -> bool {
    let lower = rest.get(..6).unwrap_or(rest).to_ascii_lowercase();
    lower.starts_with("http:") || lower.starts_with("https")
}

/// A destination that must be a URL (a callback, a wait's URL), checked.
pub fn checked(destination: &str) -> Result<String, String> {
    if !looks_like_url(destination) {
        return Err(format!("{INVALID_SCHEME} (destination {destination:?})"));
    }
    validate_url(destination)
}

/// A publish or schedule destination (§2.2): what starts like an http(s)
/// URL is a URL and is checked; anything else names a URL group and must be
/// a valid group name (`[A-Za-z0-9._-]+`).
pub fn parse(destination: &str) -> Result<Destination, String> {
    if looks_like_url(destination) {
        return validate_url(destination).map(Destination::Url);
    }
    if valid_name(destination) {
        return Ok(Destination::Group(destination.to_owned()));
    }
    Err(format!(
        "{INVALID_SCHEME} (destination {destination:?} is neither an http(s) URL nor a \
         URL group name, which may use only A-Z, a-z, 0-9, '.', '_' and '-')"
    ))
}

/// The destination of `/v2/<resource>/<destination…>`: the rest of the path
/// taken verbatim, plus the request's query string minus cronhook's own keys
/// (`qstash_token`, `upstash-*`, `cronhook-*`), which belong to the API request.
pub fn from_path(rest: &str, query: Option<&str>) -> String {
    let kept: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or("").to_ascii_lowercase();
            key != "qstash_token" && !key.starts_with("upstash-") && !key.starts_with("cronhook-")
        })
        .collect();
    if kept.is_empty() {
        rest.to_owned()
    } else {
        format!("{rest}?{}", kept.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_one_slash_is_repaired() {
        let table: [(&str, Result<&str, &str>); 7] = [
            ("https://example.com/a?x=1", Ok("https://example.com/a?x=1")),
            ("http://127.0.0.1:3000/api", Ok("http://127.0.0.1:3000/api")),
            ("HTTPS://Example.com/", Ok("HTTPS://Example.com/")),
            ("https:/example.com/a", Ok("https://example.com/a")),
            ("ftp://example.com", Err(INVALID_SCHEME)),
            ("example.com/path", Err(INVALID_SCHEME)),
            ("http://", Err("invalid destination url")),
        ];
        for (raw, want) in table {
            match (validate_url(raw), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{raw}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{raw}: {got}"),
                (got, want) => panic!("{raw}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn names_are_groups_and_anything_else_is_refused() {
        assert_eq!(
            parse("my.group_1-x"),
            Ok(Destination::Group("my.group_1-x".into()))
        );
        assert_eq!(
            parse("https://a.test/"),
            Ok(Destination::Url("https://a.test/".into()))
        );
        for bad in ["", "a b", "example.com/path", "g?x=1", "ftp://a.test"] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(INVALID_SCHEME), "{bad}: {err}");
        }
    }

    #[test]
    fn the_query_string_belongs_to_the_destination_except_our_keys() {
        assert_eq!(from_path("https://a.test/x", None), "https://a.test/x");
        assert_eq!(
            from_path(
                "https://a.test/x",
                Some("y=1&qstash_token=t&upstash-delay=5s&cronhook-start-at=1&z=2")
            ),
            "https://a.test/x?y=1&z=2"
        );
        assert_eq!(
            from_path("https://a.test//double", Some("")),
            "https://a.test//double"
        );
    }
}
