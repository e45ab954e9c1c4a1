-- API clients with hashed keys and scopes; routing and lifecycle outcomes fed back into intake.

CREATE TABLE clients (
    name          text PRIMARY KEY,
    role          text NOT NULL CHECK (role IN ('upstream', 'reception', 'operator')),
    channels      text[] NOT NULL DEFAULT '{}',
    submit_scope  text[] NOT NULL DEFAULT '{}',   -- region codes (subtrees) or unit ids
    read_scope    text[] NOT NULL DEFAULT '{}',
    sources       text[] NOT NULL DEFAULT '{}',   -- CloudEvents sources it publishes with on Kafka
    note          text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);

CREATE TABLE api_keys (
    key_id       text PRIMARY KEY,
    client       text NOT NULL REFERENCES clients (name),
    secret_hash  text NOT NULL,                   -- "sha256:<hex>" of the whole key; the key is never stored
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
CREATE INDEX api_keys_client ON api_keys (client);

-- What intake computed at registration (DOMAIN.md §4.3 history), kept for the status answer.
ALTER TABLE cases ADD COLUMN history jsonb;
-- Where the case went: the routed handling unit, replaced by a lifecycle `reassigned`.
ALTER TABLE cases ADD COLUMN handling_unit text;
ALTER TABLE cases ADD COLUMN co_units text[] NOT NULL DEFAULT '{}';
ALTER TABLE cases ADD COLUMN reassigned boolean NOT NULL DEFAULT false;
-- The last step heard of: received, routed, or a lifecycle event type; and when it happened.
ALTER TABLE cases ADD COLUMN stage text NOT NULL DEFAULT 'received';
ALTER TABLE cases ADD COLUMN stage_at timestamptz;

CREATE INDEX cases_by_received_by ON cases (received_by text_pattern_ops, received_at);
CREATE INDEX cases_by_handling_unit ON cases (handling_unit text_pattern_ops, received_at);
CREATE INDEX cases_by_co_units ON cases USING gin (co_units);
CREATE INDEX cases_by_client ON cases (client, received_at);

CREATE TABLE routings (
    case_id              text PRIMARY KEY REFERENCES cases (case_id),
    event_id             text NOT NULL,
    received_event_id    text NOT NULL,
    routed_at            timestamptz NOT NULL,
    disposition          text NOT NULL,
    handling_unit        text,
    handling_level       text,
    co_units             text[] NOT NULL DEFAULT '{}',
    lead_leader          text,
    urgency              text NOT NULL,
    report_within_hours  integer,
    flags                text[] NOT NULL DEFAULT '{}',
    deadline_policy      text NOT NULL,
    trace                text[] NOT NULL DEFAULT '{}',
    ruleset_version      text NOT NULL
);
