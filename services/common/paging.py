"""The opaque cursor of a paged listing: the sort key of the last row shown (a time and a case id)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime


def encode_cursor(received_at: datetime, case_id: str) -> str:
    raw = json.dumps([received_at.isoformat(), case_id]).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> tuple[datetime, str] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, case_id = json.loads(raw)
        moment = datetime.fromisoformat(at)
    except (binascii.Error, ValueError, TypeError):
        return None
    if moment.tzinfo is None or not isinstance(case_id, str):
        return None
    return moment, case_id
