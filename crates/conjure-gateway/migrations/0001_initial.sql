-- The gateway's job store: the SQLite journal's schema (its migrations 0001-0006 as they stand
-- today) in Postgres terms, plus the ledger rows a reservation locks.
-- Shipped migrations are never edited; change the schema with a new numbered file.
--
-- Money is stored as integers (tenths of a credit, micro-dollars), times as unix milliseconds.
-- JSON is stored as text, not jsonb: a spec must read back as the same bytes it was written
-- with (its fingerprint is a hash of them), and jsonb reorders keys and rewrites numbers.

CREATE TABLE jobs (
    -- Insertion order, the tie-breaker between jobs created in the same millisecond (SQLite's
    -- rowid in the journal).
    seq                    BIGINT  GENERATED ALWAYS AS IDENTITY UNIQUE,
    id                     TEXT    NOT NULL PRIMARY KEY,
    provider               TEXT    NOT NULL,
    kind                   TEXT    NOT NULL,
    model                  TEXT    NOT NULL,
    prompt                 TEXT    NOT NULL,
    state                  TEXT    NOT NULL,
    fingerprint            TEXT    NOT NULL,
    spec_json              TEXT    NOT NULL,
    wire_json              TEXT    NOT NULL,
    quote_json             TEXT    NOT NULL,
    quoted_credits_tenths  BIGINT  NOT NULL,
    quoted_usd_micros      BIGINT,
    usd_per_credit_micros  BIGINT,
    request_id             TEXT,
    credits_spent_tenths   BIGINT,
    error                  TEXT,
    last_snapshot_json     TEXT,
    retry_of               TEXT,
    parent                 TEXT,
    owner                  TEXT,
    created_at             BIGINT  NOT NULL,
    updated_at             BIGINT  NOT NULL,
    delivered_at           BIGINT,
    sandbox                BOOLEAN NOT NULL DEFAULT FALSE,
    deliver_to             TEXT,
    batch_id               TEXT,
    batch_json             TEXT
);

CREATE INDEX jobs_fingerprint_created ON jobs (fingerprint, created_at);
CREATE INDEX jobs_state ON jobs (state);
CREATE INDEX jobs_request_id ON jobs (request_id);
CREATE INDEX jobs_created ON jobs (created_at, seq);
CREATE INDEX jobs_retry_of ON jobs (retry_of);
CREATE INDEX jobs_parent ON jobs (parent);
CREATE INDEX jobs_batch ON jobs (batch_id);
-- `text_pattern_ops`: id prefixes (`LIKE 'j_ab%'` with the wildcards escaped) use the index
-- whatever the database's collation.
CREATE INDEX jobs_id_prefix ON jobs (id text_pattern_ops);
-- The budget sum reads only these (an index-only scan where the visibility map allows).
CREATE INDEX jobs_budget ON jobs (sandbox, created_at) INCLUDE (provider, state, request_id,
    quoted_credits_tenths, credits_spent_tenths, quoted_usd_micros, usd_per_credit_micros);

CREATE TABLE job_events (
    seq         BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id      TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    at          BIGINT  NOT NULL,
    from_state  TEXT,
    to_state    TEXT    NOT NULL,
    note        TEXT
);

CREATE INDEX job_events_job ON job_events (job_id, seq);

CREATE TABLE outputs (
    job_id            TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx               BIGINT  NOT NULL,
    path              TEXT    NOT NULL,
    url               TEXT    NOT NULL,
    mime              TEXT    NOT NULL,
    width             BIGINT,
    height            BIGINT,
    duration_seconds  DOUBLE PRECISION,
    sha256            TEXT    NOT NULL,
    bytes             BIGINT  NOT NULL,
    expires_at        TEXT,
    UNIQUE (job_id, idx, path)
);

CREATE TABLE approvals (
    token    TEXT    NOT NULL PRIMARY KEY,
    job_id   TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    used_at  BIGINT  NOT NULL
);

CREATE TABLE batches (
    id          TEXT    NOT NULL PRIMARY KEY,
    source      TEXT    NOT NULL,
    lines_json  TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);

-- One row per ledger (real money, and the sandbox's play money). A reservation locks its
-- ledger's row (`SELECT ... FOR UPDATE`) before reading the facts it decides from, so
-- reservations against one ledger queue, from any connection or gateway instance.
CREATE TABLE ledgers (
    sandbox  BOOLEAN NOT NULL PRIMARY KEY
);

INSERT INTO ledgers (sandbox) VALUES (FALSE), (TRUE);
