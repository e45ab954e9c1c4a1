"""The router fills Kafka record batches itself: it must pick the partitions send() would pick."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from services.router.batch import murmur2


def test_murmur2_equals_aiokafkas_on_random_keys_of_every_length() -> None:
    rng = random.Random(11)
    for length in range(0, 64):
        for _ in range(200):
            key = rng.randbytes(length)
            assert murmur2(key) == aiokafka_murmur2(key), key


def test_case_ids_land_on_the_partition_the_default_partitioner_picks() -> None:
    partitions = list(range(6))
    partitioner = DefaultPartitioner()
    for sequence in range(5000):
        key = f"XF150627-20261121-{sequence:06d}".encode()
        expected = partitioner(key, partitions, partitions)
        assert partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)] == expected
