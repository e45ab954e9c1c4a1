"""Benchmark: the router service on the real broker against a raw aiokafka pass-through.

    .venv/bin/python bench/router_throughput.py [--cases 20000] [--rate 1000] [--seconds 5] [--keep]

Starts Kafka alone in a stack directory of its own (`.stack-routerbench<offset>`, test ports moved
by --port-offset, default 300) and stops it at the end unless --keep. The processors run as their
own process, one after the other, on the same messages (with the headers intake puts on them):
  pass-through  aiokafka getmany → send each record unchanged → wait for the acks → commit, with the
                router's batch size and producer settings (the target's baseline);
  pipelined     the same, but the next batch is consumed while the last one is acknowledged and the
                offsets are committed in order after the acks, as the router does (for comparison);
  router        the real RouterService (faststream batch subscriber, parse, rules, routed events,
                metrics, pipelined commits), on the shipped rules.
Throughput: N received-case envelopes are put on the input topic first; each processor drains them,
--rounds times, taking turns (a slower spell of a shared machine then hits each of them); cases/s is
measured between the first and the last output record's broker timestamp, and the medians are
reported with the range of the router / pass-through ratio over the rounds. Latency: with
the processor running, cases are produced at --rate for --seconds and each is timed from its send
to its output being consumed (p50/p95/p99). Then the cost per decision, demo rules vs 10x the rules
(bench/router_rules.py), in process. Everything is bounded by --timeout per phase.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services import stack
from services.common.kafka import JSON_HEADERS, client_options
from services.common.schemas import ReceivedCase
from services.common.settings import PROJECT_ROOT, Settings
from services.router.commits import OrderedCommits, next_offsets
from services.router.rules import load_rules
from services.router.samples import received_envelope, sample_cases
from services.router.service import BATCH_TIMEOUT_MS, MAX_RECORDS, RouterService, Wiring, make_producer, settle
from services.stack.apps import settings_environment
from services.stack.offsets import offset_settings

PARTITIONS = 6
ROLES = ("passthrough", "pipelined", "router")


@dataclass(frozen=True)
class Topics:
    received: str
    passthrough: str
    pipelined: str
    routed: str
    deadletter: str

    @classmethod
    def fresh(cls) -> Topics:
        tag = uuid.uuid4().hex[:8]
        names = ("received", "passthrough", "pipelined", "routed", "dead")
        return cls(*(f"bench.{name}.{tag}" for name in names))

    def output(self, role: str) -> str:
        return {"passthrough": self.passthrough, "pipelined": self.pipelined, "router": self.routed}[role]


@dataclass(frozen=True)
class Run:
    label: str
    drains: list[Drain]  # one per round
    latencies: list[float]

    @property
    def rate(self) -> float:
        return statistics.median(drain.cases_per_second for drain in self.drains)

    @property
    def cpu(self) -> float:
        return statistics.median(drain.cpu_us_per_case for drain in self.drains)

    def percentile(self, q: int) -> float:
        if len(self.latencies) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies, n=100)[q - 1] * 1000


def bench_settings(offset: int) -> Settings:
    return offset_settings(offset, PROJECT_ROOT / f".stack-routerbench{offset}")


# --- the processors, each run in a process of its own ---------------------------------------------


async def passthrough(settings: Settings, source: str, target: str, group: str, *, pipelined: bool) -> None:
    """Every record sent on unchanged. Plain: the batch's acks are awaited, then the offsets committed.
    Pipelined (as the router does): the next batch is consumed while the last one is acknowledged, and
    the offsets are committed in order after the acks (services/router/commits.py)."""
    consumer = AIOKafkaConsumer(
        source,
        **client_options(settings),
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    producer = make_producer(settings, "bench-pipelined" if pipelined else "bench-passthrough")
    commits = OrderedCommits()
    await consumer.start()
    await producer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=BATCH_TIMEOUT_MS, max_records=MAX_RECORDS)
            records = [record for batch in batches.values() for record in batch]
            if not records:
                continue

            async def send_all(records: list[ConsumerRecord[bytes, bytes]] = records) -> list[asyncio.Future[Any]]:
                # the headers as received (send() takes a list)
                return [
                    await producer.send(target, record.value, key=record.key, headers=list(record.headers))
                    for record in records
                ]

            sends = await send_all()
            if pipelined:
                await commits.add(consumer, next_offsets(records), sends, send_all)
            else:
                await asyncio.gather(*sends)
                await consumer.commit()
    finally:
        await commits.drain()
        await producer.stop()
        await consumer.stop()


async def router(settings: Settings, topics: Topics, group: str) -> None:
    service = RouterService(settings, Wiring(topics.received, topics.routed, topics.deadletter, group))
    settle()  # as create_app does
    await service.start(watch=False)
    try:
        await asyncio.Event().wait()
    finally:
        await service.stop()


def serve(args: argparse.Namespace) -> int:
    """Child process: run one processor until SIGTERM."""
    settings = Settings()  # from the XF_* environment the parent passes
    logging.basicConfig(level=logging.WARNING, format=f"[{args.role}] %(levelname)s %(name)s %(message)s")
    topics = Topics(args.source, args.passthrough, args.pipelined, args.routed, args.deadletter)
    if args.role == "passthrough":
        work = passthrough(settings, topics.received, topics.passthrough, args.group, pipelined=False)
    elif args.role == "pipelined":
        work = passthrough(settings, topics.received, topics.pipelined, args.group, pipelined=True)
    else:
        work = router(settings, topics, args.group)

    async def until_terminated() -> None:
        task = asyncio.ensure_future(work)
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(until_terminated())
    return 0


def start_processor(settings: Settings, role: str, topics: Topics) -> subprocess.Popen[bytes]:
    argv = [sys.executable, __file__, "serve", role, "--group", f"bench-{role}-{uuid.uuid4().hex[:6]}"]
    argv += ["--source", topics.received, "--passthrough", topics.passthrough, "--pipelined", topics.pipelined]
    argv += ["--routed", topics.routed, "--deadletter", topics.deadletter]
    env = {**os.environ, **settings_environment(settings), "XF_LOG_LEVEL": "WARNING"}
    return subprocess.Popen(argv, env=env, cwd=PROJECT_ROOT)


def stop_processor(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- the harness ----------------------------------------------------------------------------------------


async def create_topics(settings: Settings, topics: Topics) -> None:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        names = (topics.received, topics.passthrough, topics.pipelined, topics.routed, topics.deadletter)
        await admin.create_topics([NewTopic(name, PARTITIONS, 1) for name in names])
    finally:
        await admin.close()
    # A first consumer group makes the broker create its offsets topic now, not during a timed phase.
    group = AIOKafkaConsumer(topics.received, **client_options(settings), group_id="bench-warm")
    await group.start()
    await group.getmany(timeout_ms=1000)
    await group.stop()


Headers = list[tuple[str, bytes]]


def intake_headers(event_id: str) -> Headers:
    """The headers a case.received record carries from intake's outbox relay (services/intake/outbox.py:
    the JSON headers and the event id, plus faststream's correlation id): the pass-through forwards them."""
    fields = {**JSON_HEADERS, "ce-id": event_id, "correlation_id": uuid.uuid4().hex}
    return [(name, value.encode()) for name, value in fields.items()]


async def produce(producer: AIOKafkaProducer, topic: str, messages: Sequence[tuple[bytes, bytes, Headers]]) -> None:
    sends = [await producer.send(topic, value, key=key, headers=headers) for key, value, headers in messages]
    await asyncio.gather(*sends)


async def end_offsets(consumer: AIOKafkaConsumer, topic: str) -> int:
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    return sum((await consumer.end_offsets(partitions)).values())


@dataclass(frozen=True)
class Drain:
    cases_per_second: float
    cpu_us_per_case: float  # the processor's own CPU time; less sensitive to a busy machine than cases/s


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def drain(
    settings: Settings, role: str, topics: Topics, output: str, total: int, warmup: int, timeout: float
) -> Drain:
    """The processor drains `total` waiting messages. Cases/s from the output's broker timestamps, CPU
    from /proc; both leave out the first `warmup` outputs (process start, group join, memo learning)."""
    probe = AIOKafkaConsumer(**client_options(settings))
    await probe.start()
    before = await end_offsets(probe, output)
    process = start_processor(settings, role, topics)
    marks: list[tuple[int, float]] = []
    try:
        deadline = time.monotonic() + timeout
        while (done := await end_offsets(probe, output) - before) < total:
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit(f"{role}: drained {done}/{total} in {timeout}s")
            if done >= warmup and not marks:
                marks.append((done, cpu_seconds(process.pid)))
            await asyncio.sleep(0.02)
        marks.append((done, cpu_seconds(process.pid)))
    finally:
        stop_processor(process)
        await probe.stop()
    first, last = await timestamp_span(settings, output, before + warmup)
    (start_done, start_cpu), (end_done, end_cpu) = marks[0], marks[-1]
    cpu = (end_cpu - start_cpu) / max(end_done - start_done, 1) * 1e6
    return Drain((total - warmup - 1) / max(last - first, 1e-3), cpu)


async def timestamp_span(settings: Settings, topic: str, skip: int) -> tuple[float, float]:
    consumer = AIOKafkaConsumer(topic, **client_options(settings), auto_offset_reset="earliest")
    await consumer.start()
    try:
        total = await end_offsets(consumer, topic)
        stamps: list[int] = []
        seen = 0
        while seen < total:
            for records in (await consumer.getmany(timeout_ms=1000, max_records=5000)).values():
                seen += len(records)
                stamps += [record.timestamp for record in records]
        stamps.sort()
        return stamps[skip] / 1000, stamps[-1] / 1000
    finally:
        await consumer.stop()


async def latency_run(
    settings: Settings,
    role: str,
    topics: Topics,
    output: str,
    messages: Sequence[tuple[bytes, bytes, Headers]],
    rate: int,
    warmup: int,
) -> list[float]:
    """Seconds from send to the output consumed, per case, at a steady offered rate."""
    consumer = AIOKafkaConsumer(output, **client_options(settings), auto_offset_reset="latest")
    await consumer.start()
    await consumer.seek_to_end()
    producer = AIOKafkaProducer(**client_options(settings), enable_idempotence=True, acks="all")
    await producer.start()
    process = start_processor(settings, role, topics)
    sent: dict[bytes, float] = {}
    arrived: dict[bytes, float] = {}
    try:
        await wait_until_consuming(producer, consumer, topics.received, process, warmup)

        async def collect() -> None:
            while len(arrived) < len(messages):
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    at = time.perf_counter()
                    for record in records:
                        if record.key in sent:
                            arrived.setdefault(record.key, at)

        collector = asyncio.create_task(collect())
        tick, started = 0.01, time.perf_counter()
        per_tick = max(1, int(rate * tick))
        for offset in range(0, len(messages), per_tick):
            await asyncio.sleep(max(0.0, started + offset / rate - time.perf_counter()))
            for key, value, headers in messages[offset : offset + per_tick]:
                sent[key] = time.perf_counter()
                await producer.send(topics.received, value, key=key, headers=headers)
        await asyncio.wait_for(collector, timeout=60)
    finally:
        stop_processor(process)
        await producer.stop()
        await consumer.stop()
    return [arrived[key] - sent[key] for key in sent if key in arrived]


async def wait_until_consuming(
    producer: AIOKafkaProducer, consumer: AIOKafkaConsumer, topic: str, process: subprocess.Popen[bytes], warmup: int
) -> None:
    """The processor has joined its group and `warmup` cases went through before timing starts."""
    rules = load_rules(PROJECT_ROOT / "rules")
    messages = encode(sample_cases(rules, warmup, seed=44), prefix=f"W{uuid.uuid4().hex[:6]}-")
    await produce(producer, topic, messages)
    seen = 0
    deadline = time.monotonic() + 120
    while seen < len(messages):
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit(f"the processor did not take the {len(messages)} warm-up cases ({seen} seen)")
        seen += sum(len(records) for records in (await consumer.getmany(timeout_ms=500)).values())


def encode(cases: Sequence[ReceivedCase], prefix: str = "") -> list[tuple[bytes, bytes, Headers]]:
    messages = []
    for case in cases:
        envelope = received_envelope(case.model_copy(update={"case_id": prefix + case.case_id}))
        messages.append((envelope.caseid.encode(), envelope.model_dump_json().encode(), intake_headers(envelope.id)))
    return messages


async def throughput_and_latency(settings: Settings, args: argparse.Namespace) -> list[Run]:
    rules = load_rules(PROJECT_ROOT / "rules")
    messages = encode(sample_cases(rules, args.warmup, seed=41), prefix="W-") + encode(sample_cases(rules, args.cases))
    topics = Topics.fresh()
    await create_topics(settings, topics)
    producer = make_producer(settings, "bench-loader")
    await producer.start()
    try:
        await produce(producer, topics.received, messages)
    finally:
        await producer.stop()
    size = sum(len(value) for _, value, _ in messages) // len(messages)
    print(f"[bench] {args.warmup} warm-up + {args.cases} cases on {topics.received} (~{size} bytes each)")
    runs: dict[str, list[Drain]] = {role: [] for role in ROLES}
    for round_number in range(1, args.rounds + 1):  # interleaved, so that a slower spell of the machine hits all
        for role in ROLES:
            drained = await drain(settings, role, topics, topics.output(role), len(messages), args.warmup, args.timeout)
            rate, cpu = drained.cases_per_second, drained.cpu_us_per_case
            print(f"[bench] round {round_number} {role}: {rate:,.0f} cases/s, {cpu:.0f} µs CPU per case")
            runs[role].append(drained)
    timed = sample_cases(rules, args.rate * args.seconds, seed=43)
    results = []
    for role in ROLES:
        topics = Topics.fresh()  # a processor starts from the beginning of its input: a fresh one
        await create_topics(settings, topics)
        keyed = encode(timed, prefix=f"L{role}-")
        latencies = await latency_run(settings, role, topics, topics.output(role), keyed, args.rate, args.warmup)
        results.append(Run(role, runs[role], latencies))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    child = sub.add_parser("serve", help="(internal) run one processor until SIGTERM")
    child.add_argument("role", choices=ROLES)
    for name in ("--group", "--source", "--passthrough", "--pipelined", "--routed", "--deadletter"):
        child.add_argument(name, required=True)
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds, each processor once per round")
    parser.add_argument("--warmup", type=int, default=5000, help="cases before the timed ones in each phase")
    parser.add_argument("--rate", type=int, default=1000, help="offered cases/s in the latency run")
    parser.add_argument("--seconds", type=int, default=5, help="length of the latency run")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds allowed per phase")
    parser.add_argument("--rule-cases", type=int, default=10_000, help="cases for the cost per decision")
    parser.add_argument("--port-offset", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="leave Kafka running afterwards")
    args = parser.parse_args()
    if args.command == "serve":
        return serve(args)
    settings = bench_settings(args.port_offset)
    print(f"[bench] Kafka in {settings.stack_dir} on {settings.bootstrap_servers}")
    stack.up(settings, ["kafka"], report=lambda line: print(f"[bench]   {line}"))
    try:
        runs = asyncio.run(throughput_and_latency(settings, args))
    finally:
        if not args.keep:
            stack.down(settings, ["kafka"], report=lambda line: None)
    report(runs)
    from router_rules import compare  # beside this file

    (demo_count, demo), (grown_count, grown), _ = compare(args.rule_cases, MAX_RECORDS, 10)
    print(f"cost per decision (µs)  engine  first  steady   [demo {demo_count} rules, 10x {grown_count} rules]")
    print(f"  demo rules          {demo.engine:7.1f} {demo.first:6.1f} {demo.steady:7.1f}")
    print(f"  10x rules           {grown.engine:7.1f} {grown.first:6.1f} {grown.steady:7.1f}")
    print(
        f"ratio 10x/demo: engine {grown.engine / demo.engine:.2f}, first {grown.first / demo.first:.2f}, "
        f"steady {grown.steady / demo.steady:.2f} (target < 1.5)"
    )
    return 0


def report(runs: list[Run]) -> None:
    passthrough_run, pipelined_run, router_run = runs
    print()
    print(f"{'':14}{'cases/s':>10}{'CPU µs':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'timed':>8}")
    for run in runs:
        p50, p95, p99 = (run.percentile(q) for q in (50, 95, 99))
        print(f"{run.label:14}{run.rate:10,.0f}{run.cpu:8.0f}{p50:9.1f}{p95:9.1f}{p99:9.1f}{len(run.latencies):8}")
    print("(cases/s and CPU: medians over the rounds)")
    rounds = [
        router.cases_per_second / baseline.cases_per_second
        for router, baseline in zip(router_run.drains, passthrough_run.drains, strict=True)
    ]
    ratio, cpu_ratio = router_run.rate / passthrough_run.rate, passthrough_run.cpu / router_run.cpu
    print(
        f"router / pass-through: throughput {ratio:.0%} (target >= 70%; rounds {min(rounds):.0%}–{max(rounds):.0%}), "
        f"CPU per case {cpu_ratio:.0%}"
    )
    print(f"router / pass-through pipelined as the router is: throughput {router_run.rate / pipelined_run.rate:.0%}")


if __name__ == "__main__":
    sys.exit(main())
