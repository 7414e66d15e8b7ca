-- Webhooks (issue 14, item 6): the endpoints members register, an outbox of events written in
-- the same transaction as the job change they describe, one delivery row per (event, endpoint),
-- and one row per attempt (the delivery log a member reads).
-- Shipped migrations are never edited; change the schema with a new numbered file.
--
-- `member_id` has no foreign key yet: the members table arrives with another migration, and this
-- one must apply without it. Times are unix milliseconds, as in 0001.

CREATE TABLE webhook_endpoints (
    id           TEXT    NOT NULL PRIMARY KEY,
    member_id    TEXT    NOT NULL,
    url          TEXT    NOT NULL,
    -- NULL: every event type. Otherwise the types this endpoint receives.
    event_types  TEXT[],
    description  TEXT,
    -- `whsec_` + base64. Kept in clear because every delivery is signed with it; it is shown to
    -- the member once, at creation, and never read back by the API.
    secret       TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    -- Deleted endpoints are kept (hidden) so their delivery log stays readable.
    deleted_at   BIGINT
);

CREATE INDEX webhook_endpoints_member ON webhook_endpoints (member_id) WHERE deleted_at IS NULL;

-- The outbox: one row per event, written by `webhooks::enqueue` inside the job's transaction.
-- `id` is the `webhook-id` every attempt to every endpoint carries; `body` the exact bytes sent
-- (and signed), fixed at enqueue time so that retries send the same payload.
CREATE TABLE webhook_events (
    id          TEXT    NOT NULL PRIMARY KEY,
    member_id   TEXT    NOT NULL,
    event_type  TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);

CREATE INDEX webhook_events_member ON webhook_events (member_id, created_at);

-- One event to one endpoint. `status`: pending (waiting or being tried), delivered, failed
-- (attempts exhausted), cancelled (the endpoint was deleted first). A worker claims a pending row
-- by writing a fresh `lease_token` and a `lease_until`; a lease that expires (its instance was
-- killed) makes the row claimable again by any instance.
CREATE TABLE webhook_deliveries (
    id                BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id          TEXT    NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    endpoint_id       TEXT    NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    member_id         TEXT    NOT NULL,
    status            TEXT    NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'delivered', 'failed', 'cancelled')),
    -- Attempts started (claims), including one whose instance stopped before recording it.
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT  NOT NULL,
    lease_token       TEXT,
    lease_until       BIGINT,
    last_status_code  INTEGER,
    last_error        TEXT,
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL,
    finished_at       BIGINT,
    UNIQUE (event_id, endpoint_id)
);

-- What a worker's claim scans: due pending rows, oldest first.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);

-- Every attempt, written when it is claimed (so an attempt whose instance stopped still shows,
-- with no finish) and completed with what the endpoint answered.
CREATE TABLE webhook_attempts (
    delivery_id  BIGINT  NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt      INTEGER NOT NULL,
    started_at   BIGINT  NOT NULL,
    finished_at  BIGINT,
    status_code  INTEGER,
    error        TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
