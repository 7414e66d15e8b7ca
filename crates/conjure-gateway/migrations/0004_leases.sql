-- Stateless instances (issue 14, item 5): which gateway instances are alive, and which instance
-- polls a submitted job at the moment.
-- Shipped migrations are never edited; change the schema with a new numbered file.
--
-- Times are unix milliseconds by the database's clock (instances' clocks may disagree; the
-- database decides whose heartbeat or lease has run out).

-- One row per running `conjure serve`, keyed by the owner id it writes on the jobs it reserves.
-- Its heartbeat pushes `expires_at` forward every few seconds; a graceful stop deletes the row.
-- A job left `quoted` or `submitting` by an owner with no live row belongs to a stopped
-- instance, and any instance settles it as the CLI settles a dead process's jobs.
CREATE TABLE instances (
    owner         TEXT    NOT NULL PRIMARY KEY,
    started_at    BIGINT  NOT NULL,
    heartbeat_at  BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL
);

-- The poll lease of a submitted job: an instance claims a due job (`FOR UPDATE SKIP LOCKED`),
-- writes a fresh token and an expiry, polls once, and records the answer only under that token;
-- then it clears the lease and sets when the job is next due. A lease whose instance was killed
-- expires, and the job is claimable again. `next_poll_at` NULL: never polled by a lease yet.
ALTER TABLE jobs
    ADD COLUMN next_poll_at      BIGINT,
    ADD COLUMN poll_lease_token  TEXT,
    ADD COLUMN poll_lease_until  BIGINT;

-- What a poller's claim scans: pollable jobs by when they are due.
CREATE INDEX jobs_poll_due ON jobs (next_poll_at NULLS FIRST, seq)
    WHERE state IN ('submitted', 'processing') AND request_id IS NOT NULL;
-- What the orphan sweep scans: jobs between reservation and the provider's answer.
CREATE INDEX jobs_in_flight_owner ON jobs (owner) WHERE state IN ('quoted', 'submitting');
