-- Batches (`conjure batch`): the plan of every line, journalled before anything is sent, and
-- each job's link to the lines it sends, written in the same INSERT that records the job so a
-- line is never linked after the fact.

CREATE TABLE batches (
    id          TEXT    NOT NULL PRIMARY KEY,
    source      TEXT    NOT NULL,
    lines_json  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

ALTER TABLE jobs ADD COLUMN batch_id TEXT;
ALTER TABLE jobs ADD COLUMN batch_json TEXT;

CREATE INDEX jobs_batch ON jobs (batch_id);
