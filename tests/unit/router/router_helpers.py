"""Helpers shared by the router tests."""

from __future__ import annotations

import argparse
from typing import Any

from services.common.schemas import ANY_TIME, ReceivedCase
from services.router.cli import register


def xf(*argv: str) -> int:
    """Runs `xf <argv>` with only the router's commands registered."""
    parser = argparse.ArgumentParser(prog="xf")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    result: int = args.func(args)
    return result


def make_case(**fields: Any) -> ReceivedCase:
    body: dict[str, Any] = {
        "case_id": "XF-TEST-1",
        "received_at": "2026-05-06T10:00:00+08:00",
        "channel": "letter",
        "received_by": "150627:petition",
        "category": "wage_arrears",
        "location": {"region": "150627107"},
        "petitioner_key": "pk-test-000001",
        "people_count": 1,
    }
    body.update(fields)
    if isinstance(body["location"], str):
        body["location"] = {"region": body["location"]}
    return ReceivedCase.model_validate(body, context=ANY_TIME)
