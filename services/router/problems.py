"""Why the router cannot decide a case. (Problems of rule files: services.common.rule_problems.)"""

from __future__ import annotations


class RoutingError(RuntimeError):
    """No decision for this case: it cannot be routed (CaseError) or the engine failed (EngineError)."""


class CaseError(RoutingError, ValueError):
    """A case the router cannot take (names the offending field)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
