"""The HTTP API: thin handlers over submit_flow, store and views; auth as a dependency.

Errors all have one shape (`ErrorBody`: field, code, English and Chinese message), including
FastAPI's own parameter errors.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import ValidationError
from pydantic.json_schema import models_json_schema

from services.access.scopes import (
    CASE_ID_PATTERN,
    UNIT_PATTERN,
    Client,
    case_readable,
    region_of,
    subtree_filter,
    subtree_in_scope,
    unit_in_scope,
)
from services.common.bounded import Limits, control_paths
from services.common.db import Conn
from services.common.error_body import ErrorBody, ErrorItem
from services.common.field_errors import FieldError, SubmissionInvalid, field_error, field_errors_from_pydantic
from services.common.paging import decode_cursor, encode_cursor
from services.common.schemas import PetitionStatus as CaseStatus
from services.intake import metrics, store, views
from services.intake.accept import Outcome
from services.intake.accept import Request as AcceptRequest
from services.intake.api_models import (
    MAX_BATCH,
    SUBMISSION_EXAMPLES,
    BatchAnswer,
    BatchRequest,
    BatchRequestDoc,
    BatchResult,
    CaseList,
    CaseView,
    Submitted,
)
from services.intake.auth import role_error
from services.intake.checks import default_context, routable_region, unit_known
from services.intake.submission import Submission
from services.intake.submit_flow import ItemResult, submit_items
from services.intake.validation import decode_body

if TYPE_CHECKING:
    from services.common.settings import Settings
    from services.intake.service import IntakeService

API_KEY = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="API 密钥（xf intake client add 签发）/ The client's API key (issued by `xf intake client add`).",
)
BATCH_PATH = "/v1/cases/batch"
_CASE_PATH = re.compile(r"^cases\.\d+\.case(\.|$)")
STATUS_OF: dict[str, int] = {
    "accepted": 201,
    "already_accepted": 200,
    "invalid": 422,
    "forbidden": 403,
    "conflict": 409,
}


class ApiError(Exception):
    def __init__(self, status: int, errors: Sequence[FieldError]) -> None:
        super().__init__(errors[0].message_en if errors else str(status))
        self.status = status
        self.errors = list(errors)


def error_response(status: int, errors: Sequence[FieldError]) -> JSONResponse:
    return JSONResponse({"errors": [error.to_dict() for error in errors]}, status_code=status)


def _error_docs(*codes: int) -> dict[int | str, dict[str, Any]]:
    described = {
        401: "没有或无效的 API 密钥 / No API key, or an unknown or revoked one.",
        403: "超出该客户端的角色或授权范围 / Outside the client's role or scopes.",
        404: "信访事项不存在或无权查看 / No such case, or not one this client may read.",
        409: "幂等键已用于内容不同的请求 / The idempotency key was used for a different body.",
        422: "请求无效；列出每个出错字段 / Invalid request; every field at fault is listed.",
    }
    return {code: {"model": ErrorBody, "description": described[code]} for code in codes}


def _header_field(location: Sequence[Any]) -> str:
    name = str(location[-1]) if location else ""
    return "-".join(part.capitalize() for part in name.replace("_", "-").split("-"))


def parameter_errors(exc: RequestValidationError) -> list[FieldError]:
    errors: list[FieldError] = []
    for item in exc.errors():
        location = list(item.get("loc", ()))
        where = location[0] if location else ""
        converted = field_errors_from_pydantic([{**item, "loc": location[1:]}])
        for error in converted:
            field = _header_field(location) if where == "header" else error.field
            errors.append(FieldError(field, error.code, error.message_en, error.message_zh))
    return errors


def service_of(request: Request) -> IntakeService:
    service: IntakeService = request.app.state.service
    return service


async def connection(request: Request) -> AsyncIterator[Conn]:
    """One pooled connection per request, shared by authentication and the handler (each acquire and
    release of a pooled connection costs a round trip of its own)."""
    async with service_of(request).pool.acquire() as conn:
        yield conn


ConnDep = Annotated[Conn, Depends(connection)]


async def current_client(
    request: Request, conn: ConnDep, api_key: Annotated[str | None, Security(API_KEY)] = None
) -> Client:
    if not api_key:
        metrics.AUTH_FAILURES.labels("missing").inc()
        raise ApiError(401, [field_error("X-API-Key", "api_key_missing")])
    client = await service_of(request).authenticate(conn, api_key)
    if client is None:
        metrics.AUTH_FAILURES.labels("invalid").inc()
        raise ApiError(401, [field_error("X-API-Key", "api_key_invalid")])
    return client


ClientDep = Annotated[Client, Depends(current_client)]
router = APIRouter()


@router.post(
    "/v1/cases",
    status_code=201,
    response_model=Submitted,
    summary="登记一件信访事项 / Submit a case",
    tags=["cases"],
    responses={
        200: {"model": Submitted, "description": "已登记过（同一幂等键、同一内容）/ Registered before."},
        **_error_docs(401, 403, 409, 422),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/Submission"},
                    "examples": SUBMISSION_EXAMPLES,
                }
            },
        }
    },
)
async def submit_case(
    request: Request,
    client: ClientDep,
    conn: ConnDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=200,
            description="幂等键：重复提交时返回同一件 / Idempotency key: a resubmission gets the same case.",
        ),
    ] = None,
) -> JSONResponse:
    service = service_of(request)

    async def submit(requests: Sequence[AcceptRequest]) -> list[Outcome]:
        return await service.submit(conn, requests, via="http")

    body = decoded(await request.body(), request.app.state.body_limits)
    (result,) = await submit_items(client, [(body, idempotency_key)], submit, via="http", key_field="Idempotency-Key")
    if result.case_id is not None and result.status in ("accepted", "already_accepted"):
        answer = Submitted(
            case_id=result.case_id, status="accepted" if result.status == "accepted" else "already_accepted"
        )
        return JSONResponse(
            answer.model_dump(),
            status_code=STATUS_OF[result.status],
            headers={"Location": f"/v1/cases/{answer.case_id}"},
        )
    return error_response(STATUS_OF[result.status], result.errors)


@router.post(
    BATCH_PATH,
    response_model=BatchAnswer,
    summary="批量登记 / Submit a batch of cases",
    description=f"1-{MAX_BATCH} 件，逐件受理、逐件给出结果；已受理的件在同一事务中保存。/ Each case is "
    "judged on its own and gets its own result; the accepted ones are stored in one transaction.",
    tags=["cases"],
    responses=_error_docs(401, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchRequestDoc"}}},
        }
    },
)
async def submit_cases(request: Request, client: ClientDep, conn: ConnDep) -> BatchAnswer:
    service = service_of(request)

    async def submit(requests: Sequence[AcceptRequest]) -> list[Outcome]:
        return await service.submit(conn, requests, via="http_batch")

    batch = parse_batch(await request.body(), request.app.state.batch_limits)
    results = await submit_items(
        client,
        [(item.case, item.idempotency_key) for item in batch.cases],
        submit,
        via="http_batch",
        key_field="idempotency_key",
    )
    return batch_answer(results)


@router.get(
    "/v1/cases/{case_id}",
    response_model=CaseView,
    summary="查询办理状态和路由 / A case's status and routing",
    tags=["cases"],
    responses=_error_docs(401, 403, 404, 422),
)
async def read_case(
    client: ClientDep,
    conn: ConnDep,
    case_id: Annotated[str, Path(min_length=1, max_length=64, pattern=CASE_ID_PATTERN)],
) -> CaseView:
    if not client.may("read"):
        raise ApiError(403, [role_error(client, "read")])
    row = await store.case_view(conn, case_id)
    units = [row["received_by"], row["current_unit"], *row["current_co_units"]] if row else []
    if row is None or not case_readable(client, submitted_by=row["client"], units=units):
        raise ApiError(404, [field_error("case_id", "case_not_found")])
    return views.case_view(row)


@router.get(
    "/v1/units/{unit_id}/cases",
    response_model=CaseList,
    summary="某单位的信访事项 / A unit's cases",
    description="该单位登记、承办或协办的件，可含下级单位（subtree=true）。/ Cases the unit registered, "
    "handles or helps handle; with subtree=true also those of the units below it (the same department "
    "below; a government or petition bureau sees every department of its territory).",
    tags=["units"],
    responses=_error_docs(401, 403, 422),
)
async def unit_cases(
    client: ClientDep,
    conn: ConnDep,
    unit_id: Annotated[str, Path(pattern=UNIT_PATTERN, description="单位 / Unit id, e.g. 150627:petition")],
    subtree: Annotated[bool, Query(description="含下级单位 / Include the units below.")] = False,
    status: Annotated[CaseStatus | None, Query(description="按状态筛选 / Only cases in this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="每页件数 / Page size.")] = 100,
    cursor: Annotated[str | None, Query(max_length=400, description="上一页的 next_cursor.")] = None,
) -> CaseList:
    if not client.may("read"):
        raise ApiError(403, [role_error(client, "read")])
    if not unit_exists(unit_id):
        raise ApiError(422, [field_error("unit_id", "unit_unknown")])
    allowed = subtree_in_scope(unit_id, client.read_scope) if subtree else unit_in_scope(unit_id, client.read_scope)
    if not allowed:
        raise ApiError(403, [field_error("unit_id", "read_forbidden", unit=unit_id)])
    before = decode_cursor(cursor) if cursor else None
    if cursor and before is None:
        raise ApiError(422, [field_error("cursor", "cursor_invalid")])
    rows = await store.list_cases(conn, subtree_filter(unit_id, subtree), status=status, limit=limit + 1, before=before)
    page = rows[:limit]
    return CaseList(
        unit=unit_id,
        subtree=subtree,
        cases=[views.case_summary(row) for row in page],
        next_cursor=encode_cursor(page[-1]["received_at"], page[-1]["case_id"]) if len(rows) > limit else None,
    )


async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.errors)


async def on_parameter_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = parameter_errors(exc)
    metrics.count_failures(errors)
    return error_response(422, errors)


def install_api(app: FastAPI, settings: Settings) -> None:
    app.state.body_limits = Limits(settings.http_max_body_bytes, settings.http_max_json_depth, refuse_control=False)
    # A batch nests its cases three levels deeper: {"cases": [{"case": {...}}]}.
    app.state.batch_limits = Limits(
        settings.http_max_batch_body_bytes, settings.http_max_json_depth + 3, refuse_control=False
    )
    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_parameter_error)
    app.include_router(router)
    install_openapi(app)


def decoded(body: bytes, limits: Limits) -> Any:
    """The body's JSON read within `limits`; control characters are refused later, naming the field."""
    try:
        return decode_body(body, limits)
    except SubmissionInvalid as invalid:
        metrics.count_failures(invalid.errors)
        raise ApiError(422, invalid.errors) from None


def unit_exists(unit_id: str) -> bool:
    """A unit of the deployment's directory (of a known region, when the directory could not be read)."""
    context = default_context()
    return routable_region(context, region_of(unit_id)) and unit_known(context.directory, unit_id)


def parse_batch(body: bytes, limits: Limits) -> BatchRequest:
    value = decoded(body, limits)
    if not isinstance(value, dict):
        raise ApiError(422, [field_error("", "json_type")])
    # Control characters in a case are that case's refusal (validate_submission); elsewhere, the batch's.
    outside = [path for path in control_paths(value) if not _CASE_PATH.match(path)]
    if outside:
        raise ApiError(422, [field_error(path, "control_character") for path in outside])
    try:
        return BatchRequest.model_validate(value)
    except ValidationError as invalid:
        errors = field_errors_from_pydantic(invalid)
        metrics.count_failures(errors)
        raise ApiError(422, errors) from None


def batch_answer(results: Sequence[ItemResult]) -> BatchAnswer:
    counted = [result.status for result in results]
    return BatchAnswer(
        accepted=counted.count("accepted"),
        already_accepted=counted.count("already_accepted"),
        refused=sum(status not in ("accepted", "already_accepted") for status in counted),
        results=[
            BatchResult(
                index=index,
                status=result.status,
                case_id=result.case_id,
                errors=[ErrorItem(**error.to_dict()) for error in result.errors],
            )
            for index, result in enumerate(results)
        ],
    )


def install_openapi(app: FastAPI) -> None:
    """The submission bodies are validated by our code, not FastAPI's: add their schemas by hand."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        _, definitions = models_json_schema(
            [(Submission, "validation"), (BatchRequestDoc, "validation")], ref_template="#/components/schemas/{model}"
        )
        schema.setdefault("components", {}).setdefault("schemas", {}).update(definitions.get("$defs", {}))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
