"""The local stack for real: Kafka, PostgreSQL and Prometheus (and a stand-in service) on test ports.

Started once for this module in a fresh stack directory under /tmp (pytest's own temporary folders are
mode 0700, which the `postgres` account cannot enter when the tests run as root), then stopped.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.common.kafka import client_options
from services.common.kafka_principals import DEV_UPSTREAM
from services.common.settings import Settings
from services.common.signing import LOG_APPEND_TIME
from services.common.topics import ALL_TOPICS, CASE_SUBMITTED
from services.stack import processes
from services.stack.apps import app_part
from services.stack.errors import StackError
from services.stack.ports import port_is_free
from services.stack.stack import CATALOG, INFRA_PARTS, down, status, up

pytestmark = pytest.mark.integration

# The real services are started elsewhere; here "intake" is a stand-in that answers /healthz.
TEST_CATALOG = {**CATALOG, "intake": app_part("intake", "tests.integration.stack.fake_app")}
PARTS = (*INFRA_PARTS, "intake")


@pytest.fixture(scope="module")
def stack_settings() -> Iterator[Settings]:
    stack_dir = Path(tempfile.mkdtemp(prefix="xf-stack-test-", dir="/tmp"))
    stack_dir.chmod(0o755)
    settings = Settings(
        stack_dir=stack_dir,
        host="127.0.0.1",
        kafka_port=29092,
        kafka_controller_port=29093,
        pg_port=35432,
        prometheus_port=29090,
        intake_port=28001,
        router_port=28002,
        tracker_port=28003,
    )
    try:
        yield settings
    finally:
        down(settings, PARTS, catalog=TEST_CATALOG, report=lambda line: None)
        shutil.rmtree(stack_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def stack(stack_settings: Settings) -> Settings:
    started = time.monotonic()
    up(stack_settings, PARTS, catalog=TEST_CATALOG)
    print(f"stack up in {time.monotonic() - started:.1f}s")
    return stack_settings


def pids(settings: Settings) -> dict[str, int | None]:
    return {row.name: row.pid for row in status(settings, PARTS, catalog=TEST_CATALOG)}


def test_every_part_runs(stack: Settings) -> None:
    assert all(pid is not None for pid in pids(stack).values()), pids(stack)


async def test_kafka_has_the_topics_with_their_partition_counts(stack: Settings) -> None:
    admin = AIOKafkaAdminClient(**client_options(stack))
    await admin.start()
    try:
        described = await admin.describe_topics([topic.name for topic in ALL_TOPICS])
    finally:
        await admin.close()
    partitions = {topic["topic"]: len(topic["partitions"]) for topic in described}
    assert partitions == {topic.name: topic.partitions for topic in ALL_TOPICS}


async def test_kafka_carries_a_message(stack: Settings) -> None:
    producer = AIOKafkaProducer(**client_options(stack, DEV_UPSTREAM), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        sent = await producer.send_and_wait(CASE_SUBMITTED.name, b"hello", key=b"case-1")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(**client_options(stack), auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(sent.topic, sent.partition)
        consumer.assign([partition])
        consumer.seek(partition, sent.offset)
        message = await asyncio.wait_for(consumer.getone(), timeout=20)
    finally:
        await consumer.stop()
    assert (message.key, message.value) == (b"case-1", b"hello")
    # Partners write this topic: the broker stamps the time signatures are checked against.
    assert message.timestamp_type == LOG_APPEND_TIME and message.timestamp > 0


async def test_postgres_answers_as_the_configured_role_with_its_password(stack: Settings) -> None:
    connection = await asyncpg.connect(stack.dsn)
    try:
        row = await connection.fetchrow(
            "SELECT current_user, current_database(), pg_encoding_to_char(encoding) AS encoding "
            "FROM pg_database WHERE datname = current_database()"
        )
    finally:
        await connection.close()
    assert row is not None
    assert tuple(row) == (stack.pg_user, stack.pg_database, "UTF8")
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(stack.dsn.replace(f":{stack.pg_password}@", ":wrong@"))


def test_prometheus_is_ready_with_our_config(stack: Settings) -> None:
    base = f"http://{stack.host}:{stack.prometheus_port}"
    assert httpx.get(f"{base}/-/ready", timeout=5).status_code == 200
    config = httpx.get(f"{base}/api/v1/status/config", timeout=5).json()["data"]["yaml"]
    for job in ("intake", "router", "tracker"):
        assert f"job_name: {job}" in config
    assert f"{stack.host}:{stack.intake_port}" in config
    assert "scrape_interval: 5s" in config


def test_the_service_gets_the_stack_settings(stack: Settings) -> None:
    answer = httpx.get(f"http://{stack.host}:{stack.intake_port}/healthz", timeout=5)
    assert answer.status_code == 200
    assert answer.json() == {"kafka_port": str(stack.kafka_port)}


def test_up_again_leaves_everything_as_it_is(stack: Settings) -> None:
    before = pids(stack)
    started = time.monotonic()
    up(stack, PARTS, catalog=TEST_CATALOG)
    assert time.monotonic() - started < 5
    assert pids(stack) == before


def test_another_stack_on_the_same_ports_is_told_what_to_do(stack: Settings, tmp_path: Path) -> None:
    other = stack.model_copy(update={"stack_dir": tmp_path})
    with pytest.raises(StackError, match=r"is taken by pid .*XF_PROMETHEUS_PORT="):
        up(other, ["prometheus"], report=lambda line: None)


def test_down_stops_every_process(stack: Settings) -> None:
    before = pids(stack)
    down(stack, PARTS, catalog=TEST_CATALOG)
    assert all(pid is None for pid in pids(stack).values())
    for pid in before.values():
        assert pid is not None and processes.command_line(pid) is None  # gone, or a zombie at most
    ports = (stack.kafka_port, stack.kafka_controller_port, stack.pg_port, stack.prometheus_port, stack.intake_port)
    assert all(port_is_free(stack.host, port) for port in ports)
