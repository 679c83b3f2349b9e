"""Managers, owners and applicants hear about what they must act on (issue 4, items 1 and 5)."""

from __future__ import annotations

import asyncio

from itm.client import Clients
from itm.runtime.settings import Settings
from itm.v1 import common_pb2, notifier_pb2, opportunity_pb2 as O, profile_pb2 as P


async def inbox_of(c: Clients, employee: str, count: int, timeout_s: float = 30) -> list:
    async with asyncio.timeout(timeout_s):
        while True:
            got = (await c.notifier.ListInbox(notifier_pb2.ListInboxRequest(employee_id=employee),
                                              metadata=c.metadata)).notifications
            if len(got) >= count:
                return list(got)
            await asyncio.sleep(0.3)


async def test_approvals_applications_and_outcomes_reach_the_right_people(start_service, topic_prefix):
    procs = {n: start_service(n, wait=False) for n in ("profile", "notifier")}
    for p in procs.values():
        await p.wait_healthy_async(60)
    procs["opportunity"] = start_service("opportunity", profile_target=procs["profile"].grpc_target,
                                        gig_time_share_percent=50)
    settings = Settings(topic_prefix=topic_prefix)
    hr = Clients.connect({n: p.grpc_target for n, p in procs.items()}, settings, subject="hr-1", role="hr_admin")
    for emp, manager in [("B1", ""), ("O1", "B1"), ("M1", ""), ("E1", "M1"), ("E2", "M1")]:
        await hr.profile.CreateEmployee(P.CreateEmployeeRequest(employee_id=emp, name=f"N {emp}", manager_id=manager,
                                                                hours_available_per_week=40), metadata=hr.metadata)
    owner, boss, mgr = hr.as_(settings, "O1", "employee"), hr.as_(settings, "B1", "manager"), hr.as_(settings, "M1", "manager")

    gig = await owner.opportunity.PostOpportunity(O.PostOpportunityRequest(
        title="Churn model", type=common_pb2.OPPORTUNITY_TYPE_PROJECT, hours_per_week=12, seats=1,
        requirements=[O.RequirementInput(skill="python", min_level=2)]), metadata=owner.metadata)
    [approval] = await inbox_of(hr, "B1", 1)
    assert approval.kind == "opportunity.approval-requested" and approval.opportunity_id == gig.opportunity_id
    assert approval.body == "O1 posted 'Churn model' at 12 h/week, above the 10 h threshold; it opens once you approve it."
    await boss.opportunity.ApproveOpportunity(O.ApproveOpportunityRequest(opportunity_id=gig.opportunity_id),
                                              metadata=boss.metadata)

    for emp in ("E1", "E2"):
        applicant = hr.as_(settings, emp, "employee")
        await applicant.opportunity.Apply(O.ApplyRequest(opportunity_id=gig.opportunity_id), metadata=applicant.metadata)
    applicants = await inbox_of(hr, "O1", 2)
    assert sorted(n.body for n in applicants) == ["E1 applied to 'Churn model'.", "E2 applied to 'Churn model'."]

    app_id = f"{gig.opportunity_id}:E1"
    await owner.opportunity.AcceptApplication(O.AcceptApplicationRequest(application_id=app_id), metadata=owner.metadata)
    [accepted] = await inbox_of(hr, "E1", 1)
    assert accepted.title == "You're in: Churn model" and "manager now approves" in accepted.body
    [release] = await inbox_of(hr, "M1", 1)
    assert release.kind == "opportunity.time-release-requested" and "E1 was accepted for 'Churn model' (12 h/week)" in release.body

    await mgr.opportunity.ApproveTimeRelease(O.ApproveTimeReleaseRequest(application_id=app_id), metadata=mgr.metadata)
    e1 = await inbox_of(hr, "E1", 2)
    assert e1[1].body == "Your manager released 12 h/week for 'Churn model'."
    o1 = await inbox_of(hr, "O1", 3)
    assert o1[2].title == "E1 can start on Churn model"

    await owner.opportunity.CloseOpportunity(O.CloseOpportunityRequest(opportunity_id=gig.opportunity_id,
                                                                       outcome="filled"), metadata=owner.metadata)
    [declined] = await inbox_of(hr, "E2", 1)
    assert declined.kind == "opportunity.application-declined"
    assert declined.body == "Your application for 'Churn model' was not taken forward (the opportunity was filled)."
    await asyncio.sleep(1)
    assert len(await inbox_of(hr, "E1", 2)) == 2 and len(await inbox_of(hr, "M1", 1)) == 1  # nothing extra
    await hr.close()
