"""Nothing half-written, nothing lost: SIGKILL the profile service in the middle of a
burst of concurrent writes, restart it, and show that

* every acknowledged write is stored (the version the client was given, and its effect);
* every stored change has exactly one event (one event id per entity version, versions
  1..N without gaps), published after the restart even if the relay had not got to
  it: a consumer that dedupes by event id sees each change exactly once;
* a client retrying its unanswered creates with the same request ids creates nothing twice.
"""

from __future__ import annotations

import asyncio
import collections

import grpc

from itm.client import Clients
from itm.runtime.consumer import make_consumer
from itm.runtime.envelope import decode
from itm.runtime.settings import Settings
from itm.runtime.topics import PROFILE_TOPICS
from itm.v1 import profile_pb2

EMPLOYEES = 48
SKILLS = ["python", "sql", "excel", "docker", "kubernetes"]
KILL_AFTER_ACKS = 90  # of 48 * 6 = 288 writes


async def test_sigkill_mid_burst_keeps_every_acknowledged_write_and_publishes_each_change_once(
        start_service, topic_prefix, kafka_bootstrap, redis_client):
    profile = start_service("profile")
    settings = Settings(topic_prefix=topic_prefix, kafka_bootstrap=kafka_bootstrap)
    c = Clients.connect({"profile": profile.grpc_target}, settings)
    ids = [f"D{i:03d}" for i in range(EMPLOYEES)]
    acked: dict[str, list[tuple[str, int]]] = collections.defaultdict(list)  # employee -> [(what, version)]
    failed: list[str] = []
    enough = asyncio.Event()

    def create(emp_id):
        return profile_pb2.CreateEmployeeRequest(request_id=f"dur-{emp_id}", employee_id=emp_id, name=f"N {emp_id}")

    async def writer(emp_id: str) -> None:
        """Create, then add skills, each write expecting the version the previous one returned."""
        try:
            e = await c.profile.CreateEmployee(create(emp_id), metadata=c.metadata, timeout=20)
            acked[emp_id].append(("created", e.version))
            for skill in SKILLS:
                e = await c.profile.UpsertSkill(profile_pb2.UpsertSkillRequest(
                    employee_id=emp_id, expected_version=e.version, skill=skill, level=3), metadata=c.metadata, timeout=20)
                acked[emp_id].append((skill, e.version))
                if sum(map(len, acked.values())) >= KILL_AFTER_ACKS:
                    enough.set()
        except grpc.aio.AioRpcError as exc:
            assert exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED,
                                  grpc.StatusCode.UNKNOWN), exc
            failed.append(emp_id)

    burst = [asyncio.create_task(writer(e)) for e in ids]
    await asyncio.wait_for(enough.wait(), 60)
    await asyncio.to_thread(profile.kill)  # SIGKILL while the other writers are mid-request
    await asyncio.gather(*burst)
    n_acked = sum(map(len, acked.values()))
    assert n_acked < EMPLOYEES * (1 + len(SKILLS)) and failed, "the kill must land in the middle of the burst"

    profile.start(wait=False)
    await profile.wait_healthy_async(60)
    # a client retries the creates it got no answer for, with the same request ids
    for emp_id in ids:
        e = await c.profile.CreateEmployee(create(emp_id), metadata=c.metadata)
        if acked[emp_id]:
            assert e.version >= acked[emp_id][-1][1]
    stored = {e: await c.profile.GetEmployee(profile_pb2.GetEmployeeRequest(employee_id=e), metadata=c.metadata)
              for e in ids}
    for emp_id, writes in acked.items():  # every acknowledged write is there
        skills = {r.skill.skill_id for r in stored[emp_id].skills}
        for what, version in writes:
            assert stored[emp_id].version >= version
            assert what == "created" or what in skills, f"{emp_id}: acknowledged {what} (v{version}) was lost"

    # the outbox drains after the restart (the dead relay's lease runs out first)
    outbox = f"{topic_prefix}profile:outbox"
    async with asyncio.timeout(60):
        while await redis_client.xlen(outbox):
            await asyncio.sleep(0.3)
    want = {e: stored[e].version for e in ids}
    by_version: dict[tuple[str, int], set[str]] = collections.defaultdict(set)
    payloads = {}
    deliveries = 0
    consumer = make_consumer(settings, None, PROFILE_TOPICS)
    await consumer.start()
    try:
        async with asyncio.timeout(60):
            while any(len({v for (s, v) in by_version if s == e}) < n for e, n in want.items()):
                for records in (await consumer.getmany(timeout_ms=300)).values():
                    for r in records:
                        ev = decode(r.value)
                        assert r.key == ev.subject.encode()
                        deliveries += 1
                        by_version[(ev.subject, ev.version)].add(ev.event_id)
                        payloads[ev.event_id] = ev
            await asyncio.sleep(1.0)  # anything extra (a second event for a version) would show now
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    ev = decode(r.value)
                    deliveries += 1
                    by_version[(ev.subject, ev.version)].add(ev.event_id)
                    payloads[ev.event_id] = ev
    finally:
        await consumer.stop()
    for emp_id, n in want.items():
        versions = sorted(v for (s, v) in by_version if s == emp_id)
        assert versions == list(range(1, n + 1)), f"{emp_id}: events for versions {versions}, stored version {n}"
    doubled = {k: ids_ for k, ids_ in by_version.items() if len(ids_) != 1}
    assert not doubled, f"changes with more than one event id: {doubled}"
    for emp_id, writes in acked.items():  # and each acknowledged write's event says what was written
        for what, version in writes:
            (event_id,) = by_version[(emp_id, version)]
            ev = payloads[event_id]
            if what == "created":
                assert ev.type == "profile.employee-registered"
            else:
                assert ev.type == "profile.skill-added" and ev.payload.skill.skill_id == what
    unique = len(payloads)
    print(f"\nacked {n_acked} writes before SIGKILL, {len(failed)} writers cut off; stored changes "
          f"{sum(want.values())}, unique events {unique}, deliveries {deliveries} (duplicates {deliveries - unique})")
    assert unique == sum(want.values())
    await c.close()
