//! What the web console needs beyond the QStash API: an overview, a paged
//! and searchable schedule list, a schedule's fire history, running a
//! schedule by hand, a cron preview, the log as a histogram, and the
//! settings in force.

use super::{Service, ServiceError, ServiceResult};
use crate::cron::{CronSpec, DstNote};
use crate::model::{Firing, Millis, Schedule, ScheduleState};
use crate::store::{Activity, Counts, Histogram, NextFiring, ScheduleCursor};

/// The settings in force, as the console's settings page shows them.
#[derive(Debug, Clone, Default)]
pub struct Shown {
    pub version: &'static str,
    /// `(name, value)` in the order shown: retention, limits, timeouts.
    pub settings: Vec<(&'static str, String)>,
}

/// The overview page.
#[derive(Debug, Clone)]
pub struct Overview {
    pub counts: Counts,
    /// The last 24 h by hour: `(hour start, delivered, failed attempts)`.
    pub activity: Activity,
    pub next_firings: Vec<NextFiring>,
}

/// What a cron expression means.
#[derive(Debug, Clone)]
pub struct CronPreview {
    pub expression: String,
    pub description: String,
    pub timezone: String,
    pub next: Vec<Millis>,
    pub notes: Vec<DstNote>,
}

/// Most fire times a preview shows.
pub const MAX_PREVIEW: usize = 50;

const HOUR: Millis = 3_600_000;

fn no_schedule(id: &str) -> ServiceError {
    ServiceError::NotFound(format!("schedule {id:?} not found"))
}

impl Service {
    pub async fn overview(&self, next: usize) -> ServiceResult<Overview> {
        let now = self.now();
        let to = (now / HOUR + 1) * HOUR;
        Ok(Overview {
            counts: self.store.counts(now).await?,
            activity: self.store.activity(to - 24 * HOUR, to, HOUR).await?,
            next_firings: self.store.next_firings(next).await?,
        })
    }

    pub async fn counts(&self) -> ServiceResult<Counts> {
        Ok(self.store.counts(self.now()).await?)
    }

    /// A page of active, paused or ended schedules, with an optional search
    /// in their ids, destinations and labels.
    pub async fn schedules_page(
        &self,
        state: ScheduleState,
        search: Option<String>,
        cursor: Option<ScheduleCursor>,
        count: usize,
    ) -> ServiceResult<(Vec<Schedule>, Option<ScheduleCursor>)> {
        let search = search.filter(|s| !s.trim().is_empty());
        Ok(self
            .store
            .schedules_page(state, self.now(), search, cursor, count)
            .await?)
    }

    /// The next `count` slots of schedule `s` after now, within its bounds
    /// (none when it is paused or ended).
    pub fn schedule_next(&self, s: &Schedule, count: usize) -> Vec<Millis> {
        if s.state(self.now()) != ScheduleState::Active {
            return Vec::new();
        }
        CronSpec::parse(&s.cron, s.cron_seconds)
            .map(|spec| {
                spec.within(super::schedules::window_of(s))
                    .upcoming(self.now(), count.min(MAX_PREVIEW))
            })
            .unwrap_or_default()
    }

    /// A page of schedule `id`'s fire history, newest first.
    pub async fn schedule_history(
        &self,
        id: &str,
        cursor: Option<i64>,
        count: usize,
    ) -> ServiceResult<(Vec<Firing>, Option<i64>)> {
        if self.store.schedule(id).await?.is_none() {
            return Err(no_schedule(id));
        }
        Ok(self.store.schedule_history(id, cursor, count).await?)
    }

    /// Runs schedule `id` now, once, without moving its next slot; the id
    /// of the message it made.
    pub async fn trigger_schedule(&self, id: &str) -> ServiceResult<String> {
        self.store
            .trigger_schedule(id, self.now())
            .await?
            .ok_or_else(|| no_schedule(id))
    }

    /// What `expr` means (validated as `Upstash-Cron` is, the same errors):
    /// in words, its next `count` fire times after now, and notes on the
    /// DST changes near them.
    pub fn cron_preview(
        &self,
        expr: &str,
        seconds: bool,
        count: usize,
    ) -> ServiceResult<CronPreview> {
        cron_preview_at(expr, seconds, self.now(), count)
    }

    /// Log entries per bucket and state, for the log page's histogram.
    pub async fn log_histogram(
        &self,
        from: Millis,
        to: Millis,
        buckets: usize,
        schedule_id: Option<String>,
    ) -> ServiceResult<Histogram> {
        if to <= from {
            return Err(ServiceError::Invalid(
                "toDate: must be after fromDate".into(),
            ));
        }
        let bucket = ((to - from) / buckets.clamp(1, 500) as Millis).max(1);
        Ok(self
            .store
            .log_histogram(from, to, bucket, schedule_id)
            .await?)
    }

    /// The version, the database (its file, or its URL without the
    /// password) and its size, and the settings in force.
    pub async fn shown_settings(&self) -> (Shown, String, u64) {
        (
            self.settings.shown.clone(),
            self.store.target().redacted(),
            self.store.size_on_disk().await,
        )
    }
}

/// [`Service::cron_preview`] from any instant, without a server: the
/// console's preview and the offline `cronhook cron` command are this one
/// function, so they say the same things with the same error texts.
pub fn cron_preview_at(
    expr: &str,
    seconds: bool,
    after: Millis,
    count: usize,
) -> ServiceResult<CronPreview> {
    let spec = CronSpec::parse(expr, seconds)
        .map_err(|e| ServiceError::Invalid(format!("Upstash-Cron: {e}")))?;
    let next = spec.upcoming(after, count.min(MAX_PREVIEW));
    if next.is_empty() && spec.next_after(0).is_none() {
        return Err(ServiceError::Invalid(format!(
            "Upstash-Cron: \"{}\" never fires (no such date)",
            spec.expression()
        )));
    }
    Ok(CronPreview {
        expression: spec.expression().to_owned(),
        description: spec.describe(),
        timezone: spec.timezone().name().to_owned(),
        notes: spec.dst_notes(&next),
        next,
    })
}
