//! Schedules as code: a TOML file that declares schedules by id.
//!
//! ```toml
//! [schedules.nightly-report]
//! destination = "https://example.com/jobs/report"
//! cron = "CRON_TZ=Europe/Berlin 0 3 * * *"
//! retries = 2
//! ```
//!
//! Each table turns into the parts of a schedule create request (its
//! destination, `Upstash-*` headers and body) and is parsed by the API's own
//! code (`api::apply::declaration`), so a key means exactly what its header
//! means on `POST /v2/schedules`, and there is no second validator. Every
//! table is checked before anything is sent or stored; a problem is
//! reported with the file's line. `cronhook apply` sends the checked
//! entries to a running server (`cli/apply.rs`); `serve --schedules` hands the
//! declarations to the service in-process (`apply_in_process`).

mod file;

use std::fmt;
use std::path::Path;

use crate::api::apply::{declaration, Entry};
use crate::service::{Applied, DeclaredSchedule, Service, ServiceResult};
use file::{headers_of, line_of, RawFile};

/// A checked schedules file.
#[derive(Debug, Clone)]
pub struct SchedulesFile {
    /// What `POST /cronhook/v1/apply` takes, in file order.
    pub entries: Vec<EntryOf>,
}

/// One declared schedule: the wire entry and the parsed declaration.
#[derive(Debug, Clone)]
pub struct EntryOf {
    pub entry: Entry,
    pub declared: DeclaredSchedule,
}

impl SchedulesFile {
    pub fn declared(&self) -> Vec<DeclaredSchedule> {
        self.entries.iter().map(|e| e.declared.clone()).collect()
    }
}

/// A file that cannot be applied: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub path: String,
    /// 1-based; `None` when the file could not be read at all.
    pub line: Option<usize>,
    pub problem: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.path, line, self.problem),
            None => write!(f, "{}: {}", self.path, self.problem),
        }
    }
}

impl std::error::Error for FileError {}

/// Reads and checks the file at `path`.
pub fn load(path: &Path) -> Result<SchedulesFile, FileError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| FileError {
        path: name.clone(),
        line: None,
        problem: format!("cannot read it: {e}"),
    })?;
    parse(&text, &name)
}

/// Checks `text`, a schedules file called `name` in errors.
pub fn parse(text: &str, name: &str) -> Result<SchedulesFile, FileError> {
    let at = |offset: usize, problem: String| FileError {
        path: name.to_owned(),
        line: Some(line_of(text, offset)),
        problem,
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| FileError {
        path: name.to_owned(),
        line: e.span().map(|s| line_of(text, s.start)),
        problem: e.message().trim().to_owned(),
    })?;
    let mut tables: Vec<_> = raw.schedules.into_iter().collect();
    tables.sort_by_key(|(id, _)| id.span().start);
    let mut entries = Vec::with_capacity(tables.len());
    for (id, table) in tables {
        let id_at = id.span().start;
        let id = id.into_inner();
        let schedule = table.get_ref();
        let required = |field: &str, present: bool| {
            if present {
                Ok(())
            } else {
                Err(at(id_at, format!("schedule {id:?}: {field} is required")))
            }
        };
        required("destination", schedule.destination.is_some())?;
        required("cron", schedule.cron.is_some())?;
        let origins = headers_of(schedule);
        let entry = Entry {
            id: id.clone(),
            destination: schedule
                .destination
                .as_ref()
                .map(|d| d.get_ref().clone())
                .unwrap_or_default(),
            headers: origins
                .iter()
                .map(|o| (o.header.clone(), o.value.clone()))
                .collect(),
            body: schedule
                .body
                .as_ref()
                .map(|b| b.get_ref().clone())
                .unwrap_or_default(),
            paused: schedule.paused.as_ref().is_some_and(|p| *p.get_ref()),
        };
        let declared = declaration(entry.clone()).map_err(|e| {
            // Name the file's key, at its value's line; the problem is the
            // API's own text.
            let (key, offset) = match e.field.as_str() {
                "id" => ("id", id_at),
                "destination" => (
                    "destination",
                    schedule
                        .destination
                        .as_ref()
                        .map_or(id_at, |d| d.span().start),
                ),
                header => origins
                    .iter()
                    .find(|o| o.header.eq_ignore_ascii_case(header))
                    .map_or((header, id_at), |o| (o.key, o.span.start)),
            };
            at(offset, format!("schedule {id:?}, {key}: {}", e.problem))
        })?;
        entries.push(EntryOf { entry, declared });
    }
    Ok(SchedulesFile { entries })
}

/// `serve --schedules`: applies the file through the service (never
/// prunes: a server does not delete schedules it was not asked to).
pub async fn apply_in_process(service: &Service, file: &SchedulesFile) -> ServiceResult<Applied> {
    service.apply_schedules(file.declared(), false, false).await
}

#[cfg(test)]
mod tests;
