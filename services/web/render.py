"""Templates (Jinja2, autoescaped), the navigation per role, and API errors for forms.

``render(request, "page.html", context)`` renders with what every page needs: the
session (``me``), the CSRF token (``csrf_field()`` in forms), the navigation for the
person's role, dev mode. Views modules add their pages to the navigation with
``add_nav(app, label, path, roles)``.

``field_errors(err, fields)``: a service's INVALID_ARGUMENT (or FAILED_PRECONDITION,
ALREADY_EXISTS ...) names the field it is about in its message
(``requirements[2].weight must be > 0``); the form shows it next to that field and
re-renders what the person typed.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from pathlib import Path

import grpc
import jinja2
from aiohttp import web
from markupsafe import Markup

from itm.v1 import common_pb2

from services.web.keys import NAV, SETTINGS, TEMPLATES
from services.web.session import session_of

TEMPLATE_DIR = Path(__file__).parent / "templates"
ROLE_LABELS = {"employee": "Employee", "manager": "Manager", "hr_admin": "HR admin", "service": "Service"}


def _enum_label(enum, prefix: str):
    labels = {v.number: v.name.removeprefix(prefix).replace("_", " ").lower() for v in enum.DESCRIPTOR.values}

    def label(value) -> str:
        return labels.get(int(value or 0), "") if value else ""

    return label


STATUS_LABEL = _enum_label(common_pb2.SkillStatus, "SKILL_STATUS_")
SOURCE_LABEL = _enum_label(common_pb2.EvidenceSource, "EVIDENCE_SOURCE_")
TYPE_LABEL = _enum_label(common_pb2.OpportunityType, "OPPORTUNITY_TYPE_")
OPP_STATUS_LABEL = _enum_label(common_pb2.OpportunityStatus, "OPPORTUNITY_STATUS_")
APP_STATUS_LABEL = _enum_label(common_pb2.ApplicationStatus, "APPLICATION_STATUS_")
RELEASE_LABEL = _enum_label(common_pb2.TimeReleaseStatus, "TIME_RELEASE_STATUS_")
OPPORTUNITY_TYPES = [(v.number, TYPE_LABEL(v.number)) for v in common_pb2.OpportunityType.DESCRIPTOR.values if v.number]


def _when(ts) -> str:
    """A protobuf Timestamp as "2026-12-02 15:04 UTC" ("" when unset)."""
    if ts is None or not getattr(ts, "seconds", 0):
        return ""
    return datetime.fromtimestamp(ts.seconds, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _hours(h) -> str:
    return f"{float(h or 0):g} h"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
                             autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = lambda v: f"{float(v or 0):.0f}%"
    env.filters["role_label"] = lambda r: ROLE_LABELS.get(r, r)
    env.filters["skill_status"] = STATUS_LABEL
    env.filters["source"] = SOURCE_LABEL
    env.filters["opp_type"] = TYPE_LABEL
    env.filters["opp_status"] = OPP_STATUS_LABEL
    env.filters["app_status"] = APP_STATUS_LABEL
    env.filters["release"] = RELEASE_LABEL
    env.filters["when"] = _when
    env.filters["hours"] = _hours
    env.globals["OPPORTUNITY_TYPES"] = OPPORTUNITY_TYPES
    return env


def add_nav(app: web.Application, label: str, path: str, roles=("employee", "manager", "hr_admin"),
            order: int = 50) -> None:
    """A link in the top navigation for these roles (ordered by ``order``, then label)."""
    for role in roles:
        app[NAV].setdefault(role, []).append((order, label, path))


def nav_for(request: web.Request, role: str) -> list[dict]:
    items = sorted(request.app[NAV].get(role, []))
    here = request.path
    return [{"label": label, "path": path, "current": here == path or (path != "/" and here.startswith(path + "/"))}
            for _, label, path in items]


def context(request: web.Request, extra: dict | None = None) -> dict:
    session = session_of(request)
    token = session.csrf
    ctx = {
        "request": request,
        "me": session if session.signed_in else None,
        "nav": nav_for(request, session.role) if session.signed_in else [],
        "csrf_token": token,
        "csrf_field": lambda: Markup(f'<input type="hidden" name="_csrf" value="{Markup.escape(token)}">'),
        "dev_mode": request.app[SETTINGS].dev_mode,
        "title": "",
        "errors": {},
        "form": {},
        "unread": 0,
        "now_ms": int(time.time() * 1000),
    }
    ctx.update(extra or {})
    return ctx


def render(request: web.Request, template: str, extra: dict | None = None, status: int = 200,
           headers: dict | None = None) -> web.Response:
    html = request.app[TEMPLATES].get_template(template).render(context(request, extra))
    return web.Response(text=html, content_type="text/html", charset="utf-8", status=status, headers=headers)


async def unread_count(request: web.Request) -> int:
    """The signed-in person's unread notifications for the bell (0 when the notifier does not answer)."""
    from itm.v1 import notifier_pb2
    from services.web.clients import api

    session = session_of(request)
    if not session.signed_in:
        return 0
    try:
        inbox = await api(request).notifier.ListInbox(
            notifier_pb2.ListInboxRequest(employee_id=session.subject, page_size=1, unread_only=True), timeout=2)
    except grpc.aio.AioRpcError:
        return 0
    return int(inbox.unread)


async def page(request: web.Request, template: str, extra: dict | None = None, status: int = 200) -> web.Response:
    """``render`` with the bell's unread count filled in (one notifier call): use it for full pages."""
    return render(request, template, {"unread": await unread_count(request), **(extra or {})}, status=status)


_FIELD_AT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])?(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
FORM_ERROR = "_form"


def field_errors(err: grpc.aio.AioRpcError, fields) -> dict[str, str]:
    """{field: message} for the first of ``fields`` the service's message names (as a word), else
    {"_form": message}. ``fields`` may map a proto field name to the form field that shows it."""
    message = err.details() or err.code().name.replace("_", " ").lower()
    mapping = fields if isinstance(fields, dict) else {f: f for f in fields}
    words = _FIELD_AT.findall(message)
    for word in words:
        root = word.split("[")[0].split(".")[0]
        for name in (word, root):
            if name in mapping:
                return {mapping[name]: message}
    lowered = message.lower()
    for proto_name, form_name in mapping.items():  # "skill 'x' is unknown": a plain word
        if re.search(rf"\b{re.escape(proto_name.replace('_', ' '))}\b", lowered):
            return {form_name: message}
    return {FORM_ERROR: message}
