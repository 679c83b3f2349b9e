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

from itm.client import Clients
from itm.v1 import common_pb2, learning_pb2, notifier_pb2, opportunity_pb2, profile_pb2

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


async def seed(c: Clients, suffix: str = "", *, people: bool = True, opportunities: bool = True) -> dict:
    """Create the catalog, employees and opportunities (idempotent by request id)."""
    if people:
        await seed_people(c, suffix)
    return await seed_opportunities(c, suffix) if opportunities else {}


async def seed_people(c: Clients, suffix: str = "") -> None:
    """The course catalog and the employees with their skills."""
    for course_id, title, hours, teaches in COURSES:
        await c.learning.PublishCourse(learning_pb2.PublishCourseRequest(
            request_id=f"seed-{course_id}{suffix}", course_id=f"{course_id}{suffix}", title=title, hours=hours,
            format="online", provider="ITM Academy",
            teaches=[learning_pb2.CourseSkillInput(skill=s, level=lv) for s, lv in teaches]), metadata=c.metadata)
    for emp_id, name, dept, loc, skills in EMPLOYEES:
        eid = f"{emp_id}{suffix}"
        emp = await c.profile.CreateEmployee(profile_pb2.CreateEmployeeRequest(
            request_id=f"seed-{eid}", employee_id=eid, name=name, department=dept, location=loc,
            manager_id="M1", hours_available_per_week=8), metadata=c.metadata)
        if emp.skills:
            continue  # seeded before
        for skill, level, status in skills:
            if status == V:
                await c.profile.VerifySkill(profile_pb2.VerifySkillRequest(
                    employee_id=eid, skill=skill, level=level, source=MANAGER, reference="M1"), metadata=c.metadata)
            else:
                await c.profile.UpsertSkill(profile_pb2.UpsertSkillRequest(
                    employee_id=eid, skill=skill, level=level, status=status), metadata=c.metadata)


async def seed_opportunities(c: Clients, suffix: str = "") -> dict:
    """Post the demo opportunities; returns title -> opportunity id."""
    posted = {}
    for title, otype, dept, reqs in OPPORTUNITIES:
        opp = await c.opportunity.PostOpportunity(opportunity_pb2.PostOpportunityRequest(
            request_id=f"seed-{title}{suffix}", title=title, type=otype, department=dept, hours_per_week=6,
            duration_weeks=8, seats=1, owner_id="M1",
            requirements=[opportunity_pb2.RequirementInput(skill=s, min_level=lv, weight=w, must_have=m)
                          for s, lv, w, m in reqs]), metadata=c.metadata)
        posted[title] = opp.opportunity_id
    return posted


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
