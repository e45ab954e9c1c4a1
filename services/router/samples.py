"""Synthetic `case.received` cases with the variety the rules must handle, for benchmarks and checks.

Shares follow services/demo/workload.py (most cases: first-time letters, visits and web submissions
to county petition bureaus), plus every branch of the default routing: targets in and out of the
county, legal procedures, concluded and open matters, matters outside the scope, assignments, large
collective cases and dates in and out of the sensitive periods. Deterministic for a seed.
"""

from __future__ import annotations

import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from services.common.envelope import Envelope, wrap
from services.common.schemas import ANY_TIME, ReceivedCase
from services.router.model import CompiledRules

CHANNELS = (("online", 34), ("letter", 22), ("visit", 22), ("phone", 14), ("mailbox", 4), ("email", 2))
OUT_OF_SCOPE = ("110101001", "110105", "310115", "440305")
TARGET_DEPARTMENTS = ("hrss", "natres", "housing", "env", "gov", "police")
YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)  # a past year: event times are never in the future


def sample_bodies(rules: CompiledRules, count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    # Issue 11's fields from a second stream, so the cases above keep what they were for a seed.
    extra = random.Random(seed + 1_000_003)
    counties = sorted(code for code in rules.directory.scope_regions() if rules.directory.tree.level(code) == "county")
    towns = sorted(code for code in rules.directory.scope_regions() if len(code) == 9)
    categories = sorted(rules.categories)
    weights = [8 if category in ("wage_arrears", "land_acquisition", "housing") else 2 for category in categories]
    bodies = []
    for n in range(count):
        town = rng.choice(towns)
        county, city = town[:6], town[:4] + "00"
        channel = rng.choices([name for name, _ in CHANNELS], [weight for _, weight in CHANNELS])[0]
        roll = rng.random()
        received_by = f"{county}:petition"
        if roll < 0.05:
            received_by = f"{town}:gov"
        elif roll < 0.09:
            received_by = rng.choice((f"{city}:petition", "150000:petition"))
        elif roll < 0.11:
            received_by = f"{county}:hrss"
        matter = town if rng.random() > 0.05 else rng.choice((county, *OUT_OF_SCOPE))
        body: dict[str, Any] = {
            "case_id": f"XF-S{seed}-{n:07d}",
            "received_at": (YEAR_START + timedelta(minutes=rng.randrange(365 * 24 * 60))).isoformat(),
            "channel": channel,
            "received_by": received_by,
            "category": rng.choices(categories, weights)[0],
            "location": {"region": matter},
            "petitioner_key": f"p1_sample{seed}_{n:08d}",
            "people_count": _people(rng),
            "litigation": rng.choice(("pending", "judged", "arbitration")) if rng.random() < 0.06 else "none",
            "history": _history(rng),
            "summary": "synthetic case",
        }
        if rng.random() < 0.12:
            place = rng.choice((county, county, town, rng.choice(towns)[:6]))
            department = "gov" if len(place) == 9 else rng.choice(TARGET_DEPARTMENTS)
            body["target_unit"] = f"{place}:{department}"
        if rng.random() < 0.03:
            body["channel"] = "assignment"
            body["assignment"] = {"from_unit": f"{city}:petition", "due_days": rng.choice((15, 30))}
            if extra.random() < 0.5:
                assigned = datetime.fromisoformat(body["received_at"]) - timedelta(days=extra.randint(0, 5))
                body["assignment"]["assigned_at"] = assigned.isoformat()
        if extra.random() < 0.3:
            body["residence"] = {"region": county if extra.random() < 0.8 else extra.choice(counties)}
        history = body["history"]
        if history.get("concluded") and extra.random() < 0.3:
            body["new_facts"] = True
        if history.get("open_case_id") and extra.random() < 0.3:
            history["open_case_overdue"] = True
        bodies.append(body)
    return bodies


def _people(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.01:
        return rng.randint(50, 300)
    if roll < 0.07:
        return rng.randint(5, 40)
    return rng.choice((1, 1, 1, 2, 3, 4))


def _history(rng: random.Random) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.01:
        return {"prior_cases": rng.randint(2, 6), "concluded": True}
    if roll < 0.03:
        return {"prior_cases": rng.randint(1, 3), "open_case_id": f"XF-OPEN-{rng.randrange(10**6)}"}
    if roll < 0.22:
        return {"prior_cases": rng.randint(1, 6)}
    return {"prior_cases": 0}


def sample_cases(rules: CompiledRules, count: int, seed: int = 7) -> list[ReceivedCase]:
    return [ReceivedCase.model_validate(body, context=ANY_TIME) for body in sample_bodies(rules, count, seed)]


def received_envelope(case: ReceivedCase, event_id: str | None = None) -> Envelope[ReceivedCase]:
    return wrap(case, type="case.received", source="xinfang/intake", case_id=case.case_id, event_id=event_id)


def grow_rules(source: Path, target: Path, factor: int) -> int:
    """Copies the rules with (factor - 1) synthetic rules per real rule; returns the number added.

    The synthetic rules never match a real case (people_count in a range no case has), but they sit
    before each table's default rule, so the engine has to consider them for every case. They overlap
    on purpose: load the copy with `load_rules(..., check=False)`.
    """
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("tests"))
    added = 0
    for path in sorted((target / "tables").glob("*.yaml")):
        table = yaml.safe_load(path.read_text(encoding="utf-8"))
        rules = table["rules"]
        default = [rule for rule in rules if rule.get("otherwise")]
        specific = [rule for rule in rules if not rule.get("otherwise")]
        synthetic = []
        for n in range(len(rules) * (factor - 1)):
            model = rules[n % len(rules)]
            rule: dict[str, object] = {
                "id": f"synthetic.{table['table']}.{n}",
                "when": {"people_count": {">=": 1_000_000 + n, "<": 1_000_001 + n}},
                "then": dict(model["then"]),
            }
            if table["hit"] == "priority":
                rule["priority"] = 100_000 + n
            synthetic.append(rule)
        if table["hit"] == "priority":
            for rule in default:
                rule["priority"] = 10_000_000
        table["rules"] = specific + synthetic + default
        path.write_text(yaml.safe_dump(table, allow_unicode=True, sort_keys=False), encoding="utf-8")
        added += len(synthetic)
    return added
