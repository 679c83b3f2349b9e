"""The end-offset shim (itm.runtime.kafka_compat) against the test broker.

Tansu answers ListOffsets(latest) with "last batch base offset + 1" instead of
the high watermark. These tests produce 25 records in ONE batch and show:
(a) aiokafka's own path gets it wrong (skipped on a broker without the bug),
(b) with the shim, end_offsets, seek_to_end and faust's highwaters path all
    say 25, the fetch high watermark,
(c) high_watermarks() is right for several partitions, multi-batch and empty.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.consumer.fetcher import Fetcher

from itm.runtime import kafka_compat

pytestmark = pytest.mark.integration

N = 25


@pytest.fixture
def shim_state():
    """Leave the process-wide patch as the test found it."""
    was = kafka_compat.is_installed()
    yield
    if was:
        kafka_compat.install(True)
    else:
        kafka_compat.uninstall()


async def _topic(bootstrap: str, partitions: int = 1) -> str:
    name = f"itm-test-kafka-compat-{uuid.uuid4().hex}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()
    return name


async def _produce_batches(bootstrap: str, topic: str, batches: dict[int, list[int]]) -> None:
    """batches: partition -> sizes of the record batches to send to it, in order."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        for partition, sizes in batches.items():
            for size in sizes:
                batch = producer.create_batch()
                for i in range(size):
                    assert batch.append(key=None, value=b"record-%d" % i, timestamp=None) is not None
                fut = await producer.send_batch(batch, topic, partition=partition)
                await fut
    finally:
        await producer.stop()


async def _consumer(bootstrap: str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    return consumer


async def _fetch_highwater(consumer: AIOKafkaConsumer, tp: TopicPartition, expect: int) -> int:
    """Read the partition from the start; return the high watermark of the fetch responses."""
    consumer.assign([tp])
    await consumer.seek_to_beginning(tp)
    got = 0
    for _ in range(50):
        records = await consumer.getmany(tp, timeout_ms=200)
        got += len(records.get(tp, []))
        if got >= expect:
            break
    assert got == expect
    return consumer.highwater(tp)


async def test_without_shim_end_offsets_miss_the_tail(kafka_bootstrap, shim_state):
    topic = await _topic(kafka_bootstrap)
    tp = TopicPartition(topic, 0)
    await _produce_batches(kafka_bootstrap, topic, {0: [N]})

    kafka_compat.install(True)
    consumer = await _consumer(kafka_bootstrap)
    try:
        highwater = await _fetch_highwater(consumer, tp, N)
        with kafka_compat.bypass():  # aiokafka's own, unpatched answer
            unpatched = (await consumer.end_offsets([tp]))[tp]
        raw = (await kafka_compat.broker_end_offsets(kafka_bootstrap, [tp]))[tp]
    finally:
        await consumer.stop()

    assert highwater == N
    assert raw == unpatched
    if unpatched == highwater:
        pytest.skip(
            f"this broker answers ListOffsets(latest) correctly ({unpatched} == high watermark "
            f"{highwater}), e.g. Apache Kafka: the Tansu bug the shim works around is not present"
        )
    # Tansu: base offset of the last (only) batch + 1
    assert unpatched == 1, f"unpatched end_offsets={unpatched}, fetch high watermark={highwater}"


async def test_with_shim_end_offsets_equal_high_watermark(kafka_bootstrap, shim_state):
    topic = await _topic(kafka_bootstrap)
    tp = TopicPartition(topic, 0)
    await _produce_batches(kafka_bootstrap, topic, {0: [N]})

    assert kafka_compat.install(True) is True
    assert kafka_compat.install(True) is True  # idempotent: wrapped once
    assert kafka_compat.is_installed()
    assert getattr(Fetcher._proc_offset_request, "__wrapped__", None) is kafka_compat.original_proc_offset_request

    before = kafka_compat.correction_count()
    consumer = await _consumer(kafka_bootstrap)
    try:
        end = (await consumer.end_offsets([tp]))[tp]
        highwater = await _fetch_highwater(consumer, tp, N)
        assert end == N == highwater

        # EARLIEST is untouched
        assert (await consumer.beginning_offsets([tp]))[tp] == 0

        # the reset path of the fetch loop goes through the same function
        await consumer.seek_to_end(tp)
        assert await consumer.position(tp) == N

        # faust: Consumer.highwaters -> AIOKafkaConsumerThread._highwaters -> consumer.end_offsets
        from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

        thread = SimpleNamespace(
            _ensure_consumer=lambda: consumer, consumer=SimpleNamespace(in_transaction=False)
        )
        assert await AIOKafkaConsumerThread._highwaters(thread, [tp]) == {tp: N}
    finally:
        await consumer.stop()

    raw = (await kafka_compat.broker_end_offsets(kafka_bootstrap, [tp]))[tp]
    if raw != N:  # an affected broker: the shim did the correcting
        assert kafka_compat.correction_count() > before

    # uninstall restores aiokafka's function; install again re-wraps
    kafka_compat.uninstall()
    kafka_compat.uninstall()
    assert Fetcher._proc_offset_request is kafka_compat.original_proc_offset_request
    assert not kafka_compat.is_installed()
    assert kafka_compat.install(False) is False  # ITM_KAFKA_END_OFFSET_FIX=0 equivalent
    assert kafka_compat.install(True) is True


async def test_install_honours_env_switch(monkeypatch, shim_state):
    kafka_compat.uninstall()
    monkeypatch.setenv(kafka_compat.ENV_VAR, "0")
    assert kafka_compat.install() is False
    assert not kafka_compat.is_installed()
    monkeypatch.delenv(kafka_compat.ENV_VAR)
    assert kafka_compat.install() is True


async def test_high_watermarks_several_partitions_and_empty(kafka_bootstrap, shim_state):
    topic = await _topic(kafka_bootstrap, partitions=3)
    tps = [TopicPartition(topic, p) for p in range(3)]
    # p0: one batch of 25; p1: batches of 10 and 7 (17); p2: empty
    await _produce_batches(kafka_bootstrap, topic, {0: [N], 1: [10, 7]})
    expected = {tps[0]: N, tps[1]: 17, tps[2]: 0}

    kafka_compat.uninstall()  # high_watermarks must not depend on the patch
    assert await kafka_compat.high_watermarks(kafka_bootstrap, tps) == expected
    raw = await kafka_compat.broker_end_offsets(kafka_bootstrap, tps)
    if raw != expected:  # Tansu: base of the last batch + 1
        assert raw == {tps[0]: 1, tps[1]: 11, tps[2]: 0}

    consumer = await _consumer(kafka_bootstrap)
    try:
        assert await kafka_compat.high_watermarks(consumer, tps) == expected
        assert await kafka_compat.high_watermarks(consumer, []) == {}
        # lag as the metrics compute it: high watermark - committed (nothing committed: from 0)
        lag = {tp: hw - 0 for tp, hw in (await kafka_compat.high_watermarks(consumer, tps)).items()}
        assert sum(lag.values()) == N + 17
    finally:
        await consumer.stop()
