"""`itm dev up --seed-demo` completes an interrupted seed (issue 16 item 5), over the real
profile, learning and opportunity services: whatever an earlier run left (some courses, Ana
with one of her skills, created without the seed's request id, one opportunity), the next
run adds exactly what is missing and says so; a run over the complete organisation adds
nothing and changes no version."""

from __future__ import annotations

from collections import Counter

import pytest

from _stack import ModuleStack
from itm.cli import _seed
from itm.demo import COURSES, DEMO_MANAGER, EMPLOYEES, OPPORTUNITIES, Seeded, seed
from itm.v1 import common_pb2, learning_pb2 as L, opportunity_pb2 as O, profile_pb2 as P

V, C = common_pb2.SKILL_STATUS_VERIFIED, common_pb2.SKILL_STATUS_CLAIMED


@pytest.fixture(scope="module")
async def stack(infra, tmp_path_factory, request):
    s = ModuleStack(infra, tmp_path_factory.mktemp("demo-seed"))
    await s.start({"profile": {}, "learning": {}, "opportunity": {}}, [])
    yield s
    await s.close(failed=request.session.testsfailed > 0)


async def organisation(c) -> dict:
    people = {}
    for emp_id in [DEMO_MANAGER[0]] + [e[0] for e in EMPLOYEES]:
        emp = await c.profile.GetEmployee(P.GetEmployeeRequest(employee_id=emp_id), metadata=c.metadata)
        people[emp_id] = (emp.manager_id, emp.version,
                          {r.skill.skill_id: (r.skill.level, r.skill.status) for r in emp.skills})
    courses = {co.course_id for co in (await c.learning.ListCourses(L.ListCoursesRequest(page_size=100),
                                                                    metadata=c.metadata)).courses}
    postings = (await c.opportunity.ListOpportunities(O.ListOpportunitiesRequest(owner_id=DEMO_MANAGER[0]),
                                                      metadata=c.metadata)).opportunities
    return {"people": people, "courses": courses, "titles": Counter(o.title for o in postings)}


async def test_a_rerun_completes_an_interrupted_seed_and_then_changes_nothing(stack):
    c = stack.clients
    # what an interrupted run (and an expired request id) left behind
    for course_id, title, hours, teaches in COURSES[:2]:
        await c.learning.PublishCourse(L.PublishCourseRequest(
            request_id=f"seed-{course_id}", course_id=course_id, title=title, hours=hours, format="online",
            provider="ITM Academy", teaches=[L.CourseSkillInput(skill=s, level=lv) for s, lv in teaches]),
            metadata=c.metadata)
    ana_id, name, dept, loc, ana_skills = EMPLOYEES[0]
    await c.profile.CreateEmployee(P.CreateEmployeeRequest(employee_id=ana_id, name=name, department=dept, location=loc,
                                                           manager_id=DEMO_MANAGER[0], hours_available_per_week=8),
                                   metadata=c.metadata)
    skill, level, _ = ana_skills[0]
    await c.profile.VerifySkill(P.VerifySkillRequest(employee_id=ana_id, skill=skill, level=level,
                                                     source=common_pb2.EVIDENCE_SOURCE_MANAGER), metadata=c.metadata)
    title, otype, dept, reqs = OPPORTUNITIES[0]
    await c.opportunity.PostOpportunity(O.PostOpportunityRequest(
        title=title, type=otype, department=dept, hours_per_week=6, owner_id=DEMO_MANAGER[0],
        requirements=[O.RequirementInput(skill=s, min_level=lv, weight=w, must_have=m) for s, lv, w, m in reqs]),
        metadata=c.metadata)

    report = Seeded()
    posted = await seed(c, report=report)
    every_skill = sum(len(e[4]) for e in EMPLOYEES)
    assert (report.courses, report.employees, report.skills, report.opportunities) == (
        len(COURSES) - 2, len(EMPLOYEES), every_skill - 1, len(OPPORTUNITIES) - 1)
    org = await organisation(c)
    assert org["people"][ana_id][2] == {"data-analysis": (2, V), "excel": (2, V), "stakeholder-management": (3, C)}
    for emp_id, *_, skills in EMPLOYEES:
        manager, _, held = org["people"][emp_id]
        assert manager == DEMO_MANAGER[0] and len(held) == len(skills), emp_id
    assert {co[0] for co in COURSES} <= org["courses"]
    assert org["titles"] == Counter(t for t, *_ in OPPORTUNITIES)  # the one posted before is not posted twice
    assert set(posted) == set(org["titles"])

    # `itm dev up --seed-demo` again: complete, nothing added, nothing written
    again = await _seed({n: p.grpc_target for n, p in stack.procs.items()}, stack.settings)
    assert (again.courses, again.employees, again.skills, again.opportunities) == (0, 0, 0, 0)
    assert "complete already, nothing added" in again.line()
    assert await organisation(c) == org
