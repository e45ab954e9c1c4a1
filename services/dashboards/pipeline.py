"""管道健康 / Pipeline health: services up, throughput, consumer lag, latency, errors and the intake outbox.

Kafka consumption and publishing come from faststream's Prometheus middleware (`faststream_*`, label
`app_name` xf_intake / xf_router / xf_tracker); the rest from the services' own metrics.
"""

from __future__ import annotations

from services.dashboards.spec import Board, Panel, Prom, Row, increase_by, instant_stat, rate_by

PER_SECOND = "mps"


UP = Row(
    "服务",
    "Services",
    (
        Panel(
            "stat",
            "服务状态",
            "Services up",
            (Prom('up{job=~"intake|router|tracker"}', "{{job}} {{instance}}", instant=True),),
            width=12,
            height=4,
            value_names={"1": "在线 up", "0": "离线 down"},
        ),
        instant_stat(
            "待前序事件的事件",
            "Events parked for an earlier one",
            "max(xf_tracker_parked_events)",
            description="先于其依赖事件到达的办理事件（如先到答复、后到受理），依赖事件到达后自动处理。/ Lifecycle "
            "events that arrived before the event they depend on; applied when it arrives.",
        ),
        instant_stat("发件箱待发送", "Outbox events not yet sent", "max(xf_intake_outbox_backlog)"),
        instant_stat(
            "发件箱发送失败",
            "Outbox send errors",
            "sum(increase(xf_intake_outbox_relay_errors_total[$__range]))",
            decimals=0,
            description="Kafka 未接收的发件箱事件（会重试）。/ Outbox events Kafka did not take (retried).",
        ),
    ),
)

THROUGHPUT = Row(
    "吞吐",
    "Throughput",
    (
        Panel(
            "timeseries",
            "消费消息（按服务，每秒）",
            "Messages consumed by service, per second",
            (rate_by("faststream_received_messages_total", "app_name"),),
            unit=PER_SECOND,
            width=8,
        ),
        Panel(
            "timeseries",
            "发布消息（按主题，每秒）",
            "Messages published by topic, per second",
            (rate_by("faststream_published_messages_total", "destination"),),
            unit=PER_SECOND,
            width=8,
        ),
        Panel(
            "timeseries",
            "受理提交（按途径、结果，每秒）",
            "Intake submissions by path and outcome, per second",
            (rate_by("xf_intake_submissions_total", "via", "outcome"),),
            unit="reqps",
            width=8,
        ),
        Panel(
            "timeseries",
            "跟踪服务处理事件（按类型，每秒）",
            "Events applied by the tracker, by type, per second",
            (rate_by("xf_tracker_events_applied_total", "type"),),
            unit=PER_SECOND,
            width=12,
            stacked=True,
        ),
        Panel(
            "timeseries",
            "消费积压（跟踪服务，按主题）",
            "Tracker consumer lag by topic",
            (Prom("max by (topic) (xf_tracker_consumer_lag)", "{{topic}}"),),
            width=12,
            description="各主题上跟踪服务消费组尚未提交的消息数。/ Records on each topic not yet committed by the "
            "tracker's consumer group.",
        ),
    ),
)

CONSUMERS = Row(
    "消费者",
    "Consumers",
    (
        Panel(
            "stat",
            "停滞的消费者组",
            "Stalled consumer groups",
            (Prom("max by (service, group) (xf_consumer_stalled)", "{{service}} {{group}}", instant=True),),
            width=8,
            value_names={"1": "停滞 stalled", "0": "正常 ok"},
            description="有待处理的消息但超过 XF_CONSUMER_STALL_SECONDS 未提交进度的消费者组（其 /healthz 返回 503）。"
            "/ Consumer groups with records waiting that committed nothing for XF_CONSUMER_STALL_SECONDS "
            "(their /healthz answers 503).",
        ),
        Panel(
            "timeseries",
            "待处理消息（按消费者组）",
            "Records waiting by consumer group",
            (Prom("max by (service, group) (xf_consumer_waiting_records)", "{{service}} {{group}}"),),
            width=16,
        ),
    ),
)

LATENCY = Row(
    "延迟",
    "Latency",
    (
        Panel(
            "timeseries",
            "消息处理耗时 P95（按服务）",
            "Message handling time p95 by service",
            (
                Prom(
                    "histogram_quantile(0.95, sum by (app_name, le) "
                    "(rate(faststream_received_processed_messages_duration_seconds_bucket[$__rate_interval])))",
                    "{{app_name}}",
                ),
            ),
            unit="s",
            width=8,
        ),
        Panel(
            "timeseries",
            "发布耗时 P95（按主题）",
            "Publish time p95 by topic",
            (
                Prom(
                    "histogram_quantile(0.95, sum by (destination, le) "
                    "(rate(faststream_published_messages_duration_seconds_bucket[$__rate_interval])))",
                    "{{destination}}",
                ),
            ),
            unit="s",
            width=8,
        ),
        Panel(
            "timeseries",
            "期限扫描耗时 P95",
            "Deadline scan round p95",
            (
                Prom(
                    "histogram_quantile(0.95, sum by (le) (rate(xf_tracker_scan_seconds_bucket[$__rate_interval])))",
                    "P95",
                ),
            ),
            unit="s",
            width=8,
        ),
    ),
)

ERRORS = Row(
    "错误",
    "Errors",
    (
        Panel(
            "timeseries",
            "消息处理结果（按服务、状态，每秒）",
            "Messages by service and processing status, per second",
            (rate_by("faststream_received_processed_messages_total", "app_name", "status"),),
            unit=PER_SECOND,
            width=8,
            description="acked 之外的状态（nacked、rejected、error）表示处理失败。/ Any status but acked "
            "(nacked, rejected, error) is a failure.",
        ),
        Panel(
            "bargauge",
            "受理校验失败（按字段）",
            "Intake validation failures by field",
            (increase_by("xf_intake_validation_failures_total", "field"),),
            width=8,
            decimals=0,
        ),
        Panel(
            "bargauge",
            "跟踪服务拒收事件（按类型、原因）",
            "Events refused by the tracker, by type and reason",
            (increase_by("xf_tracker_events_refused_total", "type", "reason"),),
            width=8,
            decimals=0,
            description="不符合案件当前状态的办理事件被拒收并转入死信。/ Lifecycle events that do not fit the case "
            "are refused and dead-lettered.",
        ),
    ),
)

BOARD = Board(
    uid="xf-pipeline",
    file="pipeline.json",
    zh="管道健康",
    en="Pipeline health",
    description="受理、分办、跟踪三个服务之间的消息管道：吞吐、积压、延迟、错误、发件箱。"
    "/ The message pipeline between "
    "intake, router and tracker: throughput, lag, latency, errors, the outbox.",
    rows=(UP, THROUGHPUT, CONSUMERS, LATENCY, ERRORS),
    time_from="now-6h",
)
