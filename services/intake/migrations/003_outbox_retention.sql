-- Retention of the outbox (outbox_retention.py): published events are purged once older than
-- XF_INTAKE_OUTBOX_RETENTION_HOURS, oldest first, in bounded batches.

-- The purge finds its rows by publication time, without reading the rows still inside retention.
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;

-- When each case's case.received went out, kept when its outbox row is purged: the status answer
-- (GET /v1/cases/{id} `published_at`) reads the outbox first, then this.
CREATE TABLE received_sent (
    case_id       text PRIMARY KEY,
    published_at  timestamptz NOT NULL
);
