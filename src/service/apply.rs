//! Schedules as code: bring the stored schedules to a declared set
//! (`cronhook apply`, `serve --schedules`).
//!
//! Each declared schedule is compared with the stored one by its settings;
//! an equal one is not written at all, so applying the same declarations
//! twice keeps `createdAt`, the fire history and the armed slot. A changed
//! one is overwritten like an API create with its id (§10: `createdAt`
//! kept, re-armed at the next slot). Every declaration is checked before
//! anything is written, so a bad one leaves the store as it was.

use std::collections::{BTreeSet, HashMap};

use super::messages::check_retry_delays;
use super::schedules::{schedule_from, ScheduleRequest};
use super::{Service, ServiceError, ServiceResult};
use crate::model::{CallbackOptions, Delivery, Schedule};

/// One schedule as a schedules file declares it.
#[derive(Debug, Clone)]
pub struct DeclaredSchedule {
    /// `schedule_id` is required: declarations are matched by id.
    pub request: ScheduleRequest,
    pub paused: bool,
}

/// What applying did, or would do (`dry_run`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub created: Vec<String>,
    /// Each overwritten schedule with the settings that differed (the
    /// schedules file's key names).
    pub updated: Vec<(String, Vec<&'static str>)>,
    pub unchanged: Vec<String>,
    /// Stored schedules not declared, deleted because pruning was asked.
    pub pruned: Vec<String>,
    /// Stored schedules not declared, left alone (no pruning).
    pub untouched: Vec<String>,
    /// False for a dry run: nothing was written.
    pub applied: bool,
}

/// The rules a declaration must meet beyond its header parsing (the ones
/// the API's create checks in the service): the schedules file checks them
/// per entry, to report the entry's line.
pub fn check_declared(d: &DeclaredSchedule) -> ServiceResult<()> {
    if d.request.schedule_id.is_none() {
        return Err(ServiceError::Invalid(
            "a declared schedule needs an id".into(),
        ));
    }
    check_retry_delays(&d.request.delivery)
}

impl Service {
    /// Creates or overwrites every declared schedule whose settings differ
    /// from the stored ones, in the given order; then, with `prune`, deletes
    /// the stored schedules not declared. `dry_run` only reports.
    pub async fn apply_schedules(
        &self,
        declared: Vec<DeclaredSchedule>,
        prune: bool,
        dry_run: bool,
    ) -> ServiceResult<Applied> {
        if prune && declared.is_empty() {
            // An empty list with prune would delete every schedule: never
            // act on everything because nothing was named.
            return Err(ServiceError::Invalid(
                "prune with no declared schedules would delete every schedule; \
                 declare at least one, or delete them through the API"
                    .into(),
            ));
        }
        let mut ids = BTreeSet::new();
        for d in &declared {
            check_declared(d).map_err(|e| match (e, &d.request.schedule_id) {
                (ServiceError::Invalid(why), Some(id)) => {
                    ServiceError::Invalid(format!("schedule {id:?}: {why}"))
                }
                (e, _) => e,
            })?;
            let id = d.request.schedule_id.clone().unwrap_or_default();
            if !ids.insert(id.clone()) {
                return Err(ServiceError::Invalid(format!(
                    "schedule {id:?} is declared twice"
                )));
            }
        }
        // Bounds are checked against the clock before the store is read:
        // a bad declaration is reported without reading every stored
        // schedule first, and nothing is written until all have passed.
        let now = self.now();
        let mut wants = Vec::with_capacity(declared.len());
        for d in declared {
            let id = d.request.schedule_id.clone().unwrap_or_default();
            let mut want = schedule_from(d.request, now).map_err(|e| match e {
                ServiceError::Invalid(why) => {
                    ServiceError::Invalid(format!("schedule {id:?}: {why}"))
                }
                e => e,
            })?;
            if d.paused {
                want.paused = true;
                want.next_fire_at = None;
            }
            wants.push(want);
        }
        let mut out = Applied {
            applied: !dry_run,
            ..Applied::default()
        };
        // The stored schedules are read a chunk at a time, oldest first:
        // only the declared ones are kept whole, the rest by id, so an
        // apply next to a million stored schedules holds their ids, not
        // their bodies.
        let mut have: HashMap<String, Schedule> = HashMap::new();
        let mut listing = self.schedule_listing();
        while let Some(chunk) = listing.next_chunk().await? {
            for s in chunk {
                if ids.contains(&s.id) {
                    have.insert(s.id.clone(), s);
                } else if prune {
                    out.pruned.push(s.id);
                } else {
                    out.untouched.push(s.id);
                }
            }
        }
        let mut writes = Vec::new();
        for want in wants {
            match have.get(&want.id) {
                None => out.created.push(want.id.clone()),
                Some(have) => {
                    let changed = changed_settings(have, &want);
                    if changed.is_empty() {
                        out.unchanged.push(want.id.clone());
                        continue;
                    }
                    out.updated.push((want.id.clone(), changed));
                }
            }
            writes.push(want);
        }
        if dry_run {
            return Ok(out);
        }
        for s in writes {
            self.store.put_schedule(s).await?;
        }
        for id in &out.pruned {
            // Gone meanwhile is what was asked for.
            self.store.delete_schedule(id).await?;
        }
        Ok(out)
    }
}

/// The settings in which `want` differs from `have`, named as in the
/// schedules file. What the schedule did (created, last and next firing,
/// caller) is not a setting. A difference in a field this list does not
/// name yet still counts, as `settings`, so nothing declared is ever taken
/// for unchanged.
fn changed_settings(have: &Schedule, want: &Schedule) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut check = |name: &'static str, differs: bool| {
        if differs {
            out.push(name);
        }
    };
    check("destination", have.destination != want.destination);
    check("cron", have.cron != want.cron);
    check("seconds", have.cron_seconds != want.cron_seconds);
    check("body", have.body != want.body);
    check("misfire", have.misfire != want.misfire);
    check("paused", have.paused != want.paused);
    check("start_at", have.start_at != want.start_at);
    check("end_at", have.end_at != want.end_at);
    let (a, b) = (&have.delivery, &want.delivery);
    check("method", a.method != b.method);
    let content_type = |d: &Delivery| d.headers.get("Content-Type").cloned();
    check("content_type", content_type(a) != content_type(b));
    let others = |d: &Delivery| {
        let mut h = d.headers.clone();
        h.remove("Content-Type");
        h
    };
    check("headers", others(a) != others(b));
    check("retries", a.retries != b.retries);
    check("retry_delay", a.retry_delay != b.retry_delay);
    check("timeout", a.timeout_ms != b.timeout_ms);
    check("delay", a.delay_ms != b.delay_ms);
    check("callback", a.callback != b.callback);
    check("failure_callback", a.failure_callback != b.failure_callback);
    check("callback_headers", a.callback_headers != b.callback_headers);
    check(
        "failure_callback_headers",
        a.failure_callback_headers != b.failure_callback_headers,
    );
    callback_changes(
        &mut check,
        &a.callback_options,
        &b.callback_options,
        CALLBACK,
    );
    callback_changes(
        &mut check,
        &a.failure_callback_options,
        &b.failure_callback_options,
        FAILURE_CALLBACK,
    );
    check("labels", a.labels != b.labels);
    check("queue", a.queue_name != b.queue_name);
    check("flow_control", a.flow_control != b.flow_control);
    check("redact", a.redact != b.redact);
    if out.is_empty() && settings_only(have) != settings_only(want) {
        out.push("settings");
    }
    out
}

const CALLBACK: [&str; 5] = [
    "callback_method",
    "callback_retries",
    "callback_retry_delay",
    "callback_timeout",
    "callback_delay",
];
const FAILURE_CALLBACK: [&str; 5] = [
    "failure_callback_method",
    "failure_callback_retries",
    "failure_callback_retry_delay",
    "failure_callback_timeout",
    "failure_callback_delay",
];

fn callback_changes(
    check: &mut impl FnMut(&'static str, bool),
    a: &CallbackOptions,
    b: &CallbackOptions,
    names: [&'static str; 5],
) {
    check(names[0], a.method != b.method);
    check(names[1], a.retries != b.retries);
    check(names[2], a.retry_delay != b.retry_delay);
    check(names[3], a.timeout_ms != b.timeout_ms);
    check(names[4], a.delay_ms != b.delay_ms);
}

/// The schedule without what happened to it: its settings.
fn settings_only(s: &Schedule) -> Schedule {
    Schedule {
        created_at: 0,
        next_fire_at: None,
        last_fire_at: None,
        last_states: Default::default(),
        caller_ip: None,
        last_error: None,
        ..s.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cron::CronSpec;
    use crate::model::Misfire;

    fn request(id: &str, cron: &str) -> ScheduleRequest {
        ScheduleRequest {
            destination: "https://example.com/hook".into(),
            cron: CronSpec::parse(cron, false).unwrap(),
            schedule_id: Some(id.into()),
            misfire: Misfire::default(),
            delivery: Delivery::default(),
            body: b"hi".to_vec(),
            caller_ip: None,
            start_at: None,
            end_at: None,
        }
    }

    #[test]
    fn what_a_schedule_did_is_not_a_change() {
        let have = Schedule {
            created_at: 5,
            last_fire_at: Some(7),
            caller_ip: Some("10.0.0.1".into()),
            ..schedule_from(request("a", "* * * * *"), 1_000).unwrap()
        };
        let want = schedule_from(request("a", "* * * * *"), 90_000).unwrap();
        assert_eq!(changed_settings(&have, &want), Vec::<&str>::new());
    }

    #[test]
    fn each_changed_setting_is_named() {
        let have = schedule_from(request("a", "* * * * *"), 0).unwrap();
        let mut r = request("a", "*/5 * * * *");
        r.delivery.retries = 1;
        r.delivery.callback_options.retries = Some(2);
        r.delivery
            .headers
            .insert("Content-Type".into(), vec!["text/plain".into()]);
        let want = schedule_from(r, 0).unwrap();
        assert_eq!(
            changed_settings(&have, &want),
            vec!["cron", "content_type", "retries", "callback_retries"]
        );
    }

    #[test]
    fn a_difference_in_an_unnamed_field_still_counts() {
        let have = schedule_from(request("a", "* * * * *"), 0).unwrap();
        let mut want = have.clone();
        want.delivery.topic = Some(crate::model::TopicLink {
            name: "g".into(),
            endpoint_name: None,
        });
        assert_eq!(changed_settings(&have, &want), vec!["settings"]);
    }
}
