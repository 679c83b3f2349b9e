"""Deactivation by the identity provider (SCIM active = false) ends pushes: the
notifier stores and delivers nothing for that person, crossings or workflow
notes, until they are reactivated; their match snapshot says opted_out, on which
the matcher releases their pairs (tests/integration/test_matcher.py covers opted_out)."""

from __future__ import annotations

import asyncio

import aiohttp
from aiokafka import AIOKafkaProducer

from itm.client import Clients
from itm.runtime.auth import mint_token
from itm.runtime.envelope import new_envelope
from itm.runtime.settings import Settings
from itm.v1 import common_pb2, events_pb2, notifier_pb2

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def crossing(employee: str, opp: str):
    return new_envelope("match.threshold-crossed", "matcher", employee, 1, events_pb2.ThresholdCrossed(
        employee_id=employee, opportunity_id=opp, opportunity_title=f"Gig {opp}",
        opportunity_type=common_pb2.OPPORTUNITY_TYPE_GIG, score_percent=85, previous_score_percent=60,
        threshold_percent=80))


async def test_a_deactivated_person_gets_no_pushes_until_reactivated(start_service, topic_prefix, kafka_bootstrap,
                                                                     redis_client):
    procs = {n: start_service(n, wait=False) for n in ("profile", "notifier")}
    for p in procs.values():
        await p.wait_healthy_async(60)
    settings = Settings(topic_prefix=topic_prefix)
    hr = Clients.connect({n: p.grpc_target for n, p in procs.items()}, settings, subject="hr-1", role="hr_admin")
    scim_headers = {"Authorization": f"Bearer {mint_token(settings, 'okta', 'service')}"}
    base = f"{procs['profile'].http_url}/scim/v2/Users"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()

    async def inbox(emp):
        return (await hr.notifier.ListInbox(notifier_pb2.ListInboxRequest(employee_id=emp),
                                            metadata=hr.metadata)).notifications

    async def wait_inbox(emp, count):
        async with asyncio.timeout(30):
            while len(got := await inbox(emp)) < count:
                await asyncio.sleep(0.3)
        return got

    async def notifier_knows(emp, deactivated):  # the notifier's consumer has applied the event
        async with asyncio.timeout(30):
            while bool(await redis_client.sismember(f"{topic_prefix}inbox:deactivated", emp)) != deactivated:
                await asyncio.sleep(0.2)

    async def active(session, emp, value):
        async with session.patch(f"{base}/{emp}", json={"schemas": [PATCH], "Operations": [
                {"op": "Replace", "path": "active", "value": value}]}) as r:
            assert r.status == 200, await r.text()

    try:
        async with aiohttp.ClientSession(headers=scim_headers) as session:
            for emp in ("D1", "D2"):
                async with session.post(base, json={"schemas": [CORE], "userName": f"{emp}@example.com",
                                                    "externalId": emp, "displayName": emp}) as r:
                    assert r.status == 201, await r.text()
            await active(session, "D1", "False")
            await notifier_knows("D1", True)
            for emp in ("D1", "D2"):
                await producer.send_and_wait(settings.topic("match.threshold-crossed"), crossing(emp, "O1").SerializeToString(),
                                             key=emp.encode())
            await wait_inbox("D2", 1)  # the control person got theirs ...
            await asyncio.sleep(1.0)
            assert not await inbox("D1")  # ... the deactivated one nothing
            await active(session, "D1", True)
            await notifier_knows("D1", False)
            await producer.send_and_wait(settings.topic("match.threshold-crossed"), crossing("D1", "O2").SerializeToString(),
                                         key=b"D1")
            [note] = await wait_inbox("D1", 1)
            assert note.opportunity_id == "O2"
    finally:
        await producer.stop()
        await hr.close()
