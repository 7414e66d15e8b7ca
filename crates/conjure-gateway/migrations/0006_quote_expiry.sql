-- Quotes that expire (issue 14 follow-up): a quote answered with a 402 is approved and used
-- within its lifetime (`approvals::QUOTE_LIFETIME`, counted from `created_at`) or not at all.
-- `expired_at` is written once, by whichever instance's sweep settles the quote first.
-- Shipped migrations are never edited; change the schema with a new numbered file.

ALTER TABLE pending_quotes ADD COLUMN expired_at BIGINT;

-- What the sweep scans: open quotes, oldest first.
CREATE INDEX pending_quotes_open ON pending_quotes (created_at) WHERE expired_at IS NULL;
