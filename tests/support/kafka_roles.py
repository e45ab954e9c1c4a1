"""Which principal of the test stack a test helper connects as: the one whose part it plays.

Publishing to `case.submitted` plays an upstream system and to `case.lifecycle` a unit's system, so
those use the stack's development partners (which may do nothing else); everything else (reading any
topic, publishing what a service would) uses the stack's super user.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.common.kafka import client_options
from services.common.kafka_principals import DEV_UNIT, DEV_UPSTREAM
from services.common.settings import Settings
from services.common.topics import CASE_LIFECYCLE, CASE_SUBMITTED

PARTNER_OF_TOPIC = {CASE_SUBMITTED.name: DEV_UPSTREAM, CASE_LIFECYCLE.name: DEV_UNIT}


def publisher_principal(topics: Iterable[str]) -> str | None:
    """The partner that writes all of `topics`, or None (the super user) when they are not one partner's."""
    partners = {PARTNER_OF_TOPIC.get(topic) for topic in topics}
    return partners.pop() if len(partners) == 1 else None


def publisher_options(settings: Settings, *topics: str) -> dict[str, Any]:
    """client_options for a producer that writes `topics` as the part it plays."""
    return client_options(settings, publisher_principal(topics))
