"""Owners judge applications with scores (issue 16 item 2), over the real stack: profile,
opportunity and matcher. On every application of their opportunity the owner sees the
applicant's current score with the credit per requirement (from the matcher) and the
applicant's skills the opportunity requires (from the profile), with the applicant's
choices respected: aspirations never shown, no score for who opted out; nobody else
sees it; without the matcher the skills still show and the reason for no score."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from _stack import ModuleStack, all_topics, expect_error, uid
from itm.v1 import common_pb2, opportunity_pb2 as O, profile_pb2 as P
from services.opportunity import applicants

Code = grpc.StatusCode
S, SRC = common_pb2.SkillStatus, common_pb2.EvidenceSource
GIG = common_pb2.OPPORTUNITY_TYPE_GIG


@pytest.fixture(scope="module")
async def stack(infra, tmp_path_factory, request):
    s = ModuleStack(infra, tmp_path_factory.mktemp("assessment"))
    await s.start({"profile": {}, "opportunity": {}, "matcher": {}}, all_topics("opportunity.application-"))
    yield s
    await s.close(failed=request.session.testsfailed > 0)


async def person(stack, emp_id, manager="", skills=()):
    hr = stack.clients
    await hr.profile.CreateEmployee(P.CreateEmployeeRequest(employee_id=emp_id, name=f"N {emp_id}", manager_id=manager,
                                                            hours_available_per_week=40), metadata=hr.metadata)
    me = stack.as_(emp_id)
    for skill, level, status in skills:
        await me.profile.UpsertSkill(P.UpsertSkillRequest(employee_id=emp_id, skill=skill, level=level, status=status),
                                     metadata=me.metadata)
    return emp_id


async def assessed(c, app_id: str, until, timeout_s: float = 60) -> O.ApplicantAssessment:
    """The owner's assessment of the application once ``until(assessment)`` holds (the
    matcher scores what the profile and opportunity services publish, a moment later)."""
    got = None
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                got = await c.opportunity.GetApplicantAssessment(O.GetApplicantAssessmentRequest(
                    application_id=app_id), metadata=c.metadata, timeout=10)
                if until(got):
                    return got
                await asyncio.sleep(0.3)
    except TimeoutError:
        raise AssertionError(f"after {timeout_s}s the assessment is {got}") from None


async def test_the_owner_sees_each_applicants_current_score_credits_and_skills(stack):
    owner, boss = uid("O"), uid("M")
    await person(stack, boss)
    await person(stack, owner)
    ana = await person(stack, uid("E"), manager=boss, skills=[
        ("sql", 3, S.SKILL_STATUS_CLAIMED), ("python", 4, S.SKILL_STATUS_ASPIRATIONAL), ("excel", 5, S.SKILL_STATUS_CLAIMED)])
    ben = await person(stack, uid("E"), skills=[("python", 2, S.SKILL_STATUS_CLAIMED)])
    own = stack.as_(owner)
    opp = await own.opportunity.PostOpportunity(O.PostOpportunityRequest(
        title="Churn dashboard", type=GIG, hours_per_week=4, requirements=[
            O.RequirementInput(skill="sql", min_level=3, must_have=True), O.RequirementInput(skill="python", min_level=2)]),
        metadata=own.metadata)
    for who in (ana, ben):
        c = stack.as_(who)
        await c.opportunity.Apply(O.ApplyRequest(opportunity_id=opp.opportunity_id), metadata=c.metadata)
    ana_app, ben_app = f"{opp.opportunity_id}:{ana}", f"{opp.opportunity_id}:{ben}"

    # Ana: sql claimed at the level (0.5 credit), python only an aspiration (nothing): 25 %
    # (the matcher may first score the posting against a profile it has not yet seen whole)
    got = await assessed(own, ana_app, lambda a: a.score_available and a.score_percent == 25)
    assert (got.employee_id, got.score_percent, got.qualified) == (ana, 25, False)
    assert [(c.skill_id, c.credit, c.employee_level, c.status) for c in got.credits] == [
        ("sql", 0.5, 3, S.SKILL_STATUS_CLAIMED), ("python", 0.0, 0, S.SKILL_STATUS_UNSPECIFIED)]
    assert [(s.skill_id, s.required_level, s.must_have, s.level, s.status, s.source) for s in got.skills] == [
        ("sql", 3, True, 3, S.SKILL_STATUS_CLAIMED, SRC.EVIDENCE_SOURCE_SELF),
        ("python", 2, False, 0, S.SKILL_STATUS_UNSPECIFIED, SRC.EVIDENCE_SOURCE_UNSPECIFIED)]  # the aspiration hidden

    # the list of applications carries one assessment per application, in the same order
    await assessed(own, ben_app, lambda a: a.score_available and a.score_percent == 25)
    listed = await own.opportunity.ListApplications(O.ListApplicationsRequest(opportunity_id=opp.opportunity_id),
                                                    metadata=own.metadata)
    assert [a.employee_id for a in listed.assessments] == [a.employee_id for a in listed.applications]
    assert {a.employee_id: (a.score_percent, a.qualified) for a in listed.assessments} == {
        ana: (25, False), ben: (25, False)}  # ben: python claimed, the must-have sql missing
    assert [s.level for s in listed.assessments[[a.employee_id for a in listed.assessments].index(ben)].skills] == [0, 2]

    # the score is current: Ana's manager verifies her sql, the owner sees 50 %
    mgr = stack.as_(boss, "manager")
    await mgr.profile.VerifySkill(P.VerifySkillRequest(employee_id=ana, skill="sql", level=3,
                                                       source=SRC.EVIDENCE_SOURCE_MANAGER), metadata=mgr.metadata)
    got = await assessed(own, ana_app, lambda a: a.score_percent == 50)
    assert got.credits[0].credit == 1.0 and got.skills[0].status == S.SKILL_STATUS_VERIFIED
    assert got.skills[0].source == SRC.EVIDENCE_SOURCE_MANAGER

    # Ben opts out of matching: his skills still show, his score does not
    me = stack.as_(ben)
    await me.profile.SetPreferences(P.SetPreferencesRequest(employee_id=ben, preferences=P.MatchPreferences(
        opted_out=True)), metadata=me.metadata)
    got = await own.opportunity.GetApplicantAssessment(O.GetApplicantAssessmentRequest(application_id=ben_app),
                                                       metadata=own.metadata)
    assert not got.score_available and not got.credits and got.unavailable_reason == applicants.OPTED_OUT
    assert [s.level for s in got.skills] == [0, 2]

    # Ana hides herself from owners: applying showed her to this one, who still sees her score
    ana_c = stack.as_(ana)
    await ana_c.profile.SetVisibility(P.SetVisibilityRequest(employee_id=ana, visibility=P.Visibility(
        hidden_from_opportunity_owners=True)), metadata=ana_c.metadata)
    assert (await assessed(own, ana_app, lambda a: a.score_available)).score_percent == 50

    # the applicant, their manager, a stranger: refused; HR: allowed
    for who, role in ((ana, "employee"), (boss, "manager"), (uid("E"), "employee")):
        c = stack.as_(who, role)
        await expect_error(c.opportunity.GetApplicantAssessment(O.GetApplicantAssessmentRequest(
            application_id=ana_app), metadata=c.metadata), Code.PERMISSION_DENIED)
    hr = stack.clients
    assert (await hr.opportunity.GetApplicantAssessment(O.GetApplicantAssessmentRequest(application_id=ana_app),
                                                        metadata=hr.metadata)).score_percent == 50
    await expect_error(own.opportunity.GetApplicantAssessment(O.GetApplicantAssessmentRequest(
        application_id=f"{opp.opportunity_id}:{uid('E')}"), metadata=own.metadata), Code.NOT_FOUND)
    # the applicant's own list carries no assessments (their scores are theirs: MyMatches)
    mine = await ana_c.opportunity.ListApplications(O.ListApplicationsRequest(employee_id=ana), metadata=ana_c.metadata)
    assert len(mine.applications) == 1 and not mine.assessments

    # the matcher gone (last: it stops): skills still shown, and why there is no score
    stack.procs["matcher"].stop(timeout=15)
    got = await own.opportunity.GetApplicantAssessment(O.GetApplicantAssessmentRequest(application_id=ana_app),
                                                       metadata=own.metadata)
    assert not got.score_available and got.unavailable_reason == applicants.MATCHER_DOWN
    assert got.skills[0].level == 3 and got.skills[0].status == S.SKILL_STATUS_VERIFIED
