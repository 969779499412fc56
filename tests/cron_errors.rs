//! Errors that teach, through the API: a cron slip is answered with what was
//! probably wrong and the expression probably meant, the same text the
//! cron module gives (its table is in `src/cron/tests/dialect.rs`).

mod common;

use common::api::call;
use common::inproc::InProcess;

#[test]
fn the_day_of_the_month_in_the_day_of_week_field_is_answered_with_the_fix() {
    let server = InProcess::start();
    let (status, json) = call(
        &server,
        "POST",
        "/v2/schedules/http://127.0.0.1:9/report",
        &[("Upstash-Cron", "0 9 * * 15")],
        b"",
    );
    assert_eq!(status, 400, "{json}");
    assert_eq!(
        json["error"],
        "Upstash-Cron: invalid cron expression \"0 9 * * 15\": day-of-week value 15 is out of \
         range (day-of-week is 0–7); the fifth field is the day of the week; the day of the \
         month is the third: did you mean \"0 9 15 * *\"?"
    );
    // The console's preview gives the same text.
    let (status, json) = call(
        &server,
        "GET",
        "/cronhook/v1/cron?expr=0%209%20*%20*%2015",
        &[],
        b"",
    );
    assert_eq!(status, 400, "{json}");
    assert!(
        json["error"]
            .as_str()
            .is_some_and(|e| e.ends_with("did you mean \"0 9 15 * *\"?")),
        "{json}"
    );
}
