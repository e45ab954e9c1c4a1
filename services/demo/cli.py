"""`xf demo`: push a demo workload through the running system and show where it went."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from typing import Any

import asyncpg
import httpx

from services.common.settings import Settings, get_settings
from services.demo.workload import Workload


async def post_cases(settings: Settings, count: int, seed: int, api_key: str) -> tuple[list[str], Counter[str]]:
    workload = Workload(seed=seed)
    accepted: list[str] = []
    refused: Counter[str] = Counter()
    url = f"http://{settings.host}:{settings.intake_port}/v1/cases"
    async with httpx.AsyncClient(timeout=30) as client:
        for number in range(count):
            answer = await client.post(
                url,
                json=workload.submission(),
                headers={"Idempotency-Key": f"demo-{seed}-{number}", "X-API-Key": api_key},
            )
            if answer.status_code in (200, 201):
                accepted.append(answer.json()["case_id"])
            else:
                for error in answer.json().get("errors", [{"field": f"HTTP {answer.status_code}"}]):
                    refused[error["field"]] += 1
    return accepted, refused


async def wait_for_tracker(settings: Settings, case_ids: list[str], timeout: float) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(settings.dsn)
    try:
        deadline = time.monotonic() + timeout
        while True:
            rows = await conn.fetch(
                """SELECT c.case_id, c.disposition, c.handling_unit, c.urgency, c.flags, c.stage,
                          (SELECT min(due_date) FROM tracker.clocks k WHERE k.case_id = c.case_id
                           AND k.completed_at IS NULL) AS next_due
                   FROM tracker.cases c WHERE c.case_id = ANY($1) AND c.disposition IS NOT NULL""",
                case_ids,
            )
            if len(rows) == len(case_ids) or time.monotonic() > deadline:
                return [dict(row) for row in rows]
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    started = time.monotonic()
    print(f"[demo] posting {args.cases} cases to intake at http://{settings.host}:{settings.intake_port}/v1/cases")
    api_key = args.api_key or settings.intake_dev_api_key
    if not api_key:
        print("[demo] no API key: pass --api-key (from `xf intake client add`) or set XF_INTAKE_DEV_API_KEY")
        return 2
    accepted, refused = asyncio.run(post_cases(settings, args.cases, args.seed, api_key))
    print(f"[demo] accepted {len(accepted)}, refused {sum(refused.values())} {dict(refused) or ''}")
    rows = asyncio.run(wait_for_tracker(settings, accepted, args.timeout))
    elapsed = time.monotonic() - started
    print(f"[demo] {len(rows)}/{len(accepted)} cases routed and tracked in {elapsed:.1f}s")
    for name, counter in (
        ("disposition", Counter(r["disposition"] for r in rows)),
        ("urgency", Counter(r["urgency"] for r in rows)),
        ("flags", Counter(flag for r in rows for flag in r["flags"])),
    ):
        print(f"[demo]   {name:<12} " + ", ".join(f"{k}={v}" for k, v in counter.most_common()))
    for row in rows[:5]:
        print(
            f"[demo]   e.g. {row['case_id']}: {row['disposition']} → {row['handling_unit']}, "
            f"stage {row['stage']}, next due {row['next_due']}"
        )
    print(
        f"[demo] look at: intake http://{settings.host}:{settings.intake_port}/docs · "
        f"metrics :{settings.intake_port}/metrics :{settings.router_port}/metrics :{settings.tracker_port}/metrics · "
        f"Prometheus http://{settings.host}:{settings.prometheus_port} · logs {settings.stack_dir}/logs/"
    )
    return 0 if len(rows) == len(accepted) and accepted else 1


def register(sub: Any) -> None:
    demo = sub.add_parser("demo", help="push a demo workload through the running system")
    demo.add_argument("--cases", type=int, default=60, help="how many cases to submit")
    demo.add_argument("--seed", type=int, default=7, help="random seed of the workload")
    demo.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the tracker")
    demo.add_argument("--api-key", default="", help="intake API key (default: the development key of the settings)")
    demo.set_defaults(func=run)
