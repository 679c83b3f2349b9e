"""Issue 15 item 2: no paused or partitioned matcher worker doubles a push.

Two real matcher workers and the notifier over the real broker. One worker is frozen
with SIGSTOP for longer than the session timeout while employees' scores and the
opportunities' weights keep rising (so each qualifying pair crosses exactly once and
no score reaches 100 %), then resumed with SIGCONT: the zombie works through what it
had fetched before it learns it lost its partitions, and the worker that took them
over meets the same changes, perhaps in another order. Every (employee, opportunity)
pair must cross with one event id, and every inbox must hold exactly one push per
opportunity.

The unit test ``test_two_workers_meeting_the_same_changes_in_another_order_push_the_same_crossing_id``
shows the cause deterministically: with ids from the versions a crossing was computed at
(the code before), two workers meeting the same changes in another order crossed the
same pair with two ids, and the notifier pushed it twice. This test, over real
processes, did not reproduce that double here with the code before (3 runs, paced and
burst streams): it guards the exact count end to end.
"""

from __future__ import annotations

import asyncio
import collections
import os
import signal

import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer

from itm.runtime.envelope import decode
from itm.runtime.settings import Settings
from itm.runtime.topics import EMPLOYEE_PARTITIONS
from itm.v1 import common_pb2, events_pb2
from services.matcher.app import partition_for
from services.matcher.registry import WorkerRegistry
from test_delivery import read_topic
from test_hardening_consumers import good, produce

V = common_pb2.SKILL_STATUS_VERIFIED
OPEN = common_pb2.OPPORTUNITY_STATUS_OPEN
GIG = common_pb2.OPPORTUNITY_TYPE_GIG
OPPS = ["F1", "F2", "F3"]
PEOPLE = 120
PACE_S = float(os.environ.get("ITM_TEST_FENCING_PACE_S", "0.005"))
FREEZE_AFTER_S = float(os.environ.get("ITM_TEST_FENCING_FREEZE_AFTER_S", "1.0"))


def employee(emp_id: str, version: int, sql: int) -> tuple[str, str, bytes]:
    topic = "profile.employee-registered"
    payload = events_pb2.EmployeeRegistered(profile=common_pb2.EmployeeMatchProfile(
        employee_id=emp_id, threshold_percent=80,
        skills=[common_pb2.EmployeeSkill(skill_id="sql", level=sql, status=V),
                common_pb2.EmployeeSkill(skill_id="python", level=1, status=V)]))
    return topic, emp_id, new_record(topic, emp_id, version, payload)


def opportunity(opp_id: str, version: int, sql_weight: float) -> tuple[str, str, bytes]:
    """sql at 3 weighs ``sql_weight``, python at 5 weighs 1: python 1 earns 0.2, never 100 %;
    a heavier sql only raises every score (each sql credit is above 0.2)."""
    topic = "opportunity.gig-posted" if version == 1 else "opportunity.requirements-changed"
    cls = events_pb2.GigPosted if version == 1 else events_pb2.RequirementsChanged
    payload = cls(opportunity=common_pb2.OpportunityMatchProfile(
        opportunity_id=opp_id, title=f"Gig {opp_id}", type=GIG, status=OPEN, owner_id="owner",
        requirements=[common_pb2.Requirement(skill_id="sql", min_level=3, weight=sql_weight),
                      common_pb2.Requirement(skill_id="python", min_level=5, weight=1)]))
    return topic, opp_id, new_record(topic, opp_id, version, payload)


def new_record(topic: str, subject: str, version: int, payload) -> bytes:
    from itm.runtime.envelope import new_envelope

    return new_envelope(topic, "test", subject, version, payload).SerializeToString()


async def workers(redis_url: str, settings: Settings) -> list[dict]:
    r = aioredis.from_url(redis_url)
    try:
        return await WorkerRegistry(r, settings, "reader", "", 10).workers()
    finally:
        await r.aclose()


@pytest.mark.timeout(300)
async def test_a_worker_frozen_past_its_session_and_resumed_doubles_no_crossing(
        start_service, topic_prefix, kafka_bootstrap, redis_url, redis_client):
    settings = Settings(topic_prefix=topic_prefix)
    env = dict(consumer_session_timeout_ms=3000, matcher_registry_ttl_s=4, timeout=120, wait=False)
    matchers = [start_service("matcher", **env), start_service("matcher", **env)]
    notifier = start_service("notifier", wait=False)
    for proc in [*matchers, notifier]:
        await proc.wait_healthy_async(120)
    alive = {m.grpc_target for m in matchers}
    async with asyncio.timeout(90):
        while True:
            live = [w for w in await workers(redis_url, settings) if w["address"] in alive and w["partitions"]]
            if len(live) == 2 and sorted(p for w in live for p in w["partitions"]) == list(range(EMPLOYEE_PARTITIONS)):
                break
            await asyncio.sleep(0.5)
    victim_entry = live[0]
    victim = next(m for m in matchers if m.grpc_target == victim_entry["address"])

    people = [f"Z{i}" for i in range(PEOPLE)]
    assert {partition_for(e) for e in people} == set(range(EMPLOYEE_PARTITIONS))
    await produce(kafka_bootstrap, settings, [opportunity(o, 1, 4.0) for o in OPPS]
                  + [employee(e, 1, 2) for e in people])  # 57 %: below 80 for every weight

    # a steady stream: every 50 ms each opportunity gets heavier (every score rises a little)
    # and one more employee reaches sql 3 (84 % and more: a crossing for each opportunity);
    # the victim is frozen in the middle of it, past its session timeout, and resumed
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=0)
    await producer.start()

    async def stream() -> None:
        for k, emp_id in enumerate(people):
            batch = [opportunity(o, k + 2, 4.0 + k / 10) for o in OPPS] + [employee(emp_id, 2, 3)]
            for topic, key, value in batch:
                await producer.send(settings.topic(topic), value, key=key.encode())
            await asyncio.sleep(PACE_S)
        await producer.flush()

    try:
        streaming = asyncio.ensure_future(stream())
        await asyncio.sleep(FREEZE_AFTER_S)  # with a backlog in hand: fetched, not all processed or committed
        os.kill(victim.pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(8)  # well past the 3 s session timeout: the other worker takes over
        finally:
            os.kill(victim.pid, signal.SIGCONT)
        await streaming
    finally:
        await producer.stop()
    expected = {(e, o) for e in people for o in OPPS}

    def pairs(events):
        return {(d.payload.employee_id, d.payload.opportunity_id) for d in (decode(v) for _, _, v in events)}

    try:
        events = await read_topic(settings, ["match.threshold-crossed"], kafka_bootstrap,
                                  lambda ev: expected <= pairs(ev), timeout_s=120)
    except AssertionError as shortfall:  # a loss: the doubling this test is about is still checked, below
        events = shortfall.events
    await asyncio.sleep(5)  # what the zombie or a redelivery might still add
    events = await read_topic(settings, ["match.threshold-crossed"], kafka_bootstrap,
                              lambda ev: len(ev) >= len(events), timeout_s=30)
    ids = collections.defaultdict(set)
    for _, _, value in events:
        d = decode(value)
        ids[(d.payload.employee_id, d.payload.opportunity_id)].add(d.event_id)
        assert d.payload.score_percent < 100
    doubled = {pair: n for pair, n in ids.items() if len(n) > 1}
    assert not doubled, f"{len(doubled)} pairs crossed with more than one event id: {sorted(doubled)[:5]}"
    assert ids and set(ids) <= expected, "no crossing at all, or crossings of pairs that cannot qualify"
    missing = expected - set(ids)  # lost after the rebalance: a finding until 2026-12-03 (docs/chaos.md)
    assert not missing, f"{len(missing)} of {len(expected)} crossings lost, e.g. {sorted(missing)[:3]}"
    print(f"fencing: {len(events)} crossing records for {len(expected)} pairs, "
          f"{len(events) - len(expected)} redelivered with the same id")

    async with asyncio.timeout(60):  # the notifier pushed each exactly once
        while True:
            lengths = {e: await redis_client.xlen(f"{topic_prefix}inbox:{e}") for e in people}
            if all(n >= len(OPPS) for n in lengths.values()):
                break
            await asyncio.sleep(0.5)
    await asyncio.sleep(2)
    lengths = {e: await redis_client.xlen(f"{topic_prefix}inbox:{e}") for e in people}
    assert lengths == {e: len(OPPS) for e in people}
