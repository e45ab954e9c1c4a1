"""Names operators read: the Chinese and English for the codes in events, metrics and views, and the
period measures of `tracker.period_statistics` (docs/domain.md §9) with their numerators and denominators.

The measures are defined (computed) by the tracker's SQL only; this module names them, for the report and
the dashboards alike. A code missing here is shown as the code itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CHANNELS: dict[str, str] = {
    "letter": "来信",
    "visit": "来访",
    "online": "网上",
    "phone": "来电",
    "email": "电子邮件",
    "mailbox": "领导信箱",
    "referral": "上级转送",
    "assignment": "上级交办",
}
CATEGORIES: dict[str, str] = {
    "land_acquisition": "征地拆迁补偿",
    "wage_arrears": "拖欠工资",
    "social_security": "社保/退休待遇",
    "housing": "住房/物业",
    "urban_renewal": "城中村/旧城改造",
    "social_assistance": "低保/社会救助",
    "enterprise_restructuring": "企业改制",
    "education": "教育",
    "health": "医疗卫生",
    "environment": "生态环境",
    "public_security": "治安/公安",
    "litigation": "涉法涉诉",
    "official_conduct": "干部作风/违纪",
    "rural_land": "农村土地/农牧",
    "village_affairs": "村务/换届",
    "veterans": "退役军人",
    "neighbourhood": "邻里/民间纠纷",
    "other": "其他",
}
DISPOSITIONS: dict[str, str] = {
    "handle": "本机关办理",
    "forward": "转送",
    "assign": "交办",
    "divert_legal": "导入法定途径",
    "reject_concluded": "不再受理",
    "merge": "合并",
    "redirect": "告知向有权机关提出",
}
LEVELS: dict[str, str] = {
    "village": "村/社区",
    "town": "乡镇/街道",
    "county": "县级",
    "city": "市级",
    "province": "省级",
    "national": "国家",
    "none": "未定",
}
URGENCIES: dict[str, str] = {"normal": "一般", "urgent": "紧急", "critical": "特急"}
FLAGS: dict[str, str] = {
    "first_time": "初信初访",
    "repeat": "重复信访",
    "skip_level": "越级访",
    "collective": "集体访",
    "litigation": "涉法涉诉",
    "cross_region": "跨地区",
    "cross_department": "跨部门",
    "separation": "人户事分离",
    "sensitive_period": "敏感时期",
    "backlog": "积案",
    "superior_assigned": "上级交办",
}
STAGES: dict[str, str] = {
    "route": "登记转送",
    "accept": "受理告知",
    "handle": "办理",
    "review_window": "复查申请期",
    "review": "复查",
    "rereview_window": "复核申请期",
    "rereview": "复核",
    "assignment_report": "交办报告",
    "urgent_report": "紧急报告",
}
# Where a case stands (tracker.cases.stage).
CASE_STAGES: dict[str, str] = {
    "received": "已登记",
    "routed": "已分办",
    "delivered": "已送达",
    "accepted": "已受理",
    "replied": "已答复",
    "review_requested": "申请复查",
    "reviewed": "已复查",
    "rereview_requested": "申请复核",
    "rereviewed": "已复核",
    "concluded": "已终结",
    "rejected": "不予受理",
    "withdrawn": "已撤回",
    "merged": "已合并",
    "diverted": "已导入法定途径",
    "redirected": "已告知",
    "reject_concluded": "不再受理",
}
ALERT_KINDS: dict[str, str] = {
    "warning": "临期预警",
    "overdue": "超期",
    "escalated": "督办升级",
    "lapsed": "申请期届满",
}
DEADLINE_STATUSES: dict[str, str] = {"open": "正常", "due_soon": "临期", "overdue": "超期", "paused": "中止"}
CLOSURE_TIMELINESS: dict[str, str] = {"on_time": "按期", "late": "逾期"}

# Every code family above, for tables and legends that may show any of them.
ALL_CODES: dict[str, str] = {
    **CHANNELS,
    **CATEGORIES,
    **DISPOSITIONS,
    **LEVELS,
    **URGENCIES,
    **FLAGS,
    **STAGES,
    **CASE_STAGES,
    **ALERT_KINDS,
    **DEADLINE_STATUSES,
    **CLOSURE_TIMELINESS,
}


def bilingual(code: str, names: dict[str, str]) -> str:
    """ "网上 online" for a known code, the code itself otherwise."""
    name = names.get(code)
    return f"{name} {code}" if name else code


MeasureKind = Literal["count", "rate"]


@dataclass(frozen=True)
class Measure:
    """One column of tracker.period_statistics; a rate names the columns of its fraction."""

    column: str
    zh: str
    en: str
    kind: MeasureKind = "count"
    numerator: str | None = None
    denominator: str | None = None


# In the order of docs/domain.md §9; the columns are those of tracker.period_statistics(p_from, p_to).
MEASURES: tuple[Measure, ...] = (
    Measure("batches", "批次", "Batches (cases received)"),
    Measure("person_times", "人次", "Person-times"),
    Measure("first_time_rate", "初信初访占比", "First-time share", "rate", "first_time", "batches"),
    Measure("repeat_rate", "重复信访率", "Repeat rate", "rate", "repeat", "batches"),
    Measure("skip_level_rate", "越级访率", "Skip-level rate", "rate", "skip_level", "batches"),
    Measure("collective_rate", "集体访率", "Collective rate", "rate", "collective", "batches"),
    Measure("closure_rate", "办结率", "Closure rate (replied / accepted)", "rate", "accepted_replied", "accepted"),
    Measure(
        "on_time_closure_rate",
        "到期结案率",
        "On-time closure rate (replied by the due date / due in the period)",
        "rate",
        "handle_due_met",
        "handle_due",
    ),
    Measure("reply_rate", "回复率", "Reply rate (answered / sent for handling)", "rate", "answered", "for_handling"),
    Measure(
        "settle_rate",
        "息诉罢访率",
        "Settle rate (ended without a review request / replied and decided)",
        "rate",
        "settled",
        "replied_decided",
    ),
    Measure(
        "assignment_closure_rate",
        "上级交办办结率",
        "Assignment closure rate (reported on time / reports due)",
        "rate",
        "assignment_due_met",
        "assignment_due",
    ),
)
MEASURE_BY_COLUMN: dict[str, Measure] = {m.column: m for m in MEASURES}
