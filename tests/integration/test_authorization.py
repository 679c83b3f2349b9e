"""Who may do what: one table over every gRPC RPC and HTTP route of the six services.

Columns (identities): the employee themself (E1), another employee (E2), E1's
manager (M1, who also manages the opportunity owner), M1 calling with the employee
role (M1e: the manager of record without the manager role, issue 16 item 4: no
manager action and no manager view, itm/managers.py), another manager (M2, who
manages E2), the owner of the opportunity under test (O1, an employee), an HR
admin (HR), no token, an expired token and a token signed with the wrong key.

Each row names the call and the status every identity gets. Allowed cells must
get the exact non-auth status the state gives (OK, ALREADY_EXISTS, ...), denied
cells PERMISSION_DENIED (HTTP 403), and the three bad-token cells
UNAUTHENTICATED (HTTP 401) with nothing about the resource in the message.
Cells expecting a denial or a bad token run before the allowed cells of their
row, so they meet the state the row was seeded with; a write that may be
allowed only once gets a target of its own per allowed identity.

docs/authorization.md states the same table in words.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import grpc
import pytest

from _stack import ModuleStack, all_topics
from itm.client import Clients
from itm.devstack import ServiceProcess
from itm.runtime.auth import bearer, mint_token
from itm.runtime.settings import Settings
from itm.v1 import common_pb2, learning_pb2 as L, matcher_pb2 as M, notifier_pb2 as N, opportunity_pb2 as O
from itm.v1 import profile_pb2 as P
from itm.v1 import reports_pb2 as R
from itm.v1 import reports_pb2_grpc
from itm.v1 import taxonomy_pb2 as T
from itm.v1 import webhooks_pb2 as W

Code = grpc.StatusCode
OK, DENIED, UNAUTH = Code.OK, Code.PERMISSION_DENIED, Code.UNAUTHENTICATED
PEOPLE = ["E1", "E2", "M1", "M1e", "M2", "O1", "HR"]
BAD_TOKENS = ["NONE", "EXPIRED", "WRONG_KEY"]
COLUMNS = PEOPLE + BAD_TOKENS
ROLES = {"E1": "employee", "E2": "employee", "M1": "manager", "M1e": "employee", "M2": "manager", "O1": "employee",
         "HR": "hr_admin"}
SAME_PERSON = {"M1e": "M1"}  # M1e is M1's subject with another role
SERVICES = ["profile", "opportunity", "learning", "matcher", "notifier", "webhooks"]
GIG = common_pb2.OPPORTUNITY_TYPE_GIG
MANAGER, ASSESSMENT = common_pb2.EVIDENCE_SOURCE_MANAGER, common_pb2.EVIDENCE_SOURCE_ASSESSMENT
ASPIRATIONAL = common_pb2.SKILL_STATUS_ASPIRATIONAL
APPROVAL_THRESHOLD_H = 10
E1_NAME = "Ana Confidential"
E1_ASPIRATION = "secret-aspiration-head-of-data"
SSE_BURST = 3


@dataclass
class World:
    """The seeded organisation, its ids and a call metadata per column."""

    stack: ModuleStack
    c: Clients  # stubs; metadata is passed per call
    run: str
    id: dict[str, str] = field(default_factory=dict)  # column -> subject
    md: dict[str, tuple] = field(default_factory=dict)  # column -> call metadata
    token: dict[str, str] = field(default_factory=dict)  # column -> raw token ("" for NONE)
    opp: dict[str, str] = field(default_factory=dict)
    app: dict[str, str] = field(default_factory=dict)
    course: dict[str, str] = field(default_factory=dict)
    note_id: str = ""
    limited_notifier: ServiceProcess | None = None

    def __getitem__(self, column: str) -> str:
        """The column's subject (the bad tokens all claim to be E1)."""
        return self.id["E1" if column in BAD_TOKENS else column]

    def secrets(self) -> list[str]:
        """What no bad-token answer may mention."""
        return [v for k, v in self.id.items() if k in PEOPLE] + list(self.opp.values()) + \
            list(self.app.values()) + list(self.course.values()) + [E1_NAME]

    def new_id(self, what: str) -> str:
        return f"{what}-{self.run}-{uuid.uuid4().hex[:6]}"


# --------------------------------------------------------------------------- the stack and its state


@pytest.fixture(scope="module")
async def world(infra, tmp_path_factory, request):
    root = tmp_path_factory.mktemp("authz")
    stack = ModuleStack(infra, root)
    # a second notifier with a small connection budget, on a prefix of its own (no consumer-group churn)
    limited = ServiceProcess("notifier", stack.env("notifier", rate_limit_burst=SSE_BURST, rate_limit_per_s=0.05,
                                                   topic_prefix=f"l{stack.prefix}",
                                                   data_dir=str(root / "data" / "notifier-limited")),
                             root, instance="limited")
    limited.start(wait=False)
    try:
        every = {"rate_limit_burst": 100000}
        await stack.start({"profile": every,
                           "opportunity": {**every, "approval_hours_threshold": APPROVAL_THRESHOLD_H,
                                           "gig_time_share_percent": 20},
                           "learning": every, "matcher": every, "notifier": every, "webhooks": every},
                          all_topics("profile.employee-erased"))
        await limited.wait_healthy_async(90)
        w = World(stack, stack.clients, uuid.uuid4().hex[:6], limited_notifier=limited)
        await seed(w)
        yield w
    finally:
        with contextlib.suppress(Exception):
            limited.stop(timeout=10)
        await stack.close(failed=request.session.testsfailed > 0)
        await _drop_keys(infra.redis_url, f"l{stack.prefix}")


async def _drop_keys(redis_url: str, prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.unlink(*keys)
    finally:
        await client.aclose()


def _identities(w: World) -> None:
    s = w.stack.settings
    for col in PEOPLE:
        w.id[col] = f"{SAME_PERSON.get(col, col)}-{w.run}"
        w.token[col] = mint_token(s, w.id[col], ROLES[col])
    w.token["NONE"] = ""
    w.token["EXPIRED"] = mint_token(s, w.id["E1"], "employee", ttl_s=-120)
    wrong = Settings(token_secret="not-the-itm-secret-" + "x" * 32, topic_prefix=s.topic_prefix)
    w.token["WRONG_KEY"] = mint_token(wrong, w.id["E1"], "employee")
    for col, tok in w.token.items():
        w.md[col] = bearer(tok) if tok else ()
    w.md["SVC"] = bearer(mint_token(s, "lms-service", "service"))


async def seed(w: World) -> None:
    """Profiles, a catalog, opportunities and applications in the states the rows need."""
    _identities(w)
    c, hr, svc = w.c, w.md["HR"], w.md["SVC"]
    e1, e2, m1, m2, o1 = (w[x] for x in ("E1", "E2", "M1", "M2", "O1"))

    async def person(emp_id, manager="", name=None):
        await c.profile.CreateEmployee(P.CreateEmployeeRequest(
            employee_id=emp_id, name=name or f"Person {emp_id}", manager_id=manager, department="Data",
            location="Lisbon", hours_available_per_week=40), metadata=hr)

    for emp_id, manager in ((m1, ""), (m2, ""), (o1, m1), (e2, m2)):
        await person(emp_id, manager)
    await c.profile.CreateEmployee(P.CreateEmployeeRequest(
        employee_id=e1, name=E1_NAME, manager_id=m1, department="Data", location="Lisbon",
        hours_available_per_week=40, career_aspirations=[E1_ASPIRATION]), metadata=hr)
    me = w.md["E1"]
    for skill, level, status in (("sql", 3, 0), ("python", 2, 0), ("docker", 2, 0), ("negotiation", 2, 0),
                                 ("kubernetes", 3, ASPIRATIONAL)):
        await c.profile.UpsertSkill(P.UpsertSkillRequest(employee_id=e1, skill=skill, level=level, status=status),
                                    metadata=me)
    await c.profile.SetVisibility(P.SetVisibilityRequest(
        employee_id=e1, visibility=P.Visibility(hide_aspirational_from_managers=True)), metadata=me)
    # E2 opts out of matching before it has skills: every matcher state of E2 with a skill is opted out
    await c.profile.SetPreferences(P.SetPreferencesRequest(
        employee_id=e2, preferences=P.MatchPreferences(opted_out=True)), metadata=w.md["E2"])
    for who in ("E2", "M2"):  # both would score like E1 on the gigs (above the matcher's pair floor)
        for skill, level in (("sql", 3), ("python", 2)):
            await c.profile.UpsertSkill(P.UpsertSkillRequest(employee_id=w[who], skill=skill, level=level),
                                        metadata=w.md[who])

    for key, title in (("main", "SQL basics"), ("retire", "Old SQL")):
        course = await c.learning.PublishCourse(L.PublishCourseRequest(
            course_id=f"authz-{key}-{w.run}", title=title, hours=3, format="online", provider="Academy",
            teaches=[L.CourseSkillInput(skill="sql", level=3)]), metadata=svc)
        w.course[key] = course.course_id
    await c.learning.Enroll(L.EnrollRequest(employee_id=e1, course_id=w.course["main"]), metadata=me)

    owner = w.md["O1"]

    async def post(key, hours=1.0, seats=5):
        opp = await c.opportunity.PostOpportunity(O.PostOpportunityRequest(
            title=f"Gig {key}", type=GIG, hours_per_week=hours, seats=seats, department="Data",
            requirements=[O.RequirementInput(skill="sql", min_level=3), O.RequirementInput(skill="python", min_level=2)]),
            metadata=owner)
        w.opp[key] = opp.opportunity_id
        return opp

    async def apply(key, who):
        app = await c.opportunity.Apply(O.ApplyRequest(opportunity_id=w.opp[key]), metadata=w.md[who])
        return app.application_id

    async def accept(app_id):
        await c.opportunity.AcceptApplication(O.AcceptApplicationRequest(application_id=app_id), metadata=owner)

    for key in ("main", "apply", "shortlist", "accept", "decline", "withdraw", "release", "release-hr", "refuse",
                "refuse-hr", "complete", "complete-hr", "close", "close-hr"):
        await post(key)
    for key in ("approve", "approve-hr", "reject", "reject-hr"):
        opp = await post(key, hours=APPROVAL_THRESHOLD_H + 2)
        assert opp.status == common_pb2.OPPORTUNITY_STATUS_PENDING_APPROVAL and opp.approver_id == m1
    w.app["main"] = await apply("main", "E1")
    await accept(w.app["main"])  # waits for M1 to release the time: M1 may read it
    w.app["shortlist"] = await apply("shortlist", "E1")
    for key in ("accept", "decline", "withdraw"):
        w.app[key] = await apply(key, "E1")
        w.app[f"{key}-hr"] = await apply(key, "E2")
    for key in ("release", "release-hr", "refuse", "refuse-hr", "complete", "complete-hr"):
        w.app[key] = await apply(key, "E1")
        await accept(w.app[key])
    for key in ("complete", "complete-hr"):
        await c.opportunity.ApproveTimeRelease(O.ApproveTimeReleaseRequest(application_id=w.app[key]),
                                               metadata=w.md["M1"])

    # state that arrives through the broker: E1's inbox (the acceptances) and the matcher's view of E1
    async def inbox_has_a_note():
        inbox = await c.notifier.ListInbox(N.ListInboxRequest(employee_id=e1), metadata=svc)
        if inbox.notifications:
            w.note_id = inbox.notifications[0].notification_id
        return bool(inbox.notifications), f"{len(inbox.notifications)} notifications"

    async def matcher_knows_them():
        best = await c.matcher.BestCandidates(M.BestCandidatesRequest(opportunity_id=w.opp["main"], limit=100),
                                              metadata=svc, timeout=5)
        seen = {m.employee_id for m in best.matches}
        if {e1, m2} <= seen and not best.missing_partitions:
            await c.matcher.MyMatches(M.MyMatchesRequest(employee_id=e1), metadata=svc, timeout=5)
            return True, ""
        return False, f"candidates {sorted(seen)}, missing partitions {list(best.missing_partitions)}"

    await eventually(inbox_has_a_note, 30)
    await eventually(matcher_knows_them, 45)


async def eventually(probe, timeout_s: float) -> None:
    last = ""
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                try:
                    done, last = await probe()
                    if done:
                        return
                except grpc.aio.AioRpcError as exc:
                    if exc.code() not in (Code.NOT_FOUND, Code.UNAVAILABLE):
                        raise
                    last = f"{exc.code().name}: {exc.details()}"
                await asyncio.sleep(0.3)
    except TimeoutError:
        raise AssertionError(f"{probe.__name__} not true after {timeout_s}s; last: {last}") from None


# --------------------------------------------------------------------------- the table


Call = Callable[[World, str], Awaitable]


@dataclass
class Row:
    name: str
    call: Call  # (world, column) -> the call as that column's identity
    expect: dict[str, object]  # the six people; the bad tokens always get UNAUTHENTICATED / 401


def allow(default=DENIED, **cells) -> dict[str, object]:
    """Expected status per person: ``default`` unless named (``allow(E1=OK, HR=OK)``)."""
    out = {p: default for p in PEOPLE}
    out.update(cells)
    return out


ALL = allow(OK)


def per(col: str, default: str, **targets: str) -> str:
    """The column's own target when it has one (writes that succeed once), else the default."""
    return targets.get(col, default)


async def first_message(call) -> object:
    """A server stream's first message (its catch-up), then the stream is cancelled."""
    try:
        async with asyncio.timeout(10):
            async for message in call:
                return message
    finally:
        call.cancel()
    raise AssertionError("the stream ended without a message")


def profile_rows() -> list[Row]:
    def req(w, col):  # the column's call metadata
        return w.md[col]

    return [
        Row("profile.CreateEmployee(someone else)", lambda w, col: w.c.profile.CreateEmployee(P.CreateEmployeeRequest(
            employee_id=w.new_id("new"), name="New Person"), metadata=req(w, col)), allow(HR=OK)),
        Row("profile.CreateEmployee(own id)", lambda w, col: w.c.profile.CreateEmployee(P.CreateEmployeeRequest(
            employee_id=w[col], name="Me"), metadata=req(w, col)),
            allow(Code.ALREADY_EXISTS, HR=OK)),  # self-service; the HR admin had no profile yet
        Row("profile.GetEmployee(E1)", lambda w, col: w.c.profile.GetEmployee(P.GetEmployeeRequest(
            employee_id=w["E1"]), metadata=req(w, col)), allow(E1=OK, M1=OK, HR=OK)),
        Row("profile.UpdateEmployee(E1)", lambda w, col: w.c.profile.UpdateEmployee(P.UpdateEmployeeRequest(
            employee_id=w["E1"], location=f"Porto {col}"), metadata=req(w, col)), allow(E1=OK, HR=OK)),
        Row("profile.UpsertSkill(E1)", lambda w, col: w.c.profile.UpsertSkill(P.UpsertSkillRequest(
            employee_id=w["E1"], skill="excel", level=2), metadata=req(w, col)), allow(E1=OK, HR=OK)),
        Row("profile.RemoveSkill(E1)", lambda w, col: w.c.profile.RemoveSkill(P.RemoveSkillRequest(
            employee_id=w["E1"], skill=per(col, "docker", HR="negotiation")), metadata=req(w, col)),
            allow(E1=OK, HR=OK)),
        Row("profile.VerifySkill(E1)", lambda w, col: w.c.profile.VerifySkill(P.VerifySkillRequest(
            employee_id=w["E1"], skill="sql", level=3, source=MANAGER), metadata=req(w, col)), allow(M1=OK, HR=OK)),
        Row("profile.VerifySkill(E1, stale version)", lambda w, col: w.c.profile.VerifySkill(P.VerifySkillRequest(
            employee_id=w["E1"], skill="sql", level=3, source=MANAGER, expected_version=999), metadata=req(w, col)),
            allow(M1=Code.ABORTED, HR=Code.ABORTED)),  # the version is told to who may write only
        Row("profile.EndorseSkill(E1)", lambda w, col: w.c.profile.EndorseSkill(P.EndorseSkillRequest(
            employee_id=w["E1"], skill="sql", endorser_id=w["E2"] if col == "HR" else ""), metadata=req(w, col)),
            allow(OK, E1=Code.INVALID_ARGUMENT)),  # any colleague with a profile; never yourself
        Row("profile.SetPreferences(E1)", lambda w, col: w.c.profile.SetPreferences(P.SetPreferencesRequest(
            employee_id=w["E1"], preferences=P.MatchPreferences(threshold_percent=80)), metadata=req(w, col)),
            allow(E1=OK, HR=OK)),
        Row("profile.SetVisibility(E1)", lambda w, col: w.c.profile.SetVisibility(P.SetVisibilityRequest(
            employee_id=w["E1"], visibility=P.Visibility(hide_aspirational_from_managers=True)), metadata=req(w, col)),
            allow(E1=OK, HR=OK)),
        Row("profile.ListEmployees", lambda w, col: w.c.profile.ListEmployees(P.ListEmployeesRequest(),
                                                                              metadata=req(w, col)), allow(HR=OK)),
        Row("profile.ListEmployees(team of M1)", lambda w, col: w.c.profile.ListEmployees(P.ListEmployeesRequest(
            manager_id=w["M1"]), metadata=req(w, col)), allow(M1=OK, HR=OK)),
        Row("profile.ListEmployeeHistory(E1)", lambda w, col: w.c.profile.ListEmployeeHistory(
            P.ListEmployeeHistoryRequest(employee_id=w["E1"]), metadata=req(w, col)), allow(E1=OK, HR=OK)),
        Row("profile.ImportEmployees", lambda w, col: w.c.profile.ImportEmployees(P.ImportEmployeesRequest(
            csv="employee_id,name\nX1,Someone\n", dry_run=True), metadata=req(w, col)), allow(HR=OK)),
        Row("profile.Replay", lambda w, col: w.c.profile.Replay(common_pb2.ReplayRequest(), metadata=req(w, col)),
            allow(HR=OK)),
        Row("profile.FindEmployee", lambda w, col: w.c.profile.FindEmployee(P.FindEmployeeRequest(
            email="nobody@example.com"), metadata=req(w, col)), allow(HR=Code.NOT_FOUND)),
    ]


def opportunity_rows() -> list[Row]:
    def app_call(method, request_type, **targets):
        def call(w, col):
            key = targets.get(col, targets.get("default"))
            return getattr(w.c.opportunity, method)(request_type(application_id=w.app[key]), metadata=w.md[col])
        return call

    def opp_call(method, request_type, default, extra=None, **targets):
        def call(w, col):
            key = targets.get(col, default)
            return getattr(w.c.opportunity, method)(request_type(opportunity_id=w.opp[key], **(extra or {})),
                                                    metadata=w.md[col])
        return call

    requirements = [O.RequirementInput(skill="sql", min_level=3), O.RequirementInput(skill="python", min_level=2)]
    feedback = [O.SkillFeedbackInput(skill="sql", level=3)]
    return [
        Row("opportunity.PostOpportunity(own)", lambda w, col: w.c.opportunity.PostOpportunity(O.PostOpportunityRequest(
            title="Side gig", type=GIG, hours_per_week=1, requirements=requirements), metadata=w.md[col]), ALL),
        Row("opportunity.PostOpportunity(owner O1)", lambda w, col: w.c.opportunity.PostOpportunity(
            O.PostOpportunityRequest(title="For O1", type=GIG, hours_per_week=1, owner_id=w["O1"],
                                     requirements=requirements), metadata=w.md[col]), allow(O1=OK, HR=OK)),
        Row("opportunity.GetOpportunity", opp_call("GetOpportunity", O.GetOpportunityRequest, "main"), ALL),
        Row("opportunity.ListOpportunities", lambda w, col: w.c.opportunity.ListOpportunities(
            O.ListOpportunitiesRequest(open_only=True), metadata=w.md[col]), ALL),
        Row("opportunity.ListOpportunities(owner O1)", lambda w, col: w.c.opportunity.ListOpportunities(
            O.ListOpportunitiesRequest(owner_id=w["O1"]), metadata=w.md[col]), ALL),
        Row("opportunity.GetTimeReleaseBudget(E1)", lambda w, col: w.c.opportunity.GetTimeReleaseBudget(
            O.GetTimeReleaseBudgetRequest(employee_id=w["E1"]), metadata=w.md[col]), allow(E1=OK, M1=OK, HR=OK)),
        Row("opportunity.SearchOpportunities", lambda w, col: w.c.opportunity.SearchOpportunities(
            O.SearchOpportunitiesRequest(skills=["sql"], sort=O.OPPORTUNITY_SORT_MATCH), metadata=w.md[col]), ALL),
        Row("opportunity.ChangeRequirements", opp_call("ChangeRequirements", O.ChangeRequirementsRequest, "main",
                                                       {"requirements": requirements}), allow(O1=OK, HR=OK)),
        Row("opportunity.ApproveOpportunity", opp_call("ApproveOpportunity", O.ApproveOpportunityRequest, "approve",
                                                       HR="approve-hr"), allow(M1=OK, HR=OK)),
        Row("opportunity.RejectOpportunity", opp_call("RejectOpportunity", O.RejectOpportunityRequest, "reject",
                                                      HR="reject-hr"), allow(M1=OK, HR=OK)),
        Row("opportunity.CloseOpportunity", opp_call("CloseOpportunity", O.CloseOpportunityRequest, "close",
                                                     {"outcome": "cancelled"}, HR="close-hr"), allow(O1=OK, HR=OK)),
        Row("opportunity.Apply(as self)", opp_call("Apply", O.ApplyRequest, "apply"),
            allow(OK, O1=Code.FAILED_PRECONDITION)),  # owners cannot apply to their own opportunity
        Row("opportunity.Apply(for E1)", lambda w, col: w.c.opportunity.Apply(O.ApplyRequest(
            opportunity_id=w.opp["apply"], employee_id=w["E1"]), metadata=w.md[col]), allow(E1=OK, HR=OK)),
        Row("opportunity.GetApplication(E1's)", app_call("GetApplication", O.GetApplicationRequest, default="main"),
            allow(E1=OK, M1=OK, O1=OK, HR=OK)),
        Row("opportunity.GetApplicantAssessment(E1's)", app_call(
            "GetApplicantAssessment", O.GetApplicantAssessmentRequest, default="main"), allow(O1=OK, HR=OK)),
        Row("opportunity.GetApplicantAssessment(none by E2)", lambda w, col: w.c.opportunity.GetApplicantAssessment(
            O.GetApplicantAssessmentRequest(application_id=f"{w.opp['shortlist']}:{w['E2']}"), metadata=w.md[col]),
            allow(E2=Code.NOT_FOUND, O1=Code.NOT_FOUND, HR=Code.NOT_FOUND)),
        Row("opportunity.WithdrawApplication", app_call("WithdrawApplication", O.WithdrawApplicationRequest,
                                                        default="withdraw", HR="withdraw-hr"), allow(E1=OK, HR=OK)),
        Row("opportunity.ShortlistApplication", app_call("ShortlistApplication", O.ShortlistApplicationRequest,
                                                         default="shortlist"), allow(O1=OK, HR=OK)),
        Row("opportunity.AcceptApplication", app_call("AcceptApplication", O.AcceptApplicationRequest,
                                                      default="accept", HR="accept-hr"), allow(O1=OK, HR=OK)),
        Row("opportunity.DeclineApplication", app_call("DeclineApplication", O.DeclineApplicationRequest,
                                                       default="decline", HR="decline-hr"), allow(O1=OK, HR=OK)),
        Row("opportunity.ApproveTimeRelease", app_call("ApproveTimeRelease", O.ApproveTimeReleaseRequest,
                                                       default="release", HR="release-hr"), allow(M1=OK, HR=OK)),
        Row("opportunity.RefuseTimeRelease", app_call("RefuseTimeRelease", O.RefuseTimeReleaseRequest,
                                                      default="refuse", HR="refuse-hr"), allow(M1=OK, HR=OK)),
        Row("opportunity.CompleteAssignment", lambda w, col: w.c.opportunity.CompleteAssignment(
            O.CompleteAssignmentRequest(application_id=w.app[per(col, "complete", HR="complete-hr")],
                                        feedback=feedback), metadata=w.md[col]), allow(O1=OK, HR=OK)),
        # application ids are "<opportunity>:<employee>": to anyone but its parties a missing application
        # must look like an existing one (PERMISSION_DENIED), or NOT_FOUND would tell who applied where
        Row("opportunity.GetApplication(none by E2)", lambda w, col: w.c.opportunity.GetApplication(
            O.GetApplicationRequest(application_id=f"{w.opp['shortlist']}:{w['E2']}"), metadata=w.md[col]),
            allow(E2=Code.NOT_FOUND, O1=Code.NOT_FOUND, HR=Code.NOT_FOUND)),
        Row("opportunity.WithdrawApplication(none by E2)", lambda w, col: w.c.opportunity.WithdrawApplication(
            O.WithdrawApplicationRequest(application_id=f"{w.opp['shortlist']}:{w['E2']}"), metadata=w.md[col]),
            allow(E2=Code.NOT_FOUND, O1=Code.NOT_FOUND, HR=Code.NOT_FOUND)),
        Row("opportunity.ApproveTimeRelease(none by E2)", lambda w, col: w.c.opportunity.ApproveTimeRelease(
            O.ApproveTimeReleaseRequest(application_id=f"{w.opp['shortlist']}:{w['E2']}"), metadata=w.md[col]),
            allow(M2=Code.NOT_FOUND, HR=Code.NOT_FOUND)),
        Row("opportunity.WithdrawApplication(E1's, stale version)", lambda w, col: w.c.opportunity.WithdrawApplication(
            O.WithdrawApplicationRequest(application_id=w.app["shortlist"], expected_version=999), metadata=w.md[col]),
            allow(E1=Code.ABORTED, O1=Code.ABORTED, HR=Code.ABORTED)),  # the version is told to its parties only
        Row("opportunity.ListApplications(opportunity)", lambda w, col: w.c.opportunity.ListApplications(
            O.ListApplicationsRequest(opportunity_id=w.opp["main"]), metadata=w.md[col]), allow(O1=OK, HR=OK)),
        Row("opportunity.ListApplications(employee E1)", lambda w, col: w.c.opportunity.ListApplications(
            O.ListApplicationsRequest(employee_id=w["E1"]), metadata=w.md[col]), allow(E1=OK, HR=OK)),
        Row("opportunity.ListApplications(releases for M1)", lambda w, col: w.c.opportunity.ListApplications(
            O.ListApplicationsRequest(release_approver_id=w["M1"]), metadata=w.md[col]), allow(M1=OK, HR=OK)),
        Row("opportunity.Replay", lambda w, col: w.c.opportunity.Replay(common_pb2.ReplayRequest(),
                                                                        metadata=w.md[col]), allow(HR=OK)),
    ]


def learning_rows() -> list[Row]:
    def course(w, key="main"):
        return w.course[key]

    return [
        Row("learning.PublishCourse", lambda w, col: w.c.learning.PublishCourse(L.PublishCourseRequest(
            course_id=course(w), title="SQL basics", hours=3, format="online", provider="Academy",
            teaches=[L.CourseSkillInput(skill="sql", level=3)]), metadata=w.md[col]), allow(HR=OK)),
        Row("learning.GetCourse", lambda w, col: w.c.learning.GetCourse(L.GetCourseRequest(course_id=course(w)),
                                                                        metadata=w.md[col]), ALL),
        Row("learning.ListCourses", lambda w, col: w.c.learning.ListCourses(L.ListCoursesRequest(),
                                                                            metadata=w.md[col]), ALL),
        Row("learning.FindCourses", lambda w, col: w.c.learning.FindCourses(L.FindCoursesRequest(skill="sql"),
                                                                            metadata=w.md[col]), ALL),
        Row("learning.RetireCourse", lambda w, col: w.c.learning.RetireCourse(L.RetireCourseRequest(
            course_id=course(w, "retire")), metadata=w.md[col]), allow(HR=OK)),
        Row("learning.Enroll(E1)", lambda w, col: w.c.learning.Enroll(L.EnrollRequest(
            employee_id=w["E1"], course_id=course(w)), metadata=w.md[col]), allow(E1=OK, HR=OK)),
        Row("learning.CompleteCourse(E1)", lambda w, col: w.c.learning.CompleteCourse(L.CompleteCourseRequest(
            employee_id=w["E1"], course_id=course(w)), metadata=w.md[col]), allow(HR=OK)),  # the LMS or HR records it
        Row("learning.GetEnrollment(E1)", lambda w, col: w.c.learning.GetEnrollment(L.GetEnrollmentRequest(
            employee_id=w["E1"], course_id=course(w)), metadata=w.md[col]), allow(E1=OK, HR=OK)),
        Row("learning.ListEnrollments(E1)", lambda w, col: w.c.learning.ListEnrollments(L.ListEnrollmentsRequest(
            employee_id=w["E1"]), metadata=w.md[col]), allow(E1=OK, HR=OK)),
        Row("learning.Replay", lambda w, col: w.c.learning.Replay(common_pb2.ReplayRequest(), metadata=w.md[col]),
            allow(HR=OK)),
    ]


def notifier_rows() -> list[Row]:
    return [
        Row("notifier.Subscribe(E1)", lambda w, col: first_message(w.c.notifier.Subscribe(
            N.SubscribeRequest(employee_id=w["E1"]), metadata=w.md[col])), allow(E1=OK, HR=OK)),
        Row("notifier.ListInbox(E1)", lambda w, col: w.c.notifier.ListInbox(N.ListInboxRequest(
            employee_id=w["E1"]), metadata=w.md[col]), allow(E1=OK, HR=OK)),
        Row("notifier.MarkRead(E1)", lambda w, col: w.c.notifier.MarkRead(N.MarkReadRequest(
            employee_id=w["E1"], notification_ids=[w.note_id]), metadata=w.md[col]), allow(E1=OK, HR=OK)),
        Row("notifier.GetPreferences(E1)", lambda w, col: w.c.notifier.GetPreferences(
            N.GetNotificationPreferencesRequest(employee_id=w["E1"]), metadata=w.md[col]), allow(E1=OK, HR=OK)),
        Row("notifier.SetPreferences(E1)", lambda w, col: w.c.notifier.SetPreferences(
            N.SetNotificationPreferencesRequest(employee_id=w["E1"], preferences=N.NotificationPreferences()),
            metadata=w.md[col]), allow(E1=OK, HR=OK)),
    ]


def matcher_rows() -> list[Row]:
    return [
        Row("matcher.MyMatches(E1)", lambda w, col: w.c.matcher.MyMatches(M.MyMatchesRequest(
            employee_id=w["E1"]), metadata=w.md[col], timeout=10), allow(E1=OK, HR=OK)),
        Row("matcher.BestCandidates(O1's opportunity)", lambda w, col: w.c.matcher.BestCandidates(
            M.BestCandidatesRequest(opportunity_id=w.opp["main"]), metadata=w.md[col], timeout=10),
            allow(O1=OK, HR=OK)),
        Row("matcher.ScoreOpportunities(E1)", lambda w, col: w.c.matcher.ScoreOpportunities(
            M.ScoreOpportunitiesRequest(employee_id=w["E1"], opportunity_ids=[w.opp["main"]], explain=True),
            metadata=w.md[col], timeout=10), allow(E1=OK, HR=OK)),
    ]


def taxonomy_rows() -> list[Row]:
    return [
        Row("taxonomy.SearchSkills", lambda w, col: w.c.taxonomy.SearchSkills(T.SearchSkillsRequest(
            query="sql"), metadata=w.md[col]), ALL),
        Row("taxonomy.ListSkills, GetSkill, ListSkillCategories", lambda w, col: asyncio.gather(
            w.c.taxonomy.ListSkills(T.ListSkillsRequest(), metadata=w.md[col]),
            w.c.taxonomy.GetSkill(T.GetSkillRequest(skill="sql"), metadata=w.md[col]),
            w.c.taxonomy.ListSkillCategories(T.ListSkillCategoriesRequest(), metadata=w.md[col])), ALL),
    ]


def report_rows() -> list[Row]:
    """ReportService, served by every process: HR admins only (the console's HR pages)."""

    def reports(w, name):
        return reports_pb2_grpc.ReportServiceStub(w.c.channels[name])

    return [
        Row("reports.GetKpiPeriod (every service)", lambda w, col: asyncio.gather(*(
            reports(w, name).GetKpiPeriod(R.GetKpiPeriodRequest(since="2026-01-01", until="2026-01-31"),
                                          metadata=w.md[col]) for name in sorted(w.c.channels))), allow(HR=OK)),
        Row("reports.ListAuditRecords", lambda w, col: reports(w, "profile").ListAuditRecords(
            R.ListAuditRecordsRequest(page_size=5), metadata=w.md[col]), allow(HR=OK)),
    ]


def webhook_rows() -> list[Row]:
    """WebhookService: HR admins only, not even services (where events leave the company)."""
    unknown = "wh-000000000000"
    return [
        Row("webhooks.CreateSubscription", lambda w, col: w.c.webhooks.CreateSubscription(W.CreateSubscriptionRequest(
            topics=["learning.course-published"], url="http://127.0.0.1:9/authz"), metadata=w.md[col]),
            allow(HR=OK)),
        Row("webhooks.ListSubscriptions", lambda w, col: w.c.webhooks.ListSubscriptions(
            W.ListSubscriptionsRequest(), metadata=w.md[col]), allow(HR=OK)),
        Row("webhooks.Get/Pause/Resume/DeleteSubscription, ListDeadLetters, ReplayDeadLetters, RotateSecret (unknown id)",
            lambda w, col: asyncio.gather(
                w.c.webhooks.GetSubscription(W.GetSubscriptionRequest(subscription_id=unknown), metadata=w.md[col]),
                w.c.webhooks.PauseSubscription(W.PauseSubscriptionRequest(subscription_id=unknown),
                                               metadata=w.md[col]),
                w.c.webhooks.ResumeSubscription(W.ResumeSubscriptionRequest(subscription_id=unknown),
                                                metadata=w.md[col]),
                w.c.webhooks.DeleteSubscription(W.DeleteSubscriptionRequest(subscription_id=unknown),
                                                metadata=w.md[col]),
                w.c.webhooks.ListDeadLetters(W.ListDeadLettersRequest(subscription_id=unknown), metadata=w.md[col]),
                w.c.webhooks.ReplayDeadLetters(W.ReplayDeadLettersRequest(subscription_id=unknown),
                                               metadata=w.md[col]),
                w.c.webhooks.RotateSecret(W.RotateSecretRequest(subscription_id=unknown), metadata=w.md[col])),
            allow(HR=Code.NOT_FOUND)),
    ]


ROWS = (profile_rows() + taxonomy_rows() + opportunity_rows() + learning_rows() + notifier_rows() + matcher_rows()
        + report_rows() + webhook_rows())


def order(expect: dict[str, object]) -> list[str]:
    """Bad tokens and denials first (they must meet the seeded state), then the allowed cells."""
    refused = BAD_TOKENS + [p for p in PEOPLE if expect[p] == DENIED]
    return refused + [p for p in PEOPLE if expect[p] != DENIED]


async def outcome(call) -> tuple[Code, str]:
    try:
        await call
        return OK, ""
    except grpc.aio.AioRpcError as exc:
        return exc.code(), exc.details() or ""


def check_refusal(w: World, cell: str, code, details: str, expected) -> list[str]:
    problems = []
    if expected == UNAUTH:
        leaked = [s for s in w.secrets() if s.lower() in details.lower()]
        if leaked:
            problems.append(f"{cell}: the {code} message leaks {leaked}: {details!r}")
    if expected in (UNAUTH, DENIED) and (E1_NAME in details or E1_ASPIRATION in details):
        problems.append(f"{cell}: the {code} message leaks E1's profile: {details!r}")
    return problems


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
async def test_rpc_authorization_table(world, row: Row):
    w = world
    expected = {**row.expect, **{b: UNAUTH for b in BAD_TOKENS}}
    problems = []
    for col in order(expected):
        code, details = await outcome(row.call(w, col))
        if code != expected[col]:
            problems.append(f"{col}: expected {expected[col].name}, got {code.name}: {details}")
        problems += check_refusal(w, col, code.name, details, expected[col])
    assert not problems, f"{row.name}\n  " + "\n  ".join(problems)


# --------------------------------------------------------------------------- what the allowed see


async def test_answers_show_each_caller_only_what_they_may_see(world):
    """GetEmployee and the writes of managers and peers answer with the views the table allows:
    the manager never sees aspirations E1 hid, a peer endorsing sees neither name nor other skills,
    and the owner's best candidates leave out those who opted out of matching."""
    w = world
    e1 = w["E1"]
    own = await w.c.profile.GetEmployee(P.GetEmployeeRequest(employee_id=e1), metadata=w.md["E1"])
    assert own.name == E1_NAME and E1_ASPIRATION in own.career_aspirations
    assert any(r.skill.status == ASPIRATIONAL for r in own.skills)
    for view in (await w.c.profile.GetEmployee(P.GetEmployeeRequest(employee_id=e1), metadata=w.md["M1"]),
                 await w.c.profile.VerifySkill(P.VerifySkillRequest(employee_id=e1, skill="python", level=2,
                                                                    source=MANAGER), metadata=w.md["M1"])):
        assert not view.career_aspirations and all(r.skill.status != ASPIRATIONAL for r in view.skills), view
        assert {"sql", "python"} <= {r.skill.skill_id for r in view.skills}
    for col in ("M2", "M1e"):  # a peer, and the manager of record without the manager role: the peer view
        endorsed = await w.c.profile.EndorseSkill(P.EndorseSkillRequest(employee_id=e1, skill="python"),
                                                  metadata=w.md[col])
        assert endorsed.employee_id == e1 and endorsed.version > 0
        assert [r.skill.skill_id for r in endorsed.skills] == ["python"], col
        assert not endorsed.name and not endorsed.career_aspirations and not endorsed.manager_id, col
    hr_view = await w.c.profile.EndorseSkill(P.EndorseSkillRequest(employee_id=e1, skill="python",
                                                                   endorser_id=w["O1"]), metadata=w.md["HR"])
    assert hr_view.name == E1_NAME  # HR admins see the whole profile

    best = await w.c.matcher.BestCandidates(M.BestCandidatesRequest(opportunity_id=w.opp["main"], limit=100),
                                            metadata=w.md["O1"], timeout=10)
    listed = {m.employee_id for m in best.matches}
    assert {e1, w["M2"]} <= listed, listed
    assert w["E2"] not in listed, "E2 opted out of matching and must not be offered to owners"


async def test_service_identity_is_privileged_except_for_consent_erasure_the_hris_import_and_webhooks(world):
    w, svc = world, world.md["SVC"]
    for call in (w.c.profile.Replay(common_pb2.ReplayRequest(), metadata=svc),
                 w.c.opportunity.Replay(common_pb2.ReplayRequest(), metadata=svc),
                 w.c.learning.Replay(common_pb2.ReplayRequest(), metadata=svc),
                 w.c.learning.CompleteCourse(L.CompleteCourseRequest(employee_id=w["E1"],
                                                                     course_id=w.course["main"]), metadata=svc)):
        assert (await outcome(call))[0] == OK
    for call in (w.c.profile.SetVisibility(P.SetVisibilityRequest(employee_id=w["E1"]), metadata=svc),
                 w.c.profile.EraseEmployee(P.EraseEmployeeRequest(employee_id=w["E1"]), metadata=svc),
                 w.c.profile.ImportEmployees(P.ImportEmployeesRequest(csv="employee_id,name\nX,Y\n", dry_run=True),
                                             metadata=svc),
                 w.c.webhooks.ListSubscriptions(W.ListSubscriptionsRequest(), metadata=svc)):
        assert (await outcome(call))[0] == DENIED


# --------------------------------------------------------------------------- HTTP


async def http_status(url: str, token: str) -> tuple[int, str, dict]:
    """Status, body (unless 200: an event stream does not end) and headers of a GET."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=10)) as resp:
            body = await resp.text() if resp.status != 200 else ""
            return resp.status, body, dict(resp.headers)


def sse_url(proc: ServiceProcess, employee_id: str) -> str:
    return f"{proc.http_url}/v1/employees/{employee_id}/notifications/stream"


async def test_sse_stream_authorization(world):
    w = world
    url = sse_url(w.stack.procs["notifier"], w["E1"])
    expected = {**allow(403, E1=200, HR=200), **{b: 401 for b in BAD_TOKENS}}
    problems = []
    for col in order({k: (DENIED if v == 403 else v) for k, v in expected.items()}):
        status, body, _ = await http_status(url, w.token[col])
        if status != expected[col]:
            problems.append(f"{col}: expected {expected[col]}, got {status}: {body}")
        if status == 401:
            problems += check_refusal(w, col, "401", body, UNAUTH)
    assert not problems, "\n".join(problems)
    # the token may also come as ?access_token= (browsers' EventSource cannot set headers)
    assert (await http_status(f"{url}?access_token={w.token['E1']}", ""))[0] == 200
    assert (await http_status(f"{url}?access_token={w.token['EXPIRED']}", ""))[0] == 401


async def test_metrics_and_healthz_are_public_on_every_service(world):
    for name, proc in world.stack.procs.items():
        for path in ("/metrics", "/healthz"):
            for token in ("", world.token["EXPIRED"]):
                status, body, _ = await http_status(proc.http_url + path, token)
                assert status == 200, f"{name}{path}: {status} {body[:200]}"


async def test_health_checks_need_no_token(world):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    for name, proc in world.stack.procs.items():
        async with grpc.aio.insecure_channel(proc.grpc_target) as channel:
            answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING, name


async def test_new_sse_connections_are_rate_limited_per_identity(world):
    w = world
    proc = w.limited_notifier
    url = sse_url(proc, w["E1"])
    for _ in range(SSE_BURST):
        assert (await http_status(url, w.token["E1"]))[0] == 200
    status, body, headers = await http_status(url, w.token["E1"])
    assert status == 429, body
    assert 1 <= int(headers["Retry-After"]) <= 20 and "retry in" in body
    # the budget is the caller's: another identity still connects; bad tokens are refused before it
    assert (await http_status(sse_url(proc, w["E2"]), w.token["E2"]))[0] == 200
    assert (await http_status(url, w.token["WRONG_KEY"]))[0] == 401
    # gRPC calls have a bucket of their own
    ok = await outcome(w.c.notifier.ListInbox(N.ListInboxRequest(employee_id=w["E1"]), metadata=w.md["E1"]))
    assert ok[0] == OK
    status, _, _ = await http_status(f"{proc.http_url}/metrics", "")
    assert status == 200


# --------------------------------------------------------------------------- erasure (destructive: last)


async def test_erasure_authorization(world):
    """Last: E1 erases themself. HR erases a colleague of their own; the others may not erase E1."""
    w = world
    victim = w.new_id("leaver")
    await w.c.profile.CreateEmployee(P.CreateEmployeeRequest(employee_id=victim, name="Leaver"), metadata=w.md["HR"])
    expected = {**allow(E1=OK, HR=OK), **{b: UNAUTH for b in BAD_TOKENS}}
    problems = []
    for col in order(expected):
        target = victim if col == "HR" else w["E1"]
        code, details = await outcome(w.c.profile.EraseEmployee(P.EraseEmployeeRequest(employee_id=target),
                                                                metadata=w.md[col]))
        if code != expected[col]:
            problems.append(f"{col}: expected {expected[col].name}, got {code.name}: {details}")
        problems += check_refusal(w, col, code.name, details, expected[col])
    assert not problems, "\n".join(problems)
    tombstones = await w.stack.log.wait_for("profile.employee-erased", w["E1"])
    assert tombstones[0].payload.employee_id == w["E1"]
