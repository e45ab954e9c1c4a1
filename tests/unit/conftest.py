"""Unit tests talk to no broker: their Kafka clients (faststream's TestKafkaBroker) need no credentials."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_kafka_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XF_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
