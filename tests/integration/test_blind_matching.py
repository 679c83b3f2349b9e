"""Blind matching: nothing the matcher reads, keeps or writes carries a name or
another protected attribute (gender, age, ethnicity, photo...)."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from itm.client import Clients
from itm.demo import EMPLOYEES, first_notification, seed
from itm.runtime.settings import Settings
from itm.runtime.topics import OPPORTUNITY_TOPICS, PROFILE_TOPICS
from itm.v1 import common_pb2, events_pb2

PROTECTED = ("name", "gender", "sex", "age", "birth", "ethnic", "race", "religion", "photo", "disab", "nationality",
             "marital", "pregnan")
SERVICES = ["profile", "opportunity", "learning", "matcher", "notifier"]


def field_paths(descriptor, prefix="", seen=None):
    seen = seen or set()
    for field in descriptor.fields:
        yield f"{prefix}{field.name}"
        if field.message_type is not None and field.message_type.full_name not in seen:
            yield from field_paths(field.message_type, f"{prefix}{field.name}.", seen | {field.message_type.full_name})


def test_matcher_facing_schemas_have_no_protected_attributes():
    messages = [common_pb2.EmployeeMatchProfile, events_pb2.ThresholdCrossed, events_pb2.MatchUpdated,
                events_pb2.MatchesUpdated]
    messages += [events_pb2.SkillAdded, events_pb2.SkillVerified, events_pb2.EmployeeRegistered]
    for msg in messages:
        for path in field_paths(msg.DESCRIPTOR):
            leaf = path.rsplit(".", 1)[-1]
            if leaf in ("opportunity_title", "title"):  # the job's title, not the person's
                continue
            assert not any(p in leaf for p in PROTECTED), f"{msg.DESCRIPTOR.full_name}.{path}"


async def test_no_personal_name_reaches_the_matcher_its_state_or_its_events(start_service, topic_prefix, kafka_bootstrap):
    procs = {name: start_service(name, wait=False) for name in SERVICES}
    for proc in procs.values():
        await proc.wait_healthy_async(90)
    settings = Settings(topic_prefix=topic_prefix, kafka_bootstrap=kafka_bootstrap)
    c = Clients.connect({n: p.grpc_target for n, p in procs.items()}, settings)
    posted = await seed(c)
    await first_notification(c, "E105", posted["Data Analyst (Marketing)"], timeout_s=60)
    await asyncio.sleep(1.5)  # let the matcher flush its changelogs

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    all_topics = await admin.list_topics()
    await admin.close()
    matcher_internal = [t for t in all_topics if t.startswith(settings.group("itm-matcher"))]
    assert any(t.endswith("employees-changelog") for t in matcher_internal), matcher_internal
    names = [settings.topic(t) for t in PROFILE_TOPICS + OPPORTUNITY_TOPICS + ["match.threshold-crossed",
                                                                                 "match.updated",
                                                                                 "match.updated.v2",
                                                                                 "matcher.opportunity-broadcast"]]
    consumer = AIOKafkaConsumer(*names, *matcher_internal, bootstrap_servers=kafka_bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    blob = bytearray()
    records = 0
    try:
        idle = 0
        while idle < 3:
            batch = await consumer.getmany(timeout_ms=500)
            idle = 0 if batch else idle + 1
            for recs in batch.values():
                for r in recs:
                    records += 1
                    blob += (r.key or b"") + (r.value or b"")
    finally:
        await consumer.stop()
    assert records > 40  # the profile events, the crossings and the matcher's tables were all read
    assert b"E105" in blob and b"Marketing" in blob  # ids and departments are there: the scan sees profiles
    for _, person, *_ in EMPLOYEES:  # full names and surnames ("Ana" alone is in "Data Analyst")
        for needle in (person, person.split()[-1]):
            assert needle.encode() not in blob, f"{needle!r} found in the matcher's inputs, state or events"
    await c.close()
