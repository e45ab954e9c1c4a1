"""Benchmark: events the tracker applies per second, on the real stack.

    .venv/bin/python bench/tracker_events.py [--port-offset 300] [--cases 8000] [--batches 200,50,1]
                                             [--seconds 120] [--keep]

Starts Kafka and PostgreSQL in a stack directory of its own (`.stack-bench<offset>`). For each
consumer batch size (XF_TRACKER_CONSUMER_BATCH) it publishes a backlog of --cases cases, three events
each (case.received, case.routed, case.lifecycle `accepted`: the state machine, the clock book and
the database write for each; smaller batch sizes get proportionally fewer cases, at least 200), with no
tracker running, then starts the real tracker process
(`python -m services.tracker`) and measures how fast it drains the backlog: from the first to the
last event applied, as seen in its `applied_events` table (each event applied once, offsets committed
after each batch's transaction). The tracker's own CPU time is printed beside each rate, and the
ratios at the end compare each batch size with the first, in the same run. Each phase is bounded by
--seconds. Kafka and PostgreSQL are stopped unless --keep.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from services import stack
from services.common.envelope import Envelope, to_bytes, wrap
from services.common.kafka import client_options, raw_headers
from services.common.lifecycle import LIFECYCLE_TYPE, LifecycleBody, parse_lifecycle
from services.common.schemas import Decision, Location, ReceivedCase, RoutedCase
from services.common.settings import PROJECT_ROOT, Settings
from services.common.signing import service_signer
from services.common.topics import CASE_LIFECYCLE, CASE_RECEIVED, CASE_ROUTED, ensure_topics
from services.stack.apps import settings_environment
from services.stack.offsets import offset_settings


@dataclass
class Phase:
    batch: int
    events: int
    seconds: float
    tracker_cpu: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def bench_settings(offset: int) -> Settings:
    return offset_settings(offset, PROJECT_ROOT / f".stack-bench{offset}")


def case_events(case: str, received_at: datetime) -> list[tuple[str, Envelope[Any]]]:
    received = ReceivedCase(
        case_id=case,
        received_at=received_at,
        channel="visit",
        received_by="150627:petition",
        category="wage_arrears",
        location=Location(region="150627107"),
        petitioner_key="p1_bench-0000001",
    )
    routed = RoutedCase(
        case_id=case,
        received_event_id=str(uuid.uuid4()),
        routed_at=received_at + timedelta(minutes=1),
        received_at=received_at,
        channel="visit",
        people_count=1,
        category="wage_arrears",
        region="150627107",
        decision=Decision(
            disposition="forward",
            handling_unit="150627:hrss",
            handling_level="county",
            deadline_policy="standard",
            flags=["first_time"],
            trace=["bench"],
            ruleset_version="sha256:bench",
        ),
    )
    accepted = parse_lifecycle(
        {
            "event_id": str(uuid.uuid4()),
            "case_id": case,
            "type": "accepted",
            "at": received_at + timedelta(days=1),
            "actor": "150627:hrss",
        }
    )
    return [
        (CASE_RECEIVED.name, wrap(received, type="case.received", source="bench", case_id=case)),
        (CASE_ROUTED.name, wrap(routed, type="case.routed", source="bench", case_id=case)),
        (
            CASE_LIFECYCLE.name,
            wrap(
                LifecycleBody(accepted), type=LIFECYCLE_TYPE, source="bench", case_id=case, event_id=accepted.event_id
            ),
        ),
    ]


async def publish_backlog(settings: Settings, cases: list[str]) -> None:
    producer = AIOKafkaProducer(**client_options(settings), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        start = datetime.now(UTC) - timedelta(days=5)
        sends = []
        # Lifecycle events must be signed: with the key the stack generated (read now, after `stack.up`).
        signer = service_signer("tracker", Settings(stack_dir=settings.stack_dir).event_signing_key)
        for i, case in enumerate(cases):
            for topic, envelope in case_events(case, start + timedelta(seconds=i)):
                body = to_bytes(envelope)
                headers = raw_headers(envelope, body, signer if topic == CASE_LIFECYCLE.name else None)
                sends.append(await producer.send(topic, body, key=case.encode(), headers=headers))
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


def start_tracker(settings: Settings, batch: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, **settings_environment(settings), "XF_TRACKER_CONSUMER_BATCH": str(batch)}
    log = (settings.stack_dir / "logs" / "tracker-bench.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "services.tracker"], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://{settings.host}:{settings.tracker_port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the tracker did not start; see tracker-bench.log")
        time.sleep(0.2)


BATCH_SAMPLES = ("xf_tracker_batch_events_count", "xf_tracker_batch_events_sum", "xf_tracker_batch_seconds_sum")


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def applied_count(conn: asyncpg.Connection, prefix: str) -> int:
    n: int = await conn.fetchval("SELECT count(*) FROM tracker.applied_events WHERE case_id LIKE $1", prefix + "%")
    return n


async def phase(settings: Settings, batch: int, count: int, seconds: float) -> Phase:
    prefix = f"XFB{uuid.uuid4().hex[:6]}-"
    cases = [f"{prefix}{i:07d}" for i in range(count)]
    await publish_backlog(settings, cases)
    expected = 3 * count
    process = start_tracker(settings, batch)
    conn = await asyncpg.connect(settings.dsn)
    try:
        cpu_before = cpu_seconds(process.pid)
        deadline = time.monotonic() + seconds
        first_at: float | None = None
        first_count = 0
        done = 0
        while time.monotonic() < deadline:
            done = await applied_count(conn, prefix)
            if first_at is None and done:
                first_at, first_count = time.monotonic(), done
            if done >= expected:
                break
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - (first_at or time.monotonic())
        cpu = cpu_seconds(process.pid) - cpu_before
        scraped = httpx.get(f"http://{settings.host}:{settings.tracker_port}/metrics", timeout=5).text
        batches, events, seconds_in = (_sample(scraped, name) for name in BATCH_SAMPLES)
        if batches:
            print(
                f"  batch {batch}: {batches:.0f} batches of {events / batches:.1f} records on average, "
                f"{seconds_in / batches * 1000:.1f} ms each in the consumer"
            )
        if done < expected:
            print(f"  batch {batch}: only {done} of {expected} events within {seconds:.0f}s; rate over those")
        return Phase(batch, done - first_count, elapsed, cpu)
    finally:
        await conn.close()
        process.terminate()
        process.wait(timeout=30)


async def run(settings: Settings, batches: list[int], count: int, seconds: float) -> None:
    await ensure_topics(settings)
    # One short run creates the tracker's schema and consumer group before anything is timed.
    await phase(settings, batches[0], 50, seconds)
    phases = []
    for batch in batches:
        # Smaller batches drain slower: their backlog shrinks with them so that each phase ends in time
        # and leaves nothing behind for the next one.
        result = await phase(settings, batch, max(200, count * batch // batches[0]), seconds)
        phases.append(result)
        print(
            f"consumer batch {batch:>4}: {result.events:>6} events in {result.seconds:6.2f}s = "
            f"{result.rate:8.0f} events/s   (tracker CPU {result.tracker_cpu:5.1f}s, "
            f"{result.tracker_cpu / max(result.events, 1) * 1e6:5.0f} µs/event)",
            flush=True,
        )
    base = phases[0].rate
    print(f"\nevents/s relative to consumer batch {phases[0].batch}:")
    for result in phases:
        print(f"  batch {result.batch:>4}: {result.rate / base:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port-offset", type=int, default=300)
    parser.add_argument("--cases", type=int, default=8000, help="cases per phase (three events each)")
    parser.add_argument("--batches", default="200,50,1", help="consumer batch sizes to compare")
    parser.add_argument("--seconds", type=float, default=120.0, help="bound on each phase")
    parser.add_argument("--keep", action="store_true", help="leave Kafka and PostgreSQL running")
    args = parser.parse_args()
    settings = bench_settings(args.port_offset)
    before = {part.name for part in stack.status(settings) if part.running}
    stack.up(settings, ["kafka", "postgres"])
    try:
        asyncio.run(run(settings, [int(b) for b in args.batches.split(",")], args.cases, args.seconds))
    finally:
        if not args.keep:
            stack.down(settings, [p for p in ("kafka", "postgres") if p not in before])


if __name__ == "__main__":
    main()
