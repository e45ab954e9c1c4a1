"""The envelope every event travels in: CloudEvents 1.0 attributes around a typed JSON body.

Producers and consumers share the body's pydantic model, so a schema change breaks both sides'
type checks and tests at once instead of one side at run time.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from services.common.schemas import EventTime

SCHEMA_VERSION = 1
# Namespace for deterministic event ids (uuid5): a redelivered input yields the same output id.
EVENT_NAMESPACE = uuid.UUID("6f1d3c2e-5b8a-4c1e-9d7f-2a4b6c8e0f13")

BodyT = TypeVar("BodyT", bound=BaseModel)


class Envelope(BaseModel, Generic[BodyT]):
    model_config = ConfigDict(extra="forbid")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=100)
    source: str = Field(min_length=1, max_length=200)
    time: EventTime
    caseid: str = Field(min_length=1, max_length=100)
    schemaversion: int = SCHEMA_VERSION
    datacontenttype: Literal["application/json"] = "application/json"
    data: BodyT


def now() -> datetime:
    return datetime.now(UTC)


def deterministic_id(*parts: str) -> str:
    """An event id derived from what caused the event, so reprocessing reproduces it."""
    return str(uuid.uuid5(EVENT_NAMESPACE, "\x1f".join(parts)))


def new_id() -> str:
    return str(uuid.uuid4())


def wrap(
    body: BodyT,
    *,
    type: str,
    source: str,
    case_id: str,
    event_id: str | None = None,
    time: datetime | None = None,
) -> Envelope[BodyT]:
    return Envelope[BodyT](
        id=event_id or new_id(),
        type=type,
        source=source,
        time=time or now(),
        caseid=case_id,
        data=body,
    )


def to_bytes(envelope: Envelope[Any]) -> bytes:
    return envelope.model_dump_json().encode()
