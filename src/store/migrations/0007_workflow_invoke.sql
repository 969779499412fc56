-- Version 7: a run started by `context.invoke` remembers its parent run
-- (workflow-wire §3.8) as JSON: the parent's run id, workflow URL, invoke
-- step and the settings of the result delivery. NULL for other runs.
-- Frozen: change the schema with a new file.
ALTER TABLE workflow_runs ADD COLUMN parent TEXT;
