"""The demo organisation and the scripted scenario behind `make run` and `make demo`.

Scenario: "Data Analyst (Marketing)" needs SQL 3 (weight 3), data analysis 3
(3), Excel 2 (2) and stakeholder management 3 (2). Ana has data analysis 2 and
Excel 2 verified and claims stakeholder management 3. Her credits:
data analysis 2/3 (x3 = 2), SQL through the related skill data analysis
0.5 * 2/3 (x3 = 1), Excel 1 (x2 = 2), stakeholder management 0.5 (x2 = 1):
6 of 10, 60 %. She completes 'SQL for Analysts' (SQL 3, 6 h): the learning
service emits the completion, the profile service verifies SQL 3, the matcher
rescores her to exactly 80 % (her threshold) and the notifier pushes:
"You're 80% qualified for Data Analyst (Marketing). Missing: Data Analysis
level 3, Stakeholder Management level 3 (verify it). Take 'Data Analysis
Fundamentals' (10 h) and 'Stakeholder Management Essentials' (8 h) to reach
100%." (steps in the order of the gaps they close)
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

import grpc

from itm.client import Clients
from itm.v1 import common_pb2, learning_pb2, notifier_pb2, opportunity_pb2, profile_pb2, taxonomy_pb2

V = common_pb2.SKILL_STATUS_VERIFIED
C = common_pb2.SKILL_STATUS_CLAIMED
MANAGER = common_pb2.EVIDENCE_SOURCE_MANAGER

COURSES = [
    ("sql-for-analysts", "SQL for Analysts", 6, [("SQL", 3)]),
    ("stakeholder-essentials", "Stakeholder Management Essentials", 8, [("stakeholder management", 3)]),
    ("data-analysis-fundamentals", "Data Analysis Fundamentals", 10, [("data analysis", 3)]),
    ("python-data", "Python for Data Work", 12, [("python", 3), ("data analysis", 2)]),
    ("k8s-basics", "Kubernetes Basics", 10, [("kubernetes", 2)]),
    ("excel-advanced", "Advanced Excel", 4, [("excel", 4)]),
]

EMPLOYEES = [
    # id, name, department, location, [(skill, level, status)]
    ("E100", "Ana Ribeiro", "Marketing", "Lisbon", [("data analysis", 2, V), ("excel", 2, V), ("stakeholder management", 3, C)]),
    ("E101", "Ben Okafor", "Finance", "Lagos", [("excel", 4, V), ("sql", 2, V), ("data analysis", 2, C)]),
    ("E102", "Chen Wei", "Engineering", "Singapore", [("python", 4, V), ("kubernetes", 3, V), ("sql", 3, V)]),
    ("E103", "Dana Levi", "Engineering", "Tel Aviv", [("python", 3, V), ("docker", 3, V), ("kubernetes", 1, C)]),
    ("E104", "Eva Novak", "Sales", "Prague", [("stakeholder management", 4, V), ("negotiation", 4, V)]),
    ("E105", "Farid Haddad", "Marketing", "Dubai", [("data analysis", 4, V), ("sql", 3, V), ("excel", 3, V),
                                                     ("stakeholder management", 2, V)]),
]

OPPORTUNITIES = [
    ("Data Analyst (Marketing)", common_pb2.OPPORTUNITY_TYPE_GIG, "Marketing",
     [("SQL", 3, 3, False), ("data analysis", 3, 3, True), ("excel", 2, 2, False), ("stakeholder management", 3, 2, False)]),
    ("Platform Migration Project", common_pb2.OPPORTUNITY_TYPE_PROJECT, "Engineering",
     [("kubernetes", 3, 2, True), ("python", 3, 1, False), ("docker", 2, 1, False)]),
    ("Key Account Shadowing", common_pb2.OPPORTUNITY_TYPE_JOB_SHADOWING, "Sales",
     [("negotiation", 3, 1, False), ("stakeholder management", 3, 1, False)]),
]

DEMO_EMPLOYEE = "E100"
DEMO_COURSE = "sql-for-analysts"


# the manager of every demo employee and the owner of the demo opportunities (the console's manager)
DEMO_MANAGER = ("M1", "Morgan Reyes", "Marketing", "Lisbon")


@dataclass
class Seeded:
    """What a seed run added; everything else was there already (``itm dev up --seed-demo``
    says which, so a re-run after an interrupted one shows what it completed)."""
    courses: int = 0
    employees: int = 0
    skills: int = 0
    opportunities: int = 0
    posted: dict[str, str] = field(default_factory=dict)  # title -> opportunity id (all of them)

    def line(self) -> str:
        added = [f"{n} {what}" for n, what in ((self.employees, "employees"), (self.skills, "skills"),
                                               (self.courses, "courses"), (self.opportunities, "opportunities")) if n]
        return ("demo organisation seeded: " + (", ".join(added) + " added" if added else "complete already, nothing added")
                + f" ({len(EMPLOYEES)} employees and their manager, {len(COURSES)} courses, "
                  f"{len(OPPORTUNITIES)} opportunities)")


def _missing(exc: grpc.aio.AioRpcError) -> bool:
    return exc.code() == grpc.StatusCode.NOT_FOUND


async def seed(c: Clients, suffix: str = "", *, people: bool = True, opportunities: bool = True,
               report: Seeded | None = None) -> dict:
    """Create the catalog, employees and opportunities; returns title -> opportunity id.

    Every piece is looked at before it is created and only what is missing is added, so a
    run interrupted anywhere is completed by the next one (a course, an employee, each of
    their skills, each opportunity), and a run over a complete organisation changes nothing.
    A skill the employee holds already (whatever its level now) is left as it is."""
    report = report if report is not None else Seeded()
    if people:
        await seed_people(c, suffix, report)
    if opportunities:
        await seed_opportunities(c, suffix, report)
    return report.posted


async def _employee(c: Clients, employee_id: str) -> profile_pb2.Employee | None:
    try:
        return await c.profile.GetEmployee(profile_pb2.GetEmployeeRequest(employee_id=employee_id), metadata=c.metadata)
    except grpc.aio.AioRpcError as exc:
        if _missing(exc):
            return None
        raise


async def _ensure_employee(c: Clients, eid: str, name: str, dept: str, loc: str, manager: str,
                           report: Seeded) -> profile_pb2.Employee:
    emp = await _employee(c, eid)
    if emp is not None:
        return emp
    try:
        emp = await c.profile.CreateEmployee(profile_pb2.CreateEmployeeRequest(
            request_id=f"seed-{eid}", employee_id=eid, name=name, department=dept, location=loc,
            manager_id=manager, hours_available_per_week=8), metadata=c.metadata)
    except grpc.aio.AioRpcError as exc:  # created meanwhile (another seed run)
        if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise
        return await _employee(c, eid)
    report.employees += 1
    return emp


async def seed_people(c: Clients, suffix: str = "", report: Seeded | None = None) -> None:
    """The course catalog, the manager and the employees with their skills (only what is missing)."""
    report = report if report is not None else Seeded()
    for course_id, title, hours, teaches in COURSES:
        try:
            await c.learning.GetCourse(learning_pb2.GetCourseRequest(course_id=f"{course_id}{suffix}"),
                                       metadata=c.metadata)
            continue
        except grpc.aio.AioRpcError as exc:
            if not _missing(exc):
                raise
        await c.learning.PublishCourse(learning_pb2.PublishCourseRequest(
            request_id=f"seed-{course_id}{suffix}", course_id=f"{course_id}{suffix}", title=title, hours=hours,
            format="online", provider="ITM Academy",
            teaches=[learning_pb2.CourseSkillInput(skill=s, level=lv) for s, lv in teaches]), metadata=c.metadata)
        report.courses += 1
    manager_id, name, dept, loc = DEMO_MANAGER
    await _ensure_employee(c, manager_id, name, dept, loc, "", report)
    skill_ids: dict[str, str] = {}
    for emp_id, name, dept, loc, skills in EMPLOYEES:
        eid = f"{emp_id}{suffix}"
        emp = await _ensure_employee(c, eid, name, dept, loc, manager_id, report)
        held = {r.skill.skill_id for r in emp.skills}
        for skill, level, status in skills:
            if skill not in skill_ids:  # the name as the profile service's taxonomy resolves it
                skill_ids[skill] = (await c.taxonomy.GetSkill(taxonomy_pb2.GetSkillRequest(skill=skill),
                                                              metadata=c.metadata)).skill_id
            if skill_ids[skill] in held:
                continue
            if status == V:
                await c.profile.VerifySkill(profile_pb2.VerifySkillRequest(
                    employee_id=eid, skill=skill, level=level, source=MANAGER, reference=manager_id), metadata=c.metadata)
            else:
                await c.profile.UpsertSkill(profile_pb2.UpsertSkillRequest(
                    employee_id=eid, skill=skill, level=level, status=status), metadata=c.metadata)
            report.skills += 1


async def _postings(c: Clients, owner_id: str) -> dict[str, str]:
    """The owner's postings in every state: title -> opportunity id (the oldest of a title)."""
    found: dict[str, str] = {}
    token = ""
    while True:
        page = await c.opportunity.ListOpportunities(opportunity_pb2.ListOpportunitiesRequest(
            owner_id=owner_id, page_size=100, page_token=token), metadata=c.metadata)
        for opp in page.opportunities:  # newest first: the oldest of a title wins
            found[opp.title] = opp.opportunity_id
        token = page.next_page_token
        if not token:
            return found


async def seed_opportunities(c: Clients, suffix: str = "", report: Seeded | None = None) -> dict:
    """Post the demo opportunities that are missing; returns title -> opportunity id.

    The demo organisation (no suffix) finds its postings by owner and title, in any state
    (one the demo closed is not posted again); a suffixed run (``itm demo``) posts its own,
    idempotent by request id."""
    report = report if report is not None else Seeded()
    existing = await _postings(c, DEMO_MANAGER[0]) if not suffix else {}
    for title, otype, dept, reqs in OPPORTUNITIES:
        if title in existing:
            report.posted[title] = existing[title]
            continue
        opp = await c.opportunity.PostOpportunity(opportunity_pb2.PostOpportunityRequest(
            request_id=f"seed-{title}{suffix}", title=title, type=otype, department=dept, hours_per_week=6,
            duration_weeks=8, seats=1, owner_id=DEMO_MANAGER[0],
            requirements=[opportunity_pb2.RequirementInput(skill=s, min_level=lv, weight=w, must_have=m)
                          for s, lv, w, m in reqs]), metadata=c.metadata)
        report.posted[title] = opp.opportunity_id
        report.opportunities += 1
    return report.posted


async def first_notification(c: Clients, employee_id: str, opportunity_id: str, timeout_s: float,
                             after_id: str = "") -> notifier_pb2.Notification:
    """Wait on the live stream for the employee's notification about the opportunity."""
    call = c.notifier.Subscribe(notifier_pb2.SubscribeRequest(employee_id=employee_id, after_id=after_id),
                                metadata=c.metadata)
    try:
        async with asyncio.timeout(timeout_s):
            async for note in call:
                if note.opportunity_id == opportunity_id:
                    return note
    finally:
        call.cancel()
    raise TimeoutError("stream ended")


async def scenario(c: Clients, timeout_s: float = 60) -> notifier_pb2.Notification:
    """Post the gig, take Ana from 60 % through a course, return her notification."""
    suffix = f"-{uuid.uuid4().hex[:6]}"
    posted = await seed(c, suffix)
    employee, course = f"{DEMO_EMPLOYEE}{suffix}", f"{DEMO_COURSE}{suffix}"
    gig = posted["Data Analyst (Marketing)"]
    watcher = asyncio.create_task(first_notification(c, employee, gig, timeout_s))
    await asyncio.sleep(0.5)  # the subscription is open before the completion
    await c.learning.CompleteCourse(learning_pb2.CompleteCourseRequest(
        request_id=f"demo-{employee}", employee_id=employee, course_id=course), metadata=c.metadata)
    return await watcher
