// Sends the "approval" event a run of the example workflow waits for
// (client.notify).
//
//   node --env-file=cronhook.env notify.mjs <workflowRunId> ['{"approvedBy": "bob"}']
//
// Prints how many waiting runs got the event (0 when the run is not waiting:
// not there yet, already timed out, or finished).
import { checkEnv, eventIdFor, workflowClient } from "./clients.mjs";

checkEnv();
const [runId, data] = process.argv.slice(2);
if (!runId) {
  console.error("usage: node --env-file=cronhook.env notify.mjs <workflowRunId> [json]");
  process.exit(2);
}
const eventData = data ? JSON.parse(data) : { approvedBy: "notify.mjs" };
const woken = await workflowClient().notify({ eventId: eventIdFor(runId), eventData });
console.log(`notified ${eventIdFor(runId)}: ${woken.length} waiting run(s) got it`);
