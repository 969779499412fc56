-- Version 9: `client.logs` finds a failed run's step in the DLQ by its run
-- id (`dlqId`, the STEP_FAILED step, the failure function's failStatus).
-- Only adds an index.
-- Frozen: change the schema with a new file.
CREATE INDEX dlq_workflow_run ON dlq (json_extract(delivery, '$.workflow.runId'))
    WHERE json_extract(delivery, '$.workflow.runId') IS NOT NULL;
