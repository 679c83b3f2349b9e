"""Issue 15 item 1: no record can stop an IdempotentConsumer, in any service but the matcher.

Real processes, the real broker and Redis: poison records of every kind go to
every topic a consumer reads, each followed by a good record that must still
take effect; the dead-letter producer outlives a consumer restart; a consumer
that cannot get past a record reports NOT_SERVING (``itm.consumers``) and the
``itm_consumer_stalled`` metric until it can.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.request

import pytest
from aiokafka import AIOKafkaProducer
from google.protobuf import any_pb2

from itm.client import Clients
from itm.devstack import RedisProcess, free_port, grpc_health
from itm.runtime.consumer import IdempotentConsumer
from itm.runtime.envelope import decode, new_envelope
from itm.runtime.redisx import connect
from itm.runtime.settings import Settings
from itm.v1 import common_pb2, events_pb2, profile_pb2
from _stack import eventually
from test_delivery import read_topic


def corrupt_payload(topic: str, subject: str, payload) -> bytes:
    """A valid envelope whose Any names a known type but carries bytes that do not decode."""
    env = new_envelope(topic, "chaos", subject, 1, payload)
    env.payload.CopyFrom(any_pb2.Any(type_url=env.payload.type_url, value=b"\xff\xff\xff\xff"))
    return env.SerializeToString()


def good(topic: str, subject: str, payload) -> bytes:
    return new_envelope(topic, "test", subject, 1, payload).SerializeToString()


async def produce(bootstrap: str, settings: Settings, records: list[tuple[str, str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for topic, key, value in records:
            await producer.send_and_wait(settings.topic(topic), value, key=key.encode())
    finally:
        await producer.stop()


def letters_of(events) -> list:
    return [decode(v).payload for _, _, v in events]


async def test_poison_records_are_dead_lettered_by_every_consumer_and_good_records_still_land(
        start_service, topic_prefix, kafka_bootstrap, redis_client):
    procs = [start_service(name, wait=False, consumer_max_attempts=2)
             for name in ("profile", "learning", "opportunity", "notifier")]
    for proc in procs:
        await proc.wait_healthy_async(90)
    settings = Settings(topic_prefix=topic_prefix)
    profile = procs[0]
    c = Clients.connect({"profile": profile.grpc_target}, settings)
    await c.profile.CreateEmployee(profile_pb2.CreateEmployeeRequest(employee_id="P1", name="Pat"), metadata=c.metadata)

    crossing = events_pb2.ThresholdCrossed(employee_id="R1", opportunity_id="O1", opportunity_title="Gig",
                                           score_percent=85, threshold_percent=80)
    completion = events_pb2.CourseCompleted(employee_id="P1", course_id="sql-101",
                                            skills=[common_pb2.CourseSkill(skill_id="sql", level=3)])
    bad_level = events_pb2.CourseCompleted(employee_id="P1", course_id="sql-102",
                                           skills=[common_pb2.CourseSkill(skill_id="sql", level=999)])
    gig = events_pb2.GigPosted(opportunity=common_pb2.OpportunityMatchProfile(
        opportunity_id="O9", requirements=[common_pb2.Requirement(skill_id="sql", min_level=3, weight=float("nan"))]))
    await produce(kafka_bootstrap, settings, [
        ("match.threshold-crossed", "R1", corrupt_payload("match.threshold-crossed", "R1", crossing)),
        ("match.threshold-crossed", "R1", good("match.threshold-crossed", "R1", crossing)),
        ("learning.course-completed", "P1", corrupt_payload("learning.course-completed", "P1", completion)),
        ("learning.course-completed", "P1", good("learning.course-completed", "P1", bad_level)),
        ("learning.course-completed", "P1", good("learning.course-completed", "P1", completion)),
        ("opportunity.feedback-given", "A1", corrupt_payload("opportunity.feedback-given", "A1",
                                                             events_pb2.FeedbackGiven())),
        ("opportunity.gig-posted", "O9", good("opportunity.gig-posted", "O9", gig)),
        ("profile.employee-erased", "X1", corrupt_payload("profile.employee-erased", "X1",
                                                          events_pb2.EmployeeErased(employee_id="X1"))),
        ("profile.employee-erased", "X2", good("profile.employee-erased", "X2",
                                               events_pb2.EmployeeErased(employee_id="X2" * 200))),
    ])

    expected = {
        ("notifier.crossings", "match.threshold-crossed"): 1,
        ("profile.course-completions", "learning.course-completed"): 2,
        ("profile.gig-feedback", "opportunity.feedback-given"): 1,
        ("notifier.workflow", "opportunity.gig-posted"): 1,
        ("notifier.erasure", "profile.employee-erased"): 2,
        ("learning.erasure", "profile.employee-erased"): 2,
        ("opportunity.erasure", "profile.employee-erased"): 2,
    }

    def count(events):
        seen: dict[tuple[str, str], int] = {}
        for letter in letters_of(events):
            key = (letter.consumer, letter.original_topic[len(topic_prefix):])
            seen[key] = seen.get(key, 0) + 1
        return seen

    events = await read_topic(settings, ["itm.dead-letter"], kafka_bootstrap,
                              lambda ev: all(count(ev).get(k, 0) >= n for k, n in expected.items()), timeout_s=60)
    reasons = " | ".join(letter.reason for letter in letters_of(events))
    assert "payload bytes do not decode as itm.v1.ThresholdCrossed" in reasons
    assert "skills[0].level must be between 1 and 5, got 999" in reasons
    assert "opportunity.requirements[0].weight must be a finite number" in reasons
    assert "employee_id is longer than 200 characters" in reasons

    # the good records behind the poison took effect
    await eventually(lambda: _xlen_at_least(redis_client, f"{topic_prefix}inbox:R1", 1), 30, "R1's push")
    emp = await c.profile.GetEmployee(profile_pb2.GetEmployeeRequest(employee_id="P1"), metadata=c.metadata)
    assert [(s.skill.skill_id, s.skill.level, s.skill.status) for s in emp.skills] == [
        ("sql", 3, common_pb2.SKILL_STATUS_VERIFIED)]
    for proc in procs:
        assert grpc_health(proc.grpc_target) == (True, "SERVING")
        assert grpc_health(proc.grpc_target, service="itm.consumers") == (True, "SERVING")
    await c.close()


async def _xlen_at_least(r, key, n):
    return await r.xlen(key) >= n


async def test_the_dead_letter_producer_survives_a_consumer_restart(topic_prefix, kafka_bootstrap, redis_url):
    """The finding: after ``close()`` every later dead letter raised ProducerClosed, wedging the consumer."""
    settings = Settings(topic_prefix=topic_prefix, kafka_bootstrap=kafka_bootstrap, redis_url=redis_url,
                        service="test")
    redis = connect(redis_url)
    handled: list[str] = []

    async def handler(event, pipe):
        handled.append(event.subject)

    consumer = IdempotentConsumer(settings, redis, "restarted", ["profile.employee-erased"], handler)
    erased = events_pb2.EmployeeErased(employee_id="E1")
    try:
        for round_ in (1, 2):
            task = asyncio.create_task(consumer.run())
            await produce(kafka_bootstrap, settings, [
                ("profile.employee-erased", f"B{round_}", b"\x00 ordinary garbage"),
                ("profile.employee-erased", f"G{round_}", good("profile.employee-erased", f"G{round_}", erased)),
            ])
            await eventually(lambda: _true(f"G{round_}" in handled), 30, f"round {round_}'s good record")
            # and the garbage's letter (its key may sit on another partition than the good record's)
            await read_topic(settings, ["itm.dead-letter"], kafka_bootstrap, lambda ev: len(ev) >= round_)
            task.cancel()  # what a crash or a shutdown does: run() ends and closes the consumer
            with contextlib.suppress(asyncio.CancelledError):
                await task
        letters = await read_topic(settings, ["itm.dead-letter"], kafka_bootstrap, lambda ev: len(ev) >= 2)
        assert sorted(letter.original_key for letter in letters_of(letters)) == [b"B1", b"B2"]
    finally:
        await consumer.close()
        await redis.aclose()


async def _true(value: bool) -> bool:
    return value


def _stalled_series(http_url: str) -> list[str]:
    body = urllib.request.urlopen(f"{http_url}/metrics", timeout=5).read().decode()
    return [line for line in body.splitlines() if line.startswith("itm_consumer_stalled{") and line.endswith(" 1.0")]


@pytest.mark.timeout(120)
async def test_a_consumer_that_cannot_get_past_a_record_reports_not_serving_until_it_can(
        start_service, topic_prefix, kafka_bootstrap, tmp_path):
    redis = RedisProcess(tmp_path / "own-redis", free_port())
    redis.start()
    client = connect(redis.url)
    try:
        notifier = start_service("notifier", redis_url=redis.url, consumer_stall_s=2)
        settings = Settings(topic_prefix=topic_prefix)
        inbox = f"{topic_prefix}inbox:S1"
        crossing = events_pb2.ThresholdCrossed(employee_id="S1", opportunity_id="O1", score_percent=85,
                                               threshold_percent=80)
        await produce(kafka_bootstrap, settings, [("match.threshold-crossed", "S1",
                                                   good("match.threshold-crossed", "S1", crossing))])
        await eventually(lambda: _xlen_at_least(client, inbox, 1), 30, "the first push (consumer running)")
        assert grpc_health(notifier.grpc_target, service="itm.consumers") == (True, "SERVING")

        redis.stop()  # the next record is fetched but cannot be stored
        await produce(kafka_bootstrap, settings, [("match.threshold-crossed", "S1",
                                                   good("match.threshold-crossed", "S1", crossing))])
        deadline = time.monotonic() + 30
        while grpc_health(notifier.grpc_target, service="itm.consumers")[1] != "NOT_SERVING":
            assert time.monotonic() < deadline, "itm.consumers kept saying SERVING with a record stuck in hand"
            await asyncio.sleep(0.3)
        stalled = _stalled_series(notifier.http_url)
        assert len(stalled) == 1 and 'consumer="notifier.crossings"' in stalled[0]
        assert 'topic="match.threshold-crossed"' in stalled[0]

        redis.start()
        await eventually(lambda: _xlen_at_least(client, inbox, 2), 30, "the held record to be stored")
        deadline = time.monotonic() + 15
        while grpc_health(notifier.grpc_target, service="itm.consumers")[1] != "SERVING":
            assert time.monotonic() < deadline, "itm.consumers stayed NOT_SERVING after the consumer got past it"
            await asyncio.sleep(0.3)
        assert _stalled_series(notifier.http_url) == []
    finally:
        await client.aclose()
        redis.stop()
