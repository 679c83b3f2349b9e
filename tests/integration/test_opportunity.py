"""The opportunity service for real, with the profile service it looks managers up in:
posting governance, applications, time release within the share limit, closing, and
owner feedback becoming gig-validated skills on the profile (the loop closes)."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from _stack import ModuleStack, all_topics, expect_error, uid
from google.protobuf.timestamp_pb2 import Timestamp

from itm.v1 import common_pb2, opportunity_pb2, profile_pb2

O, P = opportunity_pb2, profile_pb2
Code = grpc.StatusCode
St, AS, TR = common_pb2.OpportunityStatus, common_pb2.ApplicationStatus, common_pb2.TimeReleaseStatus
GIG, PROJECT = common_pb2.OPPORTUNITY_TYPE_GIG, common_pb2.OPPORTUNITY_TYPE_PROJECT
THRESHOLD_H, SHARE = 10, 20


@pytest.fixture(scope="module")
async def stack(infra, tmp_path_factory, request):
    s = ModuleStack(infra, tmp_path_factory.mktemp("opportunity"))
    await s.start({"profile": {}, "opportunity": {"approval_hours_threshold": THRESHOLD_H,
                                                  "gig_time_share_percent": SHARE, "expiry_sweep_interval_s": 0.3}},
                  all_topics("opportunity.", "profile."))
    yield s
    await s.close(failed=request.session.testsfailed > 0)


async def person(stack, emp_id, manager="", hours=40):
    c = stack.clients
    await c.profile.CreateEmployee(P.CreateEmployeeRequest(
        request_id=f"p-{emp_id}", employee_id=emp_id, name=f"N {emp_id}", manager_id=manager,
        hours_available_per_week=hours), metadata=c.metadata)
    return emp_id


async def post(stack, owner, hours=6, seats=1, otype=GIG, skills=(("sql", 3),), title="Gig", request_id=""):
    c = stack.as_(owner)
    return await c.opportunity.PostOpportunity(O.PostOpportunityRequest(
        request_id=request_id, title=title, type=otype, hours_per_week=hours, duration_weeks=4, seats=seats,
        department="Data", requirements=[O.RequirementInput(skill=s, min_level=lv) for s, lv in skills]),
        metadata=c.metadata)


async def apply(stack, emp_id, opp_id, **kw):
    c = stack.as_(emp_id)
    return await c.opportunity.Apply(O.ApplyRequest(opportunity_id=opp_id, **kw), metadata=c.metadata)


async def test_a_long_posting_waits_for_the_owners_manager(stack):
    boss = await person(stack, uid("M"))
    owner = await person(stack, uid("O"), manager=boss)
    small = await post(stack, owner, hours=THRESHOLD_H)
    assert small.status == St.OPPORTUNITY_STATUS_OPEN and small.version == 1 and not small.approver_id
    big = await post(stack, owner, hours=THRESHOLD_H + 6, otype=PROJECT, title="Big project")
    assert (big.status, big.approver_id, big.version) == (St.OPPORTUNITY_STATUS_PENDING_APPROVAL, boss, 1)

    pending = await stack.log.wait_for("opportunity.approval-requested", big.opportunity_id)
    assert pending[0].payload.approver_id == boss and pending[0].payload.threshold_hours == THRESHOLD_H
    assert pending[0].payload.opportunity.status == St.OPPORTUNITY_STATUS_PENDING_APPROVAL
    posted = await stack.log.wait_for("opportunity.gig-posted", small.opportunity_id)
    assert posted[0].payload.opportunity.hours_per_week == THRESHOLD_H and posted[0].key == small.opportunity_id.encode()

    applicant = await person(stack, uid("E"), manager=boss)
    await expect_error(apply(stack, applicant, big.opportunity_id), Code.FAILED_PRECONDITION, "PENDING_APPROVAL")
    mgr = stack.as_(boss, "manager")
    listed = await mgr.opportunity.ListOpportunities(O.ListOpportunitiesRequest(approver_id=boss), metadata=mgr.metadata)
    assert [o.opportunity_id for o in listed.opportunities] == [big.opportunity_id]
    for who, role in [(owner, "employee"), (uid("M"), "manager")]:
        c = stack.as_(who, role)
        await expect_error(c.opportunity.ApproveOpportunity(O.ApproveOpportunityRequest(
            opportunity_id=big.opportunity_id), metadata=c.metadata), Code.PERMISSION_DENIED, boss)
    await expect_error(mgr.opportunity.ApproveOpportunity(O.ApproveOpportunityRequest(
        opportunity_id=big.opportunity_id, expected_version=7), metadata=mgr.metadata), Code.ABORTED, "version 1")
    approved = await mgr.opportunity.ApproveOpportunity(O.ApproveOpportunityRequest(
        opportunity_id=big.opportunity_id, expected_version=1), metadata=mgr.metadata)
    assert (approved.status, approved.version, approved.decided_by) == (St.OPPORTUNITY_STATUS_OPEN, 2, boss)
    opened = await stack.log.wait_for("opportunity.gig-posted", big.opportunity_id)
    assert opened[0].payload.approved_by == boss and opened[0].event.version == 2
    assert opened[0].payload.opportunity.status == St.OPPORTUNITY_STATUS_OPEN
    await expect_error(mgr.opportunity.ApproveOpportunity(O.ApproveOpportunityRequest(
        opportunity_id=big.opportunity_id), metadata=mgr.metadata), Code.FAILED_PRECONDITION, "not waiting")
    assert not (await mgr.opportunity.ListOpportunities(O.ListOpportunitiesRequest(approver_id=boss),
                                                        metadata=mgr.metadata)).opportunities

    # rejected: closed with outcome "rejected", never on the marketplace
    other = await post(stack, owner, hours=30, title="Too much")
    rejected = await mgr.opportunity.RejectOpportunity(O.RejectOpportunityRequest(
        opportunity_id=other.opportunity_id, reason="not this quarter"), metadata=mgr.metadata)
    assert (rejected.status, rejected.outcome, rejected.reason) == (St.OPPORTUNITY_STATUS_CLOSED, "rejected", "not this quarter")
    closed = await stack.log.wait_for("opportunity.gig-closed", other.opportunity_id)
    assert closed[0].payload.outcome == "rejected" and closed[0].event.version == 2
    assert not stack.log.of("opportunity.gig-posted", other.opportunity_id)

    # no manager on record: an HR admin decides; no profile at all: refused
    loner = await person(stack, uid("O"))
    orphan = await post(stack, loner, hours=20)
    assert orphan.approver_id == "" and orphan.status == St.OPPORTUNITY_STATUS_PENDING_APPROVAL
    hr = stack.as_("hr-1", "hr_admin")
    assert (await hr.opportunity.ApproveOpportunity(O.ApproveOpportunityRequest(opportunity_id=orphan.opportunity_id),
                                                    metadata=hr.metadata)).status == St.OPPORTUNITY_STATUS_OPEN
    await expect_error(post(stack, uid("Ghost"), hours=20), Code.FAILED_PRECONDITION, "has no profile")


async def test_one_rule_for_manager_actions_the_manager_of_record_now_with_the_role(stack):
    """Issue 16 item 4 (itm/managers.py): approving a posting, releasing time and verifying a
    skill all need the employee's manager of record when the call arrives AND the manager role;
    the manager of record without the role is refused, saying so, and so is the former manager."""
    from google.protobuf.field_mask_pb2 import FieldMask

    old, new = await person(stack, uid("M")), await person(stack, uid("M"))
    owner, emp = await person(stack, uid("O"), manager=old), await person(stack, uid("E"), manager=old)
    big = await post(stack, owner, hours=THRESHOLD_H + 2, title="Needs approval")
    gig = await post(stack, await person(stack, uid("O")), hours=2, title="Small gig")
    app = await apply(stack, emp, gig.opportunity_id)
    lead = stack.as_(gig.owner_id)
    await lead.opportunity.AcceptApplication(O.AcceptApplicationRequest(application_id=app.application_id),
                                             metadata=lead.metadata)
    hr = stack.clients
    for who in (owner, emp):  # HR moves both to the new manager after the posting and the acceptance
        await hr.profile.UpdateEmployee(P.UpdateEmployeeRequest(employee_id=who, manager_id=new,
                                                                update_mask=FieldMask(paths=["manager_id"])),
                                        metadata=hr.metadata)
    former, no_role, acting = stack.as_(old, "manager"), stack.as_(new, "employee"), stack.as_(new, "manager")
    actions = [
        lambda c: c.opportunity.ApproveOpportunity(O.ApproveOpportunityRequest(opportunity_id=big.opportunity_id),
                                                   metadata=c.metadata),
        lambda c: c.opportunity.ApproveTimeRelease(O.ApproveTimeReleaseRequest(application_id=app.application_id),
                                                   metadata=c.metadata),
        lambda c: c.profile.VerifySkill(P.VerifySkillRequest(employee_id=emp, skill="sql", level=2,
                                                             source=common_pb2.EVIDENCE_SOURCE_MANAGER),
                                        metadata=c.metadata),
    ]
    for act in actions:
        await expect_error(act(former), Code.PERMISSION_DENIED, "manager", f"not {old}")
        await expect_error(act(no_role), Code.PERMISSION_DENIED, "manager on record but has the employee role")
    await expect_error(no_role.profile.GetEmployee(P.GetEmployeeRequest(employee_id=emp), metadata=no_role.metadata),
                       Code.PERMISSION_DENIED, "has the employee role")
    await expect_error(no_role.opportunity.ListApplications(O.ListApplicationsRequest(release_approver_id=old),
                                                            metadata=no_role.metadata), Code.PERMISSION_DENIED)
    approved = await actions[0](acting)
    assert (approved.status, approved.decided_by) == (St.OPPORTUNITY_STATUS_OPEN, new)
    released = await actions[1](acting)
    assert (released.time_release, released.release_approver_id) == (TR.TIME_RELEASE_STATUS_APPROVED, new)
    verified = await actions[2](acting)
    assert [(r.skill.skill_id, r.skill.status) for r in verified.skills] == [("sql", common_pb2.SKILL_STATUS_VERIFIED)]


async def test_the_application_workflow_closes_the_loop_into_gig_validated_skills(stack):
    owner = await person(stack, uid("O"))
    boss = uid("M")
    emp = await person(stack, uid("E"), manager=boss, hours=40)
    gig = await post(stack, owner, hours=6, skills=(("sql", 3), ("stakeholder management", 2)))
    rid = uid("apply")
    app = await apply(stack, emp, gig.opportunity_id, request_id=rid, note="I know SQL")
    app_id = f"{gig.opportunity_id}:{emp}"
    assert (app.application_id, app.status, app.version, app.owner_id) == (app_id, AS.APPLICATION_STATUS_SUBMITTED, 1, owner)
    assert await apply(stack, emp, gig.opportunity_id, request_id=rid, note="I know SQL") == app
    assert (await apply(stack, emp, gig.opportunity_id)).version == 1  # applying again is the same application
    await expect_error(apply(stack, emp, gig.opportunity_id, request_id=rid, note="changed"), Code.ALREADY_EXISTS, "request_id")

    own = stack.as_(owner)
    a = await own.opportunity.ShortlistApplication(O.ShortlistApplicationRequest(application_id=app_id, expected_version=1),
                                                   metadata=own.metadata)
    assert (a.status, a.version) == (AS.APPLICATION_STATUS_SHORTLISTED, 2)
    me = stack.as_(emp)
    await expect_error(me.opportunity.AcceptApplication(O.AcceptApplicationRequest(application_id=app_id),
                                                        metadata=me.metadata), Code.PERMISSION_DENIED, "owner")
    a = await own.opportunity.AcceptApplication(O.AcceptApplicationRequest(application_id=app_id, expected_version=2),
                                                metadata=own.metadata)
    assert (a.status, a.time_release, a.release_approver_id, a.version) == (
        AS.APPLICATION_STATUS_ACCEPTED, TR.TIME_RELEASE_STATUS_PENDING, boss, 3)
    await expect_error(own.opportunity.CompleteAssignment(O.CompleteAssignmentRequest(
        application_id=app_id, feedback=[O.SkillFeedbackInput(skill="sql", level=4)]), metadata=own.metadata),
        Code.FAILED_PRECONDITION, "not released the time")

    mgr = stack.as_(boss, "manager")
    waiting = await mgr.opportunity.ListApplications(O.ListApplicationsRequest(release_approver_id=boss), metadata=mgr.metadata)
    assert [x.application_id for x in waiting.applications] == [app_id]
    await expect_error(own.opportunity.ApproveTimeRelease(O.ApproveTimeReleaseRequest(application_id=app_id),
                                                          metadata=own.metadata), Code.PERMISSION_DENIED, boss)
    a = await mgr.opportunity.ApproveTimeRelease(O.ApproveTimeReleaseRequest(application_id=app_id, expected_version=3),
                                                 metadata=mgr.metadata)
    assert (a.time_release, a.version, a.decided_by) == (TR.TIME_RELEASE_STATUS_APPROVED, 4, boss)
    assert not (await mgr.opportunity.ListApplications(O.ListApplicationsRequest(release_approver_id=boss),
                                                       metadata=mgr.metadata)).applications

    done = await own.opportunity.CompleteAssignment(O.CompleteAssignmentRequest(
        application_id=app_id, expected_version=4, feedback=[
            O.SkillFeedbackInput(skill="SQL", level=4, comment="wrote the reporting queries"),
            O.SkillFeedbackInput(skill="stakeholder management", level=3)]), metadata=own.metadata)
    assert (done.status, done.version, [f.skill_id for f in done.feedback]) == (
        AS.APPLICATION_STATUS_COMPLETED, 5, ["sql", "stakeholder-management"])
    closed = await own.opportunity.CloseOpportunity(O.CloseOpportunityRequest(
        opportunity_id=gig.opportunity_id, expected_version=1, outcome="filled"), metadata=own.metadata)
    assert (closed.status, list(closed.assigned_employee_ids), closed.seats_taken) == (St.OPPORTUNITY_STATUS_FILLED, [emp], 1)

    # the application's events: keyed by the application, versions 1..5, snapshots after each change
    steps = ["opportunity.application-submitted", "opportunity.application-shortlisted", "opportunity.application-accepted",
             "opportunity.time-release-approved", "opportunity.feedback-given"]
    for topic in steps:
        await stack.log.wait_for(topic, app_id)
    mine = sorted((s for s in stack.log.seen if s.key == app_id.encode()), key=lambda s: s.event.version)
    assert [(s.topic, s.event.version, s.payload.application.version) for s in mine] == [
        (t, v, v) for v, t in enumerate(steps, 1)]
    release = mine[3].payload
    assert (release.committed_hours, release.limit_hours) == (6, 40 * SHARE / 100)
    feedback = mine[4]
    assert feedback.payload.opportunity_title == "Gig" and feedback.payload.feedback[0].comment == "wrote the reporting queries"
    gig_closed = await stack.log.wait_for("opportunity.gig-closed", gig.opportunity_id)
    assert gig_closed[0].payload.outcome == "filled" and list(gig_closed[0].payload.assigned_employee_ids) == [emp]

    # the profile service turned the feedback into verified, gig-validated evidence, correlation kept
    verified = await stack.log.wait_for("profile.skill-verified", emp, 2)
    assert [(v.payload.skill.skill_id, v.payload.skill.level, v.event.version) for v in verified] == [
        ("sql", 4, 2), ("stakeholder-management", 3, 3)]
    for v in verified:
        assert v.env.correlation_id == feedback.env.correlation_id and v.env.causation_id == feedback.event.event_id
        assert (v.payload.verified_by, v.payload.opportunity_id, v.payload.application_id) == (owner, gig.opportunity_id, app_id)
        assert v.payload.skill.source == common_pb2.EVIDENCE_SOURCE_GIG
    assert [s.status for s in verified[1].payload.profile.skills] == [common_pb2.SKILL_STATUS_VERIFIED] * 2
    profile = await stack.clients.profile.GetEmployee(P.GetEmployeeRequest(employee_id=emp), metadata=stack.clients.metadata)
    sql = profile.skills[0]
    assert (sql.skill.skill_id, sql.skill.status, sql.evidence[0].reference, sql.evidence[0].note) == (
        "sql", common_pb2.SKILL_STATUS_VERIFIED, gig.opportunity_id, "wrote the reporting queries")


async def test_time_release_respects_the_share_of_the_week(stack):
    owner = await person(stack, uid("O"))
    boss = uid("M")
    emp = await person(stack, uid("E"), manager=boss, hours=40)  # 20 % of 40 h: 8 h a week on gigs
    gigs = [await post(stack, owner, hours=h, title=f"Gig {h}h") for h in (6, 4, 5)]
    own, mgr, me = stack.as_(owner), stack.as_(boss, "manager"), stack.as_(emp)
    apps = []
    for g in gigs:
        a = await apply(stack, emp, g.opportunity_id)
        apps.append((await own.opportunity.AcceptApplication(O.AcceptApplicationRequest(application_id=a.application_id),
                                                             metadata=own.metadata)).application_id)
    # two approvals at once that together overshoot: exactly one gets through
    results = await asyncio.gather(*[mgr.opportunity.ApproveTimeRelease(O.ApproveTimeReleaseRequest(application_id=i),
                                                                         metadata=mgr.metadata) for i in apps[:2]],
                                   return_exceptions=True)
    ok = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(ok) == 1 and len(refused) == 1
    assert refused[0].code() == Code.FAILED_PRECONDITION and "above the limit of 8 h" in refused[0].details()
    approved, waiting = (apps[0], apps[1]) if ok[0].application_id == apps[0] else (apps[1], apps[0])
    err = await expect_error(mgr.opportunity.ApproveTimeRelease(O.ApproveTimeReleaseRequest(application_id=apps[2]),
                                                                metadata=mgr.metadata), Code.FAILED_PRECONDITION, "20% of 40 h")
    assert "already released" in err.details()
    # the manager may refuse instead; the applicant withdrawing frees the hours
    refused_app = await mgr.opportunity.RefuseTimeRelease(O.RefuseTimeReleaseRequest(application_id=apps[2], reason="busy"),
                                                          metadata=mgr.metadata)
    assert refused_app.time_release == TR.TIME_RELEASE_STATUS_REFUSED
    w = await me.opportunity.WithdrawApplication(O.WithdrawApplicationRequest(application_id=approved, reason="changed plans"),
                                                 metadata=me.metadata)
    assert w.status == AS.APPLICATION_STATUS_WITHDRAWN
    a = await mgr.opportunity.ApproveTimeRelease(O.ApproveTimeReleaseRequest(application_id=waiting), metadata=mgr.metadata)
    assert a.time_release == TR.TIME_RELEASE_STATUS_APPROVED
    events = await stack.log.wait_for("opportunity.time-release-approved", waiting)
    assert events[0].payload.committed_hours <= 8
    await stack.log.wait_for("opportunity.time-release-refused", apps[2])
    assert (await stack.log.wait_for("opportunity.application-withdrawn", approved))[0].payload.application.reason == "changed plans"


async def test_seats_declines_withdrawals_and_closing(stack):
    owner = await person(stack, uid("O"))
    e1, e2, e3, e4 = [await person(stack, uid("E"), manager=uid("M")) for _ in range(4)]
    gig = await post(stack, owner, seats=1)
    own = stack.as_(owner)
    ids = {e: (await apply(stack, e, gig.opportunity_id)).application_id for e in (e1, e2, e3, e4)}
    await own.opportunity.AcceptApplication(O.AcceptApplicationRequest(application_id=ids[e1]), metadata=own.metadata)
    await expect_error(own.opportunity.AcceptApplication(O.AcceptApplicationRequest(application_id=ids[e2]),
                                                         metadata=own.metadata), Code.FAILED_PRECONDITION, "seats")
    d = await own.opportunity.DeclineApplication(O.DeclineApplicationRequest(application_id=ids[e2], reason="more SQL"),
                                                 metadata=own.metadata)
    assert (d.status, d.reason) == (AS.APPLICATION_STATUS_DECLINED, "more SQL")
    await expect_error(apply(stack, e2, gig.opportunity_id), Code.FAILED_PRECONDITION, "declined")
    me4 = stack.as_(e4)
    await me4.opportunity.WithdrawApplication(O.WithdrawApplicationRequest(application_id=ids[e4]), metadata=me4.metadata)
    again = await apply(stack, e4, gig.opportunity_id)
    assert (again.status, again.version) == (AS.APPLICATION_STATUS_SUBMITTED, 3)  # reopened after a withdrawal
    await expect_error(me4.opportunity.WithdrawApplication(O.WithdrawApplicationRequest(application_id=ids[e1]),
                                                           metadata=me4.metadata), Code.PERMISSION_DENIED, "applicant")
    listed = await own.opportunity.ListApplications(O.ListApplicationsRequest(opportunity_id=gig.opportunity_id, page_size=3),
                                                    metadata=own.metadata)
    rest = await own.opportunity.ListApplications(O.ListApplicationsRequest(
        opportunity_id=gig.opportunity_id, page_size=3, page_token=listed.next_page_token), metadata=own.metadata)
    assert sorted(x.application_id for x in list(listed.applications) + list(rest.applications)) == sorted(ids.values())

    await expect_error(own.opportunity.CloseOpportunity(O.CloseOpportunityRequest(
        opportunity_id=gig.opportunity_id, outcome="filled", assigned_employee_ids=[e3]), metadata=own.metadata),
        Code.FAILED_PRECONDITION, "no accepted application")
    closed = await own.opportunity.CloseOpportunity(O.CloseOpportunityRequest(
        opportunity_id=gig.opportunity_id, outcome="cancelled", reason="budget"), metadata=own.metadata)
    assert (closed.status, closed.outcome, closed.version, closed.seats_taken) == (St.OPPORTUNITY_STATUS_CLOSED, "cancelled", 2, 0)
    c = stack.clients
    after = {e: await c.opportunity.GetApplication(O.GetApplicationRequest(application_id=i), metadata=c.metadata)
             for e, i in ids.items()}
    assert {e: a.status for e, a in after.items()} == {e1: AS.APPLICATION_STATUS_DECLINED, e2: AS.APPLICATION_STATUS_DECLINED,
                                                       e3: AS.APPLICATION_STATUS_DECLINED, e4: AS.APPLICATION_STATUS_DECLINED}
    assert after[e3].reason == "the opportunity was cancelled"
    for e in (e1, e3, e4):  # each ended application has its own event, in the same transaction as the close
        declined = await stack.log.wait_for("opportunity.application-declined", ids[e])
        assert declined[-1].payload.application.reason == "the opportunity was cancelled"
    await expect_error(apply(stack, uid("E"), gig.opportunity_id), Code.FAILED_PRECONDITION, "CLOSED")
    await expect_error(own.opportunity.CloseOpportunity(O.CloseOpportunityRequest(opportunity_id=gig.opportunity_id),
                                                        metadata=own.metadata), Code.FAILED_PRECONDITION, "already closed")


async def test_requirements_change_versions_and_listing(stack):
    owner = await person(stack, uid("O"))
    gig = await post(stack, owner, request_id=uid("r"))
    own, other = stack.as_(owner), stack.as_(uid("O"))
    change = O.ChangeRequirementsRequest(opportunity_id=gig.opportunity_id, expected_version=1, requirements=[
        O.RequirementInput(skill="python", min_level=3, weight=2, must_have=True), O.RequirementInput(skill="sql", min_level=2)])
    await expect_error(other.opportunity.ChangeRequirements(change, metadata=other.metadata), Code.PERMISSION_DENIED, "owner")
    changed = await own.opportunity.ChangeRequirements(change, metadata=own.metadata)
    assert changed.version == 2 and [(r.skill_id, r.min_level, r.weight, r.must_have) for r in changed.requirements] == [
        ("python", 3, 2.0, True), ("sql", 2, 1.0, False)]
    await expect_error(own.opportunity.ChangeRequirements(change, metadata=own.metadata), Code.ABORTED, "version 2")
    ev = await stack.log.wait_for("opportunity.requirements-changed", gig.opportunity_id)
    assert ev[0].event.version == 2 and [r.skill_id for r in ev[0].payload.opportunity.requirements] == ["python", "sql"]
    await own.opportunity.CloseOpportunity(O.CloseOpportunityRequest(opportunity_id=gig.opportunity_id, outcome="expired"),
                                           metadata=own.metadata)
    await expect_error(own.opportunity.ChangeRequirements(O.ChangeRequirementsRequest(
        opportunity_id=gig.opportunity_id, requirements=change.requirements), metadata=own.metadata),
        Code.FAILED_PRECONDITION, "frozen")
    c = stack.clients
    open_ids, token = [], ""
    while True:
        page = await c.opportunity.ListOpportunities(O.ListOpportunitiesRequest(open_only=True, page_size=2, page_token=token),
                                                     metadata=c.metadata)
        assert all(o.status == St.OPPORTUNITY_STATUS_OPEN for o in page.opportunities)
        open_ids += [o.opportunity_id for o in page.opportunities]
        if not (token := page.next_page_token):
            break
    assert gig.opportunity_id not in open_ids and len(open_ids) == len(set(open_ids))
    closed = await c.opportunity.ListOpportunities(O.ListOpportunitiesRequest(status=St.OPPORTUNITY_STATUS_CLOSED, page_size=500),
                                                   metadata=c.metadata)
    assert gig.opportunity_id in [o.opportunity_id for o in closed.opportunities]


def _req(skill="sql", level=3, weight=0.0):
    return [O.RequirementInput(skill=skill, min_level=level, weight=weight)]


BAD_INPUT = [
    ("PostOpportunity", O.PostOpportunityRequest(type=GIG, requirements=_req()), Code.INVALID_ARGUMENT, "title"),
    ("PostOpportunity", O.PostOpportunityRequest(title="T", requirements=_req()), Code.INVALID_ARGUMENT, "type"),
    ("PostOpportunity", O.PostOpportunityRequest(title="T", type=99, requirements=_req()), Code.INVALID_ARGUMENT, "type"),
    ("PostOpportunity", O.PostOpportunityRequest(title="T", type=GIG), Code.INVALID_ARGUMENT, "at least one requirement"),
    ("PostOpportunity", O.PostOpportunityRequest(title="T", type=GIG, requirements=_req("pyhton")),
     Code.INVALID_ARGUMENT, "did you mean: python"),
    ("PostOpportunity", O.PostOpportunityRequest(title="T", type=GIG, requirements=_req(level=0)),
     Code.INVALID_ARGUMENT, "requirements[0].min_level"),
    ("PostOpportunity", O.PostOpportunityRequest(title="T", type=GIG, requirements=_req(level=6)),
     Code.INVALID_ARGUMENT, "between 1 and 5"),
    ("PostOpportunity", O.PostOpportunityRequest(title="T", type=GIG, requirements=_req(weight=-1)),
     Code.INVALID_ARGUMENT, "weight"),
    ("PostOpportunity", O.PostOpportunityRequest(title="T", type=GIG, requirements=_req() + _req("SQL")),
     Code.INVALID_ARGUMENT, "twice"),
    ("PostOpportunity", O.PostOpportunityRequest(title="T", type=GIG, hours_per_week=-2, requirements=_req()),
     Code.INVALID_ARGUMENT, "hours_per_week"),
    ("PostOpportunity", O.PostOpportunityRequest(title="T", type=GIG, seats=-1, requirements=_req()),
     Code.INVALID_ARGUMENT, "seats"),
    ("PostOpportunity", O.PostOpportunityRequest(title="T", type=GIG, duration_weeks=-1, requirements=_req()),
     Code.INVALID_ARGUMENT, "duration_weeks"),
    ("PostOpportunity", O.PostOpportunityRequest(title="T", type=GIG, requirements=_req(), owner_id="{other}"),
     Code.PERMISSION_DENIED, "own"),
    ("PostOpportunity", O.PostOpportunityRequest(title="T", type=GIG, requirements=_req(), request_id="{rid}"),
     Code.ALREADY_EXISTS, "different request"),
    ("GetOpportunity", O.GetOpportunityRequest(), Code.INVALID_ARGUMENT, "opportunity_id is required"),
    ("GetOpportunity", O.GetOpportunityRequest(opportunity_id="opp-nope"), Code.NOT_FOUND, "no opportunity"),
    ("ChangeRequirements", O.ChangeRequirementsRequest(opportunity_id="{opp}", requirements=_req(level=6)),
     Code.INVALID_ARGUMENT, "between 1 and 5"),
    ("ChangeRequirements", O.ChangeRequirementsRequest(opportunity_id="{opp}", expected_version=5, requirements=_req()),
     Code.ABORTED, "stale"),
    ("ChangeRequirements", O.ChangeRequirementsRequest(opportunity_id="opp-nope", requirements=_req()), Code.NOT_FOUND, "no"),
    ("ChangeRequirements", O.ChangeRequirementsRequest(opportunity_id="{opp}"), Code.INVALID_ARGUMENT, "requirement"),
    ("ApproveOpportunity", O.ApproveOpportunityRequest(opportunity_id="{opp}"), Code.FAILED_PRECONDITION, "not waiting"),
    ("ApproveOpportunity", O.ApproveOpportunityRequest(opportunity_id="opp-nope"), Code.NOT_FOUND, "no opportunity"),
    ("RejectOpportunity", O.RejectOpportunityRequest(opportunity_id="{opp}", expected_version=3), Code.ABORTED, "stale"),
    ("CloseOpportunity", O.CloseOpportunityRequest(opportunity_id="{opp}", outcome="won"), Code.INVALID_ARGUMENT, "outcome"),
    ("CloseOpportunity", O.CloseOpportunityRequest(opportunity_id="{opp}", outcome="filled"), Code.FAILED_PRECONDITION,
     "nobody was accepted"),
    ("CloseOpportunity", O.CloseOpportunityRequest(opportunity_id="{opp}", assigned_employee_ids=["x"]),
     Code.INVALID_ARGUMENT, "filled"),
    ("CloseOpportunity", O.CloseOpportunityRequest(opportunity_id="{opp}", expected_version=9), Code.ABORTED, "stale"),
    ("ListOpportunities", O.ListOpportunitiesRequest(page_size=-3), Code.INVALID_ARGUMENT, "page_size"),
    ("ListOpportunities", O.ListOpportunitiesRequest(open_only=True, status=St.OPPORTUNITY_STATUS_CLOSED),
     Code.INVALID_ARGUMENT, "contradicts"),
    ("Apply", O.ApplyRequest(employee_id="bad id", opportunity_id="{opp}"), Code.INVALID_ARGUMENT, "employee_id"),
    ("Apply", O.ApplyRequest(employee_id="{emp}"), Code.INVALID_ARGUMENT, "opportunity_id is required"),
    ("Apply", O.ApplyRequest(employee_id="{emp}", opportunity_id="opp-nope"), Code.NOT_FOUND, "no opportunity"),
    ("Apply", O.ApplyRequest(employee_id="{owner}", opportunity_id="{opp}"), Code.FAILED_PRECONDITION, "owners"),
    ("GetApplication", O.GetApplicationRequest(application_id="opp-nope:E1"), Code.NOT_FOUND, "no application"),
    ("WithdrawApplication", O.WithdrawApplicationRequest(application_id="{app}", expected_version=4), Code.ABORTED, "stale"),
    ("WithdrawApplication", O.WithdrawApplicationRequest(), Code.INVALID_ARGUMENT, "application_id is required"),
    ("ShortlistApplication", O.ShortlistApplicationRequest(application_id="opp-nope:E1"), Code.NOT_FOUND, "no application"),
    ("AcceptApplication", O.AcceptApplicationRequest(application_id="{app}", expected_version=2), Code.ABORTED, "stale"),
    ("AcceptApplication", O.AcceptApplicationRequest(), Code.INVALID_ARGUMENT, "application_id is required"),
    ("DeclineApplication", O.DeclineApplicationRequest(application_id="opp-nope:E1"), Code.NOT_FOUND, "no application"),
    ("ApproveTimeRelease", O.ApproveTimeReleaseRequest(application_id="{app}"), Code.FAILED_PRECONDITION, "SUBMITTED"),
    ("ApproveTimeRelease", O.ApproveTimeReleaseRequest(application_id="opp-nope:E1"), Code.NOT_FOUND, "no application"),
    ("RefuseTimeRelease", O.RefuseTimeReleaseRequest(application_id="{app}"), Code.FAILED_PRECONDITION, "SUBMITTED"),
    ("CompleteAssignment", O.CompleteAssignmentRequest(application_id="{app}"), Code.INVALID_ARGUMENT, "at least one"),
    ("CompleteAssignment", O.CompleteAssignmentRequest(application_id="{app}", feedback=[
        O.SkillFeedbackInput(skill="sql", level=0)]), Code.INVALID_ARGUMENT, "feedback[0].level"),
    ("CompleteAssignment", O.CompleteAssignmentRequest(application_id="{app}", feedback=[
        O.SkillFeedbackInput(skill="sqll", level=3)]), Code.INVALID_ARGUMENT, "unknown skill"),
    ("CompleteAssignment", O.CompleteAssignmentRequest(application_id="{app}", feedback=[
        O.SkillFeedbackInput(skill="sql", level=3)]), Code.FAILED_PRECONDITION, "SUBMITTED"),
    ("ListApplications", O.ListApplicationsRequest(), Code.INVALID_ARGUMENT, "exactly one"),
    ("ListApplications", O.ListApplicationsRequest(opportunity_id="opp-nope"), Code.NOT_FOUND, "no opportunity"),
]


@pytest.mark.parametrize("rpc,request_msg,code,fragment", BAD_INPUT,
                         ids=[f"{r}-{i}" for i, (r, *_rest) in enumerate(BAD_INPUT)])
async def test_bad_input_is_refused_with_a_message_and_writes_nothing(stack, rpc, request_msg, code, fragment):
    owner = await person(stack, uid("O"))
    emp = await person(stack, uid("E"))
    rid = uid("r")
    gig = await post(stack, owner, request_id=rid)
    app = await apply(stack, emp, gig.opportunity_id)
    subs = {"{opp}": gig.opportunity_id, "{app}": app.application_id, "{emp}": emp, "{owner}": owner,
            "{other}": uid("X"), "{rid}": rid}
    msg = type(request_msg)()
    msg.CopyFrom(request_msg)
    for f, v in msg.ListFields():
        if isinstance(v, str) and v in subs:
            setattr(msg, f.name, subs[v])
    c = stack.as_(owner) if rpc == "PostOpportunity" else stack.clients
    await expect_error(getattr(c.opportunity, rpc)(msg, metadata=c.metadata), code, fragment)
    c = stack.clients
    assert (await c.opportunity.GetOpportunity(O.GetOpportunityRequest(opportunity_id=gig.opportunity_id),
                                               metadata=c.metadata)).version == 1
    assert (await c.opportunity.GetApplication(O.GetApplicationRequest(application_id=app.application_id),
                                               metadata=c.metadata)).version == 1


def in_seconds(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int((time.time() + seconds) * 1e9))
    return ts


async def test_an_opportunity_past_its_deadline_expires_and_its_open_applications_end(stack):
    owner, applicant = await person(stack, uid("O")), await person(stack, uid("E"))
    c = stack.as_(owner)

    def posting(**kw):
        return O.PostOpportunityRequest(title="Deadline gig", type=GIG, hours_per_week=2, seats=1,
                                        requirements=[O.RequirementInput(skill="sql", min_level=2)], **kw)

    deadline = in_seconds(2)
    gig = await c.opportunity.PostOpportunity(posting(apply_by=deadline), metadata=c.metadata)
    assert gig.status == St.OPPORTUNITY_STATUS_OPEN and gig.apply_by == deadline
    open_ended = await post(stack, owner)
    application = await apply(stack, applicant, gig.opportunity_id)
    async with asyncio.timeout(20):
        while (now := await c.opportunity.GetOpportunity(O.GetOpportunityRequest(
                opportunity_id=gig.opportunity_id), metadata=c.metadata)).status == St.OPPORTUNITY_STATUS_OPEN:
            await asyncio.sleep(0.2)
    assert time.time() >= deadline.seconds  # not before its time
    assert (now.status, now.outcome, now.reason) == (St.OPPORTUNITY_STATUS_CLOSED, "expired",
                                                     "the application deadline passed")
    ended = await c.opportunity.GetApplication(O.GetApplicationRequest(
        application_id=application.application_id), metadata=c.metadata)
    assert ended.status == AS.APPLICATION_STATUS_DECLINED and ended.reason == "applications closed at the deadline"
    closed = await stack.log.wait_for("opportunity.gig-closed", gig.opportunity_id)
    assert [(e.payload.outcome, e.event.version) for e in closed] == [("expired", now.version)]
    declined = await stack.log.wait_for("opportunity.application-declined", application.application_id)
    assert len(declined) == 1
    still = await c.opportunity.GetOpportunity(O.GetOpportunityRequest(opportunity_id=open_ended.opportunity_id),
                                               metadata=c.metadata)
    assert still.status == St.OPPORTUNITY_STATUS_OPEN  # no deadline, no expiry
    await expect_error(apply(stack, applicant, gig.opportunity_id), Code.FAILED_PRECONDITION, "")
    for bad in (in_seconds(-60), in_seconds(3 * 366 * 86400)):
        await expect_error(c.opportunity.PostOpportunity(posting(apply_by=bad), metadata=c.metadata),
                           Code.INVALID_ARGUMENT, "apply_by must be in the future and within two years")
