"""The opportunity owner's pages (issue 11 item 4). Owning is a fact, not a role: any signed-in person.

* ``/owner``: my postings in every state (``ListOpportunities(owner_id=me)``);
* ``/owner/new``: post any of the six types with requirements (skill with the
  taxonomy's autocomplete, level, weight, must-have), hours, seats and a deadline;
* ``/owner/opportunities/{id}``: edit the requirements (``ChangeRequirements``),
  the best candidates with their scores (``BestCandidates``: employees who hid
  themselves from owners or opted out are not there), the applications pipeline
  with each applicant's assessment (``ListApplications`` by opportunity: score,
  credit per requirement, their skills), shortlist / accept / decline, complete
  an assignment with per-skill feedback, close the posting.

A service's refusal is shown next to the field it names, with what was typed kept.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, time as dtime

import grpc
from aiohttp import web
from google.protobuf.timestamp_pb2 import Timestamp

from itm.v1 import common_pb2, matcher_pb2, opportunity_pb2
from services.web.clients import api
from services.web.render import FORM_ERROR, add_nav, field_errors, render
from services.web.session import require
from services.web.views.shared import (
    APP_STATUS, TYPE_BY_FORM, TYPES, form_float, form_int, install_filters, names_of, skill_names,
)

PEOPLE = ("employee", "manager", "hr_admin")
MIN_ROWS = 4
MAX_ROWS = 20
POST_FIELDS = {"title": "title", "type": "type", "hours_per_week": "hours_per_week",
               "duration_weeks": "duration_weeks", "seats": "seats", "department": "department",
               "location": "location", "description": "description", "apply_by": "apply_by",
               "requirements": "req-0-skill"}
CORRECTABLE = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ABORTED,
               grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.NOT_FOUND)
PIPELINE = [  # (column title, statuses)
    ("Applied", (common_pb2.APPLICATION_STATUS_SUBMITTED,)),
    ("Shortlisted", (common_pb2.APPLICATION_STATUS_SHORTLISTED,)),
    ("Accepted", (common_pb2.APPLICATION_STATUS_ACCEPTED,)),
    ("Completed", (common_pb2.APPLICATION_STATUS_COMPLETED,)),
    ("Declined or withdrawn", (common_pb2.APPLICATION_STATUS_DECLINED, common_pb2.APPLICATION_STATUS_WITHDRAWN)),
]


# --------------------------------------------------------------------------- requirements in forms


def requirement_rows(form) -> list[dict]:
    """The requirement rows as typed (blank rows kept, so the form shows them again)."""
    count = min(max(form_int(form, "rows", MIN_ROWS), 1), MAX_ROWS)
    rows = []
    for i in range(count):
        rows.append({"skill": str(form.get(f"req-{i}-skill", "")).strip(),
                     "level": form_int(form, f"req-{i}-level", 3),
                     "weight": str(form.get(f"req-{i}-weight", "")).strip() or "1",
                     "must": bool(form.get(f"req-{i}-must"))})
    return rows


def requirement_inputs(rows: list[dict]) -> tuple[list[opportunity_pb2.RequirementInput], dict[str, str]]:
    """The filled rows as the API takes them, and each API field name -> the form field showing it."""
    inputs, fields = [], {}
    for i, row in enumerate(rows):
        if not row["skill"]:
            continue
        k = len(inputs)
        try:
            weight = float(row["weight"].replace(",", "."))
        except ValueError:
            weight = -1.0  # the service says what a weight must be, next to this field
        inputs.append(opportunity_pb2.RequirementInput(skill=row["skill"], min_level=row["level"], weight=weight,
                                                       must_have=row["must"]))
        fields[f"requirements[{k}].skill"] = f"req-{i}-skill"
        fields[f"requirements[{k}].min_level"] = f"req-{i}-level"
        fields[f"requirements[{k}].weight"] = f"req-{i}-weight"
        fields[f"requirements[{k}]"] = f"req-{i}-skill"
    return inputs, fields


def rows_of(opp: opportunity_pb2.Opportunity) -> list[dict]:
    rows = [{"skill": r.skill_id, "level": r.min_level, "weight": f"{r.weight:g}", "must": r.must_have}
            for r in opp.requirements]
    return rows + [{"skill": "", "level": 3, "weight": "1", "must": False}] * max(1, MIN_ROWS - len(rows))


def _deadline(value: str) -> Timestamp | None:
    """A date (YYYY-MM-DD) is the end of that day, UTC; empty = no deadline."""
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise ValueError("apply_by must be a date (YYYY-MM-DD)") from None
    ts = Timestamp()
    ts.FromDatetime(datetime.combine(day, dtime(23, 59, 59), tzinfo=UTC))
    return ts


# --------------------------------------------------------------------------- my postings


async def my_postings(request: web.Request) -> web.Response:
    me = require(request, *PEOPLE)
    client = api(request)
    found = await client.opportunity.ListOpportunities(opportunity_pb2.ListOpportunitiesRequest(
        owner_id=me.subject, page_size=100))

    async def count(opp):
        try:
            apps = await client.opportunity.ListApplications(opportunity_pb2.ListApplicationsRequest(
                opportunity_id=opp.opportunity_id, page_size=200))
            return opp.opportunity_id, len(apps.applications)
        except grpc.aio.AioRpcError:
            return opp.opportunity_id, None

    counts = dict(await asyncio.gather(*(count(o) for o in found.opportunities)))
    return render(request, "owner_postings.html", {"title": "My postings", "postings": found.opportunities,
                                                   "counts": counts})


async def new_posting(request: web.Request, errors: dict | None = None, form: dict | None = None,
                      rows: list | None = None, status: int = 200) -> web.Response:
    require(request, *PEOPLE)
    form = form or {"type": "gig", "hours_per_week": "4", "duration_weeks": "4", "seats": "1",
                    "request_id": uuid.uuid4().hex}
    rows = rows or [{"skill": "", "level": 3, "weight": "1", "must": False} for _ in range(MIN_ROWS)]
    return render(request, "owner_new.html", {"title": "Post an opportunity", "form": form, "rows": rows,
                                              "errors": errors or {}, "types": TYPES}, status=status)


async def create_posting(request: web.Request) -> web.StreamResponse:
    require(request, *PEOPLE)
    posted = await request.post()
    form = {k: str(posted.get(k, "")).strip() for k in ("title", "type", "hours_per_week", "duration_weeks", "seats",
                                                       "department", "location", "description", "apply_by",
                                                       "request_id")}
    form["remote"] = bool(posted.get("remote"))
    rows = requirement_rows(posted)
    inputs, req_fields = requirement_inputs(rows)
    errors: dict[str, str] = {}
    if form["type"] not in TYPE_BY_FORM:
        errors["type"] = "choose what kind of opportunity this is"
    try:
        deadline = _deadline(form["apply_by"])
    except ValueError as exc:
        errors["apply_by"], deadline = str(exc), None
    if not inputs:
        errors["req-0-skill"] = "add at least one required skill"
    if errors:
        return await new_posting(request, errors, form, rows, status=400)
    req = opportunity_pb2.PostOpportunityRequest(
        request_id=form["request_id"], title=form["title"], type=TYPE_BY_FORM[form["type"]],
        hours_per_week=form_float(posted, "hours_per_week"), duration_weeks=form_int(posted, "duration_weeks"),
        seats=form_int(posted, "seats", 1), department=form["department"], location=form["location"],
        remote=form["remote"], description=form["description"], requirements=inputs)
    if deadline is not None:
        req.apply_by.CopyFrom(deadline)
    try:
        opp = await api(request).opportunity.PostOpportunity(req)
    except grpc.aio.AioRpcError as err:
        if err.code() not in CORRECTABLE:
            raise
        return await new_posting(request, field_errors(err, {**req_fields, **POST_FIELDS}), form, rows, status=400)
    raise web.HTTPSeeOther(f"/owner/opportunities/{opp.opportunity_id}?posted=1")


# --------------------------------------------------------------------------- one posting


async def manage(request: web.Request, errors: dict | None = None, rows: list | None = None,
                 feedback_form: dict | None = None, status: int = 200, opp_id: str = "") -> web.Response:
    me = require(request, *PEOPLE)
    opp_id = opp_id or request.match_info["opp_id"]
    client = api(request)
    opp = await client.opportunity.GetOpportunity(opportunity_pb2.GetOpportunityRequest(opportunity_id=opp_id))
    if opp.owner_id != me.subject and me.role != "hr_admin":
        raise web.HTTPForbidden(reason=f"only the owner of {opp.title!r} manages it")
    apps_call = client.opportunity.ListApplications(opportunity_pb2.ListApplicationsRequest(
        opportunity_id=opp_id, page_size=200))
    is_open = opp.status == common_pb2.OPPORTUNITY_STATUS_OPEN

    async def candidates():
        if not is_open:
            return None, "Candidates are suggested while the posting is open."
        try:
            found = await client.matcher.BestCandidates(matcher_pb2.BestCandidatesRequest(opportunity_id=opp_id,
                                                                                         limit=10))
            return found, ""
        except grpc.aio.AioRpcError as err:
            if err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                return None, "The matcher is not answering right now; candidates will be back shortly."
            if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION):
                # the matcher learns of a new posting from its event a moment after it is posted
                return None, "ITM is scoring colleagues for this posting; reload in a moment to see the best fits."
            raise

    apps, (best, best_note) = await asyncio.gather(apps_call, candidates())
    assessments = {a.application_id: a for a in apps.assessments}
    applied = {a.employee_id for a in apps.applications}
    people = await names_of(request, [a.employee_id for a in apps.applications]
                            + ([m.employee_id for m in best.matches] if best else []))
    await skill_names(request, [r.skill_id for r in opp.requirements])
    columns = []
    for title, statuses in PIPELINE:
        items = [{"app": a, "assessment": assessments.get(a.application_id)} for a in apps.applications
                 if a.status in statuses]
        items.sort(key=lambda i: -(i["assessment"].score_percent if i["assessment"] else 0))
        columns.append({"title": title, "items": items})
    return render(request, "owner_manage.html", {
        "title": opp.title, "opp": opp, "rows": rows or rows_of(opp), "columns": columns,
        "best": best.matches if best else [], "best_note": best_note, "applied": applied, "people": people,
        "errors": errors or {}, "feedback_form": feedback_form or {}, "is_open": is_open,
        "requirements": {r.skill_id: r for r in opp.requirements}}, status=status)


async def change_requirements(request: web.Request) -> web.StreamResponse:
    require(request, *PEOPLE)
    posted = await request.post()
    rows = requirement_rows(posted)
    inputs, req_fields = requirement_inputs(rows)
    if not inputs:
        return await manage(request, {"req-0-skill": "keep at least one required skill"}, rows, status=400)
    try:
        await api(request).opportunity.ChangeRequirements(opportunity_pb2.ChangeRequirementsRequest(
            opportunity_id=request.match_info["opp_id"], expected_version=form_int(posted, "version"),
            requirements=inputs))
    except grpc.aio.AioRpcError as err:
        if err.code() not in CORRECTABLE:
            raise
        return await manage(request, field_errors(err, {**req_fields, "requirements": "req-0-skill"}), rows,
                            status=400)
    raise web.HTTPSeeOther(f"/owner/opportunities/{request.match_info['opp_id']}?changed=1#requirements")


async def decide(request: web.Request) -> web.StreamResponse:
    require(request, *PEOPLE)
    app_id, action = request.match_info["app_id"], request.match_info["action"]
    opp_id = app_id.split(":", 1)[0]
    posted = await request.post()
    version, reason = form_int(posted, "version"), str(posted.get("reason", "")).strip()
    stub = api(request).opportunity
    calls = {
        "shortlist": lambda: stub.ShortlistApplication(opportunity_pb2.ShortlistApplicationRequest(
            application_id=app_id, expected_version=version)),
        "accept": lambda: stub.AcceptApplication(opportunity_pb2.AcceptApplicationRequest(
            application_id=app_id, expected_version=version)),
        "decline": lambda: stub.DeclineApplication(opportunity_pb2.DeclineApplicationRequest(
            application_id=app_id, expected_version=version, reason=reason)),
    }
    if action not in calls:
        raise web.HTTPNotFound()
    try:
        await calls[action]()
    except grpc.aio.AioRpcError as err:
        if err.code() not in CORRECTABLE:
            raise
        return await manage(request, {app_id: err.details()}, status=409, opp_id=opp_id)
    raise web.HTTPSeeOther(f"/owner/opportunities/{opp_id}?done={action}#pipeline")


async def complete(request: web.Request) -> web.StreamResponse:
    require(request, *PEOPLE)
    app_id = request.match_info["app_id"]
    opp_id = app_id.split(":", 1)[0]
    posted = await request.post()
    typed, feedback = {}, []
    for skill in posted.getall("skill", []):
        level = form_int(posted, f"level-{skill}")
        comment = str(posted.get(f"comment-{skill}", "")).strip()
        typed[skill] = {"level": level, "comment": comment}
        if level:
            feedback.append(opportunity_pb2.SkillFeedbackInput(skill=str(skill), level=level, comment=comment))
    if not feedback:
        return await manage(request, {app_id: "rate at least one skill the assignment showed"},
                            feedback_form={app_id: typed}, status=400, opp_id=opp_id)
    try:
        await api(request).opportunity.CompleteAssignment(opportunity_pb2.CompleteAssignmentRequest(
            application_id=app_id, expected_version=form_int(posted, "version"), feedback=feedback))
    except grpc.aio.AioRpcError as err:
        if err.code() not in CORRECTABLE:
            raise
        return await manage(request, {app_id: err.details()}, feedback_form={app_id: typed}, status=409,
                            opp_id=opp_id)
    raise web.HTTPSeeOther(f"/owner/opportunities/{opp_id}?done=complete#pipeline")


async def close(request: web.Request) -> web.StreamResponse:
    require(request, *PEOPLE)
    opp_id = request.match_info["opp_id"]
    posted = await request.post()
    outcome = str(posted.get("outcome", ""))
    if outcome not in ("filled", "cancelled"):
        return await manage(request, {"close": "choose filled or cancelled"}, status=400)
    try:
        await api(request).opportunity.CloseOpportunity(opportunity_pb2.CloseOpportunityRequest(
            opportunity_id=opp_id, expected_version=form_int(posted, "version"), outcome=outcome,
            reason=str(posted.get("reason", "")).strip()))
    except grpc.aio.AioRpcError as err:
        if err.code() not in CORRECTABLE:
            raise
        return await manage(request, {"close": err.details()}, status=409)
    raise web.HTTPSeeOther(f"/owner/opportunities/{opp_id}?done=closed")


def routes(app: web.Application) -> None:
    install_filters(app)
    app.router.add_get("/owner", my_postings, name="owner-postings")
    app.router.add_get("/owner/new", new_posting, name="owner-new")
    app.router.add_post("/owner/new", create_posting)
    app.router.add_get("/owner/opportunities/{opp_id}", manage, name="owner-manage")
    app.router.add_post("/owner/opportunities/{opp_id}/requirements", change_requirements)
    app.router.add_post("/owner/opportunities/{opp_id}/close", close)
    app.router.add_post("/owner/applications/{app_id}/complete", complete)
    app.router.add_post("/owner/applications/{app_id}/{action}", decide)
    add_nav(app, "My postings", "/owner", PEOPLE, order=40)
