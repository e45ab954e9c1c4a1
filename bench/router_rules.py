"""Micro-benchmark: routing decisions per second with the demo rules and with 10x as many rules.

    .venv/bin/python bench/router_rules.py [--cases 5000] [--batch 500]

No Kafka: cases are generated in memory and go through Router.decide_many (the service's path) and
Router.decide (one at a time). The 10x rule set adds synthetic rules to every table, placed before
each table's default rule so the engine has to consider them for every case.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml

from services.common.schemas import ReceivedCase
from services.router.rules import CompiledRules, Router, load_rules

ROOT = Path(__file__).resolve().parent.parent
CHANNELS = ["letter", "visit", "online", "phone", "referral"]


def generate_cases(rules: CompiledRules, count: int, seed: int = 7) -> list[ReceivedCase]:
    rng = random.Random(seed)
    directory = rules.directory
    towns = [code for code in directory.scope_regions() if len(code) == 9]
    counties = sorted({code[:6] for code in towns})
    categories = sorted(rules.categories)
    cases = []
    for n in range(count):
        town = rng.choice(towns)
        receiver = rng.choice([f"{town[:6]}:petition", f"{town}:gov", f"{town[:4]}00:petition", "150000:petition"])
        target = rng.choice([None] * 8 + [f"{rng.choice(counties)}:housing", f"{town}:gov"])
        cases.append(
            ReceivedCase.model_validate(
                {
                    "case_id": f"BENCH-{n}",
                    "received_at": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T10:00:00+08:00",
                    "channel": rng.choice(CHANNELS),
                    "received_by": receiver,
                    "category": rng.choice(categories),
                    "location": {"region": town},
                    "petitioner_key": f"pk-bench-{n:08d}",
                    "people_count": rng.choice([1, 1, 1, 2, 3, 5, 12, 60]),
                    "target_unit": target,
                    "history": {"prior_cases": rng.choice([0, 0, 0, 1, 3])},
                }
            )
        )
    return cases


def grow_rules(source: Path, target: Path, factor: int) -> int:
    """Copies the rules with (factor - 1) synthetic rules per real rule; returns the number added."""
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
                # Never true for a real case, but the engine still has to test it.
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


def measure(rules: CompiledRules, cases: list[ReceivedCase], batch: int) -> tuple[float, float]:
    router = Router(rules)
    try:
        router.decide_many(cases[:200])  # warm up
        started = time.perf_counter()
        for start in range(0, len(cases), batch):
            router.decide_many(cases[start : start + batch])
        batched = len(cases) / (time.perf_counter() - started)
        single_cases = cases[: max(1, len(cases) // 5)]
        started = time.perf_counter()
        for case in single_cases:
            router.decide(case)
        single = len(single_cases) / (time.perf_counter() - started)
    finally:
        router.close()
    return batched, single


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--factor", type=int, default=10)
    args = parser.parse_args()

    demo = load_rules(ROOT / "rules")
    cases = generate_cases(demo, args.cases)
    with tempfile.TemporaryDirectory(prefix="xf-bench-") as scratch:
        added = grow_rules(ROOT / "rules", Path(scratch) / "rules", args.factor)
        # The synthetic rules overlap on purpose; only the engine's speed is measured here.
        grown = load_rules(Path(scratch) / "rules", check=False)
        demo_count, grown_count = len(demo.all_rules()), len(grown.all_rules())
        demo_batched, demo_single = measure(demo, cases, args.batch)
        grown_batched, grown_single = measure(grown, cases, args.batch)
    print(f"cases: {len(cases)}, batch {args.batch}; {added} synthetic rules added")
    for label, count, batched, single in (
        ("demo rules", demo_count, demo_batched, demo_single),
        (f"{args.factor}x rules", grown_count, grown_batched, grown_single),
    ):
        print(f"{label:>10} ({count:>4} rules): {batched:8.0f} decisions/s batched, {single:8.0f}/s one by one")
    ratio_batched, ratio_single = demo_batched / grown_batched, demo_single / grown_single
    print(f"ratio demo/{args.factor}x: {ratio_batched:.2f} batched, {ratio_single:.2f} one by one")
    return 0


if __name__ == "__main__":
    sys.exit(main())
