-- Spending decided atomically: the price per credit on the job row (budgets sum dollars in SQL,
-- never by parsing JSON), the process that owns a job while it may be sending, when its outputs
-- were all delivered, and single-use approval tokens.
-- Shipped migrations are never edited; change the schema with a new numbered file.

ALTER TABLE jobs ADD COLUMN usd_per_credit_micros INTEGER;
ALTER TABLE jobs ADD COLUMN owner TEXT;
ALTER TABLE jobs ADD COLUMN delivered_at INTEGER;

UPDATE jobs
   SET usd_per_credit_micros =
       CAST(round(json_extract(quote_json, '$.usd_per_credit') * 1000000) AS INTEGER)
 WHERE json_extract(quote_json, '$.usd_per_credit') IS NOT NULL;

-- Journals written before this migration recorded outputs only once they were on disk.
UPDATE jobs
   SET delivered_at = updated_at
 WHERE EXISTS (SELECT 1 FROM outputs WHERE outputs.job_id = jobs.id);

CREATE TABLE approvals (
    token    TEXT    NOT NULL PRIMARY KEY,
    job_id   TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    used_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX jobs_retry_of ON jobs (retry_of);

-- Covering indexes: the budget sum and the totals read only these, never the large JSON
-- columns stored before them in each row (which would mean walking overflow pages).
CREATE INDEX jobs_budget ON jobs (created_at, provider, state, request_id, quoted_credits_tenths,
    credits_spent_tenths, quoted_usd_micros, usd_per_credit_micros);
CREATE INDEX jobs_totals ON jobs (provider, state, quoted_credits_tenths, credits_spent_tenths);
