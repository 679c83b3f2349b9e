"""Right to erasure: the employee disappears from every service's state, the
matcher's tables and the notifier's inbox, and a tombstone is published."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from itm.client import Clients
from itm.demo import first_notification, seed
from itm.runtime.envelope import decode
from itm.runtime.settings import Settings
from itm.v1 import learning_pb2 as L, matcher_pb2 as M, notifier_pb2 as N, opportunity_pb2 as O, profile_pb2 as P

SERVICES = ["profile", "opportunity", "learning", "matcher", "notifier"]


async def code_of(call) -> grpc.StatusCode:
    try:
        await call
        return grpc.StatusCode.OK
    except grpc.aio.AioRpcError as exc:
        return exc.code()


async def test_erasure_leaves_nothing_of_the_employee_and_publishes_a_tombstone(
        start_service, topic_prefix, kafka_bootstrap, redis_client):
    procs = {n: start_service(n, wait=False) for n in SERVICES}
    for p in procs.values():
        await p.wait_healthy_async(90)
    settings = Settings(topic_prefix=topic_prefix, kafka_bootstrap=kafka_bootstrap)
    c = Clients.connect({n: p.grpc_target for n, p in procs.items()}, settings)
    posted = await seed(c)
    gig = posted["Data Analyst (Marketing)"]
    ana = c.as_(settings, "E100", "employee")
    await ana.opportunity.Apply(O.ApplyRequest(request_id="ana-applies", opportunity_id=gig), metadata=ana.metadata)
    await ana.learning.Enroll(L.EnrollRequest(request_id="ana-enrolls", employee_id="E100",
                                              course_id="sql-for-analysts"), metadata=ana.metadata)
    waiting = asyncio.create_task(first_notification(c, "E100", gig, timeout_s=60))
    await asyncio.sleep(0.5)
    await c.learning.CompleteCourse(L.CompleteCourseRequest(employee_id="E100", course_id="sql-for-analysts"),
                                    metadata=c.metadata)
    await waiting
    assert await redis_client.keys(f"{topic_prefix}*E100*"), "the employee left traces before erasure"

    other = c.as_(settings, "E101", "employee")
    assert await code_of(other.profile.EraseEmployee(P.EraseEmployeeRequest(employee_id="E100"),
                                                     metadata=other.metadata)) == grpc.StatusCode.PERMISSION_DENIED
    erased = await ana.profile.EraseEmployee(P.EraseEmployeeRequest(employee_id="E100", reason="leaving"),
                                             metadata=ana.metadata)
    assert erased.tombstone_event_id

    async with asyncio.timeout(30):  # every service consumes the tombstone and drops its state
        while True:
            left = sorted(k.decode() for k in await redis_client.keys(f"{topic_prefix}*E100*"))
            matcher = await code_of(c.matcher.MyMatches(M.MyMatchesRequest(employee_id="E100"), metadata=c.metadata))
            if not left and matcher == grpc.StatusCode.NOT_FOUND:
                break
            await asyncio.sleep(0.5)
    assert await code_of(c.profile.GetEmployee(P.GetEmployeeRequest(employee_id="E100"),
                                               metadata=c.metadata)) == grpc.StatusCode.NOT_FOUND
    assert not (await c.opportunity.ListApplications(O.ListApplicationsRequest(employee_id="E100"),
                                                     metadata=c.metadata)).applications
    assert not (await c.learning.ListEnrollments(L.ListEnrollmentsRequest(employee_id="E100"),
                                                 metadata=c.metadata)).enrollments
    assert not (await c.notifier.ListInbox(N.ListInboxRequest(employee_id="E100"), metadata=c.metadata)).notifications
    candidates = await c.matcher.BestCandidates(M.BestCandidatesRequest(opportunity_id=gig, limit=100),
                                                metadata=c.metadata)
    assert "E100" not in {m.employee_id for m in candidates.matches}
    assert "E105" in {m.employee_id for m in candidates.matches}  # the others are still there

    from itm.runtime.consumer import make_consumer

    consumer = make_consumer(settings, None, ["profile.employee-erased"])
    await consumer.start()
    try:
        async with asyncio.timeout(15):
            records = []
            while not records:
                for recs in (await consumer.getmany(timeout_ms=300)).values():
                    records.extend(recs)
    finally:
        await consumer.stop()
    tombstone = decode(records[0].value)
    assert records[0].key == b"E100" and tombstone.event_id == erased.tombstone_event_id
    assert tombstone.payload.employee_id == "E100"
    assert await code_of(ana.profile.EraseEmployee(P.EraseEmployeeRequest(employee_id="E100"),
                                                   metadata=ana.metadata)) == grpc.StatusCode.NOT_FOUND
    await c.close()


@pytest.mark.parametrize("role", ["service"])
async def test_services_cannot_ask_for_erasure(start_service, topic_prefix, role):
    profile = start_service("profile")
    c = Clients.connect({"profile": profile.grpc_target}, Settings(topic_prefix=topic_prefix), role=role)
    assert await code_of(c.profile.EraseEmployee(P.EraseEmployeeRequest(employee_id="E1"),
                                                 metadata=c.metadata)) == grpc.StatusCode.PERMISSION_DENIED
    await c.close()
