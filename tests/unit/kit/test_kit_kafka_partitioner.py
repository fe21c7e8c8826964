"""The producer's partitioner puts every key where aiokafka's default (the Java client's) would."""

from __future__ import annotations

import os
import random

from aiokafka.partitioner import DefaultPartitioner

from parley.kit.kafka import partition_for


def test_keys_land_on_the_default_partitioners_partition_every_time() -> None:
    keys = [os.urandom(random.randint(0, 64)) for _ in range(2_000)] + [b"tenant:5511999990000"] * 3
    for partitions in (1, 3, 4, 12):
        all_partitions = list(range(partitions))
        for key in keys + keys:  # the second pass answers from the cache
            assert partition_for(key, all_partitions, all_partitions) == \
                DefaultPartitioner()(key, all_partitions, all_partitions)


def test_a_record_without_key_goes_to_an_available_partition() -> None:
    assert partition_for(None, [0, 1, 2, 3], [2]) == 2
    assert partition_for(None, [0, 1, 2, 3], []) in {0, 1, 2, 3}
