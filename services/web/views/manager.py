"""The manager's pages (issue 11 item 3): the approval queue and the team.

* ``/manager/approvals``: postings of the manager's reports above the hours
  threshold (``ListOpportunities(approver_id=me)``) to approve or reject, and the
  time releases waiting for them (``ListApplications(release_approver_id=me)``
  with each report's budget: the cap, what is already released, what remains);
* ``/manager/team``: each report (``ListEmployees(manager_id=me)``, the manager
  view) with their skills, their current gigs and the hours released
  (``GetTimeReleaseBudget``), and a form to verify a claimed skill.

Manager accounts only (anyone else: 403). Every call is the manager's own: the
services decide what they may see and do.
"""

from __future__ import annotations

import asyncio

import grpc
from aiohttp import web

from itm.v1 import common_pb2, opportunity_pb2, profile_pb2
from services.web.clients import api
from services.web.render import FORM_ERROR, add_nav, field_errors, render
from services.web.session import require
from services.web.views.shared import form_int, install_filters, names_of, skill_names

MANAGER = ("manager",)


async def _opportunities(request: web.Request, ids) -> dict[str, opportunity_pb2.Opportunity]:
    stub = api(request).opportunity

    async def one(opp_id: str):
        try:
            return opp_id, await stub.GetOpportunity(opportunity_pb2.GetOpportunityRequest(opportunity_id=opp_id))
        except grpc.aio.AioRpcError:
            return opp_id, None

    return {k: v for k, v in await asyncio.gather(*(one(i) for i in sorted(set(ids)))) if v is not None}


async def approvals(request: web.Request, errors: dict | None = None, status: int = 200) -> web.Response:
    me = require(request, *MANAGER)
    client = api(request)
    postings, releases = await asyncio.gather(
        client.opportunity.ListOpportunities(opportunity_pb2.ListOpportunitiesRequest(approver_id=me.subject,
                                                                                      page_size=200)),
        client.opportunity.ListApplications(opportunity_pb2.ListApplicationsRequest(release_approver_id=me.subject,
                                                                                    page_size=200)))
    opps = await _opportunities(request, [a.opportunity_id for a in releases.applications])
    people = await names_of(request, [o.owner_id for o in postings.opportunities]
                            + [a.employee_id for a in releases.applications])
    await skill_names(request, [r.skill_id for o in postings.opportunities for r in o.requirements])
    rows = []
    for i, app in enumerate(releases.applications):
        budget = releases.release_budgets[i] if i < len(releases.release_budgets) else None
        fits = budget is not None and not budget.unavailable_reason and \
            app.hours_per_week <= budget.remaining_hours_per_week + 1e-9
        rows.append({"app": app, "opp": opps.get(app.opportunity_id), "budget": budget, "fits": fits,
                     "after": (budget.released_hours_per_week + app.hours_per_week) if budget else 0})
    return render(request, "manager_approvals.html", {
        "title": "Approvals", "postings": postings.opportunities, "releases": rows, "people": people,
        "errors": errors or {}}, status=status)


async def _act(request: web.Request, call, ok_message: str) -> web.StreamResponse:
    try:
        await call
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
                          grpc.StatusCode.ABORTED, grpc.StatusCode.OUT_OF_RANGE):
            key = request.match_info.get("opp_id") or request.match_info.get("app_id")
            return await approvals(request, {key: field_errors(err, ["reason"]).get("reason")
                                             or field_errors(err, [])[FORM_ERROR]}, status=409)
        raise
    raise web.HTTPSeeOther(f"/manager/approvals?done={ok_message}")


async def approve_posting(request: web.Request) -> web.StreamResponse:
    require(request, *MANAGER)
    form = await request.post()
    return await _act(request, api(request).opportunity.ApproveOpportunity(opportunity_pb2.ApproveOpportunityRequest(
        opportunity_id=request.match_info["opp_id"], expected_version=form_int(form, "version"))), "posting-approved")


async def reject_posting(request: web.Request) -> web.StreamResponse:
    require(request, *MANAGER)
    form = await request.post()
    return await _act(request, api(request).opportunity.RejectOpportunity(opportunity_pb2.RejectOpportunityRequest(
        opportunity_id=request.match_info["opp_id"], expected_version=form_int(form, "version"),
        reason=str(form.get("reason", "")).strip())), "posting-rejected")


async def approve_release(request: web.Request) -> web.StreamResponse:
    require(request, *MANAGER)
    form = await request.post()
    return await _act(request, api(request).opportunity.ApproveTimeRelease(opportunity_pb2.ApproveTimeReleaseRequest(
        application_id=request.match_info["app_id"], expected_version=form_int(form, "version"))), "time-released")


async def refuse_release(request: web.Request) -> web.StreamResponse:
    require(request, *MANAGER)
    form = await request.post()
    return await _act(request, api(request).opportunity.RefuseTimeRelease(opportunity_pb2.RefuseTimeReleaseRequest(
        application_id=request.match_info["app_id"], expected_version=form_int(form, "version"),
        reason=str(form.get("reason", "")).strip())), "release-refused")


async def team(request: web.Request, errors: dict | None = None, form: dict | None = None,
               status: int = 200) -> web.Response:
    me = require(request, *MANAGER)
    client = api(request)
    reports, token = [], ""
    while True:
        page = await client.profile.ListEmployees(profile_pb2.ListEmployeesRequest(manager_id=me.subject,
                                                                                   page_size=200, page_token=token))
        reports += [e for e in page.employees if e.employee_id != me.subject]
        token = page.next_page_token
        if not token:
            break

    async def budget(emp_id: str):
        try:
            return emp_id, await client.opportunity.GetTimeReleaseBudget(
                opportunity_pb2.GetTimeReleaseBudgetRequest(employee_id=emp_id))
        except grpc.aio.AioRpcError:
            return emp_id, None

    budgets = dict(await asyncio.gather(*(budget(e.employee_id) for e in reports)))
    gig_ids = [a.application_id.split(":", 1)[0] for b in budgets.values() if b for a in b.assignments]
    opps = await _opportunities(request, gig_ids)
    await skill_names(request, [r.skill.skill_id for e in reports for r in e.skills])
    members = []
    for emp in sorted(reports, key=lambda e: e.name.lower()):
        b = budgets.get(emp.employee_id)
        gigs = [{"opp": opps.get(a.application_id.split(":", 1)[0]), "hours": a.hours_per_week,
                 "opportunity_id": a.application_id.split(":", 1)[0]} for a in (b.assignments if b else [])]
        skills = sorted(emp.skills, key=lambda s: (-s.skill.status, s.skill.skill_id))
        verifiable = [s for s in emp.skills if s.skill.status in (common_pb2.SKILL_STATUS_CLAIMED,
                                                                  common_pb2.SKILL_STATUS_INFERRED)]
        members.append({"emp": emp, "budget": b, "gigs": gigs, "skills": skills, "verifiable": verifiable})
    return render(request, "manager_team.html", {"title": "My team", "members": members, "errors": errors or {},
                                                 "form": form or {}}, status=status)


async def verify_skill(request: web.Request) -> web.StreamResponse:
    require(request, *MANAGER)
    emp_id = request.match_info["emp_id"]
    form = await request.post()
    typed = {"skill": str(form.get("skill", "")).strip(), "level": form_int(form, "level")}
    try:
        await api(request).profile.VerifySkill(profile_pb2.VerifySkillRequest(
            employee_id=emp_id, expected_version=form_int(form, "version"), skill=typed["skill"],
            level=typed["level"], source=common_pb2.EVIDENCE_SOURCE_MANAGER))
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
                          grpc.StatusCode.ABORTED, grpc.StatusCode.NOT_FOUND):
            return await team(request, {emp_id: field_errors(err, ["skill", "level"])}, {emp_id: typed}, status=400)
        raise
    raise web.HTTPSeeOther(f"/manager/team?verified={emp_id}#member-{emp_id}")


def routes(app: web.Application) -> None:
    install_filters(app)
    app.router.add_get("/manager/approvals", approvals, name="manager-approvals")
    app.router.add_post("/manager/postings/{opp_id}/approve", approve_posting)
    app.router.add_post("/manager/postings/{opp_id}/reject", reject_posting)
    app.router.add_post("/manager/releases/{app_id}/approve", approve_release)
    app.router.add_post("/manager/releases/{app_id}/refuse", refuse_release)
    app.router.add_get("/manager/team", team, name="manager-team")
    app.router.add_post("/manager/team/{emp_id}/verify", verify_skill)
    add_nav(app, "Approvals", "/manager/approvals", MANAGER, order=60)
    add_nav(app, "My team", "/manager/team", MANAGER, order=61)
