// Starts one run of the example workflow through cronhook (client.trigger).
//
//   node --env-file=cronhook.env trigger.mjs ['{"sleepSeconds": 5, "waitTimeout": "20s"}']
//
// Prints the run id. The optional argument is the run's JSON payload
// (default: DEMO_PAYLOAD in clients.mjs; {"fail": "why"} ends in the failure
// function). The x-example-user header and the retry setting apply to every
// step of the run: cronhook keeps them from this trigger (workflow-wire.md §3.2).
import { DEMO_PAYLOAD, checkEnv, eventIdFor, workflowClient, workflowUrl } from "./clients.mjs";

checkEnv();
const payload = process.argv[2] ? JSON.parse(process.argv[2]) : DEMO_PAYLOAD;
const { workflowRunId } = await workflowClient().trigger({
  url: workflowUrl(),
  body: payload,
  headers: { "x-example-user": "ann" },
  retries: 1,
});
console.log(workflowRunId);
console.error(
  `triggered ${workflowRunId} at ${workflowUrl()}; it waits for event ${eventIdFor(workflowRunId)}:\n` +
    `  node --env-file=cronhook.env notify.mjs ${workflowRunId}`,
);
