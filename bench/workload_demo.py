"""Benchmark: the demo workload (`xf demo`) at scale through the whole pipeline.

    .venv/bin/python bench/workload_demo.py [--port-offset 700] [--cases 1000] [--seed 7] [--keep]

Starts the whole stack (Kafka, PostgreSQL, Prometheus, intake, router, tracker) in a stack directory of
its own (`.stack-bench<offset>`, test ports moved by the offset), then runs the demo workload with
its back-dated history published without pacing and a short live phase, and prints how long each
step took: submitting the cases to intake (one HTTP request each, in order), until the tracker had
every routing decision, and until it had handled every lifecycle event the units' systems sent.
The load generator runs on the same machine. The stack is stopped unless --keep.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services import stack
from services.common.settings import PROJECT_ROOT, Settings
from services.demo.cli import post_cases
from services.demo.session import Options, run_demo
from services.stack.offsets import offset_settings

PARTS = ["kafka", "postgres", "prometheus", "intake", "router", "tracker"]


def bench_settings(offset: int) -> Settings:
    return offset_settings(offset, PROJECT_ROOT / f".stack-bench{offset}")


async def measure(settings: Settings, options: Options) -> None:
    posting = 0.0

    async def post(items: Sequence[tuple[str, dict[str, Any]]]) -> tuple[list[tuple[int, str]], Counter[str]]:
        nonlocal posting
        started = time.monotonic()
        answer = await post_cases(settings, settings.intake_dev_api_key, items)
        posting = time.monotonic() - started
        return answer

    started = time.monotonic()
    result = await run_demo(settings, options, post, print)
    total = time.monotonic() - started
    events = len(result.event_ids)
    print(
        f"[bench] {len(result.case_ids)} cases submitted in {posting:.1f}s "
        f"({len(result.case_ids) / posting:.0f}/s, one request each, in order)"
    )
    print(f"[bench] {events} lifecycle events handled by the tracker; whole run {total:.1f}s")
    if not (len(result.routed) == len(result.case_ids) and result.applied == events):
        print(f"[bench] INCOMPLETE: routed {len(result.routed)}, events handled {result.applied}/{events}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port-offset", type=int, default=700, help="added to the test ports (default 700)")
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    args = parser.parse_args()

    settings = bench_settings(args.port_offset)
    options = Options(cases=args.cases, seed=args.seed, history_seconds=0.0, live_seconds=5.0, timeout=300.0)
    print(f"[bench] stack in {settings.stack_dir}: {', '.join(PARTS)}")
    stack.up(settings, PARTS, report=lambda line: print(f"[bench]   {line}"))
    try:
        asyncio.run(measure(settings, options))
    finally:
        if not args.keep:
            stack.down(settings, PARTS, report=lambda line: None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
