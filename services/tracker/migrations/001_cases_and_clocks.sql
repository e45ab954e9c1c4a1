-- The tracker's system of record: cases, their clocks, the events applied, and the audit trail.

CREATE TABLE cases (
    case_id          text PRIMARY KEY,
    received_at      timestamptz NOT NULL,
    channel          text NOT NULL,
    category         text NOT NULL,
    region           text NOT NULL,
    people_count     integer NOT NULL,
    received_by      text,
    stage            text NOT NULL,          -- received, routed, delivered, accepted, replied, ... concluded
    closed           boolean NOT NULL DEFAULT false,
    outcome          text,                   -- why it closed: concluded, rejected, merged, diverted, ...
    disposition      text,
    handling_unit    text,
    handling_level   text,
    co_units         text[] NOT NULL DEFAULT '{}',
    lead_leader      text,
    urgency          text,
    flags            text[] NOT NULL DEFAULT '{}',
    deadline_policy  text,
    ruleset_version  text,
    routed_at        timestamptz,
    version          integer NOT NULL DEFAULT 0,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cases_open_by_unit ON cases (handling_unit) WHERE NOT closed;

CREATE TABLE clocks (
    case_id          text NOT NULL REFERENCES cases (case_id),
    stage            text NOT NULL,
    policy           text NOT NULL,
    policy_version   text NOT NULL,
    started_at       timestamptz NOT NULL,
    due_date         date NOT NULL,
    due_at           timestamptz NOT NULL,
    warn_at          timestamptz NOT NULL,
    completed_at     timestamptz,
    extended_days    integer NOT NULL DEFAULT 0,
    paused_since     timestamptz,
    paused_total     interval NOT NULL DEFAULT '0',
    alert_level      integer NOT NULL DEFAULT 0,   -- 0 none, 1 warned, 2 overdue, 3+ escalated
    PRIMARY KEY (case_id, stage)
);
-- The scanner reads only running clocks, through these, never the whole table.
CREATE INDEX clocks_running_due ON clocks (due_at) WHERE completed_at IS NULL;
CREATE INDEX clocks_running_warn ON clocks (warn_at) WHERE completed_at IS NULL AND alert_level = 0;

CREATE TABLE applied_events (
    event_id    text PRIMARY KEY,
    case_id     text NOT NULL,
    type        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
    id               bigserial PRIMARY KEY,
    case_id          text NOT NULL,
    event_id         text NOT NULL,
    event_type       text NOT NULL,
    actor            text NOT NULL,
    at               timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    ruleset_version  text,
    policy_version   text,
    outcome          text NOT NULL,          -- applied | refused
    detail           jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_case ON audit_log (case_id, id);
