-- Exact period statistics (DOMAIN.md §7) for Grafana's PostgreSQL data source and for reports.
-- Days are local dates of the deployment (deployment.timezone). Every measure is defined here, once.

-- One row per case: what it is, where it stands, and the facts the measures count.
CREATE VIEW case_facts AS
SELECT
    c.case_id,
    c.received_at,
    (c.received_at AT TIME ZONE d.timezone)::date               AS received_day,
    c.channel,
    c.category,
    c.region,
    CASE WHEN length(c.region) > 6 THEN left(c.region, 6) ELSE c.region END AS county,
    c.people_count,
    c.received_by,
    c.disposition,
    c.handling_unit,
    c.handling_level,
    c.urgency,
    c.flags,
    'first_time' = ANY (c.flags)                                  AS first_time,
    'repeat' = ANY (c.flags)                                      AS repeat,
    'skip_level' = ANY (c.flags)                                  AS skip_level,
    'collective' = ANY (c.flags)                                  AS collective,
    c.disposition IN ('handle', 'forward', 'assign')              AS for_handling,
    c.assignment_due_days IS NOT NULL                             AS assigned,
    c.stage,
    c.closed,
    c.outcome,
    c.routed_at,
    c.accepted_at,
    c.rejected_at,
    c.replied_at,
    c.review_requested_at,
    c.reviewed_at,
    c.rereview_requested_at,
    c.rereviewed_at,
    c.closed_at,
    (c.accepted_at AT TIME ZONE d.timezone)::date                 AS accepted_day,
    (c.replied_at AT TIME ZONE d.timezone)::date                  AS replied_day,
    h.due_at                                                      AS handle_due_at,
    h.due_date                                                    AS handle_due_date,
    h.extended_days                                               AS handle_extended_days,
    h.completed_at IS NULL AND h.paused_since IS NULL AND h.due_at < now() AS backlog,
    h.outcome = 'met'                                             AS replied_on_time,
    a.due_date                                                    AS assignment_due_date,
    a.completed_at                                                AS assignment_reported_at,
    a.outcome                                                     AS assignment_outcome,
    -- 息诉罢访: replied, and the case ended without a review request.
    c.replied_at IS NOT NULL AND c.closed AND c.review_requested_at IS NULL AS settled
FROM cases c
CROSS JOIN deployment d
LEFT JOIN clocks h ON h.case_id = c.case_id AND h.stage = 'handle' AND h.outcome IS DISTINCT FROM 'superseded'
LEFT JOIN clocks a ON a.case_id = c.case_id AND a.stage = 'assignment_report';

-- Volume by the day received: batches (批次) and person-times (人次), by channel, category, county and
-- level, with the flags counted (in batches).
CREATE VIEW daily_volume AS
SELECT
    received_day AS day,
    channel,
    category,
    county,
    coalesce(handling_level, 'none') AS level,
    count(*)                                   AS batches,
    sum(people_count)                          AS person_times,
    count(*) FILTER (WHERE first_time)         AS first_time,
    count(*) FILTER (WHERE repeat)             AS repeat,
    count(*) FILTER (WHERE skip_level)         AS skip_level,
    count(*) FILTER (WHERE collective)         AS collective,
    count(*) FILTER (WHERE for_handling)       AS for_handling,
    count(*) FILTER (WHERE assigned)           AS assigned
FROM case_facts
GROUP BY 1, 2, 3, 4, 5;

-- What happened on each day, by level: acceptances, replies (on time / late), handling deadlines
-- that fell due (and how many of those were met), assignment reports due (and met), cases closed.
CREATE VIEW daily_flow AS
WITH days AS (
    SELECT accepted_day AS day, handling_level, 'accepted' AS what, NULL::boolean AS ok FROM case_facts WHERE accepted_day IS NOT NULL
    UNION ALL
    SELECT replied_day, handling_level, 'replied', replied_on_time FROM case_facts WHERE replied_day IS NOT NULL
    UNION ALL
    SELECT handle_due_date, handling_level, 'handle_due', replied_on_time FROM case_facts WHERE handle_due_date IS NOT NULL
    UNION ALL
    SELECT assignment_due_date, handling_level, 'assignment_due', assignment_outcome = 'met'
    FROM case_facts WHERE assignment_due_date IS NOT NULL
    UNION ALL
    SELECT (closed_at AT TIME ZONE d.timezone)::date, handling_level, 'closed', settled
    FROM case_facts CROSS JOIN deployment d WHERE closed_at IS NOT NULL
)
SELECT
    day,
    coalesce(handling_level, 'none') AS level,
    count(*) FILTER (WHERE what = 'accepted')                   AS accepted,
    count(*) FILTER (WHERE what = 'replied')                    AS replied,
    count(*) FILTER (WHERE what = 'replied' AND ok)             AS replied_on_time,
    count(*) FILTER (WHERE what = 'handle_due')                 AS handle_due,
    count(*) FILTER (WHERE what = 'handle_due' AND ok)          AS handle_due_met,
    count(*) FILTER (WHERE what = 'assignment_due')             AS assignment_due,
    count(*) FILTER (WHERE what = 'assignment_due' AND ok)      AS assignment_due_met,
    count(*) FILTER (WHERE what = 'closed')                     AS closed,
    count(*) FILTER (WHERE what = 'closed' AND ok)              AS closed_settled
FROM days
GROUP BY 1, 2;

-- Every running deadline with its status now (the read API computes the same with the clock code;
-- this is for dashboards: a paused clock shows the due date it had when it was paused).
CREATE VIEW running_deadlines AS
SELECT
    k.case_id,
    k.stage,
    k.unit,
    c.handling_level AS level,
    k.started_at,
    k.due_date,
    k.due_at,
    k.extended_days,
    k.alert_level,
    CASE
        WHEN k.paused_since IS NOT NULL THEN 'paused'
        WHEN now() > k.due_at THEN 'overdue'
        WHEN now() >= k.warn_at AND k.warn_at < k.due_at THEN 'due_soon'
        ELSE 'open'
    END AS status
FROM clocks k
JOIN cases c USING (case_id)
WHERE k.completed_at IS NULL;

-- The measures of a period [p_from, p_to] (local dates, both included), each with its numerator and
-- denominator so that reports can show both. Rates are NULL when their denominator is 0.
--   batches, person_times          cases received in the period, and their people
--   first_time / repeat / skip_level / collective _rate   share of the period's batches with the flag
--   closure_rate (办结率)            of the cases accepted in the period, the share replied (by now)
--   on_time_closure_rate (到期结案率) of the handling deadlines that fell in the period, the share
--                                    replied by their due date
--   reply_rate (回复率)              of the period's cases sent for handling, the share that got an
--                                    answer (a reply, or a notice of non-acceptance)
--   settle_rate (息诉罢访率)         of the cases replied in the period whose case has ended or whose
--                                    review was requested, the share that ended without a review request
--   assignment_closure_rate (上级交办办结率)  of the assignment-report deadlines in the period, the
--                                    share reported on time
CREATE FUNCTION period_statistics(p_from date, p_to date)
RETURNS TABLE (
    period_from date, period_to date,
    batches bigint, person_times bigint,
    first_time bigint, first_time_rate numeric,
    repeat bigint, repeat_rate numeric,
    skip_level bigint, skip_level_rate numeric,
    collective bigint, collective_rate numeric,
    accepted bigint, accepted_replied bigint, closure_rate numeric,
    handle_due bigint, handle_due_met bigint, on_time_closure_rate numeric,
    for_handling bigint, answered bigint, reply_rate numeric,
    replied bigint, replied_decided bigint, settled bigint, settle_rate numeric,
    assignment_due bigint, assignment_due_met bigint, assignment_closure_rate numeric
)
LANGUAGE sql STABLE
SET search_path FROM CURRENT  -- callers need not have the tracker schema on their search path
AS $$
WITH received AS (
    SELECT * FROM case_facts WHERE received_day BETWEEN p_from AND p_to
), acc AS (
    SELECT count(*) AS n, count(*) FILTER (WHERE replied_at IS NOT NULL) AS done
    FROM case_facts WHERE accepted_day BETWEEN p_from AND p_to
), due AS (
    SELECT count(*) AS n, count(*) FILTER (WHERE replied_on_time) AS met
    FROM case_facts WHERE handle_due_date BETWEEN p_from AND p_to
), rep AS (
    SELECT count(*) AS n,
           count(*) FILTER (WHERE closed OR review_requested_at IS NOT NULL) AS decided,
           count(*) FILTER (WHERE settled) AS settled
    FROM case_facts WHERE replied_day BETWEEN p_from AND p_to
), asg AS (
    SELECT count(*) AS n, count(*) FILTER (WHERE assignment_outcome = 'met') AS met
    FROM case_facts WHERE assignment_due_date BETWEEN p_from AND p_to
), vol AS (
    SELECT count(*) AS n, coalesce(sum(people_count), 0)::bigint AS people,
           count(*) FILTER (WHERE first_time) AS first_time,
           count(*) FILTER (WHERE repeat) AS repeat,
           count(*) FILTER (WHERE skip_level) AS skip_level,
           count(*) FILTER (WHERE collective) AS collective,
           count(*) FILTER (WHERE for_handling) AS for_handling,
           count(*) FILTER (WHERE for_handling AND (replied_at IS NOT NULL OR rejected_at IS NOT NULL)) AS answered
    FROM received
)
SELECT p_from, p_to,
       vol.n, vol.people,
       vol.first_time, round(vol.first_time::numeric / nullif(vol.n, 0), 4),
       vol.repeat, round(vol.repeat::numeric / nullif(vol.n, 0), 4),
       vol.skip_level, round(vol.skip_level::numeric / nullif(vol.n, 0), 4),
       vol.collective, round(vol.collective::numeric / nullif(vol.n, 0), 4),
       acc.n, acc.done, round(acc.done::numeric / nullif(acc.n, 0), 4),
       due.n, due.met, round(due.met::numeric / nullif(due.n, 0), 4),
       vol.for_handling, vol.answered, round(vol.answered::numeric / nullif(vol.for_handling, 0), 4),
       rep.n, rep.decided, rep.settled, round(rep.settled::numeric / nullif(rep.decided, 0), 4),
       asg.n, asg.met, round(asg.met::numeric / nullif(asg.n, 0), 4)
FROM vol, acc, due, rep, asg
$$;
