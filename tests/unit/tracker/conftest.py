from __future__ import annotations

import pytest
from tracker_helpers import shipped_policies

from services.tracker.deadlines import DeadlinePolicies


@pytest.fixture(scope="session")
def policies() -> DeadlinePolicies:
    return shipped_policies()
