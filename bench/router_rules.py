"""Micro-benchmark: the cost of one routing decision with the demo rules and with 10x as many rules.

    .venv/bin/python bench/router_rules.py [--cases 20000] [--batch 1000] [--factor 10]

No Kafka: cases (services/router/samples.py) go through Router.decide_each, the service's path, in
batches. Three measures per rule set:
  engine   every case through durable_rules (memo off): the cost of a new fact pattern;
  first    the service's path on a fresh router (memo learning): the first minutes after a reload;
  steady   the service's path once the memo knows the patterns.
Demo and 10x take turns, three times; the best of each is kept.
The 10x rule set adds synthetic rules to every table before its default rule, so the engine has to
consider them for every case.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.common.schemas import ReceivedCase
from services.router.rules import CompiledRules, Router, load_rules
from services.router.samples import grow_rules, sample_cases

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Cost:
    """Microseconds per decision."""

    engine: float
    first: float
    steady: float


def per_decision(router: Router, cases: Sequence[ReceivedCase], batch: int) -> float:
    started = time.perf_counter()
    for offset in range(0, len(cases), batch):
        router.decide_each(cases[offset : offset + batch])
    return (time.perf_counter() - started) / len(cases) * 1e6


def measure(rules: CompiledRules, cases: Sequence[ReceivedCase], batch: int) -> Cost:
    engine_cases = cases[: max(batch, len(cases) // 5)]  # the slow path: a fifth is plenty
    plain, memo = Router(rules, memo=False), Router(rules)
    try:
        plain.decide_each(cases[:100])  # warm up the interpreter's and the engine's caches
        engine = per_decision(plain, engine_cases, batch)
        first = per_decision(memo, cases, batch)
        steady = per_decision(memo, cases, batch)
    finally:
        plain.close()
        memo.close()
    return Cost(engine, first, steady)


def best(costs: Sequence[Cost]) -> Cost:
    return Cost(min(c.engine for c in costs), min(c.first for c in costs), min(c.steady for c in costs))


def compare(
    cases_count: int, batch: int, factor: int, repeats: int = 3
) -> tuple[tuple[int, Cost], tuple[int, Cost], int]:
    """Demo and grown rules measured in turns, `repeats` times each, best of each kept: on a shared
    machine the others' load comes and goes, and taking turns exposes both rule sets to it alike."""
    demo = load_rules(ROOT / "rules")
    cases = sample_cases(demo, cases_count)
    with tempfile.TemporaryDirectory(prefix="xf-bench-") as scratch:
        added = grow_rules(ROOT / "rules", Path(scratch) / "rules", factor)
        # The synthetic rules overlap on purpose; only the engine's speed is measured here.
        grown = load_rules(Path(scratch) / "rules", check=False)
        demo_costs, grown_costs = [], []
        for _ in range(repeats):
            demo_costs.append(measure(demo, cases, batch))
            grown_costs.append(measure(grown, cases, batch))
    return (len(demo.all_rules()), best(demo_costs)), (len(grown.all_rules()), best(grown_costs)), added


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--factor", type=int, default=10)
    args = parser.parse_args()
    (demo_count, demo), (grown_count, grown), added = compare(args.cases, args.batch, args.factor)
    print(f"cases: {args.cases}, batches of {args.batch}; {added} synthetic rules added")
    print(f"{'µs per decision':>22} {'engine':>9} {'first':>9} {'steady':>9}")
    for label, count, cost in (("demo", demo_count, demo), (f"{args.factor}x", grown_count, grown)):
        print(f"{label:>5} ({count:>4} rules): {cost.engine:9.1f} {cost.first:9.1f} {cost.steady:9.1f}")
    print(
        f"ratio {args.factor}x/demo: engine {grown.engine / demo.engine:.2f}, first {grown.first / demo.first:.2f}, "
        f"steady {grown.steady / demo.steady:.2f} (target < 1.5)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
