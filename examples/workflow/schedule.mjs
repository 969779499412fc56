// Creates (or replaces) a cronhook schedule that starts the example workflow
// every minute, with the official QStash SDK (client.schedules.create).
//
//   node --env-file=cronhook.env schedule.mjs            # create
//   node --env-file=cronhook.env schedule.mjs --delete   # remove it again
//
// Each firing is a plain signed POST of the body to the workflow endpoint;
// the SDK turns it into a new run (workflow-wire.md §3.2).
import { DEMO_PAYLOAD, SCHEDULE_ID, checkEnv, qstashClient, workflowUrl } from "./clients.mjs";

checkEnv();
const client = qstashClient();
if (process.argv[2] === "--delete") {
  await client.schedules.delete(SCHEDULE_ID);
  console.log(`deleted schedule ${SCHEDULE_ID}`);
} else {
  await client.schedules.create({
    scheduleId: SCHEDULE_ID,
    destination: workflowUrl(),
    cron: "* * * * *",
    body: JSON.stringify(DEMO_PAYLOAD),
    headers: { "content-type": "application/json", "x-example-user": "scheduler" },
  });
  const s = await client.schedules.get(SCHEDULE_ID);
  const next = s.nextScheduleTime ? new Date(s.nextScheduleTime).toISOString() : "?";
  console.log(`schedule ${s.scheduleId}: ${s.cron} -> ${s.destination} (next run ${next})`);
}
