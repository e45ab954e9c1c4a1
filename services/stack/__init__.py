"""The local stack of real parts behind `xf stack`: Kafka, PostgreSQL, Prometheus and the services.

from services.stack import up, down, status
up(settings, ["kafka", "postgres"])   # idempotent; returns once every part is ready
[s.name for s in status(settings) if s.running]
down(settings)                        # reverse order, each part by its own pid
"""

from services.stack.errors import StackError
from services.stack.stack import ALL_PARTS, INFRA_PARTS, PartStatus, down, status, up

__all__ = ["ALL_PARTS", "INFRA_PARTS", "PartStatus", "StackError", "down", "status", "up"]
