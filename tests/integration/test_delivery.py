"""Delivery guarantees of the shared runtime, with real processes:
outbox backlog across a broker outage, dead-lettering, dedupe, health, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import grpc
import pytest
from aiokafka import AIOKafkaProducer

from _stack import eventually
from itm.client import Clients
from itm.devstack import BrokerProcess, RedisProcess, free_port, grpc_health
from itm.runtime.consumer import make_consumer
from itm.runtime.envelope import decode, new_envelope
from itm.runtime.settings import Settings
from itm.runtime.topics import ensure_topics
from itm.v1 import common_pb2, events_pb2, profile_pb2


async def read_topic(settings: Settings, topics: list[str], bootstrap: str, want, timeout_s: float = 30):
    """Read ``topics`` from the beginning until ``want(events)`` holds; returns the events."""
    consumer = make_consumer(settings.model_copy(update={"kafka_bootstrap": bootstrap}), None, topics)
    await consumer.start()
    events = []
    try:
        async with asyncio.timeout(timeout_s):
            while not want(events):
                for records in (await consumer.getmany(timeout_ms=300)).values():
                    events.extend((r.topic[len(settings.topic_prefix):], r.key, r.value) for r in records)
    except TimeoutError:
        error = AssertionError(f"after {timeout_s}s on {topics} only saw keys {[k for _, k, _ in events]}")
        error.events = events  # what was read, for a caller that judges a shortfall itself
        raise error from None
    finally:
        await consumer.stop()
    return events


def create(emp_id: str):
    return profile_pb2.CreateEmployeeRequest(request_id=f"req-{emp_id}", employee_id=emp_id, name=f"Name {emp_id}")


async def test_writes_succeed_while_kafka_is_down_and_the_backlog_drains_when_it_returns(
        start_service, topic_prefix, redis_client, tmp_path):
    """The broker is unreachable (paused), not lost: a Tansu restart would start empty,
    and recovery from broker loss is the replay path (test_replay), not the outbox."""
    broker = BrokerProcess(tmp_path / "own-broker", free_port())
    broker.start()
    try:
        bootstrap = broker.bootstrap
        await ensure_topics(bootstrap, topic_prefix)
        profile = start_service("profile", kafka_bootstrap=bootstrap, retry_max_backoff_s=0.5,
                                kafka_request_timeout_ms=2000)
        settings = Settings(topic_prefix=topic_prefix)
        c = Clients.connect({"profile": profile.grpc_target}, settings)
        outbox = f"{topic_prefix}profile:outbox"

        await c.profile.CreateEmployee(create("E1"), metadata=c.metadata)
        await eventually(lambda: _xlen_is(redis_client, outbox, 0), 15, "E1 published")

        os.kill(broker.pid, signal.SIGSTOP)
        try:
            for emp in ("E2", "E3"):
                created = await c.profile.CreateEmployee(create(emp), metadata=c.metadata)
                assert created.version == 1  # acknowledged although Kafka does not answer
            await asyncio.sleep(3)
            assert await redis_client.xlen(outbox) == 2, "nothing may leave the outbox without a broker ack"
        finally:
            os.kill(broker.pid, signal.SIGCONT)
        await eventually(lambda: _xlen_is(redis_client, outbox, 0), 40, "the backlog to drain")
        events = await read_topic(settings, ["profile.employee-registered"], bootstrap,
                                  lambda ev: {k for _, k, _ in ev} >= {b"E1", b"E2", b"E3"})
        unique = {decode(v).event_id: k for _, k, v in events}  # at-least-once: dedupe by event id
        assert sorted(unique.values()) == [b"E1", b"E2", b"E3"]
        await c.close()
    finally:
        broker.stop()


async def _xlen_is(r, key, n):
    return await r.xlen(key) == n


async def test_malformed_and_duplicate_events_neither_stop_nor_double_the_consumer(
        start_service, topic_prefix, kafka_bootstrap):
    profile = start_service("profile")
    settings = Settings(topic_prefix=topic_prefix)
    c = Clients.connect({"profile": profile.grpc_target}, settings)
    await c.profile.CreateEmployee(create("E7"), metadata=c.metadata)

    completion = new_envelope("learning.course-completed", "learning", "E7", 1, events_pb2.CourseCompleted(
        employee_id="E7", course_id="sql-101", skills=[common_pb2.CourseSkill(skill_id="sql", level=3)]))
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        topic = settings.topic("learning.course-completed")
        await producer.send_and_wait(topic, b"\x00garbage", key=b"E7")
        await producer.send_and_wait(topic, completion.SerializeToString(), key=b"E7")
        await producer.send_and_wait(topic, completion.SerializeToString(), key=b"E7")  # redelivery
    finally:
        await producer.stop()

    letters = await read_topic(settings, ["itm.dead-letter"], kafka_bootstrap, lambda ev: len(ev) >= 1)
    letter = decode(letters[0][2]).payload
    assert letter.original_topic == topic and letter.original_value == b"\x00garbage"
    assert "malformed" in letter.reason and letter.consumer == "profile.course-completions"

    verified = await read_topic(settings, ["profile.skill-verified"], kafka_bootstrap, lambda ev: len(ev) >= 1)
    await asyncio.sleep(1.0)  # give a second (wrong) event time to appear
    verified = await read_topic(settings, ["profile.skill-verified"], kafka_bootstrap, lambda ev: len(ev) >= 1)
    assert len(verified) == 1
    event = decode(verified[0][2])
    assert event.envelope.causation_id == completion.event_id
    assert event.envelope.correlation_id == completion.correlation_id
    emp = await c.profile.GetEmployee(profile_pb2.GetEmployeeRequest(employee_id="E7"), metadata=c.metadata)
    assert emp.version == 2 and emp.skills[0].skill.status == common_pb2.SKILL_STATUS_VERIFIED
    await c.close()


async def test_health_follows_redis_and_sigterm_stops_cleanly(start_service, tmp_path):
    redis = RedisProcess(tmp_path / "own-redis", free_port())
    redis.start()
    try:
        svc = start_service("opportunity", redis_url=redis.url)
        assert grpc_health(svc.grpc_target) == (True, "SERVING")
        redis.stop()
        deadline = time.monotonic() + 10
        while grpc_health(svc.grpc_target)[1] != "NOT_SERVING":
            assert time.monotonic() < deadline, "health kept saying SERVING with Redis down"
            await asyncio.sleep(0.2)
        redis.start()
        await svc.wait_healthy_async(15)
        started = time.monotonic()
        assert svc.stop(timeout=15) == 0
        assert time.monotonic() - started < 10
    finally:
        redis.stop()


async def test_bad_input_and_auth_get_clear_status_codes(start_service, topic_prefix):
    profile = start_service("profile")
    settings = Settings(topic_prefix=topic_prefix)
    c = Clients.connect({"profile": profile.grpc_target}, settings)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await c.profile.CreateEmployee(create("E9"))  # no token
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED and "bearer token" in err.value.details()
    await c.profile.CreateEmployee(create("E9"), metadata=c.metadata)
    again = await c.profile.CreateEmployee(create("E9"), metadata=c.metadata)  # same request id
    assert again.version == 1
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await c.profile.UpsertSkill(profile_pb2.UpsertSkillRequest(employee_id="E9", skill="pyhton", level=3),
                                    metadata=c.metadata)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "python" in err.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await c.profile.UpsertSkill(profile_pb2.UpsertSkillRequest(employee_id="E9", skill="python", level=6),
                                    metadata=c.metadata)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "between 1 and 5" in err.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await c.profile.UpsertSkill(profile_pb2.UpsertSkillRequest(employee_id="E9", skill="python", level=3,
                                                                   expected_version=7), metadata=c.metadata)
    assert err.value.code() == grpc.StatusCode.ABORTED and "version 1" in err.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await c.profile.GetEmployee(profile_pb2.GetEmployeeRequest(employee_id="nobody"), metadata=c.metadata)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    other = c.as_(settings, "E10", "employee")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await other.profile.GetEmployee(profile_pb2.GetEmployeeRequest(employee_id="E9"), metadata=other.metadata)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    await c.close()
