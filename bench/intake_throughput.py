"""Benchmark: intake throughput on the real stack, in cases per second, over its three paths.

    .venv/bin/python bench/intake_throughput.py [--port-offset 600] [--seconds 15] [--max-cases 20000]
                                                [--concurrency 16] [--batch 100] [--keep]

Starts Kafka, PostgreSQL and intake (the real `python -m services.intake` process) in a stack
directory of its own (`.stack-bench<offset>`, test ports moved by the offset), then measures, one
after the other, each phase bounded by both --seconds and --max-cases:

- HTTP single: --concurrency clients each POST /v1/cases, one case per request;
- HTTP batch: --concurrency/4 clients POST /v1/cases/batch with --batch cases per request;
- Kafka: cases published on `case.submitted` as fast as the producer goes; intake's throughput is
  the rate at which they appear in its store (first to last stored case);

and after each phase how long the outbox relay takes to bring the backlog to zero on `case.received`.
A case counts once it is answered 2xx (HTTP) or stored (Kafka), i.e. durable in PostgreSQL with its
outgoing event. Submissions come from the demo workload (about a fifth repeat an earlier matter).
The load generator runs on the same machine: its own CPU time is printed next to each phase.
Ratios at the end are against HTTP single in the same run. The stack is stopped unless --keep.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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
from services.access.registry import DEV_CLIENT
from services.common.kafka import client_options
from services.common.kafka_principals import DEV_UPSTREAM
from services.common.settings import PROJECT_ROOT, Settings
from services.common.signing import Signer
from services.demo.workload import Workload
from services.stack.offsets import offset_settings

PARTS = ["kafka", "postgres", "intake"]


@dataclass
class Phase:
    name: str
    cases: int
    seconds: float
    client_cpu: float
    drain_seconds: float = 0.0
    intake_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.cases / self.seconds if self.seconds else 0.0


def bench_settings(offset: int) -> Settings:
    # One load generator on one address with one key measures throughput, not the HTTP edge's rate limits.
    os.environ.setdefault("XF_HTTP_RATE_PER_KEY", "1000000/second")
    os.environ.setdefault("XF_HTTP_RATE_PER_ADDRESS", "1000000/second")
    return offset_settings(offset, PROJECT_ROOT / f".stack-bench{offset}")


def submissions(count: int, seed: int) -> list[dict[str, Any]]:
    """Demo workload cases, received over the last days (never in the future)."""
    workload = Workload(seed=seed)
    start = datetime.now(UTC) - timedelta(days=3)
    return [workload.submission(start + timedelta(seconds=n)) for n in range(count)]


async def http_single(settings: Settings, bodies: list[dict[str, Any]], args: argparse.Namespace) -> Phase:
    queue = iter(enumerate(bodies))
    accepted = 0
    run = uuid.uuid4().hex[:8]
    deadline = time.monotonic() + args.seconds
    limits = httpx.Limits(max_connections=args.concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal accepted
        for number, body in queue:
            if time.monotonic() > deadline:
                return
            answer = await client.post(
                "/v1/cases",
                content=json.dumps(body, ensure_ascii=False).encode(),
                headers={
                    "X-API-Key": settings.intake_dev_api_key,
                    "Idempotency-Key": f"bench-{run}-{number}",
                    "content-type": "application/json",
                },
            )
            if answer.status_code not in (200, 201):
                raise RuntimeError(f"HTTP {answer.status_code}: {answer.text[:300]}")
            accepted += 1

    async with httpx.AsyncClient(base_url=url(settings), timeout=60, limits=limits) as client:
        cpu, started = time.process_time(), time.monotonic()
        await asyncio.gather(*(worker(client) for _ in range(args.concurrency)))
        elapsed = time.monotonic() - started
    return Phase("HTTP single", accepted, elapsed, time.process_time() - cpu)


async def http_batch(settings: Settings, bodies: list[dict[str, Any]], args: argparse.Namespace) -> Phase:
    run = uuid.uuid4().hex[:8]
    chunks = iter(
        [
            {"idempotency_key": f"bench-{run}-{start + n}", "case": body}
            for n, body in enumerate(bodies[start : start + args.batch])
        ]
        for start in range(0, len(bodies), args.batch)
    )
    accepted = 0
    deadline = time.monotonic() + args.seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal accepted
        for chunk in chunks:
            if time.monotonic() > deadline:
                return
            answer = await client.post(
                "/v1/cases/batch",
                content=json.dumps({"cases": chunk}, ensure_ascii=False).encode(),
                headers={"X-API-Key": settings.intake_dev_api_key, "content-type": "application/json"},
            )
            if answer.status_code != 200:
                raise RuntimeError(f"HTTP {answer.status_code}: {answer.text[:300]}")
            result = answer.json()
            if result["refused"]:
                raise RuntimeError(f"refused: {result['results'][:2]}")
            accepted += result["accepted"] + result["already_accepted"]

    workers = max(1, args.concurrency // 4)
    async with httpx.AsyncClient(base_url=url(settings), timeout=120) as client:
        cpu, started = time.process_time(), time.monotonic()
        await asyncio.gather(*(worker(client) for _ in range(workers)))
        elapsed = time.monotonic() - started
    return Phase(f"HTTP batch of {args.batch}", accepted, elapsed, time.process_time() - cpu)


async def kafka(settings: Settings, bodies: list[dict[str, Any]], args: argparse.Namespace) -> Phase:
    """Publish everything, then watch the store fill; the rate is first-to-last stored case."""
    source = f"bench/{uuid.uuid4().hex[:8]}"
    signer = Signer(DEV_CLIENT, settings.intake_dev_signing_key)  # upstream records are signed
    event_ids = [str(uuid.uuid4()) for _ in bodies]
    keys = [f"dev:{event_id}" for event_id in event_ids]
    conn = await asyncpg.connect(settings.dsn, server_settings={"search_path": "intake"})
    # As an upstream system publishes: the development stack's upstream principal (elsewhere, the process's own).
    principal = None if settings.kafka_username else DEV_UPSTREAM
    producer = AIOKafkaProducer(**client_options(settings, principal), linger_ms=5, enable_idempotence=True)
    await producer.start()
    try:
        cpu, started = time.process_time(), time.monotonic()
        for event_id, body in zip(event_ids, bodies, strict=True):
            envelope = {
                "specversion": "1.0",
                "id": event_id,
                "type": "case.submitted",
                "source": source,
                "time": datetime.now(UTC).isoformat(),
                "caseid": "unassigned",
                "data": body,
            }
            value = json.dumps(envelope, ensure_ascii=False).encode()
            headers = [("ce-id", event_id.encode())]
            headers += [(name, text.encode()) for name, text in signer.headers(event_id, value).items()]
            await producer.send("case.submitted", value, key=event_id.encode(), headers=headers)
        await producer.flush()
        client_cpu = time.process_time() - cpu
        query = (
            "SELECT count(*) AS n, extract(epoch FROM max(created_at) - min(created_at)) AS span "
            "FROM cases WHERE idempotency_key = ANY($1::text[])"
        )
        deadline = started + args.seconds * 3
        while True:
            row = await conn.fetchrow(query, keys)
            assert row is not None
            if row["n"] >= len(keys) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.25)
    finally:
        await producer.stop()
        await conn.close()
    return Phase("Kafka", int(row["n"]), float(row["span"] or 0.0), client_cpu)


async def drain_time(settings: Settings, timeout: float = 300) -> float:
    """Seconds until the outbox holds nothing unpublished."""
    conn = await asyncpg.connect(settings.dsn, server_settings={"search_path": "intake"})
    try:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if not await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
                return time.monotonic() - started
            await asyncio.sleep(0.1)
        raise RuntimeError("the outbox did not drain")
    finally:
        await conn.close()


def url(settings: Settings) -> str:
    return f"http://{settings.host}:{settings.intake_port}"


def intake_cpu_seconds(settings: Settings) -> float:
    """User + system CPU of the intake process so far (Linux /proc)."""
    (part,) = stack.status(settings, ["intake"])
    if part.pid is None:
        return 0.0
    fields = Path(f"/proc/{part.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(settings: Settings, args: argparse.Namespace) -> list[Phase]:
    phases = []
    for seed, run in enumerate((http_single, http_batch, kafka)):
        bodies = submissions(args.max_cases, seed=100 + seed)
        cpu_before = intake_cpu_seconds(settings)
        phase = await run(settings, bodies, args)
        phase.drain_seconds = await drain_time(settings)
        phase.intake_cpu = intake_cpu_seconds(settings) - cpu_before
        phases.append(phase)
        print(
            f"  {phase.name:<18} {phase.cases:>6} cases in {phase.seconds:6.2f}s = {phase.rate:7.1f} cases/s"
            f"  (intake CPU {1000 * phase.intake_cpu / max(phase.cases, 1):4.1f} ms/case, load generator CPU "
            f"{phase.client_cpu:4.1f}s, outbox empty {phase.drain_seconds:3.1f}s later)",
            flush=True,
        )
    return phases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port-offset", type=int, default=600, help="added to the test ports (default 600)")
    parser.add_argument("--seconds", type=float, default=15.0, help="time bound of each phase")
    parser.add_argument("--max-cases", type=int, default=20000, help="count bound of each phase")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent HTTP clients (batch: a quarter)")
    parser.add_argument("--batch", type=int, default=100, help="cases per batch request")
    parser.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    args = parser.parse_args()

    settings = bench_settings(args.port_offset)
    print(f"[bench] stack in {settings.stack_dir}: {', '.join(PARTS)}")
    stack.up(settings, PARTS, report=lambda line: print(f"[bench]   {line}"))
    try:
        print(f"[bench] at most {args.max_cases} cases or {args.seconds:.0f}s per phase")
        phases = asyncio.run(measure(settings, args))
    finally:
        if not args.keep:
            stack.down(settings, PARTS, report=lambda line: None)
    single = phases[0].rate or 1.0
    print("[bench] ratios to HTTP single: " + ", ".join(f"{p.name} {p.rate / single:.2f}x" for p in phases[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
