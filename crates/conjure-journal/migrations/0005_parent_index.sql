-- Children of a job (a Midjourney button press makes a child of the job it was pressed on):
-- `conjure status` lists them and `conjure jobs --tree` draws them, so look them up by parent.

CREATE INDEX IF NOT EXISTS jobs_parent ON jobs(parent);
