"""The HTTP API's request and answer models, documented in both languages for the OpenAPI spec.

The submission itself is `submission.Submission`; bodies are validated by
`validation.validate_submission` (all errors at once, bilingual), not by FastAPI, so these models
describe what goes over the wire and build the answers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.common.error_body import ErrorItem
from services.common.schemas import Channel, Disposition, Flag, Level, Litigation, Urgency
from services.common.schemas import PetitionStatus as CaseStatus
from services.intake.submission import Submission

MAX_BATCH = 500

SubmitStatus = Literal["accepted", "already_accepted"]
ItemStatus = Literal["accepted", "already_accepted", "invalid", "forbidden", "conflict"]


class Answer(BaseModel):
    model_config = ConfigDict(frozen=True)


class Submitted(Answer):
    case_id: str = Field(
        description="信访事项编号：XF + 登记单位6位区划 + 登记日期 + 序号，可读可排序 / Case number: "
        "XF + region of the receiving unit + local date + sequence; readable and sortable.",
        examples=["XF150627-20260506-000123"],
    )
    status: SubmitStatus = Field(
        description="accepted：新登记（201）；already_accepted：同一幂等键已登记过此件（200）/ "
        "accepted: a new case (201); already_accepted: this idempotency key registered it before (200)."
    )


class BatchItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="本件的幂等键（同 Idempotency-Key 请求头）/ This case's idempotency key (as the header).",
    )
    case: Any = Field(description="一件信访事项，格式同 POST /v1/cases / One case, as the body of POST /v1/cases.")


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cases: list[BatchItem] = Field(
        min_length=1, max_length=MAX_BATCH, description=f"1-{MAX_BATCH} 件 / 1 to {MAX_BATCH} cases."
    )


class BatchItemDoc(BatchItem):
    """Documentation only: `case` is a submission."""

    case: Submission


class BatchRequestDoc(BatchRequest):
    cases: list[BatchItemDoc] = Field(min_length=1, max_length=MAX_BATCH)  # type: ignore[assignment]


class BatchResult(Answer):
    index: int = Field(description="在请求中的位置（从0起）/ Position in the request, from 0.")
    status: ItemStatus = Field(
        description="accepted 新登记；already_accepted 已登记过；invalid 校验未通过；forbidden 超出授权；"
        "conflict 幂等键已用于不同内容 / accepted: new case; already_accepted: registered before; invalid: "
        "refused by validation; forbidden: outside the client's scope; conflict: key used for another body."
    )
    case_id: str | None = Field(default=None, description="信访事项编号 / The case number, when there is one.")
    errors: list[ErrorItem] = Field(
        default=[], description="字段路径相对于本件 case / Field paths are relative to the item's case."
    )


class BatchAnswer(Answer):
    accepted: int = Field(description="新登记件数 / New cases.")
    already_accepted: int = Field(description="此前已登记件数 / Cases registered before under the same key.")
    refused: int = Field(description="未受理件数 / Items refused (invalid, forbidden, conflict).")
    results: list[BatchResult] = Field(description="逐件结果，顺序同请求 / One result per item, in request order.")


class HistoryView(Answer):
    prior_cases: int = Field(description="同一信访人同一事项此前的件数 / Earlier cases of the same matter.")
    open_case_id: str | None = Field(description="同一事项尚在办理的件 / The open case of the same matter, if any.")
    concluded: bool = Field(description="同一事项已终结（复核完毕）/ The matter already finished re-review.")


class RoutingView(Answer):
    routed_at: datetime
    disposition: Disposition = Field(description="处理方式 / Disposition (DOMAIN.md §4.4).")
    handling_unit: str | None = Field(description="责任单位（路由时）/ Handling unit as routed.")
    handling_level: Level | None
    co_units: list[str] = Field(description="协办单位 / Co-handling units.")
    lead_leader: str | None = Field(description="包案领导（角色）/ Role of the lead leader.")
    urgency: Urgency
    report_within_hours: int | None
    flags: list[Flag]
    deadline_policy: str
    trace: list[str] = Field(description="命中的规则，按顺序 / Ids of the rules that fired, in order.")
    ruleset_version: str


class HandoverView(Answer):
    from_unit: str = Field(description="转送/交办单位 / The unit it came from.")
    due_days: int | None = Field(default=None, description="交办报结期限（天）/ Days to report the result.")


class CaseView(Answer):
    case_id: str = Field(examples=["XF150627-20260506-000123"])
    received_at: datetime
    channel: Channel
    category: str
    region: str = Field(description="事发地区划代码 / Division code where the matter arose.")
    received_by: str = Field(description="登记单位 / Unit where it was registered.")
    submitted_by: str = Field(description="提交的客户端 / The API client that submitted it.")
    people_count: int
    target_unit: str | None = Field(description="被反映单位 / Unit complained about.")
    litigation: Litigation
    assignment: HandoverView | None = Field(description="上级转送/交办 / Referral or assignment.")
    summary: str = Field(description="摘要（不含个人信息）/ Summary, without personal data.")
    status: CaseStatus = Field(
        description="open 办理中；merged 已并入同一事项的在办件；closed 已结束（不予受理、撤回、导入法定途径、"
        "告知向有权机关提出、不再受理）；concluded 已终结 / open; merged into the open case of the same "
        "matter; closed (rejected, withdrawn, diverted, redirected, not accepted again); concluded."
    )
    stage: str = Field(
        description="最近一步：received、routed 或办理环节 / Last step: received, routed, or a lifecycle event."
    )
    stage_at: datetime | None
    handling_unit: str | None = Field(
        description="当前责任单位（含改派）/ Current handling unit, after any reassignment."
    )
    merged_into: str | None = Field(description="并入的在办件 / The open case this one is attached to.")
    history: HistoryView | None = Field(description="登记时查得的同一事项历史 / Same-matter history found at intake.")
    published_at: datetime | None = Field(
        description="case.received 发出时间；空表示尚在发件箱 / When case.received went out; null: still in the outbox."
    )
    routing: RoutingView | None = Field(
        description="路由结果；尚未路由时为空 / The routing decision; null until routed."
    )


class CaseSummary(Answer):
    case_id: str
    received_at: datetime
    channel: Channel
    category: str
    region: str
    received_by: str
    handling_unit: str | None
    people_count: int
    status: CaseStatus
    stage: str
    merged_into: str | None
    disposition: Disposition | None
    urgency: Urgency | None
    flags: list[Flag]


class CaseList(Answer):
    unit: str = Field(description="所查单位 / The unit asked about.")
    subtree: bool = Field(description="是否含下级单位 / Whether units below it are included.")
    cases: list[CaseSummary] = Field(description="最新在前 / Newest first.")
    next_cursor: str | None = Field(
        description="下一页游标；空表示没有更多 / Cursor of the next page; null at the end."
    )


SUBMISSION_EXAMPLES: dict[str, dict[str, Any]] = {
    "visit": {
        "summary": "来访，集体反映欠薪 / A collective visit about unpaid wages",
        "value": {
            "channel": "visit",
            "received_by": "150627:petition",
            "category": "wage_arrears",
            "location": {"region": "150627107", "address": "札萨克镇某工地宿舍"},
            "petitioner": {
                "kind": "person",
                "name": "测试乙",
                "id_number": "150627198503121237",
                "phone": "13912345678",
            },
            "people_count": 6,
            "target_unit": "150627:hrss",
            "litigation": "none",
            "summary": "某建筑工地拖欠农民工工资约三个月。",
            "content": "测试乙等六人反映工资被拖欠……",
            "received_at": "2026-05-06T09:30:00+08:00",
        },
    },
    "anonymous_online": {
        "summary": "网上匿名信访 / An anonymous web submission",
        "value": {
            "channel": "online",
            "received_by": "150627:petition",
            "category": "environment",
            "location": {"region": "150627"},
            "petitioner": {"kind": "anonymous"},
            "summary": "反映附近企业夜间排放异味。",
            "content": "附近企业夜间排放异味，影响休息。",
        },
    },
    "assignment": {
        "summary": "上级交办，限期报结果 / Assigned from above with a report deadline",
        "value": {
            "channel": "assignment",
            "received_by": "150627:petition",
            "category": "housing",
            "location": {"region": "150627"},
            "petitioner": {"kind": "organisation", "organisation_name": "某小区业主委员会"},
            "assignment": {"from_unit": "150600:petition", "due_days": 30},
            "summary": "反映商品房逾期交付。",
            "content": "市信访局交办：业主委员会反映商品房逾期交付。",
        },
    },
}
