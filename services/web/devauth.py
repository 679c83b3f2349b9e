"""Dev sign-in: pick a demo person (or type any id and role) and be them. Dev mode only.

``GET /signin`` is the one sign-in entry: in dev mode it shows this page; otherwise
it sends the browser to the production sign-in (``app[SIGNIN_URL]``, set by oidc.py).
``POST /signin/dev`` exists only in dev mode (ITM_ENVIRONMENT=dev): elsewhere it is
refused with 403, whatever it is sent. ``POST /signout`` ends any session.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from aiohttp import web

from itm import demo
from services.web import session as sessions
from services.web.keys import SETTINGS, SIGNIN_URL, SIGNOUT_HOOKS
from services.web.render import render
from services.web.session import session_of

PERSON_ROLES = ("employee", "manager", "hr_admin")
ROLE_LABELS = {"employee": "Employee", "manager": "Manager", "hr_admin": "HR admin"}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")

# the people of the demo organisation (itm/demo.py) and what each can try
DEMO_PEOPLE = [
    *[{"id": emp_id, "name": name, "role": "employee", "about": f"{dept}, {loc}"}
      for emp_id, name, dept, loc, _ in demo.EMPLOYEES],
    {"id": "M1", "name": "Morgan Reyes", "role": "manager",
     "about": "manager of every demo employee; owns the demo opportunities"},
    {"id": "hr-admin", "name": "Harper Quinn", "role": "hr_admin", "about": "HR: import, KPIs, fairness, audit"},
]
DEMO_NAMES = {p["id"]: p["name"] for p in DEMO_PEOPLE}


def safe_next(target: str) -> str:
    """Only paths on this site (no scheme, no //host) are followed after sign-in."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def signin_page(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    nxt = safe_next(request.query.get("next", "/"))
    if not settings.dev_mode:
        url = request.app.get(SIGNIN_URL)
        if not url:
            return render(request, "error.html", {"status": 503, "title": "Sign-in is not configured",
                                                  "message": "No identity provider is configured for this console."},
                          status=503)
        raise web.HTTPFound(f"{url}?{urlencode({'next': nxt})}" if nxt != "/" else url)
    return render(request, "signin_dev.html", {"people": DEMO_PEOPLE, "roles": PERSON_ROLES,
                                               "role_labels": ROLE_LABELS, "next": nxt, "errors": {}, "form": {}})


async def signin_dev(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    if not settings.dev_mode:
        raise web.HTTPForbidden(reason="dev sign-in is available only in dev mode (ITM_ENVIRONMENT=dev)")
    form = await request.post()
    person_id, role = str(form.get("person_id", "")).strip(), str(form.get("role", "")).strip()
    nxt = safe_next(str(form.get("next", "/")))
    errors = {}
    if not _ID.match(person_id):
        errors["person_id"] = "an id of letters, digits and . _ @ - (at most 100), e.g. E100"
    if role not in PERSON_ROLES:
        errors["role"] = f"one of {', '.join(ROLE_LABELS[r] for r in PERSON_ROLES)}"
    if errors:
        return render(request, "signin_dev.html", {"people": DEMO_PEOPLE, "roles": PERSON_ROLES,
                                                   "role_labels": ROLE_LABELS, "next": nxt, "errors": errors,
                                                   "form": {"person_id": person_id, "role": role}}, status=400)
    sessions.sign_in(request, person_id, role, name=DEMO_NAMES.get(person_id, person_id))
    raise web.HTTPSeeOther(nxt)


async def signout(request: web.Request) -> web.StreamResponse:
    for hook in request.app.get(SIGNOUT_HOOKS, ()):  # e.g. the provider's end-session redirect
        target = await hook(request, session_of(request))
        if target:
            sessions.sign_out(request)
            raise web.HTTPSeeOther(target)
    sessions.sign_out(request)
    raise web.HTTPSeeOther("/signin")


def routes(app: web.Application) -> None:
    app.router.add_get("/signin", signin_page, name="signin")
    app.router.add_post("/signin/dev", signin_dev, name="signin-dev")
    app.router.add_post("/signout", signout, name="signout")
