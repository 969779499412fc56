//! Schedules (§4.5, §10): create or overwrite, list, get, delete, pause,
//! resume.

use super::messages::check_retry_delays;
use super::{Service, ServiceError, ServiceResult};
use crate::cron::CronSpec;
use crate::ids;
use crate::model::{Delivery, Millis, Misfire, Schedule};

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
}

/// What a create answers (§4.5, plus cronhook's `nextScheduleTimes`).
#[derive(Debug, Clone)]
pub struct CreatedSchedule {
    pub id: String,
    pub cron: String,
    pub upcoming: Vec<Millis>,
}

/// The schedule a create request makes at `now`: a new id unless one is
/// given, not paused, armed at the next slot. One construction for the API's
/// create and for applying a schedules file (`apply.rs`), so both store the
/// same thing for the same settings.
pub(super) fn schedule_from(r: ScheduleRequest, now: Millis) -> Schedule {
    Schedule {
        id: r.schedule_id.unwrap_or_else(ids::schedule_id),
        destination: r.destination,
        cron: r.cron.expression().to_owned(),
        cron_seconds: r.cron.has_seconds(),
        delivery: r.delivery,
        body: r.body,
        misfire: r.misfire,
        paused: false,
        created_at: now,
        next_fire_at: r.cron.next_after(now),
        last_fire_at: None,
        last_states: Default::default(),
        last_error: None,
        caller_ip: r.caller_ip,
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
        let spec = r.cron.clone();
        let stored = self.store.put_schedule(schedule_from(r, now)).await?;
        Ok(CreatedSchedule {
            id: stored.id,
            cron: stored.cron,
            upcoming: spec.upcoming(now, UPCOMING),
        })
    }

    pub async fn schedules(&self) -> ServiceResult<Vec<Schedule>> {
        Ok(self.store.schedules().await?)
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
                    .and_then(|spec| spec.next_after(now))
            })
            .await?
            .map(|_| ())
            .ok_or_else(|| not_found(id))
    }
}
