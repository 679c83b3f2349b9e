"""What the web console's manager and owner pages read (issue 11 via CONTRACTS.md), over
the real profile and opportunity services: a manager's team (ListEmployees by
manager_id, exact through HR changes, erasure and a restart over old data), the time
already released and the cap beside each release waiting for the manager (and
GetTimeReleaseBudget), and an owner's postings in every state, newest first."""

from __future__ import annotations

import grpc
import pytest
import redis.asyncio as aioredis

from _stack import ModuleStack, all_topics, eventually, expect_error, uid
from google.protobuf.field_mask_pb2 import FieldMask

from itm.v1 import common_pb2, opportunity_pb2 as O, profile_pb2 as P

Code = grpc.StatusCode
St = common_pb2.OpportunityStatus
GIG, ROLE = common_pb2.OPPORTUNITY_TYPE_GIG, common_pb2.OPPORTUNITY_TYPE_ROLE
THRESHOLD_H, SHARE = 10, 20
ASPIRATIONAL = common_pb2.SKILL_STATUS_ASPIRATIONAL


@pytest.fixture(scope="module")
async def stack(infra, tmp_path_factory, request):
    s = ModuleStack(infra, tmp_path_factory.mktemp("manager-views"))
    await s.start({"profile": {}, "opportunity": {"approval_hours_threshold": THRESHOLD_H,
                                                  "gig_time_share_percent": SHARE}}, all_topics("profile.employee-"))
    yield s
    await s.close(failed=request.session.testsfailed > 0)


async def person(stack, emp_id, manager="", hours=40.0):
    hr = stack.clients
    await hr.profile.CreateEmployee(P.CreateEmployeeRequest(employee_id=emp_id, name=f"N {emp_id}", manager_id=manager,
                                                            hours_available_per_week=hours), metadata=hr.metadata)
    return emp_id


async def team(c, manager_id, page_size=0) -> list[P.Employee]:
    out, token = [], ""
    while True:
        page = await c.profile.ListEmployees(P.ListEmployeesRequest(manager_id=manager_id, page_size=page_size,
                                                                    page_token=token), metadata=c.metadata)
        out += page.employees
        token = page.next_page_token
        if not token:
            return out


async def test_a_manager_lists_their_team_in_the_manager_view(stack):
    boss, other = await person(stack, uid("M")), await person(stack, uid("M"))
    reports = sorted([await person(stack, f"{boss}-r{i}", manager=boss) for i in range(3)])
    elsewhere = await person(stack, uid("E"), manager=other)
    first = stack.as_(reports[0])
    await first.profile.UpsertSkill(P.UpsertSkillRequest(employee_id=reports[0], skill="sql", level=3),
                                    metadata=first.metadata)
    await first.profile.UpsertSkill(P.UpsertSkillRequest(employee_id=reports[0], skill="python", level=4,
                                                         status=ASPIRATIONAL), metadata=first.metadata)
    await first.profile.SetVisibility(P.SetVisibilityRequest(employee_id=reports[0], visibility=P.Visibility(
        hide_aspirational_from_managers=True)), metadata=first.metadata)

    mgr = stack.as_(boss, "manager")
    listed = await team(mgr, boss, page_size=2)  # two pages
    assert [e.employee_id for e in listed] == reports
    assert [s.skill.skill_id for s in listed[0].skills] == ["sql"]  # the manager view: the aspiration hidden
    hr = stack.clients
    assert [s.skill.skill_id for s in (await team(hr, boss))[0].skills] == ["sql", "python"]

    for who, role in ((boss, "employee"), (other, "manager"), (reports[1], "employee")):
        c = stack.as_(who, role)
        await expect_error(c.profile.ListEmployees(P.ListEmployeesRequest(manager_id=boss), metadata=c.metadata),
                           Code.PERMISSION_DENIED)
    await expect_error(mgr.profile.ListEmployees(P.ListEmployeesRequest(), metadata=mgr.metadata),
                       Code.PERMISSION_DENIED, "manager_id")

    # HR moves a report to the other manager, another from elsewhere joins; one is erased
    await hr.profile.UpdateEmployee(P.UpdateEmployeeRequest(employee_id=reports[1], manager_id=other,
                                                            update_mask=FieldMask(paths=["manager_id"])),
                                    metadata=hr.metadata)
    await hr.profile.UpdateEmployee(P.UpdateEmployeeRequest(employee_id=elsewhere, manager_id=boss,
                                                            update_mask=FieldMask(paths=["manager_id"])),
                                    metadata=hr.metadata)
    admin = stack.as_("hr-admin", "hr_admin")
    await admin.profile.EraseEmployee(P.EraseEmployeeRequest(employee_id=reports[2]), metadata=admin.metadata)
    assert [e.employee_id for e in await team(mgr, boss)] == sorted([reports[0], elsewhere])
    assert [e.employee_id for e in await team(stack.as_(other, "manager"), other)] == [reports[1]]

    # data stored before the team index: the profile service indexes it when it starts
    client = aioredis.from_url(stack.infra.redis_url)
    try:
        stale = [k async for k in client.scan_iter(match=f"{stack.prefix}employee:team:*")]
        await client.delete(f"{stack.prefix}employee:manager-of", *stale)
    finally:
        await client.aclose()
    assert not await team(mgr, boss)
    proc = stack.procs["profile"]
    proc.stop(timeout=15)
    proc.start(wait=False)
    await proc.wait_healthy_async(60)
    # the backfill runs beside serving (a one-time migration of data stored before the index)
    want = sorted([reports[0], elsewhere])

    async def indexed():
        return [e.employee_id for e in await team(mgr, boss)] == want

    await eventually(indexed, 30, f"the team index backfilled with {want}")


async def test_the_release_approver_sees_what_is_released_and_the_cap(stack):
    boss, other, owner = await person(stack, uid("M")), await person(stack, uid("M")), await person(stack, uid("O"))
    ana = await person(stack, uid("E"), manager=boss, hours=40)  # cap: 20 % of 40 h = 8 h/week
    own = stack.as_(owner)
    apps = []
    for title, hours, otype in (("A", 4, GIG), ("B", 3, GIG), ("C", 2, GIG), ("R", 40, ROLE)):
        opp = await own.opportunity.PostOpportunity(O.PostOpportunityRequest(
            title=title, type=otype, hours_per_week=min(hours, THRESHOLD_H),
            requirements=[O.RequirementInput(skill="sql", min_level=2)]), metadata=own.metadata)
        me = stack.as_(ana)
        app = await me.opportunity.Apply(O.ApplyRequest(opportunity_id=opp.opportunity_id), metadata=me.metadata)
        await own.opportunity.AcceptApplication(O.AcceptApplicationRequest(application_id=app.application_id),
                                                metadata=own.metadata)
        apps.append(app.application_id)
    mgr = stack.as_(boss, "manager")

    async def queue():
        return await mgr.opportunity.ListApplications(O.ListApplicationsRequest(release_approver_id=boss),
                                                      metadata=mgr.metadata)

    waiting = await queue()
    assert len(waiting.release_budgets) == len(waiting.applications) == 4
    b = waiting.release_budgets[0]
    assert (b.employee_id, b.manager_id, b.released_hours_per_week, b.limit_hours_per_week,
            b.remaining_hours_per_week, b.share_percent, b.hours_available_per_week) == (ana, boss, 0, 8, 8, SHARE, 40)

    await mgr.opportunity.ApproveTimeRelease(O.ApproveTimeReleaseRequest(application_id=apps[0]), metadata=mgr.metadata)
    await mgr.opportunity.ApproveTimeRelease(O.ApproveTimeReleaseRequest(application_id=apps[3]), metadata=mgr.metadata)
    waiting = await queue()
    assert sorted(a.application_id for a in waiting.applications) == sorted(apps[1:3])
    for b in waiting.release_budgets:  # "4 of 8 h/week already released" (the role takes none of the share)
        assert (b.released_hours_per_week, b.limit_hours_per_week, b.remaining_hours_per_week) == (4, 8, 4)
        assert [(a.application_id, a.hours_per_week) for a in b.assignments] == [(apps[0], 4)]

    budget = O.GetTimeReleaseBudgetRequest(employee_id=ana)
    for who, role in ((ana, "employee"), (boss, "manager"), ("hr", "hr_admin")):
        c = stack.as_(who, role)
        got = await c.opportunity.GetTimeReleaseBudget(budget, metadata=c.metadata)
        assert (got.released_hours_per_week, got.remaining_hours_per_week) == (4, 4)
    for who, role in ((boss, "employee"), (other, "manager"), (owner, "employee")):  # the one manager rule
        c = stack.as_(who, role)
        await expect_error(c.opportunity.GetTimeReleaseBudget(budget, metadata=c.metadata), Code.PERMISSION_DENIED)
    await expect_error(stack.clients.opportunity.GetTimeReleaseBudget(O.GetTimeReleaseBudgetRequest(
        employee_id=uid("E")), metadata=stack.clients.metadata), Code.NOT_FOUND)

    # Ana moves to another manager: the old one's queue no longer shows her figures, and says who releases now
    hr = stack.clients
    await hr.profile.UpdateEmployee(P.UpdateEmployeeRequest(employee_id=ana, manager_id=other,
                                                            update_mask=FieldMask(paths=["manager_id"])),
                                    metadata=hr.metadata)
    waiting = await queue()
    for b in waiting.release_budgets:
        assert b.manager_id == other and other in b.unavailable_reason
        assert not b.limit_hours_per_week and not b.assignments


async def test_an_owner_lists_their_postings_in_every_state_newest_first(stack):
    boss = await person(stack, uid("M"))
    owner = await person(stack, uid("O"), manager=boss)
    own = stack.as_(owner)
    made = []
    for title, hours in (("first", 2), ("second", THRESHOLD_H + 2), ("third", 2), ("fourth", 3)):
        made.append(await own.opportunity.PostOpportunity(O.PostOpportunityRequest(
            title=title, type=GIG, hours_per_week=hours, requirements=[O.RequirementInput(skill="sql", min_level=2)]),
            metadata=own.metadata))
    await own.opportunity.CloseOpportunity(O.CloseOpportunityRequest(opportunity_id=made[2].opportunity_id),
                                           metadata=own.metadata)
    someone = stack.as_(uid("E"))

    async def listed(page_size=0, **kw):
        ids, token = [], ""
        while True:
            page = await someone.opportunity.ListOpportunities(O.ListOpportunitiesRequest(
                owner_id=owner, page_size=page_size, page_token=token, **kw), metadata=someone.metadata)
            ids += [(o.title, o.status) for o in page.opportunities]
            token = page.next_page_token
            if not token:
                return ids

    assert await listed(page_size=1) == [("fourth", St.OPPORTUNITY_STATUS_OPEN), ("third", St.OPPORTUNITY_STATUS_CLOSED),
                                         ("second", St.OPPORTUNITY_STATUS_PENDING_APPROVAL),
                                         ("first", St.OPPORTUNITY_STATUS_OPEN)]
    assert await listed(page_size=1, open_only=True) == [("fourth", St.OPPORTUNITY_STATUS_OPEN),
                                                         ("first", St.OPPORTUNITY_STATUS_OPEN)]
    assert await listed(status=St.OPPORTUNITY_STATUS_PENDING_APPROVAL) == [
        ("second", St.OPPORTUNITY_STATUS_PENDING_APPROVAL)]
    assert not (await someone.opportunity.ListOpportunities(O.ListOpportunitiesRequest(owner_id=uid("O")),
                                                            metadata=someone.metadata)).opportunities
    await expect_error(someone.opportunity.ListOpportunities(O.ListOpportunitiesRequest(
        owner_id=owner, approver_id=boss), metadata=someone.metadata), Code.INVALID_ARGUMENT, "owner_id")
