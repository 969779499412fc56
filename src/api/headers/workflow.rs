//! The Upstash Workflow headers of a publish or batch item (workflow-wire
//! §2.1): which run a message belongs to and what it is to it, and the
//! trigger settings an Init message gives its run (§TL;DR 4, §3.2).

use http::HeaderMap;

use super::HeaderError;
use crate::model::{
    canonical_header_name, is_transport_or_delivery_header, Delivery, HeaderMap as Headers, Role,
    RunConfig, RunInit, WorkflowLink,
};
use crate::workflow::RUN_ID_HEADER;

const RUN_ID: &str = "upstash-workflow-runid";
const INIT: &str = "upstash-workflow-init";
const URL: &str = "upstash-workflow-url";
const CALL_TYPE: &str = "upstash-workflow-calltype";

/// Reads the workflow headers of a publish or batch item. `None` for a plain
/// message. `delivery` is the message's parsed settings (the trigger config
/// of an Init comes from them) and `destination` its URL.
pub fn link_from_headers(
    headers: &HeaderMap,
    delivery: &Delivery,
    destination: &str,
) -> Result<Option<WorkflowLink>, HeaderError> {
    let value = |name: &str| -> Result<Option<String>, HeaderError> {
        match headers.get(name) {
            None => Ok(None),
            Some(v) => v
                .to_str()
                .map(|s| Some(s.trim().to_owned()).filter(|s| !s.is_empty()))
                .map_err(|_| HeaderError {
                    header: canonical_header_name(name),
                    problem: "value is not valid text".into(),
                }),
        }
    };
    let Some(run_id) = value(RUN_ID)? else {
        return Ok(None);
    };
    if run_id.len() > 200 || run_id.chars().any(|c| c.is_control() || c == '/') {
        return Err(HeaderError {
            header: RUN_ID_HEADER.into(),
            problem: "must be 1 to 200 characters without '/'".into(),
        });
    }
    let init = match value(INIT)?.as_deref() {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return Err(HeaderError {
                header: "Upstash-Workflow-Init".into(),
                problem: format!("\"{v}\" is not true or false"),
            })
        }
    };
    let call = value(CALL_TYPE)?.is_some_and(|v| v.eq_ignore_ascii_case("toCallback"));
    let role = if call && !init {
        Role::Call
    } else {
        Role::Step
    };
    let init = init.then(|| {
        Box::new(RunInit {
            url: value(URL)
                .ok()
                .flatten()
                .unwrap_or_else(|| destination.to_owned()),
            config: run_config_from_trigger(headers, delivery),
            parent: None,
        })
    });
    Ok(Some(WorkflowLink { run_id, role, init }))
}

/// The config of a run from its Init message: `delivery` is the Init's
/// parsed settings, `headers` its raw request headers (for the user's
/// forwarded headers, which `delivery.headers` mixes with Content-Type).
pub fn run_config_from_trigger(headers: &HeaderMap, delivery: &Delivery) -> RunConfig {
    let mut user = Headers::new();
    for (name, value) in headers {
        let Some(rest) = name.as_str().strip_prefix("upstash-forward-") else {
            continue;
        };
        if rest.is_empty()
            || rest.starts_with("upstash-workflow-")
            || is_transport_or_delivery_header(rest)
        {
            continue;
        }
        let Ok(v) = std::str::from_utf8(value.as_bytes()) else {
            continue;
        };
        user.entry(canonical_header_name(rest))
            .or_default()
            .push(v.trim().to_owned());
    }
    RunConfig {
        retries: delivery.retries,
        retry_delay: delivery.retry_delay.clone(),
        flow_control: delivery.flow_control.clone(),
        failure_callback: delivery.failure_callback.clone(),
        failure_callback_headers: delivery.failure_callback_headers.clone(),
        failure_callback_options: delivery.failure_callback_options.clone(),
        labels: delivery.labels.clone(),
        headers: user,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn the_role_follows_init_and_call_type() {
        let d = Delivery::default();
        let dest = "http://127.0.0.1:1/wf";
        let link = |pairs: &[(&str, &str)]| link_from_headers(&headers(pairs), &d, dest).unwrap();
        assert_eq!(link(&[]), None, "no RunId: a plain message");
        let init = link(&[(RUN_ID, "wfr_1"), (INIT, "true")]).unwrap();
        assert_eq!(init.role, Role::Step);
        assert_eq!(init.init.unwrap().url, dest, "the destination by default");
        let step = link(&[(RUN_ID, "wfr_1"), (INIT, "false")]).unwrap();
        assert_eq!((step.role, step.init), (Role::Step, None));
        let call = link(&[
            (RUN_ID, "wfr_1"),
            (INIT, "false"),
            (CALL_TYPE, "toCallback"),
        ])
        .unwrap();
        assert_eq!(call.role, Role::Call);
        let wait = link(&[(RUN_ID, "wfr_1"), (CALL_TYPE, "step")]).unwrap();
        assert_eq!(wait.role, Role::Step);
        let with_url = link(&[(RUN_ID, "r"), (INIT, "true"), (URL, "http://x/wf")]).unwrap();
        assert_eq!(with_url.init.unwrap().url, "http://x/wf");
    }

    #[test]
    fn bad_workflow_headers_name_the_header() {
        let d = Delivery::default();
        let err = link_from_headers(&headers(&[(RUN_ID, "r"), (INIT, "yes")]), &d, "http://x")
            .unwrap_err();
        assert_eq!(err.header, "Upstash-Workflow-Init");
        let err = link_from_headers(&headers(&[(RUN_ID, "a/b")]), &d, "http://x").unwrap_err();
        assert_eq!(err.header, RUN_ID_HEADER);
    }

    #[test]
    fn the_trigger_keeps_user_headers_without_workflow_or_transport_ones() {
        let raw = headers(&[
            ("upstash-forward-x-auth", "secret"),
            ("upstash-forward-upstash-workflow-sdk-version", "1"),
            ("upstash-forward-upstash-label", "nightly"),
            ("upstash-forward-host", "127.0.0.1:3000"),
            ("upstash-forward-content-length", "12"),
            ("upstash-forward-upstash-signature", "old.jwt"),
            ("upstash-forward-connection", "keep-alive"),
            ("upstash-workflow-runid", "wfr_1"),
            ("content-type", "application/json"),
        ]);
        let d = Delivery {
            retries: 1,
            retry_delay: Some("1000".into()),
            failure_callback: Some("http://127.0.0.1:1/wf".into()),
            ..Delivery::default()
        };
        let c = run_config_from_trigger(&raw, &d);
        let names: Vec<&str> = c.headers.keys().map(String::as_str).collect();
        assert_eq!(names, ["Upstash-Label", "X-Auth"]);
        assert_eq!(c.headers["X-Auth"], ["secret"]);
        assert_eq!((c.retries, c.retry_delay.as_deref()), (1, Some("1000")));
        assert_eq!(c.failure_callback.as_deref(), Some("http://127.0.0.1:1/wf"));
    }

    #[test]
    fn a_trigger_without_settings_means_qstash_defaults() {
        let c = run_config_from_trigger(&HeaderMap::new(), &Delivery::default());
        assert_eq!(c, RunConfig::default());
        assert_eq!(
            c.retries, 3,
            "a missing Upstash-Retries means 3 (workflow-wire §7.4)"
        );
    }
}
