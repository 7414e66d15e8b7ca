-- Rate limits per member (issue 14, item 7; `conjure_gateway::ratelimit`).
-- Shipped migrations are never edited; change the schema with a new numbered file.

-- A member's own limit, in requests a minute: NULL takes the gateway's default
-- (`conjure serve --rate-limit`), 0 is no limit.
ALTER TABLE members ADD COLUMN rate_per_minute INTEGER CHECK (rate_per_minute >= 0);

-- One row per member that made a limited request: the GCRA's "theoretical arrival time", in
-- unix milliseconds by the database's clock. A request passes when pushing it on by one
-- interval (a minute over the rate) leaves it at most a minute ahead of now. Shared by every
-- instance, so the limit holds for the whole gateway.
CREATE TABLE rate_limits (
    member  TEXT    NOT NULL PRIMARY KEY REFERENCES members (id) ON DELETE CASCADE,
    tat     BIGINT  NOT NULL
);
