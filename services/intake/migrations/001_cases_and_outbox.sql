-- Intake's store: the only place personal data lives (encrypted), and the transactional outbox.

CREATE SEQUENCE case_number_seq;

CREATE TABLE cases (
    case_id           text PRIMARY KEY,
    idempotency_key   text UNIQUE,
    request_hash      text NOT NULL,           -- sha256 of the canonical submission, for conflicts
    client            text NOT NULL,           -- who submitted it (API key name or upstream source)
    received_at       timestamptz NOT NULL,
    channel           text NOT NULL,
    received_by       text NOT NULL,
    category          text NOT NULL,
    region            text NOT NULL,
    people_count      integer NOT NULL,
    target_unit       text,
    litigation        text NOT NULL,
    assignment        jsonb,
    summary           text NOT NULL,
    petitioner_key    text NOT NULL,
    matter_key        text NOT NULL,
    personal          text,                    -- vault token (AES-GCM): petitioner, address, content
    status            text NOT NULL DEFAULT 'open',   -- open | concluded, fed back by lifecycle events
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cases_matter ON cases (matter_key, received_at);

CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    event_id      text NOT NULL UNIQUE,
    topic         text NOT NULL,
    key           text NOT NULL,
    payload       bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;

-- A case on the same matter as an open case is attached to it (the router's `merge`).
ALTER TABLE cases ADD COLUMN merged_into text REFERENCES cases (case_id);
CREATE INDEX outbox_by_key ON outbox (key);
