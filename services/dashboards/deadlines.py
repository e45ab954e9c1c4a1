"""期限 / Deadlines: open cases by stage; due soon, overdue and backlog (积案) by unit; closure and on-time
closure rates; extensions; alerts; time to route, accept and reply (docs/domain.md §8, §7).

The tracker's gauges are read from its database and every instance reports the same numbers: they are
combined with max() per label set first, then summed over the labels a panel does not show.
"""

from __future__ import annotations

from services.dashboards import sql
from services.dashboards.spec import (
    Board,
    Panel,
    Prom,
    Row,
    Sql,
    code_names,
    increase_by,
    instant_stat,
    per_minute,
    period_stat,
)
from services.report.vocabulary import ALERT_KINDS, CASE_STAGES, CLOSURE_TIMELINESS, LEVELS, MEASURES, STAGES

NOW = Row(
    "当前",
    "Now",
    (
        instant_stat(
            "未办结",
            "Open cases",
            "sum(max by (stage, level) (xf_tracker_open_cases))",
            description="尚未结束的信访事项。/ Cases that have not ended.",
        ),
        instant_stat(
            "临期",
            "Due soon",
            "sum(max by (stage, level) (xf_tracker_due_soon))",
            description="进入预警期（默认剩 3 天）的办理环节。/ Running stages inside their warning lead "
            "(3 days by default).",
        ),
        instant_stat(
            "超期",
            "Overdue",
            "sum(max by (stage, level) (xf_tracker_overdue))",
            description="已过期限仍未完成的环节（不含信访人的申请期）。/ Running stages past their deadline "
            "(the petitioner's request windows excluded).",
        ),
        instant_stat(
            "积案",
            "Backlog",
            "sum(max by (level) (xf_tracker_backlog_cases))",
            description="超过办理期限仍未出具处理意见的信访事项。/ Open cases past their handling deadline.",
        ),
        instant_stat(
            "中止计时",
            "Paused clocks",
            "sum(max by (stage) (xf_tracker_paused_clocks))",
            description="因听证、补充材料等中止的期限。/ Clocks paused for a hearing, missing material or "
            "another reason.",
        ),
        instant_stat(
            "运行中期限",
            "Running clocks",
            "sum(max by (stage) (xf_tracker_running_clocks))",
            description="所有正在计时的环节。/ All running stage clocks.",
        ),
    ),
)


def _by_stage(zh: str, en: str, gauge: str, stages: dict[str, str]) -> Panel:
    return Panel(
        "timeseries",
        zh,
        en,
        (Prom(f"sum by (stage) (max by (stage, level) ({gauge}))", "{{stage}}"),),
        width=8,
        names=code_names(stages),
        stacked=True,
    )


BY_STAGE = Row(
    "按环节",
    "By stage",
    (
        _by_stage("未办结（按所处阶段）", "Open cases by stage", "xf_tracker_open_cases", CASE_STAGES),
        _by_stage("临期（按环节）", "Due soon by stage", "xf_tracker_due_soon", STAGES),
        _by_stage("超期（按环节）", "Overdue by stage", "xf_tracker_overdue", STAGES),
    ),
)

BY_UNIT = Row(
    "按单位",
    "By unit",
    (
        Panel(
            "timeseries",
            "积案（按层级）",
            "Backlog by handling level",
            (Prom("max by (level) (xf_tracker_backlog_cases)", "{{level}}"),),
            width=6,
            height=9,
            names=code_names(LEVELS),
            stacked=True,
        ),
        Panel(
            "bargauge",
            "未办结（按单位，前15）",
            "Open cases by unit (top 15)",
            (Prom("topk(15, max by (unit) (xf_tracker_open_cases_by_unit))", "{{unit}}", instant=True),),
            width=6,
            height=9,
            description="乡镇以下单位计入所属县。/ Units below county level are counted under their county.",
        ),
        Panel(
            "table",
            "临期、超期、积案（按单位）",
            "Due soon, overdue and backlog by unit",
            (
                Sql(
                    "WITH clocks AS (\n"
                    "    SELECT r.unit,\n"
                    "           count(*) FILTER (WHERE r.status = 'due_soon') AS due_soon,\n"
                    "           count(*) FILTER (WHERE r.status = 'overdue') AS overdue\n"
                    "    FROM tracker.running_deadlines r\n"
                    # The petitioner's request windows are nobody's deadline (as in the tracker's gauges).
                    f"    WHERE r.stage NOT IN {sql.WINDOW_STAGES} AND r.unit IS NOT NULL\n"
                    "    GROUP BY 1\n"
                    "), backlog AS (\n"
                    "    SELECT f.handling_unit AS unit, count(*) AS backlog\n"
                    "    FROM tracker.case_facts f WHERE f.backlog GROUP BY 1\n"
                    ")\n"
                    "SELECT unit, coalesce(c.due_soon, 0) AS due_soon, coalesce(c.overdue, 0) AS overdue,\n"
                    "       coalesce(b.backlog, 0) AS backlog\n"
                    "FROM clocks c FULL JOIN backlog b USING (unit)\n"
                    "WHERE coalesce(c.due_soon, 0) + coalesce(c.overdue, 0) + coalesce(b.backlog, 0) > 0\n"
                    "ORDER BY backlog DESC, overdue DESC, due_soon DESC, unit\n"
                    "LIMIT 30",
                    ("unit", "due_soon", "overdue", "backlog"),
                ),
            ),
            width=12,
            height=9,
            names={
                "unit": "单位 Unit",
                "due_soon": "临期 Due soon",
                "overdue": "超期 Overdue",
                "backlog": "积案 Backlog",
            },
        ),
    ),
)

OVERDUE_LIST = Row(
    "超期清单",
    "Overdue stages",
    (
        Panel(
            "table",
            "超期环节（最早到期的50个）",
            "Overdue stages, earliest due first (50)",
            (
                Sql(
                    "SELECT r.case_id, r.stage, r.unit, coalesce(r.level, 'none') AS level, r.due_date,\n"
                    "       (now()::date - r.due_date) AS days_overdue, r.alert_level\n"
                    "FROM tracker.running_deadlines r\n"
                    f"WHERE r.status = 'overdue' AND r.stage NOT IN {sql.WINDOW_STAGES}\n"
                    "ORDER BY r.due_at, r.case_id\n"
                    "LIMIT 50",
                    ("case_id", "stage", "unit", "level", "due_date", "days_overdue", "alert_level"),
                ),
            ),
            width=24,
            height=10,
            names={
                "case_id": "信访事项编号 Case",
                "stage": "环节 Stage",
                "unit": "责任单位 Unit",
                "level": "层级 Level",
                "due_date": "期限 Due date",
                "days_overdue": "超期天数 Days overdue",
                "alert_level": "预警级别 Alert level",
            },
            value_names={**code_names(STAGES), **code_names(LEVELS)},
            description="预警级别：1 临期预警，2 超期，3 及以上为逐级督办。/ Alert level: 1 warned, 2 overdue, "
            "3 and up escalated one more supervising level each.",
        ),
    ),
)


def _rate_stat(column: str) -> Panel:
    return period_stat(
        column,
        "percentunit",
        "{m.zh}：{m.en}。所选时间范围内，见 tracker.period_statistics。"
        " / {m.en}, over the selected range (tracker.period_statistics).",
    )


CLOSURE = Row(
    "办结",
    "Closure",
    (
        _rate_stat("closure_rate"),
        _rate_stat("on_time_closure_rate"),
        _rate_stat("reply_rate"),
        _rate_stat("settle_rate"),
        _rate_stat("assignment_closure_rate"),
        instant_stat(
            "按期答复（实时）",
            "Replies on time (live)",
            'sum(increase(xf_tracker_closures_total{timeliness="on_time"}[$__range]))'
            " / sum(increase(xf_tracker_closures_total[$__range]))",
            unit="percentunit",
            decimals=1,
            description="所选时间范围内出具处理意见的信访事项中按期的比例（跟踪服务计数）。/ Of the replies in the "
            "range, the share made by the handling deadline (the tracker's counters).",
        ),
        Panel(
            "table",
            "本期比率及分子分母",
            "Rates of the period with numerators and denominators",
            (Sql(sql.measures_table(), ("measure", "numerator", "denominator", "rate")),),
            width=12,
            height=8,
            names={
                "measure": "指标 Measure",
                "numerator": "分子 Numerator",
                "denominator": "分母 Denominator",
                "rate": "比率 Rate",
            },
            value_names={m.column: f"{m.zh} {m.en}" for m in MEASURES},
        ),
        Panel(
            "timeseries",
            "每日受理、答复与到期",
            "Accepted, replied and due per day",
            (
                Sql(
                    "SELECT (f.day::timestamp AT TIME ZONE d.timezone) AS time,\n"
                    "       sum(f.accepted)::bigint AS accepted, sum(f.replied)::bigint AS replied,\n"
                    "       sum(f.handle_due)::bigint AS handle_due, sum(f.handle_due_met)::bigint AS handle_due_met\n"
                    f"FROM {sql.PERIOD}\n"
                    "JOIN tracker.daily_flow f ON f.day BETWEEN p.p_from AND p.p_to\n"
                    "GROUP BY 1\nORDER BY 1",
                    ("time", "accepted", "replied", "handle_due", "handle_due_met"),
                    time_series=True,
                ),
            ),
            width=12,
            height=8,
            names={
                "accepted": "受理 Accepted",
                "replied": "答复 Replied",
                "handle_due": "办理到期 Handling due",
                "handle_due_met": "按期办结 Met on time",
            },
        ),
    ),
)

EXTENSIONS_ALERTS = Row(
    "延期、预警与用时",
    "Extensions, alerts and durations",
    (
        Panel(
            "bargauge",
            "延期（按环节）",
            "Extensions granted by stage",
            (increase_by("xf_tracker_extensions_total", "stage"),),
            width=6,
            names=code_names(STAGES),
            decimals=0,
        ),
        Panel(
            "stat",
            "延期天数",
            "Days added by extensions",
            (Prom("sum(increase(xf_tracker_extension_days_total[$__range]))", instant=True),),
            width=3,
            single=True,
            decimals=0,
        ),
        Panel(
            "bargauge",
            "预警与督办（按类别、环节）",
            "Alerts by kind and stage",
            (increase_by("xf_tracker_alerts_total", "kind", "stage"),),
            width=7,
            decimals=0,
            description="临期预警、超期告警、督办升级（每环节每个门槛一次）。/ Warnings, overdue alerts and "
            "escalations (one per stage and threshold).",
            value_names=code_names(ALERT_KINDS),
        ),
        per_minute(
            "答复（按期/逾期，每分钟）",
            "Replies on time and late, per minute",
            "xf_tracker_closures_total",
            "timeliness",
            CLOSURE_TIMELINESS,
        ),
        *(
            Panel(
                "stat",
                f"{zh}用时",
                f"Time to {en}",
                (
                    Prom(
                        f"histogram_quantile(0.5, sum by (le) (increase({metric}_bucket[$__range])))",
                        "中位数 Median",
                        instant=True,
                    ),
                    Prom(
                        f"histogram_quantile(0.9, sum by (le) (increase({metric}_bucket[$__range])))",
                        "P90",
                        instant=True,
                    ),
                ),
                unit="s",
                width=8,
                height=5,
                single=True,
                description=f"从登记到{zh}，所选时间范围内的中位数和第90百分位（直方图估计）。"
                f" / From receipt to {en}: median and 90th percentile over the range (histogram estimate).",
            )
            for zh, en, metric in (
                ("分办", "routing", "xf_tracker_time_to_route_seconds"),
                ("受理", "acceptance", "xf_tracker_time_to_accept_seconds"),
                ("答复", "reply", "xf_tracker_time_to_reply_seconds"),
            )
        ),
    ),
)

BOARD = Board(
    uid="xf-deadlines",
    file="deadlines.json",
    zh="期限",
    en="Deadlines",
    description="信访工作条例规定的各环节期限（docs/domain.md §8）：未办结、临期、超期、积案，"
    "办结率与到期结案率，延期和预警。"
    " / The legal deadlines of every stage: open, due soon, overdue, backlog; closure and on-time closure rates; "
    "extensions and alerts.",
    rows=(NOW, BY_STAGE, BY_UNIT, OVERDUE_LIST, CLOSURE, EXTENSIONS_ALERTS),
)
