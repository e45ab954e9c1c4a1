"""分办 / Routing: decisions by disposition and level, rule hits, the ruleset version in force, reloads and
dead letters (docs/domain.md §5.2, §7)."""

from __future__ import annotations

from services.dashboards import sql
from services.dashboards.spec import Board, Panel, Prom, Row, Sql, code_names, increase_by, per_minute
from services.report.vocabulary import DISPOSITIONS, LEVELS, URGENCIES

DECISIONS = Row(
    "分办决定",
    "Decisions",
    (
        per_minute(
            "分办决定（按去向，每分钟）",
            "Decisions by disposition, per minute",
            "xf_router_decisions_total",
            "disposition",
            DISPOSITIONS,
        ),
        per_minute(
            "分办决定（按承办层级，每分钟）",
            "Decisions by handling level, per minute",
            "xf_router_decisions_total",
            "level",
            LEVELS,
        ),
        Panel(
            "bargauge",
            "紧急程度",
            "Urgency",
            (increase_by("xf_router_decisions_total", "urgency"),),
            width=8,
            names=code_names(URGENCIES),
            decimals=0,
        ),
        Panel(
            "bargauge",
            "去向",
            "Dispositions",
            (increase_by("xf_router_decisions_total", "disposition"),),
            width=8,
            names=code_names(DISPOSITIONS),
            decimals=0,
        ),
        Panel(
            "table",
            "本期分办（按去向与层级，登记日期在范围内）",
            "Cases by disposition and level (received in the range)",
            (
                Sql(
                    "SELECT f.disposition, coalesce(f.handling_level, 'none') AS level,\n"
                    "       count(*) AS batches, sum(f.people_count)::bigint AS person_times\n"
                    f"FROM {sql.PERIOD}\n"
                    "JOIN tracker.case_facts f ON f.received_day BETWEEN p.p_from AND p.p_to\n"
                    "WHERE f.disposition IS NOT NULL\n"
                    "GROUP BY 1, 2\n"
                    "ORDER BY 3 DESC, 1, 2",
                    ("disposition", "level", "batches", "person_times"),
                ),
            ),
            width=16,
            names={
                "disposition": "去向 Disposition",
                "level": "承办层级 Level",
                "batches": "批次 Batches",
                "person_times": "人次 Person-times",
            },
            value_names={**code_names(DISPOSITIONS), **code_names(LEVELS)},
        ),
    ),
)

RULES = Row(
    "规则",
    "Rules",
    (
        Panel(
            "stat",
            "生效规则版本",
            "Ruleset version in force",
            (Prom("count by (version) (xf_router_ruleset_info)", "{{version}}", instant=True),),
            width=6,
            height=5,
            show_name=True,
            description="规则文件内容的哈希；各分办实例应一致。数值为使用该版本的实例数。/ Content hash of rules/; "
            "every router instance should show the same. The number is how many instances use it.",
        ),
        Panel(
            "stat",
            "规则已生效时长",
            "Ruleset in force for",
            (Prom("time() - max(xf_router_ruleset_loaded_timestamp_seconds)", instant=True),),
            unit="s",
            width=6,
            height=5,
            single=True,
        ),
        Panel(
            "bargauge",
            "规则重载",
            "Rule reloads",
            (increase_by("xf_router_rule_reloads_total", "outcome"),),
            width=6,
            height=5,
            names={"applied": "已生效 applied", "refused": "被拒绝 refused"},
            decimals=0,
            description="被拒绝：修改后的规则未通过检查，仍按上一版本分办（xf rules check）。"
            "/ refused: the edited rules "
            "did not pass the checks; routing goes on with the last good version (see `xf rules check`).",
        ),
        Panel(
            "timeseries",
            "分办耗时",
            "Decision time",
            (
                Prom(
                    "histogram_quantile(0.5, sum by (le) (rate(xf_router_decision_seconds_bucket[$__rate_interval])))",
                    "中位数 Median",
                ),
                Prom(
                    "histogram_quantile(0.99, sum by (le) (rate(xf_router_decision_seconds_bucket[$__rate_interval])))",
                    "P99",
                ),
            ),
            unit="s",
            width=6,
            height=5,
        ),
        Panel(
            "bargauge",
            "规则命中（前20）",
            "Rule hits (top 20)",
            (
                Prom(
                    "topk(20, sum by (rule) (increase(xf_router_rule_hits_total[$__range])))",
                    "{{rule}}",
                    instant=True,
                ),
            ),
            width=12,
            height=12,
            decimals=0,
        ),
        Panel(
            "bargauge",
            "死信与拒收事件",
            "Dead letters and refused events",
            (
                Prom(
                    "sum by (job, reason) (increase(xf_router_dead_letters_total[$__range]))"
                    " or sum by (job, reason) (increase(xf_intake_dead_letters_total[$__range]))"
                    " or sum by (job, reason) (increase(xf_tracker_events_refused_total[$__range]))",
                    "{{job}} {{reason}}",
                    instant=True,
                ),
            ),
            width=12,
            height=12,
            decimals=0,
            description="进入 case.deadletter 的消息：受理、分办无法处理的事件，以及跟踪服务拒收的办理事件。"
            "/ Events sent "
            "to case.deadletter: what intake or the router could not process, and lifecycle events the tracker "
            "refused.",
        ),
    ),
)

BOARD = Board(
    uid="xf-routing",
    file="routing.json",
    zh="分办",
    en="Routing",
    description="规则引擎的分办决定（属地管理、分级负责；谁主管、谁负责；诉访分离）：去向、层级、规则命中、规则版本与重载、死信。"
    " / The router's decisions: dispositions, levels, rule hits, the ruleset version and reloads, dead letters.",
    rows=(DECISIONS, RULES),
)
