"""The employee's pages: start page, profile, matches, opportunities, applications, courses, notifications.

Every page acts as the signed-in person (clients.api) on their own data; a
manager or HR admin signed in sees their own too (they are employees as well).
The services decide what a person may see: a refusal is the 403 page.

Forms post back to the page; a service's refusal is shown next to the field it
names and the form keeps what was typed (render.field_errors).
"""

from __future__ import annotations

import asyncio
import uuid

import grpc
from aiohttp import web

from itm.v1 import common_pb2, learning_pb2, matcher_pb2, notifier_pb2, opportunity_pb2, profile_pb2, taxonomy_pb2
from services.web import links
from services.web.clients import api, service_api, skill_names
from services.web.keys import SETTINGS
from services.web.render import OPPORTUNITY_TYPES, add_nav, field_errors, page, render
from services.web.session import require, session_of

PEOPLE = ("employee", "manager", "hr_admin")
CLAIMABLE = {"claimed": common_pb2.SKILL_STATUS_CLAIMED, "aspirational": common_pb2.SKILL_STATUS_ASPIRATIONAL}
SORTS = {"newest": opportunity_pb2.OPPORTUNITY_SORT_NEWEST, "match": opportunity_pb2.OPPORTUNITY_SORT_MATCH,
         "deadline": opportunity_pb2.OPPORTUNITY_SORT_DEADLINE}
TRANSIENT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
ACTIVE_APPLICATION = (common_pb2.APPLICATION_STATUS_SUBMITTED, common_pb2.APPLICATION_STATUS_SHORTLISTED)


def me(request: web.Request) -> str:
    return require(request, *PEOPLE).subject


async def optional(call, *codes):
    """The call's answer, or None when it fails with one of ``codes`` (default NOT_FOUND)."""
    try:
        return await call
    except grpc.aio.AioRpcError as err:
        if err.code() in (codes or (grpc.StatusCode.NOT_FOUND,)):
            return None
        raise


async def my_employee(request: web.Request):
    """The signed-in person's Employee record, or None when the profile service has none."""
    return await optional(api(request).profile.GetEmployee(profile_pb2.GetEmployeeRequest(employee_id=me(request))))


def _float(value, default: float = 0.0) -> float:
    try:
        return float(str(value).strip()) if str(value).strip() else default
    except ValueError:
        return default


def _int(value, default: int = 0) -> int:
    try:
        return int(str(value).strip()) if str(value).strip() else default
    except ValueError:
        return default


# --------------------------------------------------------------------------- start page


async def home(request: web.Request) -> web.StreamResponse:
    if not session_of(request).signed_in:
        raise web.HTTPSeeOther("/signin")
    me(request)
    unavailable = ""
    try:
        employee = await my_employee(request)
    except grpc.aio.AioRpcError as err:
        if err.code() not in TRANSIENT:
            raise
        employee, unavailable = None, "The profile service is not answering; some details are missing."
    matches = None
    if employee is not None:
        matches = await optional(api(request).matcher.MyMatches(
            matcher_pb2.MyMatchesRequest(employee_id=employee.employee_id, limit=3)), *TRANSIENT, grpc.StatusCode.NOT_FOUND)
    return await page(request, "home.html", {"title": "Welcome", "employee": employee, "unavailable": unavailable,
                                             "matches": list(matches.matches) if matches else []})


# --------------------------------------------------------------------------- profile


async def profile_page(request: web.Request, errors: dict | None = None, form: dict | None = None,
                       status: int = 200) -> web.Response:
    employee = await my_employee(request)
    if employee is None:
        return await page(request, "error.html", {"status": 404, "title": "No profile yet", "message":
                          f"There is no employee profile for {me(request)}; HR creates it (import or SCIM)."},
                          status=404)
    names = await skill_names(request, [r.skill.skill_id for r in employee.skills])
    skills = sorted(employee.skills, key=lambda r: (-r.skill.status, names.get(r.skill.skill_id, "")))
    return await page(request, "profile.html", {
        "title": "My profile", "employee": employee, "skills": skills, "names": names,
        "types": OPPORTUNITY_TYPES, "wanted": set(employee.preferences.opportunity_types),
        "errors": errors or {}, "form": form or {}}, status=status)


async def profile(request: web.Request) -> web.StreamResponse:
    me(request)
    return await profile_page(request)


async def add_skill(request: web.Request) -> web.StreamResponse:
    emp_id = me(request)
    form = await request.post()
    typed = {"skill": str(form.get("skill", "")).strip(), "level": str(form.get("level", "")),
             "status": str(form.get("status", "claimed"))}
    errors = {}
    if not typed["skill"]:
        errors["skill"] = "type a skill, e.g. SQL"
    level = _int(typed["level"])
    if not 1 <= level <= 5:
        errors["level"] = "a level from 1 (basic) to 5 (expert)"
    if typed["status"] not in CLAIMABLE:
        errors["status"] = "claimed (you have it) or aspirational (you want it)"
    if not errors:
        try:
            await api(request).profile.UpsertSkill(profile_pb2.UpsertSkillRequest(
                employee_id=emp_id, skill=typed["skill"], level=level, status=CLAIMABLE[typed["status"]],
                source=common_pb2.EVIDENCE_SOURCE_SELF))
        except grpc.aio.AioRpcError as err:
            if err.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED) + TRANSIENT:
                raise
            errors = field_errors(err, {"skill": "skill", "level": "level", "status": "status"})
    if errors:
        return await profile_page(request, errors, typed, status=400)
    raise web.HTTPSeeOther("/profile#skills")


async def remove_skill(request: web.Request) -> web.StreamResponse:
    emp_id = me(request)
    form = await request.post()
    await api(request).profile.RemoveSkill(profile_pb2.RemoveSkillRequest(employee_id=emp_id,
                                                                         skill=str(form.get("skill", ""))))
    raise web.HTTPSeeOther("/profile#skills")


async def set_preferences(request: web.Request) -> web.StreamResponse:
    emp_id = me(request)
    form = await request.post()
    typed = {"threshold_percent": str(form.get("threshold_percent", "")),
             "types": [str(t) for t in form.getall("types", [])],
             "mentoring_opt_in": bool(form.get("mentoring_opt_in")), "opted_out": bool(form.get("opted_out"))}
    threshold = _int(typed["threshold_percent"], -1)
    errors = {}
    if not 1 <= threshold <= 100:
        errors["threshold_percent"] = "a percentage from 1 to 100"
    else:
        prefs = profile_pb2.MatchPreferences(
            threshold_percent=threshold, opted_out=typed["opted_out"], mentoring_opt_in=typed["mentoring_opt_in"],
            opportunity_types=[_int(t) for t in typed["types"] if _int(t)])
        try:
            await api(request).profile.SetPreferences(profile_pb2.SetPreferencesRequest(
                employee_id=emp_id, expected_version=_int(form.get("version")), preferences=prefs))
        except grpc.aio.AioRpcError as err:
            if err.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED) + TRANSIENT:
                raise
            errors = field_errors(err, {"threshold_percent": "threshold_percent", "opportunity_types": "types",
                                        "expected_version": "_form", "version": "_form"})
    if errors:
        return await profile_page(request, {f"prefs.{k}" if k != "_form" else "prefs._form": v
                                            for k, v in errors.items()}, {"prefs": typed}, status=400)
    raise web.HTTPSeeOther("/profile#preferences")


async def set_visibility(request: web.Request) -> web.StreamResponse:
    emp_id = me(request)
    form = await request.post()
    visibility = profile_pb2.Visibility(hide_aspirational_from_managers=bool(form.get("hide_aspirational")),
                                       hidden_from_opportunity_owners=bool(form.get("hidden_from_owners")))
    try:
        await api(request).profile.SetVisibility(profile_pb2.SetVisibilityRequest(
            employee_id=emp_id, expected_version=_int(form.get("version")), visibility=visibility))
    except grpc.aio.AioRpcError as err:
        if err.code() != grpc.StatusCode.ABORTED:
            raise
        return await profile_page(request, {"visibility._form": err.details()}, status=409)
    raise web.HTTPSeeOther("/profile#visibility")


async def skills_json(request: web.Request) -> web.StreamResponse:
    """Autocomplete for skill fields: TaxonomyService.SearchSkills, as JSON."""
    require(request)
    query = request.query.get("q", "").strip()[:200]
    if not query:
        return web.json_response({"skills": []})
    found = await api(request).taxonomy.SearchSkills(taxonomy_pb2.SearchSkillsRequest(
        query=query, limit=min(max(_int(request.query.get("limit"), 8), 1), 20)))
    return web.json_response({"skills": [{"id": h.skill.skill_id, "name": h.skill.name, "category": h.skill.category,
                                          "matched": h.matched} for h in found.hits]})


# --------------------------------------------------------------------------- matches


async def _explained(request: web.Request, emp_id: str, opportunity_ids: list[str]) -> dict[str, matcher_pb2.Match]:
    if not opportunity_ids:
        return {}
    scored = await api(request).matcher.ScoreOpportunities(matcher_pb2.ScoreOpportunitiesRequest(
        employee_id=emp_id, opportunity_ids=opportunity_ids, explain=True))
    return {m.opportunity_id: m for m in scored.matches}


def _explanation_skills(matches) -> set[str]:
    ids = set()
    for m in matches:
        e = m.explanation
        ids |= {c.skill_id for c in e.credits} | {c.via_related_skill for c in e.credits}
        ids |= {g.skill_id for g in e.gaps} | {s for step in e.learning_path for s in step.closes_skill_ids}
        ids |= {mt.skill_id for mt in e.mentors} | set(e.uncovered_skill_ids)
    return ids


async def matches(request: web.Request) -> web.StreamResponse:
    emp_id = me(request)
    unavailable = ""
    try:
        found = await api(request).matcher.MyMatches(matcher_pb2.MyMatchesRequest(employee_id=emp_id, limit=50))
        ranked = list(found.matches)
        if ranked and not any(m.explanation.credits for m in ranked):  # older workers: ask for the explanations
            explained = await _explained(request, emp_id, [m.opportunity_id for m in ranked])
            ranked = [explained.get(m.opportunity_id, m) for m in ranked]
    except grpc.aio.AioRpcError as err:
        if err.code() not in TRANSIENT + (grpc.StatusCode.NOT_FOUND,):
            raise
        ranked = []
        unavailable = ("Your matches are not known yet: the matcher has no profile for you."
                       if err.code() == grpc.StatusCode.NOT_FOUND else
                       "The matcher is not answering right now; try again in a few seconds.")
    employee = await optional(api(request).profile.GetEmployee(profile_pb2.GetEmployeeRequest(employee_id=emp_id)),
                              *TRANSIENT, grpc.StatusCode.NOT_FOUND)
    names = await skill_names(request, _explanation_skills(ranked))
    mentor_names = await _people_names(request, {mt.employee_id for m in ranked for mt in m.explanation.mentors})
    threshold = (employee.preferences.threshold_percent if employee and employee.preferences.threshold_percent
                 else request.app[SETTINGS].default_threshold_percent)
    return await page(request, "matches.html", {"title": "My matches", "matches": ranked, "names": names,
                                                "mentor_names": mentor_names, "threshold": threshold,
                                                "unavailable": unavailable})


async def _people_names(request: web.Request, ids) -> dict[str, str]:
    async def one(emp_id):
        emp = await optional(api(request).profile.GetEmployee(profile_pb2.GetEmployeeRequest(employee_id=emp_id)),
                             grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED, *TRANSIENT)
        return emp_id, (emp.name if emp and emp.name else emp_id)

    return dict(await asyncio.gather(*(one(i) for i in list(ids)[:50])))


# --------------------------------------------------------------------------- opportunities


def _search_form(query) -> dict:
    return {k: query.get(k, "") for k in ("type", "skill", "department", "location", "min_hours", "max_hours",
                                          "text", "sort", "remote", "related")}


async def opportunities(request: web.Request) -> web.StreamResponse:
    me(request)
    form = _search_form(request.query)
    errors = {}
    req = opportunity_pb2.SearchOpportunitiesRequest(
        department=form["department"].strip(), location=form["location"].strip(),
        include_remote=bool(form["remote"]), text=form["text"].strip(), include_related_skills=bool(form["related"]),
        min_hours_per_week=max(0.0, _float(form["min_hours"])), max_hours_per_week=max(0.0, _float(form["max_hours"])),
        sort=SORTS.get(form["sort"], opportunity_pb2.OPPORTUNITY_SORT_MATCH), page_size=20,
        page_token=request.query.get("page", ""))
    if _int(form["type"]):
        req.types.append(_int(form["type"]))
    if form["skill"].strip():
        req.skills.append(form["skill"].strip())
    results, total, next_page, match_available = [], 0, "", False
    try:
        found = await api(request).opportunity.SearchOpportunities(req)
        results, total, next_page, match_available = (list(found.results), found.total, found.next_page_token,
                                                      found.match_available)
    except grpc.aio.AioRpcError as err:
        if err.code() not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND):
            raise
        errors = field_errors(err, {"skills": "skill", "skill": "skill", "types": "type", "department": "department",
                                    "location": "location", "min_hours_per_week": "min_hours",
                                    "max_hours_per_week": "max_hours", "text": "text", "page_token": "_form"})
    names = await skill_names(request, {r.skill_id for res in results for r in res.opportunity.requirements})
    query = {k: v for k, v in form.items() if v}
    return await page(request, "opportunities.html", {
        "title": "Opportunities", "results": results, "total": total, "next_page": next_page, "query": query,
        "match_available": match_available, "names": names, "form": form, "errors": errors,
        "types": OPPORTUNITY_TYPES}, status=400 if errors else 200)


async def opportunity(request: web.Request, errors: dict | None = None, form: dict | None = None,
                      status: int = 200) -> web.Response:
    emp_id = me(request)
    opp_id = request.match_info["opportunity_id"]
    opp = await api(request).opportunity.GetOpportunity(opportunity_pb2.GetOpportunityRequest(opportunity_id=opp_id))
    match, unavailable = None, ""
    try:
        match = (await _explained(request, emp_id, [opp_id])).get(opp_id)
    except grpc.aio.AioRpcError as err:
        if err.code() not in TRANSIENT + (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED):
            raise
        unavailable = "Your match for this opportunity is not available right now."
    application = await optional(api(request).opportunity.GetApplication(
        opportunity_pb2.GetApplicationRequest(application_id=f"{opp_id}:{emp_id}")),
        grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED)
    ids = {r.skill_id for r in opp.requirements} | (_explanation_skills([match]) if match else set())
    names = await skill_names(request, ids)
    mentor_names = await _people_names(request, {m.employee_id for m in match.explanation.mentors}) if match else {}
    return await page(request, "opportunity.html", {
        "title": opp.title, "opp": opp, "match": match, "unavailable": unavailable, "application": application,
        "names": names, "mentor_names": mentor_names, "mine": opp.owner_id == emp_id,
        "open": opp.status == common_pb2.OPPORTUNITY_STATUS_OPEN, "request_id": uuid.uuid4().hex,
        "active": application is not None and application.status in ACTIVE_APPLICATION,
        "errors": errors or {}, "form": form or {}}, status=status)


async def opportunity_page(request: web.Request) -> web.StreamResponse:
    return await opportunity(request)


async def apply(request: web.Request) -> web.StreamResponse:
    emp_id = me(request)
    opp_id = request.match_info["opportunity_id"]
    form = await request.post()
    typed = {"note": str(form.get("note", ""))}
    try:
        await api(request).opportunity.Apply(opportunity_pb2.ApplyRequest(
            request_id=str(form.get("request_id") or uuid.uuid4().hex), opportunity_id=opp_id, employee_id=emp_id,
            note=typed["note"]))
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED,
                          grpc.StatusCode.NOT_FOUND) + TRANSIENT:
            raise
        return await opportunity(request, field_errors(err, {"note": "note"}), typed, status=400)
    raise web.HTTPSeeOther(links.opportunity(opp_id) + "#application")


async def withdraw(request: web.Request) -> web.StreamResponse:
    me(request)
    app_id = request.match_info["application_id"]
    form = await request.post()
    await api(request).opportunity.WithdrawApplication(opportunity_pb2.WithdrawApplicationRequest(
        application_id=app_id, expected_version=_int(form.get("version")), reason=str(form.get("reason", ""))))
    target = str(form.get("back", ""))
    raise web.HTTPSeeOther(target if target in ("/applications",) else
                           links.opportunity(app_id.partition(":")[0]) + "#application")


async def applications(request: web.Request) -> web.StreamResponse:
    emp_id = me(request)
    listed = await api(request).opportunity.ListApplications(opportunity_pb2.ListApplicationsRequest(
        employee_id=emp_id, page_size=100))
    apps = list(listed.applications)

    async def title(opp_id):
        opp = await optional(api(request).opportunity.GetOpportunity(
            opportunity_pb2.GetOpportunityRequest(opportunity_id=opp_id)), grpc.StatusCode.NOT_FOUND)
        return opp_id, opp

    opps = dict(await asyncio.gather(*(title(i) for i in {a.opportunity_id for a in apps})))
    names = await skill_names(request, {f.skill_id for a in apps for f in a.feedback})
    return await page(request, "applications.html", {"title": "My applications", "applications": apps, "opps": opps,
                                                     "names": names, "active": ACTIVE_APPLICATION})


# --------------------------------------------------------------------------- courses


async def _enrollments(request: web.Request, emp_id: str) -> dict[str, learning_pb2.Enrollment]:
    listed = await api(request).learning.ListEnrollments(learning_pb2.ListEnrollmentsRequest(
        employee_id=emp_id, page_size=500))
    return {e.course_id: e for e in listed.enrollments}


async def courses(request: web.Request) -> web.StreamResponse:
    emp_id = me(request)
    listed = await api(request).learning.ListCourses(learning_pb2.ListCoursesRequest(page_size=200))
    mine = await _enrollments(request, emp_id)
    names = await skill_names(request, {t.skill_id for c in listed.courses for t in c.teaches})
    return await page(request, "courses.html", {"title": "Courses", "courses": list(listed.courses),
                                                "enrollments": mine, "names": names})


async def course(request: web.Request) -> web.StreamResponse:
    emp_id = me(request)
    course_id = request.match_info["course_id"]
    found = await api(request).learning.GetCourse(learning_pb2.GetCourseRequest(course_id=course_id))
    enrollment = (await _enrollments(request, emp_id)).get(course_id)
    names = await skill_names(request, {t.skill_id for t in found.teaches})
    return await page(request, "course.html", {"title": found.title, "course": found, "enrollment": enrollment,
                                               "names": names, "request_id": uuid.uuid4().hex})


async def enroll(request: web.Request) -> web.StreamResponse:
    emp_id = me(request)
    course_id = request.match_info["course_id"]
    form = await request.post()
    await api(request).learning.Enroll(learning_pb2.EnrollRequest(
        request_id=str(form.get("request_id") or uuid.uuid4().hex), employee_id=emp_id, course_id=course_id))
    raise web.HTTPSeeOther(links.course(course_id))


async def complete(request: web.Request) -> web.StreamResponse:
    """Dev mode: record the completion as the learning platform would (the console's service identity acting
    for the person); in production completions come from the learning platform (xAPI)."""
    emp_id = me(request)
    course_id = request.match_info["course_id"]
    form = await request.post()
    await service_api(request).learning.CompleteCourse(learning_pb2.CompleteCourseRequest(
        request_id=str(form.get("request_id") or uuid.uuid4().hex), employee_id=emp_id, course_id=course_id))
    raise web.HTTPSeeOther(links.course(course_id) + "?completed=1")


# --------------------------------------------------------------------------- notifications


def note_json(note: notifier_pb2.Notification, public_base_url: str = "") -> dict:
    return {"id": note.notification_id, "kind": note.kind, "title": note.title, "body": note.body,
            "link": links.local(note.opportunity_link, public_base_url),
            "course_links": [links.local(c, public_base_url) for c in note.course_links], "read": note.read,
            "opportunity_id": note.opportunity_id}


async def notifications(request: web.Request) -> web.StreamResponse:
    """The inbox, newest first (the notifier pages oldest first; an inbox holds ITM_INBOX_MAX_LEN at most)."""
    emp_id = me(request)
    unread_only = request.query.get("unread") == "1"
    shown = min(max(_int(request.query.get("limit"), 50), 1), 1000)
    notes, token, unread = [], "", 0
    for _ in range(10):
        inbox = await api(request).notifier.ListInbox(notifier_pb2.ListInboxRequest(
            employee_id=emp_id, page_size=500, page_token=token, unread_only=unread_only))
        notes.extend(inbox.notifications)
        unread, token = inbox.unread, inbox.next_page_token
        if not token:
            break
    notes.reverse()
    base = request.app[SETTINGS].public_base_url
    return await page(request, "notifications.html", {
        "title": "Notifications", "notes": [note_json(n, base) | {"created_at": n.created_at} for n in notes[:shown]],
        "unread": unread, "more": len(notes) > shown, "limit": shown, "unread_only": unread_only})


async def mark_read(request: web.Request) -> web.StreamResponse:
    emp_id = me(request)
    form = await request.post()
    ids = [str(i) for i in form.getall("id", []) if str(i)]
    if not ids and form.get("all"):
        inbox = await api(request).notifier.ListInbox(notifier_pb2.ListInboxRequest(
            employee_id=emp_id, page_size=500, unread_only=True))
        ids = [n.notification_id for n in inbox.notifications]
    marked = 0
    if ids:
        marked = (await api(request).notifier.MarkRead(notifier_pb2.MarkReadRequest(
            employee_id=emp_id, notification_ids=ids[:500]))).marked
    if request.headers.get("X-CSRF-Token"):  # from the script: answer JSON
        return web.json_response({"marked": marked, "unread": await _unread(request, emp_id)})
    raise web.HTTPSeeOther("/notifications")


async def _unread(request: web.Request, emp_id: str) -> int:
    inbox = await api(request).notifier.ListInbox(notifier_pb2.ListInboxRequest(
        employee_id=emp_id, page_size=1, unread_only=True))
    return int(inbox.unread)


async def unread_json(request: web.Request) -> web.StreamResponse:
    emp_id = me(request)
    return web.json_response({"unread": await _unread(request, emp_id)})


def routes(app: web.Application) -> None:
    from services.web import sse

    r = app.router
    r.add_get("/", home, name="home")
    r.add_get("/profile", profile, name="profile")
    r.add_post("/profile/skills", add_skill)
    r.add_post("/profile/skills/remove", remove_skill)
    r.add_post("/profile/preferences", set_preferences)
    r.add_post("/profile/visibility", set_visibility)
    r.add_get("/matches", matches, name="matches")
    r.add_get("/opportunities", opportunities, name="opportunities")
    r.add_get(links.OPPORTUNITY, opportunity_page, name="opportunity")
    r.add_post(links.OPPORTUNITY + "/apply", apply)
    r.add_post("/applications/{application_id}/withdraw", withdraw)
    r.add_get("/applications", applications, name="applications")
    r.add_get("/courses", courses, name="courses")
    r.add_get(links.COURSE, course, name="course")
    r.add_post(links.COURSE + "/enroll", enroll)
    r.add_post(links.COURSE + "/complete", complete)
    r.add_get("/notifications", notifications, name="notifications")
    r.add_post("/notifications/read", mark_read)
    r.add_get("/notifications/stream", sse.stream, name="notifications-stream")
    r.add_get("/api/skills", skills_json)
    r.add_get("/api/notifications/unread", unread_json)
    add_nav(app, "Home", "/", PEOPLE, order=0)
    add_nav(app, "Matches", "/matches", PEOPLE, order=10)
    add_nav(app, "Opportunities", "/opportunities", PEOPLE, order=20)
    add_nav(app, "Applications", "/applications", PEOPLE, order=30)
    add_nav(app, "Courses", "/courses", PEOPLE, order=40)
    add_nav(app, "Profile", "/profile", PEOPLE, order=45)
