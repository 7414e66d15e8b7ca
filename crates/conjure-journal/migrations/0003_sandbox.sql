-- Jobs sent to the offline sandbox (`conjure demo`) live in the same journal as real ones, so
-- that people find them with `conjure jobs`, but they are a ledger of their own: they never
-- count toward real budgets, totals or the duplicate rule, and real jobs never count toward
-- theirs. The covering indexes gain the column so the sums still read only the index.
-- Shipped migrations are never edited; change the schema with a new numbered file.

ALTER TABLE jobs ADD COLUMN sandbox INTEGER NOT NULL DEFAULT 0;

DROP INDEX jobs_budget;
CREATE INDEX jobs_budget ON jobs (created_at, provider, state, request_id, quoted_credits_tenths,
    credits_spent_tenths, quoted_usd_micros, usd_per_credit_micros, sandbox);
DROP INDEX jobs_totals;
CREATE INDEX jobs_totals ON jobs (sandbox, provider, state, quoted_credits_tenths,
    credits_spent_tenths);
