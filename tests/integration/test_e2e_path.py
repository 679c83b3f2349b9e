"""The thinnest real path, with real processes, broker and Redis:

learning (course completed) -> outbox -> Kafka -> profile (skill verified)
-> outbox -> Kafka -> matcher (rescored, crossed) -> Kafka -> notifier
-> a subscribed gRPC client and a connected SSE client.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from itm.client import Clients
from itm.demo import first_notification, seed
from itm.runtime.auth import mint_token
from itm.runtime.consumer import make_consumer
from itm.runtime.envelope import decode
from itm.runtime.settings import Settings
from itm.runtime.topics import PROFILE_TOPICS
from itm.v1 import common_pb2, learning_pb2, matcher_pb2, notifier_pb2, profile_pb2

SERVICES = ["profile", "opportunity", "learning", "matcher", "notifier"]


@pytest.fixture
async def stack(start_service, topic_prefix, kafka_bootstrap):
    procs = {name: start_service(name, wait=False) for name in SERVICES}
    for proc in procs.values():
        await proc.wait_healthy_async(90)
    settings = Settings(topic_prefix=topic_prefix, kafka_bootstrap=kafka_bootstrap)
    clients = Clients.connect({n: p.grpc_target for n, p in procs.items()}, settings)
    yield procs, clients, settings
    await clients.close()


async def matcher_caught_up(settings: Settings, topics: list[str], timeout_s: float = 30) -> None:
    """Wait until the matcher's consumer group has committed every record of ``topics``."""
    from aiokafka import TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    from itm.runtime.kafka_compat import high_watermarks
    from itm.runtime.topics import TOPICS

    tps = [TopicPartition(settings.topic(t), p) for t in topics for p in range(TOPICS[t].partitions)]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                ends = await high_watermarks(settings.kafka_bootstrap, tps)
                committed = await admin.list_consumer_group_offsets(settings.group("itm-matcher"), partitions=tps)
                done = {tp: max(0, committed[tp].offset) if tp in committed else 0 for tp in tps}  # -1: never
                if all(done[tp] >= ends[tp] for tp in tps):
                    return
                await asyncio.sleep(0.3)
    finally:
        await admin.close()


async def sse_first_event(url: str, token: str, timeout_s: float) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers={"Authorization": f"Bearer {token}"},
                            timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            assert resp.status == 200, await resp.text()
            event: dict = {}
            async for raw in resp.content:
                line = raw.decode().rstrip("\r\n")
                if not line:
                    if "data" in event:
                        return event
                    event = {}
                    continue
                field, _, value = line.partition(":")
                event[field] = value.lstrip(" ")
    raise AssertionError("SSE stream ended without an event")


async def test_course_completion_notifies_the_employee_end_to_end(stack):
    procs, c, settings = stack
    posted = await seed(c)
    gig = posted["Data Analyst (Marketing)"]
    employee = "E100"

    token = mint_token(settings, employee, "employee")
    sse_url = f"{procs['notifier'].http_url}/v1/employees/{employee}/notifications/stream"
    grpc_wait = asyncio.create_task(first_notification(c, employee, gig, timeout_s=90))
    sse_wait = asyncio.create_task(sse_first_event(sse_url, token, timeout_s=90))
    await asyncio.sleep(1.0)
    assert not grpc_wait.done() and not sse_wait.done(), "Ana is at 60 %: nothing may arrive before the course"

    done = await c.learning.CompleteCourse(
        learning_pb2.CompleteCourseRequest(request_id="e2e-1", employee_id=employee, course_id="sql-for-analysts"),
        metadata=c.metadata)
    assert done.status == "completed"

    note = await grpc_wait
    assert note.kind == "match.threshold-crossed"
    # 60 % before (data analysis 2 of 3, SQL via the related skill), exactly 80 % after
    assert note.match.score_percent == 80 and note.match.previous_score_percent == 60
    assert note.match.threshold_percent == 80 and not note.match.fully_qualified
    assert note.title == "You're 80% qualified for Data Analyst (Marketing)"
    assert note.body == (
        "You're 80% qualified for Data Analyst (Marketing). Missing: Data Analysis level 3, "
        "Stakeholder Management level 3 (verify it). Take 'Data Analysis Fundamentals' (10 h) "
        "and 'Stakeholder Management Essentials' (8 h) to reach 100%.")
    exp = note.match.explanation
    assert [g.skill_id for g in exp.gaps] == ["data-analysis", "stakeholder-management"]
    assert sorted(s.course_id for s in exp.learning_path) == ["data-analysis-fundamentals", "stakeholder-essentials"]
    assert exp.learning_path_hours == 18 and exp.projected_score_percent == 100
    credits = {cr.skill_id: cr for cr in exp.credits}
    assert credits["sql"].credit == pytest.approx(1.0) and credits["sql"].status == common_pb2.SKILL_STATUS_VERIFIED
    assert credits["data-analysis"].credit == pytest.approx(2 / 3)
    assert credits["stakeholder-management"].credit == pytest.approx(0.5)

    sse = await sse_wait
    assert sse["event"] == "match.threshold-crossed"
    assert sse["id"] == note.notification_id
    assert json.loads(sse["data"])["match"]["score_percent"] == 80

    # the crossing on the topic: keyed by employee, correlation kept from the completion
    consumer = make_consumer(settings, None, ["match.threshold-crossed", "learning.course-completed"])
    await consumer.start()
    try:
        seen: dict[str, list] = {}
        async with asyncio.timeout(20):
            while not (seen.get("match.threshold-crossed") and seen.get("learning.course-completed")):
                for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                    for r in records:
                        seen.setdefault(r.topic[len(settings.topic_prefix):], []).append((r.key, decode(r.value)))
    finally:
        await consumer.stop()
    completion = seen["learning.course-completed"][0][1]
    crossings = [(k, e) for k, e in seen["match.threshold-crossed"] if e.payload.employee_id == employee]
    assert len(crossings) == 1
    key, crossed = crossings[0]
    assert key == employee.encode()
    assert crossed.envelope.source == "matcher" and crossed.subject == employee
    assert crossed.envelope.correlation_id == completion.envelope.correlation_id
    assert crossed.payload.cause_event_type == "profile.skill-verified"

    # the inbox keeps it, exactly once
    inbox = await c.notifier.ListInbox(notifier_pb2.ListInboxRequest(employee_id=employee), metadata=c.metadata)
    assert [n.source_event_id for n in inbox.notifications].count(crossed.event_id) == 1


async def test_other_employees_stream_is_refused(stack):
    procs, c, settings = stack
    intruder = mint_token(settings, "E101", "employee")
    url = f"{procs['notifier'].http_url}/v1/employees/E100/notifications/stream"
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers={"Authorization": f"Bearer {intruder}"}) as resp:
            assert resp.status == 403
        async with http.get(url) as resp:
            assert resp.status == 401


async def test_posting_a_gig_notifies_employees_already_qualified(stack):
    """Employees first, then the gig: the opportunity-driven rescoring path."""
    procs, c, settings = stack
    await seed(c, opportunities=False)
    await matcher_caught_up(settings, PROFILE_TOPICS)
    posted = await seed(c, people=False)
    gig = posted["Data Analyst (Marketing)"]
    farid = await c.profile.GetEmployee(profile_pb2.GetEmployeeRequest(employee_id="E105"), metadata=c.metadata)
    assert farid.version == 5  # registered + four verified skills, each a new version
    note = await first_notification(c, "E105", gig, timeout_s=60)
    # SQL 3 + data analysis 3 + Excel 2 full, stakeholder management 2 of 3: 9.33 of 10
    assert note.match.score_percent == 93 and note.match.previous_score_percent == 0
    assert note.match.cause_event_type == "opportunity.gig-posted"
    matches = await c.matcher.MyMatches(matcher_pb2.MyMatchesRequest(employee_id="E105"), metadata=c.metadata)
    assert matches.matches[0].opportunity_id == gig and matches.matches[0].qualified
