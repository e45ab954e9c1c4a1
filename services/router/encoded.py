"""Decisions as the router service writes them: the JSON of `Decision`, and what it adds to the metrics.

A decision is its rules' outputs (the same for every case with the same trace) plus the handling unit,
its level and the helping units (one of many hundreds). So the JSON is made once per trace from a
validated `Decision`, and for each unit by putting the unit's three fields between the trace's head
and tail: byte for byte `Decision.model_dump_json()`, without a pydantic object per unit
(tests/unit/router/test_router_encoded.py holds it to that).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from pydantic_core import to_json

from services.common.schemas import Decision

UNIT_FIELDS = frozenset({"handling_unit", "handling_level", "co_units"})


class Tally:
    """What one routed case adds to the decision metrics; shared by every case with the same labels and
    rules, so that a batch counts distinct tallies by identity."""

    __slots__ = ("labels", "trace")

    def __init__(self, labels: tuple[str, str, str], trace: tuple[str, ...]) -> None:
        self.labels = labels  # disposition, handling level ("none" without a unit), urgency
        self.trace = trace


class Encoded(NamedTuple):
    json: bytes
    tally: Tally


class TraceTemplate:
    """The JSON of every decision with one trace, but for the unit's fields."""

    def __init__(self, decision: Decision) -> None:
        serialise = decision.__pydantic_serializer__.to_json
        # Decision's field order: disposition, then the unit's three fields, then the rest.
        self._head = serialise(decision, include={"disposition"})[:-1] + b","
        self._tail = b"," + serialise(decision, exclude=set(UNIT_FIELDS) | {"disposition"})[1:]
        self._disposition = decision.disposition
        self._urgency = decision.urgency
        self._trace = tuple(decision.trace)
        self._tallies: dict[str, Tally] = {}

    def encode(self, unit: str | None, level: str | None, co_units: Sequence[str]) -> Encoded:
        middle = b"".join(
            (
                b'"handling_unit":',
                to_json(unit),
                b',"handling_level":',
                to_json(level),
                b',"co_units":',
                to_json(list(co_units)),
            )
        )
        label = level or "none"
        tally = self._tallies.get(label)
        if tally is None:
            tally = self._tallies[label] = Tally((self._disposition, label, self._urgency), self._trace)
        return Encoded(self._head + middle + self._tail, tally)
