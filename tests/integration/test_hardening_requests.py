"""Issue 15 items 3 and 4, one test per finding, against real services:
no request answers UNKNOWN or INTERNAL, nothing is stored from a refused one,
unauthenticated callers cannot grow the audit stream, GetEmployee is no existence oracle."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from _stack import ModuleStack, expect_error, uid
from itm.runtime.auth import mint_token
from itm.v1 import common_pb2, notifier_pb2, opportunity_pb2, profile_pb2, reports_pb2, reports_pb2_grpc

HUGE = -(2**62)


@pytest.fixture(scope="module")
async def stack(infra, tmp_path_factory):
    s = ModuleStack(infra, tmp_path_factory.mktemp("requests"))
    try:
        await s.start({"profile": {}, "opportunity": {}, "notifier": {}}, [])
        yield s
    finally:
        await s.close()


async def _employee(stack, manager: str = "") -> str:
    emp = uid("E")
    await stack.clients.profile.CreateEmployee(profile_pb2.CreateEmployeeRequest(
        employee_id=emp, name="Pat", manager_id=manager), metadata=stack.clients.metadata)
    return emp


async def test_out_of_range_evidence_dates_are_refused_and_nothing_is_stored(stack):
    emp = await _employee(stack)
    c = stack.clients
    for call in (
        c.profile.UpsertSkill(profile_pb2.UpsertSkillRequest(employee_id=emp, skill="sql", level=3,
                                                             evidence_at=Timestamp(seconds=HUGE)), metadata=c.metadata),
        c.profile.VerifySkill(profile_pb2.VerifySkillRequest(
            employee_id=emp, skill="sql", level=3, source=common_pb2.EVIDENCE_SOURCE_MANAGER,
            evidence_at=Timestamp(seconds=HUGE)), metadata=c.metadata),
    ):
        await expect_error(call, grpc.StatusCode.INVALID_ARGUMENT, "evidence_at must lie between 1970-01-01")
    stored = await c.profile.GetEmployee(profile_pb2.GetEmployeeRequest(employee_id=emp), metadata=c.metadata)
    assert stored.version == 1 and not stored.skills


async def test_an_out_of_range_deadline_is_refused(stack):
    owner = await _employee(stack)
    c = stack.as_(owner)
    for seconds in (HUGE, 2**62):
        await expect_error(c.opportunity.PostOpportunity(opportunity_pb2.PostOpportunityRequest(
            title="Gig", type=common_pb2.OPPORTUNITY_TYPE_GIG, owner_id=owner, hours_per_week=2, duration_weeks=2,
            seats=1, requirements=[opportunity_pb2.RequirementInput(skill="sql", min_level=2)],
            apply_by=Timestamp(seconds=seconds)), metadata=c.metadata),
            grpc.StatusCode.INVALID_ARGUMENT, "apply_by must lie between")


async def test_oversized_stream_ids_are_invalid_argument_everywhere(stack):
    emp = await _employee(stack)
    c = stack.as_(emp)
    forty = "9" * 40
    await expect_error(c.notifier.ListInbox(notifier_pb2.ListInboxRequest(employee_id=emp, page_token=forty),
                                            metadata=c.metadata), grpc.StatusCode.INVALID_ARGUMENT, "page_token")
    await expect_error(c.notifier.MarkRead(notifier_pb2.MarkReadRequest(employee_id=emp, notification_ids=[forty]),
                                           metadata=c.metadata), grpc.StatusCode.INVALID_ARGUMENT, "notification_ids")
    call = c.notifier.Subscribe(notifier_pb2.SubscribeRequest(employee_id=emp, after_id=f"{forty}-0"),
                                metadata=c.metadata)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for _ in call:
            pass
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "after_id" in err.value.details()
    http = stack.procs["notifier"].http_url
    token = mint_token(stack.settings, emp, "employee")
    req = urllib.request.Request(f"{http}/v1/employees/{emp}/notifications/stream",
                                 headers={"Authorization": f"Bearer {token}", "Last-Event-ID": forty})
    with pytest.raises(urllib.error.HTTPError) as http_err:
        await asyncio.to_thread(urllib.request.urlopen, req, timeout=10)
    assert http_err.value.code == 400


async def test_audit_pages_refuse_out_of_range_times_and_ids(stack):
    """Found by the full fuzz round (10,000 cases): a `since` of 2**65 seconds and a 21-digit
    `after` reached Redis and answered INTERNAL."""
    hr = stack.as_("hr-1", "hr_admin")
    reports = reports_pb2_grpc.ReportServiceStub(hr.channels["profile"])
    for since in (2.0**65, float("inf"), -1.0):
        await expect_error(reports.ListAuditRecords(reports_pb2.ListAuditRecordsRequest(since=since),
                                                    metadata=hr.metadata), grpc.StatusCode.INVALID_ARGUMENT, "since")
    for after in ("9" * 21 + "-0", "1-" + "9" * 21, "\u0661-0", "1-0\n"):
        await expect_error(reports.ListAuditRecords(reports_pb2.ListAuditRecordsRequest(after=after),
                                                    metadata=hr.metadata), grpc.StatusCode.INVALID_ARGUMENT, "after")
    listed = await reports.ListAuditRecords(reports_pb2.ListAuditRecordsRequest(since=1.0, page_size=1),
                                            metadata=hr.metadata)
    assert len(listed.records) <= 1


@pytest.mark.parametrize("zone", ["Europe/" + "x" * 300, "Europe", "x" * 60])
async def test_bad_time_zones_are_refused_without_internal_paths(stack, zone):
    emp = await _employee(stack)
    c = stack.as_(emp)
    err = await expect_error(c.notifier.SetPreferences(notifier_pb2.SetNotificationPreferencesRequest(
        employee_id=emp, preferences=notifier_pb2.NotificationPreferences(
            quiet_hours=notifier_pb2.QuietHours(enabled=True, start_hour=22, end_hour=7, timezone=zone))),
        metadata=c.metadata), grpc.StatusCode.INVALID_ARGUMENT, "timezone")
    assert "site-packages" not in err.details() and "/work" not in err.details() and len(err.details()) < 200


@pytest.mark.parametrize("service,method", [
    ("profile", "/itm.v1.ProfileService/CreateEmployee"),
    ("opportunity", "/itm.v1.OpportunityService/PostOpportunity"),
    ("notifier", "/itm.v1.NotifierService/SetPreferences"),
    ("notifier", "/itm.v1.NotifierService/Subscribe"),
])
async def test_undecodable_bodies_are_invalid_argument_before_authentication(stack, service, method):
    async with grpc.aio.insecure_channel(stack.procs[service].grpc_target) as channel:
        streaming = method.endswith("Subscribe")
        call = (channel.unary_stream if streaming else channel.unary_unary)(method)(b"\xff\xff\xff\xff")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            if streaming:
                async for _ in call:
                    pass
            else:
                await call
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "request body is not a valid itm.v1." in err.value.details()


async def test_unauthenticated_megabyte_calls_do_not_grow_the_audit_stream(stack, redis_client):
    stream = f"{stack.prefix}audit"
    before = await redis_client.memory_usage(stream) or 0
    huge_id = "E" * (900 * 1024)
    async with grpc.aio.insecure_channel(stack.procs["profile"].grpc_target) as channel:
        create = channel.unary_unary("/itm.v1.ProfileService/CreateEmployee",
                                     request_serializer=profile_pb2.CreateEmployeeRequest.SerializeToString)
        for _ in range(5):  # the five calls grew the stream by 6.9 MB
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await create(profile_pb2.CreateEmployeeRequest(employee_id=huge_id, name="x"))
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    async with asyncio.timeout(10):  # the record is written as the call ends, just after the answer
        while len(refused := [f for _, f in await redis_client.xrange(stream, "-", "+")
                              if f[b"code"] == b"UNAUTHENTICATED"]) < 5:
            await asyncio.sleep(0.05)
    assert all(len(b"".join(f.values())) < 1000 for f in refused)
    assert refused[-1][b"target"].endswith(b"(921600 chars)")
    grown = (await redis_client.memory_usage(stream) or 0) - before
    assert grown < 64 * 1024, f"the audit stream grew by {grown} bytes"


async def test_get_employee_is_no_existence_oracle(stack):
    real = await _employee(stack)
    stranger = stack.as_(uid("E"))
    answers = []
    for employee_id in (real, "E-does-not-exist"):
        err = await expect_error(stranger.profile.GetEmployee(profile_pb2.GetEmployeeRequest(employee_id=employee_id),
                                                              metadata=stranger.metadata),
                                 grpc.StatusCode.PERMISSION_DENIED)
        answers.append(err.details().replace(employee_id, "<id>"))
    assert answers[0] == answers[1]
    manager = stack.as_(uid("M"), "manager")  # a manager who is not theirs: the same, for VerifySkill too
    answers = []
    for employee_id in (real, "E-does-not-exist"):
        err = await expect_error(manager.profile.VerifySkill(profile_pb2.VerifySkillRequest(
            employee_id=employee_id, skill="sql", level=3, source=common_pb2.EVIDENCE_SOURCE_MANAGER),
            metadata=manager.metadata), grpc.StatusCode.PERMISSION_DENIED)
        answers.append(err.details().replace(employee_id, "<id>"))
    assert answers[0] == answers[1]
    # people who may see it still learn that an id is unknown
    await expect_error(stack.clients.profile.GetEmployee(profile_pb2.GetEmployeeRequest(employee_id="E-nope"),
                                                         metadata=stack.clients.metadata), grpc.StatusCode.NOT_FOUND)
