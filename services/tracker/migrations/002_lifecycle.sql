-- The case lifecycle through the state machine: stage timestamps, unit scoping, clocks that keep
-- their policy snapshot, pauses and extensions, the alert ladder, parked (premature) events.

-- Rows written by the first tracker used 'closed' as a stage; the state machine names the ending.
UPDATE cases SET stage = CASE outcome
        WHEN 'diverted_legal' THEN 'diverted'
        WHEN 'rejected_concluded' THEN 'reject_concluded'
        WHEN 'redirected' THEN 'redirected'
        WHEN 'merged' THEN 'merged'
        ELSE 'concluded' END,
    outcome = CASE outcome
        WHEN 'diverted_legal' THEN 'diverted'
        WHEN 'rejected_concluded' THEN 'reject_concluded'
        ELSE outcome END
WHERE stage = 'closed';

ALTER TABLE cases
    ADD COLUMN stage_since            timestamptz,
    ADD COLUMN report_within_hours    integer,
    ADD COLUMN reports                text[] NOT NULL DEFAULT '{}',
    ADD COLUMN satisfied              boolean,
    ADD COLUMN assignment_from        text,
    ADD COLUMN assignment_due_days    integer,
    ADD COLUMN review_unit            text,
    ADD COLUMN rereview_unit          text,
    ADD COLUMN delivered_at           timestamptz,
    ADD COLUMN accepted_at            timestamptz,
    ADD COLUMN rejected_at            timestamptz,
    ADD COLUMN replied_at             timestamptz,
    ADD COLUMN review_requested_at    timestamptz,
    ADD COLUMN reviewed_at            timestamptz,
    ADD COLUMN rereview_requested_at  timestamptz,
    ADD COLUMN rereviewed_at          timestamptz,
    ADD COLUMN closed_at              timestamptz,
    ADD COLUMN last_event_at          timestamptz;
UPDATE cases SET stage_since = coalesce(routed_at, received_at), last_event_at = coalesce(routed_at, received_at)
WHERE stage_since IS NULL;

-- A unit's open cases, and its subtree's (LIKE 'prefix%'), as the read API asks for them.
DROP INDEX cases_open_by_unit;
CREATE INDEX cases_open_handling_unit ON cases (handling_unit text_pattern_ops) WHERE NOT closed;
CREATE INDEX cases_open_received_by ON cases (received_by text_pattern_ops) WHERE NOT closed;
CREATE INDEX cases_open_review_unit ON cases (review_unit text_pattern_ops) WHERE NOT closed;
CREATE INDEX cases_open_co_units ON cases USING gin (co_units) WHERE NOT closed;
CREATE INDEX cases_received_at ON cases (received_at);

ALTER TABLE clocks
    ADD COLUMN generation         integer NOT NULL DEFAULT 1,   -- +1 each time the stage starts again
    ADD COLUMN policy_snapshot    jsonb,                        -- the resolved policy it started with
    ADD COLUMN limit_value        integer,                      -- the case's own limit (assignment days, report hours)
    ADD COLUMN pauses             jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN extensions         jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN unit               text,                         -- who must act on this stage
    ADD COLUMN escalation_levels  integer NOT NULL DEFAULT 0,
    ADD COLUMN breach_window      interval NOT NULL DEFAULT '15 days',
    -- When the next alert threshold is reached; NULL when completed, paused or nothing is left.
    -- The scanner searches this column only.
    ADD COLUMN next_alert_at      timestamptz,
    ADD COLUMN outcome            text;                         -- met | late | superseded once completed

UPDATE clocks SET next_alert_at = CASE WHEN alert_level = 0 THEN warn_at ELSE due_at END
WHERE completed_at IS NULL;
UPDATE clocks SET outcome = CASE WHEN completed_at <= due_at THEN 'met' ELSE 'late' END
WHERE completed_at IS NOT NULL;

DROP INDEX clocks_running_warn;
CREATE INDEX clocks_next_alert ON clocks (next_alert_at) WHERE next_alert_at IS NOT NULL;
CREATE INDEX clocks_completed ON clocks (completed_at) WHERE completed_at IS NOT NULL;
CREATE INDEX clocks_due_date ON clocks (due_date);

-- Every event handled exactly once: applied or refused (held events are in parked_events).
ALTER TABLE applied_events ADD COLUMN outcome text NOT NULL DEFAULT 'applied';

-- Events that arrived before the one they depend on (replied before accepted; anything before the
-- case was received). Retried, oldest first, whenever their case changes; refused when they have
-- waited longer than XF_TRACKER_HOLD_SECONDS.
CREATE TABLE parked_events (
    event_id   text PRIMARY KEY,
    case_id    text NOT NULL,
    topic      text NOT NULL,
    type       text NOT NULL,
    at         timestamptz NOT NULL,
    payload    bytea NOT NULL,
    reason     text NOT NULL,
    parked_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX parked_events_case ON parked_events (case_id, at);
CREATE INDEX parked_events_age ON parked_events (parked_at);

-- One row per alert raised: at most one per clock instance, due date and threshold.
CREATE TABLE alerts (
    alert_id          text PRIMARY KEY,
    case_id           text NOT NULL,
    stage             text NOT NULL,
    generation        integer NOT NULL,
    kind              text NOT NULL,        -- warning | overdue | escalated | lapsed
    escalation_level  integer NOT NULL,
    unit              text,                 -- who was alerted
    responsible_unit  text,
    due_at            timestamptz NOT NULL,
    threshold_at      timestamptz NOT NULL,
    raised_at         timestamptz NOT NULL DEFAULT now(),
    raised_by         text NOT NULL
);
CREATE INDEX alerts_case ON alerts (case_id);
CREATE INDEX alerts_raised_at ON alerts (raised_at);

-- The deployment's local timezone (rules/deadlines.yaml), written at start, for the views' days.
CREATE TABLE deployment (
    id        boolean PRIMARY KEY DEFAULT true CHECK (id),
    timezone  text NOT NULL
);
INSERT INTO deployment (timezone) VALUES ('Asia/Shanghai');
