//! Schedules (§4.5, §10): create or overwrite, list, get, delete, pause,
//! resume.

use super::messages::check_retry_delays;
use super::{Service, ServiceError, ServiceResult};
use crate::cron::{CronSpec, Window};
use crate::ids;
use crate::model::{Delivery, Millis, Misfire, Schedule};
use crate::store::{ScheduleCursor, Store};

/// How many upcoming fire times a create response shows.
const UPCOMING: usize = 5;

/// A parsed schedule create request.
#[derive(Debug, Clone)]
pub struct ScheduleRequest {
    /// A checked http(s) URL, or the name of a URL group (§2.2).
    pub destination: String,
    pub cron: CronSpec,
    /// `Upstash-Schedule-Id`: overwrite that schedule, or create it.
    pub schedule_id: Option<String>,
    pub misfire: Misfire,
    pub delivery: Delivery,
    pub body: Vec<u8>,
    pub caller_ip: Option<String>,
    /// `Cronhook-Start-At` (Unix ms): no slot before it.
    pub start_at: Option<Millis>,
    /// `Cronhook-End-At` (Unix ms): no slot after it.
    pub end_at: Option<Millis>,
}

/// What a create answers (§4.5, plus cronhook's `nextScheduleTimes`).
#[derive(Debug, Clone)]
pub struct CreatedSchedule {
    pub id: String,
    pub cron: String,
    pub upcoming: Vec<Millis>,
}

/// The bounds of a stored schedule.
pub fn window_of(s: &Schedule) -> Window {
    Window {
        start: s.start_at,
        end: s.end_at,
    }
}

/// Shows an instant in errors as people write it (RFC 3339, UTC).
fn shown(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| ms.to_string())
}

/// The bounds of a new schedule: an end before the start, an end already
/// past, or a window that holds no slot of the cron would make a schedule
/// that never fires, which is a mistake to report, not to store.
fn check_window(
    cron: &CronSpec,
    start: Option<Millis>,
    end: Option<Millis>,
    now: Millis,
) -> ServiceResult<Window> {
    let window = Window { start, end };
    let Some(end) = end else {
        return Ok(window);
    };
    if let Some(start) = start.filter(|&s| end < s) {
        return Err(ServiceError::Invalid(format!(
            "Cronhook-End-At: {} is before Cronhook-Start-At {}",
            shown(end),
            shown(start)
        )));
    }
    if end < now {
        return Err(ServiceError::Invalid(format!(
            "Cronhook-End-At: {} is in the past (now is {})",
            shown(end),
            shown(now)
        )));
    }
    if cron.clone().within(window).next_after(now).is_none() {
        let from = start.map_or(now, |s| s.max(now));
        return Err(ServiceError::Invalid(format!(
            "Cronhook-End-At: no slot of \"{}\" falls between {} and {}, so the schedule would never fire",
            cron.expression(),
            shown(from),
            shown(end)
        )));
    }
    Ok(window)
}

/// The schedule a create request makes at `now`: a new id unless one is
/// given, not paused, armed at the next slot inside its bounds. One
/// construction for the API's create and for applying a schedules file
/// (`apply.rs`), so both check and store the same thing for the same
/// settings.
pub(super) fn schedule_from(r: ScheduleRequest, now: Millis) -> ServiceResult<Schedule> {
    Ok(schedule_and_upcoming(r, now, 1)?.0)
}

/// `schedule_from`, and the first `n` (at least one) slots after `now`,
/// of which the first is the schedule's next: the cron is walked once per
/// create.
fn schedule_and_upcoming(
    r: ScheduleRequest,
    now: Millis,
    n: usize,
) -> ServiceResult<(Schedule, Vec<Millis>)> {
    let window = check_window(&r.cron, r.start_at, r.end_at, now)?;
    let spec = r.cron.within(window);
    let upcoming = spec.upcoming(now, n.max(1));
    let schedule = Schedule {
        id: r.schedule_id.unwrap_or_else(ids::schedule_id),
        destination: r.destination,
        cron: spec.expression().to_owned(),
        cron_seconds: spec.has_seconds(),
        delivery: r.delivery,
        body: r.body,
        misfire: r.misfire,
        paused: false,
        created_at: now,
        next_fire_at: upcoming.first().copied(),
        last_fire_at: None,
        last_states: Default::default(),
        last_error: None,
        caller_ip: r.caller_ip,
        start_at: r.start_at,
        end_at: r.end_at,
    };
    Ok((schedule, upcoming))
}

/// Schedules one read of a listing takes: a chunk's JSON is some 100 to
/// 300 KB, enough to keep a socket busy, too little to show in RSS.
pub const LIST_CHUNK: usize = 256;

/// A listing of every schedule in progress. It reads nothing until it is
/// asked for the next chunk, so the consumer's pace is the listing's: a
/// client that reads slowly holds one chunk in memory, not the table (the
/// HTTP body asks for the next chunk only when the socket took the last).
/// A schedule created, changed or deleted while a listing runs is seen as
/// it is when its chunk is read.
pub struct ScheduleListing {
    store: Store,
    /// `(createdAt, id)` of the last schedule given.
    after: Option<ScheduleCursor>,
    done: bool,
}

impl ScheduleListing {
    /// The next up to [`LIST_CHUNK`] schedules, or `None` after the last.
    pub async fn next_chunk(&mut self) -> ServiceResult<Option<Vec<Schedule>>> {
        if self.done {
            return Ok(None);
        }
        // `after` is taken: after an error the listing is over.
        self.done = true;
        let chunk = self
            .store
            .schedules_after(self.after.take(), LIST_CHUNK)
            .await?;
        self.done = chunk.len() < LIST_CHUNK;
        self.after = chunk.last().map(|s| (s.created_at, s.id.clone()));
        Ok((!chunk.is_empty()).then_some(chunk))
    }
}

fn not_found(id: &str) -> ServiceError {
    ServiceError::NotFound(format!("schedule {id:?} not found"))
}

impl Service {
    /// Creates the schedule, or replaces every setting of the one with its
    /// id (un-pausing it, keeping `createdAt`).
    pub async fn create_schedule(&self, r: ScheduleRequest) -> ServiceResult<CreatedSchedule> {
        check_retry_delays(&r.delivery)?;
        let now = self.now();
        let (schedule, upcoming) = schedule_and_upcoming(r, now, UPCOMING)?;
        let stored = self.store.put_schedule(schedule).await?;
        Ok(CreatedSchedule {
            id: stored.id,
            cron: stored.cron,
            upcoming,
        })
    }

    /// Every schedule, oldest first, read a chunk at a time as the caller
    /// asks for the next one (`GET /v2/schedules` streams it).
    pub fn schedule_listing(&self) -> ScheduleListing {
        ScheduleListing {
            store: self.store.clone(),
            after: None,
            done: false,
        }
    }

    pub async fn schedule(&self, id: &str) -> ServiceResult<Schedule> {
        self.store.schedule(id).await?.ok_or_else(|| not_found(id))
    }

    /// Stops future firings; messages already fired are still delivered.
    pub async fn delete_schedule(&self, id: &str) -> ServiceResult<()> {
        if self.store.delete_schedule(id).await? {
            Ok(())
        } else {
            Err(not_found(id))
        }
    }

    /// Pause and resume are idempotent (§4.5). Resuming does not catch up on
    /// the slots that passed while paused: it arms the next slot after now.
    pub async fn set_paused(&self, id: &str, pause: bool) -> ServiceResult<()> {
        let now = self.now();
        self.store
            .set_paused(id, pause, move |s| {
                CronSpec::parse(&s.cron, s.cron_seconds)
                    .ok()
                    .and_then(|spec| spec.within(window_of(s)).next_after(now))
            })
            .await?
            .map(|_| ())
            .ok_or_else(|| not_found(id))
    }
}
