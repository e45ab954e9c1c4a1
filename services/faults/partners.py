"""The campaign's partners, registered as an operator registers them: an intake client with its scopes,
a signing key for the Kafka records it publishes (services.common.signing) and, on a stack with SASL,
a Kafka principal of its own (`xf intake client signing-key add NAME --kafka-role upstream|unit`).

- `faults-upstream`: the upstream system whose cases arrive on `case.submitted` (the whole region);
- `faults-units`: the handling units' case systems, publishing `case.lifecycle` (every unit of the country, as
  the development client: a re-review may be the national department's);
- `faults-unscoped`: a unit system scoped to one league (152900) only, which forges events for cases
  elsewhere.

On a stack without signatures or SASL (before issue 10's edges), registration leaves a partner without a
key, whose records go unsigned, and with the stack's client of its Kafka role (`principals.partner`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from services.common.settings import Settings
from services.common.signing import Signer
from services.faults.principals import Principal, partner, xf

KafkaRole = Literal["upstream", "unit"]
REGION = "150000"
COUNTRY = "000000"
UNSCOPED_REGION = "152900"
UPSTREAM_SOURCE = "faults/upstream"


@dataclass(frozen=True)
class Partner:
    name: str
    principal: Principal
    key: str | None = None  # its signing key; None: the stack has no signatures

    @property
    def signs(self) -> bool:
        return self.key is not None

    def headers(self, event_id: str, body: bytes, *, signed: bool = True) -> tuple[tuple[str, bytes], ...]:
        """The record headers (`ce-id`, and the signature when `signed` and the partner has a key)."""
        found = [("content-type", b"application/json"), ("ce-id", event_id.encode())]
        if signed and self.key is not None:
            found += [(name, value.encode()) for name, value in _sign(self.name, self.key, event_id, body).items()]
        return tuple(found)


def _sign(name: str, key: str, event_id: str, body: bytes) -> dict[str, str]:
    return Signer(name, key).headers(event_id, body)


def register(
    settings: Settings, name: str, kafka_role: KafkaRole, *, scope: str = REGION, source: str | None = None
) -> Partner:
    xf(settings, "intake", "client", "add", name, "--role", "upstream", "--channel", "all", "--submit", scope,
       "--read", scope, *(["--source", source] if source else []))  # fmt: skip
    done = xf(settings, "intake", "client", "signing-key", "add", name, "--kafka-role", kafka_role)
    if done.returncode != 0:
        fallback = partner(settings, kafka_role)
        note = "no signing keys on this stack (xf intake client signing-key)"
        return Partner(name, Principal(f"{name} via {fallback.label}", fallback.options, note))
    lines = done.stdout.splitlines()
    key = next(line.strip() for line in lines if line.strip().startswith("xfsk_"))
    options = next((json.loads(line) for line in lines if line.startswith("{")), None)
    if options is None:
        fallback = partner(settings, kafka_role)
        return Partner(name, Principal(f"{name} via {fallback.label}", fallback.options, fallback.note), key)
    return Partner(name, Principal(f"{kafka_role} partner {name}", options), key)


@dataclass(frozen=True)
class Partners:
    upstream: Partner
    units: Partner
    unscoped: Partner


def register_all(settings: Settings) -> Partners:
    return Partners(
        upstream=register(settings, "faults-upstream", "upstream", source=UPSTREAM_SOURCE),
        units=register(settings, "faults-units", "unit", scope=COUNTRY),
        unscoped=register(settings, "faults-unscoped", "unit", scope=UNSCOPED_REGION),
    )
