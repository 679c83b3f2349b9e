"""A filled ROLE is a move (issue 16 item 1), over the real profile and opportunity
services and the broker: the employee's department, manager and title change in the
profile through profile.employee-moved (which says which role caused it), the teams
follow, the internal-move KPI and the old manager's talent export count it exactly
once (redelivery, a replay and an HR change afterwards move nobody again), and gigs
keep the home department and manager. With the matcher and the notifier: the move
rescores nothing (no scored input changed; the closed role's pair is released) and
the employee, the old and the new manager are each told once, naming the role,
whatever is redelivered or replayed."""

from __future__ import annotations

import asyncio

import aiohttp
import grpc
from aiokafka import AIOKafkaProducer
import pytest
from prometheus_client.parser import text_string_to_metric_families

from _stack import ModuleStack, all_topics, uid
from google.protobuf.field_mask_pb2 import FieldMask

from itm.v1 import common_pb2, matcher_pb2 as M, notifier_pb2 as N, opportunity_pb2 as O, profile_pb2 as P

GIG, ROLE = common_pb2.OPPORTUNITY_TYPE_GIG, common_pb2.OPPORTUNITY_TYPE_ROLE


@pytest.fixture(scope="module")
async def stack(infra, tmp_path_factory, request):
    s = ModuleStack(infra, tmp_path_factory.mktemp("role-move"))
    await s.start({"profile": {}, "opportunity": {}, "matcher": {}, "notifier": {}},
                  all_topics("profile.employee-moved", "opportunity.gig-closed", "match."))
    yield s
    await s.close(failed=request.session.testsfailed > 0)


async def person(stack, emp_id, manager="", department="Data", title=""):
    hr = stack.clients
    await hr.profile.CreateEmployee(P.CreateEmployeeRequest(
        employee_id=emp_id, name=f"N {emp_id}", manager_id=manager, department=department, title=title,
        hours_available_per_week=40), metadata=hr.metadata)
    return emp_id


async def metrics_of(stack, service: str, *prefixes: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{stack.procs[service].http_url}/metrics") as resp:
            text = await resp.text()
    return {f"{s.name}{s.labels.get('le', '')}{s.labels.get('cause', '')}": s.value
            for f in text_string_to_metric_families(text) for s in f.samples if s.name.startswith(prefixes)}


async def kpis(stack) -> dict[str, float]:
    return await metrics_of(stack, "opportunity", "itm_kpi_internal_moves", "itm_kpi_manager_talent_export")


async def fill(stack, owner, otype, title, department, employee, manager):
    own = stack.as_(owner)
    opp = await own.opportunity.PostOpportunity(O.PostOpportunityRequest(
        title=title, type=otype, hours_per_week=4, department=department,
        requirements=[O.RequirementInput(skill="sql", min_level=2)]), metadata=own.metadata)
    me = stack.as_(employee)
    app = await me.opportunity.Apply(O.ApplyRequest(opportunity_id=opp.opportunity_id), metadata=me.metadata)
    await own.opportunity.AcceptApplication(O.AcceptApplicationRequest(application_id=app.application_id),
                                            metadata=own.metadata)
    mgr = stack.as_(manager, "manager")
    await mgr.opportunity.ApproveTimeRelease(O.ApproveTimeReleaseRequest(application_id=app.application_id),
                                             metadata=mgr.metadata)
    await own.opportunity.CloseOpportunity(O.CloseOpportunityRequest(opportunity_id=opp.opportunity_id,
                                                                     outcome="filled"), metadata=own.metadata)
    return opp.opportunity_id


async def test_a_filled_role_moves_the_employee_and_the_kpis_count_it_once(stack):
    old, new, hr_pick = await person(stack, uid("MA")), await person(stack, uid("MB"), department="Sales"), uid("MC")
    await person(stack, hr_pick)
    ana = await person(stack, uid("E"), manager=old, title="Analyst")
    ben = await person(stack, uid("E"), manager=old, title="Analyst")
    before = await kpis(stack)

    # a gig: Ben keeps his department and manager
    gig = await fill(stack, new, GIG, "Pricing study", "Sales", ben, old)
    # the role: Ana moves into it
    role = await fill(stack, new, ROLE, "Sales Engineer", "Sales", ana, old)
    seen = await stack.log.wait_for("profile.employee-moved", ana)
    moved, env = seen[0].payload, seen[0].env
    assert (moved.opportunity_id, moved.opportunity_title) == (role, "Sales Engineer")
    assert (moved.from_department, moved.to_department, moved.from_manager_id, moved.to_manager_id) == \
        ("Data", "Sales", old, new)
    assert (moved.from_title, moved.to_title) == ("Analyst", "Sales Engineer")
    assert moved.profile.department == "Sales"  # the snapshot the matcher applies
    closed = [s for s in stack.log.of("opportunity.gig-closed", role)]
    assert env.causation_id == closed[0].env.event_id and env.correlation_id == closed[0].env.correlation_id

    hr = stack.clients
    got = await hr.profile.GetEmployee(P.GetEmployeeRequest(employee_id=ana), metadata=hr.metadata)
    assert (got.department, got.manager_id, got.title) == ("Sales", new, "Sales Engineer")
    history = await hr.profile.ListEmployeeHistory(P.ListEmployeeHistoryRequest(employee_id=ana), metadata=hr.metadata)
    last = history.entries[-1]
    assert last.event_type == "profile.employee-moved" and role in last.summary and "manager" in last.summary
    teams = {}
    for m in (old, new):
        c = stack.as_(m, "manager")
        page = await c.profile.ListEmployees(P.ListEmployeesRequest(manager_id=m), metadata=c.metadata)
        teams[m] = [e.employee_id for e in page.employees]
    assert teams == {old: [ben], new: [ana]}

    # the KPIs: one internal move; the old manager let two people go (Ben's gig time, Ana's move)
    async with asyncio.timeout(20):
        while (now := await kpis(stack)).get("itm_kpi_internal_moves", 0) - before.get("itm_kpi_internal_moves", 0) < 1:
            await asyncio.sleep(0.2)
    assert now["itm_kpi_internal_moves"] - before.get("itm_kpi_internal_moves", 0) == 1
    assert now["itm_kpi_manager_talent_export_sum"] - before.get("itm_kpi_manager_talent_export_sum", 0) == 2
    assert now["itm_kpi_manager_talent_export_bucket2.0"] - before.get("itm_kpi_manager_talent_export_bucket2.0", 0) == 1

    # Ben's gig moved nobody
    await stack.log.quiet(1.0)
    assert not stack.log.of("profile.employee-moved", ben) and stack.log.of("opportunity.gig-closed", gig)
    got = await hr.profile.GetEmployee(P.GetEmployeeRequest(employee_id=ben), metadata=hr.metadata)
    assert (got.department, got.manager_id, got.title) == ("Data", old, "Analyst")

    # HR changes Ana's manager afterwards; a replay of the opportunities moves nobody back
    ana_now = await hr.profile.UpdateEmployee(P.UpdateEmployeeRequest(
        employee_id=ana, manager_id=hr_pick, update_mask=FieldMask(paths=["manager_id"])), metadata=hr.metadata)
    await hr.opportunity.Replay(common_pb2.ReplayRequest(), metadata=hr.metadata)
    await stack.log.wait_for("opportunity.gig-closed", role, count=2)
    await stack.log.quiet(1.5)
    got = await hr.profile.GetEmployee(P.GetEmployeeRequest(employee_id=ana), metadata=hr.metadata)
    assert (got.manager_id, got.version) == (hr_pick, ana_now.version)
    assert len(stack.log.of("profile.employee-moved", ana)) == 1
    assert (await kpis(stack))["itm_kpi_internal_moves"] - before.get("itm_kpi_internal_moves", 0) == 1


async def moves_told(stack, employee: str, count: int, timeout_s: float = 30) -> list:
    """``employee``'s inbox notifications about moves, once there are at least ``count``."""
    hr = stack.clients
    got = []
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                got = [n for n in (await hr.notifier.ListInbox(N.ListInboxRequest(employee_id=employee),
                                                               metadata=hr.metadata)).notifications
                       if n.kind == "profile.employee-moved"]
                if len(got) >= count:
                    return got
                await asyncio.sleep(0.3)
    except TimeoutError:
        raise AssertionError(f"after {timeout_s}s {employee} was told of {len(got)} moves, expected {count}") from None


async def matches(stack, employee: str) -> dict[str, int]:
    me = stack.as_(employee)
    try:
        got = await me.matcher.MyMatches(M.MyMatchesRequest(employee_id=employee, limit=100), metadata=me.metadata)
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:  # its events have not reached the matcher yet
            return {}
        raise
    return {m.opportunity_id: m.score_percent for m in got.matches}


async def settled(stack, what, until, timeout_s: float = 30):
    async with asyncio.timeout(timeout_s):
        while not until(got := await what()):
            await asyncio.sleep(0.3)
    return got


async def test_a_move_rescores_nothing_and_tells_the_employee_and_both_managers(stack):
    old, new, other = await person(stack, uid("MA")), await person(stack, uid("MB"), department="Sales"), uid("O")
    await person(stack, other)
    ana = await person(stack, uid("E"), manager=old, title="Analyst")
    me = stack.as_(ana)
    await me.profile.UpsertSkill(P.UpsertSkillRequest(employee_id=ana, skill="sql", level=3,
                                                      status=common_pb2.SKILL_STATUS_CLAIMED), metadata=me.metadata)
    own = stack.as_(other)
    stay = (await own.opportunity.PostOpportunity(O.PostOpportunityRequest(
        title="SQL clinic", type=GIG, hours_per_week=2, requirements=[O.RequirementInput(skill="sql", min_level=2)]),
        metadata=own.metadata)).opportunity_id
    await settled(stack, lambda: matches(stack, ana), lambda m: m.get(stay) == 50)  # claimed: 0.5 credit
    await stack.log.quiet(1.0)
    profile_events = lambda m: m.get("itm_match_event_duration_seconds_countprofile", 0)  # noqa: E731
    before = await metrics_of(stack, "matcher", "itm_match_event_duration_seconds_count", "itm_match_rescorings_total")

    role = await fill(stack, new, ROLE, "Data Steward", "Sales", ana, old)
    [moved] = await stack.log.wait_for("profile.employee-moved", ana)
    assert moved.payload.profile.department == "Sales"  # the matcher's snapshot carries the new department
    # the matcher consumed the move (one more profile event than the fill's own) and rescored no pair for it:
    # department, manager and title are nothing it scores; the filled role's pair went with its closing
    after = await settled(stack, lambda: metrics_of(stack, "matcher", "itm_match_event_duration_seconds_count",
                                                    "itm_match_rescorings_total"),
                          lambda m: profile_events(m) >= profile_events(before) + 1)
    await stack.log.quiet(1.0)
    after = await metrics_of(stack, "matcher", "itm_match_event_duration_seconds_count", "itm_match_rescorings_total")
    assert profile_events(after) == profile_events(before) + 1
    assert after.get("itm_match_rescorings_totalprofile", 0) == before.get("itm_match_rescorings_totalprofile", 0)
    assert not [s for s in stack.log.of(None, ana) if s.topic.startswith("match.")
                and s.event.envelope.causation_id == moved.event.event_id]
    assert await settled(stack, lambda: matches(stack, ana), lambda m: role not in m) == {stay: 50}
    # later changes are scored on top of the moved snapshot: the new manager of record verifies her SQL
    boss = stack.as_(new, "manager")
    await boss.profile.VerifySkill(P.VerifySkillRequest(employee_id=ana, skill="sql", level=3,
                                                        source=common_pb2.EVIDENCE_SOURCE_MANAGER), metadata=boss.metadata)
    await settled(stack, lambda: matches(stack, ana), lambda m: m.get(stay) == 100)

    # the employee, the old and the new manager are told, naming the role
    [to_ana] = await moves_told(stack, ana, 1)
    [to_old] = await moves_told(stack, old, 1)
    [to_new] = await moves_told(stack, new, 1)
    assert (to_ana.title, to_ana.body) == ("You moved to Data Steward",
                                           f"Filling 'Data Steward' moved you from Data to Sales; you now report to {new}.")
    assert (to_old.title, to_old.body) == (f"{ana} moved to Data Steward", f"{ana} filled 'Data Steward' in Sales and "
                                           f"now reports to {new}; they have left your team.")
    assert (to_new.title, to_new.body) == (f"{ana} joined your team as Data Steward", f"{ana} moved from Data to Sales "
                                           "to fill 'Data Steward' and now reports to you.")
    assert {n.opportunity_id for n in (to_ana, to_old, to_new)} == {role}
    assert {n.source_event_id for n in (to_ana, to_old, to_new)} == {moved.event.event_id}

    # a redelivered move and replays of both services tell nobody again
    producer = AIOKafkaProducer(bootstrap_servers=stack.infra.kafka_bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(stack.settings.topic("profile.employee-moved"), moved.event.envelope.SerializeToString(),
                                     key=ana.encode())
    finally:
        await producer.stop()
    hr = stack.clients
    await hr.profile.Replay(common_pb2.ReplayRequest(), metadata=hr.metadata)
    await hr.opportunity.Replay(common_pb2.ReplayRequest(), metadata=hr.metadata)
    await stack.log.wait_for("profile.employee-moved", ana, count=2)
    await stack.log.wait_for("opportunity.gig-closed", role, count=2)
    await stack.log.quiet(3.0)
    assert [len(await moves_told(stack, who, 1)) for who in (ana, old, new)] == [1, 1, 1]
    got = await hr.profile.GetEmployee(P.GetEmployeeRequest(employee_id=ana), metadata=hr.metadata)
    assert (got.department, got.manager_id) == ("Sales", new)
