"""The tracker's HTTP API for units without a case system of their own. Thin handlers.

Actions (`POST /v1/cases/{case_id}/{action}`) are checked against the case's current state with the
engine the consumer uses, published on `case.lifecycle`, and applied by the consumer like events
from units' own systems (one path). Reads return a case's deadlines, or a unit's open cases.
Authentication and errors are the system's (services.access, services.common.field_errors): `X-API-Key`,
and `{"errors": [{field, code, message_en, message_zh}]}`.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader

from services.access.scopes import (
    CASE_ID_PATTERN,
    UNIT_PATTERN,
    Client,
    subtree_filter,
    subtree_in_scope,
    unit_in_scope,
)
from services.common.envelope import deterministic_id
from services.common.error_body import ErrorBody
from services.common.field_errors import FieldError, field_error, field_errors_from_pydantic
from services.common.paging import decode_cursor, encode_cursor
from services.common.regions import official_regions, region_known
from services.common.topics import CASE_LIFECYCLE
from services.tracker import actions, readmodel, store
from services.tracker.auth import acting_unit, readable
from services.tracker.consumer import lifecycle_envelope
from services.tracker.engine import Applied, Duplicate, Held, Incoming, decide

if TYPE_CHECKING:
    from services.tracker.service import TrackerService

API_KEY = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="API 密钥（xf intake client add 签发，与受理系统共用）/ The client's API key, issued by "
    "`xf intake client add` (the same clients and keys as intake).",
)
CaseIdPath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=CASE_ID_PATTERN, description="信访事项编号 / Case number.")
]


class ApiError(Exception):
    def __init__(self, status: int, errors: Sequence[FieldError]) -> None:
        super().__init__(errors[0].message_en if errors else str(status))
        self.status = status
        self.errors = list(errors)


def _docs(*codes: int) -> dict[int | str, dict[str, Any]]:
    described = {
        401: "没有或无效的 API 密钥 / No API key, or an unknown or revoked one.",
        403: "超出该客户端的角色或授权范围 / Outside the client's role or scopes.",
        404: "信访事项不存在或无权查看 / No such case, or not one this client may read.",
        409: "当前环节不允许此操作（见 code：transition_refused、transition_premature）/ The case's state "
        "does not allow it now (code transition_refused or transition_premature, with the reason).",
        422: "请求无效；列出每个出错字段 / Invalid request; every field at fault is listed.",
    }
    return {code: {"model": ErrorBody, "description": described[code]} for code in codes}


async def current_client(request: Request, api_key: Annotated[str | None, Security(API_KEY)] = None) -> Client:
    if not api_key:
        raise ApiError(401, [field_error("X-API-Key", "api_key_missing")])
    service: TrackerService = request.app.state.service
    client = await service.registry.authenticate(api_key)
    if client is None:
        raise ApiError(401, [field_error("X-API-Key", "api_key_invalid")])
    return client


ClientDep = Annotated[Client, Depends(current_client)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="幂等键：重试时不会重复记录 / Idempotency key: a retried action is recorded once.",
    ),
]


def install_api(app: FastAPI) -> None:
    """The error bodies of the system, the actions of the route table, and the reads."""

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return JSONResponse({"errors": [e.to_dict() for e in exc.errors]}, status_code=exc.status)

    async def on_parameter_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = []
        for item in exc.errors():
            location = list(item.get("loc", ()))
            errors.extend(field_errors_from_pydantic([{**item, "loc": location[1:]}]))
        return JSONResponse({"errors": [e.to_dict() for e in errors]}, status_code=422)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_parameter_error)
    app.include_router(router)


def _service(request: Request) -> TrackerService:
    return cast("TrackerService", request.app.state.service)


router = APIRouter()


def action_endpoint(route: actions.ActionRoute) -> Callable[..., Awaitable[JSONResponse]]:
    """The one handler of every action, typed with the route's body model so that FastAPI validates it
    and documents it (a body is optional when its model has no required field)."""

    async def endpoint(
        request: Request, client: Client, case_id: str, idempotency_key: str | None, body: actions.Action | None
    ) -> JSONResponse:
        given = body if body is not None else route.body()
        answer, status = await record_action(_service(request), client, case_id, route.name, given, idempotency_key)
        return JSONResponse(answer.model_dump(mode="json"), status_code=status)

    keyword = inspect.Parameter.KEYWORD_ONLY
    body_parameter = (
        inspect.Parameter("body", keyword, annotation=route.body)
        if route.body_required
        else inspect.Parameter("body", keyword, annotation=route.body | None, default=None)
    )
    cast(Any, endpoint).__signature__ = inspect.Signature(
        [
            inspect.Parameter("request", keyword, annotation=Request),
            inspect.Parameter("client", keyword, annotation=ClientDep),
            inspect.Parameter("case_id", keyword, annotation=CaseIdPath),
            inspect.Parameter("idempotency_key", keyword, annotation=IdempotencyKey, default=None),
            body_parameter,
        ],
        return_annotation=JSONResponse,
    )
    return endpoint


def _register(route: actions.ActionRoute) -> None:
    router.add_api_route(
        f"/v1/cases/{{case_id}}/{route.name}",
        action_endpoint(route),
        methods=["POST"],
        name=route.name.replace("-", "_"),
        response_model=readmodel.ActionAnswer,
        status_code=202,
        summary=f"{route.summary} → {route.event_type}",
        description=f"校验当前环节后作为 `case.lifecycle` 事件 `{route.event_type}` 发布，随即记入。/ Checked against "
        f"the case's current state, then published as the lifecycle event `{route.event_type}` and applied like "
        "events from units' own systems.",
        tags=["actions"],
        responses={
            200: {"model": readmodel.ActionAnswer, "description": "同一幂等键此前已处理 / Seen before."},
            **_docs(401, 403, 404, 409, 422),
        },
    )


for _route in actions.ROUTES:
    _register(_route)


@router.get(
    "/v1/cases/{case_id}",
    response_model=readmodel.CaseDeadlines,
    summary="信访事项的环节与期限 / A case's stage and deadlines",
    tags=["cases"],
    responses=_docs(401, 404),
)
async def read_case(request: Request, client: ClientDep, case_id: CaseIdPath) -> readmodel.CaseDeadlines:
    service = _service(request)
    now = datetime.now(UTC)
    async with service.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM cases WHERE case_id = $1", case_id)
        if row is None or not client.may("read") or not readable(client, row):
            raise ApiError(404, [field_error("case_id", "case_not_found")])
        clocks = await readmodel.clocks_of(conn, [case_id], service.resolver, running_only=False)
    return readmodel.case_view(row, readmodel.deadlines(clocks.get(case_id, []), service.resolver, now))


@router.get(
    "/v1/units/{unit_id}/cases",
    response_model=readmodel.UnitCases,
    summary="某单位未办结的件及期限 / A unit's open cases and their deadlines",
    description="该单位正在办理、协办、复查复核或尚未转出的件（subtree=true 时含下级单位），最近截止的在前。"
    "/ The cases the unit has now (handles, helps, reviews, or has not routed yet), with subtree=true "
    "also those of the units below it (the same department below; a government or petition bureau: "
    "every department of its territory), nearest running deadline first. Nothing else.",
    tags=["units"],
    responses=_docs(401, 403, 422),
)
async def unit_cases(
    request: Request,
    client: ClientDep,
    unit_id: Annotated[str, Path(pattern=UNIT_PATTERN, description="单位 / Unit id, e.g. 150627:hrss")],
    subtree: Annotated[bool, Query(description="含下级单位 / Include the units below.")] = False,
    limit: Annotated[int, Query(ge=1, le=500, description="每页件数 / Page size.")] = 100,
    cursor: Annotated[str | None, Query(max_length=400, description="上一页的 next_cursor.")] = None,
) -> readmodel.UnitCases:
    if not client.may("read"):
        raise ApiError(403, [field_error("unit_id", "read_forbidden", unit=unit_id)])
    if not region_known(official_regions(), unit_id.split(":", 1)[0]):
        raise ApiError(422, [field_error("unit_id", "unit_unknown")])
    scope_ok = subtree_in_scope if subtree else unit_in_scope
    if not scope_ok(unit_id, client.read_scope):
        raise ApiError(403, [field_error("unit_id", "read_forbidden", unit=unit_id)])
    after = decode_cursor(cursor) if cursor else None
    if cursor and after is None:
        raise ApiError(422, [field_error("cursor", "cursor_invalid")])
    service = _service(request)
    now = datetime.now(UTC)
    async with service.pool.acquire() as conn:
        rows = await readmodel.open_cases(conn, subtree_filter(unit_id, subtree), limit=limit + 1, after=after)
        page = rows[:limit]
        clocks = await readmodel.clocks_of(conn, [r["case_id"] for r in page], service.resolver, running_only=True)
    cases = [
        readmodel.case_view(r, readmodel.deadlines(clocks.get(r["case_id"], []), service.resolver, now)) for r in page
    ]
    more = len(rows) > limit
    return readmodel.UnitCases(
        unit=unit_id,
        subtree=subtree,
        at=now,
        cases=cases,
        next_cursor=encode_cursor(page[-1]["next_due"], page[-1]["case_id"]) if more else None,
    )


async def record_action(
    service: TrackerService,
    client: Client,
    case_id: str,
    name: str,
    body: actions.Action,
    idempotency_key: str | None,
) -> tuple[readmodel.ActionAnswer, int]:
    """Check the action against the case as it is, publish it, and say so (202)."""
    event_type = actions.EVENT_TYPE[name]
    async with service.pool.acquire() as conn:
        record = await store.load_case(conn, case_id, service.resolver, lock=False)
        if record is None or not client.may("read") or not readable(client, record.row):
            raise ApiError(404, [field_error("case_id", "case_not_found")])
        candidates = actions.acting_candidates(name, record, body)
        unit = acting_unit(client, candidates)
        if unit is None:
            shown = ", ".join(u for u in candidates if u) or "none"
            raise ApiError(403, [field_error("X-API-Key", "act_forbidden", units=shown)])
        event_id = (
            deterministic_id("tracker-api", client.name, idempotency_key) if idempotency_key else str(uuid.uuid4())
        )
        previous = (await store.seen(conn, [event_id])).get(event_id)
    if previous is not None:
        status = cast(Literal["applied", "held", "refused", "duplicate"], previous)
        return readmodel.ActionAnswer(event_id=event_id, case_id=case_id, type=event_type, status=status), 200
    try:
        event = actions.to_event(
            name, body, case_id=case_id, event_id=event_id, actor=f"{unit} via {client.name}", now=datetime.now(UTC)
        )
    except actions.ActionTimeInvalid as error:
        raise ApiError(422, [field_error("at", "at_invalid", reason=str(error))]) from None
    outcome = decide(record, Incoming(event_id, case_id, event.type, event.actor, event.at, event), service.resolver)
    if isinstance(outcome, Held):
        raise ApiError(409, [field_error("", "transition_premature", reason=outcome.reason)])
    if isinstance(outcome, Duplicate):
        return readmodel.ActionAnswer(event_id=event_id, case_id=case_id, type=event_type, status="duplicate"), 200
    if not isinstance(outcome, Applied):
        raise ApiError(409, [field_error("", "transition_refused", kind=outcome.kind, reason=outcome.reason)])
    await service.publish(CASE_LIFECYCLE.name, lifecycle_envelope(event))
    answer = readmodel.ActionAnswer(
        event_id=event_id, case_id=case_id, type=event_type, status="published", stage=outcome.transition.state.stage
    )
    return answer, 202
