// Lists the latest workflow runs cronhook knows, with their state
// (client.logs: RUN_STARTED, RUN_SUCCESS, RUN_FAILED, RUN_CANCELED).
//
//   node --env-file=cronhook.env runs.mjs [count]
import { checkEnv, workflowClient } from "./clients.mjs";

checkEnv();
const { runs } = await workflowClient().logs({ count: Number(process.argv[2] || 10) });
for (const run of runs) {
  console.log(`${run.workflowRunId}  ${run.workflowState}  ${run.workflowUrl}  ${run.steps?.length ?? 0} step group(s)`);
}
