-- Members, their keys and budgets, projects, and the quotes waiting for a person's approval
-- (issue 14). Jobs record the member and project they were reserved for.
-- Shipped migrations are never edited; change the schema with a new numbered file.
--
-- Money is stored as integers (tenths of a credit, micro-dollars), times as unix milliseconds.
-- A member's and a project's row is what a reservation locks (`SELECT ... FOR UPDATE`, the
-- member's first): reservations against one member or project queue, from any instance.

CREATE TABLE members (
    id                          TEXT    NOT NULL PRIMARY KEY,
    -- The most one request may cost and still be sent without a person approving its quote
    -- (wire clients cannot show a quote). NULL: every request needs approval.
    per_request_credits_tenths  BIGINT,
    per_request_usd_micros      BIGINT,
    -- Comma-separated provider ids the member may spend with; NULL: every provider.
    providers                   TEXT,
    created_at                  BIGINT  NOT NULL,
    CHECK (per_request_credits_tenths IS NULL OR per_request_usd_micros IS NULL)
);

CREATE TABLE projects (
    id          TEXT    NOT NULL PRIMARY KEY,
    created_at  BIGINT  NOT NULL
);

-- A budget of a member or a project: a rolling window (daily = 24 h, monthly = 30 days) and a
-- limit in credits or dollars. A scope may have one of each unit per window.
CREATE TABLE budgets (
    scope       TEXT    NOT NULL CHECK (scope IN ('member', 'project')),
    owner_id    TEXT    NOT NULL,
    span        TEXT    NOT NULL CHECK (span IN ('daily', 'monthly')),
    unit        TEXT    NOT NULL CHECK (unit IN ('credits', 'usd')),
    -- Tenths of a credit, or micro-dollars, as `unit` says.
    amount      BIGINT  NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (scope, owner_id, span, unit)
);

-- API keys: only a SHA-256 hash of the key and a short visible prefix are kept. A key without
-- a member is an admin key.
CREATE TABLE api_keys (
    prefix      TEXT    NOT NULL PRIMARY KEY,
    sha256      TEXT    NOT NULL UNIQUE,
    member_id   TEXT    REFERENCES members (id),
    created_at  BIGINT  NOT NULL,
    revoked_at  BIGINT
);

ALTER TABLE jobs ADD COLUMN member_id TEXT REFERENCES members (id);
ALTER TABLE jobs ADD COLUMN project_id TEXT REFERENCES projects (id);
CREATE INDEX jobs_member ON jobs (member_id, created_at);
CREATE INDEX jobs_project ON jobs (project_id, created_at);

-- A quote a wire client could not approve (answered 402): the member (or an admin) approves
-- it by its token, and the same request sent again by the same member in the same project then
-- goes through, once. `body_sha256` binds the token to that request body.
CREATE TABLE pending_quotes (
    token        TEXT    NOT NULL PRIMARY KEY,
    member_id    TEXT    NOT NULL REFERENCES members (id),
    project_id   TEXT    REFERENCES projects (id),
    body_sha256  TEXT    NOT NULL,
    quote_json   TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    approved_at  BIGINT
);

CREATE INDEX pending_quotes_body ON pending_quotes (member_id, body_sha256);
