"""Benchmark: the deadline scanner's cost against the number of open clocks (10k, 100k, 1M).

    .venv/bin/python bench/tracker_scanner.py [--port-offset 300] [--sizes 10000,100000,1000000]
                                              [--due 2000] [--repeats 3] [--keep]

Starts PostgreSQL in a stack directory of its own (`.stack-bench<offset>`), applies the tracker's
migrations to a schema of its own (`tracker_bench`) and, for each size, bulk-loads that many running
clocks with COPY: all but --due of them have their next alert threshold in the future (spread over
90 days), --due of them crossed their warning threshold an hour ago. It then times the tracker's own
scan (`scanner.scan_until_done`: claim FOR UPDATE SKIP LOCKED through the next_alert_at index, plan,
publish, record the alerts, move the clocks on) --repeats times, re-arming the due clocks in
between, and reports the median time per alert raised. Publishing goes to a null publisher that
still serialises each envelope (Kafka's own cost per alert does not depend on the table size).

Flat means the time per alert does not grow with the number of open clocks: the ratios at the end
compare each size with the smallest, measured in the same run. The clocks table has no foreign key to
cases in this schema (the scanner never reads cases), so only clocks are loaded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from services import stack
from services.common.db import create_pool, migrate
from services.common.envelope import Envelope, to_bytes
from services.common.settings import PROJECT_ROOT, Settings
from services.stack.offsets import offset_settings
from services.tracker import scanner, units
from services.tracker.service import MIGRATIONS

SCHEMA = "tracker_bench"
TZ = ZoneInfo("Asia/Shanghai")
COLUMNS = [
    "case_id", "stage", "generation", "policy", "policy_version", "started_at", "due_date", "due_at", "warn_at",
    "alert_level", "escalation_levels", "breach_window", "unit", "next_alert_at",
]  # fmt: skip


def bench_settings(offset: int) -> Settings:
    return offset_settings(offset, PROJECT_ROOT / f".stack-bench{offset}")


def clock_rows(count: int, due: int, now: datetime) -> list[tuple[Any, ...]]:
    """`count` running handle clocks; the first `due` crossed their warning threshold an hour ago."""
    rows = []
    for i in range(count):
        # The due ones crossed their warning an hour ago; the others do so within the next 90 days.
        warn_at = now - timedelta(hours=1) if i < due else now + timedelta(seconds=60 + (i * 7919) % (90 * 86400))
        due_at = warn_at + timedelta(days=3)
        rows.append(
            (
                f"XFB-{i:08d}",
                "handle",
                1,
                "standard",
                "sha256:bench",
                due_at - timedelta(days=60),
                due_at.astimezone(TZ).date(),
                due_at,
                warn_at,
                0,
                2,
                timedelta(days=15),
                f"1506{i % 100:02d}:hrss",
                warn_at,
            )
        )
    return rows


async def null_publish(topic: str, envelope: Envelope[Any]) -> None:
    to_bytes(envelope)


async def load(pool: asyncpg.Pool, count: int, due: int, now: datetime) -> float:
    started = time.perf_counter()
    async with pool.acquire() as conn:
        await conn.execute("TRUNCATE clocks, alerts")
        await conn.copy_records_to_table("clocks", records=clock_rows(count, due, now), columns=COLUMNS)
        await conn.execute("ANALYZE clocks")
    return time.perf_counter() - started


async def rearm(pool: asyncpg.Pool, due: int) -> None:
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM alerts")
        await conn.execute(
            "UPDATE clocks SET alert_level = 0, next_alert_at = warn_at WHERE case_id < $1",
            f"XFB-{due:08d}",
        )


async def measure(pool: asyncpg.Pool, due: int, now: datetime, repeats: int) -> tuple[float, int, float]:
    """Median seconds of a full scan, the alerts it raised, and the plan's index scan time (ms)."""
    times = []
    raised = 0
    for _ in range(repeats):
        await rearm(pool, due)
        started = time.perf_counter()
        reports = await scanner.scan_until_done(pool, null_publish, now=now, limit=500, instance="bench", tz=TZ)
        times.append(time.perf_counter() - started)
        raised = sum(r.alerts for r in reports)
    async with pool.acquire() as conn:
        await rearm(pool, due)
        plan = await conn.fetchval(
            "EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM clocks WHERE next_alert_at <= $1 "
            "ORDER BY next_alert_at LIMIT 500 FOR UPDATE SKIP LOCKED",
            now,
        )
    tree = json.loads(plan)[0]
    node = tree["Plan"]
    while "Plans" in node and node.get("Node Type") != "Index Scan":
        node = node["Plans"][0]
    if node.get("Node Type") != "Index Scan":
        raise SystemExit(f"the claim does not use an index scan: {tree['Plan']}")
    return statistics.median(times), raised, float(tree["Execution Time"])


async def run(settings: Settings, sizes: list[int], due: int, repeats: int) -> None:
    units.chain("150627:hrss")  # loads the division table once, outside the timings
    pool = await create_pool(settings.dsn, SCHEMA, max_size=4)
    try:
        await migrate(pool, SCHEMA, MIGRATIONS)
        async with pool.acquire() as conn:
            await conn.execute("ALTER TABLE clocks DROP CONSTRAINT IF EXISTS clocks_case_id_fkey")
        now = datetime.now(UTC)
        results = []
        for size in sizes:
            loaded = await load(pool, size, due, now)
            seconds, raised, claim_ms = await measure(pool, due, now, repeats)
            per_alert = seconds / raised * 1e6
            results.append((size, raised, seconds, per_alert, claim_ms, loaded))
            print(
                f"{size:>9,} open clocks  loaded in {loaded:5.1f}s  scan raised {raised} alerts in "
                f"{seconds * 1000:7.1f} ms  = {per_alert:6.1f} µs/alert   (claim query {claim_ms:.2f} ms, index scan)",
                flush=True,
            )
        base = results[0][3]
        print("\ntime per alert raised, relative to the smallest table (1.00 = flat):")
        for size, _, _, per_alert, _, _ in results:
            print(f"  {size:>9,}: {per_alert / base:.2f}")
    finally:
        async with pool.acquire() as conn:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port-offset", type=int, default=300)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--due", type=int, default=2000, help="clocks past their threshold in each table")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="leave PostgreSQL running")
    args = parser.parse_args()
    settings = bench_settings(args.port_offset)
    before = {part.name for part in stack.status(settings) if part.running}
    stack.up(settings, ["postgres"])
    try:
        asyncio.run(run(settings, [int(s) for s in args.sizes.split(",")], args.due, args.repeats))
    finally:
        if not args.keep and "postgres" not in before:
            stack.down(settings, ["postgres"])


if __name__ == "__main__":
    main()
