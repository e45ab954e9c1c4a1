"""`xf demo`: push a realistic workload through the running system, then say what happened and where to look."""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from services.common.settings import Settings, get_settings
from services.demo.session import Options, Result, run_demo


async def post_cases(
    settings: Settings, api_key: str, items: Sequence[tuple[str, dict[str, Any]]]
) -> tuple[list[tuple[int, str]], Counter[str]]:
    """POST each submission in order; the accepted ones' (index, case id), and refusals by field."""
    accepted: list[tuple[int, str]] = []
    refused: Counter[str] = Counter()
    url = f"http://{settings.host}:{settings.intake_port}/v1/cases"
    async with httpx.AsyncClient(timeout=30) as client:
        for index, (key, submission) in enumerate(items):
            answer = await client.post(
                url,
                json=submission,
                headers={"Idempotency-Key": key, "X-API-Key": api_key},
            )
            if answer.status_code in (200, 201):
                accepted.append((index, answer.json()["case_id"]))
            else:
                for error in answer.json().get("errors", [{"field": f"HTTP {answer.status_code}"}]):
                    refused[error["field"]] += 1
    return accepted, refused


_SUMMARY = """
SELECT (SELECT count(*) FROM tracker.cases WHERE case_id = ANY($1) AND NOT closed) AS open,
       (SELECT count(*) FROM tracker.running_deadlines
         WHERE case_id = ANY($1) AND status = 'due_soon' AND stage NOT LIKE '%window') AS due_soon,
       (SELECT count(*) FROM tracker.running_deadlines
         WHERE case_id = ANY($1) AND status = 'overdue' AND stage NOT LIKE '%window') AS overdue,
       (SELECT count(*) FROM tracker.case_facts WHERE case_id = ANY($1) AND backlog) AS backlog,
       (SELECT count(*) FROM tracker.alerts WHERE case_id = ANY($1)) AS alerts
"""


async def summary(settings: Settings, case_ids: list[str]) -> tuple[dict[str, int], Counter[str]]:
    conn = await asyncpg.connect(settings.dsn)
    try:
        row = await conn.fetchrow(_SUMMARY, case_ids)
        stages = await conn.fetch(
            "SELECT stage, count(*) AS n FROM tracker.cases WHERE case_id = ANY($1) GROUP BY 1", case_ids
        )
    finally:
        await conn.close()
    return dict(row or {}), Counter({r["stage"]: r["n"] for r in stages})


def report(settings: Settings, result: Result) -> None:
    numbers, stages = asyncio.run(summary(settings, result.case_ids))
    print("[demo] where the cases stand: " + ", ".join(f"{k}={v}" for k, v in stages.most_common()))
    print(
        f"[demo] open {numbers.get('open')}, due soon {numbers.get('due_soon')}, overdue {numbers.get('overdue')}, "
        f"backlog (积案) {numbers.get('backlog')}, alerts raised {numbers.get('alerts')}"
    )
    month = datetime.now(UTC).astimezone(ZoneInfo(settings.timezone))
    prometheus = f"http://{settings.host}:{settings.prometheus_port}"
    print(
        "[demo] look at:\n"
        f"[demo]   Prometheus  {prometheus}/graph?g0.expr=sum(max%20by%20(stage,level)(xf_tracker_overdue))"
        f"  (alerts: {prometheus}/alerts)\n"
        "[demo]   Grafana     docker compose up: http://127.0.0.1:3000/d/xf-overview, /d/xf-deadlines, "
        "/d/xf-routing, /d/xf-pipeline\n"
        f"[demo]   statistics  xf report --period {month:%Y-%m}   (and --period {_previous_month(month)})\n"
        f"[demo]   services    intake http://{settings.host}:{settings.intake_port}/docs, "
        f"tracker http://{settings.host}:{settings.tracker_port}/docs, logs {settings.stack_dir}/logs/"
    )


def _previous_month(day: datetime) -> str:
    return f"{day.year - 1}-12" if day.month == 1 else f"{day.year}-{day.month - 1:02d}"


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    api_key = args.api_key or settings.intake_dev_api_key
    if not api_key:
        print("[demo] no API key: pass --api-key (from `xf intake client add`) or set XF_INTAKE_DEV_API_KEY")
        return 2
    options = Options(
        cases=args.cases,
        seed=args.seed,
        history_days=args.history_days,
        history_seconds=args.history_seconds,
        live_seconds=args.live_seconds,
        timeout=args.timeout,
    )

    async def post(items: Sequence[tuple[str, dict[str, Any]]]) -> tuple[list[tuple[int, str]], Counter[str]]:
        return await post_cases(settings, api_key, items)

    print(f"[demo] intake http://{settings.host}:{settings.intake_port}, Kafka {settings.bootstrap_servers}")
    result = asyncio.run(run_demo(settings, options, post, print))
    if result.case_ids:
        report(settings, result)
    complete = (
        bool(result.case_ids)
        and len(result.routed) == len(result.case_ids)
        and result.applied == len(result.event_ids)
        and sum(result.refused.values()) == result.corrected
    )
    print(f"[demo] {'done' if complete else 'INCOMPLETE'} in {result.elapsed:.1f}s")
    return 0 if complete else 1


def register(sub: Any) -> None:
    demo = sub.add_parser("demo", help="push a realistic demo workload through the running system")
    demo.add_argument("--cases", type=int, default=120, help="how many cases to submit")
    demo.add_argument("--seed", type=int, default=7, help="random seed of the workload")
    demo.add_argument(
        "--history-days", type=int, default=120, help="cases are received back-dated over this many days (0: all now)"
    )
    demo.add_argument("--history-seconds", type=float, default=12.0, help="seconds to replay the back-dated history")
    demo.add_argument("--live-seconds", type=float, default=15.0, help="seconds of live handling after the history")
    demo.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for routing and for the tracker")
    demo.add_argument("--api-key", default="", help="intake API key (default: the development key of the settings)")
    demo.set_defaults(func=run)
