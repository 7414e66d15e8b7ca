-- The first journal schema: jobs, their audit trail, and their delivered files.
-- Shipped migrations are never edited; change the schema with a new numbered file.
--
-- Money is stored as integers (tenths of a credit, micro-dollars), times as unix milliseconds.
-- Tables are STRICT so that a wrongly typed value is an error, not a silent conversion.

CREATE TABLE jobs (
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
    quoted_credits_tenths  INTEGER NOT NULL,
    quoted_usd_micros      INTEGER,
    request_id             TEXT,
    credits_spent_tenths   INTEGER,
    error                  TEXT,
    last_snapshot_json     TEXT,
    retry_of               TEXT,
    parent                 TEXT,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
) STRICT;

CREATE INDEX jobs_fingerprint_created ON jobs (fingerprint, created_at);
CREATE INDEX jobs_state ON jobs (state);
CREATE INDEX jobs_request_id ON jobs (request_id);
CREATE INDEX jobs_created ON jobs (created_at);

CREATE TABLE job_events (
    seq         INTEGER NOT NULL PRIMARY KEY,
    job_id      TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    from_state  TEXT,
    to_state    TEXT    NOT NULL,
    note        TEXT
) STRICT;

CREATE INDEX job_events_job ON job_events (job_id, seq);

CREATE TABLE outputs (
    job_id            TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx               INTEGER NOT NULL,
    path              TEXT    NOT NULL,
    url               TEXT    NOT NULL,
    mime              TEXT    NOT NULL,
    width             INTEGER,
    height            INTEGER,
    duration_seconds  REAL,
    sha256            TEXT    NOT NULL,
    bytes             INTEGER NOT NULL,
    expires_at        TEXT,
    UNIQUE (job_id, idx, path)
) STRICT;
