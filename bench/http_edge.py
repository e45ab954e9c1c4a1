"""Benchmark: what intake's HTTP edge costs an attacker and holds against (issue 10, finding 5).

    .venv/bin/python bench/http_edge.py [--port-offset 700] [--bodies 4] [--body-mb 100]
                                        [--wrong-keys 3000] [--idle 1000] [--watch 30] [--outage 18]
                                        [--phases memory,keys,idle,kafka] [--keep]

Starts Kafka, PostgreSQL and intake (the real `python -m services.intake` process) in a stack
directory of its own (`.stack-bench<offset>`), then, one after the other:

- memory: intake's resident memory (VmRSS, and its peak VmHWM) before and after `--bodies` concurrent
  requests each declaring and sending a `--body-mb` MB body (sending stops when intake answers);
- wrong keys: `--wrong-keys` requests with random API keys from 16 concurrent clients: how many were
  answered 401 (checked) and how many 429 (throttled or locked out), and at what rate;
- idle connections: `--idle` connections that send half a request line and then nothing: how many
  intake still holds after 5, 15 and `--watch` seconds;
- Kafka outage: Kafka stopped for `--outage` seconds: the lines intake's log gained meanwhile, and how
  many of them are aiokafka's "Unable connect" (`--phases` picks phases, default all four).

It only uses the stack and settings modules every version has, so it measures an older checkout too:
`git archive <commit> | tar -x -C DIR`, copy this file to DIR/bench/, and run it from DIR with
PYTHONPATH=DIR.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from services import stack
from services.common.settings import PROJECT_ROOT, Settings
from services.stack.offsets import offset_settings

PARTS = ("kafka", "postgres", "intake")
MB = 1_000_000


def memory_kb(settings: Settings) -> tuple[int, int]:
    """(VmRSS, VmHWM) of the intake process in kB."""
    (part,) = stack.status(settings, ["intake"])
    assert part.pid is not None, "intake is not running"
    values = {}
    for line in Path(f"/proc/{part.pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


async def big_body(settings: Settings, size: int) -> str:
    """Declare and send `size` bytes of body; the status line intake answers, or how sending ended."""
    reader, writer = await asyncio.open_connection(settings.host, settings.intake_port)
    head = (
        f"POST /v1/cases HTTP/1.1\r\nHost: bench\r\nX-API-Key: {settings.intake_dev_api_key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    ).encode()
    chunk = b" " * (1 << 20)
    answered = asyncio.create_task(reader.readline())
    try:
        writer.write(head)
        sent = 0
        while sent < size and not answered.done():
            writer.write(chunk[: size - sent])
            await writer.drain()
            sent += min(len(chunk), size - sent)
        async with asyncio.timeout(120):
            line = await answered
        return line.decode(errors="replace").strip() or "closed"
    except (ConnectionError, TimeoutError) as error:
        # Intake answered and closed while the body was still being sent: its answer, if it arrived.
        if answered.done() and answered.exception() is None and answered.result():
            return answered.result().decode(errors="replace").strip()
        return type(error).__name__
    finally:
        answered.cancel()
        writer.close()


async def memory_phase(settings: Settings, args: argparse.Namespace) -> None:
    rss_before, _ = memory_kb(settings)
    started = time.monotonic()
    answers = await asyncio.gather(*(big_body(settings, args.body_mb * MB) for _ in range(args.bodies)))
    seconds = time.monotonic() - started
    rss_after, peak = memory_kb(settings)
    print(
        f"  memory: {args.bodies} x {args.body_mb} MB bodies: RSS {rss_before / 1024:.0f} MB before, "
        f"{rss_after / 1024:.0f} MB after, peak {peak / 1024:.0f} MB; answers {dict(Counter(answers))} "
        f"in {seconds:.1f}s",
        flush=True,
    )


async def wrong_keys_phase(settings: Settings, args: argparse.Namespace) -> None:
    statuses: Counter[int | str] = Counter()
    remaining = iter(range(args.wrong_keys))

    async def attacker() -> None:
        async with httpx.AsyncClient(base_url=f"http://{settings.host}:{settings.intake_port}", timeout=30) as client:
            for _ in remaining:
                try:
                    answer = await client.get(
                        "/v1/cases/XF150627-20260506-000001", headers={"X-API-Key": "xfk_" + secrets.token_hex(16)}
                    )
                    statuses[answer.status_code] += 1
                except httpx.HTTPError as error:
                    statuses[type(error).__name__] += 1

    started = time.monotonic()
    await asyncio.gather(*(attacker() for _ in range(16)))
    seconds = time.monotonic() - started
    print(
        f"  wrong keys: {args.wrong_keys} in {seconds:.1f}s ({args.wrong_keys / seconds:.0f}/s): "
        f"{statuses.get(401, 0)} answered 401 (key checked), {statuses.get(429, 0)} answered 429; "
        f"all: {dict(statuses)}",
        flush=True,
    )


async def idle_phase(settings: Settings, args: argparse.Namespace) -> None:
    connections: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    for _ in range(args.idle):
        try:
            reader, writer = await asyncio.open_connection(settings.host, settings.intake_port)
        except OSError:
            break
        writer.write(b"POST /v1/cases HTTP/1.1\r\nHost: bench\r\n")
        connections.append((reader, writer))
    opened = time.monotonic()
    closed_at: dict[int, float] = {}

    async def watch(index: int, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(ConnectionError):
            await reader.read()
        closed_at[index] = time.monotonic() - opened

    watchers = [asyncio.create_task(watch(index, reader)) for index, (reader, _) in enumerate(connections)]
    held = []
    for mark in (5.0, 15.0, float(args.watch)):
        await asyncio.sleep(max(0.0, mark - (time.monotonic() - opened)))
        held.append((mark, len(connections) - len(closed_at)))
    for task in watchers:
        task.cancel()
    for _, writer in connections:
        writer.close()
    last = max(closed_at.values()) if len(closed_at) == len(connections) else None
    print(
        f"  idle connections: {len(connections)} opened, still held "
        + ", ".join(f"after {mark:.0f}s: {count}" for mark, count in held)
        + (f"; all closed by intake after {last:.1f}s" if last is not None else ""),
        flush=True,
    )


async def outage_phase(settings: Settings, args: argparse.Namespace) -> None:
    log = settings.stack_dir / "logs" / "intake.log"
    start = log.stat().st_size
    await asyncio.to_thread(stack.down, settings, ["kafka"], report=lambda line: None)
    await asyncio.sleep(args.outage)
    await asyncio.to_thread(stack.up, settings, ["kafka"], report=lambda line: None)
    await asyncio.sleep(5)
    with log.open("rb") as file:
        file.seek(start)
        lines = file.read().decode(errors="replace").splitlines()
    unable = sum("Unable connect" in line for line in lines)
    print(
        f'  Kafka outage of {args.outage:.0f}s: intake logged {len(lines)} lines, {unable} of them "Unable connect…"',
        flush=True,
    )


PHASES = {"memory": memory_phase, "keys": wrong_keys_phase, "idle": idle_phase, "kafka": outage_phase}


async def measure(settings: Settings, args: argparse.Namespace) -> None:
    for name in args.phases.split(","):
        await PHASES[name](settings, args)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port-offset", type=int, default=700, help="added to the test ports (default 700)")
    parser.add_argument("--bodies", type=int, default=4)
    parser.add_argument("--body-mb", type=int, default=100)
    parser.add_argument("--wrong-keys", type=int, default=3000)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--watch", type=int, default=30, help="seconds to watch the idle connections")
    parser.add_argument("--outage", type=float, default=18.0, help="seconds Kafka is down")
    parser.add_argument("--phases", default="memory,keys,idle,kafka", help="comma-separated: " + ",".join(PHASES))
    parser.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    args = parser.parse_args()

    settings = offset_settings(args.port_offset, PROJECT_ROOT / f".stack-bench{args.port_offset}")
    print(f"[bench] {PROJECT_ROOT} (commit {os.environ.get('BENCH_COMMIT', '?')}), stack in {settings.stack_dir}")
    stack.up(settings, PARTS, report=lambda line: print(f"[bench]   {line}"))
    try:
        asyncio.run(measure(settings, args))
    finally:
        if not args.keep:
            stack.down(settings, PARTS, report=lambda line: None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
