from __future__ import annotations

from datetime import UTC, datetime

import pytest

# Fixed clock for the validation tests: after every received_at the factories use.
NOW = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)


@pytest.fixture
def now() -> datetime:
    return NOW
