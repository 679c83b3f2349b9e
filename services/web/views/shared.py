"""What the manager, owner and HR pages share: labels for the API's enums, people's names, form helpers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import grpc
from aiohttp import web

from itm.v1 import common_pb2, profile_pb2
from services.web.clients import api

TYPES = [  # (enum value, form value, label, one line about it)
    (common_pb2.OPPORTUNITY_TYPE_GIG, "gig", "Gig", "a short piece of work beside the day job"),
    (common_pb2.OPPORTUNITY_TYPE_PROJECT, "project", "Project", "a longer cross-team project"),
    (common_pb2.OPPORTUNITY_TYPE_MENTORSHIP, "mentorship", "Mentorship", "learn from (or guide) a colleague"),
    (common_pb2.OPPORTUNITY_TYPE_JOB_SHADOWING, "job_shadowing", "Job shadowing", "follow someone in their role"),
    (common_pb2.OPPORTUNITY_TYPE_FREELANCE, "freelance", "Internal freelancing", "part-time work for another team"),
    (common_pb2.OPPORTUNITY_TYPE_ROLE, "role", "Permanent role", "an internal move into an open position"),
]
TYPE_BY_FORM = {form: value for value, form, _, _ in TYPES}
TYPE_LABEL = {value: label for value, _, label, _ in TYPES}

OPP_STATUS = {
    common_pb2.OPPORTUNITY_STATUS_PENDING_APPROVAL: ("Waiting for approval", "warn"),
    common_pb2.OPPORTUNITY_STATUS_OPEN: ("Open", "ok"),
    common_pb2.OPPORTUNITY_STATUS_CLOSED: ("Closed", "muted"),
    common_pb2.OPPORTUNITY_STATUS_FILLED: ("Filled", "ok"),
}
APP_STATUS = {
    common_pb2.APPLICATION_STATUS_SUBMITTED: ("Applied", "info"),
    common_pb2.APPLICATION_STATUS_SHORTLISTED: ("Shortlisted", "info"),
    common_pb2.APPLICATION_STATUS_ACCEPTED: ("Accepted", "ok"),
    common_pb2.APPLICATION_STATUS_DECLINED: ("Declined", "muted"),
    common_pb2.APPLICATION_STATUS_WITHDRAWN: ("Withdrawn", "muted"),
    common_pb2.APPLICATION_STATUS_COMPLETED: ("Completed", "ok"),
}
RELEASE_STATUS = {
    common_pb2.TIME_RELEASE_STATUS_UNSPECIFIED: ("", ""),
    common_pb2.TIME_RELEASE_STATUS_PENDING: ("Time release pending", "warn"),
    common_pb2.TIME_RELEASE_STATUS_APPROVED: ("Time released", "ok"),
    common_pb2.TIME_RELEASE_STATUS_REFUSED: ("Time release refused", "bad"),
}
SKILL_STATUS = {
    common_pb2.SKILL_STATUS_CLAIMED: "claimed",
    common_pb2.SKILL_STATUS_ASPIRATIONAL: "aspirational",
    common_pb2.SKILL_STATUS_INFERRED: "inferred",
    common_pb2.SKILL_STATUS_VERIFIED: "verified",
}
SOURCE = {
    common_pb2.EVIDENCE_SOURCE_SELF: "self-assessed",
    common_pb2.EVIDENCE_SOURCE_MANAGER: "manager",
    common_pb2.EVIDENCE_SOURCE_ASSESSMENT: "assessment",
    common_pb2.EVIDENCE_SOURCE_COURSE: "course",
    common_pb2.EVIDENCE_SOURCE_GIG: "gig feedback",
    common_pb2.EVIDENCE_SOURCE_PEER: "peer",
    common_pb2.EVIDENCE_SOURCE_HRIS: "HR system",
}
LEVELS = [(1, "1 · basic"), (2, "2 · working"), (3, "3 · proficient"), (4, "4 · advanced"), (5, "5 · expert")]


_SKILL_NAMES: dict[str, str] = {}  # skill id -> the taxonomy's display name (this process)


def skill_label(skill_id: str) -> str:
    """The taxonomy's name for a skill id once ``skill_names`` looked it up, else "data-analysis" -> "Data analysis"."""
    if not skill_id:
        return ""
    return _SKILL_NAMES.get(skill_id) or skill_id.replace("-", " ").capitalize()


async def skill_names(request: web.Request, skill_ids) -> None:
    """Learn the display names of these skills from the taxonomy (once per id and process)."""
    from itm.v1 import taxonomy_pb2

    missing = sorted({s for s in skill_ids if s and s not in _SKILL_NAMES})
    if not missing:
        return
    stub = api(request).taxonomy

    async def one(skill_id: str) -> None:
        try:
            skill = await stub.GetSkill(taxonomy_pb2.GetSkillRequest(skill=skill_id))
            if len(_SKILL_NAMES) > 50_000:
                _SKILL_NAMES.clear()
            _SKILL_NAMES[skill_id] = skill.name or skill_id
        except grpc.aio.AioRpcError:
            pass

    await asyncio.gather(*(one(s) for s in missing))


def when(ts) -> str:
    if ts is None or not ts.seconds:
        return ""
    return datetime.fromtimestamp(ts.seconds, UTC).strftime("%d %b %Y")


def hours(value: float) -> str:
    return f"{value:g} h"


async def names_of(request: web.Request, employee_ids) -> dict[str, str]:
    """Names of the people the signed-in person may read (their reports, themself); others keep their id."""
    ids = sorted({e for e in employee_ids if e})
    stub = api(request).profile

    async def one(emp_id: str) -> tuple[str, str]:
        try:
            emp = await stub.GetEmployee(profile_pb2.GetEmployeeRequest(employee_id=emp_id))
            return emp_id, emp.name or emp_id
        except grpc.aio.AioRpcError:
            return emp_id, emp_id

    return dict(await asyncio.gather(*(one(e) for e in ids)))


def form_int(form, name: str, default: int = 0) -> int:
    try:
        return int(str(form.get(name, "")).strip() or default)
    except ValueError:
        return default


def form_float(form, name: str, default: float = 0.0) -> float:
    try:
        return float(str(form.get(name, "")).strip().replace(",", ".") or default)
    except ValueError:
        return default


def install_filters(app: web.Application) -> None:
    from services.web.keys import TEMPLATES

    env = app[TEMPLATES]
    env.filters.setdefault("type_label", lambda v: TYPE_LABEL.get(v, "Opportunity"))
    env.filters.setdefault("skill_label", skill_label)
    env.filters.setdefault("skill_status", lambda v: SKILL_STATUS.get(v, ""))
    env.filters.setdefault("source_label", lambda v: SOURCE.get(v, ""))
    env.filters.setdefault("when", when)
    env.filters.setdefault("hours", hours)
    env.globals.setdefault("OPP_STATUS", OPP_STATUS)
    env.globals.setdefault("APP_STATUS", APP_STATUS)
    env.globals.setdefault("RELEASE_STATUS", RELEASE_STATUS)
    env.globals.setdefault("LEVELS", LEVELS)
    env.globals.setdefault("TYPES", TYPES)
